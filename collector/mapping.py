"""OTLP trace protobuf → Prela `SpanRecord`s: the ingest hot path.

Each span's attributes are walked once into a plain dict; that dict is both what is stored as JSON
and what the convention lookups (`lift_llm_fields`) read. Resource and scope work is done once per
ResourceSpans / ScopeSpans. A span with invalid ids is rejected alone (OTLP partial success).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from itertools import count
from typing import Any

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from prela.collector import conventions as cv
from prela.collector.pricing import cost_usd
from prela.model.span import COST_DECIMALS, MAX_COST_USD, SPAN_TYPES, SpanRecord
from prela.model.timestamps import MAX_TIME_NS

MAX_ERRORS = 5

# Index = OTLP Span.SpanKind enum value.
SPAN_KINDS: tuple[str, ...] = ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
_STATUS_CODE_ERROR = 2
_ZERO_TRACE_ID = bytes(16)
_ZERO_SPAN_ID = bytes(8)

_dumps = orjson.dumps
_loads = orjson.loads


@dataclass(slots=True)
class MappedSpans:
    """The spans of one export request that were accepted, and why the others were not."""

    records: list[SpanRecord]
    rejected: int = 0
    errors: list[str] = field(default_factory=list)


# --- AnyValue → natural JSON value -------------------------------------------------------------


def any_value(value: Any) -> Any:
    """One OTLP AnyValue as a JSON-ready value: arrays → lists, kvlists → dicts, bytes → base64."""
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "int_value":
        return value.int_value
    if which == "double_value":
        return value.double_value
    if which == "bool_value":
        return value.bool_value
    if which == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return None


_SCALAR_FIELDS = frozenset(("string_value", "int_value", "double_value", "bool_value"))


def attributes_dict(key_values: Any) -> dict[str, Any]:
    """Repeated KeyValue → dict (last duplicate wins), scalars inlined for speed."""
    out: dict[str, Any] = {}
    scalars = _SCALAR_FIELDS
    for kv in key_values:
        v = kv.value
        text = v.string_value  # most attributes are strings: one read, no WhichOneof
        if text:
            out[kv.key] = text
            continue
        which = v.WhichOneof("value")
        out[kv.key] = getattr(v, which) if which in scalars else any_value(v)
    return out


def _json(value: Any) -> str:
    # OPT_NON_STR_KEYS is not needed (keys are strings); NaN/Infinity doubles become null.
    return _dumps(value).decode()


# --- convention lookups on a plain attribute dict ---------------------------------------------


def _first(attrs: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = attrs.get(key)
        if value is not None and value != "":
            return value
    return None


MAX_COUNT = 2**63 - 1  # token counts are stored as UInt64; a value outside [0, 2^63) is not a count


def _first_int(attrs: dict[str, Any], keys: tuple[str, ...]) -> int | None:
    """The first key holding a plausible count; negative, huge or non-numeric values are skipped
    (they stay in the attributes, but would make the row impossible to store)."""
    for key in keys:
        value = attrs.get(key)
        if value is not None:
            if value.__class__ is not int:
                if isinstance(value, bool):
                    continue
                try:
                    value = int(float(value))
                except (TypeError, ValueError, OverflowError):
                    continue
            if 0 <= value <= MAX_COUNT:
                return value  # type: ignore[no-any-return]
    return None


def _as_float(value: Any) -> float | None:
    """A plausible amount in USD, else None (NaN, negatives and a million or more are not costs)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return round(number, COST_DECIMALS) if 0.0 <= number < MAX_COST_USD else None


def _text(value: Any) -> str:
    """Content as stored: strings as sent, anything structured as compact JSON."""
    if value.__class__ is str:
        return value  # type: ignore[no-any-return]
    return _json(value)


