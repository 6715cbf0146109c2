"""The upstream's in-memory state: columnar tables kept in `(updated_at, seq)` order, and a clock.

Keeping each table sorted by its change time makes `updated_since` filters a binary search and
keyset pagination stable while the data changes: a row that is updated moves behind every
cursor already handed out, exactly as in a database ordered by `(updated_at, id)`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from upstream.generator import (
    US_PER_DAY,
    US_PER_SECOND,
    GenerationSpec,
    customer_ids,
    day_weights,
    generate,
    generate_orders,
    store_ids,
)

# Timestamp columns and the precision they are served with.
TIMESTAMP_COLUMNS = {"ordered_at": "s", "updated_at": "us"}


@dataclass(frozen=True)
class PageKey:
    """Position of a row in change order: the last row a page returned."""

    updated_at: int
    seq: int


class Table:
    """An immutable snapshot of one entity, sorted by `(updated_at, _seq)`."""

    def __init__(self, columns: dict[str, np.ndarray]) -> None:
        order = np.lexsort((columns["_seq"], columns["updated_at"]))
        self.columns = {name: values[order] for name, values in columns.items()}
        self.updated_at = self.columns["updated_at"]
        self.seq = self.columns["_seq"]

    def __len__(self) -> int:
        return len(self.updated_at)

    def position_after(self, key: PageKey) -> int:
        """Index of the first row strictly after `key` in change order."""
        lo = int(np.searchsorted(self.updated_at, key.updated_at, side="left"))
        hi = int(np.searchsorted(self.updated_at, key.updated_at, side="right"))
        return lo + int(np.searchsorted(self.seq[lo:hi], key.seq, side="right"))

    def bounds(self, since_us: int | None, before_us: int | None) -> tuple[int, int]:
        """Row range whose `updated_at` lies in `[since_us, before_us)`."""
        start = 0 if since_us is None else int(np.searchsorted(self.updated_at, since_us, "left"))
        end = (
            len(self)
            if before_us is None
            else int(np.searchsorted(self.updated_at, before_us, "left"))
        )
        return start, max(start, end)

    def key_at(self, index: int) -> PageKey:
        return PageKey(int(self.updated_at[index]), int(self.seq[index]))

    def rows(self, start: int, stop: int) -> list[dict[str, object]]:
        """Rows `[start, stop)` as JSON-ready dicts (public columns only)."""
        out: dict[str, list[object]] = {}
        for name, values in self.columns.items():
            if name.startswith("_"):
                continue
            chunk = values[start:stop]
            if name in TIMESTAMP_COLUMNS:
                text = np.datetime_as_string(
                    chunk.astype("datetime64[us]"), unit=TIMESTAMP_COLUMNS[name]
                )
                out[name] = [f"{t}Z" for t in text.tolist()]
            elif chunk.dtype.kind == "S":
                out[name] = np.char.decode(chunk, "ascii").tolist()
            else:
                out[name] = chunk.tolist()
        names = list(out)
        return [dict(zip(names, row, strict=True)) for row in zip(*out.values(), strict=True)]


class ShopStore:
    """All upstream tables plus the clock that `advance` moves forward."""

    def __init__(self, spec: GenerationSpec) -> None:
        self.spec = spec
        self.clock_us = spec.clock_start_us
        self._customers = customer_ids(spec.seed, spec.orders)
        self._stores = store_ids(spec.seed)
        self._lock = threading.Lock()
        data = generate(spec)
        self._next_seq = 0
        self.tables = {name: self._with_seq(columns) for name, columns in data.items()}

    def _take_seq(self, n: int) -> np.ndarray:
        """`n` fresh insertion sequence numbers: the tie-breaker of the change order."""
        seq = np.arange(self._next_seq, self._next_seq + n, dtype=np.int64)
        self._next_seq += n
        return seq

    def _with_seq(self, columns: dict[str, np.ndarray]) -> Table:
        return Table({**columns, "_seq": self._take_seq(len(columns["updated_at"]))})

    def advance(self, days: int) -> dict[str, int]:
        """Move the clock `days` days forward; orders arrive and change status each day."""
        totals = {"new_orders": 0, "completed_orders": 0, "returned_orders": 0}
        with self._lock:
            for _ in range(days):
                for name, count in self._advance_one_day().items():
                    totals[name] += count
        return totals

    def _advance_one_day(self) -> dict[str, int]:
        day_start, day_end = self.clock_us, self.clock_us + US_PER_DAY
        day_number = day_start // US_PER_DAY
        rng = np.random.default_rng([self.spec.seed, 100, day_number])
        orders = self.tables["orders"].columns
        mean_per_day = self.spec.orders / self.spec.history_days
        n_new = round(float(mean_per_day * day_weights(day_start, 1)[0]))

        # Every change made today carries a distinct time within today.
        def change_times(n: int) -> np.ndarray:
            return day_start + rng.integers(1, US_PER_DAY // US_PER_SECOND, n) * US_PER_SECOND

        status = orders["status"].copy()
        updated_at = orders["updated_at"].copy()
        to_complete = (status == b"placed") & (orders["ordered_at"] < day_end - US_PER_DAY)
        recent = orders["ordered_at"] >= day_start - 14 * US_PER_DAY
        to_return = (status == b"completed") & recent & (rng.random(len(status)) < 0.004)
        status[to_complete] = b"completed"
        status[to_return] = b"returned"
        changed = to_complete | to_return
        updated_at[changed] = change_times(int(changed.sum()))

        # Orders placed today are still "placed" at the end of the day.
        new = generate_orders(rng, n_new, day_start, 1, day_end, self._customers, self._stores)
        new["_seq"] = self._take_seq(n_new)

        current = {**orders, "status": status, "updated_at": updated_at}
        combined = {name: np.concatenate([current[name], new[name]]) for name in current}
        self.tables = {**self.tables, "orders": Table(combined)}
        self.clock_us = day_end
        return {
            "new_orders": n_new,
            "completed_orders": int(to_complete.sum()),
            "returned_orders": int(to_return.sum()),
        }
