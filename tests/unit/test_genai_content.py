"""GenAI message events (log records and span events) → the OTel GenAI messages shape, joined to spans."""

from __future__ import annotations

import json
from typing import Any

import orjson

from prela.query.content import SpanMessages, join_content, span_event_messages

TRACE = "0af7651916cd43dd8448eb211c80319c"
SPAN = "b7ad6b7169203331"


def log(
    event_name: str, body: Any, attributes: dict[str, Any] | None = None, span_id: str = SPAN
) -> dict[str, Any]:
    """A stored log row as the trace read returns it."""
    return {
        "trace_id": TRACE,
        "span_id": span_id,
        "event_name": event_name,
        "body": orjson.dumps(body).decode(),
        "attributes": orjson.dumps(attributes or {}).decode(),
    }


def span(input_text: str = "", output_text: str = "", events: Any = ()) -> dict[str, Any]:
    return {"trace_id": TRACE, "span_id": SPAN, "input": input_text, "output": output_text, "events": events}


def joined(logs: list[dict[str, Any]], target: dict[str, Any] | None = None) -> tuple[Any, Any]:
    target = target or span()
    join_content([target], logs)
    return (
        json.loads(target["input"]) if target["input"] else None,
        json.loads(target["output"]) if target["output"] else None,
    )


def test_system_and_user_messages_become_input_messages_in_order() -> None:
    inputs, outputs = joined(
        [
            log("gen_ai.system.message", {"content": "Be brief."}),
            log("gen_ai.user.message", {"content": "Hi"}),
        ]
    )
    assert inputs == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Hi"}]},
    ]
    assert outputs is None


def test_assistant_tool_calls_become_tool_call_parts_with_parsed_arguments() -> None:
    body = {
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
            }
        ]
    }
    inputs, _ = joined([log("gen_ai.assistant.message", body)])
    assert inputs == [
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": "call_1", "name": "weather", "arguments": {"city": "Paris"}}
            ],
        }
    ]


def test_arguments_that_are_not_json_are_kept_as_text() -> None:
    body = {"tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{not json"}}]}
    inputs, _ = joined([log("gen_ai.assistant.message", body)])
    assert inputs[0]["parts"] == [{"type": "tool_call", "id": "c", "name": "f", "arguments": "{not json"}]


def test_tool_message_becomes_a_tool_call_response() -> None:
    inputs, _ = joined([log("gen_ai.tool.message", {"content": "18°C", "id": "call_1"})])
    assert inputs == [
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "18°C"}]}
    ]


def test_choices_become_output_messages_by_index_with_finish_reason() -> None:
    second = {"index": 1, "finish_reason": "length", "message": {"role": "assistant", "content": "B"}}
    first = {
        "index": 0,
        "finish_reason": "tool_calls",
        "message": {
            "tool_calls": [{"id": "x", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
        },
    }
    _, outputs = joined([log("gen_ai.choice", second), log("gen_ai.choice", first)])
    assert outputs == [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "x", "name": "f", "arguments": {}}],
            "finish_reason": "tool_calls",
        },
        {"role": "assistant", "parts": [{"type": "text", "content": "B"}], "finish_reason": "length"},
    ]


def test_multimodal_content_lists_keep_their_parts() -> None:
    content = [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": "u"}}]
    inputs, _ = joined([log("gen_ai.user.message", {"content": content})])
    assert inputs[0]["parts"] == [
        {"type": "text", "content": "What is this?"},
        {"type": "image_url", "image_url": {"url": "u"}},
    ]


def test_the_details_event_carries_input_output_and_system_instructions() -> None:
    attributes = {
        "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Be brief."}]),
        "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]),
        "gen_ai.output.messages": json.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": "Hello"}], "finish_reason": "stop"}]
        ),
    }
    inputs, outputs = joined([log("gen_ai.client.inference.operation.details", None, attributes)])
    assert inputs == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Hi"}]},
    ]
    assert outputs == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Hello"}], "finish_reason": "stop"}
    ]


def test_content_already_on_the_span_is_kept() -> None:
    target = span(input_text="prompt on the span")
    join_content(
        [target],
        [
            log("gen_ai.user.message", {"content": "Hi"}),
            log("gen_ai.choice", {"index": 0, "message": {"content": "A"}}),
        ],
    )
    assert target["input"] == "prompt on the span"
    assert json.loads(target["output"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "A"}]}
    ]


def test_logs_of_other_spans_and_other_events_are_not_joined() -> None:
    inputs, outputs = joined(
        [
            log("gen_ai.user.message", {"content": "elsewhere"}, span_id="1111111111111111"),
            log("app.started", {"content": "not GenAI"}),
            log("gen_ai.user.message", {"content": "no span"}, span_id=""),
        ]
    )
    assert (inputs, outputs) == (None, None)


def test_span_events_named_like_the_message_events_fill_the_span() -> None:
    events = [
        {"name": "gen_ai.user.message", "attributes": {"content": "Hi", "gen_ai.system": "openai"}},
        {
            "name": "gen_ai.choice",
            "attributes": {"gen_ai.event.content": json.dumps({"index": 0, "message": {"content": "Yo"}})},
        },
    ]
    inputs, outputs = joined([], span(events=events))
    assert inputs == [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]
    assert outputs == [{"role": "assistant", "parts": [{"type": "text", "content": "Yo"}]}]


def test_log_records_win_over_span_events() -> None:
    events = [{"name": "gen_ai.user.message", "attributes": {"content": "from the event"}}]
    inputs, _ = joined([log("gen_ai.user.message", {"content": "from the log"})], span(events=events))
    assert inputs == [{"role": "user", "parts": [{"type": "text", "content": "from the log"}]}]


def test_stored_events_json_without_genai_events_is_not_parsed() -> None:
    assert span_event_messages('[{"name": "exception", "attributes": {}}]') is None
    assert span_event_messages("not json, and no GenAI event name either") is None


def test_a_message_role_in_the_body_overrides_the_event_name() -> None:
    messages = SpanMessages()
    messages.add("gen_ai.user.message", {"role": "developer", "content": "Rules"}, {})
    assert messages.messages() == (
        [{"role": "developer", "parts": [{"type": "text", "content": "Rules"}]}],
        [],
    )
