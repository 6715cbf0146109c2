"""`TARGET=spark` lands raw data in a lake: Parquet files per table and load day under
LAKE_BUCKET_URL, with the pipeline's state beside them, so a machine with no local state
resumes incrementally from what the lake holds (a stateless, Glue-style job)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from ingestion import pipeline
from tests.support import read_all
from upstream.process import UpstreamProcess


def newest_versions(bucket: Path, table: str, key: str = "id") -> dict[str, datetime]:
    """Each key's newest version in the append-only raw zone (what Spark's staging keeps)."""
    files = f"{bucket}/raw/{table}/*/*.parquet"
    rows = duckdb.sql(
        f"select {key}, max(updated_at) from read_parquet('{files}', hive_partitioning = true) "
        f"group by {key}"
    ).fetchall()
    return dict(rows)


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
