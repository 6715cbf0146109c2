"""The upstream's data: deterministic generation, change over time, CSV import and export."""

from __future__ import annotations

import re
import secrets
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from tests.support import FAST_UPSTREAM, read_all
from upstream.csvio import FILES, INVENTORY_FILE, CsvImportError, read_csv_dir, write_csv_dir
from upstream.generator import (
    RESTOCK_AT_US,
    US_PER_DAY,
    US_PER_HOUR,
    GenerationSpec,
    day_us,
    generate,
)
from upstream.process import UpstreamProcess
from upstream.store import ShopStore
from upstream.tables import NULL_TIME

pytestmark = pytest.mark.clock


def test_generation_is_deterministic() -> None:
    first = generate(GenerationSpec(seed=7, orders=2000))
    again = generate(GenerationSpec(seed=7, orders=2000))
    other = generate(GenerationSpec(seed=8, orders=2000))
    for name, table in first.items():
        assert np.array_equal(table.ids, again[name].ids)
        for column, values in table.columns.items():
            assert np.array_equal(values, again[name].columns[column]), (name, column)
    assert not np.array_equal(first["orders"].ids, other["orders"].ids)


def relative_to_start(store: ShopStore) -> dict[str, dict[str, list[object]]]:
    """Every table's ids and columns, times counted from the history's start."""
    start = store.spec.start_us
    tables: dict[str, dict[str, list[object]]] = {}
    for name, table in store.tables.items():
        columns: dict[str, list[object]] = {"_ids": list(store.ids[name][table.seq])}
        for column, values in table.columns.items():
            if column.endswith("_at") and values.dtype == np.int64:
                values = np.where(values == NULL_TIME, NULL_TIME, values - start)
            columns[column] = list(values)
        tables[name] = columns
    return tables


def test_the_same_seed_gives_the_same_data_set_whatever_the_start() -> None:
    """Shifted in time, identical relative to its start: nothing follows the calendar."""
    starts = (date(2024, 2, 29), date(2025, 12, 31), date(2026, 11, 30))
    stores = [ShopStore(GenerationSpec(seed=9, orders=2000, start=start)) for start in starts]
    for store in stores:
        store.advance(4)
    first = relative_to_start(stores[0])
    for other in stores[1:]:
        assert relative_to_start(other) == first, other.spec.start


def test_sale_day_spikes_and_amounts_add_up() -> None:
    spec = GenerationSpec(seed=3, orders=20_000, sale_day=date(2024, 10, 2), sale_multiplier=20)
    data = generate(spec)
    orders, items = data["orders"].columns, data["order_items"].columns
    per_day = np.bincount((orders["ordered_at"] - spec.start_us) // US_PER_DAY)
    sale = (day_us(date(2024, 10, 2)) - spec.start_us) // US_PER_DAY
    assert per_day[sale] > 10 * np.median(per_day)
    prices = data["products"].columns["price"]
    subtotal = np.bincount(items["order_id"], weights=prices[items["sku"]])
    assert np.array_equal(subtotal.astype(np.int64), orders["subtotal"])
    assert np.array_equal(orders["subtotal"] + orders["tax_paid"], orders["order_total"])


def test_advance_produces_updates_late_items_deletes_and_new_fields() -> None:
    key = secrets.token_hex(16)
    # Rates high enough that 10 days bring every kind of change (the data set, and so the
    # outcome, is the same whatever today's date is).
    rates = ("--deletion-rate", "0.01", "--late-item-rate", "0.05", "--return-rate", "0.02")
    with UpstreamProcess(key, "--orders", "3000", *rates, *FAST_UPSTREAM) as api:
        before = {name: read_all(api, name) for name in ("orders", "order_items", "customers")}
        changes = api.advance(days=10)
        after = {name: read_all(api, name) for name in ("orders", "order_items", "customers")}
        tweets = read_all(api, "tweets")

    orders_before, orders_after = before["orders"], after["orders"]
    assert changes["new_orders"] == len(orders_after.keys() - orders_before.keys()) > 0
    updated = {k for k in orders_before if orders_before[k] != orders_after[k]}
    assert updated and all(
        orders_after[k]["updated_at"] > orders_before[k]["updated_at"] for k in updated
    )
    assert {orders_after[k]["status"] for k in updated} <= {"completed", "returned"}

    # A late item arrives after its order was placed; the others come with it.
    new_items = [i for k, i in after["order_items"].items() if k not in before["order_items"]]
    late = [
        i
        for i in new_items
        if i["updated_at"][:19] != orders_after[i["order_id"]]["ordered_at"][:19]
    ]
    assert len(late) == changes["late_items"] > 0
    assert all(orders_after[i["order_id"]]["updated_at"] >= i["updated_at"] for i in late)

    deleted = [c for c in after["customers"].values() if c["deleted_at"] is not None]
    assert len(deleted) == changes["deleted_customers"] > 0
    assert all(c["name"] is None for c in deleted)

    new_orders = [orders_after[k] for k in orders_after.keys() - orders_before.keys()]
    assert any("channel" in order for order in new_orders)
    assert not any("channel" in order for order in orders_before.values())
    assert any("client" in tweet for tweet in tweets.values())


def test_advance_keeps_every_table_in_change_order() -> None:
    store = ShopStore(GenerationSpec(seed=5, orders=2000))
    store.advance(5)
    for table in store.tables.values():
        step = np.diff(table.updated_at)
        assert (step >= 0).all()
        assert (np.diff(table.seq)[step == 0] > 0).all()


def test_an_hour_is_its_share_of_the_day() -> None:
    """Advanced hour by hour, a day brings the day's kinds of change at the times the daily
    model has them: orders only while the shops are open, the restock delivery at 21:30
    bringing back the day's sales, every change stamped within its hour."""
    store = ShopStore(GenerationSpec(seed=5, orders=20_000))
    midnight = store.clock_us
    per_hour = []
    for _ in range(24):
        hour_start = store.clock_us
        changes = store.advance(hours=1)
        assert store.clock_us == hour_start + US_PER_HOUR
        for table in store.tables.values():
            assert (table.updated_at <= store.clock_us).all()
        per_hour.append(changes)
    new_orders = [changes["new_orders"] for changes in per_hour]
    assert sum(new_orders[:7]) == sum(new_orders[21:]) == 0  # closed before 07:00, after 21:00
    assert all(n > 0 for n in new_orders[9:20])
    assert sum(changes["completed_orders"] for changes in per_hour) > 0

    orders = store.tables["orders"].columns
    placed_today = (orders["ordered_at"] >= midnight).sum()
    assert placed_today == sum(new_orders)
    movements = store.tables["inventory_movements"].columns
    today = movements["moved_at"] >= midnight
    restocks = today & (movements["reason"] == 1)
    assert (movements["moved_at"][restocks] == midnight + RESTOCK_AT_US).all()
    assert restocks.any() and movements["quantity"][today].sum() == 0  # sold, then restocked


def test_csv_directory_round_trips(tmp_path: Path) -> None:
    spec = GenerationSpec(seed=11, orders=3000)
    original = generate(spec)
    write_csv_dir(original, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*FILES.values(), INVENTORY_FILE])
    imported_spec, imported = read_csv_dir(tmp_path, seed=11)
    assert imported_spec.clock_start_us == spec.clock_start_us
    for name, table in original.items():
        assert np.array_equal(table.ids, imported[name].ids), name
        for column, values in table.columns.items():
            if column.startswith("_has_") or f"_has_{column}" not in table.columns:
                mask = slice(None)
            else:
                mask = table.columns[f"_has_{column}"]
            assert list(values[mask]) == list(imported[name].columns[column][mask]), (name, column)


