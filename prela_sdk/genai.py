"""LLM helpers: `prela.llm(...)` (a span per model call) and `prela.set_llm(span, ...)`.

They write the OTel GenAI semantic-convention attributes (`gen_ai.operation.name`,
`gen_ai.provider.name`, `gen_ai.request.model`, `gen_ai.response.model`, `gen_ai.usage.*`,
`gen_ai.input.messages` / `gen_ai.output.messages` / `gen_ai.system_instructions` as JSON in the
GenAI message shape) plus `prela.span_type`, so Prela and any other GenAI-aware backend read them.
Content is written only while content capture is on (`prela.init(capture_content=...)`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final

from opentelemetry.trace import Span, SpanKind
from opentelemetry.util import types

from prela.provider import SPAN_TYPE_ATTRIBUTE, current_capture_content, normalize_span_type, prela_tracer

# Operation → Prela span type (the collector's table for `gen_ai.operation.name`).
OPERATION_SPAN_TYPES: Final[dict[str, str]] = {
    "chat": "LLM",
    "text_completion": "LLM",
    "generate_content": "LLM",
    "embeddings": "EMBEDDING",
    "execute_tool": "TOOL",
    "invoke_agent": "AGENT",
    "create_agent": "AGENT",
}


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _part(item: Any) -> dict[str, Any]:
    """One GenAI message part from a string, an OpenAI content part or a GenAI part."""
    if isinstance(item, str):
        return {"type": "text", "content": item}
    if isinstance(item, Mapping):
        if item.get("type") == "text" and "text" in item and "content" not in item:
            return {"type": "text", "content": item["text"]}
        return dict(item)
    return {"type": "text", "content": str(item)}


def _tool_call_parts(tool_calls: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    parts = []
    for call in tool_calls:
        function = call.get("function") or {}
        parts.append(
            {
                "type": "tool_call",
                "id": call.get("id"),
                "name": function.get("name", call.get("name")),
                "arguments": function.get("arguments", call.get("arguments")),
            }
        )
    return parts


def _message(item: Any, default_role: str) -> dict[str, Any]:
    """One GenAI message (`{"role", "parts": [...]}`) from a string, an OpenAI-style message or a
    GenAI message."""
    if not isinstance(item, Mapping):
        return {"role": default_role, "parts": [_part(item)]}
    if "parts" in item:
        return dict(item)
    message: dict[str, Any] = {"role": item.get("role", default_role)}
    content = item.get("content")
    parts: list[dict[str, Any]] = []
    if isinstance(content, str):
        parts.append(_part(content))
    elif isinstance(content, Sequence):
        parts.extend(_part(part) for part in content)
    elif content is not None:
        parts.append(_part(content))
    if item.get("tool_calls"):
        parts.extend(_tool_call_parts(item["tool_calls"]))
    if item.get("tool_call_id") is not None:
        parts = [{"type": "tool_call_response", "id": item["tool_call_id"], "response": content}]
    message["parts"] = parts
    if "finish_reason" in item:
        message["finish_reason"] = item["finish_reason"]
    return message


def input_messages(value: Any) -> list[dict[str, Any]]:
    """`gen_ai.input.messages` from a prompt string, one message, or a list of messages."""
    items = value if isinstance(value, Sequence) and not isinstance(value, str) else [value]
    return [_message(item, "user") for item in items]


def output_messages(value: Any, finish_reasons: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """`gen_ai.output.messages` from a completion string, one message, or a list (one per choice)."""
    items = value if isinstance(value, Sequence) and not isinstance(value, str) else [value]
    messages = [_message(item, "assistant") for item in items]
    for index, message in enumerate(messages):
        if "finish_reason" not in message:
            reasons = finish_reasons or ()
            message["finish_reason"] = reasons[index] if index < len(reasons) else "stop"
    return messages


def set_llm(
    span: Span,
    *,
    model: str | None = None,
    provider: str | None = None,
    operation: str | None = None,
    response_model: str | None = None,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    input: Any = None,
    output: Any = None,
    system: Any = None,
    finish_reasons: Sequence[str] | None = None,
    response_id: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    span_type: str | None = None,
) -> None:
    """Write an LLM call's facts on `span` as GenAI attributes; arguments left `None` are not written.

    `model` is the requested model, `response_model` the one that answered. `input` / `output` take
    a string, an OpenAI-style message dict (`{"role", "content", "tool_calls"}`), a GenAI message
    (`{"role", "parts"}`) or a list of them; `system` the system instructions. They are dropped
    when content capture is off. `span_type` defaults from `operation` (chat → LLM, embeddings →
    EMBEDDING, ...), and to LLM. Works on any recording span, not only Prela's.
    """
    if not span.is_recording():
        return
    attributes: dict[str, types.AttributeValue] = {}
    if operation is not None:
        attributes["gen_ai.operation.name"] = operation
    if span_type is not None or operation is not None or SPAN_TYPE_ATTRIBUTE not in _attributes_of(span):
        resolved = span_type or OPERATION_SPAN_TYPES.get(operation or "chat", "LLM")
        attributes[SPAN_TYPE_ATTRIBUTE] = normalize_span_type(resolved)
    plain: tuple[tuple[str, Any, Callable[[Any], types.AttributeValue]], ...] = (
        ("gen_ai.provider.name", provider, str),
        ("gen_ai.system", provider, str),  # the name before semconv 1.37, still read by many backends
        ("gen_ai.request.model", model, str),
        ("gen_ai.response.model", response_model, str),
        ("gen_ai.usage.input_tokens", input_tokens, int),
        ("gen_ai.usage.output_tokens", output_tokens, int),
        ("gen_ai.response.finish_reasons", finish_reasons, list),
        ("gen_ai.response.id", response_id, str),
        ("gen_ai.request.temperature", temperature, float),
        ("gen_ai.request.max_tokens", max_tokens, int),
    )
    attributes.update({key: convert(value) for key, value, convert in plain if value is not None})
    if current_capture_content():
        if input is not None:
            attributes["gen_ai.input.messages"] = _json(input_messages(input))
        if output is not None:
            attributes["gen_ai.output.messages"] = _json(output_messages(output, finish_reasons))
        if system is not None:
            parts = system if isinstance(system, Sequence) and not isinstance(system, str) else [system]
            attributes["gen_ai.system_instructions"] = _json([_part(part) for part in parts])
    span.set_attributes(attributes)


def _attributes_of(span: Span) -> Mapping[str, Any]:
    return getattr(span, "attributes", None) or {}


class LLMSpan:
    """The span of one model call, as yielded by `prela.llm(...)`; `.span` is the OTel span."""

    __slots__ = ("span",)

    def __init__(self, span: Span) -> None:
        self.span = span

    def set_llm(self, **fields: Any) -> None:
        """Record more facts about the call (response, usage, output...): see `prela.set_llm`."""
        set_llm(self.span, **fields)

    def set_attribute(self, key: str, value: types.AttributeValue) -> None:
        """Set any other attribute on the span."""
        self.span.set_attribute(key, value)


@contextmanager
def llm(
    model: str | None = None,
    *,
    provider: str | None = None,
    operation: str = "chat",
    input: Any = None,
    system: Any = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    name: str | None = None,
    attributes: types.Attributes = None,
) -> Iterator[LLMSpan]:
    """A CLIENT span around one model call, named `"{operation} {model}"` as GenAI specifies.

    ```
    with prela.llm("gpt-4o", provider="openai", input=messages) as call:
        response = client.chat.completions.create(model="gpt-4o", messages=messages)
        call.set_llm(output=response.choices[0].message.content, response_model=response.model,
                     input_tokens=response.usage.prompt_tokens, output_tokens=response.usage.completion_tokens)
    ```
    An exception leaving the block is recorded on the span with the ERROR status.
    """
    span_name = name or (f"{operation} {model}" if model else operation)
    with prela_tracer().start_as_current_span(span_name, kind=SpanKind.CLIENT, attributes=attributes) as span:
        set_llm(
            span,
            model=model,
            provider=provider,
            operation=operation,
            input=input,
            system=system,
            temperature=temperature,
            max_tokens=max_tokens,
        )
        yield LLMSpan(span)
