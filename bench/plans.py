"""What a query plan says about pruning: PostgreSQL partitions, DuckDB row groups."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import psycopg2

# DuckDB's profiler reports these per operator when asked for them.
ROW_GROUP_METRICS = {
    "OPERATOR_TYPE": "true",
    "OPERATOR_ROW_GROUPS_SCANNED": "true",
    "OPERATOR_TOTAL_ROW_GROUPS_TO_SCAN": "true",
}


@dataclass(frozen=True)
class RowGroupScan:
    scanned: int
    total: int


def duckdb_row_groups(database: Path, sql: str, profile_path: Path) -> RowGroupScan:
    """Row groups the table scans of `sql` read, of those they would read unfiltered."""
    with duckdb.connect(str(database), read_only=True) as conn:
        conn.execute("pragma enable_profiling = 'json'")
        conn.execute(f"pragma profiling_output = '{profile_path}'")
        conn.execute(f"set custom_profiling_settings = '{json.dumps(ROW_GROUP_METRICS)}'")
        conn.execute(sql).fetchall()
        conn.execute("pragma disable_profiling")
    scans = [
        node
        for node in _walk(json.loads(profile_path.read_text()))
        if node.get("operator_type") == "TABLE_SCAN"
    ]
    return RowGroupScan(
        scanned=sum(node["operator_row_groups_scanned"] for node in scans),
        total=sum(node["operator_total_row_groups_to_scan"] for node in scans),
    )


def postgres_scanned_relations(dsn: str, sql: str) -> list[str]:
    """The tables PostgreSQL's plan for `sql` reads, after plan-time partition pruning."""
    with psycopg2.connect(dsn) as conn, conn.cursor() as cursor:
        cursor.execute(f"explain (format json) {sql}")
        plan = cursor.fetchone()[0][0]["Plan"]
    conn.close()
    return [node["Relation Name"] for node in _walk(plan, "Plans") if "Relation Name" in node]


def _walk(node: dict[str, Any], children: str = "children") -> list[dict[str, Any]]:
    found = [node]
    for child in node.get(children, []):
        found.extend(_walk(child, children))
    return found
