"""A long history read window by window: a run killed midway resumes, losing and duplicating
nothing."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from ingestion import pipeline
from ingestion import warehouse as warehouse_settings
from tests.support import REPO_ROOT, Warehouse, read_all
from tests.test_pipeline_end_to_end import assert_raw_matches_upstream, orders_cursor
from upstream.process import UpstreamProcess


def test_backfill_killed_midway_resumes_without_loss_or_duplicates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = secrets.token_hex(16)
    slow = ("--latency-ms", "15", "--jitter-ms", "0", "--rate-limit", "0")
    with UpstreamProcess(key, "--orders", "3000", *slow) as upstream:
        env = {
            **os.environ,
            "DBT_TARGET": "duckdb",
            "DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
            "PIPELINES_DIR": str(tmp_path / "pipelines"),
            "UPSTREAM_API_KEY": key,
            "SOURCES__SHOP_API__BASE_URL": upstream.url,
        }
        command = [
            sys.executable,
            "-m",
            "ingestion",
            "run",
            "--source",
            "shop_api",
            "--backfill-days",
            "7",
        ]
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True
        )
        assert process.stdout is not None
        committed = 0
        for line in process.stdout:
            if "committed" in line:
                committed += 1
                if committed == 3:
                    process.send_signal(signal.SIGKILL)
                    break
        process.wait()
        assert committed == 3, "the backfill finished before it could be killed"

        monkeypatch.setenv("DBT_TARGET", "duckdb")
        for name in (
            "DUCKDB_PATH",
            "PIPELINES_DIR",
            "UPSTREAM_API_KEY",
            "SOURCES__SHOP_API__BASE_URL",
        ):
            monkeypatch.setenv(name, env[name])
        resumed = pipeline.run("shop_api", "duckdb", backfill_days=7)
        assert resumed.runs > 1
        assert resumed.rows["orders"] < 0.9 * 3000  # it went on, it did not start over
        assert_raw_matches_upstream(Warehouse("duckdb"), upstream)

        # Caught up: the next run is an ordinary incremental one.
        assert pipeline.run("shop_api", "duckdb", backfill_days=7).runs == 1


@pytest.mark.parametrize("warehouse", ["duckdb"], indirect=True)
@pytest.mark.clock
def test_an_explicit_window_reloads_its_rows_and_leaves_the_cursor(
    warehouse: Warehouse, upstream: UpstreamProcess
) -> None:
    pipeline.run("shop_api", "duckdb")
    cursor = orders_cursor("duckdb")
    days = sorted({row["updated_at"][:10] for row in read_all(upstream, "orders").values()})
    start, end = days[10], days[20]

    # Damage the raw table inside the window, as a bad manual fix would.
    with duckdb.connect(str(warehouse_settings.duckdb_path())) as conn:
        deleted = conn.execute(
            "delete from raw.orders where updated_at >= ?::timestamptz "
            "and updated_at < ?::timestamptz",
            [f"{start} 00:00:00+00", f"{end} 00:00:00+00"],
        ).fetchall()[0][0]
    assert deleted > 0

    summary = pipeline.run("shop_api", "duckdb", start=start, end=end)
    in_window = read_all(
        upstream, "orders", updated_since=f"{start}T00:00:00Z", updated_before=f"{end}T00:00:00Z"
    )
    assert summary.rows["orders"] == len(in_window) == deleted
    assert_raw_matches_upstream(warehouse, upstream)
    assert orders_cursor("duckdb") == cursor
