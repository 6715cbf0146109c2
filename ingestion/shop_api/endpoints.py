"""The shop API's endpoints as the pipeline sees them: keys, types and how to load them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class EndpointSpec:
    name: str  # the resource, the raw table, and the path /v1/<name>
    pagination: Literal["cursor", "offset"]
    primary_key: str
    columns: dict[str, str]  # known columns and their types (see ingestion.arrow_pages)
    write_disposition: Any
    # Small and slow-changing: re-read whole each run, behind a conditional request.
    conditional: bool = False
    # When a row was created, where the API says: tells new rows from changed ones.
    created: str | None = None


MERGE = "merge"
# Immutable events: rows already loaded are never rewritten; a row read again matches its
# stored copy by key and updated_at (ingestion/merge_ties.py), so re-reads never duplicate.
INSERT_ONLY = {"disposition": "merge", "strategy": "insert-only"}

ENDPOINTS = (
    EndpointSpec(
        "customers",
        "offset",
        "id",
        {"id": "text", "name": "text", "deleted_at": "timestamp", "updated_at": "timestamp"},
        MERGE,
    ),
    EndpointSpec(
        "orders",
        "cursor",
        "id",
        {
            "id": "text",
            "customer": "text",
            "ordered_at": "timestamp",
            "store_id": "text",
            "subtotal": "bigint",
            "tax_paid": "bigint",
            "order_total": "bigint",
            "status": "text",
            "updated_at": "timestamp",
        },
        MERGE,
        created="ordered_at",
    ),
    EndpointSpec(
        "order_items",
        "offset",
        "id",
        {
            "id": "text",
            "order_id": "text",
            "sku": "text",
            "price": "bigint",
            "updated_at": "timestamp",
        },
        INSERT_ONLY,
        created="updated_at",  # immutable: changed only by being created
    ),
    EndpointSpec(
        "tweets",
        "cursor",
        "id",
        {
            "id": "text",
            "user_id": "text",
            "tweeted_at": "timestamp",
            "content": "text",
            "updated_at": "timestamp",
        },
        INSERT_ONLY,
        created="updated_at",
    ),
    EndpointSpec(
        "products",
        "offset",
        "sku",
        {
            "sku": "text",
            "name": "text",
            "type": "text",
            "price": "bigint",
            "description": "text",
            "updated_at": "timestamp",
        },
        MERGE,
        conditional=True,
    ),
    EndpointSpec(
        "stores",
        "offset",
        "id",
        {
            "id": "text",
            "name": "text",
            "opened_at": "timestamp",
            "tax_rate": "double",
            "updated_at": "timestamp",
        },
        MERGE,
        conditional=True,
        created="opened_at",
    ),
)
