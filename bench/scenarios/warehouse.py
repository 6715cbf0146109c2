"""The dbt layer: incremental builds vs full rebuilds, on a warehouse loaded once."""

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

from bench.runner import BenchConfig, Result, alternate, compare, scenario
from bench.scenarios.ingestion import environment
from ingestion import pipeline as ingestion_pipeline
from upstream.process import UpstreamProcess

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT = str(Path(sys.executable).with_name("dbt"))
UNTHROTTLED = ("--latency-ms", "0", "--jitter-ms", "0", "--rate-limit", "0")
HISTORY_DAYS = 90


def warehouse_orders(config: BenchConfig) -> int:
    """One size for the warehouse scenarios, so they share one load."""
    return min(config.scale, 5_000 if config.quick else 1_000_000)


def dbt_run(database: Path, *args: str, target: str = "duckdb") -> float:
    """Seconds dbt spent running models (from run_results.json; startup and parsing aside),
    on the DuckDB file `database` (`target` duckdb or lake) or on PostgreSQL as the
    environment configures it (dbt's files go beside `database` either way)."""
    target_path = database.parent / "dbt-target"
    result = subprocess.run(
        [DBT, "run", "--quiet", "--target", target, "--target-path", str(target_path), *args],
        cwd=REPO_ROOT,
        env={**os.environ, "DUCKDB_PATH": str(database)},
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"dbt run {' '.join(args)} failed:\n{result.stdout[-3000:]}")
    return json.loads((target_path / "run_results.json").read_text())["elapsed_time"]


def dbt_build(database: Path, *args: str) -> float:
    """Wall seconds of `dbt build` as `make build` runs it (unit tests aside) on the DuckDB file
    `database`: the whole process, dbt starting, reading its parse, running and closing."""
    target_path = database.parent / "dbt-target"
    command = [DBT, "build", "--quiet", "--exclude-resource-type", "unit_test", *args]
    started = time.perf_counter()
    result = subprocess.run(
        command,
        cwd=REPO_ROOT,
        env={**os.environ, "DUCKDB_PATH": str(database), "DBT_TARGET_PATH": str(target_path)},
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"dbt build {' '.join(args)} failed:\n{result.stdout[-3000:]}")
    return seconds


def ingest_both(target: str = "duckdb") -> None:
    for source in ingestion_pipeline.SOURCES:
        ingestion_pipeline.run(source, target)


def history_args(orders: int) -> tuple[str, ...]:
    """The upstream of the warehouse scenarios. Its history ends three days ago: the day
    `advance` adds is in the past, as dbt's microbatch models need."""
    start = datetime.now(UTC).date() - timedelta(days=HISTORY_DAYS + 3)
    return ("--orders", str(orders), "--start", start.isoformat(), *UNTHROTTLED)


def upstream_env(upstream: UpstreamProcess) -> dict[str, str]:
    return {
        "UPSTREAM_API_KEY": upstream.api_key,
        "SOURCES__SHOP_API__BASE_URL": upstream.url,
        "SOURCES__SHOP_API__RATE_LIMIT": "1000",
        "SOURCES__CATALOG_DB__CREDENTIALS": upstream.database_url,
    }


# The scenarios built on `loaded_warehouse` run in one process, so they share its load.
LOADED_WAREHOUSE = "loaded-warehouse"


@cache
def loaded_warehouse(orders: int) -> tuple[Path, Path, dict[str, int]]:
    """A DuckDB warehouse built from `orders` orders, and a copy of it one upstream day
    later, ingested but not yet transformed: (built, changed, what changed). Built as a
    deployment builds it, by `dbt build`: its tests leave the mark that the next build's tests
    start from (macros/tests_since_last_build.sql); without it they read every row."""
    scratch = Path(tempfile.mkdtemp(prefix="bench-warehouse-"))
    atexit.register(shutil.rmtree, scratch, True)
    database = scratch / "warehouse.duckdb"
    with UpstreamProcess(
        secrets.token_hex(16), *history_args(orders), startup_timeout=600
    ) as upstream:
        env = {
            "DBT_TARGET": "duckdb",
            "DUCKDB_PATH": str(database),
            "PIPELINES_DIR": str(scratch / "pipelines"),
            **upstream_env(upstream),
        }
        with environment(**env):
            ingest_both()
            dbt_build(database)
            built = scratch / "built.duckdb"
            shutil.copy(database, built)
            changes = upstream.advance(days=1)
            ingest_both()
    changed = scratch / "changed.duckdb"
    shutil.move(database, changed)
    return built, changed, changes


