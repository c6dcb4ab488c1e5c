"""OTLP logs and metrics: OTLP/JSON decoding (errors name the field) and mapping to rows."""

from __future__ import annotations

import math
from typing import Any

import pytest

from prela.collector.errors import InvalidPayload
from prela.collector.otlp_logs import map_logs_request, otlp_json_to_logs_request
from prela.collector.otlp_metrics import map_metrics_request, otlp_json_to_metrics_request

TRACE = "0af7651916cd43dd8448eb211c80319c"
SPAN = "b7ad6b7169203331"


def logs_doc(*records: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "chat-app"}}]},
                "scopeLogs": [{"scope": {"name": "openai", "version": "2.4"}, "logRecords": list(records)}],
            }
        ]
    }


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"traceId": "xyz"}, "resourceLogs[0].scopeLogs[0].logRecords[0].traceId: 'xyz' is not hex"),
        ({"spanId": 7}, "resourceLogs[0].scopeLogs[0].logRecords[0].spanId: expected a hex string, got int"),
        (
            {"timeUnixNano": "soon"},
            "resourceLogs[0].scopeLogs[0].logRecords[0].timeUnixNano: 'soon' is not an integer",
        ),
        (
            {"eventName": 5},
            "resourceLogs[0].scopeLogs[0].logRecords[0].eventName: expected a string, got int",
        ),
        (
            {"body": {"kvlistValue": {"values": [{"key": 1}]}}},
            "resourceLogs[0].scopeLogs[0].logRecords[0].body.kvlistValue.values[0].key: expected a string, got int",
        ),
        (
            {"severityNumber": "LOUD"},
            "resourceLogs[0].scopeLogs[0].logRecords[0].severityNumber: 'LOUD' is not a valid enum value",
        ),
    ],
)
def test_a_bad_otlp_json_log_field_is_refused_by_its_path(record: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidPayload) as raised:
        otlp_json_to_logs_request(logs_doc(record))
    assert str(raised.value).startswith(message)


def test_a_log_record_list_that_is_not_a_list_is_refused() -> None:
    with pytest.raises(
        InvalidPayload, match=r"^resourceLogs\[0\]\.scopeLogs\[0\]\.logRecords: expected a list, got dict$"
    ):
        otlp_json_to_logs_request({"resourceLogs": [{"scopeLogs": [{"logRecords": {}}]}]})


def test_a_genai_event_maps_to_a_row_with_its_body_as_json() -> None:
    body = {"kvlistValue": {"values": [{"key": "content", "value": {"stringValue": "Hi"}}]}}
    request = otlp_json_to_logs_request(
        logs_doc(
            {
                "timeUnixNano": "1700000000000000000",
                "observedTimeUnixNano": "1700000000000000005",
                "severityNumber": 9,
                "severityText": "INFO",
                "eventName": "gen_ai.user.message",
                "traceId": TRACE,
                "spanId": SPAN,
                "body": body,
                "attributes": [{"key": "gen_ai.system", "value": {"stringValue": "openai"}}],
            }
        )
    )
    (row,) = map_logs_request(request, "proj").rows
    assert row._asdict() == {
        "project_id": "proj",
        "trace_id": TRACE,
        "span_id": SPAN,
        "time": 1700000000000000000,
        "observed_time": 1700000000000000005,
        "seq": 1,
        "severity_number": 9,
        "severity_text": "INFO",
        "event_name": "gen_ai.user.message",
        "body": '{"content":"Hi"}',
        "attributes": '{"gen_ai.system":"openai"}',
        "resource_attributes": '{"service.name":"chat-app"}',
        "service_name": "chat-app",
        "scope_name": "openai",
        "scope_version": "2.4",
        "flags": 0,
    }


def test_the_event_name_attribute_names_the_event_when_the_field_is_empty() -> None:
    record = {
        "attributes": [{"key": "event.name", "value": {"stringValue": "gen_ai.choice"}}],
        "observedTimeUnixNano": 5,
    }
    (row,) = map_logs_request(otlp_json_to_logs_request(logs_doc(record)), "p").rows
    assert (row.event_name, row.time, row.body, row.trace_id) == ("gen_ai.choice", 5, "null", "")


