"""Rate limiting like a vendor's: a token bucket per API key and a cap on concurrent requests."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    """`rate` requests per second on average, bursts of up to `burst`."""

    rate: float
    burst: float
    tokens: float = field(init=False)
    updated: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = self.burst
        self.updated = time.monotonic()

    def _refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def take(self) -> bool:
        """Spend a token if there is one."""
        self._refill(time.monotonic())
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def seconds_until_token(self) -> float:
        return max(0.0, (1 - self.tokens) / self.rate)

    def headers(self) -> dict[str, str]:
        """`X-RateLimit-*`: the sustained rate, whole tokens left, seconds until full again."""
        full_in = (self.burst - self.tokens) / self.rate
        return {
            "X-RateLimit-Limit": f"{self.rate:g}",
            "X-RateLimit-Burst": f"{self.burst:g}",
            "X-RateLimit-Remaining": str(math.floor(self.tokens)),
            "X-RateLimit-Reset": f"{full_in:.3f}",
        }


@dataclass
class RateLimiter:
    """One bucket per API key; `rate <= 0` disables limiting."""

    rate: float
    burst: float
    buckets: dict[str, TokenBucket] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def bucket(self, key: str) -> TokenBucket:
        if key not in self.buckets:
            self.buckets[key] = TokenBucket(self.rate, max(1.0, self.burst))
        return self.buckets[key]


def retry_after_seconds(seconds: float) -> str:
    """`Retry-After` takes whole seconds: round up, never 0."""
    return str(max(1, math.ceil(seconds)))
