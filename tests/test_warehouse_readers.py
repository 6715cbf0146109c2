"""Readers of the warehouse (a notebook, a BI tool) read the published marts (DuckDB: a
snapshot file; PostgreSQL: the `analytics_published` schema): polling them through an ingest
and `make build`, a reader never fails, never blocks a load, and sees only whole builds, two
marts at a time."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import psycopg2

from ingestion.publish import publish, published_path, starts_from_previous
from ingestion.publish_postgres import PUBLISHED_SCHEMA, publish_postgres
from ingestion.warehouse import postgres_url
from tests.conftest import postgres_database
from tests.support import Warehouse, make
from tests.test_warehouse_models import ingest
from upstream.process import UpstreamProcess

# A reader in its own process (DuckDB's file locks are per process) that opens the snapshot,
# reads, waits for a line on stdin and reads again.
HOLDING_READER = """
import sys, duckdb
with duckdb.connect(sys.argv[1], read_only=True) as conn:
    for _ in range(2):
        print(conn.sql("select sum(v) from analytics.facts").fetchone()[0], flush=True)
        sys.stdin.readline()
"""
# Two marts in one statement: a reader sees both from one build.
TOTALS = (
    "select (select count(*) from {schema}.orders), (select sum(order_total) from "
    "{schema}.orders), (select sum(lifetime_spend) from {schema}.customers)"
)
Totals = tuple[int, Decimal, Decimal]


class Reader:
    """Polls the published snapshot from a thread, as a dashboard would; keeps each
    connection open for a few reads, so a snapshot is replaced while it is being read."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.seen: list[Totals] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                if self.target == "duckdb":
                    with duckdb.connect(str(published_path()), read_only=True) as conn:
                        self._read(conn.cursor(), "analytics")
                else:
                    conn = psycopg2.connect(postgres_url(role="READER"))
                    conn.autocommit = True
                    try:
                        self._read(conn.cursor(), PUBLISHED_SCHEMA)
                    finally:
                        conn.close()
            except (duckdb.Error, psycopg2.Error) as error:
                self.errors.append(str(error))

    def _read(self, cursor: Any, schema: str) -> None:
        for _ in range(5):
            cursor.execute(TOTALS.format(schema=schema))
            self.seen.append(cursor.fetchone())
            time.sleep(0.02)

    def wait_to_see(self, totals: Totals, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while totals not in self.seen[-3:]:
            assert time.monotonic() < deadline, f"the reader never saw {totals}"
            time.sleep(0.05)

    @contextmanager
    def running(self) -> Iterator[Reader]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(timeout=10)


def make_build(target: str) -> None:
    """`make build` as a user runs it (dbt build, then the marts published for readers)."""
    assert "publish: " in make("build", target)


def test_a_reader_polling_through_loads_and_builds_sees_only_whole_builds(
    warehouse: Warehouse, upstream: UpstreamProcess
) -> None:
    totals = TOTALS.format(schema="analytics")
    ingest(warehouse.target)
    make_build(warehouse.target)
    built: list[Totals] = [warehouse.query(totals)[0]]  # type: ignore[list-item]
    with Reader(warehouse.target).running() as reader:
        reader.wait_to_see(built[0])
        upstream.advance(days=2)
        ingest(warehouse.target)  # the reader keeps reading the first build meanwhile
        make_build(warehouse.target)
        built.append(warehouse.query(totals)[0])  # type: ignore[arg-type]
        reader.wait_to_see(built[-1])  # certain, not luck: waited for
    assert reader.errors == []
    assert len(set(built)) == 2, built  # the round changed the orders
    assert set(reader.seen) <= set(built), set(reader.seen) - set(built)


def test_a_postgres_swap_never_holds_a_table_while_it_waits_for_another() -> None:
    """A reader in the middle of a statement (here: a transaction) holding one published
    table: the swap waits without holding any other, so readers of the others go on (a swap
    that locked table by table deadlocked with such a reader), and it completes once the
    reader lets go."""
    with postgres_database("jaffle_swap") as database:
        url = postgres_url(database)
        admin = psycopg2.connect(url)
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute("create schema analytics")
            for table in ("customers", "orders"):
                cursor.execute(f"create table analytics.{table} as select 1 as build")
        publish_postgres(url)
        with admin.cursor() as cursor:
            cursor.execute("update analytics.customers set build = 2")
            cursor.execute("update analytics.orders set build = 2")

        holder = psycopg2.connect(url)  # holds the published orders, in a transaction
        holder.cursor().execute("select * from analytics_published.orders")
        swap = threading.Thread(target=publish_postgres, args=(url,))
        swap.start()
        try:
            other = psycopg2.connect(url)
            other.autocommit = True
            with other.cursor() as cursor:
                cursor.execute("set lock_timeout = '500ms'")
                for _ in range(10):  # for a second, the swap trying meanwhile
                    cursor.execute("select build from analytics_published.customers")
                    assert cursor.fetchone() == (1,)  # the previous build: not swapped yet
                    time.sleep(0.1)
            assert swap.is_alive()
        finally:
            holder.commit()
            swap.join(timeout=30)
        with admin.cursor() as cursor:
            cursor.execute(
                "select (select build from analytics_published.customers), "
                "(select build from analytics_published.orders)"
            )
            assert cursor.fetchone() == (2, 2)
        for connection in (holder, other, admin):
            connection.close()


def assert_published_equals_warehouse(
    snapshot: Path, warehouse: Path, bookkeeping: tuple[str, ...] = ()
) -> None:
    with duckdb.connect(str(snapshot), read_only=True) as conn:
        conn.execute(f"attach '{warehouse}' as built (read_only)")
        tables = conn.sql(
            "select table_catalog, table_name from information_schema.tables "
            "where table_schema = 'analytics' order by 2"
        ).fetchall()
        names = {
            c: sorted(t for cat, t in tables if cat == c and t not in bookkeeping)
            for c in ("published", "built")
        }
        assert names["published"] == names["built"]
        for table in names["built"]:
            for a, b in (("built", "published"), ("published", "built")):
                diff = f"select * from {a}.analytics.{table} except all select * from "
                assert conn.sql(diff + f"{b}.analytics.{table}").fetchall() == [], table
            assert conn.sql(f"describe published.analytics.{table}").fetchall() == (
                conn.sql(f"describe built.analytics.{table}").fetchall()
            )


def test_a_publish_replaces_what_changed_and_equals_the_warehouse(tmp_path: Path) -> None:
    """The next snapshot starts from the previous one: keyed tables get the keys whose rows
    changed (updated, inserted, deleted, a NULL in the key too), the others are copied; new
    tables appear, dropped ones go, a changed column type is taken whole."""
    warehouse, snapshot = tmp_path / "warehouse.duckdb", tmp_path / "published.duckdb"
    manifest = tmp_path / "manifest.json"
    models = {"facts": "id", "pairs": ["a", "b"]}
    manifest.write_text(
        json.dumps(
            {
                "nodes": {
                    f"model.p.{name}": {
                        "resource_type": "model",
                        "name": name,
                        "schema": "analytics",
                        "config": {"unique_key": key},
                    }
                    for name, key in models.items()
                }
            }
        )
    )
    build = [
        "create schema analytics",
        "create table analytics.facts as select range as id, range * 2 as v, "
        "'x' || range as s from range(5000)",
        "insert into analytics.facts values (null, 1, 'null key')",
        "create table analytics.pairs as select range % 7 as a, range // 7 as b, "
        "null::int as v from range(70)",
        "create table analytics.small as select 1 as one",
        "create table analytics.retyped as select 1 as n",
    ]
    changes = [
        "update analytics.facts set v = -1 where id in (3, 4000)",
        "update analytics.facts set s = null where id = 10",
        "update analytics.facts set v = 2 where id is null",
        "delete from analytics.facts where id = 7",
        "insert into analytics.facts values (9000, 0, 'new')",
        "update analytics.pairs set v = 5 where a = 1 and b = 2",
        "insert into analytics.small values (2)",
        "drop table analytics.retyped",
        "create table analytics.retyped as select 'one' as n",
        "create table analytics.added as select 42 as answer",
    ]

    whole_size = tmp_path / ".published.duckdb.whole-size"
    for statements in (build, changes):
        with duckdb.connect(str(warehouse)) as conn:
            for statement in statements:
                conn.execute(statement)
        publish(warehouse, snapshot, manifest)
        assert_published_equals_warehouse(snapshot, warehouse)
        if statements is build:  # the first publish is a whole copy, and says how large
            first_size = whole_size.read_text()
            assert int(first_size) == snapshot.stat().st_size
    assert whole_size.read_text() == first_size  # the second started from the first


def test_a_publish_follows_the_write_log_of_the_builds(tmp_path: Path) -> None:
    """A model that logs its writes (macros/publish_log.sql) gets, after incremental writes,
    the rows loaded after the earliest `since` they used (and a dropped key, found by the
    count); after any other write, or from another warehouse's log, a row-by-row comparison."""
    warehouse, snapshot = tmp_path / "warehouse.duckdb", tmp_path / "published.duckdb"
    manifest = tmp_path / "manifest.json"
    hook = "{{ log_write_for_publish(incremental_since()) }}"
    node = {
        "resource_type": "model",
        "name": "facts",
        "schema": "analytics",
        "config": {"unique_key": "id", "pre-hook": [{"sql": hook}]},
    }
    manifest.write_text(json.dumps({"nodes": {"model.p.facts": node}}))
    log = "analytics.dbt_publish_log"
    newest = "(select max(loaded_at) from analytics.facts)"

    def logged(since: str | None) -> str:
        """A write: incremental from `since`, or (None) any other."""
        values = "false, null" if since is None else f"true, {since}"
        return f"insert into {log} select max(written) + 1, 'facts', {values} from {log}"

    def new_log(identity: str) -> list[str]:
        return [
            f"create or replace table {log} (written bigint, table_name varchar, "
            "incremental boolean, since timestamp)",
            f"insert into {log} values (0, '{identity}', null, null)",
        ]

    rounds = [
        [
            "create schema analytics",
            "create table analytics.facts as select range as id, range * 2 as v, "
            "timestamp '2026-01-01' + to_minutes(range) as loaded_at from range(3000)",
            *new_log("first"),
            logged(None),
        ],
        # Incremental writes: changed and new keys with newer loads.
        [
            logged(newest),
            "update analytics.facts set v = -1, loaded_at = timestamp '2027-01-01' "
            "where id in (5, 2999)",
            "insert into analytics.facts values (5000, 0, timestamp '2027-01-01')",
        ],
        # A write that looks back (lookback_hours): a row loaded before the snapshot's newest
        # (2027-01-01) but after the write's `since`.
        [logged("timestamp '2026-01-02'"), "update analytics.facts set v = 9 where id = 2998"],
        # An incremental write that also drops a key: the counts differ.
        [logged(newest), "delete from analytics.facts where id = 6"],
        # A full refresh: a value changes with its old loaded_at.
        [logged(None), "update analytics.facts set v = 7 where id = 10", logged(newest)],
        # A new warehouse, its log behind the snapshot's mark, a row as it was loaded.
        [*new_log("second"), logged(None), "update analytics.facts set v = 8 where id = 11"],
    ]
    for statements in rounds:
        with duckdb.connect(str(warehouse)) as conn:
            for statement in statements:
                conn.execute(statement)
        publish(warehouse, snapshot, manifest)
        assert_published_equals_warehouse(snapshot, warehouse, ("dbt_publish_log",))
        # Each next snapshot starts from this one (never grown enough to be copied whole).
        (tmp_path / ".published.duckdb.whole-size").write_text(f"{2**40}\n")
    mark = tmp_path / ".published.duckdb.log-mark"
    assert mark.read_text().split()[0] == "second"


def test_a_snapshot_is_copied_whole_again_once_it_has_grown(tmp_path: Path) -> None:
    snapshot, whole_size = tmp_path / "published.duckdb", tmp_path / ".whole-size"
    snapshot.write_bytes(b"x" * 1500)
    assert not starts_from_previous(snapshot, whole_size)  # no whole copy recorded
    whole_size.write_text("1000\n")
    assert starts_from_previous(snapshot, whole_size)  # 1.5x the whole copy: still fine
    snapshot.write_bytes(b"x" * 1501)
    assert not starts_from_previous(snapshot, whole_size)
    whole_size.write_text("not a size")
    assert not starts_from_previous(snapshot, whole_size)
    whole_size.write_text("2000\n")
    snapshot.unlink()
    assert not starts_from_previous(snapshot, whole_size)


def test_the_spare_snapshot_is_reused_unless_a_reader_holds_it(tmp_path: Path) -> None:
    """After builds that wrote incrementally, a publish brings the snapshot before the
    previous one (the spare) level and swaps it in, instead of copying the previous one; not
    while a reader still has it open (that reader keeps reading what it opened), nor after a
    full refresh (every row would be compared): then it copies the previous one."""
    warehouse, snapshot = tmp_path / "warehouse.duckdb", tmp_path / "published.duckdb"
    manifest = tmp_path / "manifest.json"
    node = {"resource_type": "model", "name": "facts", "schema": "analytics"}
    node["config"] = {"unique_key": "id", "pre-hook": [{"sql": "{{ log_write_for_publish() }}"}]}
    manifest.write_text(json.dumps({"nodes": {"model.p.facts": node}}))
    log = "analytics.dbt_publish_log"

    def build_and_publish(v: int, since: str | None = "max(loaded_at)") -> int:
        """A build that sets `v` on ten rows (loaded now), logged as incremental from `since`
        (None: a full refresh), then the publish; the snapshot's file (inode) after it."""
        logged = "false, null" if since is None else f"true, (select {since} from analytics.facts)"
        with duckdb.connect(str(warehouse)) as conn:
            conn.execute(f"insert into {log} select max(written) + 1, 'facts', {logged} from {log}")
            conn.execute(
                f"update analytics.facts set v = {v}, loaded_at = now() + to_seconds({v}) "
                "where id < 10"
            )
        publish(warehouse, snapshot, manifest)
        assert_published_equals_warehouse(snapshot, warehouse, ("dbt_publish_log",))
        # Each next snapshot starts from one before (never grown enough to be copied whole).
        (tmp_path / ".published.duckdb.whole-size").write_text(f"{2**40}\n")
        return snapshot.stat().st_ino

    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("create schema analytics")
        conn.execute(
            "create table analytics.facts as select range as id, 1 as v, "
            "timestamp '2026-01-01' as loaded_at from range(1000)"
        )
        conn.execute(
            f"create table {log} (written bigint, table_name varchar, incremental boolean, "
            "since timestamp)"
        )
        conn.execute(f"insert into {log} values (0, 'warehouse', null, null)")
    first = build_and_publish(1, since=None)
    reader = subprocess.Popen(
        [sys.executable, "-c", HOLDING_READER, str(snapshot)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert reader.stdout is not None and reader.stdin is not None
    try:
        assert reader.stdout.readline().strip() == "1000"  # it holds the first snapshot
        second = build_and_publish(2)
        third = build_and_publish(3)
        assert third not in (first, second)  # the first, the spare, is held: a copy
        out, _ = reader.communicate("\n", timeout=30)
    finally:
        reader.kill()
    assert out.strip() == "1000"  # the reader's snapshot never changed under it
    assert reader.returncode == 0
    fourth = build_and_publish(4)
    assert fourth == second  # the spare, brought level
    # A full refresh: every row compared, from the spare (the third) as from a copy.
    fifth = build_and_publish(5, since=None)
    assert fifth == third
    sixth = build_and_publish(6)  # the spare (the fourth) predates the full refresh: a copy
    assert sixth not in (second, third)
    seventh = build_and_publish(7)  # the spare (the fifth) is one incremental build behind
    assert seventh == fifth