def span_type_of(attrs: dict[str, Any]) -> str:
    """The Prela span type, by the precedence of DESIGN.md; unknown values fall through."""
    value = attrs.get(cv.PRELA_SPAN_TYPE)
    if value.__class__ is str:
        upper = value.upper()
        if upper in SPAN_TYPES:
            return upper
    value = attrs.get(cv.OPENINFERENCE_SPAN_KIND)
    if value.__class__ is str and (found := cv.OPENINFERENCE_SPAN_KINDS.get(value.lower())):
        return found
    value = attrs.get(cv.GEN_AI_OPERATION_NAME)
    if value.__class__ is str and (found := cv.GEN_AI_OPERATIONS.get(value.lower())):
        return found
    value = attrs.get(cv.TRACELOOP_SPAN_KIND)
    if value.__class__ is str and (found := cv.TRACELOOP_SPAN_KINDS.get(value.lower())):
        return found
    value = attrs.get(cv.LLM_REQUEST_TYPE)
    if value.__class__ is str and (found := cv.LLM_REQUEST_TYPES.get(value.lower())):
        return found
    value = attrs.get(cv.VERCEL_AI_OPERATION_ID)
    if value.__class__ is str and (found := cv.VERCEL_AI_OPERATIONS.get(value.lower())):
        return found
    for key in cv.GEN_AI_MODEL_MARKERS:
        if key in attrs:
            return "LLM"
    return "CUSTOM"


def _invocation_model(attrs: dict[str, Any]) -> str:
    for key in cv.INVOCATION_PARAMETER_KEYS:
        params = attrs.get(key)
        if params is None:
            continue
        if params.__class__ is str:
            try:
                params = _loads(params)
            except orjson.JSONDecodeError:
                continue
        if isinstance(params, dict):
            model = params.get("model") or params.get("model_name")
            if isinstance(model, str) and model:
                return model
    return ""


def _scan_family(attrs: dict[str, Any], prefix: str, strip: str) -> list[dict[str, Any]]:
    """Every `<prefix>N.<member>` attribute, grouped by N in order (tool calls, content parts...)."""
    plen = len(prefix)
    slen = len(strip)
    by_index: dict[int, dict[str, Any]] = {}
    for key, value in attrs.items():
        if not key.startswith(prefix):
            continue
        dot = key.find(".", plen)
        index = key[plen:dot]
        if dot < 0 or not index.isdigit():
            continue
        member = key[dot + 1 :]
        if slen and member.startswith(strip):
            member = member[slen:]
        by_index.setdefault(int(index), {})[member] = value
    return [by_index[i] for i in sorted(by_index)]


def _indexed_messages(attrs: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """The `<prefix>N.role/content` messages, probed index by index from 0.

    Probing costs a few dict lookups per message; only a family with a message lacking `content`
    (tool calls, multimodal parts) is scanned in full to keep every member.
    """
    strip, keys, probes = _FAMILY_KEYS[prefix]
    messages: list[dict[str, Any]] = []
    for i in count():
        if i < len(keys):
            role_key, content_key = keys[i]
        else:
            role_key, content_key = f"{prefix}{i}.{strip}role", f"{prefix}{i}.{strip}content"
        role = attrs.get(role_key)
        content = attrs.get(content_key)
        if content is None:
            if role is None and (i or attrs.keys().isdisjoint(probes)):
                break
            return _scan_family(attrs, prefix, strip)
        messages.append({"content": content} if role is None else {"role": role, "content": content})
    return messages


_INDEXED_FAMILIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    cv.OPENLLMETRY_PROMPTS,
    cv.OPENLLMETRY_COMPLETIONS,
    cv.OPENINFERENCE_INPUT_MESSAGES,
    cv.OPENINFERENCE_OUTPUT_MESSAGES,
)
# Precomputed (role key, content key) per index, so probing builds no strings.
_FAMILY_KEYS: dict[str, tuple[str, tuple[tuple[str, str], ...], frozenset[str]]] = {
    prefix: (
        strip,
        tuple((f"{prefix}{i}.{strip}role", f"{prefix}{i}.{strip}content") for i in range(64)),
        frozenset(probes),
    )
    for prefix, strip, probes in _INDEXED_FAMILIES
}
_INDEXED_PROBES: frozenset[str] = frozenset(
    cv.OPENLLMETRY_PROMPTS[2]
    + cv.OPENLLMETRY_COMPLETIONS[2]
    + cv.OPENINFERENCE_INPUT_MESSAGES[2]
    + cv.OPENINFERENCE_OUTPUT_MESSAGES[2]
)
# Message families in precedence order, per direction.
_INPUT_FAMILIES = (cv.OPENLLMETRY_PROMPTS[0], cv.OPENINFERENCE_INPUT_MESSAGES[0])
_OUTPUT_FAMILIES = (cv.OPENLLMETRY_COMPLETIONS[0], cv.OPENINFERENCE_OUTPUT_MESSAGES[0])


