"""Parallel page fetching for the shop API, where dlt reads one page at a time per endpoint.

- Page/offset endpoints: page 1 tells `total_pages`; the other pages are fetched concurrently.
- Cursor endpoints: the `updated_since`/`updated_before` range is cut into slices paginated
  concurrently. The API gives no counts, so slices are balanced by what the data shows: after
  each page a slice estimates, from the time span that page covered, how many pages it has
  left, and if that is more than a couple it hands the second half of its range to a new
  task. A sale-day spike thus ends up cut finer than a quiet week, and no worker is left with
  the one slow slice. (`balanced_slices=False` keeps the even calendar cuts, for comparison.)

All requests go through the source's `PacedSession` (pacing, retries, validation).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from dlt.sources.helpers.rest_client import RESTClient

from ingestion.errors import UpstreamError
from ingestion.parallel import Task, TaskPool
from ingestion.shop_api.endpoints import EndpointSpec

Rows = list[dict[str, Any]]
SPLIT_ABOVE_PAGES = 2.0  # a slice with more pages left than this splits in two
MIN_SLICE = timedelta(seconds=1)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


def change_times(rows: Rows) -> list[datetime]:
    """The rows' `updated_at` values that parse (a bad one is the converter's to reject)."""
    times = []
    for row in rows:
        try:
            times.append(parse(row["updated_at"]))
        except (KeyError, TypeError, ValueError):
            continue
    return times


@dataclass
class ShopApiFetcher:
    client: RESTClient
    hooks: dict[str, Any]
    workers: int
    page_size: int
    balanced_slices: bool = True
    # The response hook for `row`: `hooks`' check, except that a 404 answers "no such row".
    not_found_is_an_answer: Any = None

    def get(self, spec: EndpointSpec, params: dict[str, Any], headers: dict | None = None) -> Any:
        return self.client.get(f"/v1/{spec.name}", params=params, headers=headers, hooks=self.hooks)

    def page(self, spec: EndpointSpec, params: dict[str, Any]) -> dict[str, Any]:
        body = self.get(spec, params).json()
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise UpstreamError(f"shop_api: GET /v1/{spec.name} ({params}) has no `data` list")
        return body

    def row(self, spec: EndpointSpec, key: str) -> Rows:
        """The row with `key` as the upstream serves it now (none: no such row)."""
        path = f"/v1/{spec.name}/{quote(key, safe='')}"
        hooks = {"response": [self.not_found_is_an_answer]}
        response = self.client.get(path, hooks=hooks)
        if response.status_code == 404:
            return []
        body = response.json()
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise UpstreamError(f"shop_api: GET {path} has no `data` list")
        return body["data"]

    def changed_pages(
        self, spec: EndpointSpec, since: datetime, before: datetime | None
    ) -> Iterator[Rows]:
        """Rows changed in `[since, before)` (`before` None: up to the newest)."""
        if spec.pagination == "cursor":
            return self.cursor_pages(spec, since, before)
        filters = {"updated_since": iso(since)}
        if before is not None:
            filters["updated_before"] = iso(before)
        return self.offset_pages(spec, filters)

    def first_change_since(self, spec: EndpointSpec, moment: datetime) -> datetime | None:
        """When the first row changed at or after `moment` changed, if any did."""
        rows = self.page(spec, {"limit": 1, "updated_since": iso(moment)})["data"]
        if not rows:
            return None
        return (change_times(rows) or [moment])[0]

    # -- page/offset endpoints -------------------------------------------------------------

    def offset_pages(
        self, spec: EndpointSpec, filters: dict[str, Any], etag: dict[str, str] | None = None
    ) -> Iterator[Rows]:
        """Every page of an offset endpoint; with `etag` (a state dict), a conditional read
        that yields nothing when the endpoint has not changed since the stored ETag."""
        params = {**filters, "limit": self.page_size, "page": 1}
        headers = {"If-None-Match": etag["value"]} if etag and etag.get("value") else None
        response = self.get(spec, params, headers)
        if response.status_code == 304:
            return
        if etag is not None and response.headers.get("ETag"):
            etag["value"] = response.headers["ETag"]
        first = response.json()
        yield first["data"]

        def fetch(number: int) -> Task[Rows]:
            def run() -> tuple[Rows, list[Task[Rows]]]:
                return self.page(spec, {**params, "page": number})["data"], []

            return run

        pages = range(2, int(first["total_pages"]) + 1)
        yield from TaskPool[Rows](self.workers).run(fetch(n) for n in pages)

    # -- cursor endpoints --------------------------------------------------------------------

    def cursor_pages(
        self, spec: EndpointSpec, since: datetime, before: datetime | None = None
    ) -> Iterator[Rows]:
        """Every row changed in `[since, before)`, by concurrently paginated slices."""
        params = {"limit": self.page_size, "updated_since": iso(since)}
        if before is not None:
            params["updated_before"] = iso(before)
        first = self.page(spec, params)
        yield first["data"]
        if not first["has_more"]:
            return
        seen_until = max(change_times(first["data"]), default=since)
        end = before or self._end_of_data(spec, seen_until, max(seen_until - since, MIN_SLICE))
        # The first slice goes on from page 1's cursor; the rest of the range is cut evenly,
        # then refined by the slices themselves as they see how dense they are.
        cuts = [seen_until + (end - seen_until) * i / self.workers for i in range(self.workers + 1)]
        tasks = [self._slice(spec, since, cuts[1], first["next_cursor"])]
        tasks += [self._slice(spec, cuts[i], cuts[i + 1], None) for i in range(1, self.workers)]
        yield from TaskPool[Rows](self.workers).run(tasks)

    def _end_of_data(self, spec: EndpointSpec, known: datetime, step: timedelta) -> datetime:
        """A time after the last row: probe with one-row requests, doubling the step."""
        probe = known + step
        while self.page(spec, {"limit": 1, "updated_since": iso(probe)})["data"]:
            step *= 2
            probe = known + step
        return probe

    def _slice(
        self, spec: EndpointSpec, since: datetime, before: datetime, cursor: str | None
    ) -> Task[Rows]:
        def run() -> tuple[Rows, list[Task[Rows]]]:
            params = {
                "limit": self.page_size,
                "updated_since": iso(since),
                "updated_before": iso(before),
            }
            if cursor is not None:
                params["cursor"] = cursor
            body = self.page(spec, params)
            rows = body["data"]
            if not body["has_more"]:
                return rows, []
            times = change_times(rows) or [since]
            first, last = min(times), max(times)
            span = max(last - first, timedelta(microseconds=1))
            pages_left = (before - last) / span
            splittable = before - last > 2 * MIN_SLICE
            if self.balanced_slices and pages_left > SPLIT_ABOVE_PAGES and splittable:
                middle = last + (before - last) / 2
                return rows, [
                    self._slice(spec, since, middle, body["next_cursor"]),
                    self._slice(spec, middle, before, None),
                ]
            return rows, [self._slice(spec, since, before, body["next_cursor"])]

        return run
