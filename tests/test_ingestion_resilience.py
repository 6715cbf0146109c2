"""Extraction against a misbehaving upstream: exact data, or a clear failure and no progress."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dlt
import duckdb
import httpx
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from ingestion import cli, pipeline
from ingestion import warehouse as warehouse_settings
from ingestion.shop_api import EPOCH
from tests.support import Warehouse
from tests.test_pipeline_end_to_end import (
    assert_raw_matches_upstream,
    orders_cursor,
)
from upstream.process import UpstreamProcess

ORDERS = "2000"
QUICK = ("--latency-ms", "0", "--jitter-ms", "0")


@pytest.fixture
def duckdb_warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Warehouse]:
    monkeypatch.setenv("DBT_TARGET", "duckdb")
    monkeypatch.setenv("DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("PIPELINES_DIR", str(tmp_path / "pipelines"))
    monkeypatch.setenv("SOURCES__SHOP_API__BACKOFF_SECONDS", "0.02")
    monkeypatch.setenv("SOURCES__SHOP_API__TIMEOUT_SECONDS", "2")
    yield Warehouse("duckdb")


def point_pipeline_at(upstream: UpstreamProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPSTREAM_API_KEY", upstream.api_key)
    monkeypatch.setenv("SOURCES__SHOP_API__BASE_URL", upstream.url)


def test_faults_and_429_storms_are_survived_with_exact_data(
    duckdb_warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = secrets.token_hex(16)
    # A third of the requests fail, but none more than 4 times in a row (the session tries 8):
    # every fault is survived whatever order the concurrent requests draw them in.
    faults = (
        "error_5xx=0.1,burst_429=0.06,burst_length=4,drop=0.05,truncate=0.05,"
        "malform=0.05,slow=0.02,slow_seconds=3,max_in_a_row=4"
    )
    # Faults are drawn in arrival order from the seed, whichever request arrives: seed 3
    # draws every kind within its first 46 requests, and with small pages the run makes well
    # over a hundred.
    monkeypatch.setenv("SOURCES__SHOP_API__PAGE_SIZE", "100")
    monkeypatch.setenv("SOURCES__SHOP_API__RATE_LIMIT", "1000")
    orders = ("--orders", "2000")
    faulty_args = (*orders, *QUICK, "--rate-limit", "0", "--faults", faults, "--fault-seed", "3")
    with (
        UpstreamProcess(key, *faulty_args) as faulty,
        UpstreamProcess(key, *orders, *QUICK, "--rate-limit", "0") as truth,
    ):
        point_pipeline_at(faulty, monkeypatch)
        summary = pipeline.run("shop_api", "duckdb")
        injected = httpx.get(
            f"{faulty.url}/admin/counters", headers={"Authorization": f"Bearer {key}"}
        ).json()["faults"]
        assert {"error_5xx", "burst_429", "drop", "truncate", "malform"} <= set(injected)
        assert not summary.stopped, summary.lines()
        assert summary.requests["retries"] >= sum(injected.values()) - injected.get("slow", 0)
        assert_raw_matches_upstream(duckdb_warehouse, truth)


def test_persistent_faults_fail_clearly_without_advancing_state(
    duckdb_warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("SOURCES__SHOP_API__MAX_RETRY_SECONDS", "1")
    key = secrets.token_hex(16)
    with UpstreamProcess(key, "--orders", ORDERS, *QUICK, "--faults", "error_5xx=1") as broken:
        point_pipeline_at(broken, monkeypatch)
        code = cli.main(["run", "--source", "shop_api", "--target", "duckdb"])
    assert code == 4
    errors = capsys.readouterr().err
    assert "STOPPED orders: shop_api: GET /v1/orders" in errors and "failed" in errors
    assert "shop_api stopped early" in errors
    assert not duckdb_warehouse.table_exists("raw", "orders")
    assert orders_cursor("duckdb") == EPOCH


def test_a_read_out_of_retries_keeps_what_it_read_and_resumes_at_the_gap(
    duckdb_warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An outage that outlasts the retry budget midway: the pages read before it land, the
    cursor stops at the first change not read, and the next run reads just the rest."""
    monkeypatch.setenv("SOURCES__SHOP_API__MAX_RETRY_SECONDS", "1")
    monkeypatch.setenv("SOURCES__SHOP_API__PAGE_SIZE", "100")
    key = secrets.token_hex(16)
    data = ("--orders", ORDERS, *QUICK, "--rate-limit", "0")
    # Each endpoint's first page comes within the first dozen requests (one per resource,
    # plus the orders' end-of-data probes), so orders' page 1 lands, and 2,000 orders need
    # 20 pages: the outage is certain to cut the orders' read.
    with (
        UpstreamProcess(key, *data, "--faults", "outage_after=12") as failing,
        UpstreamProcess(key, *data) as truth,
    ):
        point_pipeline_at(failing, monkeypatch)
        first = pipeline.run("shop_api", "duckdb")
        assert "orders" in first.stopped, first.lines()
        assert "rows changed from" in first.stopped["orders"]
        (landed,) = duckdb_warehouse.query("select count(*) from raw.orders")[0]
        assert 100 <= landed < int(ORDERS)
        assert orders_cursor("duckdb") > EPOCH

        point_pipeline_at(truth, monkeypatch)
        second = pipeline.run("shop_api", "duckdb")
        assert not second.stopped
        assert_raw_matches_upstream(duckdb_warehouse, truth)
        # Rows from before the gap were not read twice: the second run started at the gap
        # (minus the lag window, an hour).
        assert second.rows["orders"] < int(ORDERS), (second.rows, landed)


