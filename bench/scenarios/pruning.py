"""What `partition_by`/`cluster_by` save a one-day query on the orders mart, read from the
plans: DuckDB row groups, lake-mode Parquet files, PostgreSQL partitions and blocks."""

from __future__ import annotations

import secrets
import shutil
import tempfile
import time
from pathlib import Path

import duckdb
import psycopg2

from bench.databases import scratch_postgres_database
from bench.plans import (
    duckdb_files_read,
    duckdb_row_groups,
    postgres_blocks_read,
    postgres_scanned_relations,
)
from bench.runner import BenchConfig, Result, compare, median, scenario
from bench.scenarios.ingestion import environment
from bench.scenarios.warehouse import (
    LOADED_WAREHOUSE,
    dbt_run,
    history_args,
    ingest_both,
    loaded_warehouse,
    upstream_env,
    warehouse_orders,
)
from ingestion import warehouse as warehouse_settings
from upstream.process import UpstreamProcess

ONE_DAY = "select count(*), sum(order_total) from {} where order_date = date '{}'"


def middle_day_sql(orders: int, table: str) -> str:
    """A day from the middle of the history (a query for it has rows on both sides)."""
    return (
        f"select cast(order_date as varchar) from {table} "
        f"order by order_date limit 1 offset {orders // 2}"
    )


def copy_of_built(orders: int, name: str) -> Path:
    built, _, _ = loaded_warehouse(orders)
    scratch = built.parent / name
    scratch.mkdir(exist_ok=True)
    database = scratch / "warehouse.duckdb"
    shutil.copy(built, database)
    return database


@scenario("partition-pruning", group=LOADED_WAREHOUSE)
def partition_pruning(config: BenchConfig) -> Result:
    orders = warehouse_orders(config)
    database = copy_of_built(orders, "pruning")
    with duckdb.connect(str(database)) as conn:
        # What dbt-duckdb writes when it ignores `partition_by`: rows in whatever order the
        # query yields; here key order, the order a merge-maintained table drifts to.
        conn.execute(
            "create table analytics.orders_unclustered as "
            "select * from analytics.orders order by order_id"
        )
        (day,) = conn.execute(middle_day_sql(orders, "analytics.orders")).fetchone()
    samples: dict[str, list[float]] = {"orders_unclustered": [], "orders": []}
    seconds: dict[str, list[float]] = {"orders_unclustered": [], "orders": []}
    for _ in range(config.repetitions):
        for table in samples:
            started = time.perf_counter()
            sql = ONE_DAY.format(f"analytics.{table}", day)
            scan = duckdb_row_groups(database, sql, database.parent / "p.json")
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


@scenario("partition-pruning-lake", group=LOADED_WAREHOUSE)
def partition_pruning_lake(config: BenchConfig) -> Result:
    orders = warehouse_orders(config)
    database = copy_of_built(orders, "lake")
    lake_root = database.parent / "files"
    lake_root.mkdir(exist_ok=True)
    with environment(LAKE_ROOT=str(lake_root)):
        dbt_run(database, "--select", "+orders", target="lake")
    single_file = database.parent / "orders.parquet"
    with duckdb.connect(str(database)) as conn:
        # What the external materialization writes without partition_by: one file.
        conn.execute(f"copy (select * from lake.orders order by order_id) to '{single_file}'")
        (day,) = conn.execute(middle_day_sql(orders, "lake.orders")).fetchone()
    tables = {"single": f"read_parquet('{single_file}')", "hive": "lake.orders"}
    samples: dict[str, list[float]] = {name: [] for name in tables}
    for _ in range(config.repetitions):
        for name, table in tables.items():
            sql = ONE_DAY.format(table, day)
            samples[name].append(duckdb_row_groups(database, sql, lake_root / "p.json").scanned)
    files = duckdb_files_read(database, ONE_DAY.format(tables["hive"], day), lake_root / "f.json")
    return compare(
        "partition-pruning-lake",
        "Partition pruning: one-day query on the orders mart (lake mode, Parquet)",
        f"Parquet row groups read by `where order_date = <one day>` on {orders:,} orders: one "
        "file in key order vs `dbt run --target lake` (hive-partitioned by order_date)",
        ("one file", "hive-partitioned"),
        (samples["single"], samples["hive"]),
        "row groups",
        ">= 4x fewer row groups",
        lower_is_better=True,
        passed=lambda r: r >= 4,
        notes=f"hive-partitioned: {files.read} of {files.total} files opened",
    )


@scenario("partition-pruning-postgres")
def partition_pruning_postgres(config: BenchConfig) -> Result:
    # Its own load (into PostgreSQL): small in quick mode, which checks only that it runs.
    orders = min(config.scale, 5_000 if config.quick else warehouse_orders(config))
    with (
        scratch_postgres_database("jaffle_bench") as database_name,
        UpstreamProcess(secrets.token_hex(16), *history_args(orders)) as upstream,
        tempfile.TemporaryDirectory(prefix="bench-postgres-") as scratch_dir,
    ):
        scratch = Path(scratch_dir)
        with environment(
            DBT_TARGET="postgres",
            POSTGRES_DB=database_name,
            PIPELINES_DIR=str(scratch / "pipelines"),
            **upstream_env(upstream),
        ):
            ingest_both("postgres")
            dbt_run(scratch / "unused.duckdb", "--select", "+orders", target="postgres")
            dsn = warehouse_settings.postgres_url()
            samples = postgres_samples(dsn, orders, config.repetitions)
    base, opt, relations, day = samples
    return compare(
        "partition-pruning-postgres",
        "Partition pruning: one-day query on the orders mart (PostgreSQL)",
        f"buffer blocks touched by `where order_date = <one day>` on {orders:,} orders "
        "(EXPLAIN ANALYZE BUFFERS): the table as dbt-postgres writes it vs range-partitioned "
        "by day",
        ("one table", "partitioned"),
        (base, opt),
        "blocks",
        ">= 10x fewer blocks",
        lower_is_better=True,
        passed=lambda r: r >= 10,
        notes=f"partitioned plan for {day} reads {', '.join(relations)}",
    )


def postgres_samples(
    dsn: str, orders: int, repetitions: int
) -> tuple[list[float], list[float], list[str], str]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cursor:
        # dbt-postgres without this project's macros: one heap, rows in key order.
        cursor.execute(
            "create table analytics.orders_unpartitioned as "
            "select * from analytics.orders order by order_id"
        )
        cursor.execute("analyze analytics.orders_unpartitioned")
        cursor.execute("analyze analytics.orders")
        cursor.execute(middle_day_sql(orders, "analytics.orders"))
        (day,) = cursor.fetchone()
    conn.close()
    base, opt = [], []
    for _ in range(repetitions):
        base.append(
            postgres_blocks_read(dsn, ONE_DAY.format("analytics.orders_unpartitioned", day))
        )
        opt.append(postgres_blocks_read(dsn, ONE_DAY.format("analytics.orders", day)))
    relations = postgres_scanned_relations(dsn, ONE_DAY.format("analytics.orders", day))
    return base, opt, relations, day