def _maybe_json(value: Any) -> Any:
    if value.__class__ is str:
        try:
            return _loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _gen_ai_input(attrs: dict[str, Any]) -> str | None:
    messages = _first(attrs, cv.INPUT_MESSAGES_KEYS)  # gen_ai.input.messages, then pydantic-ai's agent run
    instructions = attrs.get(cv.GEN_AI_SYSTEM_INSTRUCTIONS)
    if instructions is None:
        return None if messages is None else _text(messages)
    # System instructions become a leading {"role": "system"} message, so input is one message list.
    parts = _maybe_json(instructions)
    if not isinstance(parts, list):
        parts = [{"type": "text", "content": parts}]
    combined: list[Any] = [{"role": "system", "parts": parts}]
    if messages is not None:
        parsed = _maybe_json(messages)
        if isinstance(parsed, list):
            combined.extend(parsed)
        else:
            combined.append(parsed)
    try:
        return _json(combined)
    except TypeError:  # text that parses into JSON nested deeper than orjson writes: keep it as text
        as_text = [{"role": "system", "content": str(instructions)}]
        return _json(as_text if messages is None else [*as_text, {"content": str(messages)}])


def _content(
    attrs: dict[str, Any],
    whole_messages: str | None,
    indexed: bool,
    families: tuple[str, ...],
    value_keys: tuple[str, ...],
) -> str:
    if whole_messages is not None:
        return whole_messages
    if indexed:
        for prefix in families:
            messages = _indexed_messages(attrs, prefix)
            if messages:
                return _json(messages)
    value = _first(attrs, value_keys)
    return "" if value is None else _text(value)


_OTLP_KEYS = {
    "provider": cv.PROVIDER_KEYS,
    "input_tokens": cv.INPUT_TOKEN_KEYS,
    "output_tokens": cv.OUTPUT_TOKEN_KEYS,
    "total_tokens": cv.TOTAL_TOKEN_KEYS,
    "cost": cv.COST_TOTAL_KEYS,
    "input": cv.INPUT_VALUE_KEYS,
    "output": cv.OUTPUT_VALUE_KEYS,
    "generic_model": cv.GENERIC_MODEL_KEYS,
}
# Prela JSON: the same conventions, then the plain keys of the seed payload (`"model": "gpt-4"`).
_PLAIN_KEYS = {
    **_OTLP_KEYS,
    "provider": cv.PROVIDER_KEYS + cv.PLAIN_PROVIDER_KEYS,
    "input_tokens": cv.INPUT_TOKEN_KEYS + cv.PLAIN_INPUT_TOKEN_KEYS,
    "output_tokens": cv.OUTPUT_TOKEN_KEYS + cv.PLAIN_OUTPUT_TOKEN_KEYS,
    "total_tokens": cv.TOTAL_TOKEN_KEYS + cv.PLAIN_TOTAL_TOKEN_KEYS,
    "cost": cv.COST_TOTAL_KEYS + cv.PLAIN_COST_KEYS,
    "input": cv.INPUT_VALUE_KEYS + cv.PLAIN_INPUT_KEYS,
    "output": cv.OUTPUT_VALUE_KEYS + cv.PLAIN_OUTPUT_KEYS,
    "generic_model": cv.GENERIC_MODEL_KEYS + cv.PLAIN_MODEL_KEYS,
}


