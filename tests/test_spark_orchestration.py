"""The Dagster definitions with `DBT_TARGET=spark`: the ingest assets land the raw zone in the
lake and the dbt assets build on the cluster, as `make orchestrate` runs them with TARGET=spark."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import AssetKey, AssetSelection, materialize

from orchestration.assets import catalog_db_assets, jaffle_dbt_assets, shop_api_assets
from orchestration.definitions import defs
from tests.spark_support import SparkCluster, lake_settings
from tests.support import read_all
from upstream.process import UpstreamProcess


def test_dagster_ingests_into_the_lake_and_builds_on_spark(
    upstream: UpstreamProcess,
    spark_cluster: SparkCluster,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = {
        **lake_settings(upstream, tmp_path, spark_cluster),
        "DBT_TARGET": "spark",
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "dagster_home").mkdir()

    # Both sources (a source runs whole), then the locations mart, what it is built from and
    # their checks; the run's dbt source freshness too.
    locations = AssetKey(["locations"])
    result = materialize(
        [shop_api_assets, catalog_db_assets, jaffle_dbt_assets],
        selection=AssetSelection.assets(locations).upstream()
        | AssetSelection.assets(catalog_db_assets),
        resources=dict(defs.resources),
    )
    assert result.success
    landed = {event.asset_key for event in result.get_asset_materialization_events()}
    assert {AssetKey(["shop", "stores"]), AssetKey(["stg_shop__stores"]), locations} <= landed
    checks = result.get_asset_check_evaluations()
    assert checks and all(check.passed for check in checks)
    stores = {key: row["name"] for key, row in read_all(upstream, "stores").items()}
    built = spark_cluster.query("select location_id, location_name from analytics.locations")
    assert dict(built) == stores
    # The ingest landed the lake for the next build: the orders as the upstream serves them.
    orders = spark_cluster.query("select count(*) from raw.orders")[0][0]
    assert orders == len(read_all(upstream, "orders"))
