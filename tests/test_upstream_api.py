"""The simulated upstream's REST API, over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support import FAST_UPSTREAM, read_all
from upstream.api import ENDPOINTS
from upstream.process import UpstreamProcess

ORDERS = 2_500


@pytest.fixture(scope="module")
def api() -> Iterator[UpstreamProcess]:
    with UpstreamProcess(secrets.token_hex(16), "--orders", str(ORDERS), *FAST_UPSTREAM) as p:
        yield p


def get(api: UpstreamProcess, endpoint: str, key: str | None, **params: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return httpx.get(f"{api.url}/v1/{endpoint}", params=params, headers=headers, timeout=30)


@pytest.mark.parametrize("endpoint", [e.name for e in ENDPOINTS])
def test_requests_without_the_right_key_are_refused(api: UpstreamProcess, endpoint: str) -> None:
    assert get(api, endpoint, None).status_code == 401
    refused = get(api, endpoint, "wrong-key")
    assert refused.status_code == 401
    assert refused.json()["error"] == "unauthorized"
    assert get(api, endpoint, api.api_key).status_code == 200


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS], ids=lambda e: e.name)
def test_paging_returns_every_row_exactly_once(api: UpstreamProcess, endpoint: Any) -> None:
    rows = read_all(api, endpoint.name)  # asserts that no row is served twice
    first = get(api, endpoint.name, api.api_key, limit=7).json()
    if endpoint.pagination == "cursor":
        assert first["has_more"] is True and first["next_cursor"]
    else:
        assert first["total"] == len(rows) and first["total_pages"] == -(-len(rows) // 7)
    if endpoint.name == "orders":
        assert len(rows) == ORDERS


@pytest.mark.parametrize("endpoint", ["orders", "order_items", "tweets", "customers"])
def test_updated_since_and_before_filter_exactly(api: UpstreamProcess, endpoint: str) -> None:
    rows = read_all(api, endpoint)
    stamps = sorted(row["updated_at"] for row in rows.values())
    since, before = stamps[len(stamps) // 3], stamps[2 * len(stamps) // 3]
    expected = {key for key, row in rows.items() if since <= row["updated_at"] < before}
    served = read_all(api, endpoint, updated_since=since, updated_before=before)
    assert set(served) == expected


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"limit": 5000}, "limit"),
        ({"updated_since": "yesterday"}, "updated_since"),
        ({"updated_before": "2024-13-45"}, "updated_before"),
        ({"cursor": "not-a-cursor"}, "cursor"),
    ],
)
def test_bad_parameters_get_a_400_naming_the_problem(
    api: UpstreamProcess, params: dict[str, Any], named: str
) -> None:
    response = get(api, "orders", api.api_key, **params)
    assert response.status_code == 400
    assert named in response.json()["detail"]


@pytest.mark.parametrize("endpoint", ["products", "stores"])
def test_matching_etag_gets_a_304_without_a_body(api: UpstreamProcess, endpoint: str) -> None:
    first = get(api, endpoint, api.api_key)
    etag = first.headers["ETag"]
    headers = {"Authorization": f"Bearer {api.api_key}", "If-None-Match": etag}
    again = httpx.get(f"{api.url}/v1/{endpoint}", headers=headers)
    assert again.status_code == 304
    assert again.content == b""
    stale = httpx.get(f"{api.url}/v1/{endpoint}", headers={**headers, "If-None-Match": '"0-x"'})
    assert stale.status_code == 200 and stale.json()["data"]


def test_etag_changes_when_the_catalog_changes() -> None:
    key = secrets.token_hex(16)
    rate = ("--price-change-rate", "1")  # every price changes on the first day
    with UpstreamProcess(key, "--orders", "300", *rate, *FAST_UPSTREAM) as api:
        before = get(api, "products", key).headers["ETag"]
        assert api.advance(days=1)["price_changes"] == 10
        assert get(api, "products", key).headers["ETag"] != before


def test_the_advance_command_moves_the_clock_by_days_or_hours() -> None:
    key = secrets.token_hex(16)
    with UpstreamProcess(key, "--orders", "300", *FAST_UPSTREAM) as api:

        def advance(*args: str) -> datetime:
            command = [sys.executable, "-m", "upstream", "advance", "--url", api.url, *args]
            env = {**os.environ, "UPSTREAM_API_KEY": key}
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            return datetime.fromisoformat(json.loads(done.stdout)["clock"])

        started = datetime.fromisoformat(httpx.get(f"{api.url}/health").json()["clock"])
        assert advance() - started == timedelta(days=1)
        assert advance("--hours", "13") - started == timedelta(days=1, hours=13)
        assert advance("--days", "2", "--hours", "1") - started == timedelta(days=3, hours=14)


def test_over_the_rate_limit_gets_429_with_retry_after() -> None:
    key = secrets.token_hex(16)
    limited = ("--latency-ms", "0", "--jitter-ms", "0", "--rate-limit", "5", "--burst", "3")
    with UpstreamProcess(key, "--orders", "300", *limited) as api:
        responses = [get(api, "orders", key, limit=1) for _ in range(6)]
        statuses = [r.status_code for r in responses]
        assert statuses[:3] == [200, 200, 200]
        assert 429 in statuses[3:]
        refused = next(r for r in responses if r.status_code == 429)
        assert int(refused.headers["Retry-After"]) >= 1
        for response in responses:
            assert response.headers["X-RateLimit-Limit"] == "5"
            assert "X-RateLimit-Remaining" in response.headers
            assert "X-RateLimit-Reset" in response.headers
        time.sleep(1.0)  # refills about 5 tokens
        assert get(api, "orders", key, limit=1).status_code == 200
        counters = httpx.get(
            f"{api.url}/admin/counters", headers={"Authorization": f"Bearer {key}"}
        ).json()
        assert counters["rate_limited_429"] == statuses.count(429)


def test_faults_occur_at_the_configured_rates_reproducibly() -> None:
    key = secrets.token_hex(16)
    faulty = (*FAST_UPSTREAM, "--faults", "error_5xx=0.2,truncate=0.1", "--fault-seed", "7")

    def outcomes() -> list[str]:
        seen = []
        with UpstreamProcess(key, "--orders", "300", *faulty) as api:
            for _ in range(300):
                response = get(api, "orders", key, limit=2)
                if response.status_code >= 500:
                    seen.append("5xx")
                else:
                    try:
                        response.json()
                        seen.append("ok")
                    except ValueError:
                        seen.append("truncated")
        return seen

    first = outcomes()
    assert 0.13 < first.count("5xx") / 300 < 0.27
    assert 0.05 < first.count("truncated") / 300 < 0.16
    assert outcomes() == first


def test_a_request_asked_again_after_max_in_a_row_faults_is_answered() -> None:
    key = secrets.token_hex(16)
    faults = ("--faults", "error_5xx=1,max_in_a_row=3")
    with UpstreamProcess(key, "--orders", "300", *FAST_UPSTREAM, *faults) as api:
        asked_again = [get(api, "orders", key, limit=5).status_code for _ in range(4)]
        another_request = get(api, "orders", key, limit=6).status_code
    assert [status >= 500 for status in asked_again] == [True, True, True, False]
    assert asked_again[3] == 200
    assert another_request >= 500


def test_dropped_connections_break_the_body() -> None:
    key = secrets.token_hex(16)
    with UpstreamProcess(key, "--orders", "300", *FAST_UPSTREAM, "--faults", "drop=1") as api:
        with pytest.raises(httpx.TransportError):
            get(api, "orders", key, limit=50)
        assert httpx.get(f"{api.url}/health").status_code == 200


@pytest.mark.parametrize("endpoint", [e.name for e in ENDPOINTS])
def test_one_row_by_its_key_is_the_row_the_list_serves(api: UpstreamProcess, endpoint: str) -> None:
    rows = read_all(api, endpoint)
    key, row = next(iter(rows.items()))
    served = get(api, f"{endpoint}/{key}", api.api_key)
    assert served.status_code == 200 and served.json()["data"] == [row]
    missing = get(api, f"{endpoint}/no-such-key", api.api_key)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_openapi_description_lists_every_endpoint(api: UpstreamProcess) -> None:
    spec = httpx.get(f"{api.url}/openapi.json").json()
    assert {f"/v1/{e.name}" for e in ENDPOINTS} <= set(spec["paths"])
    assert {f"/v1/{e.name}/{{key}}" for e in ENDPOINTS} <= set(spec["paths"])


@pytest.mark.parametrize(
    ("faults", "expected"),
    [
        ("burst_429=1,burst_length=3", "429"),
        ("malform=1", "bad json"),
        ("slow=1,slow_seconds=0.6", "slow"),
    ],
)
def test_each_fault_kind_shows_as_a_client_would_see_it(faults: str, expected: str) -> None:
    key = secrets.token_hex(16)
    with UpstreamProcess(key, "--orders", "300", *FAST_UPSTREAM, "--faults", faults) as api:
        started = time.perf_counter()
        response = get(api, "orders", key, limit=5)
        elapsed = time.perf_counter() - started
    if expected == "429":
        assert response.status_code == 429 and response.headers["Retry-After"] == "1"
    elif expected == "bad json":
        assert response.status_code == 200
        with pytest.raises(ValueError):
            response.json()
    else:
        assert response.status_code == 200 and elapsed >= 0.6
        assert len(response.json()["data"]) == 5


def test_concurrency_cap_refuses_requests_beyond_it() -> None:
    key = secrets.token_hex(16)
    slow = ("--latency-ms", "300", "--jitter-ms", "0", "--rate-limit", "0", "--max-concurrent", "2")
    with UpstreamProcess(key, "--orders", "300", *slow) as api:

        async def four_at_once() -> list[int]:
            headers = {"Authorization": f"Bearer {key}"}
            async with httpx.AsyncClient(base_url=api.url, headers=headers) as client:
                responses = await asyncio.gather(
                    *(client.get("/v1/orders", params={"limit": 1}) for _ in range(4))
                )
            return sorted(r.status_code for r in responses)

        assert asyncio.run(four_at_once()) == [200, 200, 429, 429]
