"""dlt source for the Jaffle Shop platform's REST API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dlt
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import BearerTokenAuth
from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator
from requests import Response

from ingestion.errors import UpstreamError

SOURCE_NAME = "shop_api"
MAX_PAGE_SIZE = 1000
# Every updated_at the API serves has this shape, so the cursor compares as text.
EPOCH = "1970-01-01T00:00:00.000000Z"

ORDER_COLUMNS: dict[str, dict[str, Any]] = {
    "id": {"data_type": "text", "nullable": False},
    "customer": {"data_type": "text"},
    "ordered_at": {"data_type": "timestamp"},
    "store_id": {"data_type": "text"},
    "subtotal": {"data_type": "bigint"},
    "tax_paid": {"data_type": "bigint"},
    "order_total": {"data_type": "bigint"},
    "status": {"data_type": "text"},
    "updated_at": {"data_type": "timestamp", "nullable": False},
}


# dlt's HTTP client retries these itself (with backoff, honouring Retry-After).
RETRYABLE_STATUSES = frozenset((429, *range(500, 600)))


def describe_failure(response: Response) -> str:
    """What failed, naming source, endpoint and parameters, never the key."""
    request = response.request
    endpoint, _, params = request.path_url.partition("?")
    if response.status_code == 401:
        reason = "rejected the API key (401 Unauthorized); check UPSTREAM_API_KEY"
    else:
        reason = f"answered {response.status_code}: {response.text[:200]}"
    return f"{SOURCE_NAME}: {request.method} {endpoint} ({params or 'no parameters'}) {reason}"


def raise_for_upstream_status(response: Response, *args: Any, **kwargs: Any) -> None:
    """Response hook: fail at once on errors that a retry cannot fix."""
    if response.status_code >= 400 and response.status_code not in RETRYABLE_STATUSES:
        raise UpstreamError(describe_failure(response))


class CheckedCursorPaginator(JSONResponseCursorPaginator):
    """dlt's cursor paginator, refusing a page the API did not serve once retries ran out.

    Without this an error body would read as an empty last page: data silently lost.
    """

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        if response.status_code >= 400:
            raise UpstreamError(describe_failure(response) + " (retries exhausted)")
        super().update_state(response, data)


@dlt.source(name=SOURCE_NAME)
def shop_api(
    base_url: str = dlt.config.value,
    api_key: str = dlt.secrets.value,
    page_size: int = MAX_PAGE_SIZE,
) -> Any:
    """Orders (and, as they are added, the other shop entities) from the platform's API."""
    client = RESTClient(
        base_url=base_url,
        auth=BearerTokenAuth(api_key),
        paginator=CheckedCursorPaginator(cursor_path="next_cursor", cursor_param="cursor"),
        data_selector="data",
    )

    @dlt.resource(
        name="orders",
        primary_key="id",
        write_disposition="merge",
        columns=ORDER_COLUMNS,
    )
    def orders(
        updated_at: dlt.sources.incremental[str] = dlt.sources.incremental(
            "updated_at", initial_value=EPOCH
        ),
    ) -> Iterator[list[dict[str, Any]]]:
        params = {"limit": page_size, "updated_since": updated_at.start_value}
        hooks = {"response": [raise_for_upstream_status]}
        yield from client.paginate("/v1/orders", params=params, hooks=hooks)

    return orders
