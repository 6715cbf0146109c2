"""Throwaway PostgreSQL databases for the benchmarks and the tests, on the server that
profiles.yml's postgres target points at (the same POSTGRES_* environment)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2


def postgres_admin_dsn() -> str:
    return (
        f"host={os.environ.get('POSTGRES_HOST', '127.0.0.1')} "
        f"port={os.environ.get('POSTGRES_PORT', '5432')} "
        f"user={os.environ.get('POSTGRES_USER', 'postgres')} "
        f"password={os.environ.get('POSTGRES_PASSWORD', 'postgres')} dbname=postgres"
    )


@contextmanager
def scratch_postgres_database(prefix: str, suffix: str | None = None) -> Iterator[str]:
    """A fresh database named `<prefix>_<suffix>` (default: random), dropped afterwards."""
    database = f"{prefix}_{suffix or uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(postgres_admin_dsn())
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'create database "{database}"')
    try:
        yield database
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'drop database if exists "{database}" with (force)')
        admin.close()
