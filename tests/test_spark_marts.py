"""The same dbt project on the Spark cluster, end to end: the upstream lands in the lake
(`make ingest TARGET=spark`), `dbt build` runs on the cluster, and the marts reconcile with the
upstream per order, per store-day and per customer; after rounds of changes (late items,
status changes, returns, deleted customers), and after an ingest and a build killed midway and
run again, the incremental marts equal, column by column, the marts a first build on the
DuckDB target makes from the same upstream: a build from nothing, whose own incremental rounds
equal a `--full-refresh` in test_warehouse_models. (Not among `make test-dates`'s tests: the
models' wall-clock logic, microbatch's batches, is dbt's on every adapter and is run on other
days on DuckDB.)"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ingestion import warehouse as warehouse_settings
from tests.spark_support import SparkCluster, lake_settings, scanned_locations
from tests.support import (
    DBT,
    FAST_UPSTREAM,
    REPO_ROOT,
    Warehouse,
    assert_orders_mart_matches_upstream,
    dbt_worker_environment,
    history_start,
)
from tests.test_warehouse_models import (
    MART_KEYS,
    RATES,
    assert_customers_match_upstream,
    assert_daily_revenue_matches_upstream,
)
from upstream.process import UpstreamProcess

ORDERS = 1_000
HISTORY_DAYS = 30
DAYS_PER_ROUND = 3
# When a mart row was loaded differs between two warehouses loaded at other moments.
LOAD_TIMES = {"loaded_at"}


@dataclass
class SparkWarehouse(Warehouse):
    """The Spark target: SQL through the cluster's Thrift server, dates as ISO text."""

    cluster: SparkCluster = field(default=None)  # type: ignore[assignment]

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        # The DuckDB/PostgreSQL reconciliation reads revenue_date cast to varchar.
        return self.cluster.query(sql.replace("as varchar)", "as string)"))


@pytest.fixture
def upstream() -> Iterator[UpstreamProcess]:
    start = history_start(HISTORY_DAYS)
    args = ("--orders", str(ORDERS), "--start", start, "--history-days", str(HISTORY_DAYS), *RATES)
    with UpstreamProcess(secrets.token_hex(16), *args, *FAST_UPSTREAM) as process:
        yield process


def revenue_vars(upstream_start: str) -> str:
    """`revenue_begin` at the history's first month: the microbatch model's batches then
    cover the data, not two years of empty months (README: "a data set of its own")."""
    return json.dumps({"revenue_begin": upstream_start[:8] + "01"})


def ingest_command(target: str) -> list[str]:
    return [str(REPO_ROOT / ".venv/bin/python"), "-m", "ingestion", "run", "--target", target]


