"""The dbt layer: incremental builds vs full rebuilds, and what partitioning saves a query."""

from __future__ import annotations

import atexit
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import duckdb

from bench.plans import duckdb_row_groups
from bench.runner import BenchConfig, Result, alternate, compare, median, scenario
from bench.scenarios.ingestion import environment
from ingestion import pipeline as ingestion_pipeline
from upstream.process import UpstreamProcess

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT = str(Path(sys.executable).with_name("dbt"))
UNTHROTTLED = ("--latency-ms", "0", "--jitter-ms", "0", "--rate-limit", "0")
HISTORY_DAYS = 90


def warehouse_orders(config: BenchConfig) -> int:
    """One size for the warehouse scenarios, so they share one load."""
    return min(config.scale, 30_000 if config.quick else 1_000_000)


def dbt_env(database: Path) -> dict[str, str]:
    return {**os.environ, "DBT_TARGET": "duckdb", "DUCKDB_PATH": str(database)}


def dbt_run(database: Path, *args: str) -> float:
    """Seconds dbt spent running models (from run_results.json; startup and parsing aside)."""
    target_path = database.parent / "dbt-target"
    result = subprocess.run(
        [DBT, "run", "--quiet", "--target-path", str(target_path), *args],
        cwd=REPO_ROOT,
        env=dbt_env(database),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"dbt run {' '.join(args)} failed:\n{result.stdout[-3000:]}")
    return json.loads((target_path / "run_results.json").read_text())["elapsed_time"]


def ingest_both() -> None:
    for source in ingestion_pipeline.SOURCES:
        ingestion_pipeline.run(source, "duckdb")


@cache
def loaded_warehouse(orders: int) -> tuple[Path, Path, dict[str, int]]:
    """A DuckDB warehouse built from `orders` orders, and a copy of it one upstream day
    later, ingested but not yet transformed: (built, changed, what changed)."""
    scratch = Path(tempfile.mkdtemp(prefix="bench-warehouse-"))
    atexit.register(shutil.rmtree, scratch, True)
    database = scratch / "warehouse.duckdb"
    # The history ends three days ago: the day `advance` adds is in the past, as dbt's
    # microbatch models need.
    start = datetime.now(UTC).date() - timedelta(days=HISTORY_DAYS + 3)
    args = ("--orders", str(orders), "--start", start.isoformat(), *UNTHROTTLED)
    with UpstreamProcess(secrets.token_hex(16), *args) as upstream:
        env = {
            "DBT_TARGET": "duckdb",
            "DUCKDB_PATH": str(database),
            "PIPELINES_DIR": str(scratch / "pipelines"),
            "UPSTREAM_API_KEY": upstream.api_key,
            "SOURCES__SHOP_API__BASE_URL": upstream.url,
            "SOURCES__SHOP_API__RATE_LIMIT": "1000",
            "SOURCES__CATALOG_DB__CREDENTIALS": upstream.database_url,
        }
        with environment(**env):
            ingest_both()
            dbt_run(database)
            built = scratch / "built.duckdb"
            shutil.copy(database, built)
            changes = upstream.advance(days=1)
            ingest_both()
    changed = scratch / "changed.duckdb"
    shutil.move(database, changed)
    return built, changed, changes


@scenario("transforms-incremental")
def transforms_incremental(config: BenchConfig) -> Result:
    orders = warehouse_orders(config)
    _, changed, changes = loaded_warehouse(orders)
    scratch = changed.parent / "transforms"
    scratch.mkdir(exist_ok=True)

    def timed(*args: str) -> float:
        database = scratch / "warehouse.duckdb"
        shutil.copy(changed, database)
        return dbt_run(database, *args)

    base, opt = alternate(config.repetitions, lambda: timed("--full-refresh"), lambda: timed())
    touched = changes["new_orders"] + changes["completed_orders"] + changes["returned_orders"]
    return compare(
        "transforms-incremental",
        "Transforms: dbt full refresh vs incremental",
        f"`dbt run` of every model on DuckDB after one upstream day ({touched:,} orders new or "
        f"changed, {touched / orders:.1%} of {orders:,})",
        ("--full-refresh", "incremental"),
        (base, opt),
        "s",
        ">= 2x",
        lower_is_better=True,
        passed=lambda r: r >= 2,
    )


@scenario("partition-pruning")
def partition_pruning(config: BenchConfig) -> Result:
    orders = warehouse_orders(config)
    built, _, _ = loaded_warehouse(orders)
    scratch = built.parent / "pruning"
    scratch.mkdir(exist_ok=True)
    database = scratch / "warehouse.duckdb"
    shutil.copy(built, database)
    with duckdb.connect(str(database)) as conn:
        # What dbt-duckdb writes when it ignores `partition_by`: rows in whatever order the
        # query yields; here key order, the order a merge-maintained table drifts to.
        conn.execute(
            "create table analytics.orders_unclustered as "
            "select * from analytics.orders order by order_id"
        )
        (day,) = conn.execute(
            "select cast(order_date as varchar) from analytics.orders "
            f"order by order_date limit 1 offset {orders // 2}"
        ).fetchone()
    query = "select count(*), sum(order_total) from analytics.{} where order_date = date '{}'"
    samples: dict[str, list[float]] = {"orders_unclustered": [], "orders": []}
    seconds: dict[str, list[float]] = {"orders_unclustered": [], "orders": []}
    for _ in range(config.repetitions):
        for table in samples:
            started = time.perf_counter()
            scan = duckdb_row_groups(database, query.format(table, day), scratch / "p.json")
            seconds[table].append(time.perf_counter() - started)
            samples[table].append(scan.scanned)
    total = scan.total
    return compare(
        "partition-pruning",
        "Partition pruning: one-day query on the orders mart (DuckDB)",
        f"row groups read by `where order_date = <one day>` on {orders:,} orders "
        f"({total} row groups): as dbt-duckdb writes it vs written in partition_by/cluster_by "
        "order",
        ("unclustered", "clustered"),
        (samples["orders_unclustered"], samples["orders"]),
        "row groups",
        f">= {max(2, total // 2)}x fewer row groups",
        lower_is_better=True,
        passed=lambda r: r >= max(2, total // 2),
        notes=(
            f"query time {median(seconds['orders_unclustered']) * 1000:.0f} ms unclustered vs "
            f"{median(seconds['orders']) * 1000:.0f} ms clustered (with profiling on)"
        ),
    )
