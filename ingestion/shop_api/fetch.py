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

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from dlt.sources.helpers.rest_client import RESTClient

from ingestion.errors import RetriesExhausted, UpstreamError
from ingestion.parallel import Task, TaskPool, TasksFailed
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


class FetchStopped(RetriesExhausted):
    """A read stopped at a request out of retries, after the rows changed before
    `read_before` (None: no row can be counted as read) were handed on."""

    def __init__(self, cause: RetriesExhausted, read_before: datetime | None) -> None:
        super().__init__(str(cause))
        self.read_before = read_before


def stopped(failure: TasksFailed, read_before: datetime | None) -> Exception:
    """What a failed pool of page fetches means: a read that stopped with its retries spent
    (to be resumed), or the failure itself."""
    if isinstance(failure.cause, RetriesExhausted):
        return FetchStopped(failure.cause, read_before)
    return failure.cause


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
        return self.timed_page(spec, params)[0]

    def timed_page(self, spec: EndpointSpec, params: dict[str, Any]) -> tuple[dict, float]:
        """The page, and the seconds the upstream took to answer (waits for the rate limit
        and retries not counted)."""
        response = self.get(spec, params)
        body = response.json()
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise UpstreamError(f"shop_api: GET /v1/{spec.name} ({params}) has no `data` list")
        return body, response.elapsed.total_seconds()

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
        first = response.json()
        yield first["data"]

        def fetch(number: int) -> Task[tuple[int, Rows]]:
            def run() -> tuple[tuple[int, Rows], list[Task[tuple[int, Rows]]]]:
                return (number, self.page(spec, {**params, "page": number})["data"]), []

            return Task(run, number)

        # Pages are in change order: pages 1..n all read means every change up to page n's
        # last was read, whatever the order they arrived in.
        newest_of_page = {1: max(change_times(first["data"]), default=None)}
        pages = range(2, int(first["total_pages"]) + 1)
        try:
            for number, rows in TaskPool[tuple[int, Rows]](self.workers).run(map(fetch, pages)):
                newest_of_page[number] = max(change_times(rows), default=None)
                yield rows
        except TasksFailed as failure:
            read = min(task.position for task in failure.unfinished) - 1
            newest = [t for n, t in newest_of_page.items() if n <= read and t is not None]
            raise stopped(failure, max(newest, default=None)) from failure.cause
        # The ETag is kept only once every page was read: a read that stopped is repeated.
        if etag is not None and response.headers.get("ETag"):
            etag["value"] = response.headers["ETag"]

    # -- cursor endpoints --------------------------------------------------------------------

    def cursor_pages(
        self, spec: EndpointSpec, since: datetime, before: datetime | None = None
    ) -> Iterator[Rows]:
        """Every row changed in `[since, before)`, by concurrently paginated slices."""
        params = {"limit": self.page_size, "updated_since": iso(since)}
        if before is not None:
            params["updated_before"] = iso(before)
        first, answered_in = self.timed_page(spec, params)
        yield first["data"]
        if not first["has_more"]:
            return
        seen_until = max(change_times(first["data"]), default=since)
        slices = self.useful_slices(answered_in)
        if slices == 1:
            yield from self._follow(spec, params, first["next_cursor"], seen_until)
            return
        end = before or self._end_of_data(spec, seen_until, max(seen_until - since, MIN_SLICE))
        # The first slice goes on from page 1's cursor; the rest of the range is cut evenly,
        # then refined by the slices themselves as they see how dense they are (unless the
        # rate limit caps the slices worth having).
        split = self.balanced_slices and slices == self.workers
        cuts = [seen_until + (end - seen_until) * i / slices for i in range(slices + 1)]
        tasks = [self._slice(spec, since, cuts[1], first["next_cursor"], seen_until, split)]
        tasks += [self._slice(spec, cuts[i], cuts[i + 1], split=split) for i in range(1, slices)]
        try:
            yield from TaskPool[Rows](self.workers).run(tasks)
        except TasksFailed as failure:
            # Slices cover disjoint ranges: what precedes every unfinished slice's position
            # was read.
            raise stopped(
                failure, min(task.position for task in failure.unfinished)
            ) from failure.cause

    def useful_slices(self, page_seconds: float) -> int:
        """How many slices to read a cursor endpoint in. Under a rate limit that binds, more
        concurrent requests than `rate x page time` only wait for tokens, and every slice
        costs requests that return less than a page (its last page, the probes that find the
        end of the data): then as few slices as keep the limit busy, down to following the
        cursor alone, the fewest requests there are. Otherwise one per worker."""
        limiter = getattr(self.client.session, "limiter", None)
        if limiter is None or not getattr(self.client.session, "pace", False):
            return self.workers
        if limiter.rate <= 0:
            return self.workers
        return max(1, min(self.workers, math.ceil(limiter.rate * page_seconds)))

    def _follow(
        self, spec: EndpointSpec, params: dict[str, Any], cursor: str, read_until: datetime
    ) -> Iterator[Rows]:
        """The pages after page 1, one after the other through the cursor."""
        while cursor:
            try:
                body = self.page(spec, {**params, "cursor": cursor})
            except RetriesExhausted as error:
                raise FetchStopped(error, read_until) from error
            yield body["data"]
            read_until = max(change_times(body["data"]), default=read_until)
            cursor = body["next_cursor"] if body["has_more"] else ""

    def _end_of_data(self, spec: EndpointSpec, known: datetime, step: timedelta) -> datetime:
        """A time after the last row: probe with one-row requests, doubling the step."""
        probe = known + step
        while self.page(spec, {"limit": 1, "updated_since": iso(probe)})["data"]:
            step *= 2
            probe = known + step
        return probe

    def _slice(
        self,
        spec: EndpointSpec,
        since: datetime,
        before: datetime,
        cursor: str | None = None,
        read_until: datetime | None = None,
        split: bool = True,
    ) -> Task[Rows]:
        """Rows changed in `[since, before)`, from `cursor` on (rows up to `read_until`, the
        last change the previous page held, were read)."""

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
            if split and pages_left > SPLIT_ABOVE_PAGES and splittable:
                middle = last + (before - last) / 2
                return rows, [
                    self._slice(spec, since, middle, body["next_cursor"], last),
                    self._slice(spec, middle, before),
                ]
            return rows, [self._slice(spec, since, before, body["next_cursor"], last, split)]

        return Task(run, since if read_until is None else read_until)
