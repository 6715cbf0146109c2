"""dlt source for the Jaffle Shop platform's REST API.

One resource per endpoint, each with an incremental cursor on `updated_at` (with a lag, so
late changes stamped just behind the last run are read again; merge keys make that free),
except the small slow-changing ones (products, stores), which are re-read whole behind a
conditional request: unchanged, they cost a 304 and no rows. Endpoints are read side by side
(dlt's parallelized resources), their pages fetched concurrently (`fetch.py`) through one
paced, retrying session shared by every resource (`ingestion.http`),
and handed to dlt as Arrow tables (`ingestion.arrow_pages`), rows it cannot load going to
`<table>__rejected` with the reason, to be fetched again by key on the next runs
(`rejects.py`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.time import ensure_pendulum_datetime
from dlt.sources import DltResource
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import BearerTokenAuth
from requests import Response

from ingestion.arrow_pages import TIMESTAMP, PageConverter
from ingestion.errors import RetriesExhausted, UpstreamError
from ingestion.http import PacedSession, describe
from ingestion.settings import check_settings, invalid_setting
from ingestion.shop_api.endpoints import ENDPOINTS, MERGE, EndpointSpec
from ingestion.shop_api.fetch import ShopApiFetcher
from ingestion.shop_api.rejects import REFETCH, RejectLedger
from ingestion.window import Window

SOURCE_NAME = "shop_api"
MAX_PAGE_SIZE = 1000
# Requests in flight at once (all endpoints together), unless the API's 429s lower it: the
# fastest on `make bench`'s curve (scenario `in-flight`) at 30-50 ms per request.
MAX_CONCURRENCY = 16
BATCH_ROWS = 10_000  # rows handed to dlt at once (pages are joined up to this)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def handed_over(pages: list[pa.Table], ledger: RejectLedger) -> Iterator[Any]:
    """Pages' rows as one Arrow table (dlt's per-item work, computing the table's schema
    hints and writing a Parquet row group, is paid per batch instead of per page), then the
    deletes for the rejects they heal. Pages whose columns cannot be unified go one by one."""
    if not pages:
        return
    try:
        tables = [pa.concat_tables(pages, promote_options="default")]
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        tables = pages
    for table in tables:
        yield table
        yield from ledger.loaded(table)


def raise_for_upstream_status(response: Response, *args: Any, **kwargs: Any) -> None:
    """Response hook: fail at once, naming source, endpoint and parameters (never the key), on
    errors a retry cannot fix. The session retries 429 and 5xx itself."""
    status = response.status_code
    if status < 400 or status == 429 or status >= 500:
        return
    if status == 401:
        reason = "rejected the API key (401 Unauthorized); check UPSTREAM_API_KEY"
    else:
        reason = f"answered {status}: {response.text[:200]}"
    raise UpstreamError(f"{SOURCE_NAME}: {describe(response.request)} {reason}")


def raise_unless_not_found(response: Response, *args: Any, **kwargs: Any) -> None:
    """The hook for fetching one row by its key, where a 404 is an answer (no such row)."""
    if response.status_code != 404:
        raise_for_upstream_status(response, *args, **kwargs)


def endpoint_resource(
    spec: EndpointSpec,
    fetcher: ShopApiFetcher,
    session: PacedSession,
    lag_seconds: float,
    backfill_days: float,
    window: Window | None,
    conditional_requests: bool = True,
    reject_retries: int = 3,
) -> list[DltResource]:
    """The endpoint's resource, and the one that fetches its rejected rows again by key."""
    converter = PageConverter(spec.name, spec.primary_key, spec.columns)
    # new_rows: changed after the frontier (the last run's cursor), created_rows: of those,
    # created after it too; reread_rows: at or before it, read again only for the lag window.
    counts = {"pages": 0, "new_rows": 0, "created_rows": 0, "reread_rows": 0, "rejected_rows": 0}

    def loadable(
        pages: Iterator[list[dict[str, Any]]],
        ledger: RejectLedger,
        frontier: datetime = EPOCH,
        window: tuple[datetime | None, datetime | None] = (None, None),
    ) -> Iterator[Any]:
        """Pages as Arrow tables; rows that cannot load to the ledger, with the window of
        changes the pages were read from (what to reload if they never heal)."""
        # Columns dlt already knows are not news: only a field never loaded before is logged.
        converter.remember(dlt.current.source_schema().tables.get(spec.name, {}).get("columns", {}))
        batch: list[pa.Table] = []
        try:
            for page in pages:
                counts["pages"] += 1
                if not page:
                    continue
                rows, bad = converter.convert(page)
                after = pa.scalar(frontier, TIMESTAMP)
                newer = pc.fill_null(pc.greater(rows["updated_at"], after), False)
                changed = pc.sum(newer).as_py() or 0
                counts["new_rows"] += changed
                counts["reread_rows"] += rows.num_rows - changed
                if spec.created and spec.created in rows.column_names:
                    created_after = pc.fill_null(pc.greater(rows[spec.created], after), False)
                    created = pc.and_(newer, created_after)
                    counts["created_rows"] += pc.sum(created).as_py() or 0
                if rows.num_rows:
                    batch.append(rows)
                    if sum(table.num_rows for table in batch) >= BATCH_ROWS:
                        yield from handed_over(batch, ledger)
                        batch = []
                if bad is not None:
                    counts["rejected_rows"] += bad.num_rows
                    yield ledger.rejected(bad, *window)
        except Exception:
            yield from handed_over(batch, ledger)  # what was read before a failure loads
            raise
        yield from handed_over(batch, ledger)

    def record_metrics(ledger: RejectLedger, **extra: Any) -> None:
        """Requests, 429s, 304s, retries, bytes: into dlt's trace with the row counts."""
        dlt.current.resource_metrics().update(
            session.stats.snapshot(spec.name),
            pages=counts["pages"],
            rejected_rows=counts["rejected_rows"],
            rows_healed=ledger.healed,
            rejects_persistent=ledger.persistent,
            rows_changed=counts["new_rows"],
            rows_created=counts["created_rows"] if spec.created else None,
            rows_reread=counts["reread_rows"],
            rate_limit=session.limiter.rate,
            **extra,
        )

    hints: dict[str, Any] = {
        "name": spec.name,
        "primary_key": spec.primary_key,
        "write_disposition": spec.write_disposition,
        # dlt advances each endpoint's generator on its own thread: one endpoint's first
        # requests, and the work on its pages, do not hold up the others'.
        "parallelized": True,
    }
    if spec.write_disposition == MERGE:
        # A row changed while a run reads it can arrive twice in one load (in two slices):
        # the merge keeps the newest version.
        hints["columns"] = {"updated_at": {"dedup_sort": "desc"}}

    @dlt.resource(**{**hints, "name": f"{spec.name}{REFETCH}", "table_name": spec.name})
    def refetch() -> Iterator[Any]:
        """Rows rejected before, fetched again by key (their own resource: the endpoint's
        incremental would drop them as older than its cursor)."""
        if window is not None:
            return  # an explicit window's run keeps the state as it was
        ledger = RejectLedger.from_state(spec, reject_retries)
        stopped = None
        try:
            yield from ledger.heal(fetcher, converter)
        except RetriesExhausted as error:
            # Keys not fetched keep their attempts; the next run asks again.
            stopped = f"{error}; the rejects left are fetched again next run"
        dlt.current.resource_metrics().update(
            session.stats.snapshot(f"{spec.name}/key"),
            rows_refetched=ledger.refetched,
            rows_healed=ledger.healed,
            rejects_persistent=ledger.persistent,
            stopped=stopped,
        )

    if spec.conditional:

        @dlt.resource(**hints)
        def whole() -> Iterator[Any]:
            state = dlt.current.resource_state()
            etag = state.setdefault("etag", {})
            # Re-read whole when anything changed: rows up to the newest change of the
            # previous read are the unchanged ones.
            seen = state.get("newest_change")
            frontier = datetime.fromisoformat(seen) if seen else EPOCH
            ledger = RejectLedger.from_state(spec, reject_retries)
            pages = fetcher.offset_pages(spec, {}, etag if conditional_requests else None)
            stopped = None
            try:
                for rows in loadable(pages, ledger, frontier):
                    if isinstance(rows, pa.Table) and rows.num_rows:
                        newest = pc.max(rows["updated_at"]).as_py()
                        if newest is not None and newest > frontier:
                            known = state.get("newest_change") or ""
                            state["newest_change"] = max(newest.isoformat(), known)
                    yield rows
            except RetriesExhausted as error:
                # The ETag is not kept (fetch.py): the next run reads the whole table again.
                stopped = f"{error}; the rows read so far are loaded, the next run reads it again"
            record_metrics(ledger, stopped=stopped)

        return [refetch, whole]

    cursor = dlt.sources.incremental(
        "updated_at",
        initial_value=window.start if window else EPOCH,
        end_value=window.end if window else None,
        lag=None if window else lag_seconds,
        on_cursor_value_missing="include",
        # No boundary dedup: merge keys already make re-read rows harmless, and rejected
        # rows (kept aside with a null cursor) have no key to hash.
        primary_key=(),
    )

    @dlt.resource(**hints)
    def changed(updated_at: dlt.sources.incremental[datetime] = cursor) -> Iterator[Any]:
        """Rows changed since the cursor; in a backfill, one window of `backfill_days` (or
        more, past windows with no rows), so that state is committed window by window; with
        an explicit window, the rows changed in it."""
        since: datetime = updated_at.start_value
        ledger = RejectLedger.from_state(spec, reject_retries)
        if updated_at.end_value is not None:
            until = updated_at.end_value
            try:
                pages = fetcher.changed_pages(spec, since, until)
                yield from loadable(pages, ledger, since, (since, until))
            except RetriesExhausted as error:
                record_metrics(ledger, stopped=f"{error}; run the same window again")
                return
            record_metrics(ledger)
            return
        # Rows up to `frontier` were loaded before and are read again only for the lag.
        frontier = since + timedelta(seconds=lag_seconds) if since > EPOCH else since
        window = timedelta(days=backfill_days) if backfill_days > 0 else None
        more = False
        if window and since == EPOCH:
            # A first backfill starts its windows at the oldest change, not at 1970.
            since = frontier = fetcher.first_change_since(spec, EPOCH) or EPOCH
        while True:
            before = frontier + window if window else None
            pages = fetcher.changed_pages(spec, since, before)
            try:
                yield from loadable(pages, ledger, frontier, (since, before))
            except RetriesExhausted as error:
                # Keep what was read: the cursor goes back to the first change not read (the
                # rows after it that did arrive are read again next run, merged by key).
                read_before = getattr(error, "read_before", None) or since
                cursor_state = dlt.current.resource_state()["incremental"]["updated_at"]
                cursor_state["last_value"] = ensure_pendulum_datetime(read_before)
                stopped = (
                    f"{error}; rows changed from {read_before.isoformat()} on are read next run"
                )
                record_metrics(ledger, stopped=stopped)
                return
            following = fetcher.first_change_since(spec, before) if before else None
            more = following is not None
            if counts["new_rows"] or following is None:
                break
            since = frontier = following  # skip windows without changes
        record_metrics(ledger, backfill_remaining=int(more))

    return [refetch, changed]


