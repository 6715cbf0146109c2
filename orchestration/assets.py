"""Assets: one per dlt resource (specs from dagster-dlt's translator) and one per dbt model
(dagster-dbt).

The dlt assets are keyed like the dbt sources they load (`shop/orders`, `catalog/supplies`),
so the graph runs from each dlt resource through staging to the marts. They run through
`ingestion.pipeline.run`, the code path of `make ingest`, not `DagsterDltResource.run`: that
one drops the pipeline's local state before every run, outside any lock, which would pull the
working directory from under a concurrent run of the same pipeline. Ours holds the pipeline's
run lock, lets dlt finish a package a killed run left pending before extracting anew, rolls
the state back when the warehouse refuses a load, and writes the run summary.
"""

# No `from __future__ import annotations`: Dagster reads the config classes from the
# annotations of the asset functions at definition time.
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Config,
    Failure,
    FreshnessPolicy,
    MaterializeResult,
    multi_asset,
)
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource
from dagster_dbt import dbt_assets as dbt_assets_decorator
from dagster_dlt import DagsterDltTranslator
from dagster_dlt.translator import DltResourceTranslatorData

from ingestion import pipeline, warehouse
from ingestion.catalog_db import catalog_db
from ingestion.publish import publish_target
from ingestion.shop_api import shop_api
from ingestion.shop_api.rejects import REFETCH
from orchestration.dbt_project import jaffle_dbt, prepare_manifest

# The dbt source each dlt source lands in (models/staging/*/_*__sources.yml).
DBT_SOURCE_OF = {"shop_api": "shop", "catalog_db": "catalog"}
DESCRIPTIONS = {
    "shop_api": "`{dataset}.{table}`: the shop API's `/v1/{table}`, loaded incrementally by "
    "the `shop_api` dlt pipeline (`make ingest`: cursor on `updated_at`, merged on its key).",
    "catalog_db": "`{dataset}.{table}`: the catalog database's `{table}` table, loaded "
    "incrementally by the `catalog_db` dlt pipeline (`make ingest`: cursor on `updated_at`).",
}


class IngestConfig(Config):
    """How long a run waits for a run of the same pipeline in progress, then refuses."""

    lock_wait_seconds: float = 600.0


class DbtBuildConfig(Config):
    """The hourly build skips the singular tests (whole-table reconciliations) and, as `make
    build` does, the unit tests (they change with the code, not the data); the nightly one
    runs everything and checks source freshness."""

    full_test_suite: bool = True


class JaffleDltTranslator(DagsterDltTranslator):
    """Specs from the resources alone. dagster-dlt reads the destination's name off a dlt
    pipeline, but creating one creates its working folder; Dagster's webserver and daemon
    load the definitions at once, and two processes creating one folder collide (dlt creates
    it with `exist_ok=False`). The name comes from the destination instead."""

    def __init__(self, source_name: str, destination_name: str) -> None:
        self.source_name = source_name
        self.destination_name = destination_name

    def get_asset_spec(self, data: DltResourceTranslatorData) -> AssetSpec:
        spec = super().get_asset_spec(data)
        table = data.resource.name
        return spec.replace_attributes(
            kinds={"dlt", self.destination_name},
            key=AssetKey([DBT_SOURCE_OF[self.source_name], table]),
            description=DESCRIPTIONS[self.source_name].format(
                table=table, dataset=pipeline.DATASETS[self.source_name]
            ),
            group_name=self.source_name,
            deps=[],
            # Surfaced in the UI: a raw table not loaded for an hour is late, for two stale.
            freshness_policy=FreshnessPolicy.time_window(
                fail_window=timedelta(hours=2), warn_window=timedelta(hours=1)
            ),
        )


def definition_source(source_name: str) -> Any:
    """The source, only to list its resources: no secrets and no database needed."""
    if source_name == "shop_api":
        return shop_api(base_url="http://127.0.0.1", api_key="unused-when-listing-resources")
    return catalog_db(credentials="sqlite://", defer_table_reflect=True)


