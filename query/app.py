"""The query API (`/api/v1/...`): Starlette routes over a `TraceStore`, scoped to one project."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from clickhouse_connect.driver.exceptions import ClickHouseError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from prela.auth import Principal
from prela.auth.api import PrincipalMiddleware, request_principal
from prela.model import SPAN_TYPES
from prela.model.timestamps import parse_timestamp
from prela.query.store import InvalidCursor, TraceFilter, TraceStore
from prela.telemetry.health import health_endpoint
from prela.telemetry.metrics import RouteMetricsMiddleware, metrics_endpoint

logger = logging.getLogger(__name__)

Authenticate = Callable[[Mapping[str, str]], Awaitable[Principal]]
_PUBLIC_PATHS = ("/api/v1/health", "/ready", "/metrics")

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
MAX_TRACE_ID_LENGTH = 256


class BadQuery(ValueError):
    """A query parameter is invalid: 400 with this message."""


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise BadQuery(f"limit must be an integer from 1 to {MAX_LIMIT}, got {raw!r}")
    return int(raw)


def _time(name: str, raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        return parse_timestamp(raw)
    except ValueError as exc:
        raise BadQuery(f"{name}: {exc}") from None


def _choice(name: str, raw: str | None, allowed: frozenset[str]) -> str | None:
    if raw is None or raw == "":
        return None
    value = raw.upper()
    if value not in allowed:
        raise BadQuery(f"{name} must be one of {', '.join(sorted(allowed))}, got {raw!r}")
    return value


def parse_trace_filter(params: Any) -> TraceFilter:
    since = _time("since", params.get("since") or params.get("start_time"))
    until = _time("until", params.get("until") or params.get("end_time"))
    if since is not None and until is not None and since >= until:
        raise BadQuery("since must be earlier than until")
    return TraceFilter(
        service=params.get("service") or params.get("service_name") or None,
        span_type=_choice("span_type", params.get("span_type"), SPAN_TYPES),
        model=params.get("model") or None,
        status=_choice("status", params.get("status"), frozenset({"SUCCESS", "ERROR"})),
        since_ns=since,
        until_ns=until,
    )


class QueryApi:
    def __init__(
        self, store: TraceStore, extra_ready: Callable[[], Awaitable[dict[str, bool]]] | None
    ) -> None:
        self._store = store
        self._extra_ready = extra_ready
        self.health = health_endpoint(self._checks)

    async def _checks(self) -> dict[str, bool]:
        checks = {"clickhouse": await asyncio.to_thread(self._store.ping)}
        if self._extra_ready is not None:
            checks.update(await self._extra_ready())
        return checks

    async def list_traces(self, request: Request) -> Response:
        params = request.query_params
        try:
            flt = parse_trace_filter(params)
            limit = _limit(params.get("limit"))
            cursor = params.get("cursor") or None
            traces, next_cursor = await asyncio.to_thread(
                self._store.list_traces, request_principal(request).project_id, flt, limit, cursor
            )
        except (BadQuery, InvalidCursor) as exc:
            return _error(400, str(exc))
        return JSONResponse({"traces": traces, "next_cursor": next_cursor})

    async def get_trace(self, request: Request) -> Response:
        trace_id = request.path_params["trace_id"]
        if len(trace_id) > MAX_TRACE_ID_LENGTH:
            return _error(400, f"trace_id longer than {MAX_TRACE_ID_LENGTH} characters")
        if len(trace_id) == 32 and _is_hex(trace_id):
            trace_id = trace_id.lower()  # OTLP ids are stored as lower-case hex; accept them as pasted
        trace = await asyncio.to_thread(
            self._store.get_trace, request_principal(request).project_id, trace_id
        )
        if trace is None:
            return _error(404, "trace not found", trace_id=trace_id)
        return JSONResponse(trace)


async def _store_unavailable(request: Request, exc: Exception) -> Response:
    logger.warning("query failed path=%s error=%r", request.url.path, str(exc)[:300])
    response = _error(503, "the trace store is unavailable, retry later")
    response.headers["Retry-After"] = "1"
    return response


def build_query_app(
    store: TraceStore,
    authenticate: Authenticate,
    cors_origins: list[str] | None = None,
    extra_routes: Sequence[Route] = (),
    extra_ready: Callable[[], Awaitable[dict[str, bool]]] | None = None,
) -> Starlette:
    """The API: every route but health, readiness and metrics runs as one authenticated project.

    `authenticate` turns request headers into a `Principal` (JWT, API key, or the default project
    when auth is off); `extra_routes` are mounted as they are (key management).
    """
    api = QueryApi(store, extra_ready)
    middleware = [Middleware(RouteMetricsMiddleware)]
    if cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=cors_origins,
                allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
                allow_headers=["Authorization", "Content-Type", "X-API-Key"],
            )
        )
    # Inside CORS, so browser preflights are answered without credentials.
    middleware.append(Middleware(PrincipalMiddleware, authenticate=authenticate, exempt_paths=_PUBLIC_PATHS))
    return Starlette(
        routes=[
            Route("/api/v1/health", api.health, methods=["GET"]),
            Route("/ready", api.health, methods=["GET"]),
            Route("/api/v1/traces", api.list_traces, methods=["GET"]),
            Route("/api/v1/traces/{trace_id:path}", api.get_trace, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            *extra_routes,
        ],
        middleware=middleware,
        exception_handlers={ClickHouseError: _store_unavailable},
    )
