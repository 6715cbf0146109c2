"""HTTP for extraction at the API's limit: pacing, adaptive concurrency, retries, bad bodies.

dlt's `RESTClient` takes a `requests.Session`; `PacedSession` is that session. Every worker
that calls the same API shares one, so they share:
- a proactive token bucket, started from the configured limit and corrected from the
  `X-RateLimit-*` headers of every answer, so requests are spaced instead of refused;
- an adaptive cap on requests in flight (halved on a 429, grown back one by one);
- a retry loop for 429 (honouring `Retry-After`), 5xx, timeouts, dropped connections and
  bodies that are not valid JSON, with exponential backoff and jitter, bounded in attempts
  and in total time, failing with the endpoint and parameters named; an API that has never
  answered and refuses connections is down, not flaky: that fails within seconds;
- counters for the run summary.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from typing import Any

import orjson
import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from ingestion.errors import RetriesExhausted, UpstreamError

# Transport failures worth another try: refused or dropped connections, timeouts, bodies
# cut off mid-way.
RETRYABLE_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
# How long an API that has not answered once may refuse connections before the run stops.
UNREACHABLE_SECONDS = 3.0


def cannot_connect(error: Exception) -> bool:
    """The connection was never made (refused, no route, unknown host), as opposed to a
    connection that broke or timed out midway."""
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(error, requests.ConnectionError) and isinstance(reason, NewConnectionError)


class RateLimiter:
    """A thread-safe token bucket that workers wait on before each request."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = burst or max(1.0, rate)
        self._tokens = 1.0  # start gently: the server's headers tell the real balance
        self._updated = time.monotonic()
        self._paused_until = 0.0
        self._observed = False
        self._unanswered = 0  # tokens taken for requests not answered yet
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take a token, sleeping until one is there; returns the seconds waited."""
        if self.rate <= 0:
            return 0.0
        waited = 0.0
        while True:
            with self._lock:
                now = time.monotonic()
                self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                if now >= self._paused_until and self._tokens >= 1:
                    self._tokens -= 1
                    self._unanswered += 1
                    return waited
                delay = max(self._paused_until - now, (1 - self._tokens) / self.rate)
            time.sleep(delay)
            waited += delay

    def observe(self, headers: Any) -> None:
        """Adopt the server's view: its rate, its burst, and how many tokens are left."""
        self._adopt(headers, 0)

    def answered(self, headers: Any | None) -> None:
        """A request that took a token was answered (`headers`) or failed without an answer.
        The server counted its bucket when it took this request's token: requests still
        unanswered may have reached it later, so their tokens come off what it says is left
        (erring low by those it took before; steady pacing is unchanged, the burst shrinks)."""
        with self._lock:
            self._unanswered = max(0, self._unanswered - 1)
            unanswered = self._unanswered
        if headers is not None:
            self._adopt(headers, unanswered)

    def _adopt(self, headers: Any, unanswered: int) -> None:
        try:
            limit = float(headers["X-RateLimit-Limit"])
            remaining = float(headers["X-RateLimit-Remaining"]) - unanswered
        except (KeyError, ValueError):
            return
        with self._lock:
            if limit > 0:
                self.rate = limit
                self.burst = float(headers.get("X-RateLimit-Burst", self.burst))
            # The first answer tells what the bucket holds (use the burst); after that answers
            # can be stale (sent before other workers' requests), so they only ever lower it.
            self._tokens = remaining if not self._observed else min(self._tokens, remaining)
            self._observed = True

    def pause(self, seconds: float) -> None:
        """Hold every worker for `seconds` (a 429's Retry-After)."""
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)
            self._tokens = 0.0


