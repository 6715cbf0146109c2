"""Upstream -> dlt -> warehouse on DuckDB and PostgreSQL: a wrong key loads nothing, the catalog
database loads and follows changes. (Full loads and rounds reconciled key by key with the
upstream: test_warehouse_models.)"""

from __future__ import annotations

import re

import pytest
from dlt.pipeline.exceptions import PipelineStepFailed
from sqlalchemy import create_engine, text

from ingestion import pipeline
from ingestion.errors import UpstreamError
from tests.support import (
    Warehouse,
    read_all,
)
from upstream.process import UpstreamProcess


def ingest(target: str) -> pipeline.RunSummary:
    """Both sources, as `make ingest` does; returns the shop API's summary."""
    pipeline.run("catalog_db", target)
    return pipeline.run("shop_api", target)


RAW_KEYS = {
    "customers": "id",
    "orders": "id",
    "order_items": "id",
    "tweets": "id",
    "products": "sku",
    "stores": "id",
}


def assert_raw_matches_upstream(warehouse: Warehouse, upstream: UpstreamProcess) -> None:
    """Every raw table holds exactly the rows the upstream serves, keys and change times, in
    loads dlt completed (dbt reads no others: macros/from_completed_loads.sql)."""
    for table, key in RAW_KEYS.items():
        truth = read_all(upstream, table)
        expected = {(k, row["updated_at"][:19]) for k, row in truth.items()}
        loaded = warehouse.query(
            f"select {key}, cast(updated_at at time zone 'UTC' as varchar) from raw.{table} "
            "where _dlt_load_id in (select load_id from raw._dlt_loads where status = 0)"
        )
        assert {(k, stamp[:19].replace(" ", "T")) for k, stamp in loaded} == expected, table


def raw_orders(warehouse: Warehouse) -> set[tuple[str, str, str]]:
    rows = warehouse.query("select id, status, cast(updated_at as varchar) from raw.orders")
    return set(rows)


def orders_cursor(target: str) -> str:
    state = pipeline.make_pipeline("shop_api", target).state
    return state["sources"]["shop_api"]["resources"]["orders"]["incremental"]["updated_at"][
        "last_value"
    ]


def test_wrong_api_key_fails_clearly_and_loads_nothing(
    warehouse: Warehouse, upstream: UpstreamProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong_key = "not-the-key"
    monkeypatch.setenv("UPSTREAM_API_KEY", wrong_key)
    with pytest.raises(PipelineStepFailed) as failure:
        ingest(warehouse.target)
    message = str(failure.value.exception)
    assert any(isinstance(e, UpstreamError) for e in exception_chain(failure.value))
    assert "shop_api" in message
    assert re.search(r"GET /v1/\w+ \(", message), message
    assert "401" in message
    assert wrong_key not in message
    assert not warehouse.table_exists("raw", "orders")

    # After a good load, a failed incremental run leaves data and cursor where they were.
    monkeypatch.setenv("UPSTREAM_API_KEY", upstream.api_key)
    ingest(warehouse.target)
    raw_before, cursor_before = raw_orders(warehouse), orders_cursor(warehouse.target)
    upstream.advance(days=1)
    monkeypatch.setenv("UPSTREAM_API_KEY", wrong_key)
    with pytest.raises(PipelineStepFailed) as failure:
        ingest(warehouse.target)
    assert any(isinstance(e, UpstreamError) for e in exception_chain(failure.value))
    assert raw_orders(warehouse) == raw_before
    assert orders_cursor(warehouse.target) == cursor_before


def exception_chain(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def catalog_rows(url: str, table: str, key: str) -> set[tuple[str, str]]:
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(text(f"select {key}, updated_at from {table}")).all()
    engine.dispose()
    return {(k, str(stamp)[:19].replace(" ", "T")) for k, stamp in rows}


@pytest.mark.clock
def test_catalog_database_loads_and_follows_changes(
    warehouse: Warehouse, upstream: UpstreamProcess
) -> None:
    tables = {"products": "sku", "stores": "id", "inventory_movements": "id"}

    def assert_matches() -> None:
        for table, key in tables.items():
            loaded = warehouse.query(
                f"select {key}, cast(updated_at as varchar) from raw_catalog.{table}"
            )
            got = {(k, stamp[:19].replace(" ", "T")) for k, stamp in loaded}
            assert got == catalog_rows(upstream.database_url, table, key), table

    first = pipeline.run("catalog_db", warehouse.target)
    assert first.rows["supplies"] == 64
    assert_matches()
    upstream.advance(days=3)
    again = pipeline.run("catalog_db", warehouse.target)
    assert 0 < again.rows["inventory_movements"] < first.rows["inventory_movements"]
    assert_matches()
