"""jafgen-style CSV files: write the upstream's data set, or serve a user's instead.

The files and their leading columns follow dbt Labs' jafgen (`raw_customers.csv`,
`raw_orders.csv`, `raw_items.csv`, `raw_products.csv`, `raw_stores.csv`, `raw_supplies.csv`,
`raw_tweets.csv`). The upstream also writes what an incremental source needs (`updated_at`,
order `status`, `deleted_at`, and the evolved fields); on import those are optional: without
them every row is as old as its business time and orders older than a day are completed.
"""

from __future__ import annotations

import csv
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from upstream.generator import (
    US_PER_DAY,
    Generated,
    GenerationSpec,
    inventory_movements,
    uuid_strings,
)
from upstream.schemas import CHANNELS, CLIENTS, MOVEMENT_REASONS, STATUSES
from upstream.tables import NULL_TIME

FILES = {
    "customers": "raw_customers.csv",
    "orders": "raw_orders.csv",
    "order_items": "raw_items.csv",
    "products": "raw_products.csv",
    "stores": "raw_stores.csv",
    "supplies": "raw_supplies.csv",
    "tweets": "raw_tweets.csv",
}
# Not a jafgen file: written so a directory round-trips; derived from the items when absent.
INVENTORY_FILE = "raw_inventory_movements.csv"
REQUIRED = {
    "customers": ("id", "name"),
    "orders": ("id", "customer", "ordered_at", "store_id", "subtotal", "tax_paid", "order_total"),
    "order_items": ("id", "order_id", "sku"),
    "products": ("sku", "name", "type", "price", "description"),
    "stores": ("id", "name", "opened_at", "tax_rate"),
    "supplies": ("id", "name", "cost", "perishable", "sku"),
    "tweets": ("id", "user_id", "tweeted_at", "content"),
}
# What the upstream writes beyond jafgen's columns; read when present.
OPTIONAL = {
    "customers": ("deleted_at", "updated_at"),
    "orders": ("status", "channel", "updated_at"),
    "order_items": ("price", "updated_at"),
    "products": ("updated_at",),
    "stores": ("updated_at",),
    "supplies": ("updated_at",),
    "tweets": ("client", "updated_at"),
}
TIME_COLUMNS = ("ordered_at", "opened_at", "tweeted_at", "updated_at", "deleted_at")
# Parsed strictly: a value that does not fit (12.5 cents, 1e23, "12abc") stops the import
# with its file, line and column, never served rounded, wrapped or dropped.
TYPED_COLUMNS = {
    **{c: pa.int64() for c in ("subtotal", "tax_paid", "order_total", "price", "cost")},
    "quantity": pa.int64(),
    "tax_rate": pa.float64(),
    "perishable": pa.bool_(),
}
CONVERSION_ERROR = re.compile(r"In CSV column #(\d+): .*CSV conversion error to (\w+)")


class CsvImportError(ValueError):
    """A CSV directory that cannot be served; the message names the file, column and row."""


def _times(values: np.ndarray) -> pa.Array:
    us = np.where(values == NULL_TIME, 0, values).astype("datetime64[us]")
    return pa.array(us, mask=values == NULL_TIME, type=pa.timestamp("us"))


def _text(ids: np.ndarray, seq: np.ndarray) -> pa.Array:
    return pa.array(np.char.decode(ids[seq], "utf-8").astype(object))


