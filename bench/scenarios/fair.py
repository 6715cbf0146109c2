"""Tools timed fairly: each a whole process from a cold start (interpreter, imports, state,
everything), into a new DuckDB file, on the same upstream, runs alternated, every run
checked to have read every row. `make ingest` (as `python -m ingestion run`) against dlt's
`rest_api` source tuned as dlt's performance guide advises, against the wire floor (a minimal
client that downloads every page with as many requests in flight and discards it) and, with
`--peers` (installed from PyPI), against an Airbyte low-code connector run by PyAirbyte and a
Singer tap piped into a Singer target. At 200k orders, and with `--large` at 1M.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import duckdb

from bench.peers.venv import peer_python
from bench.runner import BenchConfig, Result, compare, median, scenario
from bench.scenarios.ingestion import REALISTIC
from ingestion.shop_api import MAX_CONCURRENCY
from tests.support import read_all
from upstream.process import UpstreamProcess

REPO_ROOT = Path(__file__).resolve().parents[2]
TABLES = ("customers", "orders", "order_items", "tweets", "products", "stores")
OURS = (sys.executable, "-m", "ingestion", "run", "--source", "shop_api", "--target", "duckdb")
TOOLS = {
    "make ingest": OURS,
    "dlt rest_api, defaults": (sys.executable, "-m", "bench.peers.dlt_rest_api"),
    "dlt rest_api, tuned": (sys.executable, "-m", "bench.peers.dlt_rest_api", "--tuned"),
    "wire floor": (sys.executable, "-m", "bench.peers.wire_floor"),
}
AIRBYTE = "Airbyte low-code"
SINGER = "Singer"
# Each peer: its virtualenv, what it holds, and the script (bench/peers/) its Python runs.
PEERS = {
    # PyAirbyte; it pins its own DuckDB (1.4.3).
    AIRBYTE: ("airbyte", ("airbyte==0.71.3",), "airbyte_low_code.py"),
    # DuckDB 1.0: target-duckdb loads each batch with a COPY that leaves the header to
    # DuckDB, and from 1.1 on DuckDB takes the first row of an all-text batch (the tweets)
    # for a header and drops it. Its file never leaves this virtualenv (singer_shop.py counts
    # the rows). setuptools for pkg_resources, which the tap's `fs` imports undeclared.
    SINGER: (
        "singer",
        ("tap-rest-api-msdk==1.4.2", "target-duckdb==0.8.0", "duckdb==1.0.0", "setuptools<81"),
        "singer_shop.py",
    ),
}
# Timed together, on one upstream (the defaults peer is slow: it runs on a smaller one).
FAIR_GROUP = ("make ingest", "dlt rest_api, tuned", "wire floor")
# At 1M orders a peer's run takes minutes, long enough to average the noise within it; more
# rounds would take hours.
LARGE_REPETITIONS = 2


def command(tool: str) -> tuple[str, ...]:
    if tool in PEERS:
        name, packages, script = PEERS[tool]
        python = peer_python(name, packages)
        return (str(python), str(REPO_ROOT / "bench" / "peers" / script))
    return TOOLS[tool]


def fair_tools(config: BenchConfig) -> tuple[str, ...]:
    return (*FAIR_GROUP, *PEERS) if config.peers else FAIR_GROUP


def upstream_span(rows: dict[str, dict[str, dict[str, Any]]], clock: str) -> dict[str, str]:
    """What an Airbyte user configures for this API: the first day it has data (each
    endpoint's oldest change) and the end of the range to read, just past the upstream's
    clock."""
    oldest = min(row["updated_at"] for table_rows in rows.values() for row in table_rows.values())
    end = datetime.fromisoformat(clock.replace("Z", "+00:00")) + timedelta(seconds=1)
    return {
        "AIRBYTE_START_DATE": f"{oldest[:10]}T00:00:00Z",
        "AIRBYTE_END_DATE": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def run_process(
    command: tuple[str, ...], upstream: UpstreamProcess, scratch: Path, span: dict[str, str]
) -> float:
    """Seconds from starting `command` to its exit, in a clean environment of its own."""
    env = {
        **os.environ,
        "DUCKDB_PATH": str(scratch / "warehouse.duckdb"),
        "PIPELINES_DIR": str(scratch / "pipelines"),
        "UPSTREAM_API_KEY": upstream.api_key,
        "SOURCES__SHOP_API__BASE_URL": upstream.url,  # ours, as the README says
        "SHOP_API_URL": upstream.url,  # the peers'
        "AIRBYTE_LOGGING_ROOT": str(scratch / "airbyte-logs"),
        # As many requests in flight as `make ingest`, where a tool has the setting.
        "CONCURRENCY": str(MAX_CONCURRENCY),  # the floor's
        "AIRBYTE_CONCURRENCY": str(MAX_CONCURRENCY),
        **span,
    }
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[1:])} failed: {result.stderr[-1500:]}")
    (scratch / "stdout.json").write_text(result.stdout)
    return seconds


def rows_read(tool: str, scratch: Path) -> dict[str, int]:
    if tool == "wire floor" or tool in PEERS:
        # The counts are the last line (PyAirbyte prints its progress above them).
        return json.loads((scratch / "stdout.json").read_text().strip().splitlines()[-1])
    with duckdb.connect(str(scratch / "warehouse.duckdb"), read_only=True) as conn:
        return {
            table: conn.execute(f"select count(*) from raw.{table}").fetchone()[0]
            for table in TABLES
        }


def timed_whole_process(
    tool: str, upstream: UpstreamProcess, truth: dict[str, int], span: dict[str, str] | None = None
) -> float:
    """One cold run of `tool`; an error unless it read every row of every table."""
    with tempfile.TemporaryDirectory(prefix="bench-fair-") as scratch_dir:
        scratch = Path(scratch_dir)
        seconds = run_process(command(tool), upstream, scratch, span or {})
        read = rows_read(tool, scratch)
    if read != truth:
        raise RuntimeError(f"{tool} read {read}, the upstream holds {truth}")
    return seconds


@cache
def measured(
    orders: int, repetitions: int, tools: tuple[str, ...] = FAIR_GROUP
) -> dict[str, list[float]]:
    """Each tool's seconds, runs alternated tool by tool (noise hits all alike)."""
    seconds: dict[str, list[float]] = {tool: [] for tool in tools}
    for tool in tools:
        command(tool)  # a peer is installed before anything is timed
    with UpstreamProcess(secrets.token_hex(16), "--orders", str(orders), *REALISTIC) as upstream:
        rows = {table: read_all(upstream, table) for table in TABLES}
        truth = {table: len(table_rows) for table, table_rows in rows.items()}
        span = upstream_span(rows, upstream.clock())
        for round_ in range(1, repetitions + 1):
            for tool in tools:
                seconds[tool].append(timed_whole_process(tool, upstream, truth, span))
                print(
                    f"[bench]   {orders:,} orders, round {round_}/{repetitions}: {tool} "
                    f"{seconds[tool][-1]:.1f} s, every row read",
                    flush=True,
                )
    return seconds


def fair_size(config: BenchConfig, large: bool = False) -> tuple[int, int]:
    """Orders in the upstream and runs of each tool: 200k orders, or 1M (`large`). Quick
    mode, which only checks that the scenarios run, uses one small size for both."""
    if config.quick:
        return min(config.scale, 3_000), config.repetitions
    if large:
        return min(config.scale, 1_000_000), min(config.repetitions, LARGE_REPETITIONS)
    return min(config.scale, 200_000), config.repetitions


def fair_seconds(config: BenchConfig, large: bool) -> tuple[int, dict[str, list[float]]]:
    orders, repetitions = fair_size(config, large)
    return orders, measured(orders, repetitions, fair_tools(config))


def sized(large: bool, orders: int) -> str:
    """A title's suffix: the 1M-order records say their size (the others keep their titles)."""
    return f", {orders:,} orders" if large else ""


# The peers `make ingest` is compared with: the record's title, how the peer is set up, and
# the goal (`make ingest` at least this many times as fast).
PEER_RECORDS = {
    "dlt rest_api, tuned": (
        "Peer: dlt rest_api tuned vs make ingest, whole processes",
        "dlt tuned as its performance guide advises: resources parallelized, 1000-row pages, "
        "Parquet, 8 extract / 2 normalize / 8 load workers",
        5,
    ),
    AIRBYTE: (
        "Peer: Airbyte low-code (PyAirbyte) vs make ingest, whole processes",
        "Airbyte: a declarative manifest (bench/peers/airbyte_shop.yaml) read by PyAirbyte "
        "into its DuckDB cache, streams split into 7-day partitions on updated_at (its "
        f"concurrency docs' advice), {MAX_CONCURRENCY} partitions at a time (the level its "
        "docs leave to the user: as many requests in flight as make ingest), 1000-row pages",
        10,
    ),
    SINGER: (
        "Peer: Singer tap-rest-api-msdk into target-duckdb vs make ingest",
        "Singer (bench/peers/singer_shop.py): one tap | target pipe per pagination style, "
        "default settings, 1000-row pages",
        15,
    ),
}


def against_peer(config: BenchConfig, scenario_id: str, peer: str, large: bool = False) -> Result:
    orders, seconds = fair_seconds(config, large)
    title, setup, goal = PEER_RECORDS[peer]
    return compare(
        scenario_id,
        title + sized(large, orders),
        f"full load of every API endpoint ({orders:,} orders) into a new DuckDB file at 30-50 "
        "ms per request, a rate limit that does not bind; each a whole process from a cold "
        f"start. {setup}",
        (peer, "make ingest"),
        (seconds[peer], seconds["make ingest"]),
        "s",
        f">= {goal}x",
        lower_is_better=True,
        passed=lambda r: r >= goal,
    )


def wire_floor(config: BenchConfig, scenario_id: str, large: bool = False) -> Result:
    orders, seconds = fair_seconds(config, large)
    floor = median(seconds["wire floor"])
    return compare(
        scenario_id,
        "Wire floor: make ingest vs a client that only downloads the pages" + sized(large, orders),
        f"every page of every API endpoint ({orders:,} orders) at 30-50 ms per request, "
        f"{MAX_CONCURRENCY} in flight: make ingest (extract, convert, load into DuckDB, "
        "state) vs a minimal client that downloads and discards; whole processes from a cold "
        "start",
        ("make ingest", "wire floor"),
        (seconds["make ingest"], seconds["wire floor"]),
        "s",
        "make ingest within 1.5x of the floor",
        lower_is_better=True,
        passed=lambda r: r <= 1.5,
        notes=f"the floor: {floor:.2f} s",
    )


@scenario("peer-dlt-tuned", group="fair")
def peer_dlt_tuned_200k(config: BenchConfig) -> Result:
    return against_peer(config, "peer-dlt-tuned", "dlt rest_api, tuned")


@scenario("wire-floor", group="fair")
def wire_floor_200k(config: BenchConfig) -> Result:
    return wire_floor(config, "wire-floor")


@scenario("peer-airbyte", opt_in="peers", group="fair")
def peer_airbyte_200k(config: BenchConfig) -> Result:
    return against_peer(config, "peer-airbyte", AIRBYTE)


@scenario("peer-singer", opt_in="peers", group="fair")
def peer_singer_200k(config: BenchConfig) -> Result:
    return against_peer(config, "peer-singer", SINGER)


@scenario("peer-dlt-tuned-1m", opt_in="large", group="fair")
def peer_dlt_tuned_1m(config: BenchConfig) -> Result:
    return against_peer(config, "peer-dlt-tuned-1m", "dlt rest_api, tuned", large=True)


@scenario("wire-floor-1m", opt_in="large", group="fair")
def wire_floor_1m(config: BenchConfig) -> Result:
    return wire_floor(config, "wire-floor-1m", large=True)


@scenario("peer-airbyte-1m", opt_in=("peers", "large"), group="fair")
def peer_airbyte_1m(config: BenchConfig) -> Result:
    return against_peer(config, "peer-airbyte-1m", AIRBYTE, large=True)


@scenario("peer-singer-1m", opt_in=("peers", "large"), group="fair")
def peer_singer_1m(config: BenchConfig) -> Result:
    return against_peer(config, "peer-singer-1m", SINGER, large=True)


@scenario("whole-pipeline", group="fair")
def whole_pipeline(config: BenchConfig) -> Result:
    orders = min(config.scale, 3_000 if config.quick else 50_000)
    tools = ("dlt rest_api, defaults", "make ingest")
    seconds = measured(orders, config.repetitions, tools)
    return compare(
        "whole-pipeline",
        "Whole pipeline: make ingest vs plain dlt rest_api, whole processes",
        f"full load of every API endpoint ({orders:,} orders) into a new DuckDB file, 30-50 ms "
        "latency, a rate limit that does not bind; plain = dlt's rest_api source with default "
        "settings; each a whole process from a cold start",
        ("plain rest_api", "make ingest"),
        (seconds["dlt rest_api, defaults"], seconds["make ingest"]),
        "s",
        ">= 10x",
        lower_is_better=True,
        passed=lambda r: r >= 10,
    )
