"""`python -m ingestion.publish`: the marts as a snapshot for readers (`make build` runs it).

DuckDB: a DuckDB file has one writer process, and a reader holding it open, even read-only, locks
every writer out: a notebook or a BI tool polling the warehouse would make `make ingest` and
`dbt build` fail, and would see a build half done. So readers get their own file: after each
successful build, the `analytics` schema's tables are copied into a new DuckDB file, which
then replaces `published/jaffle.duckdb` beside the warehouse in one rename. A reader opens
either the previous snapshot or the new one, never half of a build; one that keeps the old
file open keeps reading the old snapshot, and never holds up a load. The new file starts as a
copy of the previous snapshot (a file never written after its rename), and a table with a
unique key (dbt's `unique_key`, from the manifest) gets only the keys whose rows differ
replaced: an hourly build of a large incremental mart copies its change, not the mart. Where
the model logs its writes (macros/publish_log.sql), finding those keys reads only the rows
loaded after what its incremental builds since the last publish selected by, not every
row. Once the replaced rows have grown the file to 1.5x its last whole copy, the next one is
whole.
The snapshot before the previous one is kept too (the spare, a second name of the file
readers had before the last swap): the next publish brings it level and swaps it in instead
of copying the previous one, unless a reader still has it open (DuckDB then refuses to open
it for writing) or the build between them wrote more than incrementally (a full refresh
would have every row compared), when the previous one is copied as before.

PostgreSQL: ingestion/publish_postgres.py.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from ingestion.warehouse import (
    REPO_ROOT,
    dbt_target_path,
    default_target,
    duckdb_path,
)
from ingestion.warehouse_file import holding_warehouse_file

SCHEMA = "analytics"
# dbt's own bookkeeping in `analytics`, not marts (macros/tests_since_last_build.sql and
# macros/publish_log.sql).
WRITE_LOG = "dbt_publish_log"
NOT_PUBLISHED = ("dbt_tests_since_last_build", WRITE_LOG)
LOGS_WRITES = "log_write_for_publish"  # the hook of a model whose writes are logged
GROWTH_LIMIT = 1.5  # DuckDB: a snapshot grown past this multiple of a whole copy is copied whole


def published_path(warehouse: Path | None = None) -> Path:
    """Where readers point: PUBLISHED_DUCKDB_PATH, or `published/<file>` beside the warehouse."""
    configured = os.environ.get("PUBLISHED_DUCKDB_PATH")
    if configured:
        return Path(configured) if Path(configured).is_absolute() else REPO_ROOT / configured
    warehouse = warehouse or duckdb_path()
    return warehouse.parent / "published" / warehouse.name


def publish(
    warehouse: Path | None = None, target: Path | None = None, manifest: Path | None = None
) -> tuple[Path, int]:
    """Bring a copy of the previous snapshot level with the warehouse's `analytics` tables and
    swap it in; the path and the number of tables."""
    warehouse = warehouse or duckdb_path()
    target = target or published_path(warehouse)
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    staged.unlink(missing_ok=True)
    models = keyed_models(manifest or dbt_manifest_path())
    whole_size = target.with_name(f".{target.name}.whole-size")
    whole = not starts_from_previous(target, whole_size)
    # The write log's position each snapshot is level with, kept beside it (after the swap:
    # a stale one only means comparing more).
    log_mark = target.with_name(f".{target.name}.log-mark")
    spare = target.with_name(f".{target.name}.spare")
    spare_mark = target.with_name(f".{target.name}.spare.log-mark")
    previous_through, spare_through = read_log_mark(log_mark), read_log_mark(spare_mark)
    published_through = None
    if not whole:
        # The spare is a build further behind: worth it only when that build's writes were
        # all incremental (few rows to replace), not, say, a full refresh (every row compared).
        if (
            spare_through is not None
            and incremental_since_previous(log_mark)
            and take_spare(spare, staged, whole_size)
        ):
            published_through = spare_through
        else:
            shutil.copyfile(target, staged)
            published_through = previous_through
    for mark in (log_mark, spare_mark):
        mark.unlink(missing_ok=True)
    kept = None
    try:
        with holding_warehouse_file(str(warehouse)), duckdb.connect(str(staged)) as snapshot:
            snapshot.execute(f"attach '{warehouse}' as built (read_only)")
            built = table_columns(snapshot, "built")
            (current,) = snapshot.execute("select current_database()").fetchone()
            held = table_columns(snapshot, current)
            through, writes = logged_writes(snapshot, published_through)
            # DuckDB's checkpoint compacts row groups that have deleted rows ("vacuum"): of a
            # snapshot whose rows are replaced by key each hour, it rewrote the recent days
            # every time (at 10M orders ~1.9 s of a 3.5 s publish, side by side). Not here:
            # the dead rows only grow the file, and a snapshot grown past GROWTH_LIMIT is
            # copied whole. One transaction: one checkpoint, at its commit.
            snapshot.execute("set max_vacuum_tasks = 0")
            snapshot.execute("begin")
            snapshot.execute(f"create schema if not exists {SCHEMA}")
            for table in held.keys() - built.keys():
                snapshot.execute(f'drop table {SCHEMA}."{table}"')
            for table, columns in built.items():
                model = models.get(table)
                names = {c for c, _ in columns}
                if model and held.get(table) == columns and set(model.key) <= names:
                    if model.logs_writes and writes is not None:
                        if table not in writes:
                            continue  # not written since the snapshot was level with it
                        since = writes[table]
                        if since is not None and "loaded_at" in names:
                            partition = model.partition if model.partition in names else None
                            replace_loaded_since(snapshot, table, model.key, since, partition)
                            continue
                    replace_changed_keys(snapshot, table, model.key)
                else:
                    snapshot.execute(
                        f'create or replace table {SCHEMA}."{table}" as '
                        f'select * from built.{SCHEMA}."{table}"'
                    )
            snapshot.execute("commit")
            snapshot.execute("detach built")
        kept = keep_as_spare(target, spare)
        os.replace(staged, target)  # atomic: readers open the old file or the new one
        if kept is not None:
            os.replace(kept, spare)
            if previous_through is not None:
                write_log_mark(spare_mark, previous_through)
        if whole:
            whole_size.write_text(f"{target.stat().st_size}\n")
        if through is not None:
            incremental = writes is not None and None not in writes.values()
            write_log_mark(log_mark, through, incremental and not whole)
    finally:
        for leftover in (staged, kept):
            if leftover is not None:
                leftover.unlink(missing_ok=True)
    return target, len(built)


def take_spare(spare: Path, staged: Path, whole_size: Path) -> bool:
    """Whether the spare snapshot became `staged`, to be brought level and swapped in: not
    when there is none, when it has grown too large (as the previous one would be), or when a
    reader still has it open. (Readers open the published name only, so none opens it
    after this.)"""
    if not spare.exists():
        return False
    if not starts_from_previous(spare, whole_size):
        spare.unlink()
        return False
    os.replace(spare, staged)
    try:
        # A reader, even a read-only one, holds a lock on the file until it closes it.
        duckdb.connect(str(staged)).close()
    except duckdb.IOException:
        staged.unlink()  # the reader keeps its file until it closes it
        return False
    return True


def keep_as_spare(target: Path, spare: Path) -> Path | None:
    """A second name for the snapshot about to be replaced, so that it outlives the swap as
    the next spare; None when there is no snapshot yet or no hard link can be made."""
    if not target.exists():
        return None
    kept = spare.with_name(f"{spare.name}.{os.getpid()}.tmp")
    kept.unlink(missing_ok=True)
    try:
        os.link(target, kept)
    except OSError:
        return None
    return kept


def starts_from_previous(target: Path, whole_size: Path) -> bool:
    """Whether the next snapshot starts from the previous one. Rows replaced by key leave
    their old blocks behind, so a snapshot that has grown past GROWTH_LIMIT times the size of
    the last one copied whole (recorded beside it) is copied whole again, as is the first."""
    try:
        baseline = int(whole_size.read_text())
    except (OSError, ValueError):
        return False
    return target.exists() and target.stat().st_size <= GROWTH_LIMIT * baseline


LogPosition = tuple[str, int]  # the log's identity (a new warehouse, a new log), a position


def read_log_mark(path: Path) -> LogPosition | None:
    try:
        identity, position, *_ = path.read_text().split()
        return identity, int(position)
    except (OSError, ValueError):
        return None


def incremental_since_previous(path: Path) -> bool:
    """Whether the publish that wrote the mark at `path` found only incremental writes."""
    try:
        return path.read_text().split()[2:] == ["incremental"]
    except OSError:
        return False


def write_log_mark(path: Path, position: LogPosition, incremental: bool = False) -> None:
    """The log position a snapshot is level with; `incremental` when every write its
    publish took in was an incremental one."""
    path.write_text(f"{position[0]} {position[1]}{' incremental' if incremental else ''}\n")


def logged_writes(
    snapshot: Any, since: LogPosition | None
) -> tuple[LogPosition | None, dict[str, Any] | None]:
    """The warehouse's write log (macros/publish_log.sql): its newest position, and each
    table written after `since` with the time its rows changed after: the earliest `since`
    of those writes when all of them were incremental, else None (compare every row); None
    for all when that is not known (no log, no `since`, or `since` is of another log)."""
    logged = snapshot.execute(
        "select count(*) from information_schema.tables "
        "where table_catalog = 'built' and table_schema = ? and table_name = ?",
        [SCHEMA, WRITE_LOG],
    ).fetchone()[0]
    if not logged:
        return None, None
    log = f"built.{SCHEMA}.{WRITE_LOG}"
    identity, position = snapshot.execute(
        f"select max(table_name) filter (where written = 0), max(written) from {log}"
    ).fetchone()
    if identity is None:
        return None, None
    if since is None or since[0] != identity:
        return (identity, position), None
    rows = snapshot.execute(
        "select table_name, case when bool_and(incremental) and count(since) = count(*) "
        f"then min(since) end from {log} where written > ? group by 1",
        [since[1]],
    ).fetchall()
    return (identity, position), dict(rows)


def replace_loaded_since(
    snapshot: Any, table: str, key: list[str], since: Any, partition: str | None = None
) -> None:
    """Replace the rows of the keys the warehouse holds loaded after `since`: all that
    incremental builds wrote. A key they dropped shows as a count that differs; the table is
    then compared row by row. In a partitioned model (`partition`, its column) the old rows
    are looked up in the changed rows' partitions and among the rows with none, as the
    build's delete does (macros/partitioning/duckdb.sql): a key that moved to another
    partition leaves its old row behind, a count that differs too."""
    snapshot.execute(
        f'create or replace temp table changed_rows as select * from built.{SCHEMA}."{table}" '
        "where loaded_at > ? or loaded_at is null",
        [since],
    )
    on_changed = " and ".join(f'k."{c}" is not distinct from t."{c}"' for c in key)
    delete = f'delete from {SCHEMA}."{table}" t using changed_rows k where {on_changed}'
    if partition is None:
        snapshot.execute(delete)
    else:
        column = f't."{partition}"'
        snapshot.execute(f'{delete} and {column} in (select "{partition}" from changed_rows)')
        snapshot.execute(f"{delete} and {column} is null")
    snapshot.execute(f'insert into {SCHEMA}."{table}" select * from changed_rows')
    if not same_count(snapshot, table):
        replace_changed_keys(snapshot, table, key)


def same_count(snapshot: Any, table: str) -> bool:
    counts = snapshot.execute(
        f'select (select count(*) from built.{SCHEMA}."{table}"), '
        f'(select count(*) from {SCHEMA}."{table}")'
    ).fetchone()
    return counts[0] == counts[1]


def table_columns(connection: Any, catalog: str) -> dict[str, list[tuple[str, str]]]:
    """The `analytics` base tables of `catalog`, each with its columns and types in order."""
    rows = connection.execute(
        "select c.table_name, c.column_name, c.data_type from information_schema.columns c "
        "join information_schema.tables t using (table_catalog, table_schema, table_name) "
        "where c.table_catalog = ? and c.table_schema = ? and t.table_type = 'BASE TABLE' "
        "and not list_contains(?, c.table_name) order by c.table_name, c.ordinal_position",
        [catalog, SCHEMA, list(NOT_PUBLISHED)],
    ).fetchall()
    tables: dict[str, list[tuple[str, str]]] = {}
    for table, column, data_type in rows:
        tables.setdefault(table, []).append((column, data_type))
    return tables


def replace_changed_keys(snapshot: Any, table: str, key: list[str]) -> None:
    """Replace, in the snapshot's copy of `table`, the rows of every key whose rows differ
    from the warehouse's (changed, new or gone), compared row by row joined on the key."""
    # The aliases are whole rows (structs) in the comparison: names no column can take.
    on = " and ".join(f'__built."{c}" is not distinct from __held."{c}"' for c in key)
    either = ", ".join(f'coalesce(__built."{c}", __held."{c}") as "{c}"' for c in key)
    snapshot.execute(
        f"create or replace temp table changed_keys as select {either} "
        f'from built.{SCHEMA}."{table}" __built full join {SCHEMA}."{table}" __held on {on} '
        "where __built is distinct from __held"
    )
    on_changed = " and ".join(f'k."{c}" is not distinct from t."{c}"' for c in key)
    snapshot.execute(f'delete from {SCHEMA}."{table}" t using changed_keys k where {on_changed}')
    snapshot.execute(
        f'insert into {SCHEMA}."{table}" select t.* from built.{SCHEMA}."{table}" t '
        f"semi join changed_keys k on {on_changed}"
    )
    if not same_count(snapshot, table):  # a key that is not unique after all: copy it whole
        snapshot.execute(
            f'create or replace table {SCHEMA}."{table}" as select * from built.{SCHEMA}."{table}"'
        )


