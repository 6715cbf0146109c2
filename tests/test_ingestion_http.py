"""The client's token bucket (`ingestion.http.RateLimiter`) never counts a token the server
has already spent: the cause of a 429 under a binding limit when requests overlap."""

from __future__ import annotations

from ingestion.http import RateLimiter


def headers(remaining: int) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": "1",
        "X-RateLimit-Burst": "20",
        "X-RateLimit-Remaining": str(remaining),
    }


def test_tokens_of_requests_still_unanswered_come_off_what_the_server_says() -> None:
    limiter = RateLimiter(rate=1, burst=20)
    limiter._tokens = 3.0  # as if three tokens had refilled
    for _ in range(3):
        assert limiter.acquire() == 0.0
    # The first answer was counted by the server before the other two reached it: of the 17
    # it says are left, two are already taken.
    limiter.answered(headers(17))
    assert limiter._tokens == 15
    # A stale answer never raises the count; an answer without headers only settles.
    limiter.answered(None)
    limiter.answered(headers(18))
    assert limiter._tokens == 15


def test_an_unpaced_session_only_reads_the_limit() -> None:
    limiter = RateLimiter(rate=5)
    limiter.observe(headers(7))
    assert (limiter.rate, limiter._tokens) == (1, 7)
