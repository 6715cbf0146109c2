"""How `make ingest` grows with the data: a full load and the next incremental run, at 1M and
10M orders, timed and their peak memory read (`make ingest` as a separate process)."""

from __future__ import annotations

import secrets
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

from bench.runner import BenchConfig, Result, compare, median, scenario
from bench.scenarios.loading import IngestRun, ingest_process
from bench.scenarios.warehouse import UNTHROTTLED
from upstream.process import UpstreamProcess

MEMORY_GOAL_MIB = 1536


@dataclass(frozen=True)
class Round:
    full: IngestRun  # into an empty warehouse
    incremental: IngestRun  # the next run, after one upstream day
    changed_orders: int  # orders new or changed in that day


def sizes(config: BenchConfig) -> tuple[int, int]:
    """The two sizes compared: 1M and 10M orders. Quick mode, which only checks that the
    scenarios run, uses one small size for both (and measures it once)."""
    return (3_000, 3_000) if config.quick else (1_000_000, 10_000_000)


@cache
def ingest_rounds(orders: int, repetitions: int) -> tuple[Round, ...]:
    """`make ingest` (both sources) into a fresh warehouse, then again after one upstream day,
    `repetitions` times. The history ends a week ago, so each `advance` adds a past day."""
    start = datetime.now(UTC).date() - timedelta(days=90 + 7)
    args = ("--orders", str(orders), "--start", start.isoformat(), *UNTHROTTLED)
    rounds = []
    with UpstreamProcess(secrets.token_hex(16), *args, startup_timeout=600) as upstream:
        for _ in range(repetitions):
            with tempfile.TemporaryDirectory(prefix="bench-rounds-") as scratch:
                state = {
                    "DUCKDB_PATH": str(Path(scratch) / "warehouse.duckdb"),
                    "PIPELINES_DIR": str(Path(scratch) / "pipelines"),
                    "SOURCES__SHOP_API__RATE_LIMIT": "1000",
                }
                full = ingest_process(upstream, source="all", **state)
                changes = upstream.advance(days=1)
                incremental = ingest_process(upstream, source="all", **state)
            changed = changes["new_orders"] + changes["completed_orders"]
            changed += changes["returned_orders"]
            rounds.append(Round(full, incremental, changed))
    return tuple(rounds)


def incremental_extraction(scenario_id: str, orders: int, config: BenchConfig) -> Result:
    rounds = ingest_rounds(orders, config.repetitions)
    share = median([r.changed_orders for r in rounds]) / orders
    full = [r.full.seconds for r in rounds]
    incremental = [r.incremental.seconds for r in rounds]
    startup = median([r.incremental.startup_seconds for r in rounds])
    return compare(
        scenario_id,
        f"Incremental extraction: full load vs the next incremental run, {orders:,} orders",
        f"`make ingest` (both sources) into DuckDB, {orders:,} orders; the incremental run "
        f"follows one upstream day ({share:.1%} of orders new or changed, plus items, "
        "customers, tweets, inventory)",
        ("full", "incremental"),
        (full, incremental),
        "s",
        "incremental <= 5% of full (>= 20x)",
        lower_is_better=True,
        passed=lambda ratio: ratio >= 20,
        notes=f"of the incremental run's {median(incremental):.1f} s, {startup:.1f} s is the "
        "process starting (interpreter and imports, until the first pipeline runs: the run "
        "summary's start-up); without it the ratio is "
        f"{median(full) / max(median(incremental) - startup, 1e-9):.1f}x",
    )


@scenario("incremental-extraction")
def incremental_extraction_small(config: BenchConfig) -> Result:
    return incremental_extraction("incremental-extraction", sizes(config)[0], config)


@scenario("incremental-extraction-10m", opt_in="large")
def incremental_extraction_large(config: BenchConfig) -> Result:
    return incremental_extraction("incremental-extraction-10m", sizes(config)[1], config)


@scenario("memory", opt_in="large")
def memory(config: BenchConfig) -> Result:
    small, large = sizes(config)
    peaks = {
        n: [r.full.peak_rss_mib for r in ingest_rounds(n, config.repetitions)]
        for n in sizes(config)
    }
    peak = median(peaks[large])
    return compare(
        "memory",
        f"Memory: peak RSS of make ingest, {small:,} vs {large:,} orders",
        f"full load of both sources into DuckDB, {small:,} vs {large:,} orders (every table "
        "grows with them); pages and chunks streamed, DuckDB capped at DUCKDB_LOAD_MEMORY, "
        "merges deduplicated by a spillable GROUP BY",
        (f"{small:,} orders", f"{large:,} orders"),
        (peaks[small], peaks[large]),
        "MiB",
        f"<= {MEMORY_GOAL_MIB} MiB at {large:,} orders, growing <= 1.5x for 10x the data",
        lower_is_better=True,
        passed=lambda ratio: peak <= MEMORY_GOAL_MIB and 1 / ratio <= 1.5,
    )
