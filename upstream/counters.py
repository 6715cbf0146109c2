"""What the upstream served, so a benchmark can tell how much of the rate limit a client used."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Counters:
    started: float = field(default_factory=time.monotonic)
    requests: Counter[str] = field(default_factory=Counter)  # by endpoint
    statuses: Counter[int] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    rows: Counter[str] = field(default_factory=Counter)  # rows sent, by endpoint
    bytes_sent: int = 0

    def record(self, endpoint: str, status: int, rows: int = 0, size: int = 0) -> None:
        self.requests[endpoint] += 1
        self.statuses[status] += 1
        self.rows[endpoint] += rows
        self.bytes_sent += size

    def snapshot(self) -> dict[str, object]:
        return {
            "seconds": round(time.monotonic() - self.started, 3),
            "requests": sum(self.requests.values()),
            "requests_by_endpoint": dict(self.requests),
            "responses_by_status": {str(k): v for k, v in sorted(self.statuses.items())},
            "rate_limited_429": self.statuses[429],
            "not_modified_304": self.statuses[304],
            "faults": dict(self.faults),
            "rows_sent": sum(self.rows.values()),
            "rows_sent_by_endpoint": dict(self.rows),
            "bytes_sent": self.bytes_sent,
        }
