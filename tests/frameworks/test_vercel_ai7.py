"""AI SDK 7 with the OpenTelemetry integrations of `@ai-sdk/otel`, exported by
`@opentelemetry/sdk-node` to a real `prela serve`.

`OpenTelemetry` writes the GenAI semantic conventions (invoke_agent / chat / execute_tool /
embeddings spans, content in `gen_ai.input.messages`); `LegacyOpenTelemetry` writes the `ai.*` spans
of AI SDK 4-6 with AI SDK 7's usage details. tests/frameworks/node_ai7/app.mjs runs generateText with
one tool call, streamText and embed against the fake OpenAI server, with the session and user in the
runtime context. AI SDK 7 declares Node.js >= 22; it runs on Node.js 20 as well (npm only warns).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from prela.collector.pricing import cost_usd
from prela.model.timestamps import parse_timestamp
from tests.conftest import PrelaServer
from tests.frameworks.conftest import run_node_app
from tests.frameworks.fake_llm import (
    EMBEDDING_MODEL,
    EMBEDDING_TOKENS,
    OPENAI_ANSWER,
    OPENAI_ANSWER_USAGE,
    OPENAI_MODEL,
    OPENAI_STREAM_USAGE,
    OPENAI_TOOL_USAGE,
    TOOL_CALL_ID,
    FakeLLM,
)
from tests.integration.test_otel_exporters import wait_for_trace

pytestmark = pytest.mark.integration

SESSION = ("session-vercel-7", "user-vercel-7")
USAGES = [
    OPENAI_TOOL_USAGE,
    OPENAI_ANSWER_USAGE,
    OPENAI_STREAM_USAGE,
]  # (prompt, completion, cached, reasoning)


def app_trace(
    app: Path, fake_llm: FakeLLM, server: PrelaServer, integration: str, spans: int
) -> dict[str, Any]:
    trace_id = run_node_app(
        app, FAKE_OPENAI_URL=f"{fake_llm.url}/v1", PRELA_OTLP_URL=server.ingest_url, AI_OTEL=integration
    )
    return wait_for_trace(server, trace_id, spans)


@pytest.fixture(scope="module")
def genai_trace(node_ai7_app: Path, fake_llm: FakeLLM, prela_serve: PrelaServer) -> dict[str, Any]:
    return app_trace(node_ai7_app, fake_llm, prela_serve, "genai", 12)


@pytest.fixture(scope="module")
def legacy_trace(node_ai7_app: Path, fake_llm: FakeLLM, prela_serve: PrelaServer) -> dict[str, Any]:
    return app_trace(node_ai7_app, fake_llm, prela_serve, "legacy", 9)


def by_type(trace: dict[str, Any], span_type: str) -> list[dict[str, Any]]:
    return sorted(
        (s for s in trace["spans"] if s["span_type"] == span_type),
        key=lambda s: parse_timestamp(s["started_at"]),
    )


def assert_model_calls(calls: list[dict[str, Any]]) -> None:
    """The three chat calls: tool turn, answer turn, stream; tokens with cache and reasoning, priced."""
    assert len(calls) == len(USAGES)
    for span, (prompt, completion, cached, reasoning) in zip(calls, USAGES, strict=True):
        assert (span["model"], span["request_model"], span["provider"]) == (
            OPENAI_MODEL,
            "gpt-4o-mini",
            "openai",
        )
        assert (span["input_tokens"], span["output_tokens"], span["total_tokens"]) == (
            prompt,
            completion,
            prompt + completion,
        )
        assert (span["cache_read_tokens"], span["reasoning_tokens"]) == (cached, reasoning)
        assert span["cost_usd"] == pytest.approx(cost_usd(OPENAI_MODEL, prompt, completion, cached))


# --- OpenTelemetry: the GenAI semantic conventions --------------------------------------------


def test_genai_spans_have_their_types(genai_trace: dict[str, Any]) -> None:
    counts: dict[tuple[str, str], int] = {}
    for span in genai_trace["spans"]:
        key = (span["name"].split(" ")[0], span["span_type"])
        counts[key] = counts.get(key, 0) + 1
    assert counts == {
        ("vercel-ai7-app", "CUSTOM"): 1,
        ("invoke_agent", "AGENT"): 2,
        ("step", "CHAIN"): 3,
        ("chat", "LLM"): 3,
        ("execute_tool", "TOOL"): 1,
        ("embeddings", "EMBEDDING"): 2,
    }


def test_genai_chat_calls_carry_model_tokens_and_price(genai_trace: dict[str, Any]) -> None:
    assert_model_calls(by_type(genai_trace, "LLM"))
    embedded = [s for s in by_type(genai_trace, "EMBEDDING") if s["input_tokens"]]
    assert [(s["model"], s["input_tokens"]) for s in embedded] == [(EMBEDDING_MODEL, EMBEDDING_TOKENS)]


def test_genai_content_is_in_the_messages_shape(genai_trace: dict[str, Any]) -> None:
    tool_turn, answer_turn, _ = by_type(genai_trace, "LLM")
    assert json.loads(tool_turn["input"]) == [
        {"role": "system", "parts": [{"type": "text", "content": "Answer briefly."}]},
        {"role": "user", "parts": [{"type": "text", "content": "What is the weather in Paris?"}]},
    ]
    (call,) = json.loads(tool_turn["output"])
    assert call["parts"] == [
        {"type": "tool_call", "id": TOOL_CALL_ID, "name": "weather", "arguments": {"city": "Paris"}}
    ]
    assert json.loads(answer_turn["output"])[0]["parts"] == [{"type": "text", "content": OPENAI_ANSWER}]
    (tool,) = by_type(genai_trace, "TOOL")
    assert (json.loads(tool["input"]), json.loads(tool["output"])) == (
        {"city": "Paris"},
        {"city": "Paris", "forecast": "sunny"},
    )


def test_genai_runtime_context_names_session_and_user(genai_trace: dict[str, Any]) -> None:
    agents = by_type(genai_trace, "AGENT")
    assert {(s["session_id"], s["user_id"]) for s in agents} == {SESSION}
    assert (genai_trace["session_id"], genai_trace["user_id"]) == SESSION


@pytest.mark.xfail(
    strict=True,
    reason="invoke_agent spans carry their calls' summed gen_ai.usage.* (as the GenAI conventions allow) "
    "and a trace's totals add every span: each call is counted twice until usage on AGENT spans is "
    "treated as a roll-up (a decision for all GenAI agent instrumentations, not only this one)",
)
def test_genai_trace_totals_count_each_call_once(genai_trace: dict[str, Any]) -> None:
    calls = by_type(genai_trace, "LLM") + by_type(genai_trace, "EMBEDDING")
    assert genai_trace["input_tokens"] == sum(s["input_tokens"] for s in calls)


# --- LegacyOpenTelemetry: the ai.* spans -------------------------------------------------------


def test_legacy_spans_have_their_types(legacy_trace: dict[str, Any]) -> None:
    assert sorted((s["name"], s["span_type"]) for s in legacy_trace["spans"]) == [
        ("ai.embed", "CHAIN"),
        ("ai.embed.doEmbed", "EMBEDDING"),
        ("ai.generateText", "AGENT"),
        ("ai.generateText.doGenerate", "LLM"),
        ("ai.generateText.doGenerate", "LLM"),
        ("ai.streamText", "AGENT"),
        ("ai.streamText.doStream", "LLM"),
        ("ai.toolCall", "TOOL"),
        ("vercel-ai7-app", "CUSTOM"),
    ]


def test_legacy_model_calls_carry_tokens_with_cache_and_reasoning(legacy_trace: dict[str, Any]) -> None:
    assert_model_calls(by_type(legacy_trace, "LLM"))


def test_legacy_trace_totals_count_each_call_once(legacy_trace: dict[str, Any]) -> None:
    calls = by_type(legacy_trace, "LLM") + by_type(legacy_trace, "EMBEDDING")
    assert (
        legacy_trace["input_tokens"]
        == sum(s["input_tokens"] for s in calls)
        == sum(u[0] for u in USAGES) + EMBEDDING_TOKENS
    )
    assert legacy_trace["cost_usd"] == pytest.approx(sum(s["cost_usd"] for s in calls))


def test_legacy_content_and_session(legacy_trace: dict[str, Any]) -> None:
    tool_turn, answer_turn, _ = by_type(legacy_trace, "LLM")
    (call,) = json.loads(tool_turn["output"])  # ai.response.text is "" on a tool-call turn: the calls
    assert (call["toolCallId"], call["toolName"], call["input"]) == (
        TOOL_CALL_ID,
        "weather",
        {"city": "Paris"},
    )
    assert answer_turn["output"] == OPENAI_ANSWER
    ai_spans = [s for s in legacy_trace["spans"] if s["name"].startswith("ai.")]
    assert {(s["session_id"], s["user_id"]) for s in ai_spans} == {SESSION}
