"""The Jaffle Shop platform's REST API: what the pipelines extract from, over real HTTP."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

import orjson
from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from upstream.store import PageKey, ShopStore

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100


@dataclass(frozen=True)
class ApiSettings:
    api_key: str
    latency_ms: float = 0.0
    jitter_ms: float = 0.0


class BadRequest(Exception):
    """A request parameter the API cannot use; answered with 400 and the parameter named."""

    def __init__(self, parameter: str, detail: str) -> None:
        super().__init__(detail)
        self.parameter = parameter
        self.detail = detail


class Unauthorized(Exception):
    """No bearer key, or not the configured one; answered with 401."""


def json_response(payload: object, status_code: int = 200) -> Response:
    return Response(orjson.dumps(payload), status_code=status_code, media_type="application/json")


def parse_timestamp(parameter: str, value: str | None) -> int | None:
    """An ISO-8601 timestamp as epoch microseconds; naive values are taken as UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest(parameter, f"{parameter}={value!r} is not an ISO-8601 timestamp") from None
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
        raise BadRequest("cursor", f"cursor={cursor!r} is malformed") from None


def create_app(store: ShopStore, settings: ApiSettings) -> FastAPI:
    app = FastAPI(
        title="Jaffle Shop platform API (simulated upstream)",
        version="1",
        description="Orders and more, paginated, filtered by change time, behind a bearer key.",
    )
    rng = random.Random(0)

    @app.exception_handler(BadRequest)
    async def bad_request(_: Request, exc: BadRequest) -> Response:
        error = {"error": "bad_request", "parameter": exc.parameter, "detail": exc.detail}
        return json_response(error, 400)

    @app.exception_handler(RequestValidationError)
    async def invalid_parameter(_: Request, exc: RequestValidationError) -> Response:
        problems = [f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors()]
        return json_response({"error": "bad_request", "detail": "; ".join(problems)}, 400)

    async def simulated_latency() -> None:
        delay_ms = settings.latency_ms + rng.uniform(0, settings.jitter_ms)
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)

    async def require_api_key(authorization: Annotated[str | None, Header()] = None) -> None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token, settings.api_key):
            raise Unauthorized()

    @app.exception_handler(Unauthorized)
    async def unauthorized(_: Request, __: Unauthorized) -> Response:
        response = json_response(
            {"error": "unauthorized", "detail": "missing or invalid bearer API key"}, 401
        )
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    authorized = [Depends(simulated_latency), Depends(require_api_key)]

    @app.get("/health")
    async def health() -> JSONResponse:
        clock = datetime.fromtimestamp(store.clock_us / 1_000_000, tz=UTC)
        return JSONResponse({"status": "ok", "clock": clock.isoformat()})

    @app.get("/v1/orders", dependencies=authorized)
    async def list_orders(
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
        updated_since: str | None = None,
        updated_before: str | None = None,
    ) -> Response:
        """Orders in change order (`updated_at`, then insertion), keyset-paginated."""
        table = store.tables["orders"]
        start, end = table.bounds(
            parse_timestamp("updated_since", updated_since),
            parse_timestamp("updated_before", updated_before),
        )
        if cursor is not None:
            start = max(start, table.position_after(decode_cursor(cursor)))
        stop = min(start + limit, end)
        has_more = stop < end
        next_cursor = encode_cursor(table.key_at(stop - 1)) if has_more else None
        return json_response(
            {"data": table.rows(start, stop), "has_more": has_more, "next_cursor": next_cursor}
        )

    @app.post("/admin/advance", dependencies=[Depends(require_api_key)])
    def advance(days: Annotated[int, Query(ge=1, le=3650)] = 1) -> Response:
        """Move the upstream's clock forward: new orders arrive, existing ones change."""
        changes = store.advance(days)
        clock = datetime.fromtimestamp(store.clock_us / 1_000_000, tz=UTC)
        return json_response({"clock": clock.isoformat(), "changes": changes})

    return app
