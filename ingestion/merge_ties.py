"""Equal-timestamp versions of a key: one deterministic winner, and a line that says so.

A merge keeps, per key, the version with the newest `updated_at` (its `dedup_sort`). When one
load holds two versions of a key with the same `updated_at` (the upstream changed a row
without moving its timestamp, and it was read twice), dlt keeps an arbitrary one. The rule
here: the version that is greatest column by column, in the table's column order, nulls
lowest. It depends only on the rows, not on the order they arrived in. A later load's version
replaces an earlier load's whatever its timestamp ties with: the later read is the upstream's
current state.

`TieBreakingMergeJob` applies the rule inside dlt's merge (a merge job is a destination's
extension point); `find_ties` tells the run summary which keys it decided.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dlt.common.schema.typing import TSortOrder
from dlt.destinations.exceptions import DatabaseUndefinedRelation
from dlt.destinations.sql_jobs import SqlMergeFollowupJob

if TYPE_CHECKING:
    import dlt

CURSOR = "updated_at"


def tie_break_columns(columns: dict[str, Any], primary_keys: Sequence[str]) -> list[str]:
    """The columns that decide a tie: the data columns, but the key and the cursor."""
    return [
        name
        for name in columns
        if not name.startswith("_dlt") and name not in primary_keys and name != CURSOR
    ]


class TieBreakingMergeJob(SqlMergeFollowupJob):
    tie_break: str = ""  # ", a DESC NULLS LAST, ..." for the table being merged

    @classmethod
    def gen_merge_sql(cls, table_chain: Sequence[Any], sql_client: Any) -> list[str]:
        # dlt builds the merge with classmethods: the table's tie-break order travels on a
        # subclass made for this table.
        root = table_chain[0]
        keys = [name for name, c in root["columns"].items() if c.get("primary_key")]
        escape = sql_client.escape_column_name
        order = "".join(
            f", {escape(name)} DESC NULLS LAST" for name in tie_break_columns(root["columns"], keys)
        )
        bound = type(cls.__name__, (cls,), {"tie_break": order})
        return super(TieBreakingMergeJob, bound).gen_merge_sql(table_chain, sql_client)

    @classmethod
    def gen_select_from_dedup_sql(
        cls,
        table_name: str,
        primary_keys: Sequence[str],
        columns: Sequence[str],
        dedup_sort: tuple[str, TSortOrder] | None = None,
        condition: str | None = None,
        condition_columns: Sequence[str] | None = None,
        skip_dedup: bool = False,
    ) -> str:
        if skip_dedup or not primary_keys or dedup_sort is None or not cls.tie_break:
            return super().gen_select_from_dedup_sql(
                table_name,
                primary_keys,
                columns,
                dedup_sort,
                condition,
                condition_columns,
                skip_dedup,
            )
        selected = ", ".join(columns)
        inner = ", ".join([*columns, *(condition_columns or ())])
        order = f"{dedup_sort[0]} {dedup_sort[1].upper()}{cls.tie_break}"
        return (
            f"SELECT {selected} FROM (SELECT ROW_NUMBER() OVER (PARTITION BY "
            f"{', '.join(primary_keys)} ORDER BY {order}) AS _dlt_dedup_rn, {inner} "
            f"FROM {table_name}) AS _dlt_dedup_numbered "
            f"WHERE _dlt_dedup_rn = 1 AND ({condition or '1 = 1'})"
        )


def find_ties(pipeline: dlt.Pipeline, tables: Sequence[str], limit: int = 3) -> dict[str, str]:
    """Per table of the last load: how many keys arrived in versions that differ but share
    their `updated_at`, with a few of them (read from the load's staging tables)."""
    schema = pipeline.default_schema
    ties: dict[str, str] = {}
    with pipeline.sql_client() as client:
        for table in tables:
            columns = schema.tables.get(table, {}).get("columns", {})
            keys = [name for name, c in columns.items() if c.get("primary_key")]
            if not columns.get(CURSOR, {}).get("dedup_sort") or len(keys) != 1:
                continue
            data = tie_break_columns(columns, keys)
            if not data:
                continue
            escape = client.escape_column_name
            with client.with_staging_dataset():
                staging = client.make_qualified_table_name(table)
            key, cursor = escape(keys[0]), escape(CURSOR)
            versions = ", ".join(escape(name) for name in data)
            # Only keys that arrived more than once are grouped by version.
            try:
                rows = client.execute_sql(
                    f"SELECT {key}, count(*) OVER () FROM {staging} WHERE {key} IN "
                    f"(SELECT {key} FROM {staging} GROUP BY {key} HAVING count(*) > 1) "
                    f"GROUP BY {key}, {cursor} HAVING count(DISTINCT ({versions})) > 1 "
                    f"ORDER BY {key} LIMIT {limit}"
                )
            except DatabaseUndefinedRelation:
                continue  # no staging table: the table was not merged in this load
            if rows:
                sample = ", ".join(f"{keys[0]}={row[0]}" for row in rows)
                ties[table] = f"{rows[0][1]} keys ({sample})"
    return ties