def _convention_keys(value: object) -> set[str]:
    """Every attribute name the conventions module mentions (over-inclusive is harmless)."""
    if isinstance(value, str):
        return {value.rstrip(".")} | {value}
    if isinstance(value, dict):
        return set().union(*(_convention_keys(k) | _convention_keys(v) for k, v in value.items()))
    if isinstance(value, tuple | list | frozenset | set):
        return set().union(*(_convention_keys(v) for v in value))
    return set()


_CONTEXT_KEYS = (cv.SESSION_ID_KEYS, cv.USER_ID_KEYS, cv.ENVIRONMENT_KEYS)
_CONVENTION_KEYS = frozenset(
    set().union(*(_convention_keys(v) for k, v in vars(cv).items() if k.isupper()))
    - {"", "service.name"}
    - set().union(*_CONTEXT_KEYS)  # read by `context_fields`, not by the LLM lookups
)
_INDEXED_PREFIXES = tuple(_FAMILY_KEYS)  # gen_ai.prompt., gen_ai.completion., llm.input_messages., …
_NOTHING_LIFTED = ("CUSTOM", "", "", "", 0, 0, 0, 0, 0, 0, 0.0, "", "")

LiftedFields = tuple[str, str, str, str, int, int, int, int, int, int, float, str, str]


def lift_llm_fields(
    attrs: dict[str, Any],
    events: list[dict[str, Any]] | None = None,
    plain_keys: bool = False,
    scope_name: str = "",
) -> LiftedFields:
    """The LLM fields of one span, read from its attribute dict by every known convention.

    Spans that carry no attribute of any LLM convention (HTTP, database, framework spans) take a
    fast path: one set test instead of ~40 lookups.
    """
    if not events and attrs.keys().isdisjoint(_CONVENTION_KEYS) and not _has_indexed_key(attrs):
        return _NOTHING_LIFTED
    return lift_all_llm_fields(attrs, events, plain_keys, scope_name)


def _has_indexed_key(attrs: dict[str, Any]) -> bool:
    return any(key.startswith(_INDEXED_PREFIXES) for key in attrs)