@cache
def full_refresh_vs_incremental(orders: int, repetitions: int) -> tuple[list[float], list[float]]:
    """Seconds of `dbt run --full-refresh` and of an incremental `dbt run`, each on a copy of
    the warehouse one upstream day after its last build."""
    _, changed, _ = loaded_warehouse(orders)
    scratch = changed.parent / "transforms"
    scratch.mkdir(exist_ok=True)

    def timed(*args: str) -> float:
        database = scratch / "warehouse.duckdb"
        shutil.copy(changed, database)
        return dbt_run(database, *args)

    return alternate(repetitions, lambda: timed("--full-refresh"), lambda: timed())


def transforms_comparison(scenario_id: str, orders: int, config: BenchConfig) -> Result:
    _, _, changes = loaded_warehouse(orders)
    base, opt = full_refresh_vs_incremental(orders, config.repetitions)
    touched = changes["new_orders"] + changes["completed_orders"] + changes["returned_orders"]
    return compare(
        scenario_id,
        f"Transforms: dbt full refresh vs incremental, {orders:,} orders",
        f"`dbt run` of every model on DuckDB after one upstream day ({touched:,} orders new or "
        f"changed, {touched / orders:.1%} of {orders:,})",
        ("--full-refresh", "incremental"),
        (base, opt),
        "s",
        ">= 2x",
        lower_is_better=True,
        passed=lambda r: r >= 2,
    )


@scenario("transforms-incremental", group=LOADED_WAREHOUSE)
def transforms_incremental(config: BenchConfig) -> Result:
    return transforms_comparison("transforms-incremental", warehouse_orders(config), config)


@scenario("transforms-incremental-10m", opt_in="large", group=LOADED_WAREHOUSE)
def transforms_incremental_large(config: BenchConfig) -> Result:
    # Quick mode only checks that it runs: at the smaller scenario's size (and measurement).
    orders = warehouse_orders(config) if config.quick else 10_000_000
    return transforms_comparison("transforms-incremental-10m", orders, config)


@cache
def full_rebuild_vs_build(orders: int, repetitions: int) -> tuple[list[float], list[float]]:
    """Whole-command seconds of `dbt build --full-refresh` and of an incremental `dbt build`,
    each on a copy of the warehouse one upstream day after its last build. One parse first,
    as a deployment's builds find it: then each build reads dbt's partial parse."""
    _, changed, _ = loaded_warehouse(orders)
    scratch = changed.parent / "builds"
    scratch.mkdir(exist_ok=True)
    database = scratch / "warehouse.duckdb"
    shutil.copy(changed, database)
    dbt_build(database, "--select", "stg_shop__loads")  # parses, and builds one small view

    def timed(*args: str) -> float:
        shutil.copy(changed, database)
        return dbt_build(database, *args)

    return alternate(repetitions, lambda: timed("--full-refresh"), lambda: timed())


def builds_comparison(scenario_id: str, orders: int, config: BenchConfig) -> Result:
    _, _, changes = loaded_warehouse(orders)
    base, opt = full_rebuild_vs_build(orders, config.repetitions)
    touched = changes["new_orders"] + changes["completed_orders"] + changes["returned_orders"]
    return compare(
        scenario_id,
        f"Transforms, whole command: dbt build --full-refresh vs incremental, {orders:,} orders",
        f"`dbt build` (models and data tests, as `make build`) on DuckDB after one upstream day "
        f"({touched:,} orders new or changed, {touched / orders:.1%}), each a whole process "
        "timed from its start, dbt's partial parse warm",
        ("--full-refresh", "incremental"),
        (base, opt),
        "s",
        "incremental <= 5% of full refresh (>= 20x)",
        lower_is_better=True,
        passed=lambda r: r >= 20,
    )


@scenario("transforms-build", group=LOADED_WAREHOUSE)
def builds(config: BenchConfig) -> Result:
    return builds_comparison("transforms-build", warehouse_orders(config), config)


@scenario("transforms-build-10m", opt_in="large", group=LOADED_WAREHOUSE)
def builds_large(config: BenchConfig) -> Result:
    orders = warehouse_orders(config) if config.quick else 10_000_000
    return builds_comparison("transforms-build-10m", orders, config)