@dlt.source(name=SOURCE_NAME)
def shop_api(
    base_url: str = dlt.config.value,
    api_key: str = dlt.secrets.value,
    rate_limit: float = 20.0,
    max_concurrency: int = MAX_CONCURRENCY,
    page_size: int = MAX_PAGE_SIZE,
    lag_seconds: float = 3600.0,
    max_retry_seconds: float = 120.0,
    backoff_seconds: float = 0.5,
    timeout_seconds: float = 30.0,
    backfill_days: float = 0.0,
    pace_requests: bool = True,
    conditional_requests: bool = True,
    balanced_slices: bool = True,
    reject_retries: int = 3,
    start: str | None = None,
    end: str | None = None,
) -> list[DltResource]:
    """Every endpoint of the platform's API, extracted concurrently at its rate limit;
    with `start`/`end` (ISO), just the rows changed in that window (see `ingestion.window`).
    `pace_requests`, `conditional_requests` and `balanced_slices` switch off what the
    benchmarks compare against (pacing, ETags, volume-balanced cursor slices)."""
    check_settings(
        SOURCE_NAME,
        rate_limit=(rate_limit, "more than 0"),
        max_concurrency=(max_concurrency, "at least 1"),
        page_size=(page_size, "at least 1"),
        lag_seconds=(lag_seconds, "0 or more"),
        max_retry_seconds=(max_retry_seconds, "0 or more"),
        backoff_seconds=(backoff_seconds, "0 or more"),
        timeout_seconds=(timeout_seconds, "more than 0"),
        backfill_days=(backfill_days, "0 or more"),
        reject_retries=(reject_retries, "at least 1"),
    )
    if page_size > MAX_PAGE_SIZE:
        raise invalid_setting(SOURCE_NAME, "page_size", page_size, f"at most {MAX_PAGE_SIZE}")
    window = Window.parse(start, end)
    session = PacedSession(
        SOURCE_NAME,
        rate_limit,
        max_concurrency,
        timeout=timeout_seconds,
        max_retry_seconds=max_retry_seconds,
        backoff_seconds=backoff_seconds,
        pace=pace_requests,
    )
    client = RESTClient(base_url=base_url, auth=BearerTokenAuth(api_key), session=session)
    fetcher = ShopApiFetcher(
        client,
        {"response": [raise_for_upstream_status]},
        max_concurrency,
        page_size,
        balanced_slices=balanced_slices,
        not_found_is_an_answer=raise_unless_not_found,
    )
    return [
        resource
        for spec in ENDPOINTS
        for resource in endpoint_resource(
            spec,
            fetcher,
            session,
            lag_seconds,
            backfill_days,
            window,
            conditional_requests,
            reject_retries,
        )
    ]
