"""google-genai with the official `opentelemetry-instrumentation-google-genai`, exported by the
official OTLP/HTTP exporters (spans and log records) to a real `prela serve`.

The instrumentation follows the latest GenAI conventions: it puts no content on the span and sends
prompts and answers on a `gen_ai.client.inference.operation.details` log record, which Prela joins to
the span when the trace is read. It needs opentelemetry-util-genai 1.x, which the openai-v2
instrumentation of the dev extra cannot run with, so the app (google_genai/app.py) runs in a
virtualenv of its own, built once per requirements.txt under PRELA_TEST_VENVS (default
~/.cache/prela-tests) from the package index.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import venv
from pathlib import Path
from typing import Any

import pytest

from prela.collector.pricing import cost_usd
from tests.conftest import PrelaServer
from tests.frameworks.conftest import install, only
from tests.frameworks.fake_llm import (
    GEMINI_ANSWER,
    GEMINI_FUNCTION,
    GEMINI_MODEL_VERSION,
    GEMINI_USAGE,
    FakeLLM,
)
from tests.integration.test_otel_exporters import wait_for_trace

pytestmark = pytest.mark.integration

APP_DIR = Path(__file__).parent / "google_genai"
VENVS = Path(os.environ.get("PRELA_TEST_VENVS", Path.home() / ".cache" / "prela-tests"))


@pytest.fixture(scope="session")
def genai_python() -> Path:
    """The Python of a virtualenv holding requirements.txt, built when the file changed."""
    requirements = APP_DIR / "requirements.txt"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    home = VENVS / f"google-genai-{digest}"
    python = home / "bin" / "python"
    stamp = home / ".prela-installed"
    if not stamp.exists():
        venv.EnvBuilder(clear=True, with_pip=True).create(home)
        install([str(python), "-m", "pip", "install", "-q", "-r", str(requirements)])
        stamp.write_text(sys.version)
    return python


@pytest.fixture(scope="module")
def genai_trace(genai_python: Path, fake_llm: FakeLLM, prela_serve: PrelaServer) -> dict[str, Any]:
    env = {
        **os.environ,
        "FAKE_GEMINI_URL": fake_llm.url,
        "PRELA_OTLP_URL": prela_serve.ingest_url,
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "EVENT_ONLY",
    }
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [str(genai_python), str(APP_DIR / "app.py")], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    trace_id = json.loads(done.stdout.strip().splitlines()[-1])["trace_id"]
    # Spans and the log record are stored apart: wait for both.
    deadline = time.monotonic() + 20
    trace = wait_for_trace(prela_serve, trace_id, 3)
    while not trace["logs"] and time.monotonic() < deadline:
        time.sleep(0.1)
        trace = wait_for_trace(prela_serve, trace_id, 3)
    return trace


def test_generate_content_is_an_llm_span_with_a_tool_span(genai_trace: dict[str, Any]) -> None:
    assert sorted((s["name"], s["span_type"]) for s in genai_trace["spans"]) == [
        ("execute_tool get_capital", "TOOL"),
        ("generate_content gemini-2.0-flash", "LLM"),
        ("google-genai-app", "CUSTOM"),
    ]


def test_model_provider_tokens_and_price(genai_trace: dict[str, Any]) -> None:
    span = only(genai_trace["spans"], "generate_content gemini-2.0-flash")
    prompt, candidates, cached, thoughts = GEMINI_USAGE
    assert (span["model"], span["request_model"], span["provider"]) == (
        GEMINI_MODEL_VERSION,
        "gemini-2.0-flash",
        "gemini",
    )
    # Output tokens include the thinking tokens, which are also kept apart.
    assert (span["input_tokens"], span["output_tokens"]) == (prompt, candidates + thoughts)
    assert (span["cache_read_tokens"], span["reasoning_tokens"]) == (cached, thoughts)
    assert span["cost_usd"] == pytest.approx(
        cost_usd(GEMINI_MODEL_VERSION, prompt, candidates + thoughts, cached)
    )
    assert span["cost_usd"] > 0


def test_content_comes_from_the_operation_details_log_record(genai_trace: dict[str, Any]) -> None:
    span = only(genai_trace["spans"], "generate_content gemini-2.0-flash")
    assert "gen_ai.input.messages" not in span["attributes"]  # EVENT_ONLY: nothing on the span
    assert [(log["event_name"], log["span_id"]) for log in genai_trace["logs"]] == [
        ("gen_ai.client.inference.operation.details", span["span_id"])
    ]
    inputs = json.loads(span["input"])
    assert [(m["role"], m["parts"]) for m in inputs] == [
        ("system", [{"type": "text", "content": "Answer briefly."}]),
        ("user", [{"type": "text", "content": "What is the capital of France?"}]),
    ]
    (output,) = json.loads(span["output"])
    assert (output["role"], output["parts"], output["finish_reason"]) == (
        "assistant",
        [{"type": "text", "content": GEMINI_ANSWER}],
        "stop",
    )


def test_the_function_ran_between_two_model_requests(genai_trace: dict[str, Any], fake_llm: FakeLLM) -> None:
    tool = only(genai_trace["spans"], f"execute_tool {GEMINI_FUNCTION}")
    assert (
        tool["parent_span_id"] == only(genai_trace["spans"], "generate_content gemini-2.0-flash")["span_id"]
    )
    answered = [
        body
        for path, body in fake_llm.seen
        if path.endswith(":generateContent")
        and any("functionResponse" in p for c in body["contents"] for p in c.get("parts") or [])
    ]
    assert answered[-1]["contents"][-1]["parts"][0]["functionResponse"]["response"] == {"result": "Paris"}
