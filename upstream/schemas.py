"""The entities the upstream serves: their columns, in the order the API returns them."""

from __future__ import annotations

from upstream.tables import Enum, Key, Plain, Ref, TableSchema, Time

STATUSES = ("placed", "completed", "returned")
CHANNELS = ("in_store", "app", "web")
CLIENTS = ("iphone", "android", "web")
MOVEMENT_REASONS = ("sale", "delivery")

SCHEMAS = {
    schema.name: schema
    for schema in (
        TableSchema(
            "stores",
            {
                "id": Key(),
                "name": Plain(),
                "opened_at": Time(),
                "tax_rate": Plain(),
                "updated_at": Time(),
            },
        ),
        TableSchema(
            "products",
            {
                "sku": Key(),
                "name": Plain(),
                "type": Plain(),
                "price": Plain(),
                "description": Plain(),
                "updated_at": Time(),
            },
        ),
        TableSchema(
            "customers",
            {"id": Key(), "name": Plain(), "deleted_at": Time(), "updated_at": Time()},
        ),
        TableSchema(
            "orders",
            {
                "id": Key(),
                "customer": Ref("customers"),
                "ordered_at": Time(),
                "store_id": Ref("stores"),
                "subtotal": Plain(),
                "tax_paid": Plain(),
                "order_total": Plain(),
                "status": Enum(STATUSES),
                "channel": Enum(CHANNELS),
                "updated_at": Time(),
            },
            optional=("channel",),
        ),
        TableSchema(
            "order_items",
            {
                "id": Key(),
                "order_id": Ref("orders"),
                "sku": Ref("products"),
                "price": Plain(),  # cents charged: the product's price when it was ordered
                "updated_at": Time(),
            },
        ),
        TableSchema(
            "tweets",
            {
                "id": Key(),
                "user_id": Ref("customers"),
                "tweeted_at": Time(),
                "content": Plain(),
                "client": Enum(CLIENTS),
                "updated_at": Time(),
            },
            optional=("client",),
            mutable=False,
        ),
        # Kept in the catalog database only (see upstream/oltp.py), not served over HTTP.
        TableSchema(
            "supplies",
            {
                "id": Key(),
                "name": Plain(),
                "cost": Plain(),
                "perishable": Plain(),
                "sku": Ref("products"),
                "updated_at": Time(),
            },
        ),
        TableSchema(
            "inventory_movements",
            {
                "id": Key(),
                "store_id": Ref("stores"),
                "sku": Ref("products"),
                "quantity": Plain(),
                "reason": Enum(MOVEMENT_REASONS),
                "moved_at": Time(),
                "updated_at": Time(),
            },
            mutable=False,
        ),
    )
}
