"""The receiver-independent part of ingest: check a decoded request and hand it on raw to the exporter.

Nothing is mapped here: the event loop reads ids and times only (for partial success), and the
exporter carries the request's bytes to the writer, which maps and stores them. Span-level
outcomes (accepted, rejected as invalid, refused by back-pressure) are counted here, by transport;
request-level refusals (decode, size, media type, auth) are counted by the receivers, which see
them first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from prela.auth import Principal, RateLimiter
from prela.collector.checks import Checked, check_logs, check_metrics, check_traces
from prela.collector.errors import RateLimited
from prela.collector.prela_json import map_prela_trace
from prela.exporters.base import ExportError, PayloadKind, RawRequest, SpanExporter
from prela.telemetry.metrics import RECEIVER_ACCEPTED_SPANS, RECEIVER_REFUSED_SPANS

logger = logging.getLogger(__name__)


@dataclass(slots=True, frozen=True)
class IngestResult:
    accepted: int
    rejected: int
    message: str


class Ingest:
    """Shared by the OTLP/gRPC and OTLP/HTTP receivers and the Prela JSON path."""

    def __init__(self, exporter: SpanExporter, rate_limiter: RateLimiter | None = None) -> None:
        self._exporter = exporter
        self._rate_limiter = rate_limiter

    async def admit(self, principal: Principal, spans: int, transport: str) -> None:
        """Charge `spans` to the principal's rate; `RateLimited` when over it."""
        if self._rate_limiter is None or spans == 0:
            return
        decision = await self._rate_limiter.acquire(principal.rate_key, spans)
        if not decision.allowed:
            RECEIVER_REFUSED_SPANS.labels(transport, "rate_limited").inc(spans)
            raise RateLimited(decision.retry_after_header())

    async def export_otlp(
        self, request: ExportTraceServiceRequest, principal: Principal, transport: str, raw: RawRequest
    ) -> IngestResult:
        """Check and export the raw request; raises `ExportError` (retryable) when it is not durable.

        `raw` holds the request's protobuf bytes (an OTLP/JSON request converted once by the receiver).
        """
        checked = check_traces(request)
        await self.admit(principal, checked.accepted + checked.rejected, transport)
        if checked.rejected:
            RECEIVER_REFUSED_SPANS.labels(transport, "invalid_span").inc(checked.rejected)
            logger.info(
                "spans rejected count=%d reason=%r", checked.rejected, "; ".join(checked.errors)[:500]
            )
        if checked.accepted:
            await self._export(principal.project_id, raw, checked.accepted, transport)
        return _result(checked)

    async def export_logs(
        self, request: ExportLogsServiceRequest, principal: Principal, transport: str, raw: RawRequest
    ) -> IngestResult:
        """Check and export the raw logs request; rate-limited per record like spans."""
        return await self._export_items(check_logs(request), principal, transport, raw)

    async def export_metrics(
        self, request: ExportMetricsServiceRequest, principal: Principal, transport: str, raw: RawRequest
    ) -> IngestResult:
        """Check and export the raw metrics request; rate-limited per data point."""
        return await self._export_items(check_metrics(request), principal, transport, raw)

    async def _export_items(
        self, checked: Checked, principal: Principal, transport: str, raw: RawRequest
    ) -> IngestResult:
        """Log records / data points: rate-limited per item, the raw request exported when any is kept."""
        await self.admit(principal, checked.accepted + checked.rejected, transport)
        if checked.accepted:
            await self._exporter.export(principal.project_id, raw, checked.accepted)
        return _result(checked)

    async def export_prela(
        self, doc: dict[str, Any], principal: Principal, transport: str, raw: RawRequest
    ) -> str:
        """Validate the seed's Prela JSON trace (InvalidPayload names the field) and export it raw; returns
        its trace id. Its ids are free strings, so it cannot become OTLP: the writer maps it."""
        trace_id, records = map_prela_trace(doc, principal.project_id)
        await self.admit(principal, len(records), transport)
        await self._export(principal.project_id, raw, len(records), transport)
        return trace_id

    async def _export(self, project_id: str, raw: RawRequest, spans: int, transport: str) -> None:
        try:
            await self._exporter.export(project_id, raw, spans)
        except ExportError as exc:
            RECEIVER_REFUSED_SPANS.labels(transport, exc.reason).inc(spans)
            raise
        RECEIVER_ACCEPTED_SPANS.labels(transport).inc(spans)


def _result(checked: Checked) -> IngestResult:
    return IngestResult(checked.accepted, checked.rejected, "; ".join(checked.errors))


def raw_otlp_json(request: ExportTraceServiceRequest) -> RawRequest:
    """An OTLP/JSON trace request as it travels on: converted to protobuf once, at the receiver."""
    return RawRequest(PayloadKind.OTLP_PROTOBUF, request.SerializeToString())


def count_spans(request: ExportTraceServiceRequest) -> int:
    return sum(len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans)
