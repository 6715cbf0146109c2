"""What `product_mentions` cannot rewrite tweet by tweet, on both targets: a tweet loaded again
that no longer names a product, then a product renamed. Each rebuilds the mart whole
(macros/mentions_rebuild.sql), and an incremental build equals a full refresh after each."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from ingestion import pipeline
from tests.support import FAST_UPSTREAM, Warehouse, add_completed_load, history_start
from upstream.process import UpstreamProcess

MENTIONS = "select * from analytics.product_mentions order by tweet_id, product_id"


@pytest.fixture
def upstream() -> Iterator[UpstreamProcess]:
    args = ("--orders", "1000", "--start", history_start(), *FAST_UPSTREAM)
    with UpstreamProcess(secrets.token_hex(16), *args) as process:
        yield process


def test_an_edited_tweet_and_a_renamed_product_rebuild_the_mentions(
    warehouse: Warehouse, upstream: UpstreamProcess
) -> None:
    pipeline.run("catalog_db", warehouse.target)
    pipeline.run("shop_api", warehouse.target)
    warehouse.build()
    (tweet,) = warehouse.query("select min(tweet_id) from analytics.product_mentions")[0]
    assert tweet is not None, "no tweet names a product: the shop is too small for this test"

    load = add_completed_load(warehouse)
    warehouse.query_write(
        f"update raw.tweets set content = 'nothing on the menu', _dlt_load_id = '{load}' "
        f"where id = '{tweet}'"
    )
    assert tweet not in {row[0] for row in assert_mentions_equal_a_full_refresh(warehouse)}

    (product,) = warehouse.query("select min(product_id) from analytics.product_mentions")[0]
    load = add_completed_load(warehouse)
    # Both sources rename it, as the menu's agreement test expects.
    for table, stamp in (
        ("raw.products", f", _dlt_load_id = '{load}'"),
        ("raw_catalog.products", ""),
    ):
        warehouse.query_write(
            f"update {table} set name = 'a name no tweet says'{stamp} where sku = '{product}'"
        )
    assert product not in {row[1] for row in assert_mentions_equal_a_full_refresh(warehouse)}


def assert_mentions_equal_a_full_refresh(warehouse: Warehouse) -> list[tuple[Any, ...]]:
    """An incremental build's product_mentions, checked against a full refresh of it."""
    warehouse.build()
    incremental = warehouse.query(MENTIONS)
    warehouse.build("--select", "product_mentions", "--full-refresh")
    assert warehouse.query(MENTIONS) == incremental, "product_mentions: incremental != full refresh"
    return incremental
