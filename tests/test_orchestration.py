"""Dagster: the definitions, a full materialization against the upstream, failing dbt tests
as failed asset checks, and runs that never overlap."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest
import yaml
from dagster import AssetKey, AssetSelection, DagsterInstance, RunConfig, materialize
from dagster_dbt import DbtProject

from ingestion import pipeline
from ingestion import warehouse as warehouse_settings
from ingestion.runlock import run_lock
from orchestration.assets import IngestConfig, catalog_db_assets, jaffle_dbt_assets, shop_api_assets
from orchestration.dbt_project import prepare_manifest
from orchestration.definitions import HOURLY_CRON, NIGHTLY_CRON, defs
from tests.support import Warehouse, assert_orders_mart_matches_upstream
from tests.test_pipeline_end_to_end import assert_raw_matches_upstream
from upstream.process import UpstreamProcess

REPO_ROOT = Path(__file__).resolve().parents[1]
ASSETS = [shop_api_assets, catalog_db_assets, jaffle_dbt_assets]


def resources() -> dict[str, object]:
    return dict(defs.resources)


def test_definitions_load_with_lineage_checks_and_schedules() -> None:
    graph = defs.resolve_asset_graph()
    keys = graph.get_all_asset_keys()
    for table in ("customers", "orders", "order_items", "tweets", "products", "stores"):
        assert AssetKey(["shop", table]) in keys
    for table in ("products", "supplies", "stores", "inventory_movements"):
        assert AssetKey(["catalog", table]) in keys
    # Each dbt source is the dlt asset that loads it.
    assert AssetKey(["shop", "orders"]) in graph.get(AssetKey(["stg_shop__orders"])).parent_keys
    assert (
        AssetKey(["catalog", "supplies"])
        in graph.get(AssetKey(["stg_catalog__supplies"])).parent_keys
    )
    checks = {key.name for key in graph.asset_check_keys}
    assert "unique_orders_order_id" in checks
    assert {s.job_name: s.cron_schedule for s in defs.schedules} == {
        "hourly_ingest_and_build": HOURLY_CRON,
        "nightly_full_test_suite": NIGHTLY_CRON,
    }
    for name in ("hourly_ingest_and_build", "nightly_full_test_suite"):
        job = defs.resolve_job_def(name)
        assert "jaffle/warehouse" in job.tags
        assert job.op_retry_policy is not None and job.op_retry_policy.max_retries == 3


def test_definitions_loaded_at_once_parse_the_project_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two loaders of the definitions at once (`dagster dev`'s webserver and daemon; two
    threads here) find the manifest missing together: one parses, the other waits and takes
    its manifest."""
    project = DbtProject(project_dir=REPO_ROOT, profiles_dir=REPO_ROOT, target_path=tmp_path)
    parses: list[list[str]] = []
    run = subprocess.run

    def counted(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        parses.append(command)
        return run(command, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(subprocess, "run", counted)
    manifests: list[Path] = []
    loaders = [
        threading.Thread(target=lambda: manifests.append(prepare_manifest(project)))
        for _ in range(2)
    ]
    for loader in loaders:
        loader.start()
    for loader in loaders:
        loader.join()
    assert len(parses) == 1, parses
    assert manifests == [project.manifest_path] * 2
    assert "model.jaffle_elt.orders" in json.loads(project.manifest_path.read_text())["nodes"]


def test_loading_the_definitions_writes_no_pipeline_state(tmp_path: Path) -> None:
    """Loading the definitions creates no dlt pipeline, so the webserver and daemon (or two
    test workers) loading them at once do not race to create its working folder."""
    pipelines = tmp_path / "pipelines"
    load = "from orchestration.definitions import defs; defs.resolve_asset_graph()"
    subprocess.run(
        [sys.executable, "-c", load],
        cwd=REPO_ROOT,
        env={**os.environ, "PIPELINES_DIR": str(pipelines)},
        check=True,
    )
    assert not pipelines.exists() or not any(pipelines.iterdir())
    spec = next(iter(shop_api_assets.specs))
    assert spec.kinds == {"dlt", "duckdb"}


def test_the_instance_runs_one_job_at_a_time_per_warehouse(tmp_path: Path) -> None:
    (tmp_path / "dagster.yaml").write_text((REPO_ROOT / "orchestration/dagster.yaml").read_text())
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
    assert (
        limits
        == yaml.safe_load((tmp_path / "dagster.yaml").read_text())["concurrency"]["runs"][
            "tag_concurrency_limits"
        ]
    )


def test_materializing_everything_lands_the_marts(
    warehouse: Warehouse, upstream: UpstreamProcess
) -> None:
    result = materialize(ASSETS, resources=resources())
    assert result.success
    assert_orders_mart_matches_upstream(warehouse, upstream)
    landed = {
        event.asset_key for event in result.get_asset_materialization_events()
    }  # every dlt resource and every dbt model
    assert AssetKey(["shop", "orders"]) in landed and AssetKey(["orders"]) in landed
    checks = result.get_asset_check_evaluations()
    assert checks and all(check.passed for check in checks)

    if warehouse.target != "duckdb":
        return
    # A duplicate in the raw orders: dbt's unique test on the source fails, as a failed
    # check of the dlt asset that loads the table, and the staging model that reads it is not
    # built. (A subset: the source's checks and that model.)
    with duckdb.connect(str(warehouse_settings.duckdb_path())) as conn:
        conn.execute("insert into raw.orders select * from raw.orders limit 1")
    raw_orders = AssetKey(["shop", "orders"])
    result = materialize(
        [jaffle_dbt_assets],
        selection=AssetSelection.assets(AssetKey(["stg_shop__orders"]))
        | AssetSelection.checks_for_assets(raw_orders),
        resources=resources(),
        raise_on_error=False,
    )
    failed = {
        (c.asset_key, c.check_name) for c in result.get_asset_check_evaluations() if not c.passed
    }
    assert (raw_orders, "source_unique_shop_orders_id") in failed
    assert not result.get_asset_materialization_events()


def test_an_ingest_never_overlaps_a_run_of_the_same_pipeline(
    warehouse: Warehouse, upstream: UpstreamProcess
) -> None:
    lock = warehouse_settings.pipelines_dir() / f"shop_api_{warehouse.target}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with run_lock(lock, wait_seconds=0):  # e.g. a `make ingest` in a terminal
        result = materialize(
            [shop_api_assets],
            resources=resources(),
            run_config=RunConfig(ops={"ingest_shop_api": IngestConfig(lock_wait_seconds=1)}),
            raise_on_error=False,
        )
    assert not result.success
    failure = result.get_step_failure_events()[0].event_specific_data.error
    assert "another run of this pipeline is in progress" in str(failure)


@pytest.fixture(autouse=True)
def _quiet_dagster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    (tmp_path / "dagster_home").mkdir()


def test_a_load_a_killed_run_left_pending_lands_once_under_dagster(
    warehouse: Warehouse, upstream: UpstreamProcess
) -> None:
    """A run killed after extracting leaves a normalized package and its state; the next
    materialization, of a subset, loads that package before extracting anew: nothing lost,
    nothing twice."""
    killed = pipeline.make_pipeline("shop_api", warehouse.target)
    killed.extract(pipeline.make_source("shop_api"))
    killed.normalize()
    assert killed.has_pending_data
    upstream.advance(days=1)  # and the upstream moved on meanwhile

    # One table selected: the whole source runs (one dlt run, one state); the one reported.
    orders = AssetKey(["shop", "orders"])
    result = materialize([shop_api_assets], selection=[orders], resources=resources())
    assert result.success
    assert {event.asset_key for event in result.get_asset_materialization_events()} == {orders}
    assert not pipeline.make_pipeline("shop_api", warehouse.target).has_pending_data
    assert_raw_matches_upstream(warehouse, upstream)
