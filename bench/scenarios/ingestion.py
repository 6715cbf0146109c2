"""Extraction and loading: latency hidden by parallel pages; the whole pipeline vs plain dlt."""

from __future__ import annotations

import math
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.runner import BenchConfig, Result, alternate, compare, median, scenario
from bench.scenarios.upstream import DEFAULT_RATE_LIMIT
from ingestion import pipeline as ingestion_pipeline
from ingestion.shop_api import MAX_CONCURRENCY, MAX_PAGE_SIZE
from upstream.process import UpstreamProcess

# The upstream's default latency, and a rate limit high enough never to bind.
REALISTIC = ("--latency-ms", "30", "--jitter-ms", "20", "--rate-limit", "1000", "--burst", "1000")


@contextmanager
def environment(**values: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def timed_in_fresh_warehouse(run: Callable[[], Any], **env: str) -> float:
    """Seconds `run` takes against an empty DuckDB warehouse and no pipeline state."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-") as scratch,
        environment(
            DUCKDB_PATH=str(Path(scratch) / "warehouse.duckdb"),
            PIPELINES_DIR=str(Path(scratch) / "pipelines"),
            DBT_TARGET="duckdb",
            **env,
        ),
    ):
        started = time.perf_counter()
        run()
        return time.perf_counter() - started


def shop_api_env(upstream: UpstreamProcess, concurrency: int) -> dict[str, str]:
    return {
        "UPSTREAM_API_KEY": upstream.api_key,
        "SOURCES__SHOP_API__BASE_URL": upstream.url,
        "SOURCES__SHOP_API__MAX_CONCURRENCY": str(concurrency),
    }


def extract_only(resources: tuple[str, ...]) -> Callable[[], Any]:
    def run() -> Any:
        pipe = ingestion_pipeline.make_pipeline("shop_api", "duckdb")
        return pipe.extract(ingestion_pipeline.make_source("shop_api").with_resources(*resources))

    return run


@scenario("network-latency")
def network_latency(config: BenchConfig) -> Result:
    orders = min(config.scale, 20_000 if config.quick else 200_000)
    with UpstreamProcess(secrets.token_hex(16), "--orders", str(orders), *REALISTIC) as upstream:
        resources = ("orders", "order_items")
        base, opt = alternate(
            config.repetitions,
            lambda: timed_in_fresh_warehouse(extract_only(resources), **shop_api_env(upstream, 1)),
            lambda: timed_in_fresh_warehouse(
                extract_only(resources), **shop_api_env(upstream, MAX_CONCURRENCY)
            ),
        )
    return compare(
        "network-latency",
        "Network latency: sequential vs parallel pages",
        f"extracting orders (cursor, sliced) and order items (page/offset) of "
        f"{orders:,} orders at 30-50 ms per request; 1 request in flight vs up to "
        f"{MAX_CONCURRENCY} (the default)",
        ("sequential", f"{MAX_CONCURRENCY} in flight"),
        (base, opt),
        "s",
        ">= 4x",
        lower_is_better=True,
        passed=lambda r: r >= 4,
    )


def rate_limited_run(upstream: UpstreamProcess, pace: bool) -> dict[str, float]:
    """Share of the limit turned into served pages, and the share of requests refused."""
    headers = {"Authorization": f"Bearer {upstream.api_key}"}
    httpx.post(f"{upstream.url}/admin/counters/reset", headers=headers)
    seconds = timed_in_fresh_warehouse(
        extract_only(("orders", "order_items")),
        **shop_api_env(upstream, MAX_CONCURRENCY),
        SOURCES__SHOP_API__PACE_REQUESTS=str(pace).lower(),
    )
    counters = httpx.get(f"{upstream.url}/admin/counters", headers=headers).json()
    served = counters["responses_by_status"].get("200", 0)
    # The fewest requests there are: every row read once, in pages of the maximum size.
    fewest = sum(
        max(1, math.ceil(rows / MAX_PAGE_SIZE))
        for rows in counters["rows_sent_by_endpoint"].values()
    )
    return {
        "share_of_limit": served / seconds / DEFAULT_RATE_LIMIT,
        "share_429": counters["rate_limited_429"] / max(1, counters["requests"]),
        "requests_per_fewest": counters["requests"] / fewest,
    }


@scenario("rate-limit")
def rate_limit(config: BenchConfig) -> Result:
    orders = min(config.scale, 10_000 if config.quick else 60_000)
    limited = ("--latency-ms", "30", "--jitter-ms", "20", "--rate-limit", str(DEFAULT_RATE_LIMIT))
    runs: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    with UpstreamProcess(secrets.token_hex(16), "--orders", str(orders), *limited) as upstream:
        for _ in range(config.repetitions):
            for pace in (False, True):
                runs[pace].append(rate_limited_run(upstream, pace))
    base = [r["share_of_limit"] * 100 for r in runs[False]]
    opt = [r["share_of_limit"] * 100 for r in runs[True]]
    base_429 = median([r["share_429"] * 100 for r in runs[False]])
    opt_429 = median([r["share_429"] * 100 for r in runs[True]])
    spent = median([r["requests_per_fewest"] for r in runs[True]])
    return compare(
        "rate-limit",
        "Rate limits: retry on 429 only vs proactive limiter",
        f"pages served per second, as a share of the {DEFAULT_RATE_LIMIT:g} req/s "
        f"limit, extracting orders and items of {orders:,} orders with up to "
        f"{MAX_CONCURRENCY} requests in flight",
        ("retry on 429", "paced"),
        (base, opt),
        "% of limit",
        ">= 95% of the limit, no 429s, requests <= 1.02x the fewest",
        lower_is_better=False,
        passed=lambda r: median(opt) >= 95 and opt_429 == 0 and spent <= 1.02,
        notes=f"429s: {base_429:.1f}% of requests retrying on 429 only, {opt_429:.1f}% paced; "
        f"paced requests {spent:.3f}x the fewest possible (every row once, pages of "
        f"{MAX_PAGE_SIZE})",
    )


@scenario("skew")
def skew(config: BenchConfig) -> Result:
    orders = min(config.scale, 20_000 if config.quick else 200_000)
    # The default history has a sale day with 20x the volume of a normal day.
    with UpstreamProcess(secrets.token_hex(16), "--orders", str(orders), *REALISTIC) as upstream:

        def extract(balanced: bool) -> float:
            return timed_in_fresh_warehouse(
                extract_only(("orders",)),
                **shop_api_env(upstream, 8),
                SOURCES__SHOP_API__BALANCED_SLICES=str(balanced).lower(),
            )

        base, opt = alternate(config.repetitions, lambda: extract(False), lambda: extract(True))
    return compare(
        "skew",
        "Skew: calendar slices vs volume-balanced slices",
        f"extracting orders ({orders:,}, cursor pagination) with 8 workers at 30-50 ms per "
        "request, the history holding a sale day with 20x a normal day's orders: the range cut "
        "in 8 even calendar slices vs slices that split where the data is dense",
        ("calendar slices", "balanced slices"),
        (base, opt),
        "s",
        ">= 1.5x",
        lower_is_better=True,
        passed=lambda r: r >= 1.5,
    )


SLOW_CHANGING = ("products", "stores")


@scenario("caching")
def caching(config: BenchConfig) -> Result:
    """The second of two runs over the slow-changing endpoints, which have not changed."""
    headers: dict[str, str] = {}
    sent: dict[bool, list[dict[str, int]]] = {False: [], True: []}
    with UpstreamProcess(secrets.token_hex(16), "--orders", "2000", *REALISTIC) as upstream:
        headers["Authorization"] = f"Bearer {upstream.api_key}"

        def run_twice(conditional: bool) -> float:
            def second_run_seconds() -> float:
                pipe = ingestion_pipeline.make_pipeline("shop_api", "duckdb")
                source = ingestion_pipeline.make_source("shop_api")
                pipe.run(source.with_resources(*SLOW_CHANGING), loader_file_format="parquet")
                httpx.post(f"{upstream.url}/admin/counters/reset", headers=headers)
                started = time.perf_counter()
                source = ingestion_pipeline.make_source("shop_api")
                pipe.run(source.with_resources(*SLOW_CHANGING), loader_file_format="parquet")
                seconds = time.perf_counter() - started
                counters = httpx.get(f"{upstream.url}/admin/counters", headers=headers).json()
                sent[conditional].append(counters)
                return seconds

            result: list[float] = []
            timed_in_fresh_warehouse(
                lambda: result.append(second_run_seconds()),
                **shop_api_env(upstream, 8),
                SOURCES__SHOP_API__CONDITIONAL_REQUESTS=str(conditional).lower(),
            )
            return result[0]

        base, opt = alternate(config.repetitions, lambda: run_twice(False), lambda: run_twice(True))
    plain, cached = sent[False][-1], sent[True][-1]
    return compare(
        "caching",
        "Caching: second run over unchanged endpoints, with and without conditional requests",
        f"a second run of the slow-changing endpoints ({', '.join(SLOW_CHANGING)}) into DuckDB "
        "at 30-50 ms per request, nothing changed upstream: plain GETs vs If-None-Match with "
        "the ETags kept in dlt's resource state",
        ("plain GET", "If-None-Match"),
        (base, opt),
        "s",
        "no rows re-sent, >= 1.5x",
        lower_is_better=True,
        passed=lambda r: r >= 1.5 and cached["rows_sent"] == 0,
        notes=(
            f"plain: {plain['rows_sent']} rows, {plain['bytes_sent']:,} bytes re-sent; "
            f"conditional: {cached['not_modified_304']} x 304, {cached['rows_sent']} rows, "
            f"{cached['bytes_sent']:,} bytes"
        ),
    )
