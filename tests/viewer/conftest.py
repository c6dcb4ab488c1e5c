"""The viewer in a real browser: Debian's Chromium driven by Playwright, against a real `prela serve`.

Spans arrive as an instrumented app sends them: the OTel SDK with the OTLP/HTTP exporter, GenAI
attributes (`gen_ai.input.messages` / `gen_ai.output.messages`, system instructions, tool calls).
Playwright never downloads a browser here: it launches /usr/bin/chromium.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from tests.conftest import PrelaServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}
HTML_PROMPT = "<script>alert(1)</script><b>x</b>"
SERVER_ENV = {"PRELA_BATCH_LINGER_MS": "100"}


def genai_messages(*messages: dict[str, Any]) -> str:
    return json.dumps(list(messages))


def text(role: str, content: str) -> dict[str, Any]:
    return {"role": role, "parts": [{"type": "text", "content": content}]}


@dataclass(frozen=True)
class SentTraces:
    """The trace ids the app sent, and the spans of the agent trace in tree (depth-first) order."""

    agent: str
    html: str
    failed: str
    agent_tree: tuple[str, ...]


def send_app_traces(server: PrelaServer, headers: dict[str, str] | None = None) -> SentTraces:
    """Three traces of a small agent app: a tool-calling agent turn, a second turn whose prompt is
    HTML, and a failed retrieval pipeline in another service."""
    exporter = OTLPSpanExporter(endpoint=f"{server.ingest_url}/v1/traces", headers=headers or {})
    provider = TracerProvider(
        resource=Resource.create({"service.name": "support-bot", "deployment.environment": "test"})
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("viewer.test", "1.0")
    session = {"session.id": "sess-viewer-1", "gen_ai.conversation.id": "sess-viewer-1", "user.id": "alice"}
    weather_call = {
        "type": "tool_call",
        "id": "call_1",
        "name": "get_weather",
        "arguments": {"city": "Paris"},
    }

    with tracer.start_as_current_span(
        "agent run", attributes={"gen_ai.operation.name": "invoke_agent", **session}
    ) as root:
        with tracer.start_as_current_span(
            "chat gpt-4o",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.response.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 120,
                "gen_ai.usage.output_tokens": 30,
                "gen_ai.system_instructions": json.dumps(
                    [{"type": "text", "content": "You are a weather assistant."}]
                ),
                "gen_ai.input.messages": genai_messages(text("user", "What is the weather in Paris?")),
                "gen_ai.output.messages": genai_messages(
                    {"role": "assistant", "parts": [weather_call], "finish_reason": "tool_call"}
                ),
                **session,
            },
        ):
            pass
        with tracer.start_as_current_span(
            "execute_tool get_weather",
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "get_weather",
                **session,
            },
        ) as tool:
            tool.add_event("cache miss", {"key": "weather:paris"})
            with tracer.start_as_current_span("GET weather.example/paris", kind=SpanKind.CLIENT):
                pass
        with tracer.start_as_current_span(
            "chat gpt-4o",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 160,
                "gen_ai.usage.output_tokens": 12,
                "gen_ai.input.messages": genai_messages(
                    text("user", "What is the weather in Paris?"),
                    {"role": "assistant", "parts": [weather_call]},
                    {
                        "role": "tool",
                        "parts": [{"type": "tool_call_response", "id": "call_1", "response": "sunny, 21 °C"}],
                    },
                ),
                "gen_ai.output.messages": genai_messages(
                    {**text("assistant", "It is sunny in Paris, 21 °C."), "finish_reason": "stop"}
                ),
                **session,
            },
        ):
            pass
    agent = format(root.get_span_context().trace_id, "032x")

    with (
        tracer.start_as_current_span(
            "agent run", attributes={"gen_ai.operation.name": "invoke_agent", **session}
        ) as root,
        tracer.start_as_current_span(
            "chat claude",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "anthropic",
                "gen_ai.request.model": "claude-sonnet-4",
                "gen_ai.usage.input_tokens": 40,
                "gen_ai.usage.output_tokens": 9,
                "gen_ai.input.messages": genai_messages(text("user", f"Render this: {HTML_PROMPT}")),
                "gen_ai.output.messages": genai_messages(text("assistant", "I will not render HTML.")),
                **session,
            },
        ),
    ):
        pass
    html = format(root.get_span_context().trace_id, "032x")

    rag = TracerProvider(resource=Resource.create({"service.name": "rag-api"}))
    rag.add_span_processor(
        SimpleSpanProcessor(
            OTLPSpanExporter(endpoint=f"{server.ingest_url}/v1/traces", headers=headers or {})
        )
    )
    rag_tracer = rag.get_tracer("viewer.test")
    with rag_tracer.start_as_current_span(
        "rag pipeline", attributes={"openinference.span.kind": "CHAIN"}
    ) as root:
        with rag_tracer.start_as_current_span(
            "retrieve", attributes={"openinference.span.kind": "RETRIEVER"}
        ) as retrieve:
            retrieve.set_status(Status(StatusCode.ERROR, "index unavailable"))
        root.set_status(Status(StatusCode.ERROR, "retrieval failed"))
    failed = format(root.get_span_context().trace_id, "032x")
    provider.shutdown()
    rag.shutdown()
    tree = (
        "agent run",
        "chat gpt-4o",
        "execute_tool get_weather",
        "GET weather.example/paris",
        "chat gpt-4o",
    )
    return SentTraces(agent, html, failed, tree)


def wait_for_traces(
    server: PrelaServer, expected: dict[str, int], headers: dict[str, str] | None = None
) -> None:
    """Until each trace id is queryable with its number of spans."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        counts = {}
        for trace_id in expected:
            response = httpx.get(
                f"{server.query_url}/api/v1/traces/{trace_id}", headers=headers or {}, timeout=5
            )
            counts[trace_id] = len(response.json()["spans"]) if response.status_code == 200 else 0
        if counts == expected:
            return
        time.sleep(0.1)
    raise AssertionError(f"traces not queryable: {counts} != {expected}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)"
        if os.environ.get("CI"):  # CI installs it: a missing browser there is a failure, not a skip
            pytest.fail(message)
        pytest.skip(message)
    from playwright import sync_api

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def screenshot(page: Any, name: str) -> None:
    """Keeps docs/screenshots/<name>.png current (light theme, 1280x800) when PRELA_SCREENSHOTS=1."""
    if os.environ.get("PRELA_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
