"""OTLP/gRPC receiver: `opentelemetry.proto.collector.{trace,logs,metrics}.v1.*Service/Export` on a grpc.aio server.

The request is taken as raw bytes and parsed here, so a malformed message is
answered INVALID_ARGUMENT with the parser's reason (grpc's own deserializer
would answer INTERNAL). Message size is capped by grpc itself
(RESOURCE_EXHAUSTED), after decompression.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import grpc
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)

from prela.auth import AuthUnavailable, Principal, Unauthenticated, grpc_metadata_headers
from prela.collector.admission import AdmissionInterceptor, AdmissionLimiter
from prela.collector.errors import InvalidPayload, RateLimited
from prela.collector.ingest import Ingest
from prela.collector.otlp_http import Authenticate
from prela.collector.otlp_signals import LOGS, METRICS, TRACES, OtlpSignal, export_protobuf
from prela.exporters.base import ExportError
from prela.telemetry.metrics import RECEIVER_REFUSED_REQUESTS, RECEIVER_REQUEST_SECONDS

logger = logging.getLogger(__name__)

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
LOGS_SERVICE = "opentelemetry.proto.collector.logs.v1.LogsService"
METRICS_SERVICE = "opentelemetry.proto.collector.metrics.v1.MetricsService"
Handler = Callable[[bytes, Principal], Awaitable[Message]]
TRANSPORT = "grpc"


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()  # not Message.SerializeToString: the base class's is abstract


def _code_name(context: grpc.aio.ServicerContext) -> str:
    code = context.code()
    return code.name if isinstance(code, grpc.StatusCode) else "OK"


class OtlpGrpcReceiver:
    def __init__(self, ingest: Ingest, authenticate: Authenticate) -> None:
        self._ingest = ingest
        self._authenticate = authenticate

    async def export(self, body: bytes, context: grpc.aio.ServicerContext) -> ExportTraceServiceResponse:
        return await self._timed(body, context, self._handler(TRACES))  # type: ignore[return-value]

    async def export_logs(self, body: bytes, context: grpc.aio.ServicerContext) -> ExportLogsServiceResponse:
        return await self._timed(body, context, self._handler(LOGS))  # type: ignore[return-value]

    async def export_metrics(
        self, body: bytes, context: grpc.aio.ServicerContext
    ) -> ExportMetricsServiceResponse:
        return await self._timed(body, context, self._handler(METRICS))  # type: ignore[return-value]

    async def _timed(self, body: bytes, context: grpc.aio.ServicerContext, handle: Handler) -> Message:
        started = time.perf_counter()
        try:
            return await self._export(body, context, handle)
        finally:
            elapsed = time.perf_counter() - started
            RECEIVER_REQUEST_SECONDS.labels(TRANSPORT).observe(elapsed)
            logger.info(
                "ingest request transport=grpc code=%s bytes=%d duration_ms=%.1f",
                _code_name(context), len(body), elapsed * 1000,
            )  # fmt: skip

    async def _export(self, body: bytes, context: grpc.aio.ServicerContext, handle: Handler) -> Message:
        try:
            principal = await self._authenticate(grpc_metadata_headers(context.invocation_metadata()))
            return await handle(body, principal)
        except Unauthenticated as exc:
            await self._refuse(context, "auth", grpc.StatusCode.UNAUTHENTICATED, exc.message)
        except AuthUnavailable as exc:
            await self._refuse(context, "auth_unavailable", grpc.StatusCode.UNAVAILABLE, str(exc))
        except RateLimited as exc:
            # UNAVAILABLE: retried by every OTLP exporter (RESOURCE_EXHAUSTED only with RetryInfo).
            await self._refuse(context, "rate_limited", grpc.StatusCode.UNAVAILABLE, str(exc))
        except InvalidPayload as exc:
            await self._refuse(context, "decode", grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except ExportError as exc:
            await self._refuse(context, exc.reason, grpc.StatusCode.UNAVAILABLE, str(exc))
        raise AssertionError("unreachable: context.abort raises")

    def _handler(self, signal: OtlpSignal) -> Callable[[bytes, Principal], Awaitable[Message]]:
        async def handle(body: bytes, principal: Principal) -> Message:
            return await export_protobuf(
                self._ingest, signal, body, principal, TRANSPORT, "not a valid {name}"
            )

        return handle

    @staticmethod
    async def _refuse(
        context: grpc.aio.ServicerContext, reason: str, code: grpc.StatusCode, message: str
    ) -> None:
        RECEIVER_REFUSED_REQUESTS.labels(TRANSPORT, reason).inc()
        logger.info(
            "ingest refused transport=grpc code=%s reason=%s message=%r", code.name, reason, message[:300]
        )
        await context.abort(code, message)

    def handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "Export": grpc.unary_unary_rpc_method_handler(
                    self.export,
                    request_deserializer=None,
                    response_serializer=ExportTraceServiceResponse.SerializeToString,
                )
            },
        )

    def handlers(self) -> tuple[grpc.GenericRpcHandler, ...]:
        """TraceService, LogsService and MetricsService."""
        signals = ((LOGS_SERVICE, self.export_logs), (METRICS_SERVICE, self.export_metrics))
        return (
            self.handler(),
            *(
                grpc.method_handlers_generic_handler(
                    service,
                    {
                        "Export": grpc.unary_unary_rpc_method_handler(
                            method, request_deserializer=None, response_serializer=_serialize
                        )
                    },
                )
                for service, method in signals
            ),
        )


def build_grpc_server(
    receiver: OtlpGrpcReceiver,
    host: str,
    port: int,
    max_request_bytes: int,
    admission: AdmissionLimiter | None = None,
) -> tuple[grpc.aio.Server, int]:
    """A grpc.aio server bound to host:port (call `start()`) and its port; port 0 picks a free one.

    With `admission`, every RPC is admitted through it first, before its message is read; grpc-core
    itself answers RESOURCE_EXHAUSTED only beyond `grpc_concurrency_cap` concurrent RPCs.
    """
    server = grpc.aio.server(
        interceptors=[AdmissionInterceptor(admission)] if admission is not None else None,
        maximum_concurrent_rpcs=grpc_concurrency_cap(admission) if admission is not None else None,
        options=[
            ("grpc.max_receive_message_length", max_request_bytes),
            ("grpc.max_send_message_length", 4 * 1024 * 1024),
            ("grpc.so_reuseport", 0),  # a port already taken is an error, not a silent second listener
        ],
        compression=None,
    )
    server.add_generic_rpc_handlers(receiver.handlers())
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:  # grpc raises when the address is in use
        bound = 0
    if bound == 0:
        raise OSError(f"cannot bind OTLP/gRPC to {host}:{port}: address in use or not available")
    return server, bound


def grpc_concurrency_cap(admission: AdmissionLimiter) -> int:
    """grpc-core's own limit of concurrent RPCs, a memory guard far above what the limiter holds: an RPC
    refused by the limiter costs no read (see `AdmissionInterceptor`), while one refused by grpc-core gets
    RESOURCE_EXHAUSTED without RetryInfo, which OTLP exporters do not retry."""
    return max(GRPC_MIN_CONCURRENCY_CAP, 16 * (admission.max_requests + admission.max_queue))


GRPC_MIN_CONCURRENCY_CAP = 4096
