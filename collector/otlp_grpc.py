"""OTLP/gRPC receiver: `opentelemetry.proto.collector.{trace,logs,metrics}.v1.*Service/Export` on a grpc.aio server.

The request is taken as raw bytes and parsed here, so a malformed message is
answered INVALID_ARGUMENT with the parser's reason (grpc's own deserializer
would answer INTERNAL). Message size is capped by grpc itself
(RESOURCE_EXHAUSTED), after decompression.
"""

from __future__ import annotations

import logging
import math
import time

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
        return await self._timed(body, context, TRACES)  # type: ignore[return-value]

    async def export_logs(self, body: bytes, context: grpc.aio.ServicerContext) -> ExportLogsServiceResponse:
        return await self._timed(body, context, LOGS)  # type: ignore[return-value]

    async def export_metrics(
        self, body: bytes, context: grpc.aio.ServicerContext
    ) -> ExportMetricsServiceResponse:
        return await self._timed(body, context, METRICS)  # type: ignore[return-value]

    async def _timed(self, body: bytes, context: grpc.aio.ServicerContext, signal: OtlpSignal) -> Message:
        started = time.perf_counter()
        try:
            return await self._export(body, context, signal)
        finally:
            elapsed = time.perf_counter() - started
            RECEIVER_REQUEST_SECONDS.labels(TRANSPORT).observe(elapsed)
            logger.info(
                "ingest request transport=grpc code=%s bytes=%d duration_ms=%.1f",
                _code_name(context), len(body), elapsed * 1000,
            )  # fmt: skip

    async def _export(self, body: bytes, context: grpc.aio.ServicerContext, signal: OtlpSignal) -> Message:
        try:
            principal = await self._authenticate(grpc_metadata_headers(context.invocation_metadata()))
            return await self.answer(signal, body, principal)
        except Exception as exc:
            refusal = grpc_refusal(exc)
            if refusal is None:
                raise
            await self._refuse(context, *refusal)
        raise AssertionError("unreachable: context.abort raises")

    async def answer(self, signal: OtlpSignal, body: bytes, principal: Principal) -> Message:
        """The response to an authenticated export, or a refusal raised (see `grpc_refusal`).

        `prela serve --workers N`: a receiver worker overrides it to forward to the owner (server/forward.py).
        """
        return await export_protobuf(self._ingest, signal, body, principal, TRANSPORT, "not a valid {name}")

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


class GrpcRefusal(Exception):
    """A refusal decided elsewhere (the owner of `prela serve --workers N`), answered as it was decided."""

    def __init__(self, reason: str, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.code = code
        self.message = message


def grpc_refusal(exc: Exception) -> tuple[str, grpc.StatusCode, str] | None:
    """(reason, status code, message) of a refused export; None for an error that is not a refusal."""
    if isinstance(exc, GrpcRefusal):
        return exc.reason, exc.code, exc.message
    if isinstance(exc, Unauthenticated):
        return "auth", grpc.StatusCode.UNAUTHENTICATED, exc.message
    if isinstance(exc, AuthUnavailable):
        return "auth_unavailable", grpc.StatusCode.UNAVAILABLE, str(exc)
    if isinstance(exc, RateLimited):
        # UNAVAILABLE: retried by every OTLP exporter (RESOURCE_EXHAUSTED only with RetryInfo).
        return "rate_limited", grpc.StatusCode.UNAVAILABLE, str(exc)
    if isinstance(exc, InvalidPayload):
        return "decode", grpc.StatusCode.INVALID_ARGUMENT, str(exc)
    if isinstance(exc, ExportError):
        return exc.reason, grpc.StatusCode.UNAVAILABLE, str(exc)
    return None


def build_grpc_server(
    receiver: OtlpGrpcReceiver,
    host: str,
    port: int,
    max_request_bytes: int,
    admission: AdmissionLimiter | None = None,
    reuse_port: bool = False,
) -> tuple[grpc.aio.Server, int]:
    """A grpc.aio server bound to host:port (call `start()`) and its port; port 0 picks a free one.

    `reuse_port` shares the port with the other workers of the role (SO_REUSEPORT); without it a port
    already taken is an error, not a silent second listener.

    With `admission`, every RPC is admitted through it first, before its message is read; grpc-core
    itself answers RESOURCE_EXHAUSTED only beyond `grpc_concurrency_cap` concurrent RPCs, and cancels a
    call the event loop has not taken for `grpc_max_unrequested_s` (see there).
    """
    server = grpc.aio.server(
        interceptors=[AdmissionInterceptor(admission)] if admission is not None else None,
        maximum_concurrent_rpcs=grpc_concurrency_cap(admission) if admission is not None else None,
        options=[
            ("grpc.max_receive_message_length", max_request_bytes),
            ("grpc.max_send_message_length", 4 * 1024 * 1024),
            ("grpc.so_reuseport", int(reuse_port)),
            # No bandwidth-delay probing: it grows each stream's flow-control window to megabytes, so with
            # hundreds of clients grpc-core buffers their whole requests before Python admits or refuses a
            # call (a do-nothing grpc.aio server measured 1,035 → 568 MiB peak RSS at 1,024 clients, same
            # throughput on loopback).
            ("grpc.http2.bdp_probe", 0),
            *(
                [("grpc.server_max_unrequested_time_in_server", grpc_max_unrequested_s(admission))]
                if admission is not None
                else []
            ),
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


def grpc_max_unrequested_s(admission: AdmissionLimiter) -> int:
    """How long grpc-core keeps a call the event loop has not taken yet before it cancels it (CANCELLED,
    retried by OTLP exporters as the spec says): the admission wait, in whole seconds (grpc's unit), at least 1.

    When the event loop itself is the bottleneck (`prela collector`: receiving, checking and publishing
    take the core), grpc.aio takes new calls only as fast as it finishes them, so they queue in grpc-core,
    out of the limiter's sight: its queue stays empty, and with 256 clients every answer took ~1.8 s, with
    1,024 ~8 s. The limit sheds them where they wait, before any Python work (0 would cancel any call
    that waited at all: measured 25 % goodput at 256 clients)."""
    return max(1, math.ceil(admission.max_wait_s))
