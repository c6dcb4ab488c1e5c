"""OTLP/JSON (a dict already parsed by orjson) → `ExportTraceServiceRequest`.

Follows the OTLP/HTTP JSON encoding: trace/span ids are hex strings (not base64), keys are
lowerCamelCase (the original proto field names are accepted too), enums are integers (their
names are taken too, leniently: the spec has senders write integers), 64-bit integers are
strings or numbers, and unknown fields are ignored. A direct builder, not
`json_format.ParseDict`: it is several times faster and its errors name the field path.

Every number is checked against its field's type (uint32, fixed64, int64, double, the enum's
values) and AnyValues nest at most MAX_ANY_DEPTH deep, so that no value reaches a protobuf setter
or the stored JSON that would raise there: a bad value is a 400 naming its path.

Ids are only checked to be hex here; their lengths are checked per span by `mapping`, so one bad
span is rejected alone (partial success) instead of failing the whole request.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from prela.collector.errors import InvalidPayload

_SPAN_KIND_NAMES: dict[str, int] = dict(Span.SpanKind.items())
_STATUS_CODE_NAMES: dict[str, int] = dict(Status.StatusCode.items())
_FLOAT_WORDS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_INTEGER_TEXT = re.compile(r"-?[0-9]+")
_DOUBLE_TEXT = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# AnyValue arrays / kvlists nested deeper than this are refused: the protobuf decoder stops at 100
# messages (~47 AnyValue levels), and orjson writes at most 254 levels of the stored JSON.
MAX_ANY_DEPTH = 64


def _get(obj: dict[str, Any], camel: str, snake: str) -> Any:
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def _list(value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if value.__class__ is not list:
        raise InvalidPayload(f"{path}: expected a list, got {type(value).__name__}")
    return value  # type: ignore[no-any-return]


def _object(value: Any, path: str) -> dict[str, Any]:
    if value.__class__ is not dict:
        raise InvalidPayload(f"{path}: expected an object, got {type(value).__name__}")
    return value  # type: ignore[no-any-return]


def _str(value: Any, path: str) -> str:
    if value is None:
        return ""
    if value.__class__ is not str:
        raise InvalidPayload(f"{path}: expected a string, got {type(value).__name__}")
    return value  # type: ignore[no-any-return]


def _integer(value: Any, path: str) -> int:
    """A JSON integer as proto3 JSON writes one: a number or its decimal text (`"123"`, `-5`).

    Floats are taken only when integral (`1e3`, `5.0`); booleans, fractions, `"1_000"`, `" 12"`
    and anything else are refused by name.
    """
    if value.__class__ is int:
        return value  # type: ignore[no-any-return]
    if value.__class__ is str:
        if _INTEGER_TEXT.fullmatch(value):
            try:
                return int(value)
            except ValueError:  # more digits than Python converts (4300)
                pass
    elif value.__class__ is float and value.is_integer():  # NaN and infinities are not integral
        return int(value)
    raise InvalidPayload(f"{path}: {value!r} is not an integer")


def _uint(value: Any, path: str, bits: int = 64) -> int:
    """An unsigned field (uint32, fixed32, fixed64): refused when negative or wider than `bits`."""
    if value is None:
        return 0
    number = _integer(value, path)
    if number < 0:
        raise InvalidPayload(f"{path}: {value!r} must not be negative")
    if number >> bits:
        raise InvalidPayload(f"{path}: {value!r} does not fit in an unsigned {bits}-bit integer")
    return number


def _int(value: Any, path: str) -> int:
    """An int64 field."""
    number = _integer(value, path)
    if not _INT64_MIN <= number <= _INT64_MAX:
        raise InvalidPayload(f"{path}: {value!r} does not fit in a signed 64-bit integer")
    return number


def _double(value: Any, path: str) -> float:
    """A double: a JSON number, or its text (`"1.5"`, `"NaN"`, `"Infinity"`, `"-Infinity"`)."""
    if value.__class__ is float or value.__class__ is int:
        return float(value)
    if value.__class__ is str:
        if value in _FLOAT_WORDS:
            return _FLOAT_WORDS[value]
        if _DOUBLE_TEXT.fullmatch(value):
            return float(value)
    raise InvalidPayload(f"{path}: {value!r} is not a number")


def _hex_id(value: Any, path: str) -> bytes:
    if value is None or value == "":
        return b""
    if value.__class__ is not str:
        raise InvalidPayload(f"{path}: expected a hex string, got {type(value).__name__}")
    if not _HEX.fullmatch(value):
        raise InvalidPayload(f"{path}: {value!r} is not hex")
    return bytes.fromhex(value)


def _enum(value: Any, names: dict[str, int], path: str) -> int:
    """An enum as its integer (OTLP/JSON) or, leniently, its name; values outside the enum are refused."""
    if value is None:
        return 0
    number = names.get(value) if value.__class__ is str else _integer(value, path)
    if number is None or number not in names.values():
        raise InvalidPayload(
            f"{path}: {value!r} is not a valid enum value (expected one of {sorted(names.values())})"
        )
    return number


def _fill_any(target: Any, value: Any, path: str, depth: int = 0) -> None:
    """Fill the AnyValue message `target` from its OTLP/JSON form (`{"stringValue": ...}`)."""
    if value is None:
        return
    value = _object(value, path)
    if depth > MAX_ANY_DEPTH:
        raise InvalidPayload(f"{path}: values nested more than {MAX_ANY_DEPTH} levels deep")
    if not value:
        target.SetInParent()  # present but empty: an empty AnyValue (null), as json_format does
        return
    for key, item in value.items():
        if key in ("stringValue", "string_value"):
            target.string_value = _str(item, f"{path}.stringValue")
        elif key in ("intValue", "int_value"):
            target.int_value = _int(item, f"{path}.intValue")
        elif key in ("boolValue", "bool_value"):
            if item.__class__ is not bool:
                raise InvalidPayload(f"{path}.boolValue: {item!r} is not a boolean")
            target.bool_value = item
        elif key in ("doubleValue", "double_value"):
            target.double_value = _double(item, f"{path}.doubleValue")
        elif key in ("arrayValue", "array_value"):
            array = target.array_value
            array.SetInParent()
            values = _list(_object(item, f"{path}.arrayValue").get("values"), f"{path}.arrayValue.values")
            for i, element in enumerate(values):
                _fill_any(array.values.add(), element, f"{path}.arrayValue.values[{i}]", depth + 1)
        elif key in ("kvlistValue", "kvlist_value"):
            kvlist = target.kvlist_value
            kvlist.SetInParent()
            values = _list(_object(item, f"{path}.kvlistValue").get("values"), f"{path}.kvlistValue.values")
            _fill_key_values(kvlist.values, values, f"{path}.kvlistValue.values", depth + 1)
        elif key in ("bytesValue", "bytes_value"):
            try:
                target.bytes_value = base64.b64decode(_str(item, f"{path}.bytesValue"), validate=True)
            except binascii.Error:
                raise InvalidPayload(f"{path}.bytesValue: {item!r} is not base64") from None
        else:
            continue
        return  # a oneof: the first known member is the value


def _fill_key_values(target: Any, items: list[Any], path: str, depth: int = 0) -> None:
    for i, item in enumerate(items):
        if item.__class__ is not dict:
            raise InvalidPayload(f"{path}[{i}]: expected an object, got {type(item).__name__}")
        kv = target.add()
        key = item.get("key")
        if key.__class__ is not str:
            raise InvalidPayload(f"{path}[{i}].key: expected a string, got {type(key).__name__}")
        kv.key = key
        value = item.get("value")
        if value is None:
            continue
        # Fast path for the common scalar forms; everything else through the general filler.
        if value.__class__ is dict and len(value) == 1:
            string = value.get("stringValue")
            if string.__class__ is str:
                kv.value.string_value = string
                continue
            number = value.get("intValue")
            if number.__class__ is int and _INT64_MIN <= number <= _INT64_MAX:
                kv.value.int_value = number
                continue
        _fill_any(kv.value, value, f"{path}[{i}].value", depth)


def _fill_attributes(target: Any, obj: dict[str, Any], path: str) -> None:
    items = obj.get("attributes")
    if items:
        _fill_key_values(target, _list(items, f"{path}.attributes"), f"{path}.attributes")


def _fill_span(span: Any, obj: dict[str, Any], path: str) -> None:
    span.trace_id = _hex_id(_get(obj, "traceId", "trace_id"), f"{path}.traceId")
    span.span_id = _hex_id(_get(obj, "spanId", "span_id"), f"{path}.spanId")
    parent = _get(obj, "parentSpanId", "parent_span_id")
    if parent:
        span.parent_span_id = _hex_id(parent, f"{path}.parentSpanId")
    trace_state = _get(obj, "traceState", "trace_state")
    if trace_state:
        span.trace_state = _str(trace_state, f"{path}.traceState")
    flags = obj.get("flags")
    if flags is not None:
        span.flags = _uint(flags, f"{path}.flags", 32)
    span.name = _str(obj.get("name"), f"{path}.name")
    kind = obj.get("kind")
    if kind is not None:
        span.kind = _enum(kind, _SPAN_KIND_NAMES, f"{path}.kind")
    span.start_time_unix_nano = _uint(
        _get(obj, "startTimeUnixNano", "start_time_unix_nano"), f"{path}.startTimeUnixNano"
    )
    span.end_time_unix_nano = _uint(
        _get(obj, "endTimeUnixNano", "end_time_unix_nano"), f"{path}.endTimeUnixNano"
    )
    _fill_attributes(span.attributes, obj, path)
    dropped = _get(obj, "droppedAttributesCount", "dropped_attributes_count")
    if dropped:
        span.dropped_attributes_count = _uint(dropped, f"{path}.droppedAttributesCount", 32)

    events = obj.get("events")
    if events:
        for i, event_obj in enumerate(_list(events, f"{path}.events")):
            event_path = f"{path}.events[{i}]"
            event_obj = _object(event_obj, event_path)
            event = span.events.add()
            event.time_unix_nano = _uint(
                _get(event_obj, "timeUnixNano", "time_unix_nano"), f"{event_path}.timeUnixNano"
            )
            event.name = _str(event_obj.get("name"), f"{event_path}.name")
            _fill_attributes(event.attributes, event_obj, event_path)

    links = obj.get("links")
    if links:
        for i, link_obj in enumerate(_list(links, f"{path}.links")):
            link_path = f"{path}.links[{i}]"
            link_obj = _object(link_obj, link_path)
            link = span.links.add()
            link.trace_id = _hex_id(_get(link_obj, "traceId", "trace_id"), f"{link_path}.traceId")
            link.span_id = _hex_id(_get(link_obj, "spanId", "span_id"), f"{link_path}.spanId")
            link.trace_state = _str(_get(link_obj, "traceState", "trace_state"), f"{link_path}.traceState")
            _fill_attributes(link.attributes, link_obj, link_path)
            link_flags = link_obj.get("flags")
            if link_flags is not None:
                link.flags = _uint(link_flags, f"{link_path}.flags", 32)

    status = obj.get("status")
    if status is not None:
        status = _object(status, f"{path}.status")
        span.status.SetInParent()
        span.status.message = _str(status.get("message"), f"{path}.status.message")
        span.status.code = _enum(status.get("code"), _STATUS_CODE_NAMES, f"{path}.status.code")


def otlp_json_to_request(doc: dict[str, Any]) -> ExportTraceServiceRequest:
    """Build the protobuf request from an OTLP/JSON document; InvalidPayload names the bad field."""
    if doc.__class__ is not dict:
        raise InvalidPayload(f"body: expected a JSON object, got {type(doc).__name__}")
    request = ExportTraceServiceRequest()
    resource_spans_list = _list(_get(doc, "resourceSpans", "resource_spans"), "resourceSpans")
    for r, rs_obj in enumerate(resource_spans_list):
        rs_path = f"resourceSpans[{r}]"
        rs_obj = _object(rs_obj, rs_path)
        resource_spans = request.resource_spans.add()
        resource_obj = rs_obj.get("resource")
        if resource_obj is not None:
            resource_obj = _object(resource_obj, f"{rs_path}.resource")
            resource_spans.resource.SetInParent()
            _fill_attributes(resource_spans.resource.attributes, resource_obj, f"{rs_path}.resource")
        schema_url = _get(rs_obj, "schemaUrl", "schema_url")
        if schema_url:
            resource_spans.schema_url = _str(schema_url, f"{rs_path}.schemaUrl")

        for s, ss_obj in enumerate(_list(_get(rs_obj, "scopeSpans", "scope_spans"), f"{rs_path}.scopeSpans")):
            ss_path = f"{rs_path}.scopeSpans[{s}]"
            ss_obj = _object(ss_obj, ss_path)
            scope_spans = resource_spans.scope_spans.add()
            scope_obj = ss_obj.get("scope")
            if scope_obj is not None:
                scope_obj = _object(scope_obj, f"{ss_path}.scope")
                scope = scope_spans.scope
                scope.SetInParent()
                scope.name = _str(scope_obj.get("name"), f"{ss_path}.scope.name")
                scope.version = _str(scope_obj.get("version"), f"{ss_path}.scope.version")
                _fill_attributes(scope.attributes, scope_obj, f"{ss_path}.scope")
            scope_schema = _get(ss_obj, "schemaUrl", "schema_url")
            if scope_schema:
                scope_spans.schema_url = _str(scope_schema, f"{ss_path}.schemaUrl")

            spans = scope_spans.spans
            for i, span_obj in enumerate(_list(ss_obj.get("spans"), f"{ss_path}.spans")):
                if span_obj.__class__ is not dict:
                    raise InvalidPayload(
                        f"{ss_path}.spans[{i}]: expected an object, got {type(span_obj).__name__}"
                    )
                _fill_span(spans.add(), span_obj, f"{ss_path}.spans[{i}]")
    return request
