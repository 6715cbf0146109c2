"""The Dagster definitions with `DBT_TARGET=spark`: the ingest assets land the raw zone in the
lake and the dbt assets build on the cluster, as `make orchestrate` runs them with TARGET=spark."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import AssetKey, AssetSelection, materialize

from orchestration.assets import catalog_db_assets, jaffle_dbt_assets, shop_api_assets
from orchestration.definitions import defs
from tests.spark_support import SparkCluster
from tests.support import read_all
from upstream.process import UpstreamProcess


def test_dagster_ingests_into_the_lake_and_builds_on_spark(
    upstream: UpstreamProcess,
    spark_cluster: SparkCluster,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for database in ("analytics", "raw", "raw_catalog"):
        spark_cluster.query(f"drop database if exists {database} cascade")
    settings = {
        "DBT_TARGET": "spark",
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "LAKE_BUCKET_URL": str(tmp_path / "lake"),
        "PIPELINES_DIR": str(tmp_path / "pipelines"),
        "UPSTREAM_API_KEY": upstream.api_key,
        "SOURCES__SHOP_API__BASE_URL": upstream.url,
        "SOURCES__CATALOG_DB__CREDENTIALS": upstream.database_url,
        "SOURCES__SHOP_API__RATE_LIMIT": "1000",
        "SPARK_THRIFT_PORT": str(spark_cluster.thrift_port),
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
