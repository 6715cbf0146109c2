"""`partition_by` and `cluster_by` take effect: a one-day query on the orders mart reads one
partition on PostgreSQL, skips most row groups on DuckDB, and opens one day's Parquet files in
lake mode, asserted from the plans."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.plans import (
    FileScan,
    duckdb_files_read,
    duckdb_row_groups,
    postgres_scanned_relations,
)
from ingestion import pipeline
from ingestion import warehouse as warehouse_settings
from tests.support import FAST_UPSTREAM, Warehouse, history_start
from upstream.process import UpstreamProcess

# DuckDB: enough orders for several of its 122,880-row row groups, each holding weeks of
# days. PostgreSQL's plan names the partitions it reads at any size.
ORDERS = {"duckdb": 500_000, "postgres": 5_000}


@pytest.fixture
def upstream(request: pytest.FixtureRequest) -> Iterator[UpstreamProcess]:
    orders = ORDERS[request.node.callspec.params["warehouse"]]
    args = ("--orders", str(orders), "--start", history_start(), *FAST_UPSTREAM)
    with UpstreamProcess(secrets.token_hex(16), *args) as process:
        yield process


def build_orders(warehouse: Warehouse) -> str:
    """Load, build the orders mart, and return a day in the middle of its history."""
    pipeline.run("catalog_db", warehouse.target)
    pipeline.run("shop_api", warehouse.target)
    warehouse.dbt("run", "--select", "+orders")
    (day,) = warehouse.query(
        "select cast(order_date as varchar) from analytics.orders "
        f"order by order_date limit 1 offset {ORDERS[warehouse.target] // 2}"
    )[0]
    return day


def test_one_day_query_prunes_the_rest(
    warehouse: Warehouse, upstream: UpstreamProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    day = build_orders(warehouse)
    one_day = f"select count(*) from analytics.orders where order_date = date '{day}'"
    # The same table read on a column it is not ordered by: nothing can be skipped.
    control = "select count(*) from analytics.orders where customer_id like '%ab%'"

    if warehouse.target == "postgres":
        dsn = warehouse_settings.postgres_url()
        assert postgres_scanned_relations(dsn, one_day) == [f"orders_p{day.replace('-', '')}"]
        assert len(postgres_scanned_relations(dsn, control)) > 80  # one per day, and default
        (indexed,) = warehouse.query(
            "select count(*) from pg_indexes where schemaname = 'analytics' "
            "and tablename = 'orders' and indexdef like '%(location_id)%'"
        )[0]
        assert indexed == 1
        return

    database = warehouse_settings.duckdb_path()
    pruned = duckdb_row_groups(database, one_day, tmp_path / "one_day.json")
    unpruned = duckdb_row_groups(database, control, tmp_path / "control.json")
    assert unpruned.scanned == unpruned.total >= 4
    assert pruned.total == unpruned.total
    # A day's orders sit in one row group, or two where it straddles a boundary.
    assert pruned.scanned <= 2, f"read {pruned.scanned} of {pruned.total} row groups"

    # Lake mode over the same raw tables: the facts as hive-partitioned Parquet, a day each.
    monkeypatch.setenv("LAKE_ROOT", str(tmp_path / "lake"))
    (tmp_path / "lake").mkdir()
    warehouse.dbt("run", "--select", "+orders", target="lake")
    days = len(list((tmp_path / "lake" / "orders").glob("order_date=*")))
    lake_day = one_day.replace("analytics.", "lake.")
    assert duckdb_files_read(database, lake_day, tmp_path / "lake.json") == FileScan(1, days)
    assert warehouse.query(lake_day) == warehouse.query(one_day)
    totals = "select count(*), sum(order_total), max(updated_at) from {}.orders"
    assert warehouse.query(totals.format("lake")) == warehouse.query(totals.format("analytics"))
