"""Lint-time stand-ins for dbt's cross-database macros (`dbt.dateadd`, `dbt.type_*`, ...).

sqlfluff renders models without dbt; each stand-in renders SQL of the same shape as dbt's
DuckDB implementation, so the linter parses what the warehouse would run.
"""

from collections.abc import Callable


def dateadd(datepart: str, interval: object, from_date_or_timestamp: str) -> str:
    return f"{from_date_or_timestamp} + ({interval} * interval 1 {datepart})"


def datediff(first_date: str, second_date: str, datepart: str) -> str:
    return f"date_diff('{datepart}', {first_date}, {second_date})"


def date_trunc(datepart: str, date: str) -> str:
    return f"date_trunc('{datepart}', {date})"


def cast(field: str, type_name: str) -> str:
    return f"cast({field} as {type_name})"


def safe_cast(field: str, type_name: str) -> str:
    return f"try_cast({field} as {type_name})"


# dbt.type_<kind>() -> the DuckDB type name dbt would render.
TYPE_NAMES = {
    "timestamp": "timestamp",
    "numeric": "numeric(28, 6)",
    "string": "varchar",
    "int": "integer",
    "bigint": "bigint",
    "float": "double",
    "boolean": "boolean",
}


def _type_macro(type_name: str) -> Callable[[], str]:
    return lambda: type_name


for _kind, _type_name in TYPE_NAMES.items():
    globals()[f"type_{_kind}"] = _type_macro(_type_name)


def position(substring_text: str, string_text: str) -> str:
    return f"position({substring_text} in {string_text})"
