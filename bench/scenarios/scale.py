"""Scale: a 100M-row backfill on this machine, window by window, timed per 10M rows."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from itertools import pairwise
from pathlib import Path

import duckdb

from bench.runner import BenchConfig, Result, compare, scenario
from bench.scenarios.loading import REPO_ROOT, peak_rss_mib
from bench.scenarios.warehouse import UNTHROTTLED
from upstream.generator import GenerationSpec, generate
from upstream.process import UpstreamProcess

API_TABLES = ("customers", "orders", "order_items", "tweets", "products", "stores")
HISTORY_DAYS = 90
WINDOW = re.compile(r"window (\d+) committed \((\d+) rows\)")


def rows_per_order() -> float:
    """API rows (orders, their items, customers, tweets, ...) that come with each order."""
    sample = 20_000
    data = generate(GenerationSpec(orders=sample))
    return sum(len(data[table].ids) for table in API_TABLES) / sample


def backfill(upstream: UpstreamProcess, scratch: Path, window_days: float) -> dict[str, object]:
    """`python -m ingestion run --source shop_api --backfill-days N`: when each window
    committed and how many rows it held, the totals, and the peak RSS."""
    env = {
        **os.environ,
        "DBT_TARGET": "duckdb",
        "DUCKDB_PATH": str(scratch / "warehouse.duckdb"),
        "PIPELINES_DIR": str(scratch / "pipelines"),
        "UPSTREAM_API_KEY": upstream.api_key,
        "SOURCES__SHOP_API__BASE_URL": upstream.url,
        "SOURCES__SHOP_API__RATE_LIMIT": "1000",
    }
    command = [sys.executable, "-m", "ingestion", "run", "--source", "shop_api"]
    command += ["--backfill-days", str(window_days)]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True, bufsize=1
    )
    peak: list[float] = []
    watcher = threading.Thread(target=lambda: peak.append(peak_rss_mib(process)))
    watcher.start()
    windows: list[tuple[float, int]] = []  # (seconds since start, rows in the window)
    assert process.stdout is not None
    for line in process.stdout:
        if match := WINDOW.search(line):
            windows.append((time.perf_counter() - started, int(match.group(2))))
            print(f"[bench]   window {match.group(1)}: {match.group(2)} rows", flush=True)
    process.wait()
    watcher.join()
    if process.returncode != 0:
        raise RuntimeError(f"the backfill exited with {process.returncode}")
    seconds = time.perf_counter() - started
    # The run's own record of what it loaded, over every window.
    last_run = scratch / "pipelines" / "shop_api_duckdb" / "last_run.json"
    total = sum(json.loads(last_run.read_text())["rows"].values())
    windows.append((seconds, total - sum(rows for _, rows in windows)))
    return {"windows": windows, "total": total, "seconds": seconds, "peak_mib": peak[0]}


def seconds_per_block(windows: list[tuple[float, int]], block: int) -> list[float]:
    """Time each successive `block` rows took, interpolated inside the windows."""
    marks: list[tuple[float, int]] = [(0.0, 0)]
    loaded = 0
    for at, rows in windows:
        loaded += rows
        marks.append((at, loaded))
    times = []
    for boundary in range(block, loaded + 1, block):
        for (t0, r0), (t1, r1) in pairwise(marks):
            if r0 < boundary <= r1:
                times.append(t0 + (t1 - t0) * (boundary - r0) / (r1 - r0))
                break
    return [b - a for a, b in pairwise([0.0, *times])]


@scenario("scale-backfill", opt_in="large")
def scale_backfill(config: BenchConfig) -> Result:
    target_rows = 100_000 if config.quick else 100_000_000
    block = target_rows // 10
    orders = int(target_rows / rows_per_order())
    # Windows of ~2.5% of the history: each one a bounded extract, merge and commit.
    window_days = HISTORY_DAYS / (4 if config.quick else 40)
    args = ("--orders", str(orders), *UNTHROTTLED)
    with (
        UpstreamProcess(secrets.token_hex(16), *args, startup_timeout=1800) as upstream,
        tempfile.TemporaryDirectory(prefix="bench-scale-") as scratch,
    ):
        run = backfill(upstream, Path(scratch), window_days)
        with duckdb.connect(str(Path(scratch) / "warehouse.duckdb"), read_only=True) as conn:
            loaded, distinct = conn.sql(
                "select count(*), count(distinct id) from raw.orders"
            ).fetchone()
    blocks = seconds_per_block(run["windows"], block)  # type: ignore[arg-type]
    complete = loaded == distinct == orders
    total, seconds, peak = run["total"], run["seconds"], run["peak_mib"]
    return compare(
        "scale-backfill",
        f"Scale: a {target_rows / 1e6:g}M-row backfill, time per {block / 1e6:g}M rows",
        f"`python -m ingestion run --backfill-days {window_days:g}` of the shop API "
        f"({orders:,} orders with their items, customers and tweets) into DuckDB, one "
        f"committed window per {window_days:g} days; first vs last {block / 1e6:g}M rows",
        (f"first {block / 1e6:g}M rows", f"last {block / 1e6:g}M rows"),
        ([blocks[0]], [blocks[-1]]),
        "s",
        "completes; the last block within 1.25x of the first",
        lower_is_better=True,
        passed=lambda ratio: complete and 1 / ratio <= 1.25,
        notes=f"{total:,} rows in {len(run['windows'])} windows, {seconds / 60:.1f} min, "
        f"peak RSS {peak:,.0f} MiB; orders loaded {loaded:,} of {orders:,} "
        f"({'no' if loaded == distinct else 'WITH'} duplicate keys); seconds per block: "
        + ", ".join(f"{b:.0f}" for b in blocks),
        curve={
            "x": "rows loaded (M)",
            "y": [f"seconds per {block / 1e6:g}M rows"],
            "points": [
                {"rows loaded (M)": (i + 1) * block / 1e6, f"seconds per {block / 1e6:g}M rows": b}
                for i, b in enumerate(blocks)
            ],
            "chosen": None,
            "log_x": False,
        },
    )
