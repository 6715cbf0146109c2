"""Lint-time stand-in for dbt's `adapter`: a dispatched macro renders as a plain call."""

from collections.abc import Callable


def dispatch(macro_name: str, macro_namespace: str | None = None) -> Callable[..., str]:
    def render(*args: object) -> str:
        return f"{macro_name}({', '.join(str(arg) for arg in args)})"

    return render


def get_relation(database: str, schema: str, identifier: str) -> None:
    """No warehouse at lint time: optional relations render as absent."""
    return None


def get_columns_in_relation(relation: object) -> list[object]:
    return []
