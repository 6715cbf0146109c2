"""What a query plan says about pruning: PostgreSQL partitions, DuckDB row groups and files."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import psycopg2

# DuckDB's profiler reports these per operator when asked for them (files in EXTRA_INFO).
PROFILE_METRICS = {
    "OPERATOR_TYPE": "true",
    "EXTRA_INFO": "true",
    "OPERATOR_ROW_GROUPS_SCANNED": "true",
    "OPERATOR_TOTAL_ROW_GROUPS_TO_SCAN": "true",
}


@dataclass(frozen=True)
class RowGroupScan:
    scanned: int
    total: int


@dataclass(frozen=True)
class FileScan:
    read: int
    total: int


def duckdb_profile(database: Path, sql: str, profile_path: Path) -> list[dict[str, Any]]:
    """The table scans in DuckDB's JSON profile of `sql`, with row-group counts."""
    with duckdb.connect(str(database), read_only=True) as conn:
        conn.execute("pragma enable_profiling = 'json'")
        conn.execute(f"pragma profiling_output = '{profile_path}'")
        conn.execute(f"set custom_profiling_settings = '{json.dumps(PROFILE_METRICS)}'")
        conn.execute(sql).fetchall()
        conn.execute("pragma disable_profiling")
    return [
        node
        for node in _walk(json.loads(profile_path.read_text()))
        if node.get("operator_type") == "TABLE_SCAN"
    ]


def duckdb_row_groups(database: Path, sql: str, profile_path: Path) -> RowGroupScan:
    """Row groups the table scans of `sql` read, of those they would read unfiltered."""
    scans = duckdb_profile(database, sql, profile_path)
    return RowGroupScan(
        scanned=sum(node["operator_row_groups_scanned"] for node in scans),
        total=sum(node["operator_total_row_groups_to_scan"] for node in scans),
    )


def duckdb_files_read(database: Path, sql: str, profile_path: Path) -> FileScan:
    """Parquet files the scans of `sql` open, of those their glob matches (hive pruning)."""
    scans = [
        node["extra_info"]["Scanning Files"]
        for node in duckdb_profile(database, sql, profile_path)
        if "Scanning Files" in node.get("extra_info", {})
    ]
    if not scans:
        raise ValueError(f"no Parquet scan in the plan of: {sql}")
    read, total = zip(*(tuple(int(n) for n in scan.split("/")) for scan in scans), strict=True)
    return FileScan(read=sum(read), total=sum(total))


def postgres_scanned_relations(dsn: str, sql: str) -> list[str]:
    """The tables PostgreSQL's plan for `sql` reads, after plan-time partition pruning."""
    with psycopg2.connect(dsn) as conn, conn.cursor() as cursor:
        cursor.execute(f"explain (format json) {sql}")
        plan = cursor.fetchone()[0][0]["Plan"]
    conn.close()
    return [node["Relation Name"] for node in _walk(plan, "Plans") if "Relation Name" in node]


def postgres_blocks_read(dsn: str, sql: str) -> int:
    """Buffer blocks (8 KiB pages, cached or read) that running `sql` touched."""
    with psycopg2.connect(dsn) as conn, conn.cursor() as cursor:
        cursor.execute(f"explain (analyze, buffers, format json) {sql}")
        plan = cursor.fetchone()[0][0]["Plan"]  # a node's counts include its children's
    conn.close()
    return plan["Shared Hit Blocks"] + plan["Shared Read Blocks"]


def _walk(node: dict[str, Any], children: str = "children") -> list[dict[str, Any]]:
    found = [node]
    for child in node.get(children, []):
        found.extend(_walk(child, children))
    return found
