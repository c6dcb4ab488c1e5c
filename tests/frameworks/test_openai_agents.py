"""The OpenAI Agents SDK through OpenInference → `prela serve` over OTLP/gRPC.

An agent with one function tool runs on the Responses API against the fake server (function call,
then answer). The OpenInference processor replaces the SDK's own (no upload to OpenAI); its spans are
OpenInference-typed, with `llm.*` token counts (cached and reasoning included) that the price table
prices, and the session and user OpenInference's `using_attributes` put on every span.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import PrelaServer
from tests.frameworks import fake_llm_py as llm
from tests.frameworks.apps_py import json_content, run_app, spans_named, trace_ids_of_service, trace_summary
from tests.frameworks.apps_py.openai_agents_app import SERVICE, SESSION, USER
from tests.frameworks.fake_llm_py import fake_llm_server
from tests.integration.test_otel_exporters import wait_for_trace

pytestmark = pytest.mark.integration

SYSTEM = {"role": "system", "content": "Be brief."}
USER_MESSAGE = {"role": "user", "content": "Weather in Paris?"}
# The existing OpenInference mapping keeps a message's non-content members flat, as sent.
TOOL_CALL = {
    "role": "assistant",
    "tool_calls.0.tool_call.id": llm.CALL_ID,
    "tool_calls.0.tool_call.function.name": "get_weather",
    "tool_calls.0.tool_call.function.arguments": '{"city": "Paris"}',
}
TOOL_RESULT = {"role": "tool", "tool_call_id": llm.CALL_ID, "content": llm.TOOL_RESULT}


@pytest.fixture(scope="module")
def trace(prela_serve: PrelaServer) -> Iterator[dict[str, Any]]:
    with fake_llm_server() as fake:
        printed = run_app("openai_agents_app", prela_serve.grpc_endpoint, fake.base_url)
    assert printed == {"output": llm.ANSWER}
    assert [path for path, _ in fake.requests] == ["/v1/responses"] * 2
    (trace_id,) = trace_ids_of_service(prela_serve, SERVICE, 1)
    yield wait_for_trace(prela_serve, trace_id, 8)


def test_workflow_agent_turns_model_calls_and_tool_are_typed(trace: dict[str, Any]) -> None:
    by_id = {s["span_id"]: s for s in trace["spans"]}
    (root,) = [s for s in trace["spans"] if s["parent_span_id"] is None]
    (agent,) = spans_named(trace, "weather agent")
    calls = spans_named(trace, "response")
    (tool,) = spans_named(trace, "get_weather")
    assert (root["name"], root["span_type"]) == ("Agent workflow", "AGENT")
    assert agent["span_type"] == "AGENT"
    assert [s["span_type"] for s in spans_named(trace, "turn")] == ["CHAIN", "CHAIN"]
    assert [c["span_type"] for c in calls] == ["LLM", "LLM"]
    assert tool["span_type"] == "TOOL"
    assert {by_id[c["parent_span_id"]]["name"] for c in calls} == {"turn"}
    assert tool["parent_span_id"] == calls[0]["parent_span_id"]  # the tool runs in the first turn


def test_model_calls_are_priced_from_their_token_counts(
    trace: dict[str, Any], prela_serve: PrelaServer
) -> None:
    for call in spans_named(trace, "response"):
        assert (call["model"], call["provider"]) == (llm.MODEL, "openai")
        assert (call["input_tokens"], call["output_tokens"], call["total_tokens"]) == (
            llm.PROMPT_TOKENS,
            llm.COMPLETION_TOKENS,
            llm.PROMPT_TOKENS + llm.COMPLETION_TOKENS,
        )
        assert (call["cache_read_tokens"], call["reasoning_tokens"]) == (
            llm.CACHED_TOKENS,
            llm.REASONING_TOKENS,
        )
        assert call["cost_usd"] == pytest.approx(
            llm.CALL_COST_USD
        )  # gpt-4o-mini's price, cached input at 50%
    summary = trace_summary(prela_serve, trace["trace_id"], SERVICE)
    assert (summary["input_tokens"], summary["cost_usd"]) == (
        2 * llm.PROMPT_TOKENS,
        pytest.approx(2 * llm.CALL_COST_USD),
    )


def test_model_calls_and_tool_carry_their_content(trace: dict[str, Any]) -> None:
    first, second = spans_named(trace, "response")
    (tool,) = spans_named(trace, "get_weather")
    assert json_content(first, "input") == [SYSTEM, USER_MESSAGE]
    assert json_content(first, "output") == [TOOL_CALL]
    assert json_content(second, "input") == [SYSTEM, USER_MESSAGE, TOOL_CALL, TOOL_RESULT]
    assert json_content(second, "output") == [{"role": "assistant", "content": llm.ANSWER}]
    assert (json_content(tool, "input"), tool["output"]) == (llm.TOOL_ARGUMENTS, llm.TOOL_RESULT)


def test_session_and_user_are_on_every_span(trace: dict[str, Any], prela_serve: PrelaServer) -> None:
    assert {(s["session_id"], s["user_id"]) for s in trace["spans"]} == {(SESSION, USER)}
    summary = trace_summary(prela_serve, trace["trace_id"], SERVICE)
    assert (summary["session_id"], summary["user_id"]) == (SESSION, USER)
