"""Deterministic, vectorized generation of the Jaffle Shop data set.

Everything is produced with numpy from one seed: the same (seed, scale) gives byte-identical
tables. Times are int64 microseconds since the Unix epoch (UTC); money is int64 cents, as in
dbt Labs' jafgen raw files.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

US_PER_SECOND = 1_000_000
US_PER_HOUR = 3600 * US_PER_SECOND
US_PER_DAY = 24 * US_PER_HOUR

# 2024-09-01T00:00:00Z: the first day of the generated history.
HISTORY_START_US = 1_725_148_800 * US_PER_SECOND

# Relative order volume by weekday (Monday first): weekends are busier.
WEEKDAY_WEIGHTS = np.array([0.9, 0.85, 0.9, 1.0, 1.2, 1.45, 1.3])

STORE_COUNT = 6
STORE_TAX_RATES = np.array([0.04, 0.0625, 0.08, 0.06, 0.07, 0.0475])


@dataclass(frozen=True)
class GenerationSpec:
    """What to generate: `orders` over `history_days` days, reproducible from `seed`."""

    seed: int = 42
    orders: int = 5_000
    history_days: int = 90

    @property
    def clock_start_us(self) -> int:
        """The upstream's clock when the generated history ends."""
        return HISTORY_START_US + self.history_days * US_PER_DAY


def uuid_strings(rng: np.random.Generator, n: int) -> np.ndarray:
    """`n` random version-4 UUIDs as a fixed-width bytes array (dtype S36), vectorized."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hex_digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    nibbles = np.empty((n, 32), dtype=np.uint8)
    nibbles[:, 0::2] = hex_digits[raw >> 4]
    nibbles[:, 1::2] = hex_digits[raw & 0x0F]
    dash = np.full((n, 1), ord("-"), dtype=np.uint8)
    parts = [
        nibbles[:, 0:8],
        dash,
        nibbles[:, 8:12],
        dash,
        nibbles[:, 12:16],
        dash,
        nibbles[:, 16:20],
        dash,
        nibbles[:, 20:32],
    ]
    return np.ascontiguousarray(np.hstack(parts)).view("S36").ravel()


def day_weights(first_day_us: int, days: int) -> np.ndarray:
    """Relative order volume for each of `days` days starting at `first_day_us`."""
    day_numbers = (first_day_us // US_PER_DAY) + np.arange(days)
    weekday = (day_numbers + 3) % 7  # 1970-01-01 was a Thursday
    return WEEKDAY_WEIGHTS[weekday]


def store_ids(seed: int) -> np.ndarray:
    return uuid_strings(np.random.default_rng([seed, 1]), STORE_COUNT)


def customer_ids(seed: int, orders: int) -> np.ndarray:
    return uuid_strings(np.random.default_rng([seed, 2]), max(50, orders // 12))


def generate_orders(
    rng: np.random.Generator,
    n: int,
    first_day_us: int,
    days: int,
    clock_us: int,
    customers: np.ndarray,
    stores: np.ndarray,
) -> dict[str, np.ndarray]:
    """`n` orders placed over `days` days from `first_day_us`, as seen at `clock_us`.

    Orders older than a day are completed; a few of those were returned. `updated_at` is the
    time of the last status change and never later than the clock.
    """
    weights = day_weights(first_day_us, days)
    day = rng.choice(days, size=n, p=weights / weights.sum())
    # Shops open 07:00-21:00 UTC.
    time_of_day = rng.integers(7 * US_PER_HOUR, 21 * US_PER_HOUR, size=n) // US_PER_SECOND
    ordered_at = first_day_us + day * US_PER_DAY + time_of_day * US_PER_SECOND
    ordered_at = np.minimum(ordered_at, clock_us - US_PER_SECOND)

    store_index = rng.integers(0, len(stores), size=n)
    subtotal = rng.integers(1, 8, size=n) * 100 * rng.integers(3, 12, size=n)
    tax_paid = np.rint(subtotal * STORE_TAX_RATES[store_index % len(STORE_TAX_RATES)])
    tax_paid = tax_paid.astype(np.int64)

    age = clock_us - ordered_at
    completed = age > US_PER_DAY
    returned = completed & (rng.random(n) < 0.02)
    status = np.where(returned, "returned", np.where(completed, "completed", "placed"))
    # Completion 15-60 minutes after ordering; a return within 14 days.
    completed_at = ordered_at + rng.integers(15 * 60, 3600, size=n) * US_PER_SECOND
    returned_at = completed_at + rng.integers(1, 14 * 24 * 3600, size=n) * US_PER_SECOND
    updated_at = np.where(returned, returned_at, np.where(completed, completed_at, ordered_at))
    updated_at = np.minimum(updated_at, clock_us)

    return {
        "id": uuid_strings(rng, n),
        "customer": customers[rng.integers(0, len(customers), size=n)],
        "ordered_at": ordered_at,
        "store_id": stores[store_index],
        "subtotal": subtotal.astype(np.int64),
        "tax_paid": tax_paid,
        "order_total": subtotal.astype(np.int64) + tax_paid,
        "status": status.astype("S9"),
        "updated_at": updated_at.astype(np.int64),
    }


def generate(spec: GenerationSpec) -> dict[str, dict[str, np.ndarray]]:
    """The full initial data set: one dict of columns per entity."""
    rng = np.random.default_rng([spec.seed, 0])
    orders = generate_orders(
        rng,
        spec.orders,
        HISTORY_START_US,
        spec.history_days,
        spec.clock_start_us,
        customer_ids(spec.seed, spec.orders),
        store_ids(spec.seed),
    )
    return {"orders": orders}
