"""Extraction against a misbehaving upstream: exact data, or a clear failure and no progress."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from ingestion import pipeline
from ingestion.errors import UpstreamError
from tests.support import Warehouse
from tests.test_pipeline_end_to_end import assert_raw_matches_upstream, exception_chain
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
    faults = (
        "error_5xx=0.08,burst_429=0.03,burst_length=4,drop=0.04,truncate=0.04,"
        "malform=0.04,slow=0.01,slow_seconds=3"
    )
    faulty_args = (
        "--orders",
        ORDERS,
        *QUICK,
        "--rate-limit",
        "50",
        "--burst",
        "10",
        "--faults",
        faults,
        "--fault-seed",
        "3",
    )
    with (
        UpstreamProcess(key, *faulty_args) as faulty,
        UpstreamProcess(key, "--orders", ORDERS, *QUICK, "--rate-limit", "0") as truth,
    ):
        point_pipeline_at(faulty, monkeypatch)
        summary = pipeline.run("shop_api", "duckdb")
        assert summary.requests["retries"] > 0
        assert summary.requests["rate_limited_429"] > 0
        assert summary.requests["bad_bodies"] > 0
        assert_raw_matches_upstream(duckdb_warehouse, truth)


def test_persistent_faults_fail_clearly_without_advancing_state(
    duckdb_warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCES__SHOP_API__MAX_RETRY_SECONDS", "1")
    key = secrets.token_hex(16)
    with UpstreamProcess(key, "--orders", ORDERS, *QUICK, "--faults", "error_5xx=1") as broken:
        point_pipeline_at(broken, monkeypatch)
        with pytest.raises(PipelineStepFailed) as failure:
            pipeline.run("shop_api", "duckdb")
    errors = [e for e in exception_chain(failure.value) if isinstance(e, UpstreamError)]
    assert errors, failure.value
    assert "GET /v1/" in str(errors[0]) and "failed" in str(errors[0])
    assert not duckdb_warehouse.table_exists("raw", "orders")
    state = pipeline.make_pipeline("shop_api", "duckdb").state
    assert "resources" not in state.get("sources", {}).get("shop_api", {})