def lift_all_llm_fields(
    attrs: dict[str, Any],
    events: list[dict[str, Any]] | None = None,
    plain_keys: bool = False,
    scope_name: str = "",
) -> LiftedFields:
    """`lift_llm_fields` without the fast path: every convention looked up.

    Returns (span_type, provider, model, request_model, input_tokens, output_tokens, total_tokens,
    cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_usd, input, output).
    `events` (normalised dicts) are read only for the deprecated GenAI content events.
    `plain_keys` also accepts the seed's plain keys (`model`, `input_tokens`, ...), for Prela JSON.
    `scope_name` (the instrumentation scope) is read only for INPUT_TOKENS_EXCLUDE_CACHE_SCOPES.
    """
    keys = _PLAIN_KEYS if plain_keys else _OTLP_KEYS
    span_type = span_type_of(attrs)
    if span_type not in cv.MODEL_CALL_SPAN_TYPES and not attrs.keys().isdisjoint(cv.MODEL_CALL_ONLY_KEYS):
        # A roll-up of the model calls below (Vercel AI SDK): counted on those calls, not here.
        attrs = {k: v for k, v in attrs.items() if k not in cv.MODEL_CALL_ONLY_KEYS}

    requested = _first(attrs, cv.REQUEST_MODEL_KEYS)
    request_model = str(requested) if requested is not None else _invocation_model(attrs)
    model = _first(attrs, cv.RESPONSE_MODEL_KEYS) or requested or _first(attrs, keys["generic_model"])
    model = str(model) if model is not None else request_model

    provider = _first(attrs, keys["provider"])
    provider = str(provider).lower() if provider is not None else ""
    provider = cv.PROVIDER_ALIASES.get(provider, provider)

    input_tokens = _first_int(attrs, keys["input_tokens"]) or 0
    output_tokens = _first_int(attrs, keys["output_tokens"]) or 0
    total = _first_int(attrs, keys["total_tokens"])
    total_tokens = total if total is not None else input_tokens + output_tokens
    cache_read = _first_int(attrs, cv.CACHE_READ_TOKEN_KEYS) or 0
    cache_write = _first_int(attrs, cv.CACHE_WRITE_TOKEN_KEYS) or 0
    reasoning = _first_int(attrs, cv.REASONING_TOKEN_KEYS) or 0
    if scope_name in cv.INPUT_TOKENS_EXCLUDE_CACHE_SCOPES:
        input_tokens += cache_read + cache_write
        total_tokens += cache_read + cache_write

    cost = _as_float(_first(attrs, keys["cost"]))
    if cost is None:
        parts = [_as_float(attrs.get(k)) for k in cv.COST_PART_KEYS]
        if parts[0] is not None or parts[1] is not None:
            cost = (parts[0] or 0.0) + (parts[1] or 0.0)
        elif (reported := _reported_cost(attrs)) is not None:
            cost = reported
        elif model and (input_tokens or output_tokens):
            cost = cost_usd(model, input_tokens, output_tokens, cache_read, cache_write)
        else:
            cost = 0.0

    # The indexed message families are scanned only when a probe key says one is there.
    indexed = not attrs.keys().isdisjoint(_INDEXED_PROBES)
    input_text = _content(attrs, _gen_ai_input(attrs), indexed, _INPUT_FAMILIES, keys["input"])
    output_messages = attrs.get(cv.GEN_AI_OUTPUT_MESSAGES)
    output_text = _content(
        attrs,
        None if output_messages is None else _text(output_messages),
        indexed,
        _OUTPUT_FAMILIES,
        keys["output"],
    )
    if events and (not input_text or not output_text):
        for event in events:
            name = event["name"]
            if not input_text and name == cv.GEN_AI_PROMPT_EVENT[0]:
                value = event["attributes"].get(cv.GEN_AI_PROMPT_EVENT[1])
                input_text = "" if value is None else _text(value)
            elif not output_text and name == cv.GEN_AI_COMPLETION_EVENT[0]:
                value = event["attributes"].get(cv.GEN_AI_COMPLETION_EVENT[1])
                output_text = "" if value is None else _text(value)

    return (
        span_type,
        provider,
        model,
        request_model,
        input_tokens,
        output_tokens,
        total_tokens,
        cache_read,
        cache_write,
        reasoning,
        cost,
        input_text,
        output_text,
    )


def _reported_cost(attrs: dict[str, Any]) -> float | None:
    """The first cost found at one of COST_JSON_PATHS (a JSON attribute, then members), else None."""
    for key, path in cv.COST_JSON_PATHS:
        value = attrs.get(key)
        if value is None:
            continue
        value = _maybe_json(value)
        for member in path:
            value = value.get(member) if isinstance(value, dict) else None
        cost = _as_float(value)
        if cost is not None:
            return cost
    return None


def _first_text(attrs: dict[str, Any], keys: tuple[str, ...]) -> str:
    value = _first(attrs, keys)
    if value is None:
        return ""
    return value if value.__class__ is str else _text(value)


def context_fields(attrs: dict[str, Any], resource_environment: str = "") -> tuple[str, str, str]:
    """(session_id, user_id, environment) of one span by the conventions; "" where none is sent.

    The environment is the resource's (`deployment.environment.name`) unless only the span names one.
    """
    return (
        _first_text(attrs, cv.SESSION_ID_KEYS),
        _first_text(attrs, cv.USER_ID_KEYS),
        resource_environment or _first_text(attrs, cv.ENVIRONMENT_KEYS),
    )


# --- the export request -----------------------------------------------------------------------


def _scope_label(scope_name: str) -> str:
    return f"scope '{scope_name}'" if scope_name else "scope ''"


