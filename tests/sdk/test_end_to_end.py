"""The SDK against a real `prela serve`: stock instrumentations, decorators, content capture."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from typing import Any

import pytest
from opentelemetry.trace import SpanKind

import prela
from tests.conftest import PrelaServer
from tests.sdk import fake_openai
from tests.sdk.conftest import spans_by_name, wait_for_trace

pytestmark = pytest.mark.integration


def _run_openai_app(prela_serve: PrelaServer, **env: str) -> dict[str, Any]:
    with fake_openai.fake_openai_server() as openai_url:
        result = subprocess.run(
            [sys.executable, "-m", "tests.sdk.apps.openai_app", prela_serve.ingest_url, openai_url],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **env},
        )
    assert result.returncode == 0, result.stderr
    return wait_for_trace(prela_serve.query_url, result.stdout.strip(), 3)


def test_openai_app_with_stock_instrumentations_is_typed_by_prela(prela_serve: PrelaServer) -> None:
    trace = _run_openai_app(prela_serve)
    spans = spans_by_name(trace)
    agent, llm, http = spans["answer-question"], spans["ChatCompletion"], spans["POST"]
    assert trace["service_name"] == "openai-app"
    assert agent["parent_span_id"] is None
    assert agent["span_type"] == "AGENT"
    assert llm["parent_span_id"] == agent["span_id"]
    assert llm["span_type"] == "LLM"
    assert (llm["model"], llm["provider"]) == (fake_openai.MODEL, "openai")
    assert (llm["input_tokens"], llm["output_tokens"]) == (
        fake_openai.PROMPT_TOKENS,
        fake_openai.COMPLETION_TOKENS,
    )
    assert "What is the capital of France?" in llm["input"]
    assert fake_openai.ANSWER in llm["output"]
    assert http["parent_span_id"] == llm["span_id"]
    assert http["kind"] == "CLIENT"
    assert http["attributes"]["http.url"].endswith("/v1/chat/completions")


def test_capture_content_false_keeps_instrumentation_content_out_of_prela(prela_serve: PrelaServer) -> None:
    trace = _run_openai_app(prela_serve, PRELA_CAPTURE_CONTENT="false")
    llm = spans_by_name(trace)["ChatCompletion"]
    assert (llm["input"], llm["output"]) == ("", "")
    assert (llm["input_tokens"], llm["output_tokens"]) == (
        fake_openai.PROMPT_TOKENS,
        fake_openai.COMPLETION_TOKENS,
    )
    assert "France" not in json.dumps(llm["attributes"])


def test_decorated_app_reaches_prela_with_parents_errors_and_llm_fields(prela_serve: PrelaServer) -> None:
    prela.init(
        service_name="decorated-app", exporter="http", http_endpoint=f"{prela_serve.ingest_url}/v1/traces"
    )

    @prela.trace(span_type="TOOL")
    def weather(city: str) -> str:
        if city == "Atlantis":
            raise LookupError(f"unknown city {city}")
        return "sunny"

    @prela.trace("stream-answer", span_type="LLM")
    def stream_answer() -> Any:
        with prela.llm("gpt-4o", provider="openai", input="Weather in Paris?") as call:
            call.set_llm(
                output="Sunny.", input_tokens=11, output_tokens=2, response_model="gpt-4o-2024-08-06"
            )
        yield "Sunny."

    @prela.trace("agent-run", span_type="AGENT")
    def agent() -> str:
        with contextlib.suppress(LookupError):
            weather("Atlantis")
        return weather("Paris") + "".join(stream_answer())

    with prela.trace("request", kind=SpanKind.SERVER) as root:
        agent()
        trace_id = f"{root.get_span_context().trace_id:032x}"
    assert prela.flush()

    trace = wait_for_trace(prela_serve.query_url, trace_id, 6)
    assert trace["service_name"] == "decorated-app"
    spans = trace["spans"]
    by_name = spans_by_name(trace)
    root_span, agent_span = by_name["request"], by_name["agent-run"]
    tool_spans = [span for span in spans if span["name"] == weather.__qualname__]
    failed = next(span for span in tool_spans if span["status"] == "ERROR")
    ok = next(span for span in tool_spans if span["status"] == "SUCCESS")
    assert root_span["kind"] == "SERVER"
    assert agent_span["parent_span_id"] == root_span["span_id"]
    assert {failed["parent_span_id"], ok["parent_span_id"]} == {agent_span["span_id"]}
    assert failed["span_type"] == ok["span_type"] == "TOOL"
    assert failed["status_message"] == "LookupError: unknown city Atlantis"
    assert [event["name"] for event in failed["events"]] == ["exception"]
    assert by_name["stream-answer"]["parent_span_id"] == agent_span["span_id"]
    chat = by_name["chat gpt-4o"]
    assert chat["parent_span_id"] == by_name["stream-answer"]["span_id"]
    assert (chat["span_type"], chat["model"], chat["request_model"], chat["provider"]) == (
        "LLM",
        "gpt-4o-2024-08-06",
        "gpt-4o",
        "openai",
    )
    assert (chat["input_tokens"], chat["output_tokens"]) == (11, 2)
    assert "Weather in Paris?" in chat["input"]
    assert "Sunny." in chat["output"]
