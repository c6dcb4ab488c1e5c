"""LLM helpers write OTel GenAI attributes + prela.span_type; capture_content=False keeps content out."""

from __future__ import annotations

import json

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

import prela
from prela.testing import find_span, get_finished_spans

MESSAGES = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "Capital of France?"},
]


def test_llm_context_manager_writes_genai_attributes() -> None:
    prela.init(exporter="memory")
    with prela.llm("gpt-4o", provider="openai", input=MESSAGES, temperature=0.2, max_tokens=50) as call:
        call.set_llm(
            output="Paris.",
            response_model="gpt-4o-2024-08-06",
            input_tokens=12,
            output_tokens=3,
            finish_reasons=["stop"],
            response_id="chatcmpl-1",
        )
    span = find_span("chat gpt-4o")
    assert span.kind is SpanKind.CLIENT
    attributes = dict(span.attributes or {})
    assert json.loads(attributes.pop("gen_ai.input.messages")) == [
        {"role": "system", "parts": [{"type": "text", "content": "Answer briefly."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Capital of France?"}]},
    ]
    assert json.loads(attributes.pop("gen_ai.output.messages")) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Paris."}], "finish_reason": "stop"}
    ]
    assert attributes == {
        "prela.span_type": "LLM",
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.max_tokens": 50,
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 3,
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.response.id": "chatcmpl-1",
    }


def test_embeddings_operation_types_the_span_embedding() -> None:
    prela.init(exporter="memory")
    with prela.llm("text-embedding-3-small", provider="openai", operation="embeddings") as call:
        call.set_llm(input_tokens=8)
    span = find_span("embeddings text-embedding-3-small")
    assert span.attributes is not None
    assert span.attributes["prela.span_type"] == "EMBEDDING"
    assert span.attributes["gen_ai.operation.name"] == "embeddings"


def test_set_llm_on_a_decorated_span() -> None:
    prela.init(exporter="memory")

    @prela.trace("answer", span_type="LLM")
    def answer() -> str:
        prela.set_llm(prela.current_span(), model="claude-sonnet-4", provider="anthropic", output_tokens=7)
        return "ok"

    answer()
    attributes = find_span("answer").attributes or {}
    assert attributes["prela.span_type"] == "LLM"
    assert attributes["gen_ai.request.model"] == "claude-sonnet-4"
    assert attributes["gen_ai.usage.output_tokens"] == 7


def test_openai_tool_call_messages_become_genai_parts() -> None:
    prela.init(exporter="memory")
    assistant = {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}],
    }
    tool = {"role": "tool", "tool_call_id": "c1", "content": "sunny"}
    with prela.llm("gpt-4o", input=[assistant, tool]):
        pass
    messages = json.loads(str((find_span("chat gpt-4o").attributes or {})["gen_ai.input.messages"]))
    assert messages == [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "c1", "name": "weather", "arguments": "{}"}],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "sunny"}]},
    ]


def test_exception_in_llm_block_sets_error() -> None:
    prela.init(exporter="memory")
    with pytest.raises(TimeoutError), prela.llm("gpt-4o"):
        raise TimeoutError("model timed out")
    assert find_span("chat gpt-4o").status.status_code is StatusCode.ERROR


def test_capture_content_false_keeps_prela_content_out() -> None:
    prela.init(exporter="memory", capture_content=False)
    with prela.llm("gpt-4o", provider="openai", input="secret prompt", system="secret system") as call:
        call.set_llm(output="secret answer", input_tokens=5, output_tokens=2)
    attributes = find_span("chat gpt-4o").attributes or {}
    assert not any("messages" in key or "instructions" in key for key in attributes)
    assert attributes["gen_ai.usage.input_tokens"] == 5
    assert "secret" not in json.dumps(dict(attributes))


def test_capture_content_false_strips_third_party_content_attributes_and_events() -> None:
    prela.init(exporter="memory", capture_content=False)
    with trace.get_tracer("openinference.instrumentation.openai").start_as_current_span(
        "ChatCompletion"
    ) as span:
        span.set_attributes(
            {
                "openinference.span.kind": "LLM",
                "llm.model_name": "gpt-4o",
                "llm.token_count.prompt": 9,
                "input.value": "secret",
                "output.value": "secret",
                "llm.input_messages.0.message.content": "secret",
                "gen_ai.prompt.0.content": "secret",
                "gen_ai.completion.0.content": "secret",
                "traceloop.entity.input": "secret",
                "retrieval.documents.0.document.content": "secret",
            }
        )
        span.add_event("gen_ai.content.prompt", {"gen_ai.prompt": "secret"})
        span.add_event("retry", {"attempt": 2})
    (exported,) = get_finished_spans()
    assert dict(exported.attributes or {}) == {
        "openinference.span.kind": "LLM",
        "llm.model_name": "gpt-4o",
        "llm.token_count.prompt": 9,
    }
    assert [(event.name, dict(event.attributes or {})) for event in exported.events] == [
        ("retry", {"attempt": 2})
    ]


def test_capture_content_variable_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRELA_CAPTURE_CONTENT", "false")
    provider = prela.init(exporter="memory")
    assert provider.capture_content is False
    with prela.llm("gpt-4o", input="secret"):
        pass
    assert "gen_ai.input.messages" not in (find_span("chat gpt-4o").attributes or {})


def test_set_llm_on_an_unsampled_span_does_nothing() -> None:
    prela.init(exporter="memory", sample_rate=0.0)
    with prela.llm("gpt-4o", input="x") as call:
        call.set_llm(output="y")
        assert not call.span.is_recording()
    assert get_finished_spans() == []
