"""API pages as Arrow tables, with rows that cannot be loaded split off with a reason.

Arrow lets dlt skip row-by-row normalization: pages go to Parquet as columns, which DuckDB
reads natively and dlt copies into PostgreSQL through ADBC. Declared columns are a contract:
a row without its primary key, or with a value that does not fit its column's type (a
timestamp that does not parse, text in a number column), is not loaded into the table: it
goes to `<table>__rejected` with the reason and the row as JSON, so nothing is dropped
silently. A field the upstream starts sending is inferred and kept (schema evolution), and
logged once; if its type later changes, the values of the new type go to a variant column
`<field>__v_<type>`, as dlt does for JSON rows, with a log line: never coerced, and never a
load that fails after the cursor moved.
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
CURSOR = "updated_at"
TYPES = {
    "text": pa.string(),
    "bigint": pa.int64(),
    "double": pa.float64(),
    "bool": pa.bool_(),
    "timestamp": TIMESTAMP,
}
# dlt's name for an Arrow type, for variant columns; other types are kept as inferred.
DLT_TYPE_NAMES = {
    pa.string(): "text",
    pa.large_string(): "text",
    pa.int64(): "bigint",
    pa.float64(): "double",
    pa.bool_(): "bool",
}


@dataclass
class PageConverter:
    """Turns pages of one endpoint into (rows, rejected) Arrow tables."""

    table: str
    primary_key: str
    columns: dict[str, str]  # declared column -> type name in TYPES
    seen: set[str] = field(default_factory=set)
    # Undeclared fields: the type each was first loaded with (from dlt's schema, or inferred).
    evolved: dict[str, pa.DataType] = field(default_factory=dict)

    def remember(self, schema_columns: dict[str, Any]) -> None:
        """What dlt's schema already holds: known fields are not news, and keep their type."""
        self.seen.update(schema_columns)
        for name, column in schema_columns.items():
            kind = column.get("data_type")
            if name not in self.columns and kind in TYPES:
                self.evolved.setdefault(name, TYPES[kind])

    def convert(self, rows: list[dict[str, Any]]) -> tuple[pa.Table, pa.Table | None]:
        names = list(self.columns)
        # Every field any row has (a set union runs in C); in first-seen order only when
        # some is undeclared.
        if not set().union(*rows) <= self.columns.keys():
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
                arrays.update(self._evolved(name, values))
        key = arrays[self.primary_key]
        keyless = pc.fill_null(pc.equal(pc.cast(key, pa.string()), ""), True)
        if pc.any(keyless).as_py():
            for index, missing in enumerate(keyless.to_pylist()):
                if missing and reasons[index] is None:
                    reasons[index] = f"no primary key {self.primary_key!r}"
        if self.columns.get(CURSOR) == "timestamp" and arrays[CURSOR].null_count:
            # A row without its change time cannot be read incrementally, nor ordered
            # against other versions of its key.
            for index, value in enumerate(arrays[CURSOR].is_null().to_pylist()):
                if value and reasons[index] is None:
                    reasons[index] = f"no {CURSOR!r}"
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

    def _evolved(self, name: str, values: list[Any]) -> dict[str, pa.Array]:
        """An undeclared field: its first type, and values of any other type in variants."""
        known = self.evolved.get(name)
        if known is None:
            try:
                inferred = pa.array(values)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                # Mixed types on first sight: the first value's type is the column's.
                first = next(value for value in values if value is not None)
                self.evolved[name] = pa.scalar(first).type
                return self._evolved(name, values)
            if not pa.types.is_null(inferred.type):
                self.evolved[name] = inferred.type
            return {name: inferred}
        try:
            return {name: exact_array(values, known)}
        except CONVERSION_ERRORS:
            pass
        fits: list[Any] = []
        misfits: list[Any] = []
        for value in values:
            try:
                fits.append(exact_array([value], known)[0].as_py())
                misfits.append(None)
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                fits.append(None)
                misfits.append(value)
        try:
            variant = pa.array(misfits)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            variant = pa.array([None if v is None else orjson.dumps(v).decode() for v in misfits])
        kind = DLT_TYPE_NAMES.get(variant.type, str(variant.type))
        variant_name = f"{name}__v_{kind}"
        if variant_name not in self.seen:
            self.seen.add(variant_name)
            logger.warning(
                "%s: the upstream changed the type of %r from %s to %s; such values go to %r",
                self.table,
                name,
                DLT_TYPE_NAMES.get(known, known),
                kind,
                variant_name,
            )
        return {name: pa.array(fits, type=known), variant_name: variant}

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


CONVERSION_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError)


def exact_array(values: list[Any], type_: pa.DataType) -> pa.Array:
    """`values` as `type_` only where nothing changes: 12.5 does not become 12 (pyarrow's
    `pa.array(..., type=int64)` truncates), nor "12" a number. Numbers convert between
    integer and floating types only losslessly (Arrow's safe cast); else an error."""
    inferred = pa.array(values)
    if pa.types.is_null(inferred.type):
        return pa.nulls(len(values), type_)
    if inferred.type == type_:
        return inferred
    numeric = (pa.types.is_integer, pa.types.is_floating)
    if any(check(inferred.type) for check in numeric) and any(check(type_) for check in numeric):
        return inferred.cast(type_, safe=True)
    return pa.array(values, type=type_)  # text to text-like types; raises on a mismatch


def _typed(name: str, values: list[Any], type_: pa.DataType, reasons: list[str | None]) -> pa.Array:
    try:
        return exact_array(values, type_)
    except CONVERSION_ERRORS:
        out = []
        for index, value in enumerate(values):
            try:
                out.append(exact_array([value], type_)[0].as_py())
            except CONVERSION_ERRORS:
                reasons[index] = reasons[index] or f"{name}={value!r} is not {type_}"
                out.append(None)
        return pa.array(out, type=type_)
