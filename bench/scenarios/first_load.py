"""A merge table's first load: through dlt's staging dataset, as dlt loads every merge, vs
straight into the table (`ingestion.first_loads`), with the merge that follows either way.
The same extracted package loads into a new warehouse each time, with the warehouse's own
destination and only the straight path switched off for the baseline; both must leave the
same rows."""

from __future__ import annotations

import itertools
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.destination import Destination

from bench.databases import scratch_postgres_database
from bench.runner import BenchConfig, Result, alternate, compare, scenario
from bench.scenarios.bulk_load import order_items
from ingestion.duckdb_destination import (
    GuardedDuckDbCredentials,
    WarehouseDuckDbClient,
    duckdb_warehouse,
)
from ingestion.postgres_destination import WarehousePostgresClient, postgres_warehouse
from ingestion.shop_api.endpoints import INSERT_ONLY
from ingestion.warehouse import postgres_url

PIPELINE = "first_load"
DATASET = "first_load"
REPEATED = 0.001  # rows changed while the run read them: their key arrives twice
# What a load must leave, besides rows and keys: sums that tell which version of a key won.
HELD = {"orders": "sum(amount), max(updated_at)", "order_items": "sum(price), min(updated_at)"}


class ThroughStaging:
    """The warehouse's job client with the straight path off: every merge through staging."""

    def _can_load_straight(self, table_name: str) -> bool:
        return False


class DuckDbThroughStaging(ThroughStaging, WarehouseDuckDbClient):
    pass


class PostgresThroughStaging(ThroughStaging, WarehousePostgresClient):
    pass


class duckdb_through_staging(duckdb_warehouse):
    @property
    def client_class(self) -> type[WarehouseDuckDbClient]:
        return DuckDbThroughStaging


class postgres_through_staging(postgres_warehouse):
    @property
    def client_class(self) -> type[WarehousePostgresClient]:
        return PostgresThroughStaging


def shop_tables(rows: int) -> tuple[pa.Table, pa.Table]:
    """Orders (merge, newest `updated_at` wins; a few keys twice) and their items
    (insert-only), shaped like the shop's."""
    items = order_items(rows)
    orders = items.rename_columns(["id", "customer_id", "sku", "quantity", "amount", "updated_at"])
    repeated = orders.slice(0, max(int(rows * REPEATED), 1))
    later = pc.add(repeated["updated_at"], pa.scalar(1_000_000, pa.duration("us")))
    repeated = repeated.set_column(5, "updated_at", later)
    return pa.concat_tables([orders, repeated]), items


def extracted_package(rows: int, pipelines: Path, destination: Destination) -> None:
    """Extract and normalize the tables once, into `pipelines`: the package every run loads
    (normalized for `destination`'s capabilities)."""
    orders, items = shop_tables(rows)
    pipeline = dlt.pipeline(
        PIPELINE, destination=destination, dataset_name=DATASET, pipelines_dir=str(pipelines)
    )
    pipeline.extract(
        [
            dlt.resource(
                orders,
                name="orders",
                primary_key="id",
                write_disposition="merge",
                columns={"updated_at": {"dedup_sort": "desc"}},
            ),
            dlt.resource(
                items, name="order_items", primary_key="id", write_disposition=INSERT_ONLY
            ),
        ],
        loader_file_format="parquet",
    )
    pipeline.normalize()


def load_once(package: Path, destination: Destination, dataset: str) -> tuple[float, tuple]:
    """Load a copy of the package with `destination` into `dataset`: the seconds, and what
    the tables hold (rows, keys, and sums that tell which version of each order was kept)."""
    with tempfile.TemporaryDirectory(prefix="bench-first-load-") as scratch:
        pipelines = Path(scratch) / "pipelines"
        shutil.copytree(package, pipelines)
        pipeline = dlt.pipeline(
            PIPELINE, destination=destination, dataset_name=dataset, pipelines_dir=str(pipelines)
        )
        started = time.perf_counter()
        pipeline.load().raise_on_failed_jobs()
        seconds = time.perf_counter() - started
        with pipeline.sql_client() as client:
            held = tuple(
                tuple(
                    client.execute_sql(
                        f"select count(*), count(distinct id), {sums} from "
                        f"{client.make_qualified_table_name(table)}"
                    )[0]
                )
                for table, sums in HELD.items()
            )
        return seconds, held


@contextmanager
def warehouses(target: str, scratch: Path) -> Iterator[Callable[[bool], Destination]]:
    """New warehouses of `target`: loading through staging (True) or straight (False)."""
    if target == "duckdb":
        runs = itertools.count()

        def duckdb_destination(through_staging: bool) -> Destination:
            credentials = GuardedDuckDbCredentials()
            credentials.database = str(scratch / f"warehouse-{next(runs)}.duckdb")
            factory = duckdb_through_staging if through_staging else duckdb_warehouse
            return factory(credentials=credentials, destination_name="duckdb")

        yield duckdb_destination
        return
    with scratch_postgres_database("first_load_bench") as database:
        url = postgres_url(database)

        def postgres_destination(through_staging: bool) -> Destination:
            factory = postgres_through_staging if through_staging else postgres_warehouse
            return factory(credentials=url, destination_name="postgres")

        yield postgres_destination


def first_load(config: BenchConfig, target: str, engine: str) -> Result:
    rows = min(config.scale, 10_000 if config.quick else 1_000_000)
    held: dict[bool, set[tuple]] = {True: set(), False: set()}
    datasets = itertools.count()
    with tempfile.TemporaryDirectory(prefix="bench-first-load-") as scratch:
        package = Path(scratch) / "package"
        with warehouses(target, Path(scratch)) as warehouse:
            extracted_package(rows, package, warehouse(False))

            def run(through_staging: bool) -> Callable[[], float]:
                def timed() -> float:
                    dataset = f"{DATASET}_{next(datasets)}"
                    seconds, tables = load_once(package, warehouse(through_staging), dataset)
                    held[through_staging].add(tables)
                    return seconds

                return timed

            base, opt = alternate(config.repetitions, run(True), run(False))
    (orders, items), *others = held[True] | held[False]
    if others or orders[:2] != (rows, rows) or items[:2] != (rows, rows):
        raise RuntimeError(f"the first loads differ or lost rows ({rows:,} each): {held}")
    return compare(
        f"first-load-{target}",
        f"First load of merge tables: through staging vs straight, {engine}",
        f"dlt loading one extracted package, {rows:,} orders ({REPEATED:.1%} of them twice, "
        f"changed while read) and {rows:,} order items, Parquet, into a new {engine} "
        "dataset: each merge table through a staging table, as dlt does, vs straight into "
        "the empty table with only repeated keys merged through staging; same rows kept",
        ("through staging", "straight"),
        (base, opt),
        "s",
        ">= 1.3x",
        lower_is_better=True,
        passed=lambda r: r >= 1.3,
    )


@scenario("first-load-duckdb")
def first_load_duckdb(config: BenchConfig) -> Result:
    return first_load(config, "duckdb", "DuckDB")


@scenario("first-load-postgres")
def first_load_postgres(config: BenchConfig) -> Result:
    return first_load(config, "postgres", "PostgreSQL")
