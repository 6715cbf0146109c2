"""The Jaffle Shop platform's REST API: what the pipelines extract from, over real HTTP.

Every `/v1` request goes through the same gate, in this order: concurrency cap, latency,
bearer key, conditional request (a matching `If-None-Match` costs no rate-limit token), token
bucket, injected fault. `/admin` endpoints need the key but are never limited or faulted.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import numpy as np
import orjson
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from upstream.counters import Counters
from upstream.faults import FaultInjector, FaultProfile
from upstream.limits import RateLimiter, TokenBucket, retry_after_seconds
from upstream.oltp import CatalogDatabase
from upstream.store import ShopStore
from upstream.tables import PageKey, Table, serve_rows

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100


@dataclass(frozen=True)
class Endpoint:
    name: str  # served at /v1/<name>
    pagination: Literal["cursor", "offset"]
    etag: bool  # slow-changing: conditional requests supported
    summary: str


ENDPOINTS = (
    Endpoint("customers", "offset", False, "Customers; deleted ones remain as tombstones."),
    Endpoint("orders", "cursor", False, "Orders with status and amounts (cents)."),
    Endpoint("order_items", "offset", False, "One row per item of an order."),
    Endpoint("tweets", "cursor", False, "Customers' tweets about the shop."),
    Endpoint("products", "offset", True, "The menu, with prices (cents)."),
    Endpoint("stores", "offset", True, "Stores, with opening date and tax rate."),
)


@dataclass(frozen=True)
class ApiSettings:
    api_key: str
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    rate_limit: float = 0.0  # requests per second per key; 0 = unlimited
    burst: float = 0.0  # bucket size; defaults to twice the rate
    max_concurrent: int = 0  # 0 = no cap
    faults: FaultProfile = field(default_factory=FaultProfile)
    seed: int = 0


class ApiError(Exception):
    """An error response: status, JSON body and extra headers."""

    def __init__(
        self,
        status: int,
        error: str,
        detail: str,
        headers: dict[str, str] | None = None,
        parameter: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.body: dict[str, str] = {"error": error, "detail": detail}
        if parameter is not None:
            self.body["parameter"] = parameter
        self.headers = headers or {}


class DeliberateDrop(ConnectionAbortedError):
    """Raised to close a connection mid-body on purpose (a `drop` fault)."""


class DroppingResponse(Response):
    """Announces the full body, sends half of it, then drops the connection."""

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        await send(
            {
                "type": "http.response.body",
                "body": self.body[: len(self.body) // 2],
                "more_body": True,
            }
        )
        raise DeliberateDrop("fault injection: connection dropped")


class _HideDeliberateDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], DeliberateDrop))


def malformed(body: bytes) -> bytes:
    """The body with a comma between two rows missing: broken structure, same length-ish."""
    joint = body.find(b"},{", len(body) // 2)
    if joint < 0:
        joint = body.find(b"},{")
    if joint < 0:
        return body + b"<html>"
    return body[: joint + 1] + body[joint + 2 :]


def bad_parameter(parameter: str, detail: str) -> ApiError:
    return ApiError(400, "bad_request", detail, parameter=parameter)


def parse_timestamp(parameter: str, value: str | None) -> int | None:
    """An ISO-8601 timestamp as epoch microseconds; naive values are taken as UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise bad_parameter(
            parameter, f"{parameter}={value!r} is not an ISO-8601 timestamp"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    delta = parsed - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def encode_cursor(key: PageKey) -> str:
    return base64.urlsafe_b64encode(f"{key.updated_at}:{key.seq}".encode()).decode()


def decode_cursor(cursor: str) -> PageKey:
    try:
        updated_at, seq = base64.urlsafe_b64decode(cursor.encode()).decode().split(":")
        return PageKey(int(updated_at), int(seq))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad_parameter("cursor", f"cursor={cursor!r} is malformed") from None


def iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC).isoformat().replace("+00:00", "Z")


class Gate:
    """Admission of one `/v1` request: concurrency, latency, key, ETag, rate limit, fault."""

    def __init__(self, settings: ApiSettings, counters: Counters) -> None:
        self.settings = settings
        self.counters = counters
        self.limiter = RateLimiter(settings.rate_limit, settings.burst or 2 * settings.rate_limit)
        self.faults = FaultInjector(settings.faults)
        self.in_flight = 0
        self._latency_rng = random.Random(settings.seed)

    def check_key(self, request: Request) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token, self.settings.api_key):
            raise ApiError(
                401,
                "unauthorized",
                "missing or invalid bearer API key",
                {"WWW-Authenticate": "Bearer"},
            )

    async def latency(self) -> None:
        delay_ms = self.settings.latency_ms + self._latency_rng.uniform(0, self.settings.jitter_ms)
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)

    def bucket(self) -> TokenBucket | None:
        return self.limiter.bucket(self.settings.api_key) if self.limiter.enabled else None