def test_served_csv_directory_matches_the_generated_upstream(tmp_path: Path) -> None:
    key = secrets.token_hex(16)
    spec = GenerationSpec(seed=42, orders=1500)
    write_csv_dir(generate(spec), tmp_path)
    args = ("--orders", "1500", "--start", spec.start.isoformat(), *FAST_UPSTREAM)
    with UpstreamProcess(key, *args) as generated:
        expected = read_all(generated, "orders")
    with UpstreamProcess(key, "--data-dir", str(tmp_path), *FAST_UPSTREAM) as imported:
        assert read_all(imported, "orders") == expected


def test_bad_csv_names_file_column_and_line(tmp_path: Path) -> None:
    write_csv_dir(generate(GenerationSpec(seed=1, orders=200)), tmp_path)
    orders = tmp_path / "raw_orders.csv"
    lines = orders.read_text().splitlines()
    lines[3] = re.sub(r'"(placed|completed|returned)"', '"lost"', lines[3])
    orders.write_text("\n".join(lines) + "\n")
    try:
        read_csv_dir(tmp_path)
    except CsvImportError as error:
        assert "raw_orders.csv" in str(error) and "status" in str(error) and "line 4" in str(error)
    else:
        raise AssertionError("a bad status was accepted")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("12.5", "'12.5' is not an integer (amounts are in cents)"),
        ("1e23", "'1e23' is not an integer"),
        ("12abc", "'12abc' is not an integer"),
    ],
)
def test_a_csv_value_that_does_not_fit_is_refused_not_changed(
    tmp_path: Path, value: str, reason: str
) -> None:
    write_csv_dir(generate(GenerationSpec(seed=1, orders=200)), tmp_path)
    orders = tmp_path / "raw_orders.csv"
    lines = orders.read_text().splitlines()
    fields = lines[5].split(",")
    fields[4] = value  # subtotal
    lines[5] = ",".join(fields)
    orders.write_text("\n".join(lines) + "\n")
    with pytest.raises(CsvImportError) as refused:
        read_csv_dir(tmp_path)
    assert f"raw_orders.csv: column subtotal on line 6: {reason}" in str(refused.value)


def test_a_csv_column_the_upstream_cannot_serve_is_refused(tmp_path: Path) -> None:
    write_csv_dir(generate(GenerationSpec(seed=1, orders=200)), tmp_path)
    stores = tmp_path / "raw_stores.csv"
    lines = stores.read_text().splitlines()
    stores.write_text("\n".join([lines[0] + ',"manager"', *(f"{line},x" for line in lines[1:])]))
    with pytest.raises(CsvImportError, match=r"raw_stores.csv: unknown column\(s\) manager"):
        read_csv_dir(tmp_path)
