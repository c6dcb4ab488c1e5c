"""The query API (`/api/v1/...`): Starlette routes over a `TraceStore`, scoped to one project."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import orjson
from clickhouse_connect.driver.exceptions import ClickHouseError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from prela.auth import Principal
from prela.auth.api import PrincipalMiddleware, request_principal
from prela.model import SPAN_TYPES
from prela.model.timestamps import parse_timestamp
from prela.query.openapi import openapi_document
from prela.query.store import (
    MAX_STAT_BUCKETS,
    SPAN_SORTS,
    TRACE_SORTS,
    InvalidCursor,
    TraceFilter,
    TraceStore,
)
from prela.query.viewer import ViewerMiddleware
from prela.telemetry.health import health_endpoint
from prela.telemetry.metrics import RouteMetricsMiddleware, metrics_endpoint

logger = logging.getLogger(__name__)

Authenticate = Callable[[Mapping[str, str]], Awaitable[Principal]]
_PUBLIC_PATHS = ("/api/v1/health", "/ready", "/metrics", "/api/v1/openapi.json")

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
MAX_TRACE_ID_LENGTH = 256
MAX_TEXT_PARAMETER = 1024
MAX_AMOUNT = 1e12
DEFAULT_STATS_RANGE_NS = 24 * 3600 * 1_000_000_000


class BadQuery(ValueError):
    """A query parameter is invalid: 400 with this message."""


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


class OrjsonResponse(JSONResponse):
    """JSON written by orjson: several times faster than json.dumps on a 10,000-span trace, and it
    passes the stored attribute JSON through as it is (orjson.Fragment)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return OrjsonResponse({"error": message, **extra}, status_code=status)


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:  # "²".isdigit()
        raise BadQuery(f"limit must be an integer from 1 to {MAX_LIMIT}, got {raw!r}")
    return int(raw)


