"""OTLP metrics: OTLP/JSON → `ExportMetricsServiceRequest`, and the request → `MetricPoint` rows.

One row per data point, whatever the metric's type: sums and gauges fill `value`, histograms
`count`/`sum`/`min`/`max` and their buckets (explicit or exponential), summaries `count`/`sum` and
quantiles. A data point with an impossible time is rejected alone (`rejected_data_points`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import orjson
from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from prela.collector import conventions as cv
from prela.collector.errors import InvalidPayload
from prela.collector.mapping import MAX_ERRORS, attributes_dict
from prela.model.signals import MetricPoint
from prela.model.timestamps import MAX_TIME_NS

METRIC_TYPES = ("sum", "gauge", "histogram", "exponential_histogram", "summary")
_NAN = math.nan


@dataclass(slots=True)
class MappedMetrics:
    rows: list[MetricPoint]
    rejected: int = 0
    errors: list[str] = field(default_factory=list)


def count_data_points(request: ExportMetricsServiceRequest) -> int:
    total = 0
    for resource in request.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                which = metric.WhichOneof("data")
                if which is not None:
                    total += len(getattr(metric, which).data_points)
    return total


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def data_point_problem(metric_name: str, index: int, point: Any) -> str | None:
    """Why a data point cannot be stored (its times), or None."""
    if point.time_unix_nano > MAX_TIME_NS or point.start_time_unix_nano > MAX_TIME_NS:
        return (
            f"data point {index} of metric '{metric_name}': time beyond 2262-04-11 "
            "(the largest nanosecond timestamp stored)"
        )
    return None


def map_metrics_request(request: ExportMetricsServiceRequest, project_id: str) -> MappedMetrics:
    """Every data point of an OTLP metrics export request as a `MetricPoint` of `project_id`."""
    rows: list[MetricPoint] = []
    rejected = 0
    errors: list[str] = []
    for resource_metrics in request.resource_metrics:
        resource_attrs = attributes_dict(resource_metrics.resource.attributes)
        service = resource_attrs.get(cv.SERVICE_NAME)
        service_name = service if service.__class__ is str and service else cv.DEFAULT_SERVICE_NAME
        resource_json = _json(resource_attrs)
        for scope_metrics in resource_metrics.scope_metrics:
            scope = (scope_metrics.scope.name, scope_metrics.scope.version)
            for metric in scope_metrics.metrics:
                which = metric.WhichOneof("data")
                if which is None:
                    continue
                data = getattr(metric, which)
                head = (project_id, metric.name, which, metric.unit, metric.description, service_name, *scope)
                temporality = getattr(data, "aggregation_temporality", 0)
                monotonic = int(getattr(data, "is_monotonic", False))
                for index, point in enumerate(data.data_points):
                    message = data_point_problem(metric.name, index, point)
                    if message is not None:
                        rejected += 1
                        if len(errors) < MAX_ERRORS and message not in errors:
                            errors.append(message)
                        continue
                    attrs = attributes_dict(point.attributes) if len(point.attributes) else {}
                    rows.append(
                        MetricPoint(
                            *head,
                            point.time_unix_nano,
                            point.start_time_unix_nano,
                            temporality,
                            monotonic,
                            *_values(which, point),
                            point.flags,
                            _json(attrs) if attrs else "{}",
                            resource_json,
                        )
                    )
    return MappedMetrics(rows, rejected, errors)


_NO_BUCKETS: tuple[list[int], list[float], int, int, int, list[int], int, list[int]] = (
    [], [], 0, 0, 0, [], 0, []
)  # fmt: skip


def _values(which: str, p: Any) -> tuple[Any, ...]:
    """(value, count, sum, min, max, bucket_counts, explicit_bounds, scale, zero_count,
    positive_offset, positive_bucket_counts, negative_offset, negative_bucket_counts, quantiles)."""
    if which in ("sum", "gauge"):
        number = p.as_double if p.WhichOneof("value") == "as_double" else float(p.as_int)
        return (number, 0, 0.0, _NAN, _NAN, *_NO_BUCKETS, [])
    if which == "summary":
        quantiles = [(q.quantile, q.value) for q in p.quantile_values]
        return (0.0, p.count, p.sum, _NAN, _NAN, *_NO_BUCKETS, quantiles)
    low = p.min if p.HasField("min") else _NAN
    high = p.max if p.HasField("max") else _NAN
    total = p.sum if p.HasField("sum") else _NAN
    buckets: tuple[Any, ...]
    if which == "histogram":
        buckets = (list(p.bucket_counts), list(p.explicit_bounds), 0, 0, 0, [], 0, [])
    else:  # exponential_histogram
        buckets = (
            [], [], p.scale, p.zero_count,
            p.positive.offset, list(p.positive.bucket_counts),
            p.negative.offset, list(p.negative.bucket_counts),
        )  # fmt: skip
    return (0.0, p.count, total, low, high, *buckets, [])


# --- OTLP/JSON ----------------------------------------------------------------------------------


def _without_exemplars(value: Any) -> Any:
    """Exemplars carry hex ids, which proto3 JSON would read as base64: they are not stored, so dropped."""
    if value.__class__ is dict:
        return {k: _without_exemplars(v) for k, v in value.items() if k != "exemplars"}
    if value.__class__ is list:
        return [_without_exemplars(v) for v in value]
    return value


def otlp_json_to_metrics_request(doc: Any) -> ExportMetricsServiceRequest:
    """Build the protobuf request from an OTLP/JSON metrics document; InvalidPayload says what is wrong."""
    if doc.__class__ is not dict:
        raise InvalidPayload(f"body: expected a JSON object, got {type(doc).__name__}")
    request = ExportMetricsServiceRequest()
    try:  # RecursionError: JSON nested deeper than Python recurses (the protobuf limit is far lower)
        json_format.ParseDict(_without_exemplars(doc), request, ignore_unknown_fields=True)
    except (json_format.ParseError, RecursionError) as exc:
        raise InvalidPayload(f"not a valid OTLP/JSON ExportMetricsServiceRequest: {exc}") from None
    return request