class AdaptiveConcurrency:
    """At most `limit` requests in flight: halved on throttling, grown back on success."""

    def __init__(self, maximum: int) -> None:
        self.maximum = max(1, maximum)
        self.limit = self.maximum
        self._in_flight = 0
        self._successes = 0
        self._cond = threading.Condition()

    def acquire(self) -> None:
        with self._cond:
            while self._in_flight >= self.limit:
                self._cond.wait()
            self._in_flight += 1

    def release(self, throttled: bool) -> None:
        with self._cond:
            self._in_flight -= 1
            if throttled:
                self.limit = max(1, self.limit // 2)
                self._successes = 0
            else:
                self._successes += 1
                if self._successes >= self.limit and self.limit < self.maximum:
                    self.limit += 1
                    self._successes = 0
            self._cond.notify_all()


class RequestStats:
    """Thread-safe counts per endpoint, for the run summary (via dlt's resource metrics)."""

    def __init__(self) -> None:
        self.counts: dict[str, Counter[str]] = {}
        self._lock = threading.Lock()

    def add(self, endpoint: str, **increments: float) -> None:
        with self._lock:
            counts = self.counts.setdefault(endpoint, Counter())
            for name, value in increments.items():
                counts[name] += value

    def snapshot(self, endpoint: str) -> dict[str, float]:
        with self._lock:
            counts = dict(self.counts.get(endpoint, {}))
        if "seconds_waiting_for_rate_limit" in counts:
            counts["seconds_waiting_for_rate_limit"] = round(
                counts["seconds_waiting_for_rate_limit"], 2
            )
        return counts


def describe(request: requests.PreparedRequest) -> str:
    endpoint, _, params = (request.path_url or "").partition("?")
    return f"{request.method} {endpoint} ({params or 'no parameters'})"


def endpoint_of(request: requests.PreparedRequest) -> str:
    """What a request's counters are kept under: `/v1/orders?...` -> `orders`, and a fetch
    by key, `/v1/orders/<key>`, -> `orders/key`."""
    segments = (request.path_url or "").partition("?")[0].strip("/").split("/")
    if segments[0] == "v1" and len(segments) > 1:
        return segments[1] + ("/key" if len(segments) > 2 else "")
    return segments[-1]


class PacedSession(requests.Session):
    """A `requests.Session` that paces, caps, retries and validates (see the module doc)."""

    def __init__(
        self,
        source: str,
        rate_limit: float,
        max_concurrency: int,
        timeout: float = 30.0,
        max_attempts: int = 8,
        max_retry_seconds: float = 120.0,
        backoff_seconds: float = 0.5,
        pace: bool = True,
    ) -> None:
        super().__init__()
        self.source = source
        self.limiter = RateLimiter(rate_limit)
        # Without pacing the session only reacts to 429s (the baseline the benchmark measures).
        self.pace = pace
        self.concurrency = AdaptiveConcurrency(max_concurrency)
        self.stats = RequestStats()
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.max_retry_seconds = max_retry_seconds
        self.backoff_seconds = backoff_seconds
        self._jitter = random.Random()
        self._answered = False  # any answer at all: from then on, refusals are retried
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(4, max_concurrency * 2))
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs["timeout"] = kwargs.get("timeout") or self.timeout
        started = time.monotonic()
        endpoint = endpoint_of(request)
        attempt = 0
        while True:
            attempt += 1
            waited = self.limiter.acquire() if self.pace else 0.0
            self.stats.add(endpoint, seconds_waiting_for_rate_limit=waited, requests=1)
            self.concurrency.acquire()
            response: requests.Response | None = None
            try:
                response = super().send(request, **kwargs)
                self._answered = True
                problem = self._problem(response, endpoint)
            except RETRYABLE_ERRORS as error:
                down = not self._answered and cannot_connect(error)
                if down and time.monotonic() - started > UNREACHABLE_SECONDS:
                    raise UpstreamError(self._unreachable(request, error)) from None
                problem = f"{type(error).__name__}: {str(error)[:120]}"
            finally:
                throttled = response is not None and response.status_code == 429
                self.concurrency.release(throttled)
                headers = response.headers if response is not None else None
                if self.pace:
                    self.limiter.answered(headers)
                elif headers is not None:
                    self.limiter.observe(headers)
            if response is not None:
                self.stats.add(endpoint, bytes=len(response.content))
                if response.status_code == 304:
                    self.stats.add(endpoint, not_modified_304=1)
            if problem is None:
                return response  # type: ignore[return-value]

            delay = self.backoff_seconds * 2 ** (attempt - 1) * (0.5 + self._jitter.random())
            if throttled:
                self.stats.add(endpoint, rate_limited_429=1)
                retry_after = float(response.headers.get("Retry-After", 1))  # type: ignore[union-attr]
                if self.pace:
                    self.limiter.pause(retry_after)
                delay = retry_after
            elapsed = time.monotonic() - started
            if attempt >= self.max_attempts or elapsed + delay > self.max_retry_seconds:
                raise RetriesExhausted(
                    f"{self.source}: {describe(request)} failed {attempt} times over "
                    f"{elapsed:.0f}s; last problem: {problem}"
                )
            self.stats.add(endpoint, retries=1)
            time.sleep(delay)

    def _unreachable(self, request: requests.PreparedRequest, error: Exception) -> str:
        url = (request.url or "").partition("?")[0].rsplit("/v1/", 1)[0]
        reason = str(error.args[0].reason).rsplit(": ", 1)[-1]  # e.g. "[Errno 111] ..."
        return (
            f"{self.source}: cannot connect to {url} ({reason}): is the upstream running? "
            "Start it with `make upstream`, or point SOURCES__SHOP_API__BASE_URL at it"
        )

    def _problem(self, response: requests.Response, endpoint: str) -> str | None:
        """Why this answer must be retried, or None if it is usable as it is."""
        status = response.status_code
        if status == 429 or status >= 500:
            return f"{status}: {response.text[:120]}"
        if status == 200 and response.headers.get("content-type", "").startswith(
            "application/json"
        ):
            try:
                parsed = orjson.loads(response.content)
            except orjson.JSONDecodeError as error:
                self.stats.add(endpoint, bad_bodies=1)
                return f"unreadable JSON body ({error})"
            # Parsed once here; dlt's client and paginator read it again through .json().
            response.json = lambda **_: parsed  # type: ignore[method-assign]
        return None
