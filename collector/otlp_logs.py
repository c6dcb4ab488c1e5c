"""OTLP logs: OTLP/JSON → `ExportLogsServiceRequest`, and the request → `LogRow`s of one project.

Log records are stored whole (body, attributes, resource as JSON); the GenAI message events among
them (`gen_ai.user.message`, `gen_ai.choice`, `gen_ai.client.inference.operation.details`, …) are
joined to their spans when a trace is read (`prela.query.content`), so the order in which logs and
spans arrive does not matter. The work per record is what the trace path does per span: one walk of
the attributes into a dict, one JSON dump. A record with malformed ids is rejected alone (partial
success, `rejected_log_records`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import SeverityNumber

from prela.collector import conventions as cv
from prela.collector.errors import InvalidPayload
from prela.collector.mapping import MAX_ERRORS, any_value, attributes_dict
from prela.collector.otlp_json import (
    _enum,
    _fill_any,
    _fill_attributes,
    _get,
    _hex_id,
    _list,
    _object,
    _str,
    _uint,
)
from prela.model.signals import LogRow
from prela.model.timestamps import MAX_TIME_NS

EVENT_NAME_ATTRIBUTE = "event.name"  # where senders before OTLP 1.5 put the event name
_SEVERITY_NAMES: dict[str, int] = dict(SeverityNumber.items())
_ZERO_TRACE_ID = bytes(16)
_ZERO_SPAN_ID = bytes(8)


@dataclass(slots=True)
class MappedLogs:
    """The log records of one export request that were accepted, and why the others were not."""

    rows: list[LogRow]
    rejected: int = 0
    errors: list[str] = field(default_factory=list)


def count_log_records(request: ExportLogsServiceRequest) -> int:
    return sum(len(scope.log_records) for resource in request.resource_logs for scope in resource.scope_logs)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _problem(record: Any) -> str | None:
    trace_id, span_id = record.trace_id, record.span_id
    if trace_id and len(trace_id) != 16:
        return f"trace_id must be empty or 16 bytes, got {len(trace_id)}"
    if span_id and len(span_id) != 8:
        return f"span_id must be empty or 8 bytes, got {len(span_id)}"
    if span_id and not trace_id:
        return "span_id without a trace_id"
    if record.time_unix_nano > MAX_TIME_NS or record.observed_time_unix_nano > MAX_TIME_NS:
        return "time beyond 2262-04-11 (the largest nanosecond timestamp stored)"
    return None


def map_logs_request(request: ExportLogsServiceRequest, project_id: str) -> MappedLogs:
    """Every log record of an OTLP logs export request as a `LogRow` of `project_id`."""
    rows: list[LogRow] = []
    rejected = 0
    errors: list[str] = []
    seq = 0
    for resource_logs in request.resource_logs:
        resource_attrs = attributes_dict(resource_logs.resource.attributes)
        service = resource_attrs.get(cv.SERVICE_NAME)
        service_name = service if service.__class__ is str and service else cv.DEFAULT_SERVICE_NAME
        resource_json = _json(resource_attrs)
        for scope_logs in resource_logs.scope_logs:
            scope_name = scope_logs.scope.name
            scope_version = scope_logs.scope.version
            for index, record in enumerate(scope_logs.log_records):
                seq += 1
                problem = _problem(record)
                if problem is not None:
                    rejected += 1
                    message = f"log record {index} of scope '{scope_name}': {problem}"
                    if len(errors) < MAX_ERRORS and message not in errors:
                        errors.append(message)
                    continue
                trace_id = record.trace_id
                span_id = record.span_id
                attrs = attributes_dict(record.attributes) if len(record.attributes) else {}
                event_name = record.event_name
                if not event_name:
                    named = attrs.get(EVENT_NAME_ATTRIBUTE)
                    event_name = named if named.__class__ is str else ""
                observed = record.observed_time_unix_nano
                rows.append(
                    LogRow(
                        project_id,
                        "" if trace_id == _ZERO_TRACE_ID else trace_id.hex(),
                        "" if span_id == _ZERO_SPAN_ID else span_id.hex(),
                        record.time_unix_nano or observed,
                        observed,
                        seq,
                        record.severity_number,
                        record.severity_text,
                        event_name,
                        _json(any_value(record.body)) if record.HasField("body") else "null",
                        _json(attrs) if attrs else "{}",
                        resource_json,
                        service_name,
                        scope_name,
                        scope_version,
                        record.flags,
                    )
                )
    return MappedLogs(rows, rejected, errors)


# --- OTLP/JSON ----------------------------------------------------------------------------------


def _fill_log_record(record: Any, obj: dict[str, Any], path: str) -> None:
    record.time_unix_nano = _uint(_get(obj, "timeUnixNano", "time_unix_nano"), f"{path}.timeUnixNano")
    record.observed_time_unix_nano = _uint(
        _get(obj, "observedTimeUnixNano", "observed_time_unix_nano"), f"{path}.observedTimeUnixNano"
    )
    record.severity_number = _enum(
        _get(obj, "severityNumber", "severity_number"), _SEVERITY_NAMES, f"{path}.severityNumber"
    )
    record.severity_text = _str(_get(obj, "severityText", "severity_text"), f"{path}.severityText")
    record.event_name = _str(_get(obj, "eventName", "event_name"), f"{path}.eventName")
    body = obj.get("body")
    if body is not None:
        _fill_any(record.body, body, f"{path}.body")
    _fill_attributes(record.attributes, obj, path)
    dropped = _get(obj, "droppedAttributesCount", "dropped_attributes_count")
    if dropped:
        record.dropped_attributes_count = _uint(dropped, f"{path}.droppedAttributesCount", 32)
    flags = obj.get("flags")
    if flags is not None:
        record.flags = _uint(flags, f"{path}.flags", 32)
    record.trace_id = _hex_id(_get(obj, "traceId", "trace_id"), f"{path}.traceId")
    record.span_id = _hex_id(_get(obj, "spanId", "span_id"), f"{path}.spanId")


def otlp_json_to_logs_request(doc: Any) -> ExportLogsServiceRequest:
    """Build the protobuf request from an OTLP/JSON logs document; InvalidPayload names the bad field."""
    if doc.__class__ is not dict:
        raise InvalidPayload(f"body: expected a JSON object, got {type(doc).__name__}")
    request = ExportLogsServiceRequest()
    for r, rl_obj in enumerate(_list(_get(doc, "resourceLogs", "resource_logs"), "resourceLogs")):
        rl_path = f"resourceLogs[{r}]"
        rl_obj = _object(rl_obj, rl_path)
        resource_logs = request.resource_logs.add()
        resource_obj = rl_obj.get("resource")
        if resource_obj is not None:
            resource_obj = _object(resource_obj, f"{rl_path}.resource")
            resource_logs.resource.SetInParent()
            _fill_attributes(resource_logs.resource.attributes, resource_obj, f"{rl_path}.resource")
        schema_url = _get(rl_obj, "schemaUrl", "schema_url")
        if schema_url:
            resource_logs.schema_url = _str(schema_url, f"{rl_path}.schemaUrl")
        for s, sl_obj in enumerate(_list(_get(rl_obj, "scopeLogs", "scope_logs"), f"{rl_path}.scopeLogs")):
            sl_path = f"{rl_path}.scopeLogs[{s}]"
            sl_obj = _object(sl_obj, sl_path)
            scope_logs = resource_logs.scope_logs.add()
            scope_obj = sl_obj.get("scope")
            if scope_obj is not None:
                scope_obj = _object(scope_obj, f"{sl_path}.scope")
                scope_logs.scope.SetInParent()
                scope_logs.scope.name = _str(scope_obj.get("name"), f"{sl_path}.scope.name")
                scope_logs.scope.version = _str(scope_obj.get("version"), f"{sl_path}.scope.version")
                _fill_attributes(scope_logs.scope.attributes, scope_obj, f"{sl_path}.scope")
            records = _list(_get(sl_obj, "logRecords", "log_records"), f"{sl_path}.logRecords")
            for i, record_obj in enumerate(records):
                record_path = f"{sl_path}.logRecords[{i}]"
                _fill_log_record(scope_logs.log_records.add(), _object(record_obj, record_path), record_path)
    return request