def span_problem(span: Any) -> str | None:
    """Why OTLP's rules make this span unstorable (ids, times), or None when it is fine."""
    trace_id = span.trace_id
    span_id = span.span_id
    parent_id = span.parent_span_id
    if len(trace_id) != 16:
        return f"trace_id must be 16 bytes, got {len(trace_id)}"
    if trace_id == _ZERO_TRACE_ID:
        return "trace_id must not be all zero"
    if len(span_id) != 8:
        return f"span_id must be 8 bytes, got {len(span_id)}"
    if span_id == _ZERO_SPAN_ID:
        return "span_id must not be all zero"
    if parent_id and len(parent_id) != 8:
        return f"parent_span_id must be empty or 8 bytes, got {len(parent_id)}"
    if span.start_time_unix_nano > MAX_TIME_NS or span.end_time_unix_nano > MAX_TIME_NS:
        return "start/end time beyond 2262-04-11 (the largest nanosecond timestamp stored)"
    return None


def map_export_request(request: ExportTraceServiceRequest, project_id: str) -> MappedSpans:
    """Map every span of an OTLP export request to a `SpanRecord` of `project_id`.

    Spans whose trace_id / span_id / parent_span_id break the OTLP rules are rejected one by one
    (counted in `rejected`, with up to MAX_ERRORS distinct reasons); the others are kept.
    """
    records: list[SpanRecord] = []
    append = records.append
    rejected = 0
    errors: list[str] = []
    kinds = SPAN_KINDS
    n_kinds = len(kinds)
    new_record = SpanRecord._make
    lift = lift_llm_fields
    last_trace_bytes = b""
    last_trace_hex = ""

    for resource_spans in request.resource_spans:
        resource_attrs = attributes_dict(resource_spans.resource.attributes)
        service = resource_attrs.get(cv.SERVICE_NAME)
        service_name = service if service.__class__ is str and service else cv.DEFAULT_SERVICE_NAME
        resource_json = _json(resource_attrs)
        resource_environment = _first_text(resource_attrs, cv.ENVIRONMENT_KEYS)

        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope
            scope_name = scope.name
            scope_version = scope.version
            scope_json = _json(attributes_dict(scope.attributes)) if len(scope.attributes) else "{}"

            for index, span in enumerate(scope_spans.spans):
                trace_id = span.trace_id
                span_id = span.span_id
                parent_id = span.parent_span_id
                problem = span_problem(span)
                if problem is not None:
                    rejected += 1
                    if len(errors) < MAX_ERRORS:
                        message = f"span {index} of {_scope_label(scope_name)}: {problem}"
                        if message not in errors:
                            errors.append(message)
                    continue

                if trace_id != last_trace_bytes:
                    last_trace_bytes = trace_id
                    last_trace_hex = trace_id.hex()

                attrs = attributes_dict(span.attributes)
                events: list[dict[str, Any]] | None = None
                if len(span.events):
                    events = [
                        {
                            "name": e.name,
                            "time_unix_nano": e.time_unix_nano,
                            "attributes": attributes_dict(e.attributes),
                        }
                        for e in span.events
                    ]
                links_json = "[]"
                if len(span.links):
                    links_json = _json(
                        [
                            {
                                "trace_id": link.trace_id.hex(),
                                "span_id": link.span_id.hex(),
                                "trace_state": link.trace_state,
                                "attributes": attributes_dict(link.attributes),
                            }
                            for link in span.links
                        ]
                    )

                kind = span.kind
                start = span.start_time_unix_nano
                end = span.end_time_unix_nano
                status = span.status
                lifted = lift(attrs, events, False, scope_name)
                append(
                    new_record(
                        (
                            project_id,
                            last_trace_hex,
                            span_id.hex(),
                            parent_id.hex(),
                            span.trace_state,
                            span.name,
                            lifted[0],
                            kinds[kind] if 0 <= kind < n_kinds else "UNSPECIFIED",
                            service_name,
                            scope_name,
                            scope_version,
                            start,
                            end,
                            end - start if end > start else 0,
                            "ERROR" if status.code == _STATUS_CODE_ERROR else "SUCCESS",
                            status.message,
                            _json(attrs) if attrs else "{}",
                            resource_json,
                            scope_json,
                            _json(events) if events else "[]",
                            links_json,
                            *lifted[1:],
                            *context_fields(attrs, resource_environment),
                        )
                    )
                )

    return MappedSpans(records, rejected, errors)
