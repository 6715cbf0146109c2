"""Timestamps keep their full precision end to end: a jafgen-style CSV directory with
microseconds, served by the upstream, loaded by the pipeline, equals the raw tables exactly."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest

from ingestion import pipeline
from tests.support import FAST_UPSTREAM, Warehouse, history_start
from upstream.csvio import write_csv_dir
from upstream.generator import GenerationSpec, generate
from upstream.process import UpstreamProcess

# Columns given sub-second parts: file name -> timestamp columns.
PRECISE = {
    "raw_orders.csv": ("ordered_at", "updated_at"),
    "raw_tweets.csv": ("tweeted_at", "updated_at"),
}


def with_microseconds(path: Path, columns: tuple[str, ...], rng: np.random.Generator) -> None:
    """Add a random number of microseconds (the same to each column of a row, so that a
    row's times keep their order) to the file's timestamps."""
    table = pacsv.read_csv(path)
    offset = pa.array(rng.integers(1, 1_000_000, table.num_rows), pa.duration("us"))
    for name in columns:
        shifted = pc.add(table[name].cast(pa.timestamp("us")), offset)
        table = table.set_column(table.schema.get_field_index(name), name, shifted)
    pacsv.write_csv(table, path)


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[UpstreamProcess]:
    spec = GenerationSpec(seed=13, orders=400, start=date.fromisoformat(history_start()))
    directory = tmp_path / "jafgen"
    write_csv_dir(generate(spec), directory)
    rng = np.random.default_rng(13)
    for file, columns in PRECISE.items():
        with_microseconds(directory / file, columns, rng)
    args = ("--data-dir", str(directory), *FAST_UPSTREAM)
    with UpstreamProcess(secrets.token_hex(16), *args) as process:
        process.csv_directory = directory  # type: ignore[attr-defined]
        yield process


def csv_times(path: Path, key: str, column: str) -> dict[str, datetime]:
    table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    values = table[column].cast(pa.timestamp("us")).to_pylist()
    return {k: v.replace(tzinfo=UTC) for k, v in zip(table[key].to_pylist(), values, strict=True)}


def test_timestamps_keep_their_microseconds_from_csv_to_raw(
    warehouse: Warehouse, upstream: UpstreamProcess
) -> None:
    pipeline.run("shop_api", warehouse.target)
    directory: Path = upstream.csv_directory  # type: ignore[attr-defined]
    for file, columns in PRECISE.items():
        table = file.removeprefix("raw_").removesuffix(".csv")
        for column in columns:
            expected = csv_times(directory / file, "id", column)
            assert any(moment.microsecond for moment in expected.values())
            loaded = {
                key: moment if moment.tzinfo else moment.replace(tzinfo=UTC)
                for key, moment in warehouse.query(f"select id, {column} from raw.{table}")
            }
            assert loaded == expected, f"raw.{table}.{column}"
