"""dlt's PostgreSQL destination with the tie rule of `ingestion.merge_ties` in its merges, load
steps that a run after a kill can repeat (`ingestion.replayed_loads`) and first loads straight
into their tables (`ingestion.first_loads`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dlt.destinations.impl.postgres.factory import postgres as postgres_destination
from dlt.destinations.impl.postgres.postgres import PostgresClient

from ingestion.first_loads import FirstLoadMergeJob, FirstLoads
from ingestion.merge_ties import TieBreakingMergeJob
from ingestion.replayed_loads import ReplaySafeLoads


class WarehouseMergeJob(FirstLoadMergeJob, TieBreakingMergeJob):
    pass


class WarehousePostgresClient(FirstLoads, ReplaySafeLoads, PostgresClient):
    def _create_merge_followup_jobs(self, table_chain: Sequence[Any]) -> list[Any]:
        return [WarehouseMergeJob.from_table_chain(table_chain, self.sql_client)]


class postgres_warehouse(postgres_destination):
    """dlt's `postgres` destination with the client above (lowercase, as dlt names its
    destination factories)."""

    @property
    def client_class(self) -> type[PostgresClient]:
        return WarehousePostgresClient