def test_log_records_with_bad_ids_are_rejected_alone() -> None:
    request = otlp_json_to_logs_request(logs_doc({"traceId": "ab"}, {"spanId": SPAN}, {"traceId": TRACE}))
    mapped = map_logs_request(request, "p")
    assert [r.seq for r in mapped.rows] == [3]
    assert mapped.rejected == 2
    assert mapped.errors == [
        "log record 0 of scope 'openai': trace_id must be empty or 16 bytes, got 1",
        "log record 1 of scope 'openai': span_id without a trace_id",
    ]


def metrics_doc(metric: dict[str, Any]) -> dict[str, Any]:
    return {"resourceMetrics": [{"scopeMetrics": [{"scope": {"name": "app"}, "metrics": [metric]}]}]}


def test_sums_gauges_and_histograms_map_to_one_row_per_data_point() -> None:
    attrs = [{"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}}]
    doc = {
        "resourceMetrics": [
            {
                "scopeMetrics": [
                    {
                        "metrics": [
                            {
                                "name": "tokens",
                                "unit": "{token}",
                                "sum": {
                                    "dataPoints": [
                                        {"timeUnixNano": "10", "asInt": "42", "attributes": attrs}
                                    ],
                                    "aggregationTemporality": 2,
                                    "isMonotonic": True,
                                },
                            },
                            {
                                "name": "queue",
                                "gauge": {"dataPoints": [{"timeUnixNano": "11", "asDouble": 0.5}]},
                            },
                            {
                                "name": "latency",
                                "histogram": {
                                    "dataPoints": [
                                        {
                                            "timeUnixNano": "12",
                                            "count": "3",
                                            "sum": 4.5,
                                            "bucketCounts": ["1", "2"],
                                            "explicitBounds": [1.0],
                                            "min": 0.5,
                                            "max": 3.0,
                                            "exemplars": [{"traceId": TRACE, "asDouble": 1.0}],
                                        }
                                    ],
                                    "aggregationTemporality": 1,
                                },
                            },
                            {
                                "name": "sizes",
                                "exponentialHistogram": {
                                    "dataPoints": [
                                        {
                                            "timeUnixNano": "13",
                                            "count": "2",
                                            "scale": 3,
                                            "zeroCount": "1",
                                            "positive": {"offset": 4, "bucketCounts": ["1"]},
                                        }
                                    ]
                                },
                            },
                        ]
                    }
                ]
            }
        ]
    }
    rows = map_metrics_request(otlp_json_to_metrics_request(doc), "p").rows
    summary = [(r.metric_name, r.metric_type, r.time, r.temporality, r.value, r.count) for r in rows]
    assert summary == [
        ("tokens", "sum", 10, 2, 42.0, 0),
        ("queue", "gauge", 11, 0, 0.5, 0),
        ("latency", "histogram", 12, 1, 0.0, 3),
        ("sizes", "exponential_histogram", 13, 0, 0.0, 2),
    ]
    tokens, _, latency, sizes = rows
    assert (tokens.attributes, tokens.is_monotonic, tokens.unit) == (
        '{"gen_ai.request.model":"gpt-4o"}',
        1,
        "{token}",
    )
    assert (latency.sum, latency.min, latency.max, latency.bucket_counts, latency.explicit_bounds) == (
        4.5,
        0.5,
        3.0,
        [1, 2],
        [1.0],
    )
    assert (sizes.scale, sizes.zero_count, sizes.positive_offset, sizes.positive_bucket_counts) == (
        3,
        1,
        4,
        [1],
    )
    assert math.isnan(sizes.sum) and math.isnan(sizes.min)


def test_a_bad_otlp_json_metric_is_refused_with_the_parsers_reason() -> None:
    with pytest.raises(InvalidPayload, match=r"^not a valid OTLP/JSON ExportMetricsServiceRequest: .*asInt"):
        otlp_json_to_metrics_request(metrics_doc({"name": "m", "gauge": {"dataPoints": [{"asInt": "many"}]}}))
