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
def full_refresh_vs_incremental(
    orders: int, repetitions: int, whole_command: bool
) -> tuple[list[float], list[float]]:
    """Seconds of a full refresh and of an incremental build, each on a copy of the warehouse
    one upstream day after its last build: `dbt run`'s time for its models, or, with
    `whole_command`, `dbt build` as a process, after one parse (a deployment's builds find
    dbt's partial parse ready)."""
    _, changed, _ = loaded_warehouse(orders)
    scratch = changed.parent / ("builds" if whole_command else "transforms")
    scratch.mkdir(exist_ok=True)
    database = scratch / "warehouse.duckdb"
    dbt = dbt_build if whole_command else dbt_run
    if whole_command:
        shutil.copy(changed, database)
        dbt_build(database, "--select", "stg_shop__loads")  # parses, and builds one small view

    def timed(*args: str) -> float:
        shutil.copy(changed, database)
        return dbt(database, *args)

    return alternate(repetitions, lambda: timed("--full-refresh"), lambda: timed())


def transforms_comparison(
    scenario_id: str, orders: int, config: BenchConfig, whole_command: bool = False
) -> Result:
    _, _, changes = loaded_warehouse(orders)
    samples = full_refresh_vs_incremental(orders, config.repetitions, whole_command)
    touched = changes["new_orders"] + changes["completed_orders"] + changes["returned_orders"]
    day = f"after one upstream day ({touched:,} orders new or changed, {touched / orders:.1%})"
    if whole_command:
        title = "Transforms, whole command: dbt build --full-refresh vs incremental"
        compared = (
            f"`dbt build` (models and data tests, as `make build`) on DuckDB {day}, each a "
            "whole process timed from its start, dbt's partial parse warm"
        )
        goal, least = "incremental <= 5% of full refresh (>= 20x)", 20.0
    else:
        title = "Transforms: dbt full refresh vs incremental"
        compared, goal, least = f"`dbt run` of every model on DuckDB {day}", ">= 2x", 2.0
    return compare(
        scenario_id,
        f"{title}, {orders:,} orders",
        compared,
        ("--full-refresh", "incremental"),
        samples,
        "s",
        goal,
        lower_is_better=True,
        passed=lambda r: r >= least,
    )


def large_orders(config: BenchConfig) -> int:
    # Quick mode only checks that it runs: at the smaller scenario's size (and measurement).
    return warehouse_orders(config) if config.quick else 10_000_000


@scenario("transforms-incremental", group=LOADED_WAREHOUSE)
def transforms_incremental(config: BenchConfig) -> Result:
    return transforms_comparison("transforms-incremental", warehouse_orders(config), config)


@scenario("transforms-incremental-10m", opt_in="large", group=LOADED_WAREHOUSE)
def transforms_incremental_large(config: BenchConfig) -> Result:
    return transforms_comparison("transforms-incremental-10m", large_orders(config), config)


@scenario("transforms-build", group=LOADED_WAREHOUSE)
def builds(config: BenchConfig) -> Result:
    return transforms_comparison("transforms-build", warehouse_orders(config), config, True)


@scenario("transforms-build-10m", opt_in="large", group=LOADED_WAREHOUSE)
def builds_large(config: BenchConfig) -> Result:
    return transforms_comparison("transforms-build-10m", large_orders(config), config, True)
