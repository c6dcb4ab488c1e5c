"""The receiver-independent part of ingest: map a decoded request and hand it to the exporter.

Span-level outcomes (accepted, rejected as invalid, refused by back-pressure)
are counted here, by transport; request-level refusals (decode, size, media
type, auth) are counted by the receivers, which see them first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

import orjson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from prela.auth import Principal, RateLimiter
from prela.collector.errors import RateLimited
from prela.collector.mapping import map_export_request
from prela.collector.otlp_json import otlp_json_to_request
from prela.collector.otlp_logs import count_log_records, map_logs_request
from prela.collector.otlp_metrics import count_data_points, map_metrics_request
from prela.collector.prela_json import map_prela_trace
from prela.exporters.base import ExportError, PayloadKind, RawRequest, SpanExporter
from prela.exporters.clickhouse import ClickHouseWriter, log_unstorable
from prela.exporters.wal import WalEntry, WriteAheadLog
from prela.model import SpanRecord
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
        self._mapper = ThreadPoolExecutor(1, thread_name_prefix="prela-map")

    async def admit(self, principal: Principal, spans: int, transport: str) -> None:
        """Charge `spans` to the principal's rate; `RateLimited` when over it."""
        if self._rate_limiter is None or spans == 0:
            return
        decision = await self._rate_limiter.acquire(principal.rate_key, spans)
        if not decision.allowed:
            RECEIVER_REFUSED_SPANS.labels(transport, "rate_limited").inc(spans)
            raise RateLimited(decision.retry_after_header())

    async def export_otlp(
        self,
        request: ExportTraceServiceRequest,
        principal: Principal,
        transport: str,
        raw: RawRequest | None = None,
    ) -> IngestResult:
        """Map and export; raises `ExportError` (retryable) when the spans are not durable."""
        await self.admit(principal, count_spans(request), transport)
        project_id = principal.project_id
        # Off the event loop, so that it keeps accepting and refusing requests while one is mapped; one
        # thread, as the GIL lets only one map at a time anyway (more threads would only add malloc arenas).
        loop = asyncio.get_running_loop()
        mapped = await loop.run_in_executor(self._mapper, map_export_request, request, project_id)
        if mapped.rejected:
            RECEIVER_REFUSED_SPANS.labels(transport, "invalid_span").inc(mapped.rejected)
            logger.info("spans rejected count=%d reason=%r", mapped.rejected, "; ".join(mapped.errors)[:500])
        if mapped.records:
            await self._export(project_id, mapped.records, transport, False, raw)
        return IngestResult(len(mapped.records), mapped.rejected, "; ".join(mapped.errors))

    async def export_logs(
        self, request: ExportLogsServiceRequest, principal: Principal, transport: str, raw: RawRequest
    ) -> IngestResult:
        """Map and export the log records; rate-limited per record like spans."""
        await self.admit(principal, count_log_records(request), transport)
        mapped = map_logs_request(request, principal.project_id)
        if mapped.rows:
            # The exporter's queue routes rows to their table by type (see exporters.clickhouse).
            await self._exporter.export(principal.project_id, cast(list[SpanRecord], mapped.rows), raw=raw)
        return IngestResult(len(mapped.rows), mapped.rejected, "; ".join(mapped.errors))

    async def export_metrics(
        self, request: ExportMetricsServiceRequest, principal: Principal, transport: str, raw: RawRequest
    ) -> IngestResult:
        """Map and export the metric data points; rate-limited per data point."""
        await self.admit(principal, count_data_points(request), transport)
        mapped = map_metrics_request(request, principal.project_id)
        if mapped.rows:
            await self._exporter.export(principal.project_id, cast(list[SpanRecord], mapped.rows), raw=raw)
        return IngestResult(len(mapped.rows), mapped.rejected, "; ".join(mapped.errors))

    async def export_prela(
        self, doc: dict[str, Any], principal: Principal, transport: str, raw: RawRequest | None = None
    ) -> str:
        """Map the seed's Prela JSON trace and export it; returns its trace id."""
        trace_id, records = map_prela_trace(doc, principal.project_id)
        await self.admit(principal, len(records), transport)
        await self._export(principal.project_id, records, transport, True, raw)
        return trace_id

    async def _export(
        self,
        project_id: str,
        records: Sequence[SpanRecord],
        transport: str,
        whole_trace: bool,
        raw: RawRequest | None,
    ) -> None:
        try:
            await self._exporter.export(project_id, records, whole_trace=whole_trace, raw=raw)
        except ExportError as exc:
            RECEIVER_REFUSED_SPANS.labels(transport, exc.reason).inc(len(records))
            raise
        RECEIVER_ACCEPTED_SPANS.labels(transport).inc(len(records))


def count_spans(request: ExportTraceServiceRequest) -> int:
    return sum(len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans)


def logs_of_message(project_id: str, payload: bytes) -> list[SpanRecord]:
    """The log rows of an OTLP logs request taken from Kafka (the writer's decoder for the logs topic)."""
    return cast(
        list[SpanRecord], map_logs_request(ExportLogsServiceRequest.FromString(payload), project_id).rows
    )


def metrics_of_message(project_id: str, payload: bytes) -> list[SpanRecord]:
    """The metric points of an OTLP metrics request taken from Kafka (the metrics topic's decoder)."""
    request = ExportMetricsServiceRequest.FromString(payload)
    return cast(list[SpanRecord], map_metrics_request(request, project_id).rows)


def records_of(entry: WalEntry) -> list[SpanRecord]:
    """The spans (or log / metric rows) of a logged request, mapped exactly as when it was received."""
    if entry.kind is PayloadKind.OTLP_LOGS:
        return logs_of_message(entry.project_id, entry.payload)
    if entry.kind is PayloadKind.OTLP_METRICS:
        return metrics_of_message(entry.project_id, entry.payload)
    if entry.kind is PayloadKind.OTLP_PROTOBUF:
        request = ExportTraceServiceRequest.FromString(entry.payload)
        return map_export_request(request, entry.project_id).records
    doc = orjson.loads(entry.payload)
    if entry.kind is PayloadKind.OTLP_JSON:
        return map_export_request(otlp_json_to_request(doc), entry.project_id).records
    return map_prela_trace(doc, entry.project_id)[1]


def replay_wal(wal: WriteAheadLog, writer: ClickHouseWriter, batch_spans: int) -> int:
    """Store the requests logged but not checkpointed before the last stop (spans, log records, metric
    points); returns the span count."""
    replayed = 0
    batch: list[SpanRecord] = []
    last_lsn = 0

    def store(rows: list[SpanRecord]) -> int:
        log_unstorable(writer.insert_or_isolate(rows))
        return len(rows) if rows[0].__class__ is SpanRecord else 0

    for entry in wal.pending():
        try:
            rows = records_of(entry)
            if batch and rows and rows[0].__class__ is not batch[0].__class__:  # one row type per insert
                replayed += store(batch)
                batch = []
            batch.extend(rows)
        except Exception:  # logged only after it decoded once: cannot happen unless the file was edited
            logger.exception("wal: skipping an entry that no longer decodes lsn=%d", entry.lsn)
        last_lsn = entry.lsn
        if len(batch) >= batch_spans:
            replayed += store(batch)
            batch = []
            wal.checkpoint(last_lsn)
    if batch:
        replayed += store(batch)
    if last_lsn:
        wal.checkpoint(last_lsn)
    return replayed
