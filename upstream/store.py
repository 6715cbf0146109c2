"""The upstream's state: one `Table` snapshot per entity, id registries, and a clock.

`advance` moves the clock a day (or an hour) at a time. Each day new customers sign up, orders
arrive with their items, yesterday's orders complete, a few recent ones are returned, late items
are added to recent orders (their totals change), customers ask to be deleted (a tombstone:
`deleted_at` set, personal data removed), catalog prices change and customers tweet. An hour is
the same day's model cut to that hour: the orders of the day's profile that fall in it, the
other changes at 1/24 of their daily rate, the day's restock when its 21:30 delivery does. Every
change stamps `updated_at` with a time within the step, so the tables stay in change order by
construction.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from upstream import catalog
from upstream.generator import (
    ITEM_COUNT_WEIGHTS,
    ORDERS_PER_TWEET,
    RESTOCK_AT_US,
    US_PER_DAY,
    US_PER_HOUR,
    US_PER_SECOND,
    Generated,
    GenerationSpec,
    Shop,
    amounts_for,
    customer_names,
    day_number,
    generate,
    generate_items,
    generate_orders,
    generate_tweets,
    inventory_movements,
    order_amounts,
    orders_on_day,
    skewed_choice,
    times_of_day,
    uuid_strings,
)
from upstream.schemas import SCHEMAS
from upstream.tables import NULL_TIME, Table

NEW_CUSTOMER_SHARE = 0.1


class ShopStore:
    """All upstream tables plus the clock that `advance` moves forward."""

    def __init__(self, spec: GenerationSpec, data: dict[str, Generated] | None = None) -> None:
        self.spec = spec
        self.clock_us = spec.clock_start_us
        self._lock = threading.Lock()
        data = generate(spec) if data is None else data
        self.ids = {name: generated.ids for name, generated in data.items()}
        self.tables = {
            name: Table(
                SCHEMAS[name],
                {**generated.columns, "_seq": np.arange(len(generated.ids), dtype=np.int64)},
            )
            for name, generated in data.items()
        }

    def advance(self, days: int = 0, hours: int = 0) -> dict[str, int]:
        """Move the clock `days` days, then `hours` hours forward; returns how many of each
        change happened."""
        steps = [US_PER_DAY] * days + [US_PER_HOUR] * hours
        totals: dict[str, int] = {}
        with self._lock:
            for step in steps:
                for name, count in self._advance_step(step).items():
                    totals[name] = totals.get(name, 0) + count
        return totals

    def _register(self, table: str, rng: np.random.Generator, n: int) -> np.ndarray:
        """Ids for `n` new rows of `table`; returns their `_seq` numbers."""
        first = len(self.ids[table])
        self.ids[table] = np.concatenate([self.ids[table], uuid_strings(rng, n)])
        return np.arange(first, first + n, dtype=np.int64)

    def _advance_step(self, step_us: int) -> dict[str, int]:
        """One day, or one hour of the day the clock is on (`step_us`)."""
        spec = self.spec
        day_start, day_end = self.clock_us, self.clock_us + step_us
        share = step_us / US_PER_DAY  # of the daily rates
        if step_us == US_PER_DAY:
            rng = np.random.default_rng([spec.seed, 100, day_number(spec, day_start)])
            ordered_at = np.sort(day_start + times_of_day(rng, orders_on_day(spec, day_start)))
        else:
            hour = (day_start - spec.start_us) // US_PER_HOUR
            rng = np.random.default_rng([spec.seed, 101, hour])
            midnight = day_start - (day_start - spec.start_us) % US_PER_DAY
            day_profile = midnight + times_of_day(rng, orders_on_day(spec, midnight))
            ordered_at = np.sort(day_profile[(day_profile >= day_start) & (day_profile < day_end)])

        def change_times(n: int) -> np.ndarray:
            """Distinct-enough times within this step for `n` changes."""
            return day_start + rng.integers(1, step_us // US_PER_SECOND, n) * US_PER_SECOND

        shop = self._shop()
        customers = self.tables["customers"]
        orders = self.tables["orders"]
        items = self.tables["order_items"]

        # Customers: sign-ups for a share of today's orders; privacy deletions.
        n_orders = len(ordered_at)
        by_new_customer = rng.random(n_orders) < NEW_CUSTOMER_SHARE
        n_new_customers = int(by_new_customer.sum())
        new_customer_seq = self._register("customers", rng, n_new_customers)
        alive = customers.columns["deleted_at"] == NULL_TIME
        delete = alive & (rng.random(len(customers)) < spec.deletion_rate * share)
        deleted_at = change_times(int(delete.sum()))
        tombstones = {name: values[delete] for name, values in customers.columns.items()}
        tombstones.update(
            name=np.full(len(deleted_at), None, dtype=object),
            deleted_at=deleted_at,
            updated_at=deleted_at,
        )
        first_order_at = ordered_at[by_new_customer]
        signups = {
            "name": customer_names(rng, n_new_customers),
            "deleted_at": np.full(n_new_customers, NULL_TIME, dtype=np.int64),
            "updated_at": first_order_at - rng.integers(1, 600, n_new_customers) * US_PER_SECOND,
            "_seq": new_customer_seq,
        }
        self.tables["customers"] = customers.replaced(~delete, concat(tombstones, signups))

        # New orders, from new and returning (not deleted) customers, with their items.
        returning = customers.seq[np.flatnonzero(alive & ~delete)]
        buyer_seq = np.empty(n_orders, dtype=np.int64)
        buyer_seq[by_new_customer] = new_customer_seq
        picks = skewed_choice(rng, len(returning), n_orders - n_new_customers)
        buyer_seq[~by_new_customer] = returning[picks]
        new_orders = generate_orders(spec, rng, ordered_at, day_end, buyer_seq, shop)
        counts = rng.choice(len(ITEM_COUNT_WEIGHTS), size=n_orders, p=ITEM_COUNT_WEIGHTS) + 1
        new_items = generate_items(rng, np.arange(n_orders, dtype=np.int64), counts, shop)
        new_orders.update(
            order_amounts(new_items["order_id"], new_items["sku"], new_orders["store_id"], shop)
        )
        new_orders["_seq"] = self._register("orders", rng, n_orders)
        new_items["order_id"] = new_orders["_seq"][new_items["order_id"]]
        new_items["updated_at"] = np.repeat(ordered_at, counts)

        # Existing orders: yesterday's complete, a few recent ones are returned, and a few
        # get a late item, which adds to their totals.
        status = orders.columns["status"]
        recent = orders.columns["ordered_at"] >= day_start - 7 * US_PER_DAY
        late = recent & (status == 1) & (rng.random(len(orders)) < spec.late_item_rate * share)
        returned = recent & (status == 1) & ~late
        returned &= rng.random(len(orders)) < spec.return_rate * share
        complete = (status == 0) & (orders.columns["ordered_at"] < day_end - US_PER_DAY)
        changed = complete | returned | late
        updated = {name: values[changed] for name, values in orders.columns.items()}
        updated["status"] = np.where(
            returned[changed], 2, np.where(complete[changed], 1, updated["status"])
        )
        updated["updated_at"] = change_times(int(changed.sum()))

        n_late = int(late.sum())
        late_items = generate_items(rng, orders.seq[late], np.ones(n_late, np.int64), shop)
        late_items["updated_at"] = updated["updated_at"][late[changed]]
        subtotal = updated["subtotal"].copy()
        subtotal[late[changed]] += shop.price[late_items["sku"]]
        updated.update(amounts_for(subtotal, updated["store_id"], shop))
        self.tables["orders"] = orders.replaced(~changed, concat(updated, new_orders))

        # A day's sales are counted from the clock, an hour's from its day's midnight.
        midnight = day_start - (day_start - spec.start_us) % US_PER_DAY
        sold = inventory_movements(
            ordered_at[np.repeat(np.arange(n_orders), counts)],
            np.repeat(new_orders["store_id"], counts),
            new_items["sku"],
            day_start if step_us == US_PER_DAY else midnight,
            1,
            len(shop.tax_rate),
            len(shop.price),
        )
        if step_us != US_PER_DAY:
            sold = self._restock_in_hour(sold, midnight, day_start, day_end)
        sold["_seq"] = self._register("inventory_movements", rng, len(sold["sku"]))
        movements = self.tables["inventory_movements"]
        self.tables["inventory_movements"] = movements.replaced(np.ones(len(movements), bool), sold)

        added_items = concat(new_items, late_items)
        added_items["_seq"] = self._register("order_items", rng, len(added_items["order_id"]))
        self.tables["order_items"] = items.replaced(np.ones(len(items), bool), added_items)

        # Tweets about today's orders.
        n_tweets = max(1, n_orders // ORDERS_PER_TWEET) if n_orders else 0
        tweets = generate_tweets(spec, rng, n_tweets, buyer_seq, ordered_at, day_end, shop)
        tweets["_seq"] = self._register("tweets", rng, n_tweets)
        old_tweets = self.tables["tweets"]
        self.tables["tweets"] = old_tweets.replaced(np.ones(len(old_tweets), bool), tweets)

        price_changes = self._change_prices(rng, change_times)
        self.clock_us = day_end
        return {
            "new_customers": n_new_customers,
            "deleted_customers": int(delete.sum()),
            "new_orders": n_orders,
            "completed_orders": int(complete.sum()),
            "returned_orders": int(returned.sum()),
            "late_items": n_late,
            "new_items": len(new_items["order_id"]),
            "new_tweets": n_tweets,
            "price_changes": price_changes,
        }

    def _restock_in_hour(
        self, movements: dict[str, np.ndarray], midnight: int, start: int, end: int
    ) -> dict[str, np.ndarray]:
        """An hour's stock movements: its sales, and the day's restock delivery only if the
        hour holds it (the delivery brings back what the whole day sold)."""
        sales = {name: values[movements["reason"] == 0] for name, values in movements.items()}
        restock_at = midnight + RESTOCK_AT_US
        if not start <= restock_at < end:
            return sales
        earlier = self.tables["inventory_movements"].columns
        today = (earlier["reason"] == 0) & (earlier["moved_at"] >= midnight)
        store = np.concatenate([earlier["store_id"][today], sales["store_id"]])
        sku = np.concatenate([earlier["sku"][today], sales["sku"]])
        sold = np.concatenate([earlier["quantity"][today], sales["quantity"]])
        n_skus = len(self._shop().price)
        cells, where = np.unique(store * n_skus + sku, return_inverse=True)
        quantity = -np.bincount(where, weights=sold, minlength=len(cells)).astype(np.int64)
        at = np.full(len(cells), restock_at, dtype=np.int64)
        restock = {
            "store_id": cells // n_skus,
            "sku": cells % n_skus,
            "quantity": quantity,
            "reason": np.ones(len(cells), np.int64),
            "moved_at": at,
            "updated_at": at.copy(),
        }
        return concat(sales, restock)

    def _shop(self) -> Shop:
        """Today's prices, menu and stores, indexed by `_seq`."""

        def by_seq(table: str, column: str) -> np.ndarray:
            snapshot = self.tables[table]
            values = np.empty(len(snapshot), dtype=snapshot.columns[column].dtype)
            values[snapshot.seq] = snapshot.columns[column]
            return values

        popularity = {store.name: store.popularity for store in catalog.STORES}
        return Shop(
            price=by_seq("products", "price"),
            is_jaffle=by_seq("products", "type") == "jaffle",
            product_name=by_seq("products", "name"),
            store_opened_at=by_seq("stores", "opened_at"),
            store_popularity=np.array([popularity.get(n, 1.0) for n in by_seq("stores", "name")]),
            tax_rate=by_seq("stores", "tax_rate"),
        )

    def _change_prices(
        self, rng: np.random.Generator, change_times: Callable[[int], np.ndarray]
    ) -> int:
        products = self.tables["products"]
        change = rng.random(len(products)) < self.spec.price_change_rate
        if not change.any():
            return 0
        changed = {name: values[change] for name, values in products.columns.items()}
        factor = 1 + rng.choice([-0.1, -0.05, 0.05, 0.1], size=int(change.sum()))
        changed["price"] = (np.rint(changed["price"] * factor / 10) * 10).astype(np.int64)
        changed["updated_at"] = change_times(int(change.sum()))
        self.tables["products"] = products.replaced(~change, changed)
        return int(change.sum())


def concat(first: dict[str, np.ndarray], second: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Rows of `first` then `second` (same columns)."""
    return {name: np.concatenate([first[name], second[name]]) for name in first}
