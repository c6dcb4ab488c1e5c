"""The seed's "Prela JSON" trace payload → `SpanRecord`s.

Shape (from the seed's deployment guide)::

    {"trace_id": "test-production-123", "service_name": "...", "started_at": "2025-01-27T10:00:00Z",
     "completed_at": "...", "duration_ms": 1500, "status": "SUCCESS",
     "spans": [{"span_id": "span-1", "trace_id": "test-production-123", "name": "...",
                "span_type": "LLM", "started_at": "...", "ended_at": "...", "duration_ms": 1500,
                "status": "SUCCESS", "attributes": {"model": "gpt-4"}, "events": []}]}

Ids are kept as given (any printable string of 1..128 characters). The LLM fields come from the
same `lift_llm_fields` as OTLP, which here also accepts the seed's plain keys (`model`, ...);
the same fields given as top-level span keys win.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from prela.collector import conventions as cv
from prela.collector.errors import InvalidPayload
from prela.collector.mapping import MAX_COUNT, SPAN_KINDS, context_fields, lift_llm_fields
from prela.collector.pricing import cost_usd
from prela.model.span import COST_DECIMALS, MAX_COST_USD, SPAN_TYPES, SpanRecord
from prela.model.timestamps import MAX_TIME_NS, parse_timestamp

_MAX_ID_LENGTH = 128
_HEX = re.compile(r"[0-9a-fA-F]+")
_STATUSES = {"SUCCESS": "SUCCESS", "OK": "SUCCESS", "UNSET": "SUCCESS", "ERROR": "ERROR"}
_KINDS = frozenset(SPAN_KINDS)
_INT_FIELDS = ("input_tokens", "output_tokens", "total_tokens")
_TEXT_FIELDS = ("model", "provider", "input", "output")


# The seed's trace fields; an OTLP ExportTraceServiceRequest has none of them (only resourceSpans).
_TRACE_FIELDS = frozenset(
    ("trace_id", "service_name", "started_at", "completed_at", "duration_ms", "status", "spans")
)


def is_prela_trace(doc: object) -> bool:
    """True for the seed's payload: a JSON object with any of its trace fields and no resourceSpans.

    So `{"trace_id": "x"}` is a Prela trace without spans (refused), not an empty OTLP request,
    while `{}` stays an empty OTLP request (accepted, as the OTLP spec asks).
    """
    return (
        isinstance(doc, dict)
        and "resourceSpans" not in doc
        and "resource_spans" not in doc
        and not _TRACE_FIELDS.isdisjoint(doc)
    )


def _id(value: Any, path: str, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not (1 <= len(value) <= _MAX_ID_LENGTH) or not value.isprintable():
        raise InvalidPayload(
            f"{path}: {value!r} is not an id (a printable string of 1..{_MAX_ID_LENGTH} characters)"
        )
    return value


def _trace_id(value: Any, path: str) -> str:
    """A trace id; one shaped like an OTLP trace id (32 hex digits) is kept in lower case, as OTLP
    ids are stored and as the query API looks them up."""
    text = _id(value, path)
    return text.lower() if len(text) == 32 and _HEX.fullmatch(text) else text


def _string(value: Any, path: str, default: str = "") -> str:
    if value is None:
        return default
    if not isinstance(value, str):
        raise InvalidPayload(f"{path}: {value!r} is not a string")
    return value


def timestamp_ns(value: Any, path: str) -> int:
    """ISO-8601 (with `Z` or an offset; naive means UTC) or an epoch number → ns since the epoch,
    within what the store holds (`prela.model.timestamps`: the one parser and its bounds)."""
    try:
        return parse_timestamp(value)
    except ValueError as exc:
        raise InvalidPayload(f"{path}: {exc}") from None


def _duration_ns(value: Any, path: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value * 1_000_000 < 2**63:
        raise InvalidPayload(f"{path}: {value!r} is not a non-negative number of milliseconds")
    return round(value * 1_000_000)


def _status(value: Any, path: str) -> str:
    if value is None:
        return "SUCCESS"
    found = _STATUSES.get(value.upper()) if isinstance(value, str) else None
    if found is None:
        raise InvalidPayload(f"{path}: {value!r} is not a status (expected SUCCESS or ERROR)")
    return found


def _span_type(value: Any, path: str) -> str | None:
    if value is None:
        return None
    upper = value.upper() if isinstance(value, str) else None
    if upper == "RETRIEVER":
        upper = "RETRIEVAL"
    if upper not in SPAN_TYPES:
        raise InvalidPayload(f"{path}: {value!r} is not a span type (expected one of {sorted(SPAN_TYPES)})")
    return upper


def _kind(value: Any, path: str) -> str:
    if value is None:
        return "INTERNAL"
    upper = value.upper() if isinstance(value, str) else ""
    upper = upper.removeprefix("SPAN_KIND_")
    if upper not in _KINDS:
        raise InvalidPayload(f"{path}: {value!r} is not a span kind (expected one of {sorted(_KINDS)})")
    return upper


def _events(value: Any, path: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidPayload(f"{path}: expected a list, got {type(value).__name__}")
    events = []
    for i, event in enumerate(value):
        event_path = f"{path}[{i}]"
        if not isinstance(event, dict):
            raise InvalidPayload(f"{event_path}: expected an object, got {type(event).__name__}")
        when = event.get("time_unix_nano", event.get("timestamp", event.get("time")))
        attributes = event.get("attributes", {})
        if not isinstance(attributes, dict):
            raise InvalidPayload(
                f"{event_path}.attributes: expected an object, got {type(attributes).__name__}"
            )
        events.append(
            {
                "name": _string(event.get("name"), f"{event_path}.name"),
                "time_unix_nano": 0 if when is None else timestamp_ns(when, f"{event_path}.timestamp"),
                "attributes": attributes,
            }
        )
    return events


def _links(value: Any, path: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidPayload(f"{path}: expected a list, got {type(value).__name__}")
    links = []
    for i, link in enumerate(value):
        link_path = f"{path}[{i}]"
        if not isinstance(link, dict):
            raise InvalidPayload(f"{link_path}: expected an object, got {type(link).__name__}")
        attributes = link.get("attributes", {})
        if not isinstance(attributes, dict):
            raise InvalidPayload(
                f"{link_path}.attributes: expected an object, got {type(attributes).__name__}"
            )
        links.append(
            {
                "trace_id": _id(link.get("trace_id"), f"{link_path}.trace_id"),
                "span_id": _id(link.get("span_id"), f"{link_path}.span_id"),
                "trace_state": _string(link.get("trace_state"), f"{link_path}.trace_state"),
                "attributes": attributes,
            }
        )
    return links


def _json_text(value: Any, path: str) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError as exc:  # nested deeper than orjson writes (254 levels)
        raise InvalidPayload(f"{path}: {exc}") from None


def _top_level_int(span: dict[str, Any], key: str, path: str) -> int | None:
    value = span.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise InvalidPayload(f"{path}.{key}: {value!r} is not a non-negative 64-bit integer")
    return value


def _map_span(
    span: Any, path: str, project_id: str, trace_id: str, service_name: str, resource_json: str
) -> SpanRecord:
    if not isinstance(span, dict):
        raise InvalidPayload(f"{path}: expected an object, got {type(span).__name__}")
    span_id = _id(span.get("span_id"), f"{path}.span_id")
    span_trace_id = span.get("trace_id")
    if span_trace_id is not None and _trace_id(span_trace_id, f"{path}.trace_id") != trace_id:
        raise InvalidPayload(f"{path}.trace_id: {span_trace_id!r} differs from the trace's {trace_id!r}")
    name = span.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidPayload(f"{path}.name: {name!r} is not a non-empty string")
    parent_span_id = _id(span.get("parent_span_id"), f"{path}.parent_span_id", required=False)

    started, ended = _span_times(span, path)
    attributes = span.get("attributes")
    if attributes is None:
        attributes = {}
    elif not isinstance(attributes, dict):
        raise InvalidPayload(f"{path}.attributes: expected an object, got {type(attributes).__name__}")
    events = _events(span.get("events"), f"{path}.events")
    links = _links(span.get("links"), f"{path}.links")
    # Serialised before the LLM fields are lifted: what orjson cannot write is refused here, by name.
    attributes_json = _json_text(attributes, f"{path}.attributes") if attributes else "{}"
    events_json = _json_text(events, f"{path}.events") if events else "[]"
    links_json = _json_text(links, f"{path}.links") if links else "[]"

    llm = dict(zip(_LIFTED, lift_llm_fields(attributes, events, plain_keys=True), strict=True))
    lifted_type = llm.pop("span_type")
    span_type = _span_type(span.get("span_type"), f"{path}.span_type") or lifted_type
    _apply_top_level_llm_fields(span, path, llm)

    return SpanRecord(
        project_id=project_id,
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent_span_id,
        trace_state="",
        name=name,
        span_type=span_type,
        kind=_kind(span.get("kind"), f"{path}.kind"),
        service_name=_string(span.get("service_name"), f"{path}.service_name", service_name) or service_name,
        scope_name="",
        scope_version="",
        started_at_ns=started,
        ended_at_ns=ended,
        duration_ns=ended - started,
        status=_status(span.get("status"), f"{path}.status"),
        status_message=_string(span.get("status_message"), f"{path}.status_message"),
        attributes=attributes_json,
        resource_attributes=resource_json,
        scope_attributes="{}",
        events=events_json,
        links=links_json,
        **llm,
        **dict(zip(("session_id", "user_id", "environment"), context_fields(attributes), strict=True)),
    )


# The names of `lift_llm_fields`' answer, as SpanRecord fields.
_LIFTED = (
    "span_type", "provider", "model", "request_model", "input_tokens", "output_tokens", "total_tokens",
    "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "cost_usd", "input", "output",
)  # fmt: skip


def _span_times(span: dict[str, Any], path: str) -> tuple[int, int]:
    """(started, ended) in ns: `ended_at`, else `started_at` + `duration_ms`; both within the store's range."""
    if "started_at" not in span:
        raise InvalidPayload(f"{path}.started_at: missing")
    started = timestamp_ns(span["started_at"], f"{path}.started_at")
    duration = _duration_ns(span.get("duration_ms"), f"{path}.duration_ms")
    ended_value = span.get("ended_at")
    if ended_value is not None:
        ended = timestamp_ns(ended_value, f"{path}.ended_at")
    else:
        ended = started + (duration or 0)
        if ended > MAX_TIME_NS:
            raise InvalidPayload(
                f"{path}.duration_ms: {span.get('duration_ms')!r} ends the span after "
                "2262-04-11T23:47:16.854775807Z, the last time stored"
            )
    if ended < started:
        raise InvalidPayload(f"{path}.ended_at: {ended_value!r} is before started_at {span['started_at']!r}")
    return started, ended


