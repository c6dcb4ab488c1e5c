"""What a receiver must answer about before it hands a raw request on: how many items it carries and
which of them break OTLP's id / time rules (partial success).

Only ids and times are read (about 1 µs a span with upb): no attribute is touched, nothing is mapped.
The rules themselves are the mapping's (`span_problem`, the logs' and metrics' own), so what is
refused here is exactly what the writer skips.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from prela.collector.mapping import MAX_ERRORS, span_problem
from prela.collector.otlp_logs import _problem as log_record_problem
from prela.collector.otlp_metrics import data_point_problem


@dataclass(slots=True)
class Checked:
    """Items of one request that will be stored, and why the others will not (up to MAX_ERRORS reasons)."""

    accepted: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)

    def reject(self, message: str) -> None:
        self.rejected += 1
        if len(self.errors) < MAX_ERRORS and message not in self.errors:
            self.errors.append(message)


def check_traces(request: ExportTraceServiceRequest) -> Checked:
    checked = Checked()
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            spans = scope_spans.spans
            checked.accepted += len(spans)
            for index, span in enumerate(spans):
                problem = span_problem(span)
                if problem is not None:
                    checked.accepted -= 1
                    checked.reject(f"span {index} of scope '{scope_spans.scope.name}': {problem}")
    return checked


def check_logs(request: ExportLogsServiceRequest) -> Checked:
    checked = Checked()
    for resource_logs in request.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            records = scope_logs.log_records
            checked.accepted += len(records)
            for index, record in enumerate(records):
                problem = log_record_problem(record)
                if problem is not None:
                    checked.accepted -= 1
                    checked.reject(f"log record {index} of scope '{scope_logs.scope.name}': {problem}")
    return checked


def check_metrics(request: ExportMetricsServiceRequest) -> Checked:
    checked = Checked()
    for resource_metrics in request.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                which = metric.WhichOneof("data")
                if which is None:
                    continue
                points = getattr(metric, which).data_points
                checked.accepted += len(points)
                for index, point in enumerate(points):
                    problem = data_point_problem(metric.name, index, point)
                    if problem is not None:
                        checked.accepted -= 1
                        checked.reject(problem)
    return checked
