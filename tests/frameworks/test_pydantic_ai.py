"""pydantic-ai's own instrumentation (GenAI semconv, message lists on the span) → `prela serve`.

A pydantic-ai agent with one tool runs against the fake LLM server (tool call, then answer) and
exports over OTLP/HTTP; the trace read back has the agent, both model calls and the tool, typed,
priced and with their content, and the run's conversation id as its session.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import PrelaServer
from tests.frameworks import fake_llm_py as llm
from tests.frameworks.apps_py import json_content, run_app, spans_named, trace_ids_of_service, trace_summary
from tests.frameworks.fake_llm_py import FakeLLM, fake_llm_server
from tests.integration.test_otel_exporters import wait_for_trace

pytestmark = pytest.mark.integration

SERVICE = "pydantic-ai-app"
SYSTEM = {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]}
USER = {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]}
TOOL_CALL = {
    "role": "assistant",
    "parts": [
        {"type": "tool_call", "id": llm.CALL_ID, "name": "get_weather", "arguments": '{"city": "Paris"}'}
    ],
    "finish_reason": "tool_call",
}
TOOL_RESULT = {
    "role": "user",  # pydantic-ai's default instrumentation format (version 5) sends tool results as user
    "parts": [
        {"type": "tool_call_response", "id": llm.CALL_ID, "name": "get_weather", "result": llm.TOOL_RESULT}
    ],
}
ANSWER = {"role": "assistant", "parts": [{"type": "text", "content": llm.ANSWER}], "finish_reason": "stop"}


@pytest.fixture(scope="module")
def trace(prela_serve: PrelaServer) -> Iterator[dict[str, Any]]:
    fake: FakeLLM
    with fake_llm_server() as fake:
        printed = run_app("pydantic_ai_app", prela_serve.ingest_url, fake.base_url)
    assert printed == {"output": llm.ANSWER}
    assert [path for path, _ in fake.requests] == ["/v1/chat/completions"] * 2
    (trace_id,) = trace_ids_of_service(prela_serve, SERVICE, 1)
    yield wait_for_trace(prela_serve, trace_id, 4)


def test_agent_model_calls_and_tool_are_typed_and_nested(trace: dict[str, Any]) -> None:
    (agent,) = spans_named(trace, "invoke_agent weather_agent")
    calls = spans_named(trace, f"chat {llm.REQUEST_MODEL}")
    (tool,) = spans_named(trace, "execute_tool get_weather")
    assert (agent["span_type"], agent["parent_span_id"]) == ("AGENT", None)
    assert [c["span_type"] for c in calls] == ["LLM", "LLM"]
    assert tool["span_type"] == "TOOL"
    assert {s["parent_span_id"] for s in (*calls, tool)} == {agent["span_id"]}
    assert len(trace["spans"]) == 4


def test_model_calls_carry_model_provider_tokens_and_cost(trace: dict[str, Any]) -> None:
    for call in spans_named(trace, f"chat {llm.REQUEST_MODEL}"):
        assert (call["model"], call["request_model"], call["provider"]) == (
            llm.MODEL,
            llm.REQUEST_MODEL,
            "openai",
        )
        assert (call["input_tokens"], call["output_tokens"], call["total_tokens"]) == (
            llm.PROMPT_TOKENS,
            llm.COMPLETION_TOKENS,
            llm.PROMPT_TOKENS + llm.COMPLETION_TOKENS,
        )
        assert (call["cache_read_tokens"], call["reasoning_tokens"]) == (
            llm.CACHED_TOKENS,
            llm.REASONING_TOKENS,
        )
        # pydantic-ai reports its own price (`operation.cost`); it agrees with the price table here.
        assert call["attributes"]["operation.cost"] == pytest.approx(llm.CALL_COST_USD)
        assert call["cost_usd"] == pytest.approx(llm.CALL_COST_USD)


def test_agent_run_does_not_count_its_calls_twice(trace: dict[str, Any], prela_serve: PrelaServer) -> None:
    (agent,) = spans_named(trace, "invoke_agent weather_agent")
    assert agent["attributes"]["gen_ai.aggregated_usage.input_tokens"] == 2 * llm.PROMPT_TOKENS
    assert (agent["input_tokens"], agent["cost_usd"]) == (0, 0)
    summary = trace_summary(prela_serve, trace["trace_id"], SERVICE)
    assert (summary["input_tokens"], summary["output_tokens"]) == (
        2 * llm.PROMPT_TOKENS,
        2 * llm.COMPLETION_TOKENS,
    )
    assert summary["cost_usd"] == pytest.approx(2 * llm.CALL_COST_USD)
    assert sorted(summary["span_types"]) == ["AGENT", "LLM", "TOOL"]


def test_model_calls_carry_the_gen_ai_messages(trace: dict[str, Any]) -> None:
    first, second = spans_named(trace, f"chat {llm.REQUEST_MODEL}")
    assert json_content(first, "input") == [SYSTEM, USER]
    assert json_content(first, "output") == [TOOL_CALL]
    assert json_content(second, "input") == [SYSTEM, USER, TOOL_CALL, TOOL_RESULT]
    assert json_content(second, "output") == [ANSWER]


def test_agent_and_tool_carry_their_content(trace: dict[str, Any]) -> None:
    (agent,) = spans_named(trace, "invoke_agent weather_agent")
    (tool,) = spans_named(trace, "execute_tool get_weather")
    assert json_content(agent, "input") == [SYSTEM, USER, TOOL_CALL, TOOL_RESULT, ANSWER]
    assert agent["output"] == llm.ANSWER
    assert json_content(tool, "input") == llm.TOOL_ARGUMENTS
    assert tool["output"] == llm.TOOL_RESULT


def test_conversation_id_is_the_session_of_every_span(
    trace: dict[str, Any], prela_serve: PrelaServer
) -> None:
    assert {s["session_id"] for s in trace["spans"]} == {"conv-pydantic-1"}
    assert trace_summary(prela_serve, trace["trace_id"], SERVICE)["session_id"] == "conv-pydantic-1"
