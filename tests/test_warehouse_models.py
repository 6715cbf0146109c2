"""Rounds of new orders, status changes, late items, returns and deleted customers, on both
targets: raw tables stay exactly the upstream's, and incremental dbt builds reconcile with
it key by key and equal a full rebuild. Date-sensitive: `make test-dates` runs it on other
days too."""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from ingestion import pipeline
from tests.support import (
    FAST_UPSTREAM,
    Warehouse,
    assert_orders_mart_matches_upstream,
    dollars,
    history_start,
    read_all,
    upstream_orders,
)
from tests.test_pipeline_end_to_end import assert_raw_matches_upstream, raw_orders
from upstream.process import UpstreamProcess

ORDERS = 3_000
ROUNDS = 2
DAYS_PER_ROUND = 3
# Change rates that make returns, late items and deleted customers certain in these days.
RATES = ("--deletion-rate", "0.01", "--late-item-rate", "0.05", "--return-rate", "0.03")

MART_KEYS = {
    "orders": "order_id",
    "order_items": "order_item_id",
    "customers": "customer_id",
    "products": "product_id",
    "supplies": "supply_id, product_id",
    "locations": "location_id",
    "location_daily_revenue": "location_id, revenue_date",
    "product_mentions": "tweet_id, product_id",
}


@pytest.fixture
def upstream() -> Iterator[UpstreamProcess]:
    args = ("--orders", str(ORDERS), "--start", history_start(), *RATES, *FAST_UPSTREAM)
    with UpstreamProcess(secrets.token_hex(16), *args) as process:
        yield process


def ingest(target: str) -> pipeline.RunSummary:
    """Both sources; the shop API's summary."""
    pipeline.run("catalog_db", target)
    return pipeline.run("shop_api", target)


def marts(warehouse: Warehouse) -> dict[str, list[tuple[Any, ...]]]:
    return {
        mart: warehouse.query(f"select * from analytics.{mart} order by {key}")
        for mart, key in MART_KEYS.items()
    }


def assert_daily_revenue_matches_upstream(warehouse: Warehouse, upstream: UpstreamProcess) -> None:
    """Per store and day: orders placed and revenue kept (returns excluded)."""
    expected: dict[tuple[str, str], list[Any]] = defaultdict(lambda: [0, Decimal(0)])
    for order in upstream_orders(upstream).values():
        day = expected[(order["store_id"], order["ordered_at"][:10])]
        day[0] += 1
        if order["status"] != "returned":
            day[1] += dollars(order["order_total"])
    rows = warehouse.query(
        "select location_id, cast(revenue_date as varchar), order_count, revenue "
        "from analytics.location_daily_revenue"
    )
    assert {(loc, day): [count, revenue] for loc, day, count, revenue in rows} == dict(expected)


def assert_customers_match_upstream(warehouse: Warehouse, upstream: UpstreamProcess) -> None:
    """Every customer, deleted ones anonymised; order counts per customer."""
    customers = read_all(upstream, "customers")
    order_counts: dict[str, int] = defaultdict(int)
    for order in upstream_orders(upstream).values():
        order_counts[order["customer"]] += 1
    expected = {
        key: (row["deleted_at"] is not None, row["name"], order_counts[key])
        for key, row in customers.items()
    }
    rows = warehouse.query(
        "select customer_id, is_deleted, customer_name, lifetime_order_count "
        "from analytics.customers"
    )
    assert {key: (deleted, name, count) for key, deleted, name, count in rows} == expected


@pytest.mark.clock
def test_incremental_builds_equal_a_full_refresh(
    warehouse: Warehouse, upstream: UpstreamProcess
) -> None:
    full_load = ingest(warehouse.target)
    assert full_load.rows["orders"] == ORDERS
    assert_raw_matches_upstream(warehouse, upstream)
    warehouse.dbt("build")  # the whole of it, unit tests too; the rounds build as `make build`
    warehouse.dbt("source", "freshness")  # dbt reads the raw tables as fresh
    # Nothing changed upstream: the raw tables stay as they are (the lag window is re-read
    # and merged onto itself) and the slow-changing endpoints answer 304.
    raw_before = raw_orders(warehouse)
    unchanged = pipeline.run("shop_api", warehouse.target)
    assert unchanged.requests["not_modified_304"] == 2
    assert raw_orders(warehouse) == raw_before
    # ... and the summary says so: the lag window's rows are re-read, not news.
    assert unchanged.lines()[0].startswith(
        f"shop_api -> {warehouse.target}: nothing new or changed"
    )
    assert unchanged.totals()["re-read"] == sum(unchanged.rows.values())

    happened: dict[str, int] = defaultdict(int)
    for _ in range(ROUNDS):
        for change, count in upstream.advance(days=DAYS_PER_ROUND).items():
            happened[change] += count
        shop = ingest(warehouse.target)
        assert shop.totals()["new"] > 0 and shop.totals()["changed"] > 0, shop.lines()
        assert_raw_matches_upstream(warehouse, upstream)
        warehouse.build()
    for change in ("completed_orders", "returned_orders", "late_items", "deleted_customers"):
        assert happened[change] > 0, f"no {change} in {ROUNDS * DAYS_PER_ROUND} days: {happened}"

    assert_orders_mart_matches_upstream(warehouse, upstream)
    assert_daily_revenue_matches_upstream(warehouse, upstream)
    assert_customers_match_upstream(warehouse, upstream)
    incremental = marts(warehouse)

    warehouse.build("--full-refresh")
    rebuilt = marts(warehouse)
    for mart in MART_KEYS:
        assert rebuilt[mart] == incremental[mart], f"{mart}: incremental != full refresh"
