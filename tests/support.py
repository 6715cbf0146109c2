"""Helpers shared by the tests: query a warehouse, run dbt, read the upstream's truth."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import httpx
import psycopg2

from ingestion import warehouse as warehouse_settings
from upstream.process import UpstreamProcess

REPO_ROOT = Path(__file__).resolve().parents[1]
DBT = str(Path(sys.executable).with_name("dbt"))


@dataclass
class Warehouse:
    """The warehouse a test loads into, configured through the environment like the CLI."""

    target: str

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        if self.target == "duckdb":
            with duckdb.connect(str(warehouse_settings.duckdb_path()), read_only=True) as conn:
                return conn.execute(sql).fetchall()
        with psycopg2.connect(warehouse_settings.postgres_url()) as conn, conn.cursor() as cur:
            cur.execute(sql)
            rows = cur.fetchall()
        conn.close()
        return rows

    def query_write(self, sql: str) -> None:
        """A statement that changes the warehouse (committed)."""
        if self.target == "duckdb":
            with duckdb.connect(str(warehouse_settings.duckdb_path())) as conn:
                conn.execute(sql)
            return
        with psycopg2.connect(warehouse_settings.postgres_url()) as conn, conn.cursor() as cur:
            cur.execute(sql)
        conn.close()

    def table_exists(self, schema: str, table: str) -> bool:
        rows = self.query(
            "select count(*) from information_schema.tables "
            f"where table_schema = '{schema}' and table_name = '{table}'"
        )
        return rows[0][0] > 0

    def dbt(self, *args: str, target: str | None = None, check: bool = True) -> str:
        """Run a dbt command on this target (or `target`, e.g. `lake` over this DuckDB file)
        from the repository root; its output. Fails on any error unless `check` is off."""
        # A separate process, as a user runs it: dbt-duckdb keeps its database open in-process.
        # The target as the Makefile gives it, which keeps partial parsing.
        target = target or self.target
        env = dbt_worker_environment(warehouse_settings.dbt_environment(target, dict(os.environ)))
        result = subprocess.run(
            [DBT, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True
        )
        assert result.returncode == 0 or not check, (
            f"dbt {' '.join(args)} failed on {target}:\n{result.stdout[-4000:]}"
        )
        return result.stdout

    def build(self, *args: str, check: bool = True) -> str:
        """`dbt build` as `make build` runs it after each ingest: models and data tests, not
        the unit tests, whose fixed inputs give the same answer whatever the rounds loaded.
        (test_warehouse_models's first build runs them, on each target.)"""
        return self.dbt("build", "--exclude-resource-type", "unit_test", *args, check=check)


def make(goal: str, target: str) -> str:
    """`make <goal> TARGET=<target>` as a user runs it, in the test's environment; its output.
    Fails when it fails."""
    result = subprocess.run(
        ["make", goal, f"TARGET={target}"],
        cwd=REPO_ROOT,
        env=os.environ,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return result.stdout


def add_completed_load(warehouse: Warehouse) -> str:
    """A load id after every shop load, recorded as completed (as dlt does at the end of a
    load); raw rows stamped with it read as loaded then."""
    (latest,) = warehouse.query("select max(load_id) from raw._dlt_loads where status = 0")[0]
    load = f"{float(latest) + 60:.6f}"
    warehouse.query_write(
        "insert into raw._dlt_loads (load_id, schema_name, status, inserted_at, "
        f"schema_version_hash) select '{load}', schema_name, status, inserted_at, "
        f"schema_version_hash from raw._dlt_loads where load_id = '{latest}'"
    )
    return load


def dbt_worker_environment(env: dict[str, str]) -> dict[str, str]:
    """Under `make test`'s parallel workers (pytest-xdist), each worker's dbt keeps its
    artifacts, partial parse and log apart: two dbt processes writing one `manifest.json`
    at once leave it corrupt. Outside a worker, `env` as it is."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:
        return env
    return env | {
        "DBT_TARGET_PATH": f"{env['DBT_TARGET_PATH']}/{worker}",
        "DBT_LOG_PATH": f"logs/{worker}",
    }


# Tests want the upstream's behaviour, not its simulated slowness.
FAST_UPSTREAM = ("--latency-ms", "0", "--jitter-ms", "0", "--rate-limit", "0")

# The test shop's 90-day history ends a week ago, so the days a test `advance`s stay in the
# past, where dbt's microbatch models (whose batches follow the wall clock) build them.
ADVANCE_ROOM_DAYS = 7


def history_start(history_days: int = 90) -> str:
    today = datetime.now(UTC).date()
    return (today - timedelta(days=history_days + ADVANCE_ROOM_DAYS)).isoformat()


def read_all(upstream: UpstreamProcess, endpoint: str, **filters: Any) -> dict[str, dict[str, Any]]:
    """Every row an endpoint serves now, by key, read page by page with a plain HTTP client."""
    rows: dict[str, dict[str, Any]] = {}
    headers = {"Authorization": f"Bearer {upstream.api_key}"}
    params: dict[str, Any] = {"limit": 1000, **filters}
    key = "sku" if endpoint == "products" else "id"
    while True:
        response = httpx.get(f"{upstream.url}/v1/{endpoint}", params=params, headers=headers)
        response.raise_for_status()
        page = response.json()
        for row in page["data"]:
            assert row[key] not in rows, f"{endpoint}: {row[key]} served twice"
            rows[row[key]] = row
        if "next_cursor" in page:
            if not page["has_more"]:
                return rows
            params["cursor"] = page["next_cursor"]
        else:
            if page["page"] >= page["total_pages"]:
                assert len(rows) == page["total"]
                return rows
            params["page"] = page["page"] + 1


def upstream_orders(upstream: UpstreamProcess) -> dict[str, dict[str, Any]]:
    return read_all(upstream, "orders")


def dollars(cents: int) -> Decimal:
    return Decimal(cents) / 100


def assert_orders_mart_matches_upstream(warehouse: Warehouse, upstream: UpstreamProcess) -> None:
    truth = upstream_orders(upstream)
    count, total = warehouse.query("select count(*), sum(order_total) from analytics.orders")[0]
    assert count == len(truth)
    assert total == dollars(sum(row["order_total"] for row in truth.values()))
    mart = {
        order_id: (status, order_total)
        for order_id, status, order_total in warehouse.query(
            "select order_id, order_status, order_total from analytics.orders"
        )
    }
    expected = {
        order_id: (row["status"], dollars(row["order_total"])) for order_id, row in truth.items()
    }
    assert mart == expected
