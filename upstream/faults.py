"""Reproducible faults: what a flaky vendor API does to a client, drawn from a seed.

Each request draws one outcome in arrival order from a seeded generator, so a sequential client
sees the same faults on every run; concurrent clients see the same rates. With `max_in_a_row`,
faults are transient by construction: the same request (path and query) asked again after
that many faults in a row is answered, so a client that retries more often than that is
certain to get every page, whatever order concurrent requests arrive in.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields

OUTCOMES = ("error_5xx", "burst_429", "slow", "drop", "truncate", "malform", "bad_record")


@dataclass(frozen=True)
class FaultProfile:
    """Share of requests (0..1) that meet each fault; all zero is a healthy upstream."""

    error_5xx: float = 0.0  # 500/502/503 with a JSON error body
    burst_429: float = 0.0  # starts a run of `burst_length` 429s, whatever the rate limit
    slow: float = 0.0  # answered after `slow_seconds` (beyond a sane client timeout)
    drop: float = 0.0  # connection closed midway through the body
    truncate: float = 0.0  # a complete 200 response whose JSON body is cut short
    malform: float = 0.0  # a complete 200 response whose JSON body is corrupted
    bad_record: float = 0.0  # valid JSON, but one row's `updated_at` is not a timestamp
    burst_length: int = 5
    # After this many requests every request fails with a 5xx (0: never): an outage that
    # outlasts any retry budget, at a moment a test can count on.
    outage_after: int = 0
    # The same request is faulted at most this many times in a row (0: no cap).
    max_in_a_row: int = 0
    slow_seconds: float = 30.0
    seed: int = 0

    @classmethod
    def parse(cls, text: str, seed: int = 0) -> FaultProfile:
        """`"error_5xx=0.05,drop=0.01"`, `"none"` or `"flaky"` (a bit of everything)."""
        if text in ("", "none"):
            return cls(seed=seed)
        if text == "flaky":
            return cls(
                error_5xx=0.03,
                burst_429=0.01,
                slow=0.005,
                drop=0.01,
                truncate=0.01,
                malform=0.01,
                slow_seconds=5.0,
                seed=seed,
            )
        known = {f.name: f.type for f in fields(cls)}
        values: dict[str, float | int] = {"seed": seed}
        for part in text.split(","):
            name, _, value = part.partition("=")
            name = name.strip()
            if name not in known or name == "seed":
                raise ValueError(f"unknown fault {name!r}; known: {', '.join(OUTCOMES)}")
            integer = name in ("burst_length", "outage_after", "max_in_a_row")
            values[name] = int(value) if integer else float(value)
        profile = cls(**values)  # type: ignore[arg-type]
        if sum(getattr(profile, name) for name in OUTCOMES) > 1:
            raise ValueError("fault shares add up to more than 1")
        return profile

    @property
    def active(self) -> bool:
        return self.outage_after > 0 or any(getattr(self, name) > 0 for name in OUTCOMES)


class FaultInjector:
    """Draws the outcome of each request: None (healthy) or one of `OUTCOMES`."""

    def __init__(self, profile: FaultProfile) -> None:
        self.profile = profile
        self._rng = random.Random(profile.seed)
        self._burst_left = 0
        self._requests = 0
        self._in_a_row: dict[str, int] = {}  # requests faulted since they were last answered

    def draw(self, request: str = "") -> str | None:
        """The outcome for `request` (its path and query: what a retry asks again)."""
        if not self.profile.active:
            return None
        self._requests += 1
        if self.profile.outage_after and self._requests > self.profile.outage_after:
            return "error_5xx"
        cap = self.profile.max_in_a_row
        if cap and self._in_a_row.get(request, 0) >= cap:
            del self._in_a_row[request]
            return None
        outcome = self._outcome()
        if cap and outcome not in (None, "bad_record"):  # a bad record is an answer
            self._in_a_row[request] = self._in_a_row.get(request, 0) + 1
        elif cap:
            self._in_a_row.pop(request, None)
        return outcome

    def _outcome(self) -> str | None:
        if self._burst_left > 0:
            self._burst_left -= 1
            return "burst_429"
        u = self._rng.random()
        for name in OUTCOMES:
            share = getattr(self.profile, name)
            if u < share:
                if name == "burst_429":
                    self._burst_left = self.profile.burst_length - 1
                return name
            u -= share
        return None

    def status_5xx(self) -> int:
        return self._rng.choice((500, 502, 503))
