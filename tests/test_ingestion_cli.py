"""`python -m ingestion` as a user runs it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
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
    assert "the next run starts from the same state" in result.stderr
    # A window's run leaves the state alone: the next plain run would not read the window.
    window = run_cli(env, "--source", "shop_api", "--start", "2026-01-01")
    assert window.returncode == 1
    assert "run the same --start/--end again" in window.stderr

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


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def assert_one_line_error(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    problem = next(line for line in result.stderr.splitlines() if all(e in line for e in expected))
    assert problem.startswith(("ingestion: ", "upstream: ")), problem


def test_missing_pieces_fail_fast_in_one_line(upstream: UpstreamProcess, tmp_path: Path) -> None:
    """Upstream down, catalog database missing or down, PostgreSQL down: each a line that
    says what to start, a non-zero exit, and the sources that did work still load."""
    env = cli_env(upstream, tmp_path, upstream.api_key)
    down = f"http://127.0.0.1:{closed_port()}"
    started = time.monotonic()
    result = run_cli({**env, "SOURCES__SHOP_API__BASE_URL": down})
    assert time.monotonic() - started < 30
    assert_one_line_error(result, "shop_api", down, "make upstream")
    assert "catalog_db -> duckdb: 8318 new or changed" in result.stdout  # the other source loaded
    assert "shop_api failed, catalog_db ok" in result.stderr

    no_catalog = {k: v for k, v in env.items() if k != "SOURCES__CATALOG_DB__CREDENTIALS"}
    result = run_cli(
        {**no_catalog, "SOURCES__CATALOG_DB__SQLITE_PATH": str(tmp_path / "missing.sqlite")},
        "--source",
        "catalog_db",
    )
    assert_one_line_error(result, "no catalog database at", "make upstream")
    catalog_down = f"postgresql://jaffle:s3cret-pw@127.0.0.1:{closed_port()}/catalog"
    result = run_cli({**env, "SOURCES__CATALOG_DB__CREDENTIALS": catalog_down})
    assert_one_line_error(result, "cannot reach the catalog database", "Connection refused")
    assert "s3cret-pw" not in result.stdout + result.stderr

    pg_env = {**env, "POSTGRES_PORT": str(closed_port()), "PIPELINES_DIR": str(tmp_path / "pg")}
    result = run_cli(pg_env, "--target", "postgres")
    assert_one_line_error(result, "cannot reach the PostgreSQL warehouse", "POSTGRES_PORT")

    result = subprocess.run(
        [sys.executable, "-m", "upstream", "advance", "--url", down],
        cwd=REPO_ROOT,
        env={**os.environ, "UPSTREAM_API_KEY": upstream.api_key},
        capture_output=True,
        text=True,
    )
    assert_one_line_error(result, "nothing answers at", "make upstream")


def test_bad_settings_and_inputs_fail_at_start_in_one_line(tmp_path: Path) -> None:
    """Checked before anything is read: nothing needs to be running."""
    env = {
        "DUCKDB_PATH": str(tmp_path / "w.duckdb"),
        "PIPELINES_DIR": str(tmp_path / "pipelines"),
        "SOURCES__SHOP_API__BASE_URL": f"http://127.0.0.1:{closed_port()}",
        "UPSTREAM_API_KEY": "any",
    }
    bad_settings = [
        ({"SOURCES__SHOP_API__RATE_LIMIT": "0"}, "shop_api", "rate_limit must be more than 0"),
        ({"SOURCES__SHOP_API__MAX_CONCURRENCY": "0"}, "shop_api", "max_concurrency"),
        ({"SOURCES__CATALOG_DB__CREDENTIALS": "not-a-url"}, "catalog_db", "is not a database URL"),
        ({"DUCKDB_PATH": "/proc/no-such-dir/w.duckdb"}, "shop_api", "DUCKDB_PATH: cannot create"),
    ]
    for setting, source, expected in bad_settings:
        result = run_cli({**env, **setting}, "--source", source)
        assert_one_line_error(result, expected)
        assert result.returncode == 2
    result = run_cli(env, "--backfill-days", "-1")
    assert (
        result.returncode == 2
        and "--backfill-days: -1 is not a number of 0 or more" in result.stderr
    )

    for args, expected in [
        (("serve", "--rate-limit", "-5"), "--rate-limit: -5 is not at least 0"),
        (
            ("generate", "--orders", "0", "--out", str(tmp_path / "g")),
            "--orders: 0 is not at least 1",
        ),
    ]:
        result = subprocess.run(
            [sys.executable, "-m", "upstream", *args], cwd=REPO_ROOT, capture_output=True, text=True
        )
        assert result.returncode == 2 and expected in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
