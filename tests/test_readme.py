"""The README is an executable spec: its documented paths, run literally as a new user would,
in one scratch copy of the repository (a fresh clone's files), with only the variables the
README names. A path a user follows cannot break without this failing."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg2
import pytest

from bench.databases import postgres_admin_dsn
from tests.conftest import postgres_unavailable_reason, require
from tests.readme import RunningUpstream, Shell, block_with, copy_repository
from tests.support import Warehouse, assert_orders_mart_matches_upstream, read_all
from tests.test_warehouse_models import assert_daily_revenue_matches_upstream

# The tests share one scratch repository and run in this order, as a user reads the README.
pytestmark = pytest.mark.readme


@pytest.fixture(scope="module")
def shell(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shell]:
    root = copy_repository(tmp_path_factory.mktemp("readme") / "jaffle-elt")
    session = Shell(root)
    try:
        yield session
    finally:
        session.stop()


def duckdb_warehouse(shell: Shell, monkeypatch: pytest.MonkeyPatch) -> Warehouse:
    """The scratch copy's DuckDB file, for the assertions (not for the README's commands)."""
    monkeypatch.setenv("DUCKDB_PATH", str(shell.root / "warehouse" / "jaffle.duckdb"))
    return Warehouse("duckdb")


def upstream_of(shell: Shell) -> RunningUpstream:
    return RunningUpstream(api_key=shell.env["UPSTREAM_API_KEY"])


def test_make_demo_then_dbt_from_the_root(shell: Shell, monkeypatch: pytest.MonkeyPatch) -> None:
    output = shell.run("make demo")
    assert "Demo finished" in output
    wh = duckdb_warehouse(shell, monkeypatch)
    assert wh.query("select count(*) from analytics.orders")[0][0] > 0
    # Each command reuses the parse of the one before (dbt says when it cannot): `make demo`,
    # `make build` and a plain `dbt build` name the default target the same way.
    for command in ("dbt build", "make build", "dbt test", "dbt docs generate"):
        output = shell.run(f"source .venv/bin/activate && {command}")
        assert "Unable to do partial parsing" not in output, command
    assert (shell.root / "target" / "catalog.json").is_file()


def test_running_the_pieces_by_hand(shell: Shell, monkeypatch: pytest.MonkeyPatch) -> None:
    """Exported key, `make upstream &`, ingest, advance, ingest and build: the marts match
    the upstream they were loaded from."""
    shell.run_block(block_with("make upstream &"))
    upstream = upstream_of(shell)
    wh = duckdb_warehouse(shell, monkeypatch)
    assert_orders_mart_matches_upstream(wh, upstream)  # type: ignore[arg-type]
    assert_daily_revenue_matches_upstream(wh, upstream)  # type: ignore[arg-type]


def test_lake_mode(shell: Shell, monkeypatch: pytest.MonkeyPatch) -> None:
    shell.run_block(block_with("TARGET=lake"))
    wh = duckdb_warehouse(shell, monkeypatch)
    days = list((shell.root / "warehouse" / "lake" / "orders").glob("order_date=*"))
    assert days, "no day partitions written under warehouse/lake/orders"
    truth = read_all(upstream_of(shell), "orders")
    monkeypatch.chdir(shell.root)  # the lake views name their files relative to the root
    assert wh.query("select count(*) from lake.orders")[0][0] == len(truth)


def test_postgres_instead_of_duckdb(shell: Shell, monkeypatch: pytest.MonkeyPatch) -> None:
    """The PostgreSQL block, then least privilege on the same database: `make roles` hands
    the existing tables to their roles, the pipelines and dbt run as them, and each role is
    refused what is not its job."""
    require("PostgreSQL", postgres_unavailable_reason())
    database = f"jaffle_readme_{shell.root.parent.name[-8:]}".lower().replace("-", "_")
    shell.env["POSTGRES_DB"] = database  # a variable the README names
    postgres_block = block_with("make ingest TARGET=postgres")
    created_roles = [role for role in ROLES if not role_exists(role)]
    try:
        shell.run_block(postgres_block)
        monkeypatch.setenv("POSTGRES_DB", database)
        upstream = upstream_of(shell)
        assert_orders_mart_matches_upstream(Warehouse("postgres"), upstream)  # type: ignore[arg-type]

        shell.run_block(block_with("make roles"))
        shell.run("source .venv/bin/activate && python -m upstream advance --days 1")
        # "then `make ingest TARGET=postgres && make build TARGET=postgres` as above"
        shell.run(next(line for line in postgres_block if line.startswith("make ingest")))
        assert_orders_mart_matches_upstream(Warehouse("postgres"), upstream)  # type: ignore[arg-type]
        assert_each_role_is_refused_what_is_not_its_job(database)
    finally:
        drop_database(database)
        for role in created_roles:
            drop_role(role)
        for name in ("POSTGRES_DB", "POSTGRES_LOADER_USER", "POSTGRES_TRANSFORMER_USER"):
            shell.env.pop(name, None)


ROLES = ("jaffle_loader", "jaffle_transformer", "jaffle_reader")
# What each role may not do, and one thing it may, on the loaded and built warehouse.
REFUSED = {
    "jaffle_loader": ("select count(*) from analytics.orders", "create table analytics.x (i int)"),
    "jaffle_transformer": (
        "insert into raw.orders select * from raw.orders limit 0",
        "create table raw.x (i int)",
        "create table raw_catalog.x (i int)",
    ),
    "jaffle_reader": (
        "select count(*) from raw.orders",
        "create table analytics.x (i int)",
        "delete from analytics.orders",
        "create table analytics_published.x (i int)",
    ),
}
ALLOWED = {
    "jaffle_loader": "select count(*) from raw.orders",
    "jaffle_transformer": "select count(*) from raw_catalog.products",
    "jaffle_reader": "select count(*) from analytics_published.orders",
}


def assert_each_role_is_refused_what_is_not_its_job(database: str) -> None:
    admin = psycopg2.connect(postgres_admin_dsn(), dbname=database)
    with admin.cursor() as cursor:
        cursor.execute(
            "select schemaname, tableowner from pg_tables "
            "where tablename = 'orders' and schemaname in ('raw', 'analytics', "
            "'analytics_published')"
        )
        owners = dict(cursor.fetchall())
    admin.close()
    assert owners == {
        "raw": "jaffle_loader",
        "analytics": "jaffle_transformer",
        "analytics_published": "jaffle_transformer",
    }
    for role in ROLES:
        connection = psycopg2.connect(postgres_admin_dsn(), user=role, dbname=database)
        connection.autocommit = True
        with connection.cursor() as cursor:
            for statement in REFUSED[role]:
                with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                    cursor.execute(statement)
            cursor.execute(ALLOWED[role])
        connection.close()


def test_bring_your_own_data_set(shell: Shell, monkeypatch: pytest.MonkeyPatch) -> None:
    """A jafgen-style directory from 2018: served, reloaded whole, every store-day in the
    revenue mart (none dropped by the microbatch window)."""
    shell.stop()  # the generated upstream of the earlier sections
    shell.run_block(block_with("--data-dir"))
    upstream = upstream_of(shell)
    wh = duckdb_warehouse(shell, monkeypatch)
    assert_orders_mart_matches_upstream(wh, upstream)  # type: ignore[arg-type]
    assert_daily_revenue_matches_upstream(wh, upstream)  # type: ignore[arg-type]
    first_day = wh.query("select min(revenue_date) from analytics.location_daily_revenue")
    assert str(first_day[0][0]) == "2018-09-01"


def as_admin(statement: str, *params: str) -> list[tuple[object, ...]]:
    """One statement on the server's maintenance database, committed; its rows."""
    admin = psycopg2.connect(postgres_admin_dsn())
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(statement, params)
        rows = cursor.fetchall() if cursor.description else []
    admin.close()
    return rows


def drop_database(database: str) -> None:
    as_admin(f'drop database if exists "{database}" with (force)')


def role_exists(role: str) -> bool:
    return bool(as_admin("select 1 from pg_roles where rolname = %s", role))


def drop_role(role: str) -> None:
    """A role this test created (its database dropped first, so it owns nothing)."""
    as_admin(f'drop role if exists "{role}"')
