"""`python -m bench.peers.wire_floor`: the wire floor. Every page of every endpoint of the
shop API downloaded with CONCURRENCY requests in flight (the bench sets as many as `make
ingest`), parsed and thrown away: no extraction state, no conversion, no load. What no
client reading this API can beat by much; prints the rows read per table (JSON). Reads
SHOP_API_URL, UPSTREAM_API_KEY and CONCURRENCY.

Page-numbered endpoints: page 1 says how many pages there are, the rest come at once.
Cursor endpoints: the time from the first change to now cut into as many even slices as
requests in flight, each followed through its cursor.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

PAGED = ("customers", "order_items", "products", "stores")
CURSOR = ("orders", "tweets")
PAGE_SIZE = 1000


class Floor:
    def __init__(self, client: httpx.AsyncClient, concurrency: int) -> None:
        self.client = client
        self.slots = asyncio.Semaphore(concurrency)
        self.concurrency = concurrency
        self.rows: dict[str, int] = {}

    async def get(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        async with self.slots:
            response = await self.client.get(f"/v1/{name}", params={"limit": PAGE_SIZE, **params})
        response.raise_for_status()
        body = response.json()
        self.rows[name] = self.rows.get(name, 0) + len(body["data"])
        return body

    async def paged(self, name: str) -> None:
        first = await self.get(name, {"page": 1})
        pages = range(2, int(first["total_pages"]) + 1)
        await asyncio.gather(*(self.get(name, {"page": n}) for n in pages))

    async def cursor(self, name: str) -> None:
        probe = await self.get(name, {"limit": 1})
        self.rows[name] -= len(probe["data"])  # a probe, not a page: its row is read again
        if not probe["data"]:
            return
        start = datetime.fromisoformat(probe["data"][0]["updated_at"])
        end = datetime.now(UTC) + timedelta(days=1)
        cuts = [start + (end - start) * i / self.concurrency for i in range(self.concurrency)]
        cuts.append(end)
        await asyncio.gather(*(self.follow(name, a, b) for a, b in itertools.pairwise(cuts)))

    async def follow(self, name: str, since: datetime, before: datetime) -> None:
        params = {"updated_since": iso(since), "updated_before": iso(before)}
        while True:
            body = await self.get(name, params)
            if not body["has_more"]:
                return
            params = {**params, "cursor": body["next_cursor"]}


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def read_everything(url: str, key: str, concurrency: int) -> dict[str, int]:
    limits = httpx.Limits(max_connections=concurrency)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits) as client:
        floor = Floor(client, concurrency)
        await asyncio.gather(*map(floor.paged, PAGED), *map(floor.cursor, CURSOR))
    return floor.rows


def main() -> int:
    concurrency = int(os.environ["CONCURRENCY"])
    rows = asyncio.run(
        read_everything(os.environ["SHOP_API_URL"], os.environ["UPSTREAM_API_KEY"], concurrency)
    )
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
