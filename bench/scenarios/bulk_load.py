"""Bulk loading: dlt's row inserts vs its bulk file formats, each against the engine's own
raw limit measured in the same run; and PostgreSQL indexes built during vs after a load."""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import dlt
import duckdb
import numpy as np
import psycopg2
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from dlt.common.destination import Destination

from bench.databases import scratch_postgres_database
from bench.runner import BenchConfig, Result, alternate, compare, median, scenario
from ingestion.warehouse import postgres_url

TABLE = "order_items"
COLUMNS_DDL = (
    "id varchar, order_id varchar, sku varchar, quantity bigint, price bigint, "
    "updated_at timestamp with time zone"
)


def order_items(rows: int) -> pa.Table:
    """Rows shaped like the shop's order items (keys, a SKU, amounts, a change time)."""
    generator = np.random.default_rng(7)
    numbers = np.arange(rows)
    return pa.table(
        {
            "id": pa.array(np.char.add("item-", numbers.astype(str))),
            "order_id": pa.array(np.char.add("order-", (numbers // 3).astype(str))),
            "sku": pa.array(np.char.add("JAF-", generator.integers(1, 11, rows).astype(str))),
            "quantity": pa.array(generator.integers(1, 4, rows)),
            "price": pa.array(generator.integers(300, 1500, rows)),
            "updated_at": pa.array(
                (1_700_000_000_000_000 + numbers * 1_000).astype("datetime64[us]")
            ).cast(pa.timestamp("us", tz="UTC")),
        }
    )


def dlt_load_seconds(destination: Destination, table: pa.Table, file_format: str) -> float:
    """Normalize + load time of one append of `table` by dlt in `file_format`."""
    with tempfile.TemporaryDirectory(prefix="bench-bulk-") as scratch:
        pipe = dlt.pipeline(
            f"bulk_{uuid.uuid4().hex[:8]}",
            destination=destination,
            dataset_name=f"bulk_{uuid.uuid4().hex[:8]}",
            pipelines_dir=scratch,
        )
        resource = dlt.resource(table, name=TABLE, write_disposition="append")
        pipe.extract(resource, loader_file_format=file_format)
        started = time.perf_counter()
        pipe.normalize()
        pipe.load().raise_on_failed_jobs()
        return time.perf_counter() - started


def rows_per_second(rows: int, seconds: Callable[[], float]) -> Callable[[], float]:
    return lambda: rows / seconds()


def bulk_rows(config: BenchConfig) -> int:
    return min(config.scale, 10_000 if config.quick else 500_000)


def raw_limit_note(rows: int, optimized: list[float], raw: list[float], what: str) -> str:
    share = median(optimized) / median(raw)
    return (
        f"raw limit ({what}): {median(raw):,.0f} rows/s; dlt's bulk path reaches {share:.0%} "
        f"of it ({rows:,} rows)"
    )


@scenario("bulk-load-duckdb")
def bulk_load_duckdb(config: BenchConfig) -> Result:
    rows = bulk_rows(config)
    table = order_items(rows)
    raw: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-bulk-duckdb-") as scratch:
        database = Path(scratch) / "warehouse.duckdb"
        parquet = Path(scratch) / "items.parquet"
        pq.write_table(table, parquet)

        def raw_seconds() -> float:
            with duckdb.connect(str(database)) as conn:
                name = f"raw_{uuid.uuid4().hex[:8]}"
                started = time.perf_counter()
                conn.execute(f"create table {name} as select * from read_parquet('{parquet}')")
                return time.perf_counter() - started

        def load(file_format: str) -> float:
            raw.append(rows / raw_seconds())  # the raw limit, measured alongside each side
            return dlt_load_seconds(dlt.destinations.duckdb(str(database)), table, file_format)

        base, opt = alternate(
            config.repetitions,
            rows_per_second(rows, lambda: load("insert_values")),
            rows_per_second(rows, lambda: load("parquet")),
        )
    return compare(
        "bulk-load-duckdb",
        "Bulk load into DuckDB: row inserts vs Parquet",
        f"dlt normalizing and loading {rows:,} order-item rows (append) into DuckDB as "
        "INSERT statements (dlt's default) vs Parquet files",
        ("insert_values", "parquet"),
        (base, opt),
        "rows/s",
        ">= 50% of the raw limit (create table as select * from read_parquet)",
        lower_is_better=False,
        passed=lambda _: median(opt) >= 0.5 * median(raw),
        notes=raw_limit_note(rows, opt, raw, "DuckDB create table as select from read_parquet"),
    )


def copy_seconds(dsn: str, csv_path: Path, index_first: bool | None) -> float:
    """COPY the CSV into a new table: raw (`None`), or with the key and SKU indexes created
    before the load (`True`) or after it (`False`, their build timed too)."""
    name = f"raw_{uuid.uuid4().hex[:8]}"
    indexes = [f"create index on {name} (order_id)", f"create index on {name} (sku, updated_at)"]
    with psycopg2.connect(dsn) as conn, conn.cursor() as cursor:
        cursor.execute(f"create table {name} ({COLUMNS_DDL})")
        for statement in indexes if index_first else []:
            cursor.execute(statement)
        conn.commit()
        started = time.perf_counter()
        with csv_path.open() as data:
            cursor.copy_expert(f"copy {name} from stdin with (format csv, header true)", data)
        for statement in indexes if index_first is False else []:
            cursor.execute(statement)
        conn.commit()
        seconds = time.perf_counter() - started
        cursor.execute(f"drop table {name}")
    conn.close()
    return seconds


@contextmanager
def postgres_and_csv(table: pa.Table) -> Iterator[tuple[str, Path]]:
    """A scratch PostgreSQL database (its URL) and `table` written as CSV for COPY."""
    with (
        scratch_postgres_database("bulk_bench") as database,
        tempfile.TemporaryDirectory(prefix="bench-bulk-postgres-") as scratch,
    ):
        csv_path = Path(scratch) / "items.csv"
        pa_csv.write_csv(table, csv_path)
        yield postgres_url(database), csv_path


@scenario("bulk-load-postgres")
def bulk_load_postgres(config: BenchConfig) -> Result:
    rows = bulk_rows(config)
    table = order_items(rows)
    formats = ("insert_values", "csv", "parquet")  # rows, COPY of CSV, ADBC binary COPY
    rates: dict[str, list[float]] = {name: [] for name in (*formats, "raw")}
    with postgres_and_csv(table) as (dsn, csv_path):
        for _ in range(config.repetitions):
            rates["raw"].append(rows / copy_seconds(dsn, csv_path, None))
            for file_format in formats:
                destination = dlt.destinations.postgres(credentials=dsn)
                rates[file_format].append(rows / dlt_load_seconds(destination, table, file_format))
    return compare(
        "bulk-load-postgres",
        "Bulk load into PostgreSQL: row inserts vs ADBC",
        f"dlt normalizing and loading {rows:,} order-item rows (append) into PostgreSQL as "
        "INSERT statements (dlt's default) vs Parquet copied through ADBC (this project's path)",
        ("insert_values", "parquet (ADBC)"),
        (rates["insert_values"], rates["parquet"]),
        "rows/s",
        ">= 50% of the raw limit (COPY of the same rows as CSV)",
        lower_is_better=False,
        passed=lambda _: median(rates["parquet"]) >= 0.5 * median(rates["raw"]),
        notes=(
            raw_limit_note(rows, rates["parquet"], rates["raw"], "psycopg2 COPY FROM STDIN")
            + f"; dlt's CSV + COPY path: {median(rates['csv']):,.0f} rows/s"
        ),
    )


@scenario("bulk-load-indexes")
def bulk_load_indexes(config: BenchConfig) -> Result:
    rows = bulk_rows(config) * 2  # index maintenance shows with size
    table = order_items(rows)
    with postgres_and_csv(table) as (dsn, csv_path):
        base, opt = alternate(
            config.repetitions,
            lambda: copy_seconds(dsn, csv_path, True),
            lambda: copy_seconds(dsn, csv_path, False),
        )
    return compare(
        "bulk-load-indexes",
        "Indexes during vs after a bulk load (PostgreSQL)",
        f"COPY of {rows:,} order-item rows into a table with two secondary indexes: created "
        "before the load (maintained row by row) vs built once after it (time includes the build)",
        ("indexes during", "indexes after"),
        (base, opt),
        "s",
        ">= 1.3x",
        lower_is_better=True,
        passed=lambda r: r >= 1.3,
    )
