"""A run killed after the warehouse committed a load step, before dlt recorded it: the next
run repeats the step, and every row lands once (`ingestion.replayed_loads`, `merge_ties`)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ingestion.pipeline import DATASETS
from tests.support import REPO_ROOT, Warehouse, make
from tests.test_pipeline_end_to_end import RAW_KEYS, assert_raw_matches_upstream
from upstream.process import UpstreamProcess

KILL_AFTER_COMMIT = REPO_ROOT / "tests" / "chaos" / "kill_after_commit.py"


@pytest.mark.parametrize(
    "step",
    [
        # PostgreSQL refused the state row again (UNIQUE `_dlt_id`): the run failed.
        "_dlt_pipeline_state",
        # An insert-only merge inserted the staging file's rows twice; a first load, straight
        # into the table, holds them twice until its merge.
        "order_items",
        # A first load of a delete-insert table, straight into it, twice: its merge gathers
        # every key.
        "orders",
        # The package's load was recorded twice.
        "_dlt_loads",
    ],
)
def test_a_load_step_repeated_after_a_kill_lands_once(
    warehouse: Warehouse, upstream: UpstreamProcess, step: str, tmp_path: Path
) -> None:
    killed = kill_after_commit(step, tmp_path)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert f"killed after {step} committed" in killed.stderr

    rerun = make("ingest", warehouse.target)  # both sources
    assert "a stopped run left behind" in rerun

    assert_raw_matches_upstream(warehouse, upstream)
    assert_every_row_once(warehouse)


def test_a_run_killed_after_a_merge_on_a_machine_that_loses_its_state_shows_every_row(
    warehouse: Warehouse, upstream: UpstreamProcess, tmp_path: Path
) -> None:
    """Killed right after the order items' merge committed, and the pipeline's local state
    lost with the machine (an orchestrator's container): the package is gone, and the merged
    items sit under a load id `_dlt_loads` never records, where dbt does not read. The next
    run finds no completed state in the warehouse and reads everything again; the items it
    reads again take its load instead of matching their hidden copies."""
    killed = kill_after_commit("order_items.sql", tmp_path)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    shutil.rmtree(os.environ["PIPELINES_DIR"])

    make("ingest", warehouse.target)
    assert_raw_matches_upstream(warehouse, upstream)
    assert_every_row_once(warehouse)


def kill_after_commit(step: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`python -m ingestion run --source shop_api`, killed right after `step` committed."""
    return subprocess.run(
        [sys.executable, str(KILL_AFTER_COMMIT), step, "run", "--source", "shop_api"],
        cwd=REPO_ROOT,
        # What dlt had in the temp folder when it was killed stays in the test's.
        env={**os.environ, "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
    )


def assert_every_row_once(warehouse: Warehouse) -> None:
    once = {f"raw.{table}": key for table, key in RAW_KEYS.items()}
    for dataset in DATASETS.values():
        once |= {
            f"{dataset}._dlt_pipeline_state": "_dlt_load_id",
            f"{dataset}._dlt_loads": "load_id",
        }
    for table, key in once.items():
        [(rows, keys)] = warehouse.query(f"select count(*), count(distinct {key}) from {table}")
        assert rows == keys, f"{table}: {rows - keys} rows twice"
