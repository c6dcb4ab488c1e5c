"""LlamaIndex through OpenInference → `prela serve` over OTLP/HTTP.

An `llm.chat` and a `FunctionAgent` with one tool run against the fake server. LlamaIndex's OpenAI
integration cannot be installed beside the rest of the dev extra (see OPENAI_LLM_CONFLICT), so the
LLM is LlamaIndex's LiteLLM integration (`openai/` provider + `api_base`); the OpenAI variant runs
wherever `llama-index-llms-openai` is importable.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import PrelaServer
from tests.frameworks import fake_llm_py as llm
from tests.frameworks.apps_py import json_content, run_app, spans_named, trace_ids_of_service, trace_summary
from tests.frameworks.apps_py.llama_index_app import SERVICE, SESSION, USER
from tests.frameworks.fake_llm_py import fake_llm_server
from tests.integration.test_otel_exporters import wait_for_trace

pytestmark = pytest.mark.integration

OPENAI_LLM_CONFLICT = (
    "llama-index-llms-openai (0.8.3, the latest) requires openai<3, while pydantic-ai-slim[openai] "
    "requires openai>=3.31 and openai-agents>=0.21 requires openai>=3: they cannot share one environment"
)
LLM_CLASSES = {"litellm": ("LiteLLM", f"openai/{llm.REQUEST_MODEL}"), "openai": ("OpenAI", llm.REQUEST_MODEL)}
SYSTEM = {"role": "system", "content": "Be brief."}
USER_MESSAGE = {"role": "user", "content": "Weather in Paris?"}
TOOL_CALL = {
    "role": "assistant",
    "tool_calls.0.tool_call.id": llm.CALL_ID,
    "tool_calls.0.tool_call.function.name": "get_weather",
    "tool_calls.0.tool_call.function.arguments": '{"city": "Paris"}',
}
TOOL_RESULT = {"role": "tool", "content": llm.TOOL_RESULT, "tool_call_id": llm.CALL_ID}
ANSWER = {"role": "assistant", "content": llm.ANSWER}


@pytest.fixture(
    scope="module",
    params=[
        "litellm",
        pytest.param(
            "openai",
            marks=pytest.mark.skipif(
                importlib.util.find_spec("llama_index.llms.openai") is None, reason=OPENAI_LLM_CONFLICT
            ),
        ),
    ],
)
def run(
    request: pytest.FixtureRequest, prela_serve: PrelaServer
) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(LLM class name, the `llm.chat` trace, the agent run's trace)."""
    kind: str = request.param
    with fake_llm_server() as fake:
        printed = run_app("llama_index_app", prela_serve.ingest_url, fake.base_url, kind)
    assert printed == {"chat": llm.ANSWER, "agent": llm.ANSWER}
    assert [path for path, _ in fake.requests] == ["/v1/chat/completions"] * 3
    chat_id, agent_id = trace_ids_of_service(prela_serve, f"{SERVICE}-{kind}", 2)
    yield kind, wait_for_trace(prela_serve, chat_id, 1), wait_for_trace(prela_serve, agent_id, 15)


def test_chat_is_one_priced_llm_span_with_its_messages(
    run: tuple[str, dict[str, Any], dict[str, Any]],
) -> None:
    kind, chat_trace, _ = run
    cls, model = LLM_CLASSES[kind]
    (chat,) = chat_trace["spans"]
    assert (chat["name"], chat["span_type"], chat["model"]) == (f"{cls}.chat", "LLM", model)
    assert (
        chat["input_tokens"],
        chat["output_tokens"],
        chat["cache_read_tokens"],
        chat["reasoning_tokens"],
    ) == (
        llm.PROMPT_TOKENS,
        llm.COMPLETION_TOKENS,
        llm.CACHED_TOKENS,
        llm.REASONING_TOKENS,
    )
    assert chat["cost_usd"] == pytest.approx(
        llm.CALL_COST_USD
    )  # `openai/gpt-4o-mini` takes gpt-4o-mini's price
    assert json_content(chat, "input") == [SYSTEM, USER_MESSAGE]
    assert json_content(chat, "output") == [ANSWER]


def test_agent_run_is_a_chain_of_steps_with_llm_calls_and_the_tool(
    run: tuple[str, dict[str, Any], dict[str, Any]],
) -> None:
    kind, _, trace = run
    cls, _ = LLM_CLASSES[kind]
    (root,) = [s for s in trace["spans"] if s["parent_span_id"] is None]
    assert (root["name"], root["span_type"]) == ("FunctionAgent.run", "CHAIN")
    assert {s["span_type"] for s in spans_named(trace, "BaseWorkflowAgent.run_agent_step")} == {"CHAIN"}
    (tool,) = spans_named(trace, "FunctionTool.acall")
    assert tool["span_type"] == "TOOL"
    assert json_content(tool, "input") == {"kwargs": llm.TOOL_ARGUMENTS}
    assert json_content(tool, "output")["raw_output"] == llm.TOOL_RESULT
    # OpenInference types LlamaIndex's tool-preparation step as an LLM span too; it has no tokens.
    assert [s["input_tokens"] for s in spans_named(trace, f"{cls}._prepare_chat_with_tools")] == [0, 0]


def test_agent_model_calls_carry_tokens_cost_and_the_tool_exchange(
    run: tuple[str, dict[str, Any], dict[str, Any]], prela_serve: PrelaServer
) -> None:
    kind, _, trace = run
    cls, _ = LLM_CLASSES[kind]
    first, second = spans_named(trace, f"{cls}.achat")
    assert [c["span_type"] for c in (first, second)] == ["LLM", "LLM"]
    assert [c["cost_usd"] for c in (first, second)] == [pytest.approx(llm.CALL_COST_USD)] * 2
    assert json_content(first, "output") == [TOOL_CALL]
    assert json_content(second, "input") == [SYSTEM, USER_MESSAGE, TOOL_CALL, TOOL_RESULT]
    assert json_content(second, "output") == [ANSWER]
    summary = trace_summary(prela_serve, trace["trace_id"], f"{SERVICE}-{kind}")
    assert (summary["input_tokens"], summary["cost_usd"]) == (
        2 * llm.PROMPT_TOKENS,
        pytest.approx(2 * llm.CALL_COST_USD),
    )


def test_session_and_user_are_on_every_span(run: tuple[str, dict[str, Any], dict[str, Any]]) -> None:
    _, chat_trace, trace = run
    assert {(s["session_id"], s["user_id"]) for s in (*chat_trace["spans"], *trace["spans"])} == {
        (SESSION, USER)
    }
