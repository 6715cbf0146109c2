"""One line for a failed run: what broke, where, and what to do, never a stack dump or a
password. dlt wraps what went wrong in its own exceptions; the line names the cause."""

from __future__ import annotations

import re

from ingestion.errors import SourceUnavailable, UpstreamError

# A URL's password: `scheme://user:password@host`.
PASSWORD_IN_URL = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")
CONNECTION_FAILED = re.compile(r"connection refused|could not connect|connection to server|timeout")


def root_cause(error: BaseException) -> BaseException:
    """The first error of ours in the chain (it says what to do), else the innermost one."""
    current: BaseException | None = error
    innermost = error
    while current is not None:
        if isinstance(current, UpstreamError | SourceUnavailable):
            return current
        innermost = current
        current = current.__cause__ or current.__context__
    return innermost


def one_line(text: str, limit: int = 400) -> str:
    """The message without newlines, tabs, SQLAlchemy's background links or passwords."""
    text = text.split("(Background on this error at")[0]
    text = PASSWORD_IN_URL.sub(r"\1***@", " ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def explain(error: BaseException, source_name: str, step: str, target: str) -> str:
    """Why `source_name`'s run failed in `step`, with the fix when it is a missing piece."""
    cause = root_cause(error)
    message = one_line(str(cause)).removeprefix(f"{source_name}: ")
    if isinstance(cause, UpstreamError | SourceUnavailable):
        return message
    if not CONNECTION_FAILED.search(message.lower()):
        return f"{type(cause).__name__}: {message}"
    # libpq's own advice ("Is the server running on that host...") follows; ours replaces it.
    message = message.split(" Is the server running")[0]
    if step == "extract" and source_name == "catalog_db":
        return f"{cannot_reach_catalog(message)}"
    if target == "postgres":
        return (
            f"cannot reach the PostgreSQL warehouse: {message}. Is it running? Its address comes "
            "from POSTGRES_HOST, POSTGRES_PORT and POSTGRES_DB"
        )
    return message


def cannot_reach_catalog(message: str) -> str:
    return (
        f"cannot reach the catalog database: {message}. Is it running? Its URL comes from "
        "SOURCES__CATALOG_DB__CREDENTIALS"
    )
