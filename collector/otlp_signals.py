"""The three OTLP signals as data: what a receiver decodes, which `Ingest` method takes it, and the
response with its partial success. Both transports (gRPC and HTTP protobuf) answer through it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsPartialSuccess,
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsPartialSuccess,
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from prela.auth import Principal
from prela.collector.errors import InvalidPayload
from prela.collector.ingest import Ingest, IngestResult
from prela.exporters.base import PayloadKind, RawRequest

Export = Callable[[Ingest, Any, Principal, str, RawRequest], Awaitable[IngestResult]]


@dataclass(frozen=True, slots=True)
class OtlpSignal:
    request: type[Message]
    response: type[Message]
    partial_success: type[Message]
    rejected_field: str  # the partial success's count of rejected items
    kind: PayloadKind  # how the raw protobuf body is logged (WAL, spool)
    export: Export


TRACES = OtlpSignal(
    ExportTraceServiceRequest, ExportTraceServiceResponse, ExportTracePartialSuccess, "rejected_spans",
    PayloadKind.OTLP_PROTOBUF, Ingest.export_otlp,
)  # fmt: skip
LOGS = OtlpSignal(
    ExportLogsServiceRequest, ExportLogsServiceResponse, ExportLogsPartialSuccess, "rejected_log_records",
    PayloadKind.OTLP_LOGS, Ingest.export_logs,
)  # fmt: skip
METRICS = OtlpSignal(
    ExportMetricsServiceRequest, ExportMetricsServiceResponse, ExportMetricsPartialSuccess,
    "rejected_data_points", PayloadKind.OTLP_METRICS, Ingest.export_metrics,
)  # fmt: skip


async def export_protobuf(
    ingest: Ingest, signal: OtlpSignal, body: bytes, principal: Principal, transport: str, invalid: str
) -> Message:
    """Decode an export request's protobuf body, export it, and build the response.

    `invalid` words the decode error for the transport: `{name}` is the request message's name.
    """
    try:
        request = signal.request.FromString(body)
    except DecodeError as exc:
        raise InvalidPayload(f"{invalid.format(name=signal.request.__name__)}: {exc}") from None
    result = await signal.export(ingest, request, principal, transport, RawRequest(signal.kind, body))
    response = signal.response()
    if result.rejected:
        partial = signal.partial_success(
            error_message=result.message, **{signal.rejected_field: result.rejected}
        )
        response.partial_success.CopyFrom(partial)  # type: ignore[attr-defined]
    return response
