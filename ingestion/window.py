"""An explicit time window to (re)load, `--start/--end`, outside the incremental state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Window:
    """Rows with `start <= updated_at < end`. dlt loads such a range with the incremental's
    `initial_value`/`end_value`, on a throwaway state: the cursor of the regular incremental
    runs neither moves nor resets, so a window repairs or backfills without side effects."""

    start: datetime
    end: datetime

    @classmethod
    def parse(cls, start: str | None, end: str | None) -> Window | None:
        """From ISO dates or times (UTC unless they say otherwise); None when neither is set.
        A missing start is the beginning of time, a missing end is now."""
        if start is None and end is None:
            return None
        window = cls(
            _utc(start) if start else datetime(1970, 1, 1, tzinfo=UTC),
            _utc(end) if end else datetime.now(UTC),
        )
        if window.end <= window.start:
            raise ValueError(f"the window ends ({end}) before it starts ({start})")
        return window


def _utc(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO date or time: {text!r}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
