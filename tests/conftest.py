"""Fixtures: a real upstream on loopback and a throwaway warehouse per target."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
import pytest
from xdist.scheduler import LoadScopeScheduling

from bench.databases import postgres_admin_dsn, scratch_postgres_database
from cluster.spark import java_missing_reason
from tests.spark_support import SparkCluster, running
from tests.support import FAST_UPSTREAM, Warehouse, history_start
from upstream.process import UpstreamProcess

IN_CI = os.environ.get("CI", "").lower() == "true"
TEST_ORDERS = 3_000

# `make test` runs pytest on two workers (pytest-xdist). The tests of a module here share
# something only one worker can have at a time, so they run on one worker, in file order;
# every other test is scheduled on its own. (xdist hands out the units with the most tests
# first, so these start first.)
SHARED = {
    # The session's Spark cluster: one start (20-35 s) and four JVMs, not one per worker.
    "tests/test_spark_marts.py": "spark",
    "tests/test_spark_cluster.py": "spark",
    "tests/test_spark_orchestration.py": "spark",
    "tests/test_spark_raw_zone.py": "spark",
    # One scratch repository, its commands run in the README's order.
    "tests/test_readme.py": "readme",
    # dbt in the repository's own target/ folder (Dagster's manifest, `make build`); the
    # other tests' dbt keeps a folder per worker (tests.support.dbt_worker_environment).
    "tests/test_orchestration.py": "repository-target",
    "tests/test_orchestration_ui.py": "repository-target",
    "tests/test_warehouse_readers.py": "repository-target",
}


class SharedResourceScheduling(LoadScopeScheduling):
    """xdist's per-test load balancing, but a module of SHARED is one unit of work. (xdist's
    own `xdist_group` marks do not reach its scheduler under pytest 9.)"""

    def _split_scope(self, nodeid: str) -> str:
        return SHARED.get(nodeid.split("::", 1)[0], nodeid)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> LoadScopeScheduling:
    return SharedResourceScheduling(config, log)


@pytest.fixture
def upstream() -> Iterator[UpstreamProcess]:
    """A fresh upstream with a small data set and a random API key."""
    key = secrets.token_hex(16)
    args = ("--orders", str(TEST_ORDERS), "--start", history_start(), *FAST_UPSTREAM)
    with UpstreamProcess(key, *args) as process:
        yield process


def postgres_unavailable_reason() -> str | None:
    try:
        psycopg2.connect(postgres_admin_dsn(), connect_timeout=3).close()
    except psycopg2.OperationalError as error:
        return f"no PostgreSQL server reachable ({str(error).strip().splitlines()[0]})"
    return None


def require(service: str, unavailable_reason: str | None) -> None:
    """Skip with the reason when a server is missing; in CI, fail instead."""
    if unavailable_reason is None:
        return
    if IN_CI:
        pytest.fail(f"{unavailable_reason}; CI must run the {service} tests")
    pytest.skip(unavailable_reason)


@contextmanager
def postgres_database(prefix: str, suffix: str | None = None) -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards."""
    require("PostgreSQL", postgres_unavailable_reason())
    with scratch_postgres_database(prefix, suffix) as database:
        yield database


# Each test's warehouse is new, but under the same name for the whole session: dbt's partial
# parse compares the connection settings, and a new file or database name per test would make
# every test's first dbt command parse the whole project again.
SESSION_SUFFIX = secrets.token_hex(6)


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    upstream: UpstreamProcess,
) -> Iterator[Warehouse]:
    """An empty warehouse of each target, wired to the test's upstream through the env."""
    target = request.param
    monkeypatch.setenv("DBT_TARGET", target)
    monkeypatch.setenv("PIPELINES_DIR", str(tmp_path / "pipelines"))
    monkeypatch.setenv("UPSTREAM_API_KEY", upstream.api_key)
    monkeypatch.setenv("SOURCES__SHOP_API__BASE_URL", upstream.url)
    monkeypatch.setenv("SOURCES__CATALOG_DB__CREDENTIALS", upstream.database_url)
    # The test upstream has no rate limit, so it sends no X-RateLimit-* headers to correct
    # the client's starting pace (20 req/s by default): start it high instead.
    monkeypatch.setenv("SOURCES__SHOP_API__RATE_LIMIT", "1000")
    if target == "duckdb":
        database = tmp_path_factory.getbasetemp() / "warehouse.duckdb"
        monkeypatch.setenv("DUCKDB_PATH", str(database))
        try:
            yield Warehouse(target)
        finally:
            for leftover in (database, database.with_suffix(".duckdb.wal")):
                leftover.unlink(missing_ok=True)
        return

    with postgres_database("jaffle_test", SESSION_SUFFIX) as database:
        monkeypatch.setenv("POSTGRES_DB", database)
        yield Warehouse(target)


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkCluster]:
    """One Spark cluster for every Spark test (a start costs 20-35 s), stopped at the end by
    `make spark-down`, which must stop every JVM it started."""
    require("Spark", java_missing_reason())
    cluster = SparkCluster(tmp_path_factory.mktemp("spark"))
    up = cluster.make("spark-up")
    started = cluster.pids()
    try:
        assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-2000:]
        yield cluster
    finally:
        down = cluster.make("spark-down")
        assert down.returncode == 0, down.stdout + down.stderr
        assert not [pid for pid in started if running(pid)], "a Spark JVM outlived spark-down"
