"""API pages as Arrow tables, with rows that cannot be loaded split off with a reason.

Arrow lets dlt skip row-by-row normalization: pages go to Parquet for DuckDB and CSV (COPY)
for PostgreSQL as columns. Known columns get their declared types; a field the upstream
starts sending is inferred and kept (schema evolution), and logged once. A row without its
primary key, or with a timestamp that does not parse, is not loaded into the table: it goes to
`<table>__rejected` with the reason and the row as JSON, so nothing is dropped silently.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

logger = logging.getLogger("ingestion")

TIMESTAMP = pa.timestamp("us", tz="UTC")
TYPES = {
    "text": pa.string(),
    "bigint": pa.int64(),
    "double": pa.float64(),
    "bool": pa.bool_(),
    "timestamp": TIMESTAMP,
}


@dataclass
class PageConverter:
    """Turns pages of one endpoint into (rows, rejected) Arrow tables."""

    table: str
    primary_key: str
    columns: dict[str, str]  # known column -> type name in TYPES
    seen: set[str] = field(default_factory=set)

    def convert(self, rows: list[dict[str, Any]]) -> tuple[pa.Table, pa.Table | None]:
        names = list(self.columns)
        for name in _keys(rows):
            if name not in self.columns and name not in names:
                names.append(name)
                if name not in self.seen:
                    self.seen.add(name)
                    logger.warning("%s: the upstream sends a new field %r", self.table, name)
        arrays: dict[str, pa.Array] = {}
        reasons: list[str | None] = [None] * len(rows)
        for name in names:
            values = [row.get(name) for row in rows]
            kind = self.columns.get(name)
            if kind == "timestamp":
                arrays[name] = _timestamps(name, values, reasons)
            elif kind is not None:
                arrays[name] = _typed(name, values, TYPES[kind], reasons)
            else:
                arrays[name] = pa.array(values)
        for index, value in enumerate(arrays[self.primary_key].to_pylist()):
            if value is None and reasons[index] is None:
                reasons[index] = f"no primary key {self.primary_key!r}"
        table = pa.table(arrays)
        if any(reasons):
            bad = pa.array([reason is not None for reason in reasons])
            good, rejected = table.filter(pc.invert(bad)), self._rejected(rows, reasons)
        else:
            good, rejected = table, None
        # The primary key is never null in what is loaded: say so, as dlt's schema does.
        key = good.schema.get_field_index(self.primary_key)
        good = good.cast(good.schema.set(key, good.schema.field(key).with_nullable(False)))
        return good, rejected

    def _rejected(self, rows: list[dict[str, Any]], reasons: list[str | None]) -> pa.Table:
        pairs = [(row, reason) for row, reason in zip(rows, reasons, strict=True) if reason]
        return pa.table(
            {
                # Null: what was served is in `record`; dlt's incremental needs the column.
                "updated_at": pa.nulls(len(pairs), TIMESTAMP),
                "reason": pa.array([reason for _, reason in pairs], pa.string()),
                "record": pa.array([orjson.dumps(row).decode() for row, _ in pairs], pa.string()),
            }
        )


def _keys(rows: Iterable[dict[str, Any]]) -> list[str]:
    keys: dict[str, None] = {}
    for row in rows:
        for key in row:
            keys.setdefault(key, None)
    return list(keys)


def _timestamps(name: str, values: list[Any], reasons: list[str | None]) -> pa.Array:
    """ISO-8601 text with a zone (the API's `...Z`) as UTC timestamps; bad ones rejected."""
    text = pa.array(values, type=pa.string())
    try:
        return pc.cast(text, TIMESTAMP)
    except pa.ArrowInvalid:
        parsed = []
        for index, value in enumerate(values):
            try:
                parsed.append(pc.cast(pa.array([value], pa.string()), TIMESTAMP)[0].as_py())
            except pa.ArrowInvalid:
                reasons[index] = reasons[index] or f"{name}={value!r} is not a timestamp"
                parsed.append(None)
        return pa.array(parsed, type=TIMESTAMP)


def _typed(name: str, values: list[Any], type_: pa.DataType, reasons: list[str | None]) -> pa.Array:
    try:
        return pa.array(values, type=type_)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        out = []
        for index, value in enumerate(values):
            try:
                out.append(pa.scalar(value, type=type_).as_py())
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                reasons[index] = reasons[index] or f"{name}={value!r} is not {type_}"
                out.append(None)
        return pa.array(out, type=type_)
