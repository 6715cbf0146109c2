"""`location_daily_revenue` is built by dbt's microbatch, whose windows follow its `begin`
var and the wall clock: the guard run before each build (macros/microbatch_guard.sql) makes
sure no window drops rows silently. On DuckDB only, to keep the suite's time: on PostgreSQL
every build runs the guard's first-day query and every incremental build its changed-orders
query (test_warehouse_models), so only the drop-and-rebuild path is DuckDB's alone here."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from tests.support import FAST_UPSTREAM, Warehouse
from tests.test_warehouse_models import assert_daily_revenue_matches_upstream, ingest
from upstream.process import UpstreamProcess

# A shop whose history ended ten months ago: every change is long before the incremental
# window (the current and the previous month), whatever today is.
START = datetime.now(UTC).date() - timedelta(days=400)


@pytest.fixture
def upstream() -> Iterator[UpstreamProcess]:
    args = ("--orders", "2000", "--start", START.isoformat(), *FAST_UPSTREAM)
    with UpstreamProcess(secrets.token_hex(16), *args) as process:
        yield process


def build(warehouse: Warehouse, begin: date, check: bool = True) -> str:
    """The revenue mart and what it is built from (the guard looks at selected models only)."""
    revenue_begin = f'{{revenue_begin: "{begin}"}}'
    selected = ("--select", "+location_daily_revenue", "--indirect-selection", "cautious")
    return warehouse.build(*selected, "--vars", revenue_begin, check=check)


@pytest.mark.parametrize("warehouse", ["duckdb"], indirect=True)
def test_microbatch_windows_never_drop_rows(
    warehouse: Warehouse, upstream: UpstreamProcess
) -> None:
    ingest(warehouse.target)

    # Orders older than the var: a clear error naming it and the first day, not an empty mart.
    output = build(warehouse, START + timedelta(days=30), check=False)
    assert "revenue_begin" in output and f"the orders begin on {START}" in output, output

    build(warehouse, START)
    assert_daily_revenue_matches_upstream(warehouse, upstream)

    # Changes on days before the incremental window: rebuilt, not skipped.
    upstream.advance(days=3)
    ingest(warehouse.target)
    output = build(warehouse, START)
    assert "location_daily_revenue: rebuilding from revenue_begin" in output
    assert_daily_revenue_matches_upstream(warehouse, upstream)

    # A table that lost its first days (built from a later begin): rebuilt from the var.
    warehouse.query_write(
        "delete from analytics.location_daily_revenue "
        f"where revenue_date < '{START + timedelta(days=20)}'"
    )
    output = build(warehouse, START)
    assert "rebuilding from revenue_begin" in output and "but the orders start on" in output
    assert_daily_revenue_matches_upstream(warehouse, upstream)

    # Nothing changed: the incremental build leaves it be.
    assert "rebuilding" not in build(warehouse, START)


@pytest.mark.clock
@pytest.mark.parametrize("warehouse", ["duckdb"], indirect=True)
def test_orders_dated_after_today_are_announced_not_dropped_silently(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upstream whose clock runs ahead (history to 40 days after today, past the end of
    this month's batch whatever the day): dbt builds no batch after the wall clock's, and the
    guard says so with the last day."""
    today = datetime.now(UTC).date()
    start = today - timedelta(days=50)
    args = ("--orders", "500", "--start", start.isoformat(), "--history-days", "90")
    with UpstreamProcess(secrets.token_hex(16), *args, *FAST_UPSTREAM) as ahead:
        monkeypatch.setenv("UPSTREAM_API_KEY", ahead.api_key)
        monkeypatch.setenv("SOURCES__SHOP_API__BASE_URL", ahead.url)
        monkeypatch.setenv("SOURCES__CATALOG_DB__CREDENTIALS", ahead.database_url)
        ingest(warehouse.target)
    output = build(warehouse, start)
    assert "WARNING orders are dated up to" in output, output
    # The month the build ran in (the test may cross a month end while it runs).
    next_months = {first_of_next_month(today), first_of_next_month(datetime.now(UTC).date())}
    ends = [f"after the batch of today (UTC) ends ({month})" for month in next_months]
    assert any(end in output for end in ends), output
    (last_built,) = warehouse.query(
        "select max(revenue_date) from analytics.location_daily_revenue"
    )[0]
    assert last_built < max(next_months)


def first_of_next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)
