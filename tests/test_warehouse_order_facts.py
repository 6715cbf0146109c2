"""What this upstream never sends but a vendor's API may: an item added to an order whose own
row did not change, an item that lands before its order, an item loaded again without its
order. The order facts then use rows they did not get in the load: the order's columns by id
from staging, its items built before by order and day from `order_items`
(macros/incremental_selection.sql). After each, on both targets, an incremental run equals a
full refresh, and the changed order shows the change."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from ingestion import pipeline
from tests.support import FAST_UPSTREAM, Warehouse, add_completed_load, history_start
from upstream.process import UpstreamProcess

FACTS = {"order_items": "order_item_id", "orders": "order_id", "customers": "customer_id"}


@pytest.fixture
def upstream() -> Iterator[UpstreamProcess]:
    args = ("--orders", "300", "--start", history_start(), *FAST_UPSTREAM)
    with UpstreamProcess(secrets.token_hex(16), *args) as process:
        yield process


def test_items_loaded_without_their_order_rebuild_the_order_facts(
    warehouse: Warehouse, upstream: UpstreamProcess
) -> None:
    pipeline.run("catalog_db", warehouse.target)
    pipeline.run("shop_api", warehouse.target)
    warehouse.build()
    ((order, item),) = warehouse.query(
        "select order_id, id from raw.order_items order by id limit 1"
    )
    ((reloaded, sku),) = warehouse.query(
        f"select id, sku from raw.order_items where order_id <> '{order}' order by id limit 1"
    )
    ((other_sku,),) = warehouse.query(f"select min(sku) from raw.products where sku <> '{sku}'")
    items_before = item_count(warehouse, order)

    # A free item added to an order (its total stays right), the order's row untouched; an
    # item of an order that has not landed yet: kept without a day, no order; and an item of
    # another order loaded again as another product (same price), its order untouched.
    copy_raw_row(warehouse, "order_items", item, id=f"'{item}-extra'", price="0")
    copy_raw_row(warehouse, "order_items", item, id=f"'{item}-early'", order_id="'order-late'")
    load = add_completed_load(warehouse)
    warehouse.query_write(
        f"update raw.order_items set sku = '{other_sku}', _dlt_load_id = '{load}' "
        f"where id = '{reloaded}'"
    )
    facts = assert_facts_equal_a_full_refresh(warehouse)
    assert item_count(warehouse, order) == items_before + 1
    assert order_item_day(warehouse, f"{item}-early") is None
    assert item_count(warehouse, "order-late") is None
    assert any(row[0] == reloaded and row[2] == other_sku for row in facts["order_items"])

    # The order lands, and takes its item.
    copy_raw_row(warehouse, "orders", order, id="'order-late'")
    assert_facts_equal_a_full_refresh(warehouse)
    assert item_count(warehouse, "order-late") == 1
    assert order_item_day(warehouse, f"{item}-early") is not None


def test_a_mart_stops_rather_than_read_a_mart_behind_its_loads(
    warehouse: Warehouse, upstream: UpstreamProcess
) -> None:
    """`dbt run --select orders` after a load, without `order_items`, would take in the new
    load's orders over items that lack it, move the mart's mark past them, and no later build
    would take the item in: the build stops instead, naming the mart behind."""
    pipeline.run("catalog_db", warehouse.target)
    pipeline.run("shop_api", warehouse.target)
    warehouse.build()
    ((order, item),) = warehouse.query(
        "select order_id, id from raw.order_items order by id limit 1"
    )
    items_before = item_count(warehouse, order)
    copy_raw_row(warehouse, "order_items", item, id=f"'{item}-late'", price="0")
    built = {
        mart: warehouse.query(f"select * from analytics.{mart} order by {key}")
        for mart, key in FACTS.items()
    }

    for selection in (["orders"], ["customers"], ["product_mentions"]):
        output = warehouse.dbt("run", "--select", *selection, check=False)
        assert "the mart order_items it reads has not taken in" in output, output[-2000:]
    # With order_items built in the run, orders is the mart behind for customers.
    output = warehouse.dbt("run", "--select", "order_items", "customers", check=False)
    assert "the mart orders it reads has not taken in" in output, output[-2000:]
    for mart, key in FACTS.items():
        if mart != "order_items":
            rows = warehouse.query(f"select * from analytics.{mart} order by {key}")
            assert rows == built[mart], f"{mart} changed by a build that stopped"

    # order_items is level now (the run that stopped at customers built it): orders takes the
    # item in alone, customers after it, and a look back does not read as behind.
    warehouse.dbt("run", "--select", "orders")
    warehouse.dbt("run", "--select", "customers", "--vars", "{lookback_hours: 48}")
    assert item_count(warehouse, order) == items_before + 1
    assert_facts_equal_a_full_refresh(warehouse)


def copy_raw_row(warehouse: Warehouse, table: str, key: str, **values: str) -> None:
    """A copy of the raw row `key` of `table`, with `values` (SQL) for some columns, in a new
    completed load."""
    columns = [
        name
        for (name,) in warehouse.query(
            "select column_name from information_schema.columns where table_schema = 'raw' "
            f"and table_name = '{table}' order by ordinal_position"
        )
    ]
    values["_dlt_load_id"] = f"'{add_completed_load(warehouse)}'"
    warehouse.query_write(
        f"insert into raw.{table} ({', '.join(columns)}) "
        f"select {', '.join(values.get(name, name) for name in columns)} "
        f"from raw.{table} where id = '{key}'"
    )


def item_count(warehouse: Warehouse, order: str) -> int | None:
    rows = warehouse.query(f"select item_count from analytics.orders where order_id = '{order}'")
    return rows[0][0] if rows else None


def order_item_day(warehouse: Warehouse, item: str) -> Any:
    return warehouse.query(
        f"select order_date from analytics.order_items where order_item_id = '{item}'"
    )[0][0]


def assert_facts_equal_a_full_refresh(warehouse: Warehouse) -> dict[str, list[tuple[Any, ...]]]:
    """An incremental run of the order facts, checked against a full refresh of them. (`dbt
    run`: an item without its order fails the relationship tests of a build, by design.)"""
    warehouse.dbt("run", "--select", *FACTS)
    facts = {
        mart: warehouse.query(f"select * from analytics.{mart} order by {key}")
        for mart, key in FACTS.items()
    }
    warehouse.dbt("run", "--full-refresh", "--select", *FACTS)
    for mart, key in FACTS.items():
        rebuilt = warehouse.query(f"select * from analytics.{mart} order by {key}")
        assert rebuilt == facts[mart], f"{mart}: incremental != full refresh"
    return facts