def _apply_top_level_llm_fields(span: dict[str, Any], path: str, llm: dict[str, Any]) -> None:
    """The LLM fields given as top-level span keys (`model`, `input_tokens`, `cost_usd`, ...) win over
    what the attributes said; cost is priced again when the model or the counts came from them."""
    overridden = False
    for key in _TEXT_FIELDS:
        value = span.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            if key not in ("input", "output"):
                raise InvalidPayload(f"{path}.{key}: {value!r} is not a string")
            value = _json_text(value, f"{path}.{key}")
        llm[key] = value.lower() if key == "provider" else value
        overridden = True
    counts = dict(zip(_INT_FIELDS, (_top_level_int(span, key, path) for key in _INT_FIELDS), strict=True))
    given = {k: v for k, v in counts.items() if v is not None}
    llm.update(given)
    if "total_tokens" not in given and ("input_tokens" in given or "output_tokens" in given):
        llm["total_tokens"] = llm["input_tokens"] + llm["output_tokens"]
    explicit_cost = span.get("cost_usd")
    if explicit_cost is not None:
        if (
            isinstance(explicit_cost, bool)
            or not isinstance(explicit_cost, int | float)
            or not 0 <= explicit_cost < MAX_COST_USD
        ):
            raise InvalidPayload(
                f"{path}.cost_usd: {explicit_cost!r} is not a number from 0 to {MAX_COST_USD:.0f} (USD)"
            )
        llm["cost_usd"] = round(float(explicit_cost), COST_DECIMALS)
    elif (overridden or given) and llm["model"] and (llm["input_tokens"] or llm["output_tokens"]):
        llm["cost_usd"] = cost_usd(
            llm["model"],
            llm["input_tokens"],
            llm["output_tokens"],
            llm["cache_read_tokens"],
            llm["cache_write_tokens"],
        )


