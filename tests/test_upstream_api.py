"""The simulated upstream's REST API, over real HTTP on loopback."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from tests.support import upstream_orders
from upstream.generator import GenerationSpec, generate
from upstream.process import UpstreamProcess

ORDERS = 2_500


@pytest.fixture(scope="module")
def api() -> Iterator[UpstreamProcess]:
    with UpstreamProcess(secrets.token_hex(16), "--orders", str(ORDERS)) as process:
        yield process


def get(api: UpstreamProcess, key: str | None, **params: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return httpx.get(f"{api.url}/v1/orders", params=params, headers=headers)


def test_requests_without_the_right_key_are_refused(api: UpstreamProcess) -> None:
    assert get(api, None).status_code == 401
    refused = get(api, "wrong-key")
    assert refused.status_code == 401
    assert refused.json()["error"] == "unauthorized"
    assert get(api, api.api_key).status_code == 200


def test_paging_returns_every_order_exactly_once(api: UpstreamProcess) -> None:
    orders = upstream_orders(api)  # asserts no order is served twice
    assert len(orders) == ORDERS
    first_page = get(api, api.api_key, limit=1000).json()
    assert len(first_page["data"]) == 1000 and first_page["has_more"]


def test_updated_since_and_before_filter_exactly(api: UpstreamProcess) -> None:
    orders = upstream_orders(api)
    stamps = sorted(row["updated_at"] for row in orders.values())
    since, before = stamps[len(stamps) // 3], stamps[2 * len(stamps) // 3]
    expected = {key for key, row in orders.items() if since <= row["updated_at"] < before}

    seen: set[str] = set()
    params: dict[str, Any] = {"limit": 100, "updated_since": since, "updated_before": before}
    while True:
        page = get(api, api.api_key, **params).json()
        seen.update(row["id"] for row in page["data"])
        if not page["has_more"]:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == expected


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"limit": 5000}, "limit"),
        ({"updated_since": "yesterday"}, "updated_since"),
        ({"cursor": "not-a-cursor"}, "cursor"),
    ],
)
def test_bad_parameters_get_a_400_naming_the_problem(
    api: UpstreamProcess, params: dict[str, Any], named: str
) -> None:
    response = get(api, api.api_key, **params)
    assert response.status_code == 400
    assert named in response.json()["detail"]


def test_advance_adds_orders_and_changes_existing_ones() -> None:
    with UpstreamProcess(secrets.token_hex(16), "--orders", "500") as api:
        before = upstream_orders(api)
        changes = api.advance(days=3)
        after = upstream_orders(api)
    new = after.keys() - before.keys()
    changed = {key for key in before if before[key] != after[key]}
    assert len(new) == changes["new_orders"] > 0
    assert len(changed) > 0
    assert all(after[key]["updated_at"] > before[key]["updated_at"] for key in changed)
    assert before.keys() <= after.keys()


def test_generation_is_deterministic() -> None:
    first = generate(GenerationSpec(seed=7, orders=1000))["orders"]
    again = generate(GenerationSpec(seed=7, orders=1000))["orders"]
    other = generate(GenerationSpec(seed=8, orders=1000))["orders"]
    assert all(np.array_equal(first[name], again[name]) for name in first)
    assert not np.array_equal(first["id"], other["id"])
