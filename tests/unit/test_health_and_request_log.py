"""The one `/health` endpoint of every role, and the one log line per API request."""

from __future__ import annotations

import logging

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from prela.telemetry.health import health_endpoint
from prela.telemetry.request_log import RequestLogMiddleware


def client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://t"
    )


async def test_health_is_200_when_every_dependency_is_up_and_503_naming_the_one_down() -> None:
    state = {"clickhouse": True, "store": True}

    async def check() -> dict[str, bool]:
        return dict(state)

    app = Starlette(routes=[Route("/health", health_endpoint(check)), Route("/bare", health_endpoint(None))])
    async with client(app) as http:
        up = await http.get("/health")
        state["store"] = False
        down = await http.get("/health")
        bare = await http.get("/bare")
    assert (up.status_code, up.json()) == (200, {"status": "ok", "clickhouse": "ok", "store": "ok"})
    assert (down.status_code, down.json()) == (
        503,
        {"status": "unavailable", "clickhouse": "ok", "store": "down"},
    )
    assert (bare.status_code, bare.json()) == (200, {"status": "ok"})


async def test_one_line_per_request_with_the_route_template_and_never_headers_or_query(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def trace(request: Request) -> Response:
        return JSONResponse({"error": "trace not found"}, status_code=404)

    async def boom(request: Request) -> Response:
        raise RuntimeError("store exploded")

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    app = Starlette(
        routes=[
            Route("/api/v1/traces/{trace_id}", trace),
            Route("/boom", boom),
            Route("/api/v1/health", health),
        ],
        middleware=[Middleware(RequestLogMiddleware)],
    )
    with caplog.at_level(logging.INFO, logger="prela.telemetry.request_log"):
        async with client(app) as http:
            await http.get("/api/v1/traces/abc123?q=secret-words", headers={"X-API-Key": "pk_p_topsecret"})
            await http.get("/boom")
            await http.get("/nowhere")
            await http.get("/api/v1/health")
    logged = [r.getMessage() for r in caplog.records if r.name == "prela.telemetry.request_log"]
    lines = [message.rsplit(" duration_ms=", 1)[0] for message in logged]
    assert lines == [
        "query request method=GET route=/api/v1/traces/{trace_id} status=404",
        "query request method=GET route=/boom status=500",
        "query request method=GET route=unmatched status=404",
    ]
    assert not [m for m in logged if "abc123" in m or "secret" in m]
