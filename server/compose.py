"""The pieces every role assembles the same way: OTLP receivers and the query API."""

from __future__ import annotations

from collections.abc import Callable

import grpc
from clickhouse_connect.driver.client import Client
from starlette.applications import Starlette

from prela.auth import AuthRuntime
from prela.collector.admission import AdmissionLimiter
from prela.collector.ingest import Ingest
from prela.collector.otlp_grpc import OtlpGrpcReceiver, build_grpc_server
from prela.collector.otlp_http import OtlpHttpReceiver, build_otlp_http_app
from prela.query.app import build_query_app
from prela.query.store import TraceStore
from prela.server.access import key_routes
from prela.server.settings import ConfigurationError, Settings
from prela.telemetry.health import HealthCheck
from prela.telemetry.request_log import RequestLogMiddleware


def build_receivers(
    settings: Settings,
    ingest: Ingest,
    auth: AuthRuntime,
    health: HealthCheck,
    ready: HealthCheck,
    downstream_full: Callable[[], bool] | None = None,
) -> tuple[grpc.aio.Server, int, Starlette]:
    """OTLP/gRPC (server, bound port) and the OTLP/HTTP app, authenticating with `auth`, sharing one
    admission limiter (they share one event loop) that refuses while `downstream_full()`."""
    admission = admission_limiter(settings, downstream_full)
    try:
        grpc_server, grpc_port = build_grpc_server(
            OtlpGrpcReceiver(ingest, auth.ingest.authenticate),
            settings.host,
            settings.otlp_grpc_port,
            settings.max_request_bytes,
            admission,
            reuse_port=settings.workers > 1,  # the workers of the role share the port (server/workers.py)
        )
    except OSError as exc:  # the port is taken or the address is not ours
        raise ConfigurationError(f"{exc} (--otlp-grpc-port / PRELA_OTLP_GRPC_PORT)") from None
    app = build_otlp_http_app(
        OtlpHttpReceiver(
            ingest, settings.max_request_bytes, settings.retry_after_seconds, auth.ingest.authenticate
        ),
        cors_origins=settings.cors_origins,
        health=health,
        ready=ready,
        admission=admission,
    )
    return grpc_server, grpc_port, app


def admission_limiter(
    settings: Settings, downstream_full: Callable[[], bool] | None = None
) -> AdmissionLimiter:
    return AdmissionLimiter(
        max_requests=settings.admission_max_requests,
        max_bytes=settings.admission_max_bytes,
        max_queue=settings.admission_max_queue,
        max_wait_s=settings.admission_max_wait_ms / 1000,
        retry_after_s=settings.retry_after_seconds,
        downstream_full=downstream_full,
    )


def build_query(settings: Settings, store: TraceStore, auth: AuthRuntime) -> Starlette:
    """The query API with key management; readiness includes the project store."""

    async def store_ready() -> dict[str, bool]:
        return {"store": await auth.store.ping()}

    app = build_query_app(
        store,
        auth.query.authenticate,
        cors_origins=settings.cors_origins,
        extra_routes=key_routes(auth),
        extra_ready=store_ready,
    )
    app.add_middleware(RequestLogMiddleware, label="query")  # outermost: sees every answer, 401s too
    return app


def trace_store(settings: Settings, client: Client) -> TraceStore:
    return TraceStore(client, settings.clickhouse_database)
