"""`/health` and `/ready` of every role: each dependency's state, 200 when all are up, else 503."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

HealthCheck = Callable[[], Awaitable[dict[str, bool]]]
"""Returns `{dependency: up}`, e.g. `{"clickhouse": True, "store": False}`."""


def health_endpoint(check: HealthCheck | None) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint answering `{"status": "ok"|"unavailable", <dependency>: "ok"|"down"}`."""

    async def health(request: Request) -> Response:
        dependencies = await check() if check is not None else {}
        ok = all(dependencies.values())
        body = {
            "status": "ok" if ok else "unavailable",
            **{k: "ok" if v else "down" for k, v in dependencies.items()},
        }
        return JSONResponse(body, status_code=200 if ok else 503)

    return health
