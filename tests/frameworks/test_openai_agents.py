"""The OpenAI Agents SDK through OpenInference → `prela serve` over OTLP/gRPC.

An agent with one function tool runs against the fake server (function call, then answer), on the
Responses API (the SDK's default) and on Chat Completions. The OpenInference processor replaces the SDK's own (no upload to OpenAI); its spans are
OpenInference-typed, with `llm.*` token counts (cached and reasoning included) that the price table
prices (the Chat Completions path records the request model and no cached or reasoning
counts), and the session and user OpenInference's `using_attributes` put on every span.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
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


# Chat Completions: no cached-input discount, the table's gpt-4o-mini price on all 21 input tokens.
UNCACHED_COST_USD = round((llm.PROMPT_TOKENS * 0.15 + llm.COMPLETION_TOKENS * 0.6) / 1e6, 9)


@dataclass(frozen=True)
class Api:
    """What the instrumentation records on one model API's LLM spans."""

    name: str
    path: str
    span_name: str
    model: str
    cache_read_and_reasoning: tuple[int, int]
    cost_usd: float


APIS = {
    "responses": Api(
        "responses",
        "/v1/responses",
        "response",
        llm.MODEL,
        (llm.CACHED_TOKENS, llm.REASONING_TOKENS),
        llm.CALL_COST_USD,
    ),
    "chat": Api("chat", "/v1/chat/completions", "generation", llm.REQUEST_MODEL, (0, 0), UNCACHED_COST_USD),
}


@pytest.fixture(scope="module", params=list(APIS))
def run(request: pytest.FixtureRequest, prela_serve: PrelaServer) -> Iterator[tuple[Api, dict[str, Any]]]:
    """(the model API, the agent run's trace)."""
    api = APIS[request.param]
    with fake_llm_server() as fake:
        printed = run_app("openai_agents_app", prela_serve.grpc_endpoint, fake.base_url, api.name)
    assert printed == {"output": llm.ANSWER}
    assert [path for path, _ in fake.requests] == [api.path] * 2
    (trace_id,) = trace_ids_of_service(prela_serve, f"{SERVICE}-{api.name}", 1)
    yield api, wait_for_trace(prela_serve, trace_id, 8)


def test_workflow_agent_turns_model_calls_and_tool_are_typed(run: tuple[Api, dict[str, Any]]) -> None:
    api, trace = run
    by_id = {s["span_id"]: s for s in trace["spans"]}
    (root,) = [s for s in trace["spans"] if s["parent_span_id"] is None]
    (agent,) = spans_named(trace, "weather agent")
    calls = spans_named(trace, api.span_name)
    (tool,) = spans_named(trace, "get_weather")
    assert (root["name"], root["span_type"]) == ("Agent workflow", "AGENT")
    assert agent["span_type"] == "AGENT"
    assert [s["span_type"] for s in spans_named(trace, "turn")] == ["CHAIN", "CHAIN"]
    assert [c["span_type"] for c in calls] == ["LLM", "LLM"]
    assert tool["span_type"] == "TOOL"
    assert {by_id[c["parent_span_id"]]["name"] for c in calls} == {"turn"}
    assert tool["parent_span_id"] == calls[0]["parent_span_id"]  # the tool runs in the first turn


def test_model_calls_are_priced_from_their_token_counts(
    run: tuple[Api, dict[str, Any]], prela_serve: PrelaServer
) -> None:
    api, trace = run
    for call in spans_named(trace, api.span_name):
        assert (call["model"], call["provider"]) == (api.model, "openai")
        assert (call["input_tokens"], call["output_tokens"], call["total_tokens"]) == (
            llm.PROMPT_TOKENS,
            llm.COMPLETION_TOKENS,
            llm.PROMPT_TOKENS + llm.COMPLETION_TOKENS,
        )
        assert (call["cache_read_tokens"], call["reasoning_tokens"]) == api.cache_read_and_reasoning
        assert call["cost_usd"] == pytest.approx(api.cost_usd)  # gpt-4o-mini's price, cached input at 50%
    summary = trace_summary(prela_serve, trace["trace_id"], f"{SERVICE}-{api.name}")
    assert summary["input_tokens"] == 2 * llm.PROMPT_TOKENS
    assert summary["cost_usd"] == pytest.approx(2 * api.cost_usd)


def test_model_calls_and_tool_carry_their_content(run: tuple[Api, dict[str, Any]]) -> None:
    api, trace = run
    first, second = spans_named(trace, api.span_name)
    (tool,) = spans_named(trace, "get_weather")
    assert json_content(first, "input") == [SYSTEM, USER_MESSAGE]
    assert json_content(first, "output") == [TOOL_CALL]
    assert json_content(second, "input") == [SYSTEM, USER_MESSAGE, TOOL_CALL, TOOL_RESULT]
    assert json_content(second, "output") == [{"role": "assistant", "content": llm.ANSWER}]
    assert (json_content(tool, "input"), tool["output"]) == (llm.TOOL_ARGUMENTS, llm.TOOL_RESULT)


def test_session_and_user_are_on_every_span(
    run: tuple[Api, dict[str, Any]], prela_serve: PrelaServer
) -> None:
    api, trace = run
    assert {(s["session_id"], s["user_id"]) for s in trace["spans"]} == {(SESSION, USER)}
    summary = trace_summary(prela_serve, trace["trace_id"], f"{SERVICE}-{api.name}")
    assert (summary["session_id"], summary["user_id"]) == (SESSION, USER)
