"""`Definitions` for `dagster dev -m orchestration.definitions` (see `make orchestrate`)."""

from __future__ import annotations

import os
from typing import Any

from dagster import (
    AssetSelection,
    Backoff,
    DefaultScheduleStatus,
    Definitions,
    Jitter,
    RetryPolicy,
    RunConfig,
    ScheduleDefinition,
    define_asset_job,
)
from dagster_dbt import DbtCliResource

from ingestion import warehouse
from orchestration.assets import (
    DbtBuildConfig,
    catalog_db_assets,
    jaffle_dbt_assets,
    shop_api_assets,
)
from orchestration.dbt_project import DBT_EXECUTABLE, jaffle_dbt

HOURLY_CRON = "0 * * * *"
NIGHTLY_CRON = "30 2 * * *"
# Transient failures (an upstream outage, a warehouse restart) are retried, spaced out.
RETRY = RetryPolicy(max_retries=3, delay=60, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)
# One run at a time per warehouse: dagster.yaml limits runs carrying this tag to one.
RUN_TAGS = {"jaffle/warehouse": warehouse.default_target()}

# Schedules start stopped (Dagster's default: a UI started to look around never ingests by
# itself); `make orchestrate SCHEDULES=on` starts them running.
SCHEDULE_STATUS = (
    DefaultScheduleStatus.RUNNING
    if os.environ.get("JAFFLE_SCHEDULES", "off") == "on"
    else DefaultScheduleStatus.STOPPED
)

ingestion = [shop_api_assets, catalog_db_assets]
everything = AssetSelection.assets(*ingestion, jaffle_dbt_assets)


def ingest_and_build_job(name: str, description: str, full_test_suite: bool) -> Any:
    return define_asset_job(
        name,
        selection=everything,
        description=description,
        config=RunConfig(
            ops={"jaffle_dbt_assets": DbtBuildConfig(full_test_suite=full_test_suite)}
        ),
        op_retry_policy=RETRY,
        tags=RUN_TAGS,
    )


hourly_job = ingest_and_build_job(
    "hourly_ingest_and_build",
    "Incremental ingest of both sources, then dbt build without the singular and unit tests.",
    full_test_suite=False,
)
nightly_job = ingest_and_build_job(
    "nightly_full_test_suite",
    "Ingest, dbt build with every test (reconciliations included), source freshness.",
    full_test_suite=True,
)

defs = Definitions(
    assets=[*ingestion, jaffle_dbt_assets],
    jobs=[hourly_job, nightly_job],
    schedules=[
        ScheduleDefinition(
            job=job, cron_schedule=cron, execution_timezone="UTC", default_status=SCHEDULE_STATUS
        )
        for job, cron in ((hourly_job, HOURLY_CRON), (nightly_job, NIGHTLY_CRON))
    ],
    # The dbt of this virtualenv, whether or not it is on PATH.
    resources={"dbt": DbtCliResource(project_dir=jaffle_dbt, dbt_executable=DBT_EXECUTABLE)},
)