def create_app(
    store: ShopStore, settings: ApiSettings, catalog: CatalogDatabase | None = None
) -> FastAPI:
    app = FastAPI(
        title="Jaffle Shop platform API (simulated upstream)",
        version="1",
        description=(
            "The shop's entities, paginated (opaque cursor or page/offset with totals), "
            "filtered by change time, behind a bearer key, rate-limited per key."
        ),
    )
    counters = Counters()
    gate = Gate(settings, counters)
    logging.getLogger("uvicorn.error").addFilter(_HideDeliberateDrops())
    app.state.counters = counters

    def error_response(error: ApiError, endpoint: str) -> Response:
        counters.record(endpoint, error.status)
        return Response(
            orjson.dumps(error.body),
            status_code=error.status,
            media_type="application/json",
            headers=error.headers,
        )

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> Response:
        return error_response(error, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def invalid_parameter(request: Request, exc: RequestValidationError) -> Response:
        problems = [f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors()]
        return error_response(ApiError(400, "bad_request", "; ".join(problems)), request.url.path)

    async def serve(
        request: Request, endpoint: Endpoint, page: tuple[Table, int, int], extra: dict
    ) -> Response:
        """Answer a page request through the gate."""
        path = request.url.path
        if settings.max_concurrent and gate.in_flight >= settings.max_concurrent:
            raise ApiError(
                429,
                "too_many_concurrent_requests",
                f"at most {settings.max_concurrent} requests at a time",
                {"Retry-After": "1"},
            )
        gate.in_flight += 1
        try:
            await gate.latency()
            gate.check_key(request)
            bucket = gate.bucket()
            headers = bucket.headers() if bucket else {}
            table, start, stop = page
            if endpoint.etag:
                etag = f'"{table.version}-{zlib.crc32(request.url.query.encode()):08x}"'
                headers["ETag"] = etag
                if request.headers.get("if-none-match") in (etag, "*"):
                    counters.record(path, 304)
                    return Response(status_code=304, headers=headers)
            if bucket is not None and not bucket.take():
                headers = {
                    **bucket.headers(),
                    "Retry-After": retry_after_seconds(bucket.seconds_until_token()),
                }
                raise ApiError(
                    429,
                    "rate_limited",
                    f"rate limit of {settings.rate_limit:g} requests/s exceeded",
                    headers,
                )
            if bucket is not None:
                headers.update(bucket.headers())
            fault = gate.faults.draw(f"{path}?{request.url.query}")
            if fault is not None:
                counters.faults[fault] += 1
            if fault == "burst_429":
                raise ApiError(
                    429,
                    "rate_limited",
                    "too many requests (burst)",
                    {**headers, "Retry-After": "1"},
                )
            if fault == "error_5xx":
                raise ApiError(
                    gate.faults.status_5xx(),
                    "server_error",
                    "the upstream failed to answer",
                    headers,
                )
            if fault == "slow":
                await asyncio.sleep(settings.faults.slow_seconds)

            rows = serve_rows(table, start, stop, store.ids)
            if fault == "bad_record" and rows:
                rows[0]["updated_at"] = "not-a-timestamp"
            body = orjson.dumps({"data": rows, **extra})
            if fault == "truncate":
                body = body[: len(body) // 2]
            elif fault == "malform":
                body = malformed(body)
            counters.record(path, 200, len(rows), len(body))
            response_class = DroppingResponse if fault == "drop" else Response
            return response_class(body, media_type="application/json", headers=headers)
        finally:
            gate.in_flight -= 1

    def filtered(
        table: Table, updated_since: str | None, updated_before: str | None
    ) -> tuple[int, int]:
        return table.bounds(
            parse_timestamp("updated_since", updated_since),
            parse_timestamp("updated_before", updated_before),
        )

    def register(endpoint: Endpoint, handler: Callable[..., Any], description: str) -> None:
        app.add_api_route(
            f"/v1/{endpoint.name}",
            handler,
            methods=["GET"],
            summary=endpoint.summary,
            description=description,
        )

    def add_cursor_endpoint(endpoint: Endpoint) -> None:
        async def list_rows(
            request: Request,
            limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
            cursor: Annotated[str | None, Query(description="next_cursor of the last page")] = None,
            updated_since: Annotated[str | None, Query(description="inclusive, ISO-8601")] = None,
            updated_before: Annotated[str | None, Query(description="exclusive, ISO-8601")] = None,
        ) -> Response:
            table = store.tables[endpoint.name]
            start, end = filtered(table, updated_since, updated_before)
            if cursor is not None:
                start = max(start, table.position_after(decode_cursor(cursor)))
            stop = max(start, min(start + limit, end))
            has_more = stop < end
            extra = {
                "has_more": has_more,
                "next_cursor": encode_cursor(table.key_at(stop - 1)) if has_more else None,
            }
            return await serve(request, endpoint, (table, start, stop), extra)

        register(
            endpoint,
            list_rows,
            "Rows in change order (`updated_at`, then insertion); "
            "follow `next_cursor` while `has_more`.",
        )

    def add_offset_endpoint(endpoint: Endpoint) -> None:
        async def list_rows(
            request: Request,
            limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
            page: Annotated[int, Query(ge=1, description="1-based page number")] = 1,
            updated_since: Annotated[str | None, Query(description="inclusive, ISO-8601")] = None,
            updated_before: Annotated[str | None, Query(description="exclusive, ISO-8601")] = None,
        ) -> Response:
            table = store.tables[endpoint.name]
            first, end = filtered(table, updated_since, updated_before)
            start = min(first + (page - 1) * limit, end)
            stop = min(start + limit, end)
            total = end - first
            extra = {
                "page": page,
                "limit": limit,
                "total": total,
                "total_pages": -(-total // limit),
            }
            return await serve(request, endpoint, (table, start, stop), extra)

        register(
            endpoint,
            list_rows,
            "Rows in change order; pages are numbered from 1, "
            "`total` counts the rows that match the filters."
            + (" Supports `If-None-Match` (304, free of rate limit)." if endpoint.etag else ""),
        )

    def add_key_endpoint(endpoint: Endpoint) -> None:
        async def one_row(request: Request, key: str) -> Response:
            table = store.tables[endpoint.name]
            seqs = np.flatnonzero(store.ids[endpoint.name] == key.encode())
            position = table.position_of(int(seqs[0])) if len(seqs) else None
            if position is None:
                raise ApiError(404, "not_found", f"no {endpoint.name} with key {key!r}")
            return await serve(request, endpoint, (table, position, position + 1), {})

        app.add_api_route(
            f"/v1/{endpoint.name}/{{key}}",
            one_row,
            methods=["GET"],
            summary=f"One of {endpoint.name} by its key",
            description="The row as the list serves it, in `data` (404 when no row has it).",
        )

    for endpoint in ENDPOINTS:
        if endpoint.pagination == "cursor":
            add_cursor_endpoint(endpoint)
        else:
            add_offset_endpoint(endpoint)
        add_key_endpoint(endpoint)

    @app.get("/health", summary="Liveness and the upstream's clock (no key needed).")
    async def health() -> Response:
        return Response(
            orjson.dumps({"status": "ok", "clock": iso(store.clock_us)}),
            media_type="application/json",
        )

    @app.post("/admin/advance", summary="Move the clock forward: data arrives and changes.")
    def advance(
        request: Request,
        days: Annotated[int | None, Query(ge=0, le=3650)] = None,
        hours: Annotated[int, Query(ge=0, le=24 * 3650)] = 0,
    ) -> Response:
        gate.check_key(request)
        # A day unless told otherwise; `hours` alone moves by hours only.
        changes = store.advance(days=(1 if not hours else 0) if days is None else days, hours=hours)
        synced = catalog.sync(store) if catalog is not None else {}
        payload = {"clock": iso(store.clock_us), "changes": changes, "catalog_rows_written": synced}
        return Response(orjson.dumps(payload), media_type="application/json")

    @app.get("/admin/database", summary="Reads served by the catalog database, per table.")
    def database_load(request: Request) -> Response:
        gate.check_key(request)
        report = catalog.load_report() if catalog is not None else {"dialect": None}
        return Response(orjson.dumps(report), media_type="application/json")

    @app.get("/admin/counters", summary="Requests, 429s, 304s, rows and bytes served so far.")
    async def get_counters(request: Request) -> Response:
        gate.check_key(request)
        return Response(orjson.dumps(counters.snapshot()), media_type="application/json")

    @app.post("/admin/counters/reset", summary="Zero the counters.")
    async def reset_counters(request: Request) -> Response:
        gate.check_key(request)
        fresh = Counters()
        counters.__dict__.update(fresh.__dict__)
        return Response(orjson.dumps(counters.snapshot()), media_type="application/json")

    return app