def write_csv_dir(data: dict[str, Generated], directory: Path) -> list[Path]:
    """Write the data set as jafgen-style CSVs (plus the incremental columns)."""
    directory.mkdir(parents=True, exist_ok=True)
    ids = {name: generated.ids for name, generated in data.items()}

    def own(name: str) -> pa.Array:
        return _text(ids[name], np.arange(len(ids[name])))

    def col(name: str, column: str) -> np.ndarray:
        return data[name].columns[column]

    def optional(name: str, column: str, labels: tuple[str, ...]) -> pa.Array:
        values = np.asarray(labels, dtype=object)[col(name, column)]
        return pa.array(values, mask=~col(name, f"_has_{column}"))

    tables = {
        "customers": {
            "id": own("customers"),
            "name": pa.array(col("customers", "name")),
            "deleted_at": _times(col("customers", "deleted_at")),
            "updated_at": _times(col("customers", "updated_at")),
        },
        "orders": {
            "id": own("orders"),
            "customer": _text(ids["customers"], col("orders", "customer")),
            "ordered_at": _times(col("orders", "ordered_at")),
            "store_id": _text(ids["stores"], col("orders", "store_id")),
            "subtotal": col("orders", "subtotal"),
            "tax_paid": col("orders", "tax_paid"),
            "order_total": col("orders", "order_total"),
            "status": pa.array(np.asarray(STATUSES, dtype=object)[col("orders", "status")]),
            "channel": optional("orders", "channel", CHANNELS),
            "updated_at": _times(col("orders", "updated_at")),
        },
        "order_items": {
            "id": own("order_items"),
            "order_id": _text(ids["orders"], col("order_items", "order_id")),
            "sku": _text(ids["products"], col("order_items", "sku")),
            "price": col("order_items", "price"),
            "updated_at": _times(col("order_items", "updated_at")),
        },
        "products": {
            "sku": own("products"),
            **{c: col("products", c) for c in ("name", "type", "price", "description")},
            "updated_at": _times(col("products", "updated_at")),
        },
        "stores": {
            "id": own("stores"),
            "name": col("stores", "name"),
            "opened_at": _times(col("stores", "opened_at")),
            "tax_rate": col("stores", "tax_rate"),
            "updated_at": _times(col("stores", "updated_at")),
        },
        "supplies": {
            "id": own("supplies"),
            "name": pa.array(col("supplies", "name")),
            "cost": col("supplies", "cost"),
            "perishable": col("supplies", "perishable"),
            "sku": _text(ids["products"], col("supplies", "sku")),
            "updated_at": _times(col("supplies", "updated_at")),
        },
        "tweets": {
            "id": own("tweets"),
            "user_id": _text(ids["customers"], col("tweets", "user_id")),
            "tweeted_at": _times(col("tweets", "tweeted_at")),
            "content": pa.array(col("tweets", "content")),
            "client": optional("tweets", "client", CLIENTS),
            "updated_at": _times(col("tweets", "updated_at")),
        },
    }
    tables["inventory_movements"] = {
        "id": own("inventory_movements"),
        "store_id": _text(ids["stores"], col("inventory_movements", "store_id")),
        "sku": _text(ids["products"], col("inventory_movements", "sku")),
        "quantity": col("inventory_movements", "quantity"),
        "reason": pa.array(
            np.asarray(MOVEMENT_REASONS, dtype=object)[col("inventory_movements", "reason")]
        ),
        "moved_at": _times(col("inventory_movements", "moved_at")),
        "updated_at": _times(col("inventory_movements", "updated_at")),
    }
    written = []
    for name, columns in tables.items():
        path = directory / FILES.get(name, INVENTORY_FILE)
        pacsv.write_csv(
            pa.table(
                {k: pa.array(v) if not isinstance(v, pa.Array) else v for k, v in columns.items()}
            ),
            path,
        )
        written.append(path)
    return written


