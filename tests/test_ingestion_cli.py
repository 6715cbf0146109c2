"""`python -m ingestion` as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dlt
import duckdb

from ingestion.runlock import run_lock
from tests.support import REPO_ROOT
from upstream.process import UpstreamProcess


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ingestion", "run", "--target", "duckdb", *args],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )


def cli_env(upstream: UpstreamProcess, tmp_path: Path, api_key: str) -> dict[str, str]:
    return {
        "DUCKDB_PATH": str(tmp_path / "w.duckdb"),
        "PIPELINES_DIR": str(tmp_path / "pipelines"),
        "SOURCES__SHOP_API__BASE_URL": upstream.url,
        "SOURCES__CATALOG_DB__CREDENTIALS": upstream.database_url,
        "UPSTREAM_API_KEY": api_key,
    }


def test_wrong_key_exits_with_a_one_line_reason_and_no_secret(
    upstream: UpstreamProcess, tmp_path: Path
) -> None:
    env = cli_env(upstream, tmp_path, "wrong-secret-value")
    result = run_cli(env)
    assert result.returncode == 1
    assert "GET /v1/" in result.stderr and "401" in result.stderr
    assert "wrong-secret-value" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr

    result = run_cli({**env, "UPSTREAM_API_KEY": upstream.api_key})
    assert result.returncode == 0, result.stderr
    assert "orders 3000" in result.stdout
    assert upstream.api_key not in result.stdout + result.stderr


def test_a_second_run_of_the_same_pipeline_waits_then_refuses(
    upstream: UpstreamProcess, tmp_path: Path
) -> None:
    env = cli_env(upstream, tmp_path, upstream.api_key)
    with run_lock(tmp_path / "pipelines" / "shop_api_duckdb.lock", wait_seconds=0):
        result = run_cli(env, "--wait", "1")
    assert result.returncode == 3
    assert "waiting for the run in progress" in result.stderr
    assert "another run of this pipeline is in progress" in result.stderr
    # The catalog database, a pipeline of its own, loaded; the shop API's raw tables did not.
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as conn:
        schemas = {
            row[0] for row in conn.execute("select schema_name from duckdb_schemas()").fetchall()
        }
    assert "raw_catalog" in schemas and "raw" not in schemas
    assert run_cli(env).returncode == 0  # the lock is free again


def test_both_sources_run_at_once(upstream: UpstreamProcess, tmp_path: Path) -> None:
    result = run_cli(cli_env(upstream, tmp_path, upstream.api_key))
    assert result.returncode == 0, result.stderr
    spans = []
    for name in ("shop_api_duckdb", "catalog_db_duckdb"):
        trace = dlt.attach(name, pipelines_dir=str(tmp_path / "pipelines")).last_trace
        spans.append((trace.started_at, trace.finished_at))
    (shop_start, shop_end), (catalog_start, catalog_end) = spans
    assert shop_start < catalog_end and catalog_start < shop_end, spans
