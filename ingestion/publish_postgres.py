"""The marts for readers on PostgreSQL (`python -m ingestion.publish`; DuckDB: publish.py).

PostgreSQL serves concurrent readers itself, but dbt commits model by model: a dashboard
reading `analytics` during a build sees some marts of the new build beside others of the
old. So readers get `analytics_published`: the `analytics` tables copied next to the old
ones and swapped in by renames, all in one transaction. A reader's statement sees every
table of the previous build or every table of the new one.
"""

from __future__ import annotations

import time
from typing import Any

from ingestion.publish import NOT_PUBLISHED, SCHEMA
from ingestion.warehouse import postgres_url

PUBLISHED_SCHEMA = "analytics_published"  # where readers point
LOCK_WAIT_SECONDS = 120.0  # readers busy on the published tables for longer fail the publish
# Tables and partitioned tables, not their partitions nor what a stopped dbt run left.
TABLES_OF = r"""
    select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = %s and c.relkind in ('r', 'p') and not c.relispartition
      and c.relname not like '%%\_\_dbt\_%%' and c.relname <> all(%s) order by 1
"""


def publish_postgres(url: str | None = None) -> tuple[str, int]:
    """Copy the `analytics` tables into `analytics_published` and swap them in, in one
    transaction; the schema and the number of tables."""
    import psycopg2
    from psycopg2 import sql

    connection = psycopg2.connect(url or postgres_url(role="TRANSFORMER"), connect_timeout=10)
    try:
        with connection, connection.cursor() as cursor:
            published = sql.Identifier(PUBLISHED_SCHEMA)
            cursor.execute(
                "select 1 from information_schema.schemata where schema_name = %s",
                (PUBLISHED_SCHEMA,),
            )
            if cursor.fetchone() is None:  # `make roles` creates it for the transformer
                cursor.execute(sql.SQL("create schema {}").format(published))
            cursor.execute(TABLES_OF, (SCHEMA, list(NOT_PUBLISHED)))
            tables = [name for (name,) in cursor.fetchall()]
            cursor.execute(TABLES_OF, (PUBLISHED_SCHEMA, list(NOT_PUBLISHED)))
            published_now = [name for (name,) in cursor.fetchall()]
            for table in tables:
                staged = sql.Identifier(f"{table}__publishing")
                cursor.execute(
                    sql.SQL("create table {}.{} as select * from {}.{}").format(
                        published, staged, sql.Identifier(SCHEMA), sql.Identifier(table)
                    )
                )
            lock_published_tables(cursor, published_now)
            for table in published_now:
                cursor.execute(sql.SQL("drop table {}.{}").format(published, sql.Identifier(table)))
            for table in tables:
                cursor.execute(
                    sql.SQL("alter table {}.{} rename to {}").format(
                        published,
                        sql.Identifier(f"{table}__publishing"),
                        sql.Identifier(table),
                    )
                )
    finally:
        connection.close()
    return PUBLISHED_SCHEMA, len(tables)


def lock_published_tables(cursor: Any, tables: list[str]) -> None:
    """Every published table locked for the swap, all at once or none: a reader's statement
    that holds one of them and waits for another would deadlock with a swap that took them
    one by one, and PostgreSQL would cancel one side. So the lock never waits (NOWAIT): when
    a reader holds a table, the attempt is undone and made again a moment later, and the
    reader is never held up for longer than the renames."""
    if not tables:
        return
    import psycopg2
    from psycopg2 import sql

    names = sql.SQL(", ").join(
        sql.SQL("{}.{}").format(sql.Identifier(PUBLISHED_SCHEMA), sql.Identifier(t)) for t in tables
    )
    statement = sql.SQL("lock table {} in access exclusive mode nowait").format(names)
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    cursor.execute("savepoint swap")
    while True:
        try:
            cursor.execute(statement)
            return
        except psycopg2.errors.LockNotAvailable:
            cursor.execute("rollback to savepoint swap")
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
