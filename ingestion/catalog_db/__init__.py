"""dlt source for the shop's catalog database (products, supplies, stores, inventory).

dlt's `sql_table` with the pyarrow backend reads in chunks straight into Arrow, not row by
row through SQLAlchemy. Each table is read incrementally on its indexed `updated_at`, in
`updated_at` order, so an incremental run is a range scan on that index rather than a full
scan, and rows are merged on their primary keys.

Which database: a server's SQLAlchemy URL is a secret (it holds a password), so `credentials`
comes from the environment (`SOURCES__CATALOG_DB__CREDENTIALS`) or `.dlt/secrets.toml`;
without it, the SQLite file at `sqlite_path` (configuration, `.dlt/config.toml`: a local path
is no secret), which is where `python -m upstream serve` writes its catalog by default.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.typing import TSecretStrValue
from dlt.sources import DltResource
from dlt.sources.sql_database import sql_table
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from ingestion.errors import SourceUnavailable
from ingestion.explain import cannot_reach_catalog, one_line
from ingestion.settings import check_settings
from ingestion.window import Window

SOURCE_NAME = "catalog_db"
TABLES: dict[str, Sequence[str]] = {
    "products": ("sku",),
    "supplies": ("id", "sku"),
    "stores": ("id",),
    "inventory_movements": ("id",),
}


@dlt.source(name=SOURCE_NAME)
def catalog_db(
    credentials: TSecretStrValue | None = None,
    sqlite_path: str = dlt.config.value,
    chunk_size: int = 50_000,
    lag_seconds: float = 3600.0,
    start: str | None = None,
    end: str | None = None,
    defer_table_reflect: bool = False,
) -> list[DltResource]:
    """Every catalog table, read incrementally from the OLTP database; with `start`/`end`
    (ISO), just the rows changed in that window (see `ingestion.window`)."""
    check_settings(
        SOURCE_NAME, chunk_size=(chunk_size, "at least 1"), lag_seconds=(lag_seconds, "0 or more")
    )
    window = Window.parse(start, end)
    url = server_url(credentials) if credentials else sqlite_url(sqlite_path)
    try:
        return tables(url, chunk_size, lag_seconds, window, defer_table_reflect)
    except OperationalError as error:  # tables are reflected here: the database is down
        message = one_line(str(error.orig)).split(" Is the server running")[0]
        raise SourceUnavailable(f"{SOURCE_NAME}: {cannot_reach_catalog(message)}") from None


def tables(
    url: str,
    chunk_size: int,
    lag_seconds: float,
    window: Window | None,
    defer_table_reflect: bool,
) -> list[DltResource]:
    resources = []
    for table, key in TABLES.items():
        resource = sql_table(
            credentials=url,
            table=table,
            backend="pyarrow",
            chunk_size=chunk_size,
            reflection_level="full_with_precision",
            incremental=dlt.sources.incremental(
                "updated_at",
                # The catalog's timestamps are naive UTC.
                initial_value=window.start.replace(tzinfo=None) if window else None,
                end_value=window.end.replace(tzinfo=None) if window else None,
                lag=None if window else lag_seconds,
                row_order="asc",
            ),
            write_disposition="merge",
            primary_key=list(key),
            # Deferred, the tables are read from the database only when extracted.
            defer_table_reflect=defer_table_reflect,
        )
        # Right after the reader, before the incremental step moves the cursor in the state.
        resources.append(resource.add_metrics(change_counter(table), insert_at=1))
    return resources


def change_counter(table: str) -> Callable[[Any, Any, dict[str, Any]], None]:
    """Counts, into the run's metrics, the rows changed since the last run's cursor and the
    ones read again only for the lag window (the catalog has no creation times)."""
    previous: list[Any] = []  # the last run's cursor, read from the state at the first item

    def count(item: Any, meta: Any, metrics: dict[str, Any]) -> None:
        if not isinstance(item, pa.Table) or "updated_at" not in item.column_names:
            return
        if not previous:
            cursor = dlt.current.resource_state(table).get("incremental", {}).get("updated_at")
            previous.append((cursor or {}).get("last_value"))
        if previous[0] is None:
            changed = item.num_rows
        else:
            after = pa.scalar(previous[0], item.schema.field("updated_at").type)
            changed = pc.sum(pc.fill_null(pc.greater(item["updated_at"], after), False))
            changed = changed.as_py() or 0
        metrics["rows_changed"] = metrics.get("rows_changed", 0) + changed
        metrics["rows_reread"] = metrics.get("rows_reread", 0) + item.num_rows - changed
        metrics["rows_created"] = None

    return count


def server_url(url: str) -> str:
    """A PostgreSQL URL without a driver means psycopg2, the driver installed here
    (SQLAlchemy 2.1 would pick psycopg 3)."""
    try:
        make_url(url)
    except ArgumentError:
        raise ValueError(
            "SOURCES__CATALOG_DB__CREDENTIALS (or credentials under [sources.catalog_db] in "
            ".dlt/secrets.toml) is not a database URL: expected "
            "driver://user:password@host:port/database"
        ) from None
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg2://" + url.removeprefix(scheme)
    return url


def sqlite_url(path: str) -> str:
    """The catalog's SQLite file as a URL; a clear error when it is not there (SQLite would
    otherwise create an empty database and the run would fail on a missing table)."""
    if not Path(path).is_file():
        raise SourceUnavailable(
            f"{SOURCE_NAME}: no catalog database at {path}: start the upstream (`make upstream`), "
            "which writes it, or point SOURCES__CATALOG_DB__CREDENTIALS at the database"
        )
    return f"sqlite:///{path}"
