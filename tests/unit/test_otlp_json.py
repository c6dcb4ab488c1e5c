"""OTLP/JSON → ExportTraceServiceRequest: both key styles, hex ids, enums, int64 forms, errors."""

from __future__ import annotations

import copy
import json
from typing import Any

import orjson
import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from prela.collector.errors import InvalidPayload
from prela.collector.mapping import map_export_request
from prela.collector.otlp_json import otlp_json_to_request

TRACE_HEX = "5b8efff798038103d269b633813fc60c"
SPAN_HEX = "eee19b7ec3c1b174"
PARENT_HEX = "eee19b7ec3c1b173"


def camel_doc() -> dict[str, Any]:
    """The OTLP/JSON example of the OTLP spec, extended with every value type."""
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "my.service"}}]},
                "schemaUrl": "https://opentelemetry.io/schemas/1.26.0",
                "scopeSpans": [
                    {
                        "scope": {
                            "name": "my.library",
                            "version": "1.0.0",
                            "attributes": [{"key": "my.scope.attribute", "value": {"stringValue": "x"}}],
                        },
                        "spans": [
                            {
                                "traceId": TRACE_HEX,
                                "spanId": SPAN_HEX,
                                "parentSpanId": PARENT_HEX,
                                "traceState": "k=v",
                                "flags": 257,
                                "name": "chat gpt-4o",
                                "kind": 3,
                                "startTimeUnixNano": "1544712660000000000",
                                "endTimeUnixNano": 1544712661000000000,
                                "attributes": [
                                    {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                                    {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
                                    {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "100"}},
                                    {"key": "gen_ai.usage.output_tokens", "value": {"intValue": 20}},
                                    {"key": "temperature", "value": {"doubleValue": 0.5}},
                                    {"key": "stream", "value": {"boolValue": False}},
                                    {"key": "raw", "value": {"bytesValue": "AAE="}},
                                    {
                                        "key": "list",
                                        "value": {
                                            "arrayValue": {
                                                "values": [{"stringValue": "a"}, {"intValue": "2"}]
                                            }
                                        },
                                    },
                                    {
                                        "key": "map",
                                        "value": {
                                            "kvlistValue": {
                                                "values": [{"key": "k", "value": {"boolValue": True}}]
                                            }
                                        },
                                    },
                                    {"key": "empty", "value": {}},
                                ],
                                "events": [
                                    {
                                        "timeUnixNano": "1544712660500000000",
                                        "name": "first-token",
                                        "attributes": [{"key": "n", "value": {"intValue": "1"}}],
                                    }
                                ],
                                "links": [
                                    {
                                        "traceId": TRACE_HEX,
                                        "spanId": PARENT_HEX,
                                        "attributes": [{"key": "why", "value": {"stringValue": "retry"}}],
                                    }
                                ],
                                "status": {"code": 2, "message": "boom"},
                            }
                        ],
                    }
                ],
            }
        ]
    }


_SNAKE = {
    "resourceSpans": "resource_spans",
    "scopeSpans": "scope_spans",
    "schemaUrl": "schema_url",
    "traceId": "trace_id",
    "spanId": "span_id",
    "parentSpanId": "parent_span_id",
    "traceState": "trace_state",
    "startTimeUnixNano": "start_time_unix_nano",
    "endTimeUnixNano": "end_time_unix_nano",
    "timeUnixNano": "time_unix_nano",
    "stringValue": "string_value",
    "intValue": "int_value",
    "doubleValue": "double_value",
    "boolValue": "bool_value",
    "bytesValue": "bytes_value",
    "arrayValue": "array_value",
    "kvlistValue": "kvlist_value",
}


