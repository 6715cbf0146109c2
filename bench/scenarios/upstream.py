"""The upstream itself: it must never be the bottleneck, and it must be quick to build."""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from datetime import UTC, datetime, timedelta

import httpx

from bench.runner import BenchConfig, Result, alternate, compare, scenario
from upstream.generator import GenerationSpec, generate
from upstream.process import UpstreamProcess

DEFAULT_RATE_LIMIT = 20.0  # `python -m upstream serve` default, requests/s per key
CLIENT_CONCURRENCY = 8


async def hammer(url: str, key: str, seconds: float, pages: int, warmup: float = 2.0) -> float:
    """Full 1000-row pages served per second to concurrent clients (429s not counted).

    The server's own counters are read, over a window that opens after `warmup` seconds,
    once a rate limiter's initial burst is spent.
    """
    headers = {"Authorization": f"Bearer {key}"}
    start = datetime(2024, 9, 1, tzinfo=UTC)
    deadline = time.perf_counter() + warmup + seconds

    async def worker(client: httpx.AsyncClient, rng: random.Random) -> None:
        while time.perf_counter() < deadline:
            if rng.random() < 0.5:
                params = {"limit": 1000, "page": rng.randint(1, pages)}
                path = "/v1/order_items"
            else:
                since = start + timedelta(hours=rng.randint(0, 80 * 24))
                params = {"limit": 1000, "updated_since": since.isoformat()}
                path = "/v1/orders"
            await client.get(path, params=params, headers=headers)

    async def window(client: httpx.AsyncClient) -> float:
        await asyncio.sleep(warmup)
        await client.post("/admin/counters/reset", headers=headers)
        await asyncio.sleep(seconds)
        counters = (await client.get("/admin/counters", headers=headers)).json()
        return counters["responses_by_status"].get("200", 0) / counters["seconds"]

    limits = httpx.Limits(max_connections=CLIENT_CONCURRENCY + 1)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        workers = [worker(client, random.Random(i)) for i in range(CLIENT_CONCURRENCY)]
        rate, *_ = await asyncio.gather(window(client), *workers)
        return rate


@scenario("upstream-capacity")
def upstream_capacity(config: BenchConfig) -> Result:
    key = secrets.token_hex(16)
    orders = min(config.scale, 200_000)
    seconds = 2.0 if config.quick else 6.0
    common = ("--orders", str(orders), "--latency-ms", "0", "--jitter-ms", "0")
    pages = max(1, int(orders * 2.25) // 1000)
    limited = UpstreamProcess(key, *common, "--rate-limit", str(DEFAULT_RATE_LIMIT)).start()
    unlimited = UpstreamProcess(key, *common, "--rate-limit", "0").start()
    try:
        base, opt = alternate(
            config.repetitions,
            lambda: asyncio.run(hammer(limited.url, key, seconds, pages)),
            lambda: asyncio.run(hammer(unlimited.url, key, seconds, pages)),
        )
    finally:
        limited.stop()
        unlimited.stop()
    return compare(
        "upstream-capacity",
        "Upstream capacity vs its default rate limit",
        f"1000-row pages served per second to {CLIENT_CONCURRENCY} concurrent "
        f"clients, with the default limit ({DEFAULT_RATE_LIMIT:g} req/s) and with none",
        ("default limit", "no limit"),
        (base, opt),
        "pages/s",
        ">= 10x",
        lower_is_better=False,
        passed=lambda r: r >= 10,
        notes="the load client shares the machine's 2 cores with the server",
    )


def generate_row_by_row(n: int, seed: int = 42) -> int:
    """The naive way: one Python dict per order and item, from Python's random."""
    rng = random.Random(seed)
    prices = [1100, 1100, 1200, 1400, 1200, 600, 500, 600, 700, 400]
    orders, items = [], []
    for number in range(n):
        subtotal = 0
        for _ in range(rng.choice((1, 1, 1, 2, 2, 2, 3, 3, 4, 5))):
            sku = rng.randrange(10)
            subtotal += prices[sku]
            items.append({"id": f"{rng.getrandbits(128):032x}", "order": number, "sku": sku})
        ordered_at = 1_725_148_800 + rng.randrange(90 * 86_400)
        tax = round(subtotal * 0.06)
        orders.append(
            {
                "id": f"{rng.getrandbits(128):032x}",
                "customer": rng.randrange(n // 12 + 1),
                "ordered_at": ordered_at,
                "subtotal": subtotal,
                "tax_paid": tax,
                "order_total": subtotal + tax,
                "status": "completed",
                "updated_at": ordered_at + 1800,
            }
        )
    return len(orders) + len(items)


@scenario("generate")
def generation(config: BenchConfig) -> Result:
    sample = 50_000 if config.quick else 200_000

    def rows_per_second(make: object) -> float:
        started = time.perf_counter()
        rows = make()  # type: ignore[operator]
        return rows / (time.perf_counter() - started)

    def vectorized() -> int:
        data = generate(GenerationSpec(orders=sample))
        return len(data["orders"].ids) + len(data["order_items"].ids)

    base, opt = alternate(
        config.repetitions,
        lambda: rows_per_second(lambda: generate_row_by_row(sample)),
        lambda: rows_per_second(vectorized),
    )
    big = 1_000_000 if config.quick else 10_000_000
    started = time.perf_counter()
    generate(GenerationSpec(orders=big))
    big_seconds = time.perf_counter() - started
    return compare(
        "generate",
        "Data generation: row-by-row Python vs vectorized numpy",
        f"orders + items generated per second, {sample:,} orders",
        ("row by row", "vectorized"),
        (base, opt),
        "rows/s",
        "10M orders < 60 s",
        lower_is_better=False,
        passed=lambda r: big_seconds < 60 * big / 10_000_000,
        notes=f"{big:,} orders (with items, customers, tweets, inventory) generated in "
        f"{big_seconds:.1f} s",
    )
