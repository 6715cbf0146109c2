"""Lint-time stand-ins for dbt's cross-database macros (`dbt.dateadd`, `dbt.type_*`, ...).

sqlfluff renders models without dbt; each stand-in renders SQL of the same shape as dbt's
DuckDB implementation, so the linter parses what the warehouse would run.
"""


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


def type_timestamp() -> str:
    return "timestamp"


def type_numeric() -> str:
    return "numeric(28, 6)"


def type_string() -> str:
    return "varchar"


def type_int() -> str:
    return "integer"


def type_bigint() -> str:
    return "bigint"


def type_float() -> str:
    return "double"


def type_boolean() -> str:
    return "boolean"
