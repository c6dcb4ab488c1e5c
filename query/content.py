"""GenAI content sent apart from its span, joined to the span when a trace is read.

Instrumentations that follow the GenAI event conventions (`opentelemetry-instrumentation-openai-v2`
by default, google-genai, vertexai) send prompts and completions as OTLP log records linked to the
LLM span by trace_id / span_id, or as span events; the latest conventions carry them whole on one
`gen_ai.client.inference.operation.details` event. Doing the join at read time makes the order of
arrival irrelevant: logs before or after their span, in either run mode.

Every form becomes the OTel GenAI messages JSON shape:
`[{"role": ..., "parts": [{"type": "text", "content": ...},
                          {"type": "tool_call", "id": ..., "name": ..., "arguments": ...},
                          {"type": "tool_call_response", "id": ..., "response": ...}]}]`
(output messages also carry `finish_reason`). Pure functions; the store reads, these join.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from prela.collector import conventions as cv
from prela.model.timestamps import format_unix_nano

# Deprecated GenAI message events (semconv <= 1.36): event name → the message's role.
MESSAGE_EVENTS: Mapping[str, str] = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
CHOICE_EVENT = "gen_ai.choice"
# The current conventions: one event with the whole input, output and system instructions.
DETAILS_EVENT = "gen_ai.client.inference.operation.details"
CONTENT_EVENTS = frozenset((*MESSAGE_EVENTS, CHOICE_EVENT, DETAILS_EVENT))
# Span events carrying a message body as one JSON attribute (some instrumentations do).
_EVENT_CONTENT_ATTRIBUTE = "gen_ai.event.content"

Message = dict[str, Any]


def _maybe_json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def text_parts(content: Any) -> list[dict[str, Any]]:
    """A message's `content` (text, a list of parts or texts, or anything else) as parts."""
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    if isinstance(content, list):
        parts: list[dict[str, Any]] = []
        for item in content:
            if isinstance(item, dict) and item.get("type") == "text" and "content" not in item:
                parts.append({"type": "text", "content": item.get("text", "")})  # OpenAI's {"text": ...}
            elif isinstance(item, dict) and "type" in item:
                parts.append(item)  # already a part (image, blob, …): kept as sent
            else:
                parts.extend(text_parts(item))
        return parts
    if isinstance(content, dict) and "type" in content:
        return [content]
    return [{"type": "text", "content": orjson.dumps(content).decode()}]


def tool_call_parts(tool_calls: Any) -> list[dict[str, Any]]:
    """OpenAI-style `tool_calls` ([{id, type, function: {name, arguments}}]) as `tool_call` parts."""
    if not isinstance(tool_calls, list):
        return []
    parts = []
    for call in tool_calls:
        if not isinstance(call, dict):
            continue
        function = call["function"] if isinstance(call.get("function"), dict) else call
        part: dict[str, Any] = {"type": "tool_call", "id": call.get("id"), "name": function.get("name")}
        if "arguments" in function:
            part["arguments"] = _maybe_json(function["arguments"])
        parts.append(part)
    return parts


def _message(role: str, body: Mapping[str, Any]) -> Message:
    """One input message from a `gen_ai.<role>.message` body ({content, tool_calls, id, role})."""
    sent = body.get("role")
    role = sent if isinstance(sent, str) and sent else role
    if role == "tool":
        parts: list[dict[str, Any]] = [
            {"type": "tool_call_response", "id": body.get("id"), "response": body.get("content")}
        ]
    else:
        parts = text_parts(body.get("content")) + tool_call_parts(body.get("tool_calls"))
    return {"role": role, "parts": parts}


def _choice(body: Mapping[str, Any]) -> Message:
    """The output message of a `gen_ai.choice` body ({index, finish_reason, message})."""
    message: Mapping[str, Any] = body["message"] if isinstance(body.get("message"), dict) else {}
    sent = message.get("role")
    role = sent if isinstance(sent, str) and sent else "assistant"
    out: Message = {
        "role": role,
        "parts": text_parts(message.get("content")) + tool_call_parts(message.get("tool_calls")),
    }
    if body.get("finish_reason") is not None:
        out["finish_reason"] = body["finish_reason"]
    return out


def _message_list(value: Any) -> list[Message]:
    value = _maybe_json(value)
    if value is None:
        return []
    return [m for m in value if isinstance(m, dict)] if isinstance(value, list) else []


def _details(fields: Mapping[str, Any]) -> tuple[list[Message], list[Message]]:
    """(input, output) of a `gen_ai.client.inference.operation.details` event."""
    inputs = _message_list(fields.get(cv.GEN_AI_INPUT_MESSAGES))
    instructions = _maybe_json(fields.get(cv.GEN_AI_SYSTEM_INSTRUCTIONS))
    if instructions is not None:
        inputs = [{"role": "system", "parts": text_parts(instructions)}, *inputs]
    return inputs, _message_list(fields.get(cv.GEN_AI_OUTPUT_MESSAGES))


