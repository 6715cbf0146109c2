"""The catalog database the upstream keeps: SQLite by default, PostgreSQL and MariaDB."""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pymysql
import pytest
from sqlalchemy import create_engine, inspect, text

from tests.conftest import postgres_database, require
from tests.support import FAST_UPSTREAM, read_all
from upstream.process import UpstreamProcess

MARIADB = {
    "host": os.environ.get("MARIADB_HOST", "127.0.0.1"),
    "port": int(os.environ.get("MARIADB_PORT", "3306")),
    "user": os.environ.get("MARIADB_USER", "root"),
    "password": os.environ.get("MARIADB_PASSWORD", ""),
}


def mariadb_unavailable_reason() -> str | None:
    try:
        pymysql.connect(**MARIADB, connect_timeout=3).close()
    except pymysql.MySQLError as error:
        return f"no MariaDB server reachable ({error})"
    return None


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    elif request.param == "postgresql":
        with postgres_database("catalog_test") as database:
            yield f"postgresql+psycopg2://postgres:postgres@127.0.0.1:5432/{database}"
    else:
        require("MariaDB", mariadb_unavailable_reason())
        database = f"catalog_test_{uuid.uuid4().hex[:12]}"
        admin = pymysql.connect(**MARIADB, autocommit=True)
        with admin.cursor() as cursor:
            cursor.execute(f"create database `{database}`")
        auth = MARIADB["user"] + (f":{MARIADB['password']}" if MARIADB["password"] else "")
        try:
            yield f"mysql+pymysql://{auth}@{MARIADB['host']}:{MARIADB['port']}/{database}"
        finally:
            with admin.cursor() as cursor:
                cursor.execute(f"drop database if exists `{database}`")
            admin.close()


def test_catalog_database_is_created_indexed_and_kept_current(database_url: str) -> None:
    key = secrets.token_hex(16)
    rate = ("--price-change-rate", "0.5")  # prices change on the first advanced day
    args = ("--orders", "2000", "--database-url", database_url, *rate, *FAST_UPSTREAM)
    with UpstreamProcess(key, *args) as api:
        engine = create_engine(database_url)
        inspector = inspect(engine)
        for table in ("products", "supplies", "stores", "inventory_movements"):
            indexed = {tuple(i["column_names"]) for i in inspector.get_indexes(table)}
            assert ("updated_at",) in indexed, table

        def count(table: str) -> int:
            with engine.connect() as connection:
                return connection.execute(text(f"select count(*) from {table}")).scalar_one()

        assert count("products") == 10 and count("stores") == 6 and count("supplies") == 64
        movements_before = count("inventory_movements")
        assert movements_before > 0

        headers = {"Authorization": f"Bearer {key}"}
        response = httpx.post(
            f"{api.url}/admin/advance", params={"days": 2}, headers=headers, timeout=120
        ).json()
        assert response["changes"]["price_changes"] > 0
        assert response["catalog_rows_written"]["inventory_movements"] > 0
        assert count("inventory_movements") > movements_before

        served = {sku: row["price"] for sku, row in read_all(api, "products").items()}
        with engine.connect() as connection:
            stored = dict(connection.execute(text("select sku, price from products")).all())
        assert stored == served

        report = httpx.get(f"{api.url}/admin/database", headers=headers).json()
        assert report["dialect"] == engine.dialect.name
        engine.dispose()
