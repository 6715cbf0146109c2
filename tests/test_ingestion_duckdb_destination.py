"""Pipelines sharing one DuckDB warehouse file: threads of one process, and other processes."""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dlt
import duckdb
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from ingestion import warehouse
from ingestion.warehouse_file import WarehouseFileBusy


@pytest.fixture
def warehouse_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "w.duckdb"
    monkeypatch.setenv("DUCKDB_PATH", str(path))
    return path


def load(tmp_path: Path, name: str, rows: int) -> None:
    pipeline = dlt.pipeline(
        pipeline_name=name,
        destination=warehouse.destination("duckdb"),
        dataset_name=name,
        pipelines_dir=str(tmp_path / "pipelines"),
    )
    pipeline.run(
        [{"id": i, "round": rows} for i in range(rows)],
        table_name="items",
        write_disposition="append",
        loader_file_format="parquet",
    ).raise_on_failed_jobs()


def count(path: Path, dataset: str) -> int:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.sql(f"select count(*) from {dataset}.items").fetchone()[0]


@contextmanager
def held_by_another_process(path: Path) -> Iterator[None]:
    """The advisory lock a process loading `path` holds (a second open file description
    conflicts with it exactly as another process's would)."""
    with open(f"{path}.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def test_three_pipelines_load_one_file_from_threads_round_after_round(
    warehouse_file: Path, tmp_path: Path
) -> None:
    # Without the guard dlt's pools race here: ~1 round in 6 failed with DuckDB's "Unique file
    # handle conflict" on the machine this was written on.
    rounds = 12
    failures: list[BaseException] = []

    def run(name: str, rows: int) -> None:
        try:
            load(tmp_path, name, rows)
        except BaseException as error:
            failures.append(error)

    for round_ in range(rounds):
        threads = [
            threading.Thread(target=run, args=(name, 100 + round_))
            for name in ("first", "second", "third")
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not failures, failures
    expected = sum(100 + r for r in range(rounds))
    assert [count(warehouse_file, name) for name in ("first", "second", "third")] == [expected] * 3


def test_a_load_waits_while_another_process_has_the_file_open(
    warehouse_file: Path, tmp_path: Path
) -> None:
    done = threading.Event()
    with held_by_another_process(warehouse_file):
        loader = threading.Thread(target=lambda: (load(tmp_path, "waiting", 10), done.set()))
        loader.start()
        assert not done.wait(1.5), "the load went ahead while the file was held"
    loader.join(60)
    assert done.is_set()
    assert count(warehouse_file, "waiting") == 10


def test_a_load_gives_up_naming_the_file_when_it_stays_busy(
    warehouse_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DUCKDB_FILE_WAIT_SECONDS", "0.5")
    with held_by_another_process(warehouse_file), pytest.raises(PipelineStepFailed) as failure:
        load(tmp_path, "refused", 10)
    cause: BaseException | None = failure.value
    while cause is not None and not isinstance(cause, WarehouseFileBusy):
        cause = cause.__cause__ or cause.__context__
    assert cause is not None, failure.value
    assert str(warehouse_file) in str(cause)


def test_a_merge_keeps_the_latest_of_duplicated_keys_and_honours_deletes(
    warehouse_file: Path, tmp_path: Path
) -> None:
    pipeline = dlt.pipeline(
        pipeline_name="merging",
        destination=warehouse.destination("duckdb"),
        dataset_name="merging",
        pipelines_dir=str(tmp_path / "pipelines"),
    )
    hints = {
        "table_name": "items",
        "write_disposition": "merge",
        "primary_key": "id",
        "columns": {
            "version": {"dedup_sort": "desc"},
            "deleted": {"hard_delete": True, "data_type": "bool"},
        },
        "loader_file_format": "parquet",
    }
    first = [{"id": i, "version": 1, "deleted": False} for i in range(5)]
    first += [{"id": 0, "version": 3, "deleted": False}, {"id": 0, "version": 2, "deleted": False}]
    pipeline.run(first, **hints).raise_on_failed_jobs()
    second = [
        {"id": 1, "version": 2, "deleted": False},
        {"id": 1, "version": 4, "deleted": False},
        {"id": 2, "version": 2, "deleted": True},
        {"id": 5, "version": 1, "deleted": False},
    ]
    pipeline.run(second, **hints).raise_on_failed_jobs()
    with duckdb.connect(str(warehouse_file), read_only=True) as conn:
        rows = conn.sql("select id, version from merging.items order by id").fetchall()
    assert rows == [(0, 3), (1, 4), (3, 1), (4, 1), (5, 1)]