class SpanMessages:
    """The content one span's events carry, accumulated in the order they were emitted."""

    __slots__ = ("details", "input", "output")

    def __init__(self) -> None:
        self.input: list[Message] = []
        self.output: list[tuple[int, Message]] = []  # (choice index, message)
        self.details: tuple[list[Message], list[Message]] | None = None

    def add(self, name: str, body: Any, attributes: Mapping[str, Any]) -> None:
        """Take one event: its name, body (a log record's AnyValue; a span event has none) and attributes."""
        if name == DETAILS_EVENT:
            fields = {**attributes, **body} if isinstance(body, dict) else attributes
            self.details = _details(fields)
            return
        if not isinstance(body, dict):
            # Span events carry the body in their attributes (whole, or as one JSON attribute).
            body = _maybe_json(attributes.get(_EVENT_CONTENT_ATTRIBUTE)) or attributes
            if not isinstance(body, dict):
                return
        if name == CHOICE_EVENT:
            index = body.get("index")
            self.output.append((index if isinstance(index, int) else len(self.output), _choice(body)))
        else:
            self.input.append(_message(MESSAGE_EVENTS[name], body))

    def messages(self) -> tuple[list[Message], list[Message]]:
        """(input, output); the details event, when there is one, is the whole story."""
        if self.details is not None:
            return self.details
        return self.input, [m for _, m in sorted(self.output, key=lambda pair: pair[0])]


SpanKey = tuple[str, str]  # (trace_id, span_id)


def messages_by_span(logs: Iterable[Mapping[str, Any]]) -> dict[SpanKey, SpanMessages]:
    """The GenAI content of log rows (`trace_id`, `span_id`, `event_name`, `body` and `attributes`
    JSON), by span, in the rows' order (time, then position in the request)."""
    found: dict[SpanKey, SpanMessages] = {}
    for log in logs:
        name = log["event_name"]
        if name not in CONTENT_EVENTS or not log["span_id"]:
            continue
        found.setdefault((log["trace_id"], log["span_id"]), SpanMessages()).add(
            name, orjson.loads(log["body"] or "null"), orjson.loads(log["attributes"] or "{}")
        )
    return found


def span_event_messages(events: Sequence[Mapping[str, Any]] | str) -> SpanMessages | None:
    """The GenAI content of a span's own events (`name`, `attributes`; or their stored JSON text),
    None when there is none."""
    if isinstance(events, str):
        if not any(name in events for name in CONTENT_EVENTS):  # most spans: no parse at all
            return None
        parsed: Sequence[Mapping[str, Any]] = orjson.loads(events)
    else:
        parsed = events
    found: SpanMessages | None = None
    for event in parsed:
        name = event.get("name")
        if name in CONTENT_EVENTS:
            found = found or SpanMessages()
            found.add(name, None, event.get("attributes") or {})
    return found


def _json(messages: list[Message]) -> str:
    return orjson.dumps(messages).decode()


def fill_content(span: dict[str, Any], *sources: SpanMessages | None) -> None:
    """Set the span's empty `input` / `output` (JSON text) from the first source that has them."""
    for source in sources:
        if source is None or (span["input"] and span["output"]):
            continue
        inputs, outputs = source.messages()
        if not span["input"] and inputs:
            span["input"] = _json(inputs)
        if not span["output"] and outputs:
            span["output"] = _json(outputs)


def join_content(spans: Iterable[dict[str, Any]], logs: Iterable[Mapping[str, Any]]) -> None:
    """Fill each span's empty input/output (spans: dicts with `trace_id`, `span_id`, `input`,
    `output`, `events`) from its log records, then from its span events."""
    by_span = messages_by_span(logs)
    for span in spans:
        if span["input"] and span["output"]:
            continue
        events = span_event_messages(span.get("events") or ())
        fill_content(span, by_span.get((span["trace_id"], span["span_id"])), events)


def trace_log(row: Mapping[str, Any]) -> dict[str, Any]:
    """One stored log record as the trace detail lists it (stored JSON passed through)."""
    return {
        "span_id": row["span_id"] or None,
        "time": format_unix_nano(row["time_ns"]),
        "observed_time": format_unix_nano(row["observed_ns"]) if row["observed_ns"] else None,
        "severity_number": row["severity_number"],
        "severity_text": row["severity_text"],
        "event_name": row["event_name"],
        "body": orjson.Fragment(row["body"] or "null"),
        "attributes": orjson.Fragment(row["attributes"] or "{}"),
        "resource_attributes": orjson.Fragment(row["resource_attributes"] or "{}"),
        "service_name": row["service_name"],
        "scope": {"name": row["scope_name"], "version": row["scope_version"]},
    }