def _read(directory: Path, name: str) -> pa.Table:
    path = directory / FILES[name]
    if not path.exists():
        raise CsvImportError(
            f"{path}: missing (a jafgen-style directory has {', '.join(FILES.values())})"
        )
    text_columns = {
        c: pa.string()
        for c in (
            "id",
            "customer",
            "store_id",
            "order_id",
            "sku",
            "user_id",
            "name",
            "content",
            "status",
            "channel",
            "client",
            "description",
            "type",
        )
    }
    convert = pacsv.ConvertOptions(
        column_types={**text_columns, **TYPED_COLUMNS}, strings_can_be_null=True
    )
    table = read_typed_csv(path, convert)
    missing = [c for c in REQUIRED[name] if c not in table.column_names]
    if missing:
        raise CsvImportError(f"{path}: missing column(s) {', '.join(missing)}")
    unknown = [c for c in table.column_names if c not in (*REQUIRED[name], *OPTIONAL[name])]
    if unknown:
        known = ", ".join((*REQUIRED[name], *OPTIONAL[name]))
        raise CsvImportError(
            f"{path}: unknown column(s) {', '.join(unknown)}; the upstream serves {known} "
            "(a column it cannot serve is not dropped silently: remove it from the file)"
        )
    for column in REQUIRED[name]:
        nulls = table[column].null_count
        if nulls and column not in ("name", "description"):
            row = pc.index(pc.is_null(table[column]), True).as_py() + 2
            raise CsvImportError(f"{path}: column {column} is empty on line {row}")
    return table


def read_typed_csv(path: Path, convert: pacsv.ConvertOptions) -> pa.Table:
    """The CSV with its typed columns parsed strictly; a value that does not parse is a
    CsvImportError naming the line (the header is line 1), the column and the value."""
    try:
        return pacsv.read_csv(path, convert_options=convert)
    except pa.ArrowInvalid as error:
        found = CONVERSION_ERROR.search(str(error))
        if found is None:
            raise CsvImportError(f"{path}: {str(error).strip()}") from None
        column_index, kind = int(found.group(1)), found.group(2)
    # pyarrow names the column, not the row: find the first value that does not parse.
    with path.open(newline="") as lines:
        rows = csv.reader(lines)
        column = next(rows)[column_index]
        values = ((n, row[column_index]) for n, row in enumerate(rows, start=2))
        bad = next(
            (nv for nv in values if nv[1] and not parses(nv[1], TYPED_COLUMNS[column])), None
        )
    if bad is None:
        raise CsvImportError(f"{path}: column {column} does not parse as {kind}")
    line, value = bad
    expected = {"int64": "an integer (amounts are in cents)", "double": "a number"}
    raise CsvImportError(
        f"{path}: column {column} on line {line}: {value!r} is not {expected.get(kind, kind)}"
    )


