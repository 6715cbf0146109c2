"""A whole `dbt build` tests the rows loaded since its last passing build (where a test says
`where: changed_since_tested`); `dbt test` tests every row (macros/tests_since_last_build.sql)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from ingestion import pipeline
from tests.support import FAST_UPSTREAM, Warehouse, add_completed_load, history_start
from upstream.process import UpstreamProcess

MARK = "analytics.dbt_tests_since_last_build"
UNIQUE_ITEMS = "source_unique_shop_order_items_id"


@pytest.fixture
def upstream() -> Iterator[UpstreamProcess]:
    args = ("--orders", "500", "--start", history_start(), *FAST_UPSTREAM)
    with UpstreamProcess(secrets.token_hex(16), *args) as process:
        yield process


def mark(warehouse: Warehouse) -> list[tuple[object, ...]]:
    return warehouse.query(f"select loaded_through from {MARK} where loaded_through is not null")


def failed(output: str, test: str) -> bool:
    return any(test in line and "FAIL" in line for line in output.splitlines())


def test_a_build_tests_the_rows_loaded_since_its_last_passing_build(
    warehouse: Warehouse, upstream: UpstreamProcess
) -> None:
    pipeline.run("catalog_db", warehouse.target)
    pipeline.run("shop_api", warehouse.target)
    warehouse.build()  # a new warehouse: every row tested, and the mark set
    columns = [
        name
        for (name,) in warehouse.query(
            "select column_name from information_schema.columns where table_schema = 'raw' "
            "and table_name = 'order_items' and column_name <> '_dlt_load_id' "
            "order by ordinal_position"
        )
    ]

    def item_in_a_new_load(id_expression: str) -> str:
        """A copy of the first item, with the id `id_expression` makes, in a load after every
        other (a completed one, so the models read it); the load's id."""
        load = add_completed_load(warehouse)
        values = ", ".join(id_expression if name == "id" else name for name in columns)
        warehouse.query_write(
            f"insert into raw.order_items ({', '.join(columns)}, _dlt_load_id) "
            f"select {values}, '{load}' from raw.order_items order by id limit 1"
        )
        return load

    # A new item of an old order: the order is rebuilt, and checked, and its subtotal (the
    # upstream's, unchanged) no longer matches its items.
    extra = item_in_a_new_load("id || '-extra'")
    output = warehouse.build(check=False)
    assert failed(output, "assert_order_subtotals_match_their_items"), output[-3000:]
    warehouse.query_write(f"delete from raw.order_items where _dlt_load_id = '{extra}'")
    warehouse.query_write(f"delete from raw._dlt_loads where load_id = '{extra}'")
    warehouse.build("--full-refresh")
    (passed,) = mark(warehouse)

    # An item repeated by a new load: its key is old, the row is new, and the build fails.
    repeat = item_in_a_new_load("id")
    output = warehouse.build(check=False)
    assert failed(output, UNIQUE_ITEMS), output[-3000:]
    assert mark(warehouse) == [passed]  # a failing build does not move it

    # The repeat gone, the next build passes and moves the mark on.
    warehouse.query_write(f"delete from raw.order_items where _dlt_load_id = '{repeat}'")
    warehouse.build()
    assert mark(warehouse) > [passed]

    # A repeat that claims an old load (no load brings one: a hand edit of the raw table) is
    # older than the mark: the build's unique test leaves it be, but the reconciliation of
    # the marts with every raw row fails the build; `dbt test` checks every row and finds it.
    warehouse.query_write(
        "insert into raw.order_items select * from raw.order_items order by id limit 1"
    )
    output = warehouse.build(check=False)
    assert failed(output, "assert_marts_reconcile_with_raw"), output[-3000:]
    assert not failed(output, UNIQUE_ITEMS), output[-3000:]
    output = warehouse.dbt("test", "--select", "source:shop.order_items", check=False)
    assert failed(output, UNIQUE_ITEMS), output[-3000:]
    # A full refresh tests every row as well.
    output = warehouse.build("--full-refresh", check=False)
    assert failed(output, UNIQUE_ITEMS), output[-3000:]