def rejects(warehouse: Warehouse, tables: list[str]) -> list[tuple[str, ...]]:
    return [
        row
        for table in tables
        for row in warehouse.query(
            f"select reject_key, status, attempts, reason, record from raw.{table}"
        )
    ]


def test_rejected_rows_are_kept_aside_then_fetched_again_until_they_load(
    duckdb_warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = secrets.token_hex(16)
    clean = ("--orders", ORDERS, *QUICK, "--rate-limit", "0")
    with (
        UpstreamProcess(key, *clean, "--faults", "bad_record=0.5") as faulty,
        UpstreamProcess(key, *clean) as upstream,
    ):
        point_pipeline_at(faulty, monkeypatch)
        first = pipeline.run("shop_api", "duckdb")
        tables = [t for t in first.rows if t.endswith("__rejected")]
        assert tables, "no row was rejected"
        kept = rejects(duckdb_warehouse, tables)
        assert len(kept) == first.requests["rejected_rows"] == first.requests["rejects_pending"]
        assert {status for _, status, *_ in kept} == {"retrying"}
        assert all("updated_at='not-a-timestamp'" in reason for *_, reason, _ in kept)
        assert all('"updated_at":"not-a-timestamp"' in record for *_, record in kept)
        assert "WARNING rejected rows" in "\n".join(first.lines())

        # dbt shows them too: an audit model with every one, and a warning with the count.
        audit = ("audit_rejected_records", "--indirect-selection", "cautious")
        duckdb_warehouse.build("--select", *audit)
        audited = duckdb_warehouse.query(
            "select rejected_key, rejection_status from analytics.audit_rejected_records"
        )
        assert sorted(audited) == sorted((k, status) for k, status, *_ in kept)

        # The next run (the corruption was in transit) fetches each by its key: all load,
        # their rejects are deleted, and raw is exactly the upstream's.
        point_pipeline_at(upstream, monkeypatch)
        second = pipeline.run("shop_api", "duckdb")
        assert second.requests["rows_healed"] == len(kept)
        assert second.requests.get("rejects_pending", 0) == 0
        assert rejects(duckdb_warehouse, tables) == []
        assert_raw_matches_upstream(duckdb_warehouse, upstream)


def test_a_row_that_never_loads_is_given_up_and_stored_once(
    duckdb_warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCES__SHOP_API__REJECT_RETRIES", "1")
    key = secrets.token_hex(16)
    args = ("--orders", "300", *QUICK, "--rate-limit", "0", "--faults", "bad_record=1")
    with UpstreamProcess(key, *args) as upstream:  # every response: its first row corrupted
        point_pipeline_at(upstream, monkeypatch)
        first = pipeline.run("shop_api", "duckdb")
        tables = [t for t in first.rows if t.endswith("__rejected")]
        first_keys = {k for k, *_ in rejects(duckdb_warehouse, tables)}
        second = pipeline.run("shop_api", "duckdb")  # each fetched by key: corrupted again
        pipeline.run("shop_api", "duckdb")
        monkeypatch.setenv("SOURCES__CATALOG_DB__CREDENTIALS", upstream.database_url)
        pipeline.run("catalog_db", "duckdb")
    assert second.requests["rejects_persistent"] >= len(first_keys) > 0
    kept = {k: (status, attempts) for k, status, attempts, *_ in rejects(duckdb_warehouse, tables)}
    assert len(kept) == len(rejects(duckdb_warehouse, tables))  # stored once per key
    assert all(kept[k] == ("persistent", 1) for k in first_keys), kept

    # dbt: no test fails for a row the ingestion kept aside; the audit names each, and warns.
    output = duckdb_warehouse.build()
    assert "assert_no_rejected_records" in output and "WARN" in output


def test_a_new_upstream_field_becomes_a_column(
    duckdb_warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = secrets.token_hex(16)
    with UpstreamProcess(key, "--orders", ORDERS, *QUICK, "--rate-limit", "0") as upstream:
        point_pipeline_at(upstream, monkeypatch)
        pipeline.run("shop_api", "duckdb")
        columns = {
            c
            for (c,) in duckdb_warehouse.query(
                "select column_name from information_schema.columns where table_name = 'orders'"
            )
        }
        assert "channel" not in columns
        upstream.advance(days=5)  # new orders carry `channel` from the third day on
        pipeline.run("shop_api", "duckdb")
    with_channel = duckdb_warehouse.query(
        "select count(*) from raw.orders where channel is not null"
    )[0][0]
    assert with_channel > 0


def test_a_load_the_warehouse_refuses_rolls_the_state_back(
    duckdb_warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dlt keeps the extracted state when a load fails for good; the pipeline takes it back
    from the warehouse, so the rows are read again once the warehouse accepts them. The
    insert-only tables' merges (order items, tweets) committed before the orders' failed:
    their rows, read again, join the load that completes (assert_raw_matches_upstream reads
    completed loads only)."""
    key = secrets.token_hex(16)
    with UpstreamProcess(key, "--orders", ORDERS, *QUICK, "--rate-limit", "0") as upstream:
        point_pipeline_at(upstream, monkeypatch)
        pipeline.run("shop_api", "duckdb")
        cursor = orders_cursor("duckdb")
        upstream.advance(days=1)

        rename = "alter table raw.orders rename column {} to {}"
        database = str(warehouse_settings.duckdb_path())
        with duckdb.connect(database) as conn:  # someone "fixes" the warehouse by hand
            conn.execute(rename.format("subtotal", "subtotal_cents"))
        with pytest.raises(PipelineStepFailed) as failure:
            pipeline.run("shop_api", "duckdb")
        assert failure.value.step == "load"
        assert orders_cursor("duckdb") == cursor
        assert not pipeline.make_pipeline("shop_api", "duckdb").has_pending_data

        with duckdb.connect(database) as conn:
            conn.execute(rename.format("subtotal_cents", "subtotal"))
        pipeline.run("shop_api", "duckdb")
        assert orders_cursor("duckdb") > cursor
        assert_raw_matches_upstream(duckdb_warehouse, upstream)


@contextmanager
def a_run_stopped_after_extracting(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[UpstreamProcess, dlt.Pipeline]]:
    """An upstream loaded once, then a day on, a run that extracted and stopped there."""
    key = secrets.token_hex(16)
    with UpstreamProcess(key, "--orders", ORDERS, *QUICK, "--rate-limit", "0") as upstream:
        point_pipeline_at(upstream, monkeypatch)
        pipeline.run("shop_api", "duckdb")
        upstream.advance(days=1)
        killed = pipeline.make_pipeline("shop_api", "duckdb")
        killed.extract(pipeline.make_source("shop_api"))
        yield upstream, killed


def test_a_run_after_a_crash_finishes_the_leftover_and_extracts_anew(
    duckdb_warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run killed after extracting leaves its package and its state behind: the next run
    loads that package, then extracts what changed since, in one go. (Killed after
    normalizing: test_orchestration, under Dagster.)"""
    with a_run_stopped_after_extracting(monkeypatch) as (upstream, killed):
        assert killed.has_pending_data
        upstream.advance(days=1)  # and the upstream moved on meanwhile

        summary = pipeline.run("shop_api", "duckdb")
        assert summary.leftover_loads == 1
        assert "finished 1 load package a stopped run left behind" in "\n".join(summary.lines())
        assert summary.totals()["new"] > 0  # the second day's orders, extracted anew
        assert not pipeline.make_pipeline("shop_api", "duckdb").has_pending_data
        assert_raw_matches_upstream(duckdb_warehouse, upstream)


def test_a_run_killed_inside_the_normalize_commit_lands_that_package_once(
    duckdb_warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed between dlt's two commit steps (the normalized package renamed into place, the
    extracted one not yet deleted), a run leaves the package both normalized and extracted:
    the next run loads it once and goes on, where dlt alone failed on every run after."""
    with a_run_stopped_after_extracting(monkeypatch) as (upstream, killed):
        (load_id,) = killed.list_extracted_load_packages()
        extracted = Path(killed.working_dir) / "normalize" / "extracted" / load_id
        kept = Path(killed.working_dir) / "kept-extracted"
        shutil.copytree(extracted, kept)
        killed.normalize()
        shutil.copytree(kept, extracted)  # the delete that the kill prevented
        assert killed.list_normalized_load_packages() == [load_id]
        assert killed.list_extracted_load_packages() == [load_id]

        summary = pipeline.run("shop_api", "duckdb")
        assert summary.leftover_loads == 1
        assert not pipeline.make_pipeline("shop_api", "duckdb").has_pending_data
        assert_raw_matches_upstream(duckdb_warehouse, upstream)
        loads = duckdb_warehouse.query(
            f"select count(*) from raw._dlt_loads where load_id = '{load_id}'"
        )
        assert loads == [(1,)]


def test_local_state_keeps_a_bounded_history_of_load_packages(
    duckdb_warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "KEEP_COMPLETED_PACKAGES", 2)
    key = secrets.token_hex(16)
    with UpstreamProcess(key, "--orders", ORDERS, *QUICK, "--rate-limit", "0") as upstream:
        point_pipeline_at(upstream, monkeypatch)
        for _ in range(4):
            pipeline.run("shop_api", "duckdb")
            upstream.advance(days=1)
        kept = pipeline.make_pipeline("shop_api", "duckdb").list_completed_load_packages()
        loaded = duckdb_warehouse.query("select load_id from raw._dlt_loads order by load_id")
        assert sorted(kept) == [load_id for (load_id,) in loaded[-2:]]
        assert len(loaded) == 4


def test_a_binding_rate_limit_spends_the_fewest_requests(
    duckdb_warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 10 requests/s and 10 ms per answer one request at a time keeps the limit busy:
    the cursor endpoints are followed page by page, no slices, no probes, no partial pages
    but the last, and no 429."""
    monkeypatch.setenv("SOURCES__SHOP_API__PAGE_SIZE", "100")
    monkeypatch.setenv("SOURCES__SHOP_API__RATE_LIMIT", "10")
    key = secrets.token_hex(16)
    limited = ("--latency-ms", "10", "--jitter-ms", "0", "--rate-limit", "10")
    with UpstreamProcess(key, "--orders", ORDERS, *limited) as upstream:
        point_pipeline_at(upstream, monkeypatch)
        summary = pipeline.run("shop_api", "duckdb")
        counters = httpx.get(
            f"{upstream.url}/admin/counters", headers={"Authorization": f"Bearer {key}"}
        ).json()
    assert counters["rate_limited_429"] == 0
    for endpoint in ("orders", "tweets"):
        rows = summary.rows[endpoint]
        assert counters["requests_by_endpoint"][f"/v1/{endpoint}"] == -(-rows // 100), endpoint
