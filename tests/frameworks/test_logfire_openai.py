"""logfire's OpenAI instrumentation → `prela serve` over OTLP/gRPC.

logfire 5 writes the GenAI conventions by default (`gen_ai.input.messages` / `gen_ai.output.messages`,
usage, `operation.cost`); its legacy format (`version=1`) keeps the request and response whole in
`request_data` / `response_data`, which become the span's content as sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from prela.model.timestamps import parse_timestamp
from tests.conftest import PrelaServer
from tests.frameworks import fake_llm_py as llm
from tests.frameworks.apps_py import json_content, run_app, trace_ids_of_service, trace_summary
from tests.frameworks.apps_py.logfire_openai_app import MESSAGES, SERVICE
from tests.frameworks.fake_llm_py import fake_llm_server
from tests.integration.test_otel_exporters import wait_for_trace

pytestmark = pytest.mark.integration

SPAN_NAME = "Chat Completion with {request_data[model]!r}"  # logfire names spans by message template
INPUT = [
    {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
    {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
]
TOOL_CALL_OUTPUT = [
    {
        "role": "assistant",
        "parts": [
            {"type": "tool_call", "id": llm.CALL_ID, "name": "get_weather", "arguments": llm.TOOL_ARGUMENTS}
        ],
        "finish_reason": "tool_calls",
    }
]


@pytest.fixture(scope="module")
def trace(prela_serve: PrelaServer) -> Iterator[dict[str, Any]]:
    with fake_llm_server() as fake:
        run_app("logfire_openai_app", prela_serve.grpc_endpoint, fake.base_url)
    assert len(fake.requests) == 2
    (trace_id,) = trace_ids_of_service(prela_serve, SERVICE, 1)
    yield wait_for_trace(prela_serve, trace_id, 3)


def calls(trace: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    semconv, legacy = sorted(
        (s for s in trace["spans"] if s["name"] == SPAN_NAME), key=lambda s: parse_timestamp(s["started_at"])
    )
    return semconv, legacy


def test_both_formats_are_llm_calls_under_the_app_span(trace: dict[str, Any]) -> None:
    (root,) = [s for s in trace["spans"] if s["parent_span_id"] is None]
    assert (root["name"], root["span_type"]) == ("weather question", "CUSTOM")
    for call in calls(trace):
        assert (call["span_type"], call["parent_span_id"]) == ("LLM", root["span_id"])
        assert (call["model"], call["request_model"], call["provider"]) == (
            llm.MODEL,
            llm.REQUEST_MODEL,
            "openai",
        )


def test_tokens_and_the_reported_cost_land_in_both_formats(
    trace: dict[str, Any], prela_serve: PrelaServer
) -> None:
    for call in calls(trace):
        assert (call["input_tokens"], call["output_tokens"], call["cache_read_tokens"]) == (
            llm.PROMPT_TOKENS,
            llm.COMPLETION_TOKENS,
            llm.CACHED_TOKENS,
        )
        # logfire records reasoning tokens only inside `gen_ai.usage.raw` (a JSON blob), not as a count.
        assert call["reasoning_tokens"] == 0
        assert call["attributes"]["operation.cost"] == pytest.approx(llm.CALL_COST_USD)
        assert call["cost_usd"] == pytest.approx(llm.CALL_COST_USD)
    assert trace_summary(prela_serve, trace["trace_id"], SERVICE)["cost_usd"] == pytest.approx(
        2 * llm.CALL_COST_USD
    )


def test_default_format_content_is_the_gen_ai_messages(trace: dict[str, Any]) -> None:
    semconv, _ = calls(trace)
    assert json_content(semconv, "input") == INPUT
    assert json_content(semconv, "output") == TOOL_CALL_OUTPUT


def test_legacy_format_content_is_the_request_and_response_as_sent(trace: dict[str, Any]) -> None:
    _, legacy = calls(trace)
    assert json_content(legacy, "input") == {"model": llm.REQUEST_MODEL, "messages": MESSAGES}
    output = json_content(legacy, "output")
    assert (output["message"]["role"], output["message"]["content"]) == ("assistant", llm.ANSWER)
    assert output["usage"]["prompt_tokens"] == llm.PROMPT_TOKENS
