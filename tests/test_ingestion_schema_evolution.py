"""Upstream fields that appear or change type: kept, visible, and never a failed load."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pyarrow as pa
import pytest

from ingestion.arrow_pages import PageConverter

COLUMNS = {"id": "text", "subtotal": "bigint", "updated_at": "timestamp"}
STAMP = "2026-01-01T00:00:00Z"


def page(*rows: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"updated_at": STAMP, **row} for row in rows]


def test_a_declared_column_is_a_contract_rows_that_break_it_are_rejected() -> None:
    converter = PageConverter("orders", "id", COLUMNS)
    rows, rejected = converter.convert(
        page({"id": "a", "subtotal": 5}, {"id": "b", "subtotal": "5.5"})
    )
    assert rows.column("id").to_pylist() == ["a"]
    assert rejected is not None
    assert rejected.column("reason").to_pylist() == ["subtotal='5.5' is not int64"]


def test_no_value_changes_silently_and_rows_without_key_or_cursor_are_rejected() -> None:
    converter = PageConverter("orders", "id", COLUMNS)
    rows, rejected = converter.convert(
        [
            {"id": "a", "subtotal": 12.5, "updated_at": STAMP},  # not truncated to 12
            {"id": "b", "subtotal": 1e23, "updated_at": STAMP},  # not wrapped around
            {"id": "", "subtotal": 1, "updated_at": STAMP},
            {"id": "d", "subtotal": 1, "updated_at": None},
            {"id": "e", "subtotal": 4.0, "updated_at": STAMP},  # exactly 4: loads
        ]
    )
    assert rows.to_pylist() == [{"id": "e", "subtotal": 4, "updated_at": rows[2][0].as_py()}]
    assert rejected is not None
    assert rejected.column("reason").to_pylist() == [
        "subtotal=12.5 is not int64",
        "subtotal=1e+23 is not int64",
        "no primary key 'id'",
        "no 'updated_at'",
    ]


def test_a_new_field_that_changes_type_gets_a_variant_column(
    caplog: pytest.LogCaptureFixture,
) -> None:
    converter = PageConverter("orders", "id", COLUMNS)
    first, _ = converter.convert(page({"id": "a", "channel": 1}))
    assert first.schema.field("channel").type == pa.int64()
    with caplog.at_level(logging.WARNING, logger="ingestion"):
        second, rejected = converter.convert(
            page({"id": "b", "channel": "web"}, {"id": "c", "channel": 3})
        )
        converter.convert(page({"id": "d", "channel": "app"}))
    assert rejected is None
    assert second.column("channel").to_pylist() == [None, 3]
    assert second.column("channel__v_text").to_pylist() == ["web", None]
    changes = [r.message for r in caplog.records if "changed the type" in r.message]
    assert changes == [
        "orders: the upstream changed the type of 'channel' from bigint to text; "
        "such values go to 'channel__v_text'"
    ]


def test_a_type_change_loads_instead_of_failing_the_load(tmp_path: Path) -> None:
    """Without variants, DuckDB would refuse 'web' in a BIGINT column at load time, after
    the cursor had moved: the page would be lost."""
    pages = [page({"id": "a", "channel": 1}), page({"id": "b", "channel": "web"})]
    pipeline = dlt.pipeline(
        "evolution",
        destination=dlt.destinations.duckdb(str(tmp_path / "w.duckdb")),
        dataset_name="raw",
        pipelines_dir=str(tmp_path / "pipelines"),
    )

    @dlt.resource(name="orders", primary_key="id", write_disposition="merge")
    def orders(rows: tuple[dict[str, Any], ...]) -> Iterator[pa.Table]:
        converter = PageConverter("orders", "id", COLUMNS)
        converter.remember(dlt.current.source_schema().tables.get("orders", {}).get("columns", {}))
        yield converter.convert(list(rows))[0]

    for rows in pages:
        pipeline.run(orders(tuple(rows)), loader_file_format="parquet").raise_on_failed_jobs()
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as conn:
        loaded = conn.execute(
            "select id, channel, channel__v_text from raw.orders order by id"
        ).fetchall()
    assert loaded == [("a", 1, None), ("b", None, "web")]
