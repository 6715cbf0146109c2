"""dlt's DuckDB destination with two fixes, made through its extension points (and the
replay-safe load steps of `ingestion.replayed_loads`, as on PostgreSQL).

One process at a time on the file. DuckDB lets a single process write a database file, and
inside that process all connections to the file must share one database instance. dlt's
DuckDB connection pool opens the file when a load (or the state sync before it) borrows its
first connection and closes it when the last one is returned; each pipeline has pools of its
own. Two pipelines loading one file from threads of one process (`--source all`) could then
race: one pool closes the instance while another opens the file again, and DuckDB refuses with
"Unique file handle conflict". Two processes (a terminal `make ingest` and a Dagster run) would
fail on DuckDB's file lock. `GuardedConnectionPool` opens and closes the file under one lock per
file and process, and holds an advisory lock on `<file>.lock` while the process has the file
open: a second process waits for it, with a message, instead of failing.

Merges in bounded memory. dlt deduplicates a merge's staging table with
`ROW_NUMBER() OVER (PARTITION BY key)`, which DuckDB cannot spill: on a first load of 10M
orders it ran out of memory at a 2 GB limit. `SpillableDedupMergeJob` counts keys with a
GROUP BY (which spills), takes rows whose key is unique as they are, and ranks only the rows
of duplicated keys: same rows, same `dedup_sort` order, memory bounded by `memory_limit`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dlt.common.configuration import configspec
from dlt.common.schema.typing import TSortOrder
from dlt.destinations.impl.duckdb.configuration import (
    DuckDbClientConfiguration,
    DuckDbConnectionPool,
    DuckDbCredentials,
)
from dlt.destinations.impl.duckdb.duck import DuckDbClient
from dlt.destinations.impl.duckdb.factory import duckdb as duckdb_destination

from ingestion.first_loads import FirstLoadMergeJob, FirstLoads
from ingestion.merge_ties import TieBreakingMergeJob
from ingestion.replayed_loads import ReplaySafeLoads
from ingestion.warehouse_file import open_file


class GuardedConnectionPool(DuckDbConnectionPool):
    """dlt's pool; opening and closing the file go through this process's `_OpenFile`.
    Locks are always taken pool first, file second, as dlt's `return_conn` does."""

    def borrow_conn(self, *args: Any, **kwargs: Any) -> Any:
        with self._conn_lock:
            if self._conn is not None or not self._conn_owner:
                return super().borrow_conn(*args, **kwargs)
            file = open_file(self.credentials._conn_str())
            with file.lock:
                file.opened()
                try:
                    return super().borrow_conn(*args, **kwargs)
                finally:
                    if self._conn is None:  # the open failed
                        file.closed()

    def _close_conn(self) -> None:
        if self._conn is None:
            return
        file = open_file(self.credentials._conn_str())
        with file.lock:
            super()._close_conn()
            file.closed()


@configspec(init=False)
class GuardedDuckDbCredentials(DuckDbCredentials):
    def on_resolved(self) -> None:
        super().on_resolved()
        self.conn_pool = GuardedConnectionPool(self)

    def __str__(self) -> str:
        # As dlt's, which builds it with SQLAlchemy's URL class (0.16 s of imports, for a log).
        return f"{self.drivername}:///{self.database}"


@configspec(init=False)
class GuardedDuckDbClientConfiguration(DuckDbClientConfiguration):
    credentials: GuardedDuckDbCredentials = None


class SpillableDedupMergeJob(FirstLoadMergeJob, TieBreakingMergeJob):
    @classmethod
    def gen_select_from_dedup_sql(
        cls,
        table_name: str,
        primary_keys: Sequence[str],
        columns: Sequence[str],
        dedup_sort: tuple[str, TSortOrder] | None = None,
        condition: str | None = None,
        condition_columns: Sequence[str] | None = None,
        skip_dedup: bool = False,
    ) -> str:
        if skip_dedup or not primary_keys:
            return super().gen_select_from_dedup_sql(
                table_name, primary_keys, columns, dedup_sort, condition, condition_columns, True
            )
        keys = ", ".join(primary_keys)
        on = " AND ".join(f"_dlt_s.{key} = _dlt_d.{key}" for key in primary_keys)
        duplicated = (
            f"(SELECT {keys} FROM {table_name} GROUP BY {keys} HAVING count(*) > 1) AS _dlt_d"
        )
        unique_rows = (
            f"SELECT {', '.join(f'_dlt_s.{c}' for c in columns)} FROM {table_name} AS _dlt_s "
            f"ANTI JOIN {duplicated} ON {on} WHERE {condition or '1 = 1'}"
        )
        ranked_rows = super().gen_select_from_dedup_sql(
            f"(SELECT _dlt_s.* FROM {table_name} AS _dlt_s SEMI JOIN {duplicated} ON {on})",
            primary_keys,
            columns,
            dedup_sort,
            condition,
            condition_columns,
        )
        return f"{unique_rows}\nUNION ALL\n{ranked_rows}"


class WarehouseDuckDbClient(FirstLoads, ReplaySafeLoads, DuckDbClient):
    def _create_merge_followup_jobs(self, table_chain: Sequence[Any]) -> list[Any]:
        return [SpillableDedupMergeJob.from_table_chain(table_chain, self.sql_client)]


class duckdb_warehouse(duckdb_destination):
    """dlt's `duckdb` destination with the pool, merge job, replay-safe loads and straight
    first loads (`ingestion.first_loads`) above (lowercase, as dlt names its destination
    factories)."""

    spec = GuardedDuckDbClientConfiguration

    @property
    def client_class(self) -> type[DuckDbClient]:
        return WarehouseDuckDbClient