def _time(name: str, raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        return parse_timestamp(raw)
    except (ValueError, OverflowError) as exc:  # OverflowError: digits that overflow a float ("9"*400+".5")
        raise BadQuery(f"{name}: {exc}") from None


def _choice(name: str, raw: str | None, allowed: frozenset[str]) -> str | None:
    if raw is None or raw == "":
        return None
    value = raw.upper()
    if value not in allowed:
        raise BadQuery(f"{name} must be one of {', '.join(sorted(allowed))}, got {raw!r}")
    return value


def _option(name: str, raw: str | None, allowed: Sequence[str], default: str) -> str:
    if raw is None or raw == "":
        return default
    if raw not in allowed:
        raise BadQuery(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
    return raw


def _amount(name: str, raw: str | None) -> float | None:
    """A non-negative, finite number (durations in ms, costs in USD)."""
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= MAX_AMOUNT:
        raise BadQuery(f"{name} must be a number from 0 to {MAX_AMOUNT:.0f}, got {raw!r}")
    return value


def _text(name: str, raw: str | None) -> str | None:
    if raw is None or raw == "":
        return None
    if len(raw) > MAX_TEXT_PARAMETER:
        raise BadQuery(f"{name} is longer than {MAX_TEXT_PARAMETER} characters")
    return raw


def parse_trace_filter(params: Any) -> TraceFilter:
    since = _time("since", params.get("since") or params.get("start_time"))
    until = _time("until", params.get("until") or params.get("end_time"))
    if since is not None and until is not None and since >= until:
        raise BadQuery("since must be earlier than until")
    min_duration = _amount("min_duration_ms", params.get("min_duration_ms"))
    max_duration = _amount("max_duration_ms", params.get("max_duration_ms"))
    if min_duration is not None and max_duration is not None and min_duration > max_duration:
        raise BadQuery("min_duration_ms must not exceed max_duration_ms")
    return TraceFilter(
        service=_text("service", params.get("service") or params.get("service_name")),
        span_type=_choice("span_type", params.get("span_type"), SPAN_TYPES),
        model=_text("model", params.get("model")),
        provider=_text("provider", (params.get("provider") or "").lower() or None),
        status=_choice("status", params.get("status"), frozenset({"SUCCESS", "ERROR"})),
        since_ns=since,
        until_ns=until,
        min_duration_ms=min_duration,
        max_duration_ms=max_duration,
        min_cost_usd=_amount("min_cost_usd", params.get("min_cost_usd")),
        session_id=_text("session_id", params.get("session_id")),
        user_id=_text("user_id", params.get("user_id")),
        environment=_text("environment", params.get("environment")),
        q=_text("q", params.get("q")),
    )


_INTERVALS = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "6h": 21600, "1d": 86400}
_GROUP_BY = ("none", "model", "provider", "service", "span_type", "user")


def _auto_interval(range_ns: int) -> int:
    """About 60 to 300 buckets over the range."""
    hours = range_ns / 3.6e12
    return 60 if hours <= 3 else 300 if hours <= 12 else 3600 if hours <= 24 * 8 else 86400


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
            sort = _option("sort", params.get("sort"), tuple(TRACE_SORTS), "newest")
            limit = _limit(params.get("limit"))
            traces, next_cursor = await asyncio.to_thread(
                self._store.list_traces, _project(request), flt, limit, params.get("cursor") or None, sort
            )
        except (BadQuery, InvalidCursor) as exc:
            return _error(400, str(exc))
        return OrjsonResponse({"traces": traces, "next_cursor": next_cursor})

    async def get_trace(self, request: Request) -> Response:
        trace_id = request.path_params["trace_id"]
        if len(trace_id) > MAX_TRACE_ID_LENGTH:
            return _error(400, f"trace_id longer than {MAX_TRACE_ID_LENGTH} characters")
        if len(trace_id) == 32 and _is_hex(trace_id):
            trace_id = trace_id.lower()  # OTLP ids are stored as lower-case hex; accept them as pasted
        trace = await asyncio.to_thread(self._store.get_trace, _project(request), trace_id)
        if trace is None:
            return _error(404, "trace not found", trace_id=trace_id)
        return OrjsonResponse(trace)

    async def list_spans(self, request: Request) -> Response:
        params = request.query_params
        try:
            flt = parse_trace_filter(params)
            sort = _option("sort", params.get("sort"), tuple(SPAN_SORTS), "newest")
            include = _option("include", params.get("include"), ("content",), "")
            limit = _limit(params.get("limit"))
            spans, next_cursor = await asyncio.to_thread(
                self._store.list_spans,
                _project(request),
                flt,
                limit,
                params.get("cursor") or None,
                sort,
                include == "content",
            )
        except (BadQuery, InvalidCursor) as exc:
            return _error(400, str(exc))
        return OrjsonResponse({"spans": spans, "next_cursor": next_cursor})

    async def stats(self, request: Request) -> Response:
        params = request.query_params
        try:
            flt = parse_trace_filter(params)
            if (
                flt.q
                or flt.session_id
                or flt.min_duration_ms is not None
                or flt.max_duration_ms is not None
                or flt.min_cost_usd is not None
            ):
                raise BadQuery(
                    "stats filter on service, span_type, model, provider, status, environment, user_id"
                )
            until = flt.until_ns if flt.until_ns is not None else time.time_ns()
            since = flt.since_ns if flt.since_ns is not None else until - DEFAULT_STATS_RANGE_NS
            if since >= until:
                raise BadQuery("since must be earlier than until")
            raw_interval = _option("interval", params.get("interval"), (*_INTERVALS, "auto"), "auto")
            interval = _INTERVALS.get(raw_interval) or _auto_interval(until - since)
            group_by = _option("group_by", params.get("group_by"), _GROUP_BY, "none")
            if (until - since) // (interval * 1_000_000_000) > MAX_STAT_BUCKETS:
                raise BadQuery(
                    f"interval {raw_interval!r} gives more than {MAX_STAT_BUCKETS} buckets over the range: "
                    "choose a longer interval or a shorter range"
                )
            body = await asyncio.to_thread(
                self._store.stats, _project(request), flt, since, until, interval, group_by
            )
        except BadQuery as exc:
            return _error(400, str(exc))
        return OrjsonResponse(body)

    async def list_sessions(self, request: Request) -> Response:
        params = request.query_params
        try:
            since = _time("since", params.get("since"))
            until = _time("until", params.get("until"))
            limit = _limit(params.get("limit"))
            sessions, next_cursor = await asyncio.to_thread(
                self._store.list_sessions,
                _project(request),
                _text("user_id", params.get("user_id")),
                since,
                until,
                limit,
                params.get("cursor") or None,
            )
        except (BadQuery, InvalidCursor) as exc:
            return _error(400, str(exc))
        return OrjsonResponse({"sessions": sessions, "next_cursor": next_cursor})

    async def get_session(self, request: Request) -> Response:
        session_id = request.path_params["session_id"]
        if len(session_id) > MAX_TEXT_PARAMETER:
            return _error(400, f"session_id longer than {MAX_TEXT_PARAMETER} characters")
        session = await asyncio.to_thread(self._store.get_session, _project(request), session_id)
        if session is None:
            return _error(404, "session not found", session_id=session_id)
        return OrjsonResponse(session)

    async def list_users(self, request: Request) -> Response:
        params = request.query_params
        try:
            limit = _limit(params.get("limit"))
            users, next_cursor = await asyncio.to_thread(
                self._store.list_users, _project(request), limit, params.get("cursor") or None
            )
        except (BadQuery, InvalidCursor) as exc:
            return _error(400, str(exc))
        return OrjsonResponse({"users": users, "next_cursor": next_cursor})

    async def openapi(self, request: Request) -> Response:
        return Response(openapi_document(), media_type="application/json")


def _project(request: Request) -> str:
    return request_principal(request).project_id


async def _store_unavailable(request: Request, exc: Exception) -> Response:
    logger.warning("query failed path=%s error=%r", request.url.path, str(exc)[:300])
    response = _error(503, "the trace store is unavailable, retry later")
    response.headers["Retry-After"] = "1"
    return response


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own answers (no such route, e.g. a path parameter with a newline) as JSON errors too."""
    if not isinstance(exc, HTTPException):
        raise exc
    return OrjsonResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


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
    from prela.query.metrics_api import metrics_routes  # it imports this module's helpers

    api = QueryApi(store, extra_ready)
    # Gzip for clients that ask: a 10,000-span trace is ~9 MB of JSON, ~1 MB compressed.
    middleware = [Middleware(RouteMetricsMiddleware), Middleware(GZipMiddleware, minimum_size=4096)]
    if cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=cors_origins,
                allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
                allow_headers=["Authorization", "Content-Type", "X-API-Key"],
            )
        )
    middleware.append(Middleware(ViewerMiddleware))  # the viewer's pages hold no data: served before auth
    # Inside CORS, so browser preflights are answered without credentials.
    middleware.append(Middleware(PrincipalMiddleware, authenticate=authenticate, exempt_paths=_PUBLIC_PATHS))
    return Starlette(
        routes=[
            Route("/api/v1/health", api.health, methods=["GET"]),
            Route("/ready", api.health, methods=["GET"]),
            Route("/api/v1/traces", api.list_traces, methods=["GET"]),
            Route("/api/v1/traces/{trace_id:path}", api.get_trace, methods=["GET"]),
            Route("/api/v1/spans", api.list_spans, methods=["GET"]),
            Route("/api/v1/stats", api.stats, methods=["GET"]),
            Route("/api/v1/sessions", api.list_sessions, methods=["GET"]),
            Route("/api/v1/sessions/{session_id:path}", api.get_session, methods=["GET"]),
            Route("/api/v1/users", api.list_users, methods=["GET"]),
            *metrics_routes(store),
            Route("/api/v1/openapi.json", api.openapi, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            *extra_routes,
        ],
        middleware=middleware,
        exception_handlers={HTTPException: _http_error, ClickHouseError: _store_unavailable},
    )
