"""`make roles`: least privilege on the PostgreSQL warehouse, idempotently.

Three login roles, each allowed what its job needs and nothing more:

- the loader (dlt) owns the raw schemas (`raw`, `raw_catalog` and their `_staging` twins
  dlt merges through) and nothing else;
- the transformer (dbt) reads the raw schemas and owns `analytics` and `analytics_published`
  (the marts as of the last build, `make build` publishes them);
- the reader (BI tools, notebooks) reads `analytics_published` and `analytics`.

Run as the warehouse's administrator (POSTGRES_USER) on POSTGRES_DB. Role names come from
POSTGRES_LOADER_USER, POSTGRES_TRANSFORMER_USER and POSTGRES_READER_USER (defaults below);
a role's password, when its *_PASSWORD variable is set, is set too. Objects an earlier run
created as the administrator are handed to their schema's owner, so an existing warehouse
can switch to the roles.
"""

from __future__ import annotations

import os
import sys

import psycopg2
from psycopg2 import sql

from ingestion.warehouse import postgres_url

LOADER, TRANSFORMER, READER = "LOADER", "TRANSFORMER", "READER"
DEFAULT_NAMES = {
    LOADER: "jaffle_loader",
    TRANSFORMER: "jaffle_transformer",
    READER: "jaffle_reader",
}
RAW_SCHEMAS = ("raw", "raw_staging", "raw_catalog", "raw_catalog_staging")
# Read by dbt: the datasets the pipelines load (their _staging twins are dlt's own).
SOURCE_SCHEMAS = ("raw", "raw_catalog")
ANALYTICS_SCHEMA = "analytics"
PUBLISHED_SCHEMA = "analytics_published"  # the marts as of the last build (ingestion.publish)
RELATIONS_OWNED_BY_OTHERS = """
    select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = %s and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
      and pg_get_userbyid(c.relowner) <> %s
"""


def role_name(job: str) -> str:
    return os.environ.get(f"POSTGRES_{job}_USER", DEFAULT_NAMES[job])


def ensure_role(cursor: psycopg2.extensions.cursor, job: str) -> str:
    name = role_name(job)
    cursor.execute("select 1 from pg_roles where rolname = %s", (name,))
    if cursor.fetchone() is None:
        cursor.execute(sql.SQL("create role {} login").format(sql.Identifier(name)))
    password = os.environ.get(f"POSTGRES_{job}_PASSWORD")
    if password:
        cursor.execute(
            sql.SQL("alter role {} password %s").format(sql.Identifier(name)), (password,)
        )
    return name


def own_schema(cursor: psycopg2.extensions.cursor, schema: str, owner: str) -> None:
    """The schema and everything in it (partitions included) owned by `owner`."""
    schema_id, owner_id = sql.Identifier(schema), sql.Identifier(owner)
    cursor.execute(
        sql.SQL("create schema if not exists {} authorization {}").format(schema_id, owner_id)
    )
    cursor.execute(sql.SQL("alter schema {} owner to {}").format(schema_id, owner_id))
    cursor.execute(RELATIONS_OWNED_BY_OTHERS, (schema, owner))
    for (relation,) in cursor.fetchall():
        cursor.execute(
            sql.SQL("alter table {}.{} owner to {}").format(
                schema_id, sql.Identifier(relation), owner_id
            )
        )


def grant_reading(cursor: psycopg2.extensions.cursor, schema: str, owner: str, reader: str) -> None:
    """`reader` may read every table in `schema`, those `owner` creates later included."""
    ids = {"schema": sql.Identifier(schema), "owner": sql.Identifier(owner)}
    ids["reader"] = sql.Identifier(reader)
    for statement in (
        "grant usage on schema {schema} to {reader}",
        "grant select on all tables in schema {schema} to {reader}",
        "alter default privileges for role {owner} in schema {schema} "
        "grant select on tables to {reader}",
    ):
        cursor.execute(sql.SQL(statement).format(**ids))


def main() -> int:
    try:
        connection = psycopg2.connect(postgres_url(), connect_timeout=5)
    except psycopg2.OperationalError as error:
        reason = " ".join(str(error).split())
        print(f"roles: cannot reach the PostgreSQL warehouse: {reason}", file=sys.stderr)
        return 1
    with connection, connection.cursor() as cursor:
        loader, transformer = ensure_role(cursor, LOADER), ensure_role(cursor, TRANSFORMER)
        reader = ensure_role(cursor, READER)
        for schema in RAW_SCHEMAS:
            own_schema(cursor, schema, loader)
        own_schema(cursor, ANALYTICS_SCHEMA, transformer)
        own_schema(cursor, PUBLISHED_SCHEMA, transformer)
        for schema in SOURCE_SCHEMAS:
            grant_reading(cursor, schema, loader, transformer)
        grant_reading(cursor, ANALYTICS_SCHEMA, transformer, reader)
        grant_reading(cursor, PUBLISHED_SCHEMA, transformer, reader)
        cursor.execute("select current_database()")
        (database,) = cursor.fetchone()
    connection.close()
    print(
        f"roles: on {database}: {loader} loads {', '.join(RAW_SCHEMAS)}; {transformer} reads "
        f"{', '.join(SOURCE_SCHEMAS)} and builds {ANALYTICS_SCHEMA} and {PUBLISHED_SCHEMA}; "
        f"{reader} reads them"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