def map_prela_trace(doc: dict[str, Any], project_id: str) -> tuple[str, list[SpanRecord]]:
    """Validate a Prela JSON trace and map its spans; InvalidPayload names the field and value."""
    if not isinstance(doc, dict):
        raise InvalidPayload(f"body: expected a JSON object, got {type(doc).__name__}")
    trace_id = _trace_id(doc.get("trace_id"), "trace_id")
    service_name = _string(doc.get("service_name"), "service_name") or cv.DEFAULT_SERVICE_NAME
    for key in ("started_at", "completed_at"):
        if doc.get(key) is not None:
            timestamp_ns(doc[key], key)
    _duration_ns(doc.get("duration_ms"), "duration_ms")
    _status(doc.get("status"), "status")
    spans = doc.get("spans")
    if spans is None:
        raise InvalidPayload("spans: missing (a Prela trace carries a non-empty list of spans)")
    if not isinstance(spans, list):
        raise InvalidPayload(f"spans: expected a list, got {type(spans).__name__}")
    if not spans:
        raise InvalidPayload("spans: must not be empty")
    resource_json = orjson.dumps({cv.SERVICE_NAME: service_name}).decode()
    records = [
        _map_span(span, f"spans[{i}]", project_id, trace_id, service_name, resource_json)
        for i, span in enumerate(spans)
    ]
    return trace_id, records