def to_snake(value: Any) -> Any:
    if isinstance(value, dict):
        return {_SNAKE.get(k, k): to_snake(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_snake(v) for v in value]
    return value


def only_span(doc: dict[str, Any]) -> Span:
    return otlp_json_to_request(doc).resource_spans[0].scope_spans[0].spans[0]


def test_camel_case_document_builds_the_request() -> None:
    request = otlp_json_to_request(camel_doc())
    rs = request.resource_spans[0]
    span = rs.scope_spans[0].spans[0]
    assert rs.schema_url == "https://opentelemetry.io/schemas/1.26.0"
    assert (rs.scope_spans[0].scope.name, rs.scope_spans[0].scope.version) == ("my.library", "1.0.0")
    assert (span.trace_id.hex(), span.span_id.hex(), span.parent_span_id.hex()) == (
        TRACE_HEX,
        SPAN_HEX,
        PARENT_HEX,
    )
    assert (span.trace_state, span.flags, span.name, span.kind) == (
        "k=v",
        257,
        "chat gpt-4o",
        Span.SPAN_KIND_CLIENT,
    )
    assert (span.start_time_unix_nano, span.end_time_unix_nano) == (1544712660000000000, 1544712661000000000)
    assert (span.status.code, span.status.message) == (Status.STATUS_CODE_ERROR, "boom")
    assert span.events[0].time_unix_nano == 1544712660500000000
    assert span.links[0].span_id.hex() == PARENT_HEX


def test_snake_case_document_builds_the_same_request() -> None:
    assert otlp_json_to_request(to_snake(camel_doc())) == otlp_json_to_request(camel_doc())


def test_matches_protobuf_json_format_on_the_same_document() -> None:
    doc = camel_doc()
    reference_doc = copy.deepcopy(doc)
    span = reference_doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    # json_format expects base64 ids (proto3 JSON), OTLP/JSON sends hex.
    import base64

    for key in ("traceId", "spanId", "parentSpanId"):
        span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    for link in span["links"]:
        for key in ("traceId", "spanId"):
            link[key] = base64.b64encode(bytes.fromhex(link[key])).decode()
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    reference = json_format.ParseDict(reference_doc, ExportTraceServiceRequest())
    assert otlp_json_to_request(doc) == reference


def test_attribute_values_map_to_natural_json() -> None:
    record = map_export_request(otlp_json_to_request(camel_doc()), "p").records[0]
    assert json.loads(record.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.output_tokens": 20,
        "temperature": 0.5,
        "stream": False,
        "raw": "AAE=",
        "list": ["a", 2],
        "map": {"k": True},
        "empty": None,
    }
    assert (record.service_name, record.span_type, record.total_tokens) == ("my.service", "LLM", 120)


def test_enum_names_are_accepted() -> None:
    doc = camel_doc()
    span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["kind"] = "SPAN_KIND_SERVER"
    span["status"] = {"code": "STATUS_CODE_OK"}
    built = only_span(doc)
    assert (built.kind, built.status.code) == (Span.SPAN_KIND_SERVER, Status.STATUS_CODE_OK)


def test_upper_case_hex_ids_are_accepted() -> None:
    doc = camel_doc()
    doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"] = TRACE_HEX.upper()
    assert only_span(doc).trace_id.hex() == TRACE_HEX


def test_unknown_fields_are_ignored() -> None:
    doc = camel_doc()
    doc["somethingNew"] = 1
    doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["futureField"] = {"x": 1}
    assert only_span(doc).name == "chat gpt-4o"


def test_empty_document_is_an_empty_request() -> None:
    assert len(otlp_json_to_request({}).resource_spans) == 0


def test_wrong_id_length_reaches_the_mapper_for_partial_rejection() -> None:
    doc = camel_doc()
    spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    bad = copy.deepcopy(spans[0])
    bad["traceId"] = "abcd"
    spans.append(bad)
    mapped = map_export_request(otlp_json_to_request(doc), "p")
    assert (len(mapped.records), mapped.rejected) == (1, 1)
    assert mapped.errors == ["span 1 of scope 'my.library': trace_id must be 16 bytes, got 2"]


def test_orjson_parsed_body_round_trip() -> None:
    body = orjson.dumps(camel_doc())
    assert only_span(orjson.loads(body)).name == "chat gpt-4o"


def test_real_exporter_json_shape() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "svc"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("t").start_as_current_span("op") as sdk_span:
        sdk_span.set_attribute("gen_ai.operation.name", "chat")
    provider.shutdown()
    proto = encode_spans(exporter.get_finished_spans())
    doc = json_format.MessageToDict(proto)
    span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    import base64

    for key in ("traceId", "spanId"):
        span[key] = base64.b64decode(span[key]).hex()
    assert otlp_json_to_request(doc) == proto


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d["resourceSpans"][0]["scopeSpans"][0]["spans"][0].update(traceId="xyz"),
            "resourceSpans[0].scopeSpans[0].spans[0].traceId: 'xyz' is not hex",
        ),
        (
            lambda d: d["resourceSpans"][0]["scopeSpans"][0]["spans"][0].update(spanId=12),
            "resourceSpans[0].scopeSpans[0].spans[0].spanId: expected a hex string, got int",
        ),
        (
            lambda d: d["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["links"][0].update(spanId="zz"),
            "resourceSpans[0].scopeSpans[0].spans[0].links[0].spanId: 'zz' is not hex",
        ),
        (
            lambda d: d.update(resourceSpans={"a": 1}),
            "resourceSpans: expected a list, got dict",
        ),
        (
            lambda d: d["resourceSpans"][0].update(scopeSpans="nope"),
            "resourceSpans[0].scopeSpans: expected a list, got str",
        ),
        (
            lambda d: d["resourceSpans"][0]["scopeSpans"][0]["spans"].append(7),
            "resourceSpans[0].scopeSpans[0].spans[1]: expected an object, got int",
        ),
        (
            lambda d: d["resourceSpans"][0]["scopeSpans"][0]["spans"][0].update(startTimeUnixNano="soon"),
            "resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano: 'soon' is not an integer",
        ),
        (
            lambda d: d["resourceSpans"][0]["scopeSpans"][0]["spans"][0].update(kind="SPAN_KIND_NOPE"),
            "resourceSpans[0].scopeSpans[0].spans[0].kind: 'SPAN_KIND_NOPE' is not a valid enum value",
        ),
        (
            lambda d: d["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"][2].update(
                value={"intValue": "ten"}
            ),
            "resourceSpans[0].scopeSpans[0].spans[0].attributes[2].value.intValue: 'ten' is not an integer",
        ),
        (
            lambda d: d["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"][0].update(key=5),
            "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].key: expected a string, got int",
        ),
        (
            lambda d: d["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"][6].update(
                value={"bytesValue": "!!"}
            ),
            "resourceSpans[0].scopeSpans[0].spans[0].attributes[6].value.bytesValue: '!!' is not base64",
        ),
        (
            lambda d: d["resourceSpans"][0]["resource"].update(attributes=[["service.name", "x"]]),
            "resourceSpans[0].resource.attributes[0]: expected an object, got list",
        ),
    ],
)
def test_invalid_documents_name_the_path(mutate: Any, message: str) -> None:
    doc = camel_doc()
    mutate(doc)
    with pytest.raises(InvalidPayload) as raised:
        otlp_json_to_request(doc)
    assert str(raised.value).startswith(message)


