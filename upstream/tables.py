"""Columnar tables in change order, and how their columns are served as JSON.

Each table is a dict of equally long numpy arrays kept sorted by `(updated_at, _seq)`, where
`_seq` is the row's insertion number. Sorting by change time makes `updated_since` filters a
binary search, keyset pagination stable while data changes (an updated row moves behind every
cursor already handed out, as in a database ordered by `(updated_at, id)`), and an append of
today's changes an O(n) merge instead of a sort.

A row's id is not stored in the row: `ids[_seq]` looks it up in the table's append-only id
registry, and foreign keys hold the parent's `_seq`. Serving formats ids only for the rows of
one page, and lets rows be re-sorted without touching 36-byte strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

NULL_TIME = np.iinfo(np.int64).min  # a null timestamp


@dataclass(frozen=True)
class Key:
    """The row's own id: `ids[_seq]`."""


@dataclass(frozen=True)
class Ref:
    """A foreign key: the parent's `_seq`, served as the parent's id."""

    table: str


@dataclass(frozen=True)
class Enum:
    """Small integer codes served as one of `values`."""

    values: tuple[str, ...]


@dataclass(frozen=True)
class Time:
    """Epoch microseconds (UTC), served as ISO-8601 with `unit` precision and a `Z`."""

    unit: str = "us"


@dataclass(frozen=True)
class Plain:
    """Numbers, booleans and text (object arrays, None for null) served as they are."""


Kind = Key | Ref | Enum | Time | Plain


@dataclass(frozen=True)
class TableSchema:
    """What a table's columns are; `optional` columns appear only in rows flagged `_has_<c>`."""

    name: str
    columns: dict[str, Kind]
    optional: tuple[str, ...] = ()
    mutable: bool = True


@dataclass(frozen=True)
class PageKey:
    """Position of a row in change order: the last row a page returned."""

    updated_at: int
    seq: int


@dataclass
class Table:
    """An immutable snapshot of one entity, sorted by `(updated_at, _seq)`."""

    schema: TableSchema
    columns: dict[str, np.ndarray]
    version: int = 0
    sorted: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        if not self.sorted:
            order = np.lexsort((self.columns["_seq"], self.columns["updated_at"]))
            self.columns = {name: values[order] for name, values in self.columns.items()}
            self.sorted = True

    @property
    def updated_at(self) -> np.ndarray:
        return self.columns["updated_at"]

    @property
    def seq(self) -> np.ndarray:
        return self.columns["_seq"]

    def __len__(self) -> int:
        return len(self.columns["_seq"])

    def position_after(self, key: PageKey) -> int:
        """Index of the first row strictly after `key` in change order."""
        lo = int(np.searchsorted(self.updated_at, key.updated_at, side="left"))
        hi = int(np.searchsorted(self.updated_at, key.updated_at, side="right"))
        return lo + int(np.searchsorted(self.seq[lo:hi], key.seq, side="right"))

    def bounds(self, since_us: int | None, before_us: int | None) -> tuple[int, int]:
        """Row range whose `updated_at` lies in `[since_us, before_us)`."""
        start = 0 if since_us is None else int(np.searchsorted(self.updated_at, since_us, "left"))
        if before_us is None:
            return start, len(self)
        return start, max(start, int(np.searchsorted(self.updated_at, before_us, "left")))

    def position_of(self, seq: int) -> int | None:
        """Index of the row with insertion number `seq`, if the table has it."""
        found = np.flatnonzero(self.seq == seq)
        return int(found[0]) if len(found) else None

    def key_at(self, index: int) -> PageKey:
        return PageKey(int(self.updated_at[index]), int(self.seq[index]))

    def replaced(self, keep: np.ndarray, changed: dict[str, np.ndarray]) -> Table:
        """A new snapshot: rows where `keep` holds, followed by `changed` rows.

        `changed` must be later in change order than every kept row (the clock only moves
        forward), so the result is sorted by sorting `changed` alone.
        """
        order = np.lexsort((changed["_seq"], changed["updated_at"]))
        columns = {
            name: np.concatenate([values[keep], changed[name][order]])
            for name, values in self.columns.items()
        }
        return Table(self.schema, columns, version=self.version + 1, sorted=True)


def iso_times(values: np.ndarray, unit: str) -> list[str | None]:
    text = np.datetime_as_string(values.astype("datetime64[us]"), unit=unit).tolist()
    out: list[str | None] = [f"{t}Z" for t in text]
    if (values == NULL_TIME).any():
        for index in np.flatnonzero(values == NULL_TIME).tolist():
            out[index] = None
    return out


def serve_column(
    kind: Kind, values: np.ndarray, ids: dict[str, np.ndarray], own: str, iso: bool = True
) -> list:
    """One column of rows as Python values: JSON-ready, or with datetimes if not `iso`."""
    match kind:
        case Key():
            return ids[own][values].astype("U").tolist()
        case Ref(table=parent):
            return ids[parent][values].astype("U").tolist()
        case Enum(values=labels):
            return np.asarray(labels, dtype=object)[values].tolist()
        case Time(unit=unit) if iso:
            return iso_times(values, unit)
        case Time():
            stamps = values.astype("datetime64[us]").astype(object)
            return [
                None if v == NULL_TIME else t for v, t in zip(values.tolist(), stamps, strict=True)
            ]
        case _:
            return values.tolist()


def serve_rows(
    table: Table, start: int, stop: int, ids: dict[str, np.ndarray]
) -> list[dict[str, object]]:
    """Rows `[start, stop)` as JSON-ready dicts."""
    schema = table.schema
    names = list(schema.columns)
    lists = []
    for name, kind in schema.columns.items():
        source = table.columns["_seq"] if isinstance(kind, Key) else table.columns[name]
        lists.append(serve_column(kind, source[start:stop], ids, schema.name))
    rows = [dict(zip(names, values, strict=True)) for values in zip(*lists, strict=True)]
    for name in schema.optional:
        absent = np.flatnonzero(~table.columns[f"_has_{name}"][start:stop]).tolist()
        for index in absent:
            del rows[index][name]
    return rows
