"""`TARGET=spark` lands raw data in a lake: Parquet files per table and load day under
LAKE_BUCKET_URL, with the pipeline's state beside them, so a machine with no local state
resumes incrementally from what the lake holds (a stateless, Glue-style job)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from fsspec.implementations.local import LocalFileSystem

from ingestion import pipeline
from tests.spark_support import SparkCluster, scanned_locations
from tests.support import REPO_ROOT, read_all
from upstream.process import UpstreamProcess


def newest_versions(bucket: Path, table: str, key: str = "id") -> dict[str, datetime]:
    """Each key's newest version in the append-only raw zone (what Spark's staging keeps)."""
    files = f"{bucket}/raw/{table}/*/*.parquet"
    rows = duckdb.sql(
        f"select {key}, max(updated_at) from read_parquet('{files}', hive_partitioning = true) "
        f"group by {key}"
    ).fetchall()
    return dict(rows)


def as_utc(value: str | datetime) -> datetime:
    """A timestamp as Spark's Thrift server returns it (text, session time zone UTC)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC)


def served(upstream: UpstreamProcess, table: str) -> dict[str, datetime]:
    rows = read_all(upstream, table).items()
    return {key: datetime.fromisoformat(row["updated_at"]) for key, row in rows}


def test_the_raw_zone_is_partitioned_by_load_day_and_resumes_from_the_lake(
    upstream: UpstreamProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = tmp_path / "bucket"
    monkeypatch.setenv("LAKE_BUCKET_URL", str(bucket))
    monkeypatch.setenv("PIPELINES_DIR", str(tmp_path / "pipelines"))
    monkeypatch.setenv("UPSTREAM_API_KEY", upstream.api_key)
    monkeypatch.setenv("SOURCES__SHOP_API__BASE_URL", upstream.url)
    monkeypatch.setenv("SOURCES__CATALOG_DB__CREDENTIALS", upstream.database_url)
    monkeypatch.setenv("SOURCES__SHOP_API__RATE_LIMIT", "1000")

    days = {datetime.now(UTC).date()}
    first = pipeline.run("shop_api", "spark")
    pipeline.run("catalog_db", "spark")
    days.add(datetime.now(UTC).date())
    partitions = {p.name for p in (bucket / "raw" / "orders").iterdir()}
    assert partitions and partitions <= {f"load_date={day}" for day in days}, partitions
    assert list((bucket / "raw_catalog" / "products").glob("load_date=*/*.parquet"))
    assert newest_versions(bucket, "orders") == served(upstream, "orders")

    # A new machine: no local pipeline state. The state comes back from the lake, and the
    # run reads what changed since, not everything again.
    shutil.rmtree(tmp_path / "pipelines")
    upstream.advance(days=1)
    second = pipeline.run("shop_api", "spark")
    assert 0 < second.rows["orders"] < first.rows["orders"] / 4, (first.rows, second.rows)
    assert newest_versions(bucket, "orders") == served(upstream, "orders")
    assert newest_versions(bucket, "customers") == served(upstream, "customers")


def shop_in_a_lake(
    upstream: UpstreamProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The shop's API landed once in a lake under `tmp_path`; the bucket."""
    bucket = tmp_path / "bucket"
    for name, value in {
        "LAKE_BUCKET_URL": str(bucket),
        "PIPELINES_DIR": str(tmp_path / "pipelines"),
        "UPSTREAM_API_KEY": upstream.api_key,
        "SOURCES__SHOP_API__BASE_URL": upstream.url,
        "SOURCES__SHOP_API__RATE_LIMIT": "1000",
    }.items():
        monkeypatch.setenv(name, value)
    pipeline.run("shop_api", "spark")
    return bucket


def next_day_stopped(
    upstream: UpstreamProcess,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    stop: Callable[..., None],
) -> None:
    """The run after an upstream day, stopped by `stop` in place of LocalFileSystem's
    `method` (it raises "stopped while ...")."""
    upstream.advance(days=1)
    with monkeypatch.context() as stopping:
        stopping.setattr(LocalFileSystem, method, stop)
        with pytest.raises(BaseException, match="stopped while"):
            pipeline.run("shop_api", "spark")


def test_a_run_stopped_while_writing_its_state_leaves_the_lake_readable(
    upstream: UpstreamProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dlt writes the state file in place: a run killed mid-write left it empty, and every
    run after it stopped syncing that state back (JSONDecodeError). The lake's client writes
    it beside its name and renames it into place."""
    bucket = shop_in_a_lake(upstream, tmp_path, monkeypatch)

    # The next run stops the way a kill does: its state file begun and never finished.
    def stopped_mid_write(fs: Any, path: str, value: str, **kwargs: Any) -> None:
        if "_dlt_pipeline_state" in path:
            fs.touch(path)
            raise KeyboardInterrupt("stopped while writing the state")
        written(fs, path, value, **kwargs)

    written = LocalFileSystem.write_text
    next_day_stopped(upstream, monkeypatch, "write_text", stopped_mid_write)
    states = list((bucket / "raw" / "_dlt_pipeline_state").iterdir())
    assert all(path.stat().st_size > 0 for path in states if not path.name.startswith(".")), states

    # A new machine (no local state, the stopped run's package gone with it) resumes from
    # the lake's last whole state and loads the changes again.
    shutil.rmtree(tmp_path / "pipelines")
    pipeline.run("shop_api", "spark")
    assert newest_versions(bucket, "orders") == served(upstream, "orders")


def test_a_run_stopped_while_copying_a_data_file_leaves_no_cut_file(
    upstream: UpstreamProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dlt copies each Parquet file into the lake in place: a run stopped mid-copy left a cut
    file under its final name. A stateless rerun loads the rows again under a new load id, and
    every query over that day's files failed on the cut one. The lake's client copies beside
    the name and renames."""
    bucket = shop_in_a_lake(upstream, tmp_path, monkeypatch)

    def stopped_mid_copy(fs: Any, path1: str, path2: str, **kwargs: Any) -> None:
        if "/orders/" in path2 and ".parquet" in path2:
            content = Path(path1).read_bytes()
            Path(fs._strip_protocol(path2)).write_bytes(content[: len(content) // 2])
            raise OSError("stopped while copying a file")
        copied(fs, path1, path2, **kwargs)

    copied = LocalFileSystem.cp_file
    next_day_stopped(upstream, monkeypatch, "cp_file", stopped_mid_copy)
    shutil.rmtree(tmp_path / "pipelines")
    pipeline.run("shop_api", "spark")
    assert newest_versions(bucket, "orders") == served(upstream, "orders")  # reads every file


def test_spark_reads_the_raw_zone_through_external_tables_pruned_by_load_day(
    upstream: UpstreamProcess,
    spark_cluster: SparkCluster,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bucket = tmp_path / "bucket"
    env = {
        "LAKE_BUCKET_URL": str(bucket),
        "PIPELINES_DIR": str(tmp_path / "pipelines"),
        "UPSTREAM_API_KEY": upstream.api_key,
        "SOURCES__SHOP_API__BASE_URL": upstream.url,
        "SOURCES__CATALOG_DB__CREDENTIALS": upstream.database_url,
        "SOURCES__SHOP_API__RATE_LIMIT": "1000",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    pipeline.run("shop_api", "spark")
    pipeline.run("catalog_db", "spark")
    # The first load as if it had run the day before: its own load-day partition.
    orders = bucket / "raw" / "orders"
    (today,) = [p.name for p in orders.iterdir()]
    yesterday = orders / "load_date=2000-01-01"
    (orders / today).rename(yesterday)
    upstream.advance(days=1)
    pipeline.run("shop_api", "spark")

    dbt = [str(REPO_ROOT / ".venv/bin/dbt")]
    env = {
        **os.environ,
        "DBT_TARGET": "spark",
        "DBT_TARGET_PATH": str(tmp_path / "dbt-target"),
        "SPARK_THRIFT_PORT": str(spark_cluster.thrift_port),
    }
    result = subprocess.run(
        [*dbt, "run-operation", "spark_raw_zone_tables"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:]

    # Every version of every order, the newest per key equal to what the upstream serves.
    newest = spark_cluster.query("select id, max(updated_at) from raw.orders group by id")
    assert {key: as_utc(when) for key, when in newest} == served(upstream, "orders")
    # One load day's query reads that day's partition only: Spark's own plan scans one path,
    # the day's folder (without the filter, the table's root).
    day = today.removeprefix("load_date=")
    pruned = scanned_locations(spark_cluster, "raw.orders__versions", f"where load_date = '{day}'")
    assert pruned == f"InMemoryFileIndex(1 paths)[file:{orders / today}]", pruned
    assert (
        scanned_locations(spark_cluster, "raw.orders__versions", "")
        == f"CatalogFileIndex(1 paths)[file:{orders}]"
    )
    # The catalog's dataset and dlt's load records are tables too (the whole project on the
    # cluster: test_spark_marts).
    assert spark_cluster.query("select count(*) from raw_catalog.products")[0][0] > 0
    assert spark_cluster.query("select count(*) from raw._dlt_loads where status = 0")[0][0] >= 2

    # Declared once per schema: a later load of the same schema (new files in today's
    # partition, a day already declared) is read after the next build's declarations too.
    upstream.advance(days=1)
    pipeline.run("shop_api", "spark")
    result = subprocess.run(
        [*dbt, "run-operation", "spark_raw_zone_tables", "--debug"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "create table raw.orders__versions" not in result.stdout
    assert "msck repair table raw.orders__versions" in result.stdout
    newest = spark_cluster.query("select id, max(updated_at) from raw.orders group by id")
    assert {key: as_utc(when) for key, when in newest} == served(upstream, "orders")
