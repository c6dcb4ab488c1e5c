"""One structured log line per HTTP request of an API: method, route template, status, duration.

Never the raw path, the query string or any header (API keys and tokens travel in headers).
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Receive, Scope, Send

from prela.telemetry.metrics import ResponseStatus, route_template

logger = logging.getLogger(__name__)

PROBE_PATHS = frozenset({"/health", "/ready", "/metrics", "/api/v1/health"})


class RequestLogMiddleware:
    """Logs `query request method=GET route=/api/v1/traces status=200 duration_ms=3.1` per request.

    Probes (`/health`, `/ready`, `/metrics`, `/api/v1/health`) are not logged: orchestrators call them
    every few seconds. `label` names the API in the line (`query`).
    """

    def __init__(self, app: ASGIApp, label: str = "query") -> None:
        self.app = app
        self.label = label

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in PROBE_PATHS:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        response = ResponseStatus(send)
        try:
            await self.app(scope, receive, response)
        finally:
            logger.info(
                "%s request method=%s route=%s status=%d duration_ms=%.1f",
                self.label, scope.get("method", "-"), route_template(scope), response.status,
                (time.perf_counter() - started) * 1000,
            )  # fmt: skip
