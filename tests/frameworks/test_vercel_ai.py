"""The Vercel AI SDK (Node.js) with `experimental_telemetry`, exported by `@opentelemetry/sdk-node`
to a real `prela serve`: the `ai.*` conventions become span types, models, providers, tokens, cost,
content, session and user.

tests/frameworks/node/app.mjs runs generateText with one tool call (two model calls), streamText,
embed, and generateText through the OpenRouter provider (which reports the call's cost in its provider
metadata) against the fake OpenAI server, under one root span. `npm ci` runs once per session into
tests/frameworks/node/node_modules (git- and Docker-ignored) with a package cache; the tests are skipped
only when `node` is not installed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from prela.collector.pricing import cost_usd
from prela.model.timestamps import parse_timestamp
from tests.conftest import PrelaServer
from tests.frameworks.conftest import only, run_node_app
from tests.frameworks.fake_llm import (
    EMBEDDING_MODEL,
    EMBEDDING_TOKENS,
    OPENAI_ANSWER,
    OPENAI_ANSWER_USAGE,
    OPENAI_MODEL,
    OPENAI_STREAM_USAGE,
    OPENAI_TOOL_USAGE,
    OPENROUTER_COST,
    OPENROUTER_MODEL,
    TOOL_CALL_ID,
    FakeLLM,
)
from tests.integration.test_otel_exporters import wait_for_trace

pytestmark = pytest.mark.integration

SESSION = {"session_id": "session-vercel-1", "user_id": "user-vercel-1"}


@pytest.fixture(scope="module")
def vercel_trace(node_ai5_app: Path, fake_llm: FakeLLM, prela_serve: PrelaServer) -> dict[str, Any]:
    """The trace the app sent, once its eleven spans are stored."""
    trace_id = run_node_app(
        node_ai5_app, FAKE_OPENAI_URL=f"{fake_llm.url}/v1", PRELA_OTLP_URL=prela_serve.ingest_url
    )
    return wait_for_trace(prela_serve, trace_id, 11)


def model_calls(trace: dict[str, Any], name: str, provider: str = "openai") -> list[dict[str, Any]]:
    spans = (s for s in trace["spans"] if s["name"] == name and s["provider"] == provider)
    return sorted(spans, key=lambda s: parse_timestamp(s["started_at"]))


def test_each_ai_operation_has_its_span_type(vercel_trace: dict[str, Any]) -> None:
    types = sorted((s["name"], s["span_type"]) for s in vercel_trace["spans"])
    assert types == [
        ("ai.embed", "CHAIN"),
        ("ai.embed.doEmbed", "EMBEDDING"),
        ("ai.generateText", "AGENT"),
        ("ai.generateText", "AGENT"),
        ("ai.generateText.doGenerate", "LLM"),
        ("ai.generateText.doGenerate", "LLM"),
        ("ai.generateText.doGenerate", "LLM"),
        ("ai.streamText", "AGENT"),
        ("ai.streamText.doStream", "LLM"),
        ("ai.toolCall", "TOOL"),
        ("vercel-ai-app", "CUSTOM"),
    ]


def test_model_calls_carry_model_provider_tokens_and_price(vercel_trace: dict[str, Any]) -> None:
    tool_turn, answer_turn = model_calls(vercel_trace, "ai.generateText.doGenerate")
    (stream,) = model_calls(vercel_trace, "ai.streamText.doStream")
    # generateText records prompt/completion tokens only; streamText also the cache and reasoning ones.
    expected = [
        (tool_turn, (*OPENAI_TOOL_USAGE[:2], 0, 0)),
        (answer_turn, (*OPENAI_ANSWER_USAGE[:2], 0, 0)),
        (stream, OPENAI_STREAM_USAGE),
    ]
    for span, (prompt, completion, cached, reasoning) in expected:
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
    assert stream["cost_usd"] < cost_usd(OPENAI_MODEL, 10, 3)  # cache reads are cheaper


def test_the_agent_spans_do_not_count_their_calls_twice(vercel_trace: dict[str, Any]) -> None:
    # ai.generateText repeats its steps' usage; the trace's tokens are those of the model calls.
    wrappers = [s for s in vercel_trace["spans"] if s["span_type"] in ("AGENT", "CHAIN")]
    assert len(wrappers) == 4
    for span in wrappers:
        assert (span["input_tokens"], span["output_tokens"], span["cost_usd"]) == (0, 0, 0.0)
        assert span["provider"] in ("openai", "openrouter") and span["model"]
    calls = [s for s in vercel_trace["spans"] if s["span_type"] in ("LLM", "EMBEDDING")]
    assert sum(s["input_tokens"] for s in vercel_trace["spans"]) == sum(s["input_tokens"] for s in calls)
    assert sum(s["input_tokens"] for s in calls) == (
        OPENAI_TOOL_USAGE[0] + 2 * OPENAI_ANSWER_USAGE[0] + OPENAI_STREAM_USAGE[0] + EMBEDDING_TOKENS
    )


def test_a_cost_the_provider_reported_wins_over_the_price_table(vercel_trace: dict[str, Any]) -> None:
    (call,) = model_calls(vercel_trace, "ai.generateText.doGenerate", provider="openrouter")
    assert (call["model"], call["input_tokens"], call["output_tokens"]) == (
        OPENROUTER_MODEL,
        *OPENAI_ANSWER_USAGE[:2],
    )
    assert (
        json.loads(call["attributes"]["ai.response.providerMetadata"])["openrouter"]["usage"]["cost"]
        == OPENROUTER_COST
    )
    assert call["cost_usd"] == pytest.approx(OPENROUTER_COST)
    assert cost_usd(OPENROUTER_MODEL, *OPENAI_ANSWER_USAGE[:2]) != pytest.approx(OPENROUTER_COST)


def test_embedding_call_is_priced_from_its_tokens(vercel_trace: dict[str, Any]) -> None:
    span = only(vercel_trace["spans"], "ai.embed.doEmbed")
    assert (span["model"], span["provider"], span["input_tokens"]) == (
        EMBEDDING_MODEL,
        "openai",
        EMBEDDING_TOKENS,
    )
    assert span["cost_usd"] == pytest.approx(cost_usd(EMBEDDING_MODEL, EMBEDDING_TOKENS, 0))
    assert json.loads(span["input"]) == ['"sunny day in Paris"']


def test_content_of_model_calls_tools_and_agents(vercel_trace: dict[str, Any]) -> None:
    tool_turn, answer_turn = model_calls(vercel_trace, "ai.generateText.doGenerate")
    assert json.loads(tool_turn["input"]) == [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": [{"type": "text", "text": "What is the weather in Paris?"}]},
    ]
    (call,) = json.loads(tool_turn["output"])
    assert (call["toolCallId"], call["toolName"], json.loads(call["input"])) == (
        TOOL_CALL_ID,
        "weather",
        {"city": "Paris"},
    )
    assert [m["role"] for m in json.loads(answer_turn["input"])] == ["system", "user", "assistant", "tool"]
    assert answer_turn["output"] == OPENAI_ANSWER
    tool = only(vercel_trace["spans"], "ai.toolCall")
    assert (json.loads(tool["input"]), json.loads(tool["output"])) == (
        {"city": "Paris"},
        {"city": "Paris", "forecast": "sunny"},
    )
    (agent,) = [
        s for s in vercel_trace["spans"] if s["name"] == "ai.generateText" and s["provider"] == "openai"
    ]
    assert json.loads(agent["input"]) == {
        "system": "Answer briefly.",
        "prompt": "What is the weather in Paris?",
    }
    assert agent["output"] == OPENAI_ANSWER
    assert only(vercel_trace["spans"], "ai.streamText.doStream")["output"] == "Hello!"


def test_telemetry_metadata_names_session_and_user(vercel_trace: dict[str, Any]) -> None:
    ai_spans = [s for s in vercel_trace["spans"] if s["name"].startswith("ai.")]
    assert len(ai_spans) == 10
    assert {(s["session_id"], s["user_id"]) for s in ai_spans} == {
        (SESSION["session_id"], SESSION["user_id"])
    }