def parses(value: str, kind: pa.DataType) -> bool:
    try:
        pa.array([value]).cast(kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def _time_us(table: pa.Table, column: str, path: str) -> np.ndarray:
    """A timestamp column as epoch microseconds (UTC; naive values are UTC), nulls NULL_TIME."""
    values = table[column]
    if pa.types.is_null(values.type):
        return np.full(len(values), NULL_TIME, dtype=np.int64)
    try:
        if not pa.types.is_timestamp(values.type):
            values = pc.cast(values, pa.timestamp("us"))
        values = pc.cast(values, pa.timestamp("us", tz=values.type.tz))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise CsvImportError(f"{path}: column {column}: {error}") from None
    us = pc.fill_null(values.cast(pa.int64()), NULL_TIME)
    return us.to_numpy(zero_copy_only=False).astype(np.int64)


def _seq_of(values: pa.ChunkedArray, ids: np.ndarray, what: str) -> np.ndarray:
    index = pc.index_in(values, value_set=pa.array(np.char.decode(ids, "utf-8")))
    if index.null_count:
        bad = values[pc.index(pc.is_null(index), True).as_py()].as_py()
        raise CsvImportError(f"{what}: {bad!r} does not match any id")
    return index.to_numpy(zero_copy_only=False).astype(np.int64)


def read_csv_dir(directory: Path, seed: int = 42) -> tuple[GenerationSpec, dict[str, Generated]]:
    """A data set from jafgen-style CSVs, and a spec whose clock starts after its last day."""
    raw = {name: _read(directory, name) for name in FILES}

    def ids_of(name: str, column: str = "id") -> np.ndarray:
        return np.array(raw[name][column].to_pylist(), dtype="S")

    ids = {
        name: ids_of(name) for name in ("customers", "orders", "order_items", "stores", "tweets")
    }
    ids["products"] = ids_of("products", "sku")
    orders, customers = raw["orders"], raw["customers"]
    path = str(directory / FILES["orders"])
    ordered_at = _time_us(orders, "ordered_at", path)
    first_day = int(ordered_at.min() // US_PER_DAY * US_PER_DAY)
    clock = int(ordered_at.max() // US_PER_DAY * US_PER_DAY + US_PER_DAY)

    def updated(table: pa.Table, fallback: np.ndarray, file: str) -> np.ndarray:
        if "updated_at" not in table.column_names:
            return fallback
        values = _time_us(table, "updated_at", file)
        return np.where(values == NULL_TIME, fallback, values)

    def labels(
        table: pa.Table, column: str, allowed: tuple[str, ...], file: str
    ) -> tuple[np.ndarray, np.ndarray]:
        if column not in table.column_names:
            return np.zeros(table.num_rows, np.int64), np.zeros(table.num_rows, bool)
        values = table[column]
        present = pc.is_valid(values).to_numpy(zero_copy_only=False)
        index = pc.index_in(values, value_set=pa.array(allowed)).to_numpy(zero_copy_only=False)
        bad = present & np.isnan(index.astype(float))
        if bad.any():
            line = int(np.flatnonzero(bad)[0]) + 2
            raise CsvImportError(f"{file}: column {column} on line {line} is not one of {allowed}")
        return np.nan_to_num(index.astype(float)).astype(np.int64), present

    status, has_status = labels(orders, "status", STATUSES, path)
    status = np.where(has_status, status, np.where(clock - ordered_at > US_PER_DAY, 1, 0))
    channel, has_channel = labels(orders, "channel", CHANNELS, path)
    tweets = raw["tweets"]
    tweets_path = str(directory / FILES["tweets"])
    tweeted_at = _time_us(tweets, "tweeted_at", tweets_path)
    client, has_client = labels(tweets, "client", CLIENTS, tweets_path)
    items = raw["order_items"]
    items_path = str(directory / FILES["order_items"])
    item_order = _seq_of(items["order_id"], ids["orders"], f"{items_path}: order_id")
    item_sku = _seq_of(items["sku"], ids["products"], f"{items_path}: sku")
    stores = raw["stores"]
    opened_at = _time_us(stores, "opened_at", str(directory / FILES["stores"]))
    products = raw["products"]
    customers_path = str(directory / FILES["customers"])
    deleted_at = (
        _time_us(customers, "deleted_at", customers_path)
        if "deleted_at" in customers.column_names
        else np.full(customers.num_rows, NULL_TIME, np.int64)
    )

    data = {
        "customers": Generated(
            {
                "name": np.array(customers["name"].to_pylist(), dtype=object),
                "deleted_at": deleted_at,
                "updated_at": updated(
                    customers, np.full(customers.num_rows, first_day, np.int64), customers_path
                ),
            },
            ids["customers"],
        ),
        "orders": Generated(
            {
                "customer": _seq_of(orders["customer"], ids["customers"], f"{path}: customer"),
                "ordered_at": ordered_at,
                "store_id": _seq_of(orders["store_id"], ids["stores"], f"{path}: store_id"),
                "subtotal": orders["subtotal"].to_numpy().astype(np.int64),
                "tax_paid": orders["tax_paid"].to_numpy().astype(np.int64),
                "order_total": orders["order_total"].to_numpy().astype(np.int64),
                "status": status,
                "channel": channel,
                "_has_channel": has_channel,
                "updated_at": updated(orders, ordered_at, path),
            },
            ids["orders"],
        ),
        "order_items": Generated(
            {
                "order_id": item_order,
                "sku": item_sku,
                "price": (
                    items["price"].to_numpy().astype(np.int64)
                    if "price" in items.column_names
                    else products["price"].to_numpy().astype(np.int64)[item_sku]
                ),
                "updated_at": updated(items, ordered_at[item_order], items_path),
            },
            ids["order_items"],
        ),
        "products": Generated(
            {
                **{
                    c: np.array(products[c].to_pylist(), dtype=object)
                    for c in ("name", "type", "description")
                },
                "price": products["price"].to_numpy().astype(np.int64),
                "updated_at": updated(
                    products,
                    np.full(products.num_rows, first_day, np.int64),
                    str(directory / FILES["products"]),
                ),
            },
            ids["products"],
        ),
        "stores": Generated(
            {
                "name": np.array(stores["name"].to_pylist(), dtype=object),
                "opened_at": opened_at,
                "tax_rate": stores["tax_rate"].to_numpy().astype(float),
                "updated_at": updated(
                    stores, np.maximum(opened_at, first_day), str(directory / FILES["stores"])
                ),
            },
            ids["stores"],
        ),
        "tweets": Generated(
            {
                "user_id": _seq_of(tweets["user_id"], ids["customers"], f"{tweets_path}: user_id"),
                "tweeted_at": tweeted_at,
                "content": np.array(tweets["content"].to_pylist(), dtype=object),
                "client": client,
                "_has_client": has_client,
                "updated_at": updated(tweets, tweeted_at, tweets_path),
            },
            ids["tweets"],
        ),
    }
    supplies = raw["supplies"]
    supplies_path = str(directory / FILES["supplies"])
    data["supplies"] = Generated(
        {
            "name": np.array(supplies["name"].to_pylist(), dtype=object),
            "cost": supplies["cost"].to_numpy().astype(np.int64),
            "perishable": np.array(supplies["perishable"].to_pylist(), dtype=bool),
            "sku": _seq_of(supplies["sku"], ids["products"], f"{supplies_path}: sku"),
            "updated_at": updated(
                supplies, np.full(supplies.num_rows, first_day, np.int64), supplies_path
            ),
        },
        ids_of("supplies"),
    )
    days = max(1, (clock - first_day) // US_PER_DAY)
    data["inventory_movements"] = _read_inventory(directory, ids, data, first_day, days, seed)
    start = datetime.fromtimestamp(first_day / 1e6, tz=UTC).date()
    spec = replace(
        GenerationSpec(seed=seed, orders=orders.num_rows, start=start),
        history_days=days,
    )
    return spec, data


def _read_inventory(
    directory: Path,
    ids: dict[str, np.ndarray],
    data: dict[str, Generated],
    first_day: int,
    days: int,
    seed: int,
) -> Generated:
    path = directory / INVENTORY_FILE
    if not path.exists():
        items, orders = data["order_items"].columns, data["orders"].columns
        movements = inventory_movements(
            orders["ordered_at"][items["order_id"]],
            orders["store_id"][items["order_id"]],
            items["sku"],
            first_day,
            days,
            len(ids["stores"]),
            len(ids["products"]),
        )
        rng = np.random.default_rng([seed, 1])
        return Generated(movements, uuid_strings(rng, len(movements["sku"])))
    text = {c: pa.string() for c in ("id", "store_id", "sku", "reason")}
    table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=text))
    reason = pc.index_in(table["reason"], value_set=pa.array(MOVEMENT_REASONS))
    return Generated(
        {
            "store_id": _seq_of(table["store_id"], ids["stores"], f"{path}: store_id"),
            "sku": _seq_of(table["sku"], ids["products"], f"{path}: sku"),
            "quantity": table["quantity"].to_numpy().astype(np.int64),
            "reason": reason.to_numpy(zero_copy_only=False).astype(np.int64),
            "moved_at": _time_us(table, "moved_at", str(path)),
            "updated_at": _time_us(table, "updated_at", str(path)),
        },
        np.array(table["id"].to_pylist(), dtype="S"),
    )
