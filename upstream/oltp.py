"""The catalog database: the shop's OLTP system of record for its catalog and stock.

Products, supplies, stores and inventory movements live in a SQL database that the upstream
creates at start and keeps current as its clock moves: SQLite by default (no service),
PostgreSQL or MariaDB when given a URL. Every table has an indexed `updated_at`, as an
incremental reader needs. The load clients put on it is reported from the server's own
statistics where it keeps any (PostgreSQL's pg_stat views, MariaDB's user statistics).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    create_engine,
    event,
    text,
    tuple_,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.exc import DBAPIError

from upstream.schemas import SCHEMAS
from upstream.store import ShopStore
from upstream.tables import Key, serve_column

CHUNK_ROWS = 10_000
TIMESTAMP = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

metadata = MetaData()
TABLES = {
    str(table.name): table
    for table in (
        Table(
            "products",
            metadata,
            Column("sku", String(16), primary_key=True),
            Column("name", String(100)),
            Column("type", String(16)),
            Column("price", Integer, nullable=False),
            Column("description", String(200)),
            Column("updated_at", TIMESTAMP, nullable=False, index=True),
        ),
        Table(
            "supplies",
            metadata,
            Column("id", String(16), primary_key=True),
            Column("sku", String(16), primary_key=True),
            Column("name", String(100)),
            Column("cost", Integer, nullable=False),
            Column("perishable", Boolean, nullable=False),
            Column("updated_at", TIMESTAMP, nullable=False, index=True),
        ),
        Table(
            "stores",
            metadata,
            Column("id", String(36), primary_key=True),
            Column("name", String(100)),
            Column("opened_at", TIMESTAMP),
            Column("tax_rate", Numeric(6, 4)),
            Column("updated_at", TIMESTAMP, nullable=False, index=True),
        ),
        Table(
            "inventory_movements",
            metadata,
            Column("id", String(36), primary_key=True),
            Column("store_id", String(36), nullable=False),
            Column("sku", String(16), nullable=False),
            Column("quantity", Integer, nullable=False),
            Column("reason", String(16), nullable=False),
            Column("moved_at", TIMESTAMP, nullable=False),
            Column("updated_at", TIMESTAMP, nullable=False, index=True),
        ),
    )
}


def default_url(directory: Path) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{directory / 'catalog.sqlite'}"


def connect(url: str) -> Engine:
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        # WAL lets readers (the pipelines) read while the upstream writes.
        @event.listens_for(engine, "connect")
        def _wal(dbapi_connection: Any, _: Any) -> None:
            dbapi_connection.execute("pragma journal_mode=wal")

    return engine


class CatalogDatabase:
    """Mirrors the store's catalog tables into a SQL database."""

    def __init__(self, url: str) -> None:
        self.engine = connect(url)
        self.synced_until_us: int | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def rows(self, store: ShopStore, name: str, start: int) -> list[dict[str, Any]]:
        """Rows `[start:]` of a store table, as column values for the database."""
        table = store.tables[name]
        schema = SCHEMAS[name]
        values = {}
        for column, kind in schema.columns.items():
            source = table.seq if isinstance(kind, Key) else table.columns[column]
            values[column] = serve_column(kind, source[start:], store.ids, name, iso=False)
        names = list(values)
        return [dict(zip(names, row, strict=True)) for row in zip(*values.values(), strict=True)]

    def load(self, store: ShopStore) -> dict[str, int]:
        """Create the tables afresh and fill them with the store's current rows."""
        metadata.drop_all(self.engine)
        metadata.create_all(self.engine)
        counts = {}
        with self.engine.begin() as connection:
            for name, table in TABLES.items():
                rows = self.rows(store, name, 0)
                for first in range(0, len(rows), CHUNK_ROWS):
                    connection.execute(table.insert(), rows[first : first + CHUNK_ROWS])
                counts[name] = len(rows)
        self.synced_until_us = store.clock_us
        if self.dialect in ("mysql", "mariadb"):
            self._enable_mariadb_statistics()
        return counts

    def sync(self, store: ShopStore) -> dict[str, int]:
        """Write every row changed since the last load or sync (delete, then insert)."""
        assert self.synced_until_us is not None, "load() before sync()"
        counts = {}
        with self.engine.begin() as connection:
            for name, table in TABLES.items():
                snapshot = store.tables[name]
                start = int(np.searchsorted(snapshot.updated_at, self.synced_until_us, "right"))
                rows = self.rows(store, name, start)
                key = list(table.primary_key.columns)
                for first in range(0, len(rows), CHUNK_ROWS):
                    chunk = rows[first : first + CHUNK_ROWS]
                    keys = [tuple(row[c.name] for c in key) for row in chunk]
                    connection.execute(table.delete().where(tuple_(*key).in_(keys)))
                    connection.execute(table.insert(), chunk)
                counts[name] = len(rows)
        self.synced_until_us = store.clock_us
        return counts

    def _enable_mariadb_statistics(self) -> None:
        # Statistics feed a report; without the privilege the report is just empty.
        with self.engine.begin() as connection, contextlib.suppress(DBAPIError):
            connection.execute(text("set global userstat = 1"))

    def load_report(self) -> dict[str, Any]:
        """Reads served by the database per table, from the server's own statistics."""
        names = tuple(TABLES)
        with self.engine.connect() as connection:
            if self.dialect == "postgresql":
                result = connection.execute(
                    text(
                        "select relname, seq_scan, seq_tup_read, coalesce(idx_scan, 0),"
                        " coalesce(idx_tup_fetch, 0) from pg_stat_user_tables"
                        " where relname = any(:names)"
                    ),
                    {"names": list(names)},
                )
                tables = {
                    row[0]: {
                        "seq_scans": row[1],
                        "rows_read_by_seq_scan": row[2],
                        "index_scans": row[3],
                        "rows_fetched_by_index": row[4],
                    }
                    for row in result
                }
                return {"dialect": self.dialect, "tables": tables}
            if self.dialect in ("mysql", "mariadb"):
                result = connection.execute(
                    text(
                        "select table_name, rows_read from information_schema.table_statistics"
                        " where table_schema = database()"
                    )
                )
                tables = {row[0]: {"rows_read": row[1]} for row in result if row[0] in names}
                return {"dialect": self.dialect, "tables": tables}
        return {
            "dialect": self.dialect,
            "tables": None,
            "detail": "SQLite keeps no statistics of what other connections read",
        }
