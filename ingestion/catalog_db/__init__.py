"""dlt source for the shop's catalog database (products, supplies, stores, inventory).

dlt's `sql_table` with the pyarrow backend reads in chunks straight into Arrow, not row by
row through SQLAlchemy. Each table is read incrementally on its indexed `updated_at`, in
`updated_at` order, so an incremental run is a range scan on that index rather than a full
scan, and rows are merged on their primary keys.
"""

from __future__ import annotations

from collections.abc import Sequence

import dlt
from dlt.sources import DltResource
from dlt.sources.sql_database import sql_table

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
    credentials: str = dlt.secrets.value,
    chunk_size: int = 50_000,
    lag_seconds: float = 3600.0,
    start: str | None = None,
    end: str | None = None,
    defer_table_reflect: bool = False,
) -> list[DltResource]:
    """Every catalog table, read incrementally from the OLTP database; with `start`/`end`
    (ISO), just the rows changed in that window (see `ingestion.window`)."""
    window = Window.parse(start, end)
    return [
        sql_table(
            credentials=credentials,
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
        for table, key in TABLES.items()
    ]
