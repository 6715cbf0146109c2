"""`python -m ingestion.publish`: the marts as a snapshot for readers (`make build` runs it).

A DuckDB file has one writer process, and a reader holding it open, even read-only, locks
every writer out: a notebook or a BI tool polling the warehouse would make `make ingest` and
`dbt build` fail, and would see a build half done. So readers get their own file: after each
successful build, the `analytics` schema's tables are copied into a new DuckDB file, which
then replaces `published/jaffle.duckdb` beside the warehouse in one rename. A reader opens
either the previous snapshot or the new one, never half of a build; one that keeps the old
file open keeps reading the old snapshot, and never holds up a load.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import duckdb

from ingestion.duckdb_destination import holding_warehouse_file
from ingestion.warehouse import REPO_ROOT, default_target, duckdb_path

SCHEMA = "analytics"


def published_path(warehouse: Path | None = None) -> Path:
    """Where readers point: PUBLISHED_DUCKDB_PATH, or `published/<file>` beside the warehouse."""
    configured = os.environ.get("PUBLISHED_DUCKDB_PATH")
    if configured:
        return Path(configured) if Path(configured).is_absolute() else REPO_ROOT / configured
    warehouse = warehouse or duckdb_path()
    return warehouse.parent / "published" / warehouse.name


def publish(warehouse: Path | None = None, target: Path | None = None) -> tuple[Path, int]:
    """Copy the warehouse's `analytics` tables into a new file and swap it in; the path and
    the number of tables."""
    warehouse = warehouse or duckdb_path()
    target = target or published_path(warehouse)
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    staged.unlink(missing_ok=True)
    try:
        with holding_warehouse_file(str(warehouse)), duckdb.connect(str(staged)) as snapshot:
            snapshot.execute(f"attach '{warehouse}' as built (read_only)")
            tables = [
                name
                for (name,) in snapshot.execute(
                    "select table_name from information_schema.tables where table_catalog = "
                    "'built' and table_schema = ? and table_type = 'BASE TABLE' order by 1",
                    [SCHEMA],
                ).fetchall()
            ]
            snapshot.execute(f"create schema {SCHEMA}")
            for table in tables:
                snapshot.execute(
                    f'create table {SCHEMA}."{table}" as select * from built.{SCHEMA}."{table}"'
                )
            snapshot.execute("detach built")
        os.replace(staged, target)  # atomic: readers open the old file or the new one
    finally:
        staged.unlink(missing_ok=True)
    return target, len(tables)


def main() -> int:
    if default_target() != "duckdb":
        # PostgreSQL serves concurrent readers itself; lake mode's readers read the Parquet.
        print(f"publish: nothing to publish on the {default_target()} target")
        return 0
    started = time.perf_counter()
    try:
        target, tables = publish()
    except duckdb.Error as error:
        print(f"publish: {' '.join(str(error).split())}", file=sys.stderr)
        return 1
    print(
        f"publish: {tables} tables for readers in {target} ({time.perf_counter() - started:.1f}s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
