"""Two versions of a key with one `updated_at` in a load: the same winner whatever their
order, on each target, and the run says which keys it decided."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dlt
import pyarrow as pa
import pytest

from ingestion import warehouse as warehouse_settings
from ingestion.merge_ties import find_ties
from ingestion.shop_api.endpoints import INSERT_ONLY
from tests.support import Warehouse

CHANGED = datetime(2026, 3, 1, 12, tzinfo=UTC)
VERSIONS = [
    # Key "a": two versions changed at the same moment (and an older one).
    {"id": "a", "status": "completed", "amount": 10, "updated_at": CHANGED},
    {"id": "a", "status": "placed", "amount": 10, "updated_at": CHANGED},
    {"id": "a", "status": "returned", "amount": 99, "updated_at": CHANGED - timedelta(hours=1)},
    # Key "b": the same version twice (a page read twice): not a tie.
    {"id": "b", "status": "placed", "amount": 1, "updated_at": CHANGED},
    {"id": "b", "status": "placed", "amount": 1, "updated_at": CHANGED},
]


def orders(rows: list[dict]) -> Any:
    """A merge resource of `rows`, the newest `updated_at` of a key winning, as the shop's."""
    return dlt.resource(
        pa.Table.from_pylist(rows),
        name="orders",
        primary_key="id",
        write_disposition="merge",
        columns={"updated_at": {"dedup_sort": "desc"}},
    )


def events(rows: list[dict]) -> Any:
    """An insert-only resource of `rows`, as the shop's immutable events."""
    return dlt.resource(
        pa.Table.from_pylist(rows), name="events", primary_key="id", write_disposition=INSERT_ONLY
    )


def run(data: Any, target: str, pipelines: Path, dataset: str) -> tuple[dlt.Pipeline, Any]:
    """`data` loaded by a pipeline named as its dataset: the pipeline and dlt's load info."""
    pipeline = dlt.pipeline(
        pipeline_name=dataset,
        destination=warehouse_settings.destination(target),
        dataset_name=dataset,
        pipelines_dir=str(pipelines),
    )
    info = pipeline.run(data, loader_file_format=warehouse_settings.loader_file_format(target))
    return pipeline, info


def load(rows: list[dict], target: str, pipelines: Path, dataset: str) -> dlt.Pipeline:
    return run(orders(rows), target, pipelines, dataset)[0]


def test_equal_timestamps_keep_the_greatest_version_whatever_the_order(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    for dataset, rows in (("ties_forward", VERSIONS), ("ties_backward", VERSIONS[::-1])):
        pipeline = load(rows, warehouse.target, tmp_path / "pipelines", dataset)
        kept = warehouse.query(f"select id, status, amount from {dataset}.orders order by id")
        # Column by column after the key and the cursor: "placed" > "completed".
        assert kept == [("a", "placed", 10), ("b", "placed", 1)], dataset
        assert find_ties(pipeline, ["orders"]) == {"orders": "1 keys (id=a)"}


@pytest.mark.parametrize("target", ["duckdb"])
def test_a_load_without_ties_reports_none(target: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
    pipeline = load(VERSIONS[2:], target, tmp_path / "pipelines", "no_ties")
    assert find_ties(pipeline, ["orders", "not_loaded"]) == {}


def load_events(rows: list[dict], target: str, pipelines: Path) -> dlt.Pipeline:
    return run(events(rows), target, pipelines, "events")[0]


def test_an_insert_only_table_matches_rows_read_again_by_key_and_updated_at(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    """Order items and tweets are immutable events (insert-only). A row read again (the lag
    window) is the stored row and merges onto it; a row whose `updated_at` moved broke that
    contract and is kept as a second version, for the source's `unique` test to report,
    rather than dropped."""
    first = [
        {"id": "a", "kind": "sale", "updated_at": CHANGED},
        {"id": "b", "kind": "sale", "updated_at": CHANGED},
    ]
    again = [
        first[1],  # read again, unchanged
        {"id": "a", "kind": "refund", "updated_at": CHANGED + timedelta(hours=1)},
        {"id": "c", "kind": "sale", "updated_at": CHANGED + timedelta(hours=1)},
    ]
    load_events(first, warehouse.target, tmp_path / "pipelines")
    load_events(again, warehouse.target, tmp_path / "pipelines")
    kept = warehouse.query("select id, kind from events.events order by id, updated_at")
    assert kept == [("a", "sale"), ("a", "refund"), ("b", "sale"), ("c", "sale")]


def test_an_insert_only_row_stored_by_a_load_that_never_completed_is_read_again_visibly(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    """A package aborted after its insert-only merge committed (a later table failed for
    good; the state rolled back) leaves rows under a load id `_dlt_loads` never records, and
    dbt reads completed loads only. The next run reads them again: they must take its load
    id, not match their stored copies and stay hidden."""
    rows = [
        {"id": "a", "kind": "sale", "updated_at": CHANGED},
        {"id": "b", "kind": "sale", "updated_at": CHANGED},
    ]
    pipeline = load_events(rows, warehouse.target, tmp_path / "pipelines")
    with pipeline.sql_client() as client:  # the load as an aborted package leaves it
        client.execute_sql("delete from events._dlt_loads")

    load_events(
        [*rows, {"id": "c", "kind": "sale", "updated_at": CHANGED}],
        warehouse.target,
        tmp_path / "pipelines",
    )
    visible = warehouse.query(
        "select id from events.events where _dlt_load_id in "
        "(select load_id from events._dlt_loads where status = 0) order by id"
    )
    assert visible == [("a",), ("b",), ("c",)]
    assert warehouse.query("select count(*) from events.events") == [(3,)]
