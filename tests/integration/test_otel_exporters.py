"""The official OTel OTLP exporters, configured as a user would, against a running `prela serve`."""

from __future__ import annotations

import time
from typing import Any

import grpc
import httpx
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from tests.conftest import PrelaServer

pytestmark = pytest.mark.integration


def wait_for_trace(server: PrelaServer, trace_id: str, spans: int, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = httpx.get(f"{server.query_url}/api/v1/traces/{trace_id}", timeout=5)
        if response.status_code == 200:
            body = response.json()
            if len(body["spans"]) >= spans:
                return body
        time.sleep(0.1)
    raise AssertionError(f"trace {trace_id} did not reach {spans} spans: {body}")


def emit_llm_agent_trace(exporter: SpanExporter, service: str) -> str:
    """An agent run with GenAI, OpenInference and OpenLLMetry children, as instrumentations write them."""
    provider = TracerProvider(
        resource=Resource.create({"service.name": service, "deployment.environment": "test"})
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("test.instrumentation", "1.2.3")
    with tracer.start_as_current_span("agent run", attributes={"openinference.span.kind": "AGENT"}) as root:
        with tracer.start_as_current_span(
            "chat gpt-4o",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.usage.input_tokens": 120,
                "gen_ai.usage.output_tokens": 30,
            },
        ):
            pass
        with tracer.start_as_current_span(
            "ChatCompletion",
            attributes={
                "openinference.span.kind": "LLM",
                "llm.model_name": "claude-3-5-sonnet-20241022",
                "llm.provider": "Anthropic",
                "llm.token_count.prompt": 200,
                "llm.token_count.completion": 50,
                "llm.token_count.total": 250,
                "input.value": "What is the capital of France?",
                "output.value": "Paris.",
            },
        ):
            pass
        with tracer.start_as_current_span(
            "openai.chat",
            attributes={
                "llm.request.type": "chat",
                "gen_ai.system": "OpenAI",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.prompt_tokens": 11,
                "gen_ai.usage.completion_tokens": 7,
                "gen_ai.prompt.0.role": "user",
                "gen_ai.prompt.0.content": "hello",
                "gen_ai.completion.0.role": "assistant",
                "gen_ai.completion.0.content": "hi there",
            },
        ):
            pass
        with tracer.start_as_current_span("get_weather", attributes={"traceloop.span.kind": "tool"}) as tool:
            tool.record_exception(ValueError("city not found"))
            tool.set_status(Status(StatusCode.ERROR, "city not found"))
        trace_id = format(root.get_span_context().trace_id, "032x")
    assert provider.force_flush(10_000)
    provider.shutdown()
    return trace_id


def assert_llm_agent_trace(trace: dict[str, Any], service: str) -> None:
    spans = {s["name"]: s for s in trace["spans"]}
    assert set(spans) == {"agent run", "chat gpt-4o", "ChatCompletion", "openai.chat", "get_weather"}
    root = spans["agent run"]
    assert root["parent_span_id"] is None
    assert root["span_type"] == "AGENT"
    for name in ("chat gpt-4o", "ChatCompletion", "openai.chat", "get_weather"):
        assert spans[name]["parent_span_id"] == root["span_id"]
        assert spans[name]["service_name"] == service

    genai = spans["chat gpt-4o"]
    assert (genai["span_type"], genai["kind"]) == ("LLM", "CLIENT")
    assert (genai["model"], genai["request_model"], genai["provider"]) == (
        "gpt-4o-2024-08-06",
        "gpt-4o",
        "openai",
    )
    assert (genai["input_tokens"], genai["output_tokens"], genai["total_tokens"]) == (120, 30, 150)
    assert genai["cost_usd"] > 0

    oi = spans["ChatCompletion"]
    assert (oi["span_type"], oi["model"], oi["provider"]) == (
        "LLM",
        "claude-3-5-sonnet-20241022",
        "anthropic",
    )
    assert (oi["input_tokens"], oi["output_tokens"], oi["total_tokens"]) == (200, 50, 250)
    assert (oi["input"], oi["output"]) == ("What is the capital of France?", "Paris.")

    tl = spans["openai.chat"]
    assert (tl["span_type"], tl["model"], tl["provider"]) == ("LLM", "gpt-4o-mini", "openai")
    assert (tl["input_tokens"], tl["output_tokens"], tl["total_tokens"]) == (11, 7, 18)
    assert "hello" in tl["input"] and "hi there" in tl["output"]
    assert tl["attributes"]["gen_ai.prompt.0.content"] == "hello"

    tool = spans["get_weather"]
    assert (tool["span_type"], tool["status"], tool["status_message"]) == ("TOOL", "ERROR", "city not found")
    assert [e["name"] for e in tool["events"]] == ["exception"]
    assert tool["events"][0]["attributes"]["exception.type"] == "ValueError"

    assert trace["status"] == "ERROR"
    assert trace["service_name"] == service
    assert trace["root_span_name"] == "agent run"
    assert (trace["span_count"], trace["error_count"]) == (5, 1)
    assert trace["input_tokens"] == 120 + 200 + 11
    assert root["resource_attributes"]["deployment.environment"] == "test"


def test_otlp_grpc_exporter_with_gzip_stores_typed_llm_trace(prela_serve: PrelaServer) -> None:
    exporter = GrpcExporter(
        endpoint=prela_serve.grpc_endpoint, insecure=True, compression=grpc.Compression.Gzip
    )
    trace_id = emit_llm_agent_trace(exporter, "grpc-agent")
    assert_llm_agent_trace(wait_for_trace(prela_serve, trace_id, 5), "grpc-agent")


def test_otlp_http_exporter_with_gzip_stores_typed_llm_trace(prela_serve: PrelaServer) -> None:
    exporter = HttpExporter(endpoint=f"{prela_serve.ingest_url}/v1/traces", compression=HttpCompression.Gzip)
    trace_id = emit_llm_agent_trace(exporter, "http-agent")
    assert_llm_agent_trace(wait_for_trace(prela_serve, trace_id, 5), "http-agent")


def test_traces_list_shows_exported_trace_with_rollups(prela_serve: PrelaServer) -> None:
    exporter = HttpExporter(endpoint=f"{prela_serve.ingest_url}/v1/traces")
    trace_id = emit_llm_agent_trace(exporter, "list-agent")
    wait_for_trace(prela_serve, trace_id, 5)
    response = httpx.get(f"{prela_serve.query_url}/api/v1/traces", params={"service": "list-agent"})
    assert response.status_code == 200
    [summary] = response.json()["traces"]
    assert summary["trace_id"] == trace_id
    assert (summary["span_count"], summary["error_count"], summary["status"]) == (5, 1, "ERROR")
    assert summary["root_span_name"] == "agent run"
    assert summary["total_tokens"] == 150 + 250 + 18
    assert {"AGENT", "LLM", "TOOL"} <= set(summary["span_types"])
