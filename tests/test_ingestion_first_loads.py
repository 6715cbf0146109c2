"""A merge table's first load goes into the table itself, not through staging; the merge
after it still keeps one version per key, by the same rules (`ingestion.first_loads`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dlt

from ingestion.first_loads import FIRST_LOADS
from ingestion.merge_ties import find_ties
from tests.support import Warehouse
from tests.test_ingestion_merge_ties import events, orders, run

CHANGED = datetime(2026, 3, 1, 12, tzinfo=UTC)
LATER = CHANGED + timedelta(hours=1)


def load(rows: list[dict], target: str, pipelines: Path) -> tuple[dlt.Pipeline, dict]:
    """Orders (merge, newest `updated_at` wins) and events (insert-only) from the same rows;
    the pipeline, and which tables its package loaded straight."""
    pipeline, info = run([orders(rows), events(rows)], target, pipelines, "first_loads")
    (load_id,) = info.loads_ids
    package = pipeline._get_load_storage().loaded_packages.get_load_package_state(load_id)
    return pipeline, package["destination_state"].get(FIRST_LOADS, {})


def test_a_first_load_lands_straight_and_the_next_goes_through_staging(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    first = [
        {"id": "a", "status": "placed", "updated_at": CHANGED},
        {"id": "a", "status": "completed", "updated_at": LATER},  # changed while read
        {"id": "b", "status": "placed", "updated_at": CHANGED},
    ]
    pipeline, straight = load(first, warehouse.target, tmp_path / "pipelines")
    assert straight["orders"] is True and straight["events"] is True
    assert not any(straight[name] for name in straight if name.startswith("_dlt"))
    query = "select id, status from first_loads.{} order by id, updated_at"
    assert warehouse.query(query.format("orders")) == [("a", "completed"), ("b", "placed")]
    # An insert-only table keeps each version read, as dlt's insert-only merge does.
    assert warehouse.query(query.format("events")) == [
        ("a", "placed"),
        ("a", "completed"),
        ("b", "placed"),
    ]
    # The repeated key's rows went through staging: the tie check reads them there.
    staged = warehouse.query("select id from first_loads_staging.orders order by updated_at")
    assert staged == [("a",), ("a",)]
    assert find_ties(pipeline, ["orders"]) == {}

    again = [
        {"id": "b", "status": "returned", "updated_at": LATER},
        {"id": "c", "status": "placed", "updated_at": LATER},
    ]
    _, straight = load(again, warehouse.target, tmp_path / "pipelines")
    assert straight["orders"] is False and straight["events"] is False
    assert warehouse.query(query.format("orders")) == [
        ("a", "completed"),
        ("b", "returned"),
        ("c", "placed"),
    ]
    staged = warehouse.query("select id from first_loads_staging.orders order by id")
    assert staged == [("b",), ("c",)]


def test_a_first_load_without_repeated_keys_moves_nothing(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    rows = [{"id": key, "status": "placed", "updated_at": CHANGED} for key in "abc"]
    _, straight = load(rows, warehouse.target, tmp_path / "pipelines")
    assert straight["orders"] is True
    assert warehouse.query("select count(*) from first_loads.orders") == [(3,)]
    assert warehouse.query("select count(*) from first_loads_staging.orders") == [(0,)]