def run(command: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, (
        f"{' '.join(command)}:\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}"
    )
    return result.stdout


def kill_when(command: list[str], env: dict[str, str], ready: Any) -> tuple[bool, str]:
    """Start `command`, SIGKILL it (and its children) as soon as `ready(line)` holds for a
    line it printed; whether it was still running then, and what it printed."""
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    printed = []
    for line in process.stdout:
        printed.append(line)
        if ready(line):
            break
    running = process.poll() is None
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    process.stdout.close()
    return running, "".join(printed[-30:])


def kill_mid_load(command: list[str], env: dict[str, str], dataset: Path) -> bool:
    """Start an ingest and SIGKILL it when its first new file lands in `dataset` (the load
    step: some of the load's files in the lake, its load record not yet)."""
    before = set(dataset.rglob("*.parquet"))
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    while process.poll() is None and not set(dataset.rglob("*.parquet")) - before:
        time.sleep(0.001)
    running = process.poll() is None
    if running:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    return running


def comparable(value: Any) -> Any:
    """One spelling per value across the Thrift server and DuckDB: dates and times as UTC
    text, numbers to the micro-unit."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and len(value) >= 19 and value[10] == " " and value[4] == "-":
        return datetime.fromisoformat(value).isoformat(sep=" ")
    if isinstance(value, (Decimal, float)):
        return round(Decimal(value), 6)
    return value


def mart_rows(columns: list[str], rows: list[tuple[Any, ...]]) -> set[tuple[Any, ...]]:
    """Rows as sets of (column, value) pairs by name: Spark writes a partition column last."""
    return {
        tuple(
            sorted(
                (name, comparable(v))
                for name, v in zip(columns, row, strict=True)
                if name not in LOAD_TIMES
            )
        )
        for row in rows
    }


def spark_marts(cluster: SparkCluster) -> dict[str, set[tuple[Any, ...]]]:
    marts = {}
    for mart in MART_KEYS:
        described = [name for name, *_ in cluster.query(f"describe analytics.{mart}")]
        # The columns, then (partitioned tables) a blank line and "# Partition Information".
        columns = []
        for name in described:
            if not name or name.startswith("#"):
                break
            columns.append(name)
        marts[mart] = mart_rows(
            columns, cluster.query(f"select {', '.join(columns)} from analytics.{mart}")
        )
    return marts


def duckdb_marts(path: Path) -> dict[str, set[tuple[Any, ...]]]:
    marts = {}
    with duckdb.connect(str(path), read_only=True) as connection:
        for mart in MART_KEYS:
            result = connection.execute(f"select * from analytics.{mart}")
            columns = [column[0] for column in result.description]
            marts[mart] = mart_rows(columns, result.fetchall())
    return marts


def test_spark_marts_reconcile_and_equal_a_full_build_on_duckdb(
    upstream: UpstreamProcess,
    spark_cluster: SparkCluster,
    tmp_path: Path,
) -> None:
    lake = tmp_path / "lake"
    env = {
        **os.environ,
        **lake_settings(upstream, tmp_path, spark_cluster),
        "DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
    }
    on = {
        target: dbt_worker_environment(
            {
                **env,
                "DBT_TARGET": target,
                "DBT_TARGET_PATH": warehouse_settings.dbt_target_path(target),
            }
        )
        for target in ("spark", "duckdb")
    }
    dbt_vars = ["--vars", revenue_vars(history_start(HISTORY_DAYS))]
    build, dbt_run = [DBT, "build", *dbt_vars], [DBT, "run", *dbt_vars]
    spark = SparkWarehouse("spark", cluster=spark_cluster)

    run(ingest_command("spark"), on["spark"])
    run(build, on["spark"])
    assert_orders_mart_matches_upstream(spark, upstream)
    assert_daily_revenue_matches_upstream(spark, upstream)
    assert_customers_match_upstream(spark, upstream)

    # Round 1: the ingest into the lake killed while its files land, then run again.
    happened: dict[str, int] = defaultdict(int, upstream.advance(days=DAYS_PER_ROUND))
    killed = kill_mid_load(ingest_command("spark"), on["spark"], lake / "raw")
    assert killed, "the ingest ended before its first file landed"
    run(ingest_command("spark"), on["spark"])

    # Round 2, then one incremental build of both rounds' loads (a Spark build is a minute of
    # this test): the Spark run killed while it rebuilds the orders mart, then run again, so
    # the second run builds on top of a partly rewritten mart.
    for change, count in upstream.advance(days=DAYS_PER_ROUND).items():
        happened[change] += count
    run(ingest_command("spark"), on["spark"])
    unbuffered = {**on["spark"], "PYTHONUNBUFFERED": "1"}  # each line as dbt prints it
    started, printed = kill_when(
        dbt_run, unbuffered, lambda line: "model analytics.orders " in line
    )
    assert started, f"the Spark run ended before the orders mart:\n{printed}"
    run(dbt_run, on["spark"])
    for change in ("completed_orders", "returned_orders", "late_items", "deleted_customers"):
        assert happened[change] > 0, f"no {change} in {2 * DAYS_PER_ROUND} days: {happened}"

    assert_orders_mart_matches_upstream(spark, upstream)
    assert_daily_revenue_matches_upstream(spark, upstream)
    assert_customers_match_upstream(spark, upstream)
    incremental = spark_marts(spark_cluster)
    # DuckDB's marts of the same upstream, built from nothing: a full build (a Spark one is
    # a minute of this test; Spark's first build above reconciles with the upstream).
    run(ingest_command("duckdb"), on["duckdb"])
    run(dbt_run, on["duckdb"])
    duckdb_built = duckdb_marts(tmp_path / "warehouse.duckdb")
    for mart in MART_KEYS:
        assert incremental[mart] == duckdb_built[mart], f"{mart}: Spark != DuckDB"

    # A one-day query on the orders mart reads that day's partition only, by Spark's plan.
    ((day,),) = spark_cluster.query("select cast(max(order_date) as string) from analytics.orders")
    pruned = scanned_locations(spark_cluster, "analytics.orders", f"where order_date = '{day}'")
    assert re.fullmatch(
        rf"InMemoryFileIndex\(1 paths\)\[file:/\S+/orders/order_date={day}\]", pruned
    )
    whole = scanned_locations(spark_cluster, "analytics.orders", "")
    assert re.fullmatch(r"CatalogFileIndex\(1 paths\)\[file:/\S+/orders\]", whole), whole
