"""Batch sizes and memory: `make ingest` as a separate process, timed and its peak RSS read."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.runner import BenchConfig, Result, compare, median, scenario
from bench.scenarios.ingestion import REALISTIC
from bench.scenarios.warehouse import UNTHROTTLED
from ingestion.shop_api import MAX_CONCURRENCY
from upstream.process import UpstreamProcess

REPO_ROOT = Path(__file__).resolve().parents[2]
PAGE_SIZES = (100, 250, 500, 1000)  # the API's maximum is 1000: the default
VM_HWM = re.compile(r"^VmHWM:\s+(\d+) kB", re.MULTILINE)


STARTUP = re.compile(r"start-up ([0-9.]+)s")


@dataclass(frozen=True)
class IngestRun:
    seconds: float
    peak_rss_mib: float
    startup_seconds: float  # before the first pipeline ran, as the run's summary reports it


def ingest_process(upstream: UpstreamProcess, source: str = "shop_api", **env: str) -> IngestRun:
    """`python -m ingestion run` into a fresh DuckDB warehouse, or the one `env` names
    (DUCKDB_PATH, PIPELINES_DIR): wall time and peak RSS."""
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as scratch:
        environment = {
            **os.environ,
            "DBT_TARGET": "duckdb",
            "DUCKDB_PATH": str(Path(scratch) / "warehouse.duckdb"),
            "PIPELINES_DIR": str(Path(scratch) / "pipelines"),
            "UPSTREAM_API_KEY": upstream.api_key,
            "SOURCES__SHOP_API__BASE_URL": upstream.url,
            "SOURCES__CATALOG_DB__CREDENTIALS": upstream.database_url,
            **env,
        }
        command = [sys.executable, "-m", "ingestion", "run", "--source", source]
        output = Path(scratch) / "stdout.txt"
        with output.open("w") as stdout:
            started = time.perf_counter()
            process = subprocess.Popen(command, cwd=REPO_ROOT, env=environment, stdout=stdout)
            peak_mib = peak_rss_mib(process)
            seconds = time.perf_counter() - started
        if process.returncode != 0:
            raise RuntimeError(f"ingest exited with {process.returncode}")
        startup = [float(found) for found in STARTUP.findall(output.read_text())]
        return IngestRun(seconds, peak_mib, max(startup, default=0.0))


def peak_rss_mib(process: subprocess.Popen[bytes]) -> float:
    """The process's peak RSS, read from /proc until it exits.

    Not the child's `ru_maxrss`: Linux carries the high-water mark of the memory a child
    was forked from across exec, so a child of this (large) benchmark process would report
    at least the benchmark's own size. VmHWM belongs to the new program's memory alone; it
    only grows, so polling misses at most the last few milliseconds before exit.
    """
    status = Path(f"/proc/{process.pid}/status")
    peak_kib = 0
    while process.poll() is None:
        try:
            match = VM_HWM.search(status.read_text())
        except (FileNotFoundError, ProcessLookupError):
            match = None
        if match:
            peak_kib = max(peak_kib, int(match.group(1)))
        time.sleep(0.02)
    return peak_kib / 1024


@scenario("batch-size")
def batch_size(config: BenchConfig) -> Result:
    orders = min(config.scale, 5_000 if config.quick else 100_000)
    # Quick mode checks the scenario runs: the smallest and the default page size.
    sizes = (PAGE_SIZES[0], PAGE_SIZES[-1]) if config.quick else PAGE_SIZES
    runs: dict[int, list[IngestRun]] = {size: [] for size in sizes}
    with UpstreamProcess(secrets.token_hex(16), "--orders", str(orders), *REALISTIC) as upstream:
        for _ in range(config.repetitions):
            for size in sizes:  # interleaved, so noise hits every size alike
                runs[size].append(ingest_process(upstream, SOURCES__SHOP_API__PAGE_SIZE=str(size)))
    curve = ", ".join(
        f"{size}: {median([r.seconds for r in runs[size]]):.1f} s / "
        f"{median([r.peak_rss_mib for r in runs[size]]):.0f} MiB"
        for size in sizes
    )
    smallest, default = PAGE_SIZES[0], PAGE_SIZES[-1]
    return compare(
        "batch-size",
        "Batch size: API page size, time and peak memory of make ingest",
        f"the shop API source ({orders:,} orders) into DuckDB at 30-50 ms per request, page "
        f"sizes {', '.join(map(str, sizes))} (the default, {default}, is the API's maximum)",
        (f"{smallest} rows/page", f"{default} rows/page"),
        ([r.seconds for r in runs[smallest]], [r.seconds for r in runs[default]]),
        "s",
        "the default is the fastest on the curve",
        lower_is_better=True,
        passed=lambda _: min(sizes, key=lambda s: median([r.seconds for r in runs[s]])) == default,
        notes=f"curve (page size: time / peak RSS): {curve}",
        curve={
            "x": "rows per page",
            "y": ["seconds", "peak RSS (MiB)"],
            "points": [
                {
                    "rows per page": size,
                    "seconds": median([r.seconds for r in runs[size]]),
                    "peak RSS (MiB)": median([r.peak_rss_mib for r in runs[size]]),
                }
                for size in sizes
            ],
            "chosen": default,
        },
    )


@dataclass(frozen=True)
class IngestSetting:
    """One setting walked along a curve by `make ingest` runs."""

    id: str
    title: str
    env: str  # dlt's environment variable for it
    label: str  # what its values mean, the curve's x axis
    values: tuple[int, ...]
    chosen: int  # the value this project runs with (its code, .dlt/config.toml or dlt's)
    # The upstream's latency and limit, and how the record says it.
    upstream: tuple[str, ...] = UNTHROTTLED
    conditions: str = "no API latency"


# A file_max_items this large never rotates: one file per table and run, dlt's default.
NO_ROTATION = 10_000_000
INGEST_SETTINGS = (
    IngestSetting(
        "buffer-size",
        "Batch size: rows dlt buffers per writer before writing, time and peak memory",
        "DATA_WRITER__BUFFER_MAX_ITEMS",
        "rows buffered per writer",
        (1_000, 5_000, 20_000, 100_000),
        5_000,
    ),
    IngestSetting(
        "file-size",
        "Batch size: rows per load file (rotation), time and peak memory",
        "DATA_WRITER__FILE_MAX_ITEMS",
        "rows per file (10M: no rotation)",
        (20_000, 100_000, 500_000, NO_ROTATION),
        NO_ROTATION,
    ),
    IngestSetting(
        "load-workers",
        "Load workers: files loaded in parallel, time and peak memory",
        "LOAD__WORKERS",
        "load workers",
        (1, 4, 20),
        20,
    ),
    IngestSetting(
        "in-flight",
        "Requests in flight: API pages fetched at once, time and peak memory",
        "SOURCES__SHOP_API__MAX_CONCURRENCY",
        "requests in flight",
        (4, 8, 16, 32),
        MAX_CONCURRENCY,
        REALISTIC,  # what requests in flight hide: the latency
        "30-50 ms per request, a rate limit that does not bind",
    ),
)


def setting_curve(setting: IngestSetting, config: BenchConfig) -> Result:
    orders = min(config.scale, 5_000 if config.quick else 200_000)
    # Quick mode checks the scenario runs: the chosen value and one other.
    values = (setting.values[0], setting.chosen) if config.quick else setting.values
    runs: dict[int, list[IngestRun]] = {value: [] for value in values}
    with UpstreamProcess(
        secrets.token_hex(16), "--orders", str(orders), *setting.upstream
    ) as upstream:
        for _ in range(config.repetitions):
            for value in values:  # interleaved, so noise hits every value alike
                runs[value].append(
                    ingest_process(
                        upstream,
                        source="all",
                        SOURCES__SHOP_API__RATE_LIMIT="1000",
                        **{setting.env: str(value)},
                    )
                )
    points = [
        {
            setting.label: value,
            "seconds": median([r.seconds for r in runs[value]]),
            "peak RSS (MiB)": median([r.peak_rss_mib for r in runs[value]]),
        }
        for value in values
    ]
    fastest = min(points, key=lambda p: p["seconds"])
    chosen = next(p for p in points if p[setting.label] == setting.chosen)
    others = [v for v in values if v != setting.chosen]
    slowest = max((p for p in points if p[setting.label] in others), key=lambda p: p["seconds"])
    return compare(
        setting.id,
        setting.title,
        f"`make ingest` (both sources, {orders:,} orders, {setting.conditions}) into DuckDB at "
        f"{setting.env}={', '.join(map(str, values))}; this project runs "
        f"{setting.chosen}",
        (f"{slowest[setting.label]:,} (slowest other)", f"{setting.chosen:,} (chosen)"),
        (
            [r.seconds for r in runs[slowest[setting.label]]],
            [r.seconds for r in runs[setting.chosen]],
        ),
        "s",
        "the chosen value within 10% of the fastest on the curve",
        lower_is_better=True,
        passed=lambda _: chosen["seconds"] <= 1.1 * fastest["seconds"],
        notes="curve (value: time / peak RSS): "
        + ", ".join(
            f"{p[setting.label]:,}: {p['seconds']:.1f} s / {p['peak RSS (MiB)']:.0f} MiB"
            for p in points
        ),
        curve={
            "x": setting.label,
            "y": ["seconds", "peak RSS (MiB)"],
            "points": points,
            "chosen": setting.chosen,
        },
    )


for _setting in INGEST_SETTINGS:
    scenario(_setting.id, group="setting-curves")(
        lambda config, setting=_setting: setting_curve(setting, config)
    )