def dbt_manifest_path() -> Path:
    """dbt's manifest of the last build: in DBT_TARGET_PATH, as `make build` sets it."""
    target_path = Path(os.environ.get("DBT_TARGET_PATH") or dbt_target_path(default_target()))
    return (target_path if target_path.is_absolute() else REPO_ROOT / target_path) / "manifest.json"


@dataclass(frozen=True)
class KeyedModel:
    key: list[str]  # dbt's `unique_key`
    logs_writes: bool  # has the write log's hook (macros/publish_log.sql)
    partition: str | None = None  # the `partition_by` column


def keyed_models(manifest: Path) -> dict[str, KeyedModel]:
    """The `analytics` models with a unique key, by table name; none when there is no
    manifest (every table is then copied whole)."""
    try:
        nodes = json.loads(manifest.read_text())["nodes"]
    except (OSError, ValueError, KeyError):
        return {}
    models = {}
    for node in nodes.values():
        config = node.get("config", {})
        key = config.get("unique_key")
        if node.get("resource_type") == "model" and node.get("schema") == SCHEMA and key:
            hooks = config.get("pre-hook") or []
            partition_by = config.get("partition_by")
            if isinstance(partition_by, dict):
                partition_by = partition_by.get("field")
            models[node.get("alias") or node["name"]] = KeyedModel(
                [key] if isinstance(key, str) else list(key),
                any(LOGS_WRITES in hook.get("sql", "") for hook in hooks),
                partition_by if isinstance(partition_by, str) else None,
            )
    return models


def publish_target(target: str) -> tuple[Path | str, int] | None:
    """Publish `target`'s marts for readers: where, and how many tables; None where readers
    get no copy: lake mode's read the Parquet files each model writes whole, Spark's query
    the metastore's tables through the Thrift server."""
    if target == "duckdb":
        return publish()
    if target == "postgres":
        from ingestion.publish_postgres import publish_postgres

        return publish_postgres()
    return None


def main() -> int:
    target = default_target()
    started = time.perf_counter()
    try:
        published = publish_target(target)
    except Exception as error:  # duckdb.Error, psycopg2.Error: one line, not a traceback
        if not type(error).__module__.startswith(("duckdb", "psycopg2", "_duckdb")):
            raise
        print(f"publish: {' '.join(str(error).split())}", file=sys.stderr)
        return 1
    if published is None:
        print(f"publish: nothing to publish on the {target} target")
        return 0
    where, tables = published
    print(f"publish: {tables} tables for readers in {where} ({time.perf_counter() - started:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