def materialize_results(summary: pipeline.RunSummary, source_name: str) -> Iterator[Any]:
    for resource, rows in sorted(summary.rows.items()):
        if resource.endswith("__rejected"):
            continue
        yield MaterializeResult(
            asset_key=AssetKey([DBT_SOURCE_OF[source_name], resource]),
            metadata={"rows_loaded": rows, "run_verdict": summary.verdict},
        )


def ingestion_assets(source_name: str) -> Any:
    target = warehouse.loading_target(warehouse.default_target())
    translator = JaffleDltTranslator(source_name, warehouse.destination(target).destination_name)
    specs = [
        translator.get_asset_spec(DltResourceTranslatorData(resource=resource, pipeline=None))
        for resource in definition_source(source_name).selected_resources.values()
        # A table's second resource (its rejects fetched again) loads the same table.
        if not resource.name.endswith(REFETCH)
    ]

    @multi_asset(name=f"ingest_{source_name}", specs=specs, can_subset=True)
    def assets(context: AssetExecutionContext, config: IngestConfig) -> Iterator[Any]:
        # The target is read when the run starts ($DBT_TARGET), as `make ingest` does. The
        # whole source runs (one dlt run, one state), whichever of its tables were selected.
        target = warehouse.default_target()
        summary = pipeline.run(source_name, target, wait_seconds=config.lock_wait_seconds)
        context.log.info("\n".join(summary.lines()))
        selected = context.selected_asset_keys
        for result in materialize_results(summary, source_name):
            if result.asset_key in selected:
                yield result
        # Resources with nothing new still ran: report them, so every selected asset lands.
        loaded = {AssetKey([DBT_SOURCE_OF[source_name], table]) for table in summary.rows}
        for key in selected - loaded:
            yield MaterializeResult(asset_key=key, metadata={"rows_loaded": 0})
        if summary.stopped:
            # What was read landed (reported above); the run still fails, so the schedule's
            # next tick or a retry reads the rest.
            raise Failure(f"{source_name} stopped early: {summary.stopped}")

    return assets


shop_api_assets = ingestion_assets("shop_api")
catalog_db_assets = ingestion_assets("catalog_db")


class JaffleDbtTranslator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return dbt_resource_props["fqn"][1] if len(dbt_resource_props["fqn"]) > 2 else None


@dbt_assets_decorator(
    manifest=prepare_manifest(),
    project=jaffle_dbt,
    dagster_dbt_translator=JaffleDbtTranslator(
        settings=DagsterDbtTranslatorSettings(
            enable_asset_checks=True, enable_source_tests_as_checks=True
        )
    ),
)
def jaffle_dbt_assets(
    context: AssetExecutionContext, dbt: DbtCliResource, config: DbtBuildConfig
) -> Iterator[Any]:
    args = ["build"]
    if not config.full_test_suite:
        args += ["--exclude", "test_type:singular", "--exclude-resource-type", "unit_test"]
    # A subset (some assets materialized from the UI) runs the tests of the selected models
    # whose other parents it builds too: a relationships test to a model that is not in the
    # subset would read a table this run did not build, or that does not exist yet. A run of
    # every asset selects everything, so this changes nothing there.
    args += ["--indirect-selection", "cautious"]
    if warehouse.default_target() == "lake":
        warehouse.lake_root()
    yield from dbt.cli(args, context=context).stream()
    # The marts for readers, as `make build` publishes them.
    published = publish_target(warehouse.default_target())
    if published is not None:
        where, tables = published
        context.log.info(f"published {tables} tables for readers in {where}")
    if config.full_test_suite:
        # dbt's own freshness check of the raw tables (the sources' loaded_at_query): fails
        # the run when a source is past its error_after.
        dbt.cli(["source", "freshness"], raise_on_error=True).wait()
