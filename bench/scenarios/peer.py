"""The same extraction by a peer: a Singer tap (tap-rest-api-msdk) piped into target-duckdb,
installed in a virtualenv of their own (`make bench PEERS=1`; opt-in, it needs PyPI)."""

from __future__ import annotations

import json
import secrets
import subprocess
import tempfile
import time
from pathlib import Path

import duckdb

from bench.peers.venv import peer_python
from bench.runner import BenchConfig, Result, alternate, compare, scenario
from bench.scenarios.fair import TABLES, timed_whole_process
from bench.scenarios.ingestion import REALISTIC
from tests.support import read_all
from upstream.process import UpstreamProcess

# DuckDB pinned as everywhere here: target-duckdb would take 2.x, whose files 1.x cannot read.
# setuptools for pkg_resources, which the tap's `fs` imports without declaring it.
PEER_PACKAGES = (
    "tap-rest-api-msdk==1.4.2",
    "target-duckdb==0.8.0",
    "duckdb==1.5.6",
    "setuptools<81",
)
ENDPOINTS = {
    "cursor": (("orders", "id"), ("tweets", "id")),
    "paged": (("customers", "id"), ("order_items", "id"), ("products", "sku"), ("stores", "id")),
}
# The tap takes one pagination style per process (its settings are tap-wide).
PAGINATION = {
    "cursor": {
        "pagination_request_style": "jsonpath_paginator",
        "next_page_token_path": "$.next_cursor",
        "pagination_next_page_param": "cursor",
    },
    # The API says `total_pages`, which the tap cannot compare with the page number: a
    # full page (a 1000th row) means there may be another.
    "paged": {
        "pagination_request_style": "page_number_paginator",
        "next_page_token_path": "$.data[999]",
        "pagination_next_page_param": "page",
    },
}


def peer_bin(name: str) -> Path:
    return peer_python("singer", PEER_PACKAGES).with_name(name)


def singer_run(upstream: UpstreamProcess, scratch: Path, orders: int) -> float:
    """Seconds for tap | target over every endpoint (one pipe per pagination style, in turn:
    two target-duckdb processes cannot write one DuckDB file at once)."""
    database = scratch / "singer.duckdb"
    target_config = scratch / "target.json"
    target_config.write_text(json.dumps({"path": str(database), "default_target_schema": "raw"}))
    started = time.perf_counter()
    for style, endpoints in ENDPOINTS.items():
        streams = [
            {
                "name": name,
                "path": f"/v1/{name}",
                "primary_keys": [key],
                "records_path": "$.data[*]",
                "params": {"limit": 1000},
            }
            for name, key in endpoints
        ]
        tap_config = scratch / f"tap-{style}.json"
        tap_config.write_text(
            json.dumps(
                {
                    "api_url": upstream.url,
                    "auth_method": "bearer_token",
                    "bearer_token": upstream.api_key,
                    "streams": streams,
                    **PAGINATION[style],
                }
            )
        )
        tap = subprocess.Popen(
            [peer_bin("tap-rest-api-msdk"), "--config", tap_config],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        target = subprocess.run(
            [peer_bin("target-duckdb"), "--config", target_config],
            stdin=tap.stdout,
            capture_output=True,
            text=True,
        )
        if tap.wait() != 0 or target.returncode != 0:
            raise RuntimeError(f"Singer peer failed ({style}): {target.stderr[-2000:]}")
    seconds = time.perf_counter() - started
    with duckdb.connect(str(database), read_only=True) as conn:
        (loaded,) = conn.execute("select count(*) from raw.orders").fetchone()
    if loaded != orders:
        raise RuntimeError(f"the Singer peer loaded {loaded} of {orders} orders")
    return seconds


@scenario("peer-singer", opt_in="peers")
def peer_singer(config: BenchConfig) -> Result:
    # Large enough that per-run fixed costs (ours: dlt's sync, normalize and load steps) do
    # not decide the ratio: at 50k orders it was 6x.
    orders = min(config.scale, 3_000 if config.quick else 200_000)
    peer_bin("tap-rest-api-msdk")  # install before timing anything
    with UpstreamProcess(secrets.token_hex(16), "--orders", str(orders), *REALISTIC) as upstream:

        def singer() -> float:
            with tempfile.TemporaryDirectory(prefix="bench-singer-") as scratch:
                return singer_run(upstream, Path(scratch), orders)

        truth = {table: len(read_all(upstream, table)) for table in TABLES}

        def ours() -> float:  # a whole process from a cold start, as the peer
            return timed_whole_process("make ingest", upstream, truth)

        base, opt = alternate(config.repetitions, singer, ours)
    return compare(
        "peer-singer",
        "Peer: Singer tap-rest-api-msdk into target-duckdb vs make ingest",
        f"full load of every API endpoint ({orders:,} orders) into DuckDB at 30-50 ms per "
        "request, a rate limit that does not bind; the peer with default settings; both whole "
        "processes from a cold start",
        ("Singer", "make ingest"),
        (base, opt),
        "s",
        ">= 15x",
        lower_is_better=True,
        passed=lambda r: r >= 15,
    )
