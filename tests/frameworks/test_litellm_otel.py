"""LiteLLM's OpenTelemetry callback → `prela serve`, configured the documented way (environment).

Each `litellm.completion` is a trace of its own: `litellm_request` (the model call, GenAI attributes,
LiteLLM's own cost `gen_ai.cost.total_cost`, the end user as `llm.user`) with a `raw_gen_ai_request`
child holding the provider's raw request and response.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import PrelaServer
from tests.frameworks import fake_llm_py as llm
from tests.frameworks.apps_py import json_content, run_app, spans_named, trace_ids_of_service, trace_summary
from tests.frameworks.apps_py.litellm_app import USER
from tests.frameworks.fake_llm_py import fake_llm_server
from tests.integration.test_otel_exporters import wait_for_trace

pytestmark = pytest.mark.integration

SERVICE = "litellm-app"
INPUT = [
    {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
    {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
]


@pytest.fixture(scope="module")
def traces(prela_serve: PrelaServer) -> Iterator[list[dict[str, Any]]]:
    env = {
        "OTEL_EXPORTER": "otlp_http",
        "OTEL_ENDPOINT": f"{prela_serve.ingest_url}/v1/traces",
        "OTEL_SERVICE_NAME": SERVICE,
    }
    with fake_llm_server() as fake:
        run_app("litellm_app", fake.base_url, env=env)
    assert [path for path, _ in fake.requests] == ["/v1/chat/completions"] * 2
    yield [wait_for_trace(prela_serve, t, 2) for t in trace_ids_of_service(prela_serve, SERVICE, 2)]


def test_each_call_is_an_llm_span_over_the_raw_request(traces: list[dict[str, Any]]) -> None:
    for trace in traces:
        (call,) = spans_named(trace, "litellm_request")
        (raw,) = spans_named(trace, "raw_gen_ai_request")
        assert (call["span_type"], call["parent_span_id"]) == ("LLM", None)
        assert (raw["span_type"], raw["parent_span_id"]) == ("CUSTOM", call["span_id"])
        assert (call["model"], call["request_model"], call["provider"]) == (
            llm.MODEL,
            llm.REQUEST_MODEL,
            "openai",
        )


def test_tokens_and_litellm_cost_land(traces: list[dict[str, Any]], prela_serve: PrelaServer) -> None:
    for trace in traces:
        (call,) = spans_named(trace, "litellm_request")
        assert (call["input_tokens"], call["output_tokens"], call["total_tokens"]) == (
            llm.PROMPT_TOKENS,
            llm.COMPLETION_TOKENS,
            llm.PROMPT_TOKENS + llm.COMPLETION_TOKENS,
        )
        # LiteLLM puts cached and reasoning counts only in `metadata.usage_object` (a Python repr).
        assert (call["cache_read_tokens"], call["reasoning_tokens"]) == (0, 0)
        assert call["attributes"]["gen_ai.cost.total_cost"] == pytest.approx(llm.CALL_COST_USD)
        assert call["cost_usd"] == pytest.approx(llm.CALL_COST_USD)
        assert trace_summary(prela_serve, trace["trace_id"], SERVICE)["cost_usd"] == pytest.approx(
            llm.CALL_COST_USD
        )


def test_content_is_the_gen_ai_messages(traces: list[dict[str, Any]]) -> None:
    (tool_call,) = spans_named(traces[0], "litellm_request")
    (answer,) = spans_named(traces[1], "litellm_request")
    assert json_content(tool_call, "input") == json_content(answer, "input") == INPUT
    # LiteLLM leaves the tool call out of `gen_ai.output.messages` (it is in gen_ai.completion.0.function_call.*).
    assert json_content(tool_call, "output") == [
        {"role": "assistant", "parts": [], "finish_reason": "tool_calls"}
    ]
    assert tool_call["attributes"]["gen_ai.completion.0.function_call.name"] == "get_weather"
    assert json_content(answer, "output") == [
        {"role": "assistant", "parts": [{"type": "text", "content": llm.ANSWER}], "finish_reason": "stop"}
    ]


def test_the_end_user_is_the_user_and_litellm_sets_the_environment(
    traces: list[dict[str, Any]], prela_serve: PrelaServer
) -> None:
    for trace in traces:
        (call,) = spans_named(trace, "litellm_request")
        assert (call["user_id"], call["session_id"], call["environment"]) == (USER, "", "production")
        summary = trace_summary(prela_serve, trace["trace_id"], SERVICE)
        assert (summary["user_id"], summary["environment"]) == (USER, "production")
