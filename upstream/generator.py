"""Deterministic, vectorized generation of the Jaffle Shop data set.

Everything is produced with numpy from one seed: the same spec gives identical tables. Times
are int64 microseconds since the Unix epoch (UTC); money is int64 cents, as in jafgen's raw
files. Volume follows a weekly cycle (busier weekends), a daily one (lunch and dinner peaks),
store openings, and a sale day with many times the normal volume: the skew that parallel
extraction has to cope with.

Nothing depends on the calendar: the weekly cycle, store openings, the sale day and every
random draw count days from the history's first day, so the same seed and sizes give the same
data set whatever day the history starts on, shifted in time (days 5 and 6 of each week, counted
from the start, are the busy "weekend").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from upstream import catalog
from upstream.schemas import CHANNELS, CLIENTS
from upstream.tables import NULL_TIME

US_PER_SECOND = 1_000_000
US_PER_MINUTE = 60 * US_PER_SECOND
US_PER_HOUR = 60 * US_PER_MINUTE
US_PER_DAY = 24 * US_PER_HOUR
RESTOCK_AT_US = 21 * US_PER_HOUR + 30 * US_PER_MINUTE  # a day's restock delivery, after closing

# Relative order volume by day of the week, counted from the history's first day: the last
# two are the busy weekend.
WEEKDAY_WEIGHTS = np.array([0.9, 0.85, 0.9, 1.0, 1.2, 1.45, 1.3])
# Mean items per order is about 2.3: mostly one jaffle and a drink.
ITEM_COUNT_WEIGHTS = np.array([0.3, 0.35, 0.2, 0.1, 0.05])
ORDERS_PER_CUSTOMER = 12
ORDERS_PER_TWEET = 8


def day_us(day: date) -> int:
    return (day - date(1970, 1, 1)).days * US_PER_DAY


@dataclass(frozen=True)
class GenerationSpec:
    """What to generate: `orders` placed over `history_days` days, reproducible from `seed`.

    `sale_day` (a date; default: two thirds into the history) gets `sale_multiplier` times its
    usual volume. From `evolve_at` on (default: three days after the history ends) new orders
    carry a `channel` field and new tweets a `client` field. The `*_rate`s are the daily
    chances, per eligible row, of the changes `advance` makes (see `upstream.store`): a test
    that needs such an event raises its rate instead of hoping for it.
    """

    seed: int = 42
    orders: int = 5_000
    history_days: int = 90
    start: date = date(2024, 9, 1)
    sale_day: date | None = None
    sale_multiplier: float = 20.0
    evolve_at: date | None = None
    deletion_rate: float = 0.0005  # a customer asks to be deleted
    late_item_rate: float = 0.01  # an order of the last week gets one more item
    return_rate: float = 0.004  # a completed order of the last week is returned
    price_change_rate: float = 0.01  # a product's price changes (by 5 or 10%)

    @property
    def start_us(self) -> int:
        return day_us(self.start)

    @property
    def clock_start_us(self) -> int:
        """The upstream's clock when the generated history ends."""
        return self.start_us + self.history_days * US_PER_DAY

    @property
    def sale_day_us(self) -> int:
        if self.sale_day is not None:
            return day_us(self.sale_day)
        return self.start_us + (2 * self.history_days // 3) * US_PER_DAY

    @property
    def evolve_at_us(self) -> int:
        if self.evolve_at is not None:
            return day_us(self.evolve_at)
        return self.clock_start_us + 3 * US_PER_DAY

    @property
    def mean_orders_per_day(self) -> float:
        return self.orders / self.history_days


def uuid_strings(rng: np.random.Generator, n: int) -> np.ndarray:
    """`n` random version-4 UUIDs as a fixed-width bytes array (dtype S36), vectorized."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hex_digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    text = np.full((n, 36), ord("-"), dtype=np.uint8)
    columns = [c for c in range(36) if c not in (8, 13, 18, 23)]
    nibbles = np.empty((n, 32), dtype=np.uint8)
    nibbles[:, 0::2] = hex_digits[raw >> 4]
    nibbles[:, 1::2] = hex_digits[raw & 0x0F]
    text[:, columns] = nibbles
    return text.view("S36").ravel()


def day_number(spec: GenerationSpec, time_us: int) -> int:
    """The day `time_us` falls on, counted from the history's first day (0)."""
    return (time_us - spec.start_us) // US_PER_DAY


def day_weights(spec: GenerationSpec, first_day_us: int, days: int) -> np.ndarray:
    """Relative order volume of each of `days` days from `first_day_us`."""
    day_numbers = day_number(spec, first_day_us) + np.arange(days)
    weights = WEEKDAY_WEIGHTS[day_numbers % 7]
    return np.where(
        day_numbers == day_number(spec, spec.sale_day_us), weights * spec.sale_multiplier, weights
    )


def orders_on_day(spec: GenerationSpec, day_start_us: int) -> int:
    """How many orders arrive on one day after the history (the same shape as the history)."""
    weight = day_weights(spec, day_start_us, 1)[0]
    return round(spec.mean_orders_per_day * float(weight) / WEEKDAY_WEIGHTS.mean())


def times_of_day(rng: np.random.Generator, n: int) -> np.ndarray:
    """Order times within a day: lunch and dinner peaks, shops open 07:00-21:00 UTC."""
    peak = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    centre = np.array([12.5, 18.5, 9.0])[peak] * US_PER_HOUR
    spread = np.array([1.2, 1.3, 1.0])[peak] * US_PER_HOUR
    offset = rng.normal(centre, spread)
    seconds = np.clip(offset, 7 * US_PER_HOUR, 21 * US_PER_HOUR - 1) // US_PER_SECOND
    return seconds.astype(np.int64) * US_PER_SECOND


def store_opened_us(start_us: int) -> np.ndarray:
    return np.array([start_us + s.opened_day * US_PER_DAY for s in catalog.STORES])


@dataclass(frozen=True)
class Shop:
    """The reference data that shapes new orders, as arrays indexed by `_seq`."""

    price: np.ndarray  # product price, cents
    is_jaffle: np.ndarray  # product is food (an order starts with one)
    product_name: np.ndarray
    store_opened_at: np.ndarray
    store_popularity: np.ndarray
    tax_rate: np.ndarray

    @classmethod
    def from_catalog(cls, start_us: int) -> Shop:
        return cls(
            price=np.array([p.price for p in catalog.PRODUCTS], dtype=np.int64),
            is_jaffle=np.array([p.type == "jaffle" for p in catalog.PRODUCTS]),
            product_name=np.array([p.name for p in catalog.PRODUCTS], dtype=object),
            store_opened_at=store_opened_us(start_us),
            store_popularity=np.array([s.popularity for s in catalog.STORES]),
            tax_rate=np.array([s.tax_rate for s in catalog.STORES]),
        )


def pick_stores(rng: np.random.Generator, ordered_at: np.ndarray, shop: Shop) -> np.ndarray:
    """A store for each order, by popularity among the stores open at the time."""
    is_open = ordered_at[:, None] >= shop.store_opened_at[None, :]
    weights = np.where(is_open, shop.store_popularity[None, :], 0.0)
    weights[~is_open.any(axis=1)] = shop.store_popularity  # before any opening: any store
    cdf = np.cumsum(weights, axis=1)
    u = rng.random(len(ordered_at)) * cdf[:, -1]
    return np.minimum((cdf <= u[:, None]).sum(axis=1), len(shop.tax_rate) - 1).astype(np.int64)


def generate_items(
    rng: np.random.Generator, order_seq: np.ndarray, counts: np.ndarray, shop: Shop
) -> dict[str, np.ndarray]:
    """`counts[i]` items for the order with `_seq` `order_seq[i]`: a jaffle first, then mixed."""
    n = int(counts.sum())
    parent = np.repeat(order_seq, counts)
    first = np.ones(n, dtype=bool)
    first[1:] = parent[1:] != parent[:-1]
    jaffles = np.flatnonzero(shop.is_jaffle)
    sku = rng.integers(0, len(shop.price), size=n)
    if len(jaffles):
        sku = np.where(first, jaffles[rng.integers(0, len(jaffles), size=n)], sku)
    sku = sku.astype(np.int64)
    return {"order_id": parent, "sku": sku, "price": shop.price[sku]}


def supplies_from_catalog(start_us: int) -> Generated:
    skus = [p.sku for p in catalog.PRODUCTS]
    supplies = catalog.SUPPLIES
    columns = {
        "name": np.array([x.name for x in supplies], dtype=object),
        "cost": np.array([x.cost for x in supplies], dtype=np.int64),
        "perishable": np.array([x.perishable for x in supplies]),
        "sku": np.array([skus.index(x.sku) for x in supplies], dtype=np.int64),
        "updated_at": np.full(len(supplies), start_us, dtype=np.int64),
    }
    return Generated(columns, np.array([x.id for x in supplies], dtype="S"))


def inventory_movements(
    sold_at: np.ndarray,
    store: np.ndarray,
    sku: np.ndarray,
    first_day_us: int,
    days: int,
    n_stores: int,
    n_skus: int,
) -> dict[str, np.ndarray]:
    """Stock movements of `days` days from the items sold: an hourly sale per store and SKU
    (negative quantity) and a restock delivery of the day's sales at 21:30, after closing."""
    hours = days * 24
    hour = (sold_at - first_day_us) // US_PER_HOUR
    cell = (hour * n_stores + store) * n_skus + sku
    hourly = np.bincount(cell, minlength=hours * n_stores * n_skus)
    sold = np.flatnonzero(hourly)
    sale_hour, rest = np.divmod(sold, n_stores * n_skus)
    daily = hourly.reshape(days, 24, n_stores * n_skus).sum(axis=1).ravel()
    restocked = np.flatnonzero(daily)
    restock_day, restock_rest = np.divmod(restocked, n_stores * n_skus)
    moved_at = np.concatenate(
        [
            first_day_us + (sale_hour + 1) * US_PER_HOUR - US_PER_SECOND,
            first_day_us + restock_day * US_PER_DAY + RESTOCK_AT_US,
        ]
    )
    where = np.concatenate([rest, restock_rest])
    return {
        "store_id": where // n_skus,
        "sku": where % n_skus,
        "quantity": np.concatenate([-hourly[sold], daily[restocked]]).astype(np.int64),
        "reason": np.concatenate(
            [np.zeros(len(sold), np.int64), np.ones(len(restocked), np.int64)]
        ),
        "moved_at": moved_at,
        "updated_at": moved_at.copy(),
    }


@dataclass
class Generated:
    """One entity's rows (in insertion order, `_seq` = 0..n-1) and its id registry."""

    columns: dict[str, np.ndarray]
    ids: np.ndarray


def generate_orders(
    spec: GenerationSpec,
    rng: np.random.Generator,
    ordered_at: np.ndarray,
    clock_us: int,
    customer_seq: np.ndarray,
    shop: Shop,
) -> dict[str, np.ndarray]:
    """Orders (without amounts) placed at `ordered_at`, as seen at `clock_us`.

    Orders older than a day are completed; a few were returned within two weeks.
    `updated_at` is the time of the last status change and never later than the clock.
    """
    n = len(ordered_at)
    completed = clock_us - ordered_at > US_PER_DAY
    completed_at = ordered_at + rng.integers(15, 60, size=n) * US_PER_MINUTE
    returned_at = completed_at + rng.integers(1, 14 * 24 * 3600, size=n) * US_PER_SECOND
    returned = completed & (rng.random(n) < 0.02) & (returned_at < clock_us)
    updated_at = np.where(returned, returned_at, np.where(completed, completed_at, ordered_at))
    status = np.where(returned, 2, np.where(completed, 1, 0))
    has_channel = ordered_at >= spec.evolve_at_us
    return {
        "customer": customer_seq,
        "ordered_at": ordered_at,
        "store_id": pick_stores(rng, ordered_at, shop),
        "status": status.astype(np.int64),
        "channel": rng.choice(len(CHANNELS), size=n, p=[0.5, 0.35, 0.15]),
        "_has_channel": has_channel,
        "updated_at": updated_at,
    }


def order_amounts(
    order_index: np.ndarray, sku: np.ndarray, store_index: np.ndarray, shop: Shop
) -> dict[str, np.ndarray]:
    """Subtotal (sum of item prices), tax at the store's rate, and total, in cents.

    Items belong to order `order_index[i]` (0..len(store_index)-1) and cost `price[sku[i]]`.
    """
    subtotal = np.bincount(order_index, weights=shop.price[sku], minlength=len(store_index))
    return amounts_for(subtotal.astype(np.int64), store_index, shop)


def amounts_for(subtotal: np.ndarray, store_index: np.ndarray, shop: Shop) -> dict[str, np.ndarray]:
    tax_paid = np.rint(subtotal * shop.tax_rate[store_index]).astype(np.int64)
    return {"subtotal": subtotal, "tax_paid": tax_paid, "order_total": subtotal + tax_paid}


def generate_tweets(
    spec: GenerationSpec,
    rng: np.random.Generator,
    n: int,
    customer_seq: np.ndarray,
    around_us: np.ndarray,
    clock_us: int,
    shop: Shop,
) -> dict[str, np.ndarray]:
    """`n` tweets by customers, each some minutes to hours after one of `around_us`."""
    pick = rng.integers(0, len(around_us), size=n)
    tweeted_at = around_us[pick] + rng.integers(10, 300, size=n) * US_PER_MINUTE
    tweeted_at = np.minimum(tweeted_at, clock_us - US_PER_SECOND)
    contents = np.array(
        [t.format(product=name) for t in catalog.TWEET_TEMPLATES for name in shop.product_name],
        dtype=object,
    )
    return {
        "user_id": customer_seq[pick],
        "tweeted_at": tweeted_at,
        "content": contents[rng.integers(0, len(contents), size=n)],
        "client": rng.choice(len(CLIENTS), size=n, p=[0.45, 0.4, 0.15]),
        "_has_client": tweeted_at >= spec.evolve_at_us,
        "updated_at": tweeted_at,
    }


def customer_names(rng: np.random.Generator, n: int) -> np.ndarray:
    first = np.array(catalog.FIRST_NAMES, dtype=object)[
        rng.integers(0, len(catalog.FIRST_NAMES), n)
    ]
    last = np.array(catalog.LAST_NAMES, dtype=object)[rng.integers(0, len(catalog.LAST_NAMES), n)]
    return first + " " + last


def skewed_choice(rng: np.random.Generator, population: int, n: int) -> np.ndarray:
    """Indexes in `[0, population)`, low ones far more often: a few loyal customers."""
    return np.minimum((population * rng.random(n) ** 2).astype(np.int64), population - 1)


def generate(spec: GenerationSpec) -> dict[str, Generated]:
    """The full initial data set."""
    rng = np.random.default_rng([spec.seed, 0])
    shop = Shop.from_catalog(spec.start_us)
    clock = spec.clock_start_us
    n_orders = spec.orders

    weights = day_weights(spec, spec.start_us, spec.history_days)
    day = np.sort(rng.choice(spec.history_days, size=n_orders, p=weights / weights.sum()))
    ordered_at = spec.start_us + day * US_PER_DAY + times_of_day(rng, n_orders)
    ordered_at = np.minimum(ordered_at, clock - US_PER_SECOND)

    n_customers = max(50, n_orders // ORDERS_PER_CUSTOMER)
    order_customer = skewed_choice(rng, n_customers, n_orders)
    orders = generate_orders(spec, rng, ordered_at, clock, order_customer, shop)

    counts = rng.choice(len(ITEM_COUNT_WEIGHTS), size=n_orders, p=ITEM_COUNT_WEIGHTS) + 1
    items = generate_items(rng, np.arange(n_orders, dtype=np.int64), counts, shop)
    items["updated_at"] = ordered_at[items["order_id"]]
    orders.update(order_amounts(items["order_id"], items["sku"], orders["store_id"], shop))

    # A customer signs up shortly before their first order (or any time, if they never order).
    signed_up = spec.start_us + rng.integers(0, spec.history_days * US_PER_DAY, n_customers)
    first_order = np.full(n_customers, np.iinfo(np.int64).max)
    np.minimum.at(first_order, order_customer, ordered_at)
    signed_up = np.minimum(
        signed_up, first_order - rng.integers(1, 600, n_customers) * US_PER_SECOND
    )
    customers = {
        "name": customer_names(rng, n_customers),
        "deleted_at": np.full(n_customers, NULL_TIME, dtype=np.int64),
        "updated_at": signed_up,
    }

    n_tweets = max(10, n_orders // ORDERS_PER_TWEET)
    tweets = generate_tweets(spec, rng, n_tweets, order_customer, ordered_at, clock, shop)

    stores = {
        "name": np.array([s.name for s in catalog.STORES], dtype=object),
        "opened_at": shop.store_opened_at,
        "tax_rate": shop.tax_rate,
    }
    stores["updated_at"] = np.maximum(stores["opened_at"], spec.start_us)
    products = {
        "name": np.array([p.name for p in catalog.PRODUCTS], dtype=object),
        "type": np.array([p.type for p in catalog.PRODUCTS], dtype=object),
        "price": shop.price,
        "description": np.array([p.description for p in catalog.PRODUCTS], dtype=object),
        "updated_at": np.full(len(catalog.PRODUCTS), spec.start_us, dtype=np.int64),
    }
    skus = np.array([p.sku for p in catalog.PRODUCTS], dtype="S7")

    item_order = items["order_id"]
    movements = inventory_movements(
        ordered_at[item_order],
        orders["store_id"][item_order],
        items["sku"],
        spec.start_us,
        spec.history_days,
        len(catalog.STORES),
        len(catalog.PRODUCTS),
    )
    id_rng = np.random.default_rng([spec.seed, 1])
    return {
        "stores": Generated(stores, uuid_strings(id_rng, len(catalog.STORES))),
        "products": Generated(products, skus),
        "customers": Generated(customers, uuid_strings(id_rng, n_customers)),
        "orders": Generated(orders, uuid_strings(id_rng, n_orders)),
        "order_items": Generated(items, uuid_strings(id_rng, len(items["order_id"]))),
        "tweets": Generated(tweets, uuid_strings(id_rng, n_tweets)),
        "supplies": supplies_from_catalog(spec.start_us),
        "inventory_movements": Generated(movements, uuid_strings(id_rng, len(movements["sku"]))),
    }
