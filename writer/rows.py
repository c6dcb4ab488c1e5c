"""A batch of raw requests as the writer stores it: OTLP trace requests go to the trace inserter as they
are; logs, metrics, the seed's Prela JSON and old `SpanBatch` messages are mapped to rows here, in the
writer, by their own Python functions.

A batch becomes a few inserts, one per table and row type, each retried on its own until it is stored;
spans stored are counted here (`prela_writer_inserted_spans_total`), whichever inserter stored them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import orjson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from prela.collector.otlp_json import otlp_json_to_request
from prela.collector.otlp_logs import map_logs_request
from prela.collector.otlp_metrics import map_metrics_request
from prela.collector.prela_json import map_prela_trace
from prela.exporters.base import PayloadKind
from prela.exporters.clickhouse import ROW_TABLES, log_unstorable
from prela.model import SpanRecord
from prela.telemetry.metrics import WRITER_INSERTED_SPANS


class TraceInserter(Protocol):
    """`prela.exporters.otlp_insert.trace_inserter`'s (Python or engine mapping), or a stand-in in tests."""

    def insert(
        self, requests: Sequence[tuple[str, bytes]], settings: dict[str, Any] | None = None
    ) -> None: ...


class RowWriter(Protocol):
    """`prela.exporters.clickhouse.ClickHouseWriter`, or a stand-in in tests."""

    def insert_or_isolate(
        self, records: Sequence[SpanRecord], settings: dict[str, Any] | None = None
    ) -> list[tuple[SpanRecord, str]]: ...


@dataclass(slots=True)
class Insert:
    """One insert of a batch: `run()` raises when the store failed (retry it), else returns spans stored."""

    what: str
    rows: int
    run: Callable[[], int]


@dataclass(slots=True)
class RawBatch:
    traces: list[tuple[str, bytes]] = field(default_factory=list)  # (project id, ExportTraceServiceRequest)
    trace_spans: int = 0
    rows: dict[type, list[SpanRecord]] = field(default_factory=dict)
    # what arrived first is inserted first (None: the OTLP trace requests), so that GenAI log events sent
    # before their spans are stored before the trace they fill becomes visible
    order: list[type | None] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.traces and not self.rows

    def add(self, kind: PayloadKind, project_id: str, payload: bytes, items: int) -> None:
        """Add one request; raises (DecodeError, InvalidPayload, ...) when it cannot be read."""
        if kind is PayloadKind.OTLP_PROTOBUF:
            self.add_otlp(project_id, payload, items)
        elif kind is PayloadKind.OTLP_JSON:  # logged before requests were converted at the receiver
            request = otlp_json_to_request(orjson.loads(payload))
            spans = sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
            self.add_otlp(project_id, request.SerializeToString(), items or spans)
        elif kind is PayloadKind.PRELA_JSON:
            self.add_rows(map_prela_trace(orjson.loads(payload), project_id)[1])
        elif kind is PayloadKind.OTLP_LOGS:
            logs = map_logs_request(ExportLogsServiceRequest.FromString(payload), project_id).rows
            self.add_rows(cast(list[SpanRecord], logs))
        elif kind is PayloadKind.OTLP_METRICS:
            request = ExportMetricsServiceRequest.FromString(payload)
            self.add_rows(cast(list[SpanRecord], map_metrics_request(request, project_id).rows))
        else:
            raise ValueError(f"the writer does not store payloads of kind {kind.name}")

    def add_otlp(self, project_id: str, payload: bytes, spans: int) -> None:
        """A serialized ExportTraceServiceRequest of `spans` spans, stored as it is."""
        if not self.traces:
            self.order.append(None)
        self.traces.append((project_id, payload))
        self.trace_spans += spans

    def add_rows(self, rows: Sequence[SpanRecord]) -> None:
        """Rows already mapped (spans of an old SpanBatch message, log and metric rows)."""
        if rows:
            row_type = rows[0].__class__
            if row_type not in self.rows:
                self.order.append(row_type)
            self.rows.setdefault(row_type, []).extend(rows)

    @property
    def items(self) -> int:
        """Spans, log records and data points held."""
        return self.trace_spans + sum(len(rows) for rows in self.rows.values())

    def inserts(self, traces: TraceInserter, writer: RowWriter, token: str | None = None) -> list[Insert]:
        """The inserts storing this batch; with `token`, each carries its own deduplication token derived
        from it (two inserts into one table must not share one, or the second would be dropped)."""

        def settings(what: str) -> dict[str, Any] | None:
            return {"insert_deduplication_token": f"{token}/{what}"} if token else None

        inserts: list[Insert] = []
        for row_type in self.order:
            if row_type is None:
                run = _trace_insert(traces, self.traces, self.trace_spans, settings("otlp"))
                inserts.append(Insert("spans", self.trace_spans, run))
            else:
                rows = self.rows[row_type]
                run = _row_insert(writer, rows, settings(row_type.__name__))
                inserts.append(Insert(ROW_TABLES[row_type][0], len(rows), run))
        return inserts


def _trace_insert(
    traces: TraceInserter, requests: list[tuple[str, bytes]], spans: int, settings: dict[str, Any] | None
) -> Callable[[], int]:
    def run() -> int:
        traces.insert(requests, settings)
        WRITER_INSERTED_SPANS.inc(spans)
        return spans

    return run


def _row_insert(
    writer: RowWriter, rows: list[SpanRecord], settings: dict[str, Any] | None
) -> Callable[[], int]:
    def run() -> int:
        unstorable = writer.insert_or_isolate(rows, settings)
        log_unstorable(unstorable)
        if rows[0].__class__ is not SpanRecord:
            return 0
        WRITER_INSERTED_SPANS.inc(len(rows) - len(unstorable))
        return len(rows) - len(unstorable)

    return run
