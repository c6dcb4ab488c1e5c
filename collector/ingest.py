"""The receiver-independent part of ingest: map a decoded request and hand it to the exporter."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from prela.collector.mapping import map_export_request
from prela.collector.prela_json import map_prela_trace
from prela.exporters.base import SpanExporter

logger = logging.getLogger(__name__)


@dataclass(slots=True, frozen=True)
class IngestResult:
    accepted: int
    rejected: int
    message: str


class Ingest:
    """Shared by the OTLP/gRPC and OTLP/HTTP receivers and the Prela JSON path."""

    def __init__(self, exporter: SpanExporter) -> None:
        self._exporter = exporter

    async def export_otlp(self, request: ExportTraceServiceRequest, project_id: str) -> IngestResult:
        """Map and export; raises `ExportError` (retryable) when the spans are not durable."""
        mapped = map_export_request(request, project_id)
        if mapped.records:
            await self._exporter.export(project_id, mapped.records)
        message = "; ".join(mapped.errors)
        if mapped.rejected:
            logger.info("spans rejected count=%d reason=%r", mapped.rejected, message[:500])
        return IngestResult(len(mapped.records), mapped.rejected, message)

    async def export_prela(self, doc: dict[str, Any], project_id: str) -> str:
        """Map the seed's Prela JSON trace and export it; returns its trace id."""
        trace_id, records = map_prela_trace(doc, project_id)
        await self._exporter.export(project_id, records, whole_trace=True)
        return trace_id