def test_non_object_body_is_invalid() -> None:
    with pytest.raises(InvalidPayload, match=r"^body: expected a JSON object, got list$"):
        otlp_json_to_request([])  # type: ignore[arg-type]


SPAN_PATH = "resourceSpans[0].scopeSpans[0].spans[0]"


def _span0(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]  # type: ignore[no-any-return]


def _nested_array(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"stringValue": "leaf"}
    for _ in range(depth):
        value = {"arrayValue": {"values": [value]}}
    return value


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("startTimeUnixNano", 1e300, "1e+300 does not fit in an unsigned 64-bit integer"),
        ("startTimeUnixNano", 2**64, "18446744073709551616 does not fit in an unsigned 64-bit integer"),
        ("startTimeUnixNano", "18446744073709551616", "does not fit in an unsigned 64-bit integer"),
        ("endTimeUnixNano", -1, "-1 must not be negative"),
        ("endTimeUnixNano", "-5", "'-5' must not be negative"),
        ("startTimeUnixNano", 1.5, "1.5 is not an integer"),
        ("startTimeUnixNano", True, "True is not an integer"),
        ("startTimeUnixNano", "1_000", "'1_000' is not an integer"),
        ("startTimeUnixNano", " 12", "' 12' is not an integer"),
        ("startTimeUnixNano", "1" * 5000, "is not an integer"),
        ("startTimeUnixNano", {"n": 1}, "{'n': 1} is not an integer"),
        ("flags", 2**32, "4294967296 does not fit in an unsigned 32-bit integer"),
        ("droppedAttributesCount", -3, "-3 must not be negative"),
        ("kind", 6, "6 is not a valid enum value (expected one of [0, 1, 2, 3, 4, 5])"),
        ("kind", 2**40, "1099511627776 is not a valid enum value"),
        ("kind", -1, "-1 is not a valid enum value"),
        ("kind", "2", "'2' is not a valid enum value"),
        ("kind", False, "False is not an integer"),
        ("status", {"code": 3}, "3 is not a valid enum value (expected one of [0, 1, 2])"),
        ("traceId", "5b8efff798038103 d269b633813fc60c", "is not hex"),
        ("traceId", "abc", "'abc' is not hex"),
        ("parentSpanId", ["ab"], "expected a hex string, got list"),
    ],
)
def test_numbers_and_ids_a_field_cannot_hold_are_400_naming_the_field(
    field: str, value: Any, message: str
) -> None:
    doc = camel_doc()
    _span0(doc)[field] = value
    with pytest.raises(InvalidPayload) as raised:
        otlp_json_to_request(doc)
    assert str(raised.value).startswith(f"{SPAN_PATH}.{field}")
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"intValue": 2**63}, "intValue: 9223372036854775808 does not fit in a signed 64-bit integer"),
        ({"intValue": "-9223372036854775809"}, "does not fit in a signed 64-bit integer"),
        ({"intValue": 1e300}, "intValue: 1e+300 does not fit in a signed 64-bit integer"),
        ({"intValue": 2.5}, "intValue: 2.5 is not an integer"),
        ({"doubleValue": True}, "doubleValue: True is not a number"),
        ({"doubleValue": "1_0"}, "doubleValue: '1_0' is not a number"),
        ({"doubleValue": [1]}, "doubleValue: [1] is not a number"),
        ({"boolValue": 1}, "boolValue: 1 is not a boolean"),
        ({"arrayValue": []}, "arrayValue: expected an object, got list"),
        ({"kvlistValue": {"values": [{"key": 1}]}}, "kvlistValue.values[0].key: expected a string, got int"),
        (_nested_array(65), "values nested more than 64 levels deep"),
    ],
)
def test_attribute_values_a_field_cannot_hold_are_400_naming_the_path(value: Any, message: str) -> None:
    doc = camel_doc()
    _span0(doc)["attributes"] = [{"key": "k", "value": value}]
    with pytest.raises(InvalidPayload) as raised:
        otlp_json_to_request(doc)
    assert str(raised.value).startswith(f"{SPAN_PATH}.attributes[0].value")
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"intValue": 2**63 - 1}, 2**63 - 1),
        ({"intValue": "-9223372036854775808"}, -(2**63)),
        ({"intValue": 1e3}, 1000),
        ({"doubleValue": "Infinity"}, float("inf")),
        ({"doubleValue": "-2.5e3"}, -2500.0),
        ({"doubleValue": 7}, 7.0),
    ],
)
def test_every_proto3_json_form_of_a_number_in_range_is_accepted(value: Any, expected: Any) -> None:
    doc = camel_doc()
    _span0(doc)["attributes"] = [{"key": "k", "value": value}]
    attribute = otlp_json_to_request(doc).resource_spans[0].scope_spans[0].spans[0].attributes[0]
    assert getattr(attribute.value, attribute.value.WhichOneof("value")) == expected


def test_the_largest_unsigned_values_are_accepted() -> None:
    doc = camel_doc()
    _span0(doc).update(startTimeUnixNano="18446744073709551615", flags=2**32 - 1, kind=5.0)
    span = otlp_json_to_request(doc).resource_spans[0].scope_spans[0].spans[0]
    assert (span.start_time_unix_nano, span.flags, span.kind) == (2**64 - 1, 2**32 - 1, 5)


def test_values_nested_64_levels_deep_are_accepted() -> None:
    doc = camel_doc()
    _span0(doc)["attributes"] = [{"key": "k", "value": _nested_array(64)}]
    assert otlp_json_to_request(doc).resource_spans[0].scope_spans[0].spans[0].attributes[0].key == "k"
