"""Load steps that a run after a kill repeats, and that change nothing the second time.

dlt loads a package job by job and records each finished job on local disk after the
warehouse committed it; it records the package's load in `_dlt_loads` before it marks the
package complete. A process killed between a commit and its record (`kill -9`, an
orchestrator's timeout, a lost machine) resumes the package next run and runs that step again.
Three such steps did not take it:

- A staging file loaded again into a merge's staging table is there twice. dlt's
  delete-insert merge keeps one row per key; its insert-only merge (order items, tweets)
  inserted both. A job run again is recorded in the package's destination state, and the merge
  of that table then takes one row per key (`merge_ties`); other merges pay nothing for it.
- The pipeline state row, appended to `_dlt_pipeline_state`: PostgreSQL refused the same
  `_dlt_id` again (dlt makes it UNIQUE there) and the run failed; DuckDB kept it twice. A
  package holds one state row, written by one job in one transaction: when a row of this
  package is in the table, the job committed before, and it is not run again.
- The `_dlt_loads` row of the package: recorded once; a second one is not added.
"""

from __future__ import annotations

from typing import Any

from dlt.common import logger
from dlt.common.schema import Schema
from dlt.common.storages import ParsedLoadJobFileName
from dlt.common.storages.exceptions import CurrentLoadPackageStateNotAvailable
from dlt.common.storages.load_package import commit_load_package_state, destination_state
from dlt.destinations.insert_job_client import InsertValuesLoadJob

LOAD_ID = "_dlt_load_id"
REPLAYED_TABLES = "replayed_tables"  # in the load package's destination state


def record_replay(table_name: str) -> None:
    tables = destination_state().setdefault(REPLAYED_TABLES, [])
    if table_name not in tables:
        tables.append(table_name)
        commit_load_package_state()


def was_replayed(table_name: str) -> bool:
    """Whether a load job of `table_name` ran again in the package being loaded."""
    try:
        return table_name in destination_state().get(REPLAYED_TABLES, [])
    except CurrentLoadPackageStateNotAvailable:  # outside a load (SQL generated for a test)
        return False


class StateRowJob(InsertValuesLoadJob):
    """dlt's insert job for the state row, run again: skipped when the row of its package is
    stored."""

    def run(self) -> None:
        sql_client = self._job_client.sql_client
        table = sql_client.make_qualified_table_name(self.load_table_name)
        load_id = sql_client.escape_column_name(self._schema.naming.normalize_identifier(LOAD_ID))
        stored = sql_client.execute_sql(
            f"SELECT 1 FROM {table} WHERE {load_id} = %s LIMIT 1", self._load_id
        )
        if stored:
            logger.info(f"state row of load {self._load_id} was stored by an earlier attempt")
            return
        super().run()


class ReplaySafeLoads:
    """Mixin for a dlt SQL job client (before it in the bases): replays recorded, the state
    job above, and `complete_load` recorded once per load id."""

    schema: Schema  # the job client's
    sql_client: Any

    def create_load_job(
        self, table: Any, file_path: str, load_id: str, restore: bool = False
    ) -> Any:
        if restore:  # a job that started in an earlier run and was not recorded as finished
            record_replay(table["name"])
            is_state = table["name"] == self.schema.state_table_name
            if is_state and ParsedLoadJobFileName.parse(file_path).file_format == "insert_values":
                return StateRowJob(file_path)
        return super().create_load_job(table, file_path, load_id, restore)

    def complete_load(self, load_id: str) -> None:
        sql_client = self.sql_client
        loads = sql_client.make_qualified_table_name(self.schema.loads_table_name)
        column = sql_client.escape_column_name(self.schema.naming.normalize_identifier("load_id"))
        if sql_client.execute_sql(f"SELECT 1 FROM {loads} WHERE {column} = %s", load_id):
            logger.info(f"load {load_id} was recorded as complete by an earlier attempt")
            return
        super().complete_load(load_id)
