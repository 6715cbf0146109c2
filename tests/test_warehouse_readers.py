"""Readers of the DuckDB warehouse (a notebook, a BI tool) read the published snapshot:
polling it through an ingest and `make build`, a reader never fails, never blocks a load,
and sees only whole builds."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import duckdb
import pytest

from ingestion.publish import published_path
from tests.support import REPO_ROOT, Warehouse
from tests.test_warehouse_models import ingest
from upstream.process import UpstreamProcess

TOTALS = "select count(*), sum(order_total) from analytics.orders"
Totals = tuple[int, Decimal]


class Reader:
    """Polls the published snapshot from a thread, as a dashboard would; keeps each
    connection open for a few reads, so a snapshot is replaced while it is being read."""

    def __init__(self) -> None:
        self.seen: list[Totals] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                with duckdb.connect(str(published_path()), read_only=True) as conn:
                    for _ in range(5):
                        self.seen.append(conn.execute(TOTALS).fetchone())  # type: ignore[arg-type]
                        time.sleep(0.02)
            except duckdb.Error as error:
                self.errors.append(str(error))

    def wait_to_see(self, totals: Totals, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while totals not in self.seen[-3:]:
            assert time.monotonic() < deadline, f"the reader never saw {totals}"
            time.sleep(0.05)

    @contextmanager
    def running(self) -> Iterator[Reader]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(timeout=10)


def make_build() -> None:
    """`make build` as a user runs it (dbt build, then the snapshot for readers)."""
    result = subprocess.run(
        ["make", "build"], cwd=REPO_ROOT, env=os.environ, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "publish: " in result.stdout


@pytest.mark.parametrize("warehouse", ["duckdb"], indirect=True)
def test_a_reader_polling_through_loads_and_builds_sees_only_whole_builds(
    warehouse: Warehouse, upstream: UpstreamProcess
) -> None:
    ingest(warehouse.target)
    make_build()
    built: list[Totals] = [warehouse.query(TOTALS)[0]]  # type: ignore[list-item]
    with Reader().running() as reader:
        reader.wait_to_see(built[0])
        upstream.advance(days=2)
        ingest(warehouse.target)  # the reader keeps reading the first build meanwhile
        make_build()
        built.append(warehouse.query(TOTALS)[0])  # type: ignore[arg-type]
        reader.wait_to_see(built[-1])  # certain, not luck: waited for
    assert reader.errors == []
    assert len(set(built)) == 2, built  # the round changed the orders
    assert set(reader.seen) <= set(built), set(reader.seen) - set(built)
