"""`/health` and `/ready` of every role: each dependency's state, 200 when all are up, else 503."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

HealthCheck = Callable[[], Awaitable[Mapping[str, bool | str]]]
"""Returns `{dependency: up}`, e.g. `{"clickhouse": True, "store": False}`; a str value is shown as it
is and not judged (the collector reports Kafka down while it can still spool)."""


def health_endpoint(check: HealthCheck | None) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint answering `{"status": "ok"|"unavailable", <dependency>: "ok"|"down"}`."""

    async def health(request: Request) -> Response:
        dependencies = await check() if check is not None else {}
        ok = all(v for v in dependencies.values() if isinstance(v, bool))
        body = {
            "status": "ok" if ok else "unavailable",
            **{k: v if isinstance(v, str) else "ok" if v else "down" for k, v in dependencies.items()},
        }
        return JSONResponse(body, status_code=200 if ok else 503)

    return health
