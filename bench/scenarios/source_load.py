"""What an ingest costs the OLTP database: scans and rows read, from PostgreSQL's own table
statistics, for a full read of the catalog vs the next incremental run."""

from __future__ import annotations

import secrets
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import psycopg2

from bench.databases import scratch_postgres_database
from bench.runner import BenchConfig, Result, compare, median, scenario
from bench.scenarios.loading import ingest_process
from bench.scenarios.warehouse import UNTHROTTLED
from ingestion.warehouse import postgres_url
from upstream.process import UpstreamProcess

# Cumulative per-table counters; an ingest's share is the difference across it.
TABLE_READS = """
    select coalesce(sum(seq_scan + coalesce(idx_scan, 0)), 0),
           coalesce(sum(seq_tup_read + coalesce(idx_tup_fetch, 0)), 0)
    from pg_stat_user_tables
"""


def catalog_reads(dsn: str) -> tuple[int, int]:
    """(scans, rows read) on the catalog's tables so far."""
    connection = psycopg2.connect(dsn)
    connection.autocommit = True  # a fresh snapshot of the statistics each time
    with connection.cursor() as cursor:
        cursor.execute(TABLE_READS)
        scans, rows = cursor.fetchone()
    connection.close()
    return int(scans), int(rows)


def measured(dsn: str, run: Callable[[], object]) -> tuple[int, int]:
    """(scans, rows read) on the catalog's tables while `run` ran."""
    before = catalog_reads(dsn)
    run()
    # The ingest ran in its own process: its server backend flushes its counters on exit.
    time.sleep(1.0)
    after = catalog_reads(dsn)
    return after[0] - before[0], after[1] - before[1]


@scenario("source-load")
def source_load(config: BenchConfig) -> Result:
    orders = min(config.scale, 5_000 if config.quick else 1_000_000)
    start = datetime.now(UTC).date() - timedelta(days=90 + 7)
    full: list[tuple[int, int]] = []
    incremental: list[tuple[int, int]] = []
    with scratch_postgres_database("catalog_bench") as database:
        dsn = postgres_url(database)
        # SQLAlchemy's default PostgreSQL driver is psycopg 3; this project ships psycopg2.
        url = dsn.replace("postgresql://", "postgresql+psycopg2://", 1)
        args = ("--orders", str(orders), "--start", start.isoformat(), "--database-url", url)
        with UpstreamProcess(secrets.token_hex(16), *args, *UNTHROTTLED) as upstream:
            for _ in range(config.repetitions):
                with tempfile.TemporaryDirectory(prefix="bench-source-load-") as scratch:
                    ingest = partial(
                        ingest_process,
                        upstream,
                        source="catalog_db",
                        DUCKDB_PATH=str(Path(scratch) / "warehouse.duckdb"),
                        PIPELINES_DIR=str(Path(scratch) / "pipelines"),
                    )
                    full.append(measured(dsn, ingest))
                    upstream.advance(days=1)
                    incremental.append(measured(dsn, ingest))
    scans = median([s for s, _ in full]), median([s for s, _ in incremental])
    return compare(
        "source-load",
        "Source load: rows the catalog database reads, full vs incremental",
        f"the catalog source (4 tables, {orders:,} orders' worth of inventory movements) from "
        "PostgreSQL, per PostgreSQL's table statistics: a first, full read vs the incremental "
        "run after one upstream day (a range scan on the indexed updated_at)",
        ("full read", "incremental"),
        ([r for _, r in full], [r for _, r in incremental]),
        "rows read",
        ">= 20x fewer rows read",
        lower_is_better=True,
        passed=lambda r: r >= 20,
        notes=f"table scans: {scans[0]:.0f} full vs {scans[1]:.0f} incremental",
    )
