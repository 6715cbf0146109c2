"""Lint-time stand-in for dbt's `adapter`: a dispatched macro renders as a plain call."""

from collections.abc import Callable

# Dispatched macros that render a whole query, not an expression: they lint as a query of a
# table function of the same name.
QUERY_MACROS = {"orders_to_rebuild"}


def dispatch(macro_name: str, macro_namespace: str | None = None) -> Callable[..., str]:
    def render(*args: object) -> str:
        call = f"{macro_name}({', '.join(str(arg) for arg in args)})"
        return f"select * from {call}" if macro_name in QUERY_MACROS else call

    return render


def get_relation(database: str, schema: str, identifier: str) -> None:
    """No warehouse at lint time: optional relations render as absent."""
    return None


def get_columns_in_relation(relation: object) -> list[object]:
    return []
