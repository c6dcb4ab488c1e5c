"""Amazon Bedrock through OpenLLMetry's `opentelemetry-instrumentation-bedrock`: boto3's
`bedrock-runtime` Converse and InvokeModel against a fake endpoint (`endpoint_url=`), exported by the
official OTLP/HTTP exporter to a real `prela serve`.

The instrumentation writes the latest GenAI conventions (content in `gen_ai.input.messages` /
`gen_ai.output.messages`, provider `aws.bedrock`) but passes Bedrock's own `inputTokens`, which leaves
out the cache-read and cache-write tokens: Prela counts them back in (by the instrumentation's scope)
so the price of a cached call is right.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.bedrock import BedrockInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from prela.collector.pricing import PRICES, cost_usd
from prela.model.timestamps import parse_timestamp
from tests.conftest import PrelaServer
from tests.frameworks.fake_llm import BEDROCK_ANSWER, BEDROCK_CONVERSE_USAGE, BEDROCK_INVOKE_USAGE, FakeLLM
from tests.integration.test_otel_exporters import wait_for_trace

pytestmark = pytest.mark.integration

CONVERSE_MODEL = "us.anthropic.claude-3-5-sonnet-20240620-v1:0"  # a cross-region inference profile
INVOKE_MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
PROMPT = "Say hello in French."
SCOPE = "opentelemetry.instrumentation.bedrock"


@pytest.fixture(scope="module")
def bedrock_trace(
    fake_llm: FakeLLM, prela_serve: PrelaServer, monkeypatch_module: pytest.MonkeyPatch
) -> dict[str, Any]:
    """One Converse call (with a system prompt, cache reads and writes) and one InvokeModel call."""
    monkeypatch_module.setenv("TRACELOOP_TRACE_CONTENT", "true")
    provider = TracerProvider(resource=Resource.create({"service.name": "bedrock-app"}))
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{prela_serve.ingest_url}/v1/traces"))
    )
    instrumentor = BedrockInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        client = boto3.client(
            "bedrock-runtime",
            region_name="us-east-1",
            endpoint_url=fake_llm.url,
            aws_access_key_id="AKIDPRELATEST",
            aws_secret_access_key="not-a-secret",
        )
        with provider.get_tracer("bedrock-app").start_as_current_span("bedrock-app") as root:
            client.converse(
                modelId=CONVERSE_MODEL,
                system=[{"text": "Answer briefly."}],
                messages=[{"role": "user", "content": [{"text": PROMPT}]}],
                inferenceConfig={"maxTokens": 50},
            )
            body = {
                "anthropic_version": "bedrock-2023-05-31",
                "max_tokens": 50,
                "messages": [{"role": "user", "content": PROMPT}],
            }
            client.invoke_model(modelId=INVOKE_MODEL, body=json.dumps(body))
    finally:
        instrumentor.uninstrument()
    assert provider.force_flush()
    provider.shutdown()
    return wait_for_trace(prela_serve, format(root.get_span_context().trace_id, "032x"), 3)


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def calls(trace: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    converse, invoke = sorted(
        (s for s in trace["spans"] if s["span_type"] == "LLM"), key=lambda s: parse_timestamp(s["started_at"])
    )
    return converse, invoke


def test_both_calls_are_llm_spans_of_aws_bedrock(bedrock_trace: dict[str, Any]) -> None:
    assert sorted(s["span_type"] for s in bedrock_trace["spans"]) == ["CUSTOM", "LLM", "LLM"]
    for span in calls(bedrock_trace):
        assert (span["provider"], span["scope"]["name"]) == ("aws.bedrock", SCOPE)
        assert span["request_model"] == "claude-3-5-sonnet-20240620-v1:0"
    assert calls(bedrock_trace)[1]["model"] == INVOKE_MODEL  # InvokeModel echoes the model id


def test_converse_counts_cache_tokens_into_input_and_prices_them(bedrock_trace: dict[str, Any]) -> None:
    converse, _ = calls(bedrock_trace)
    uncached, output, cache_read, cache_write = BEDROCK_CONVERSE_USAGE
    assert converse["attributes"]["gen_ai.usage.input_tokens"] == uncached  # Bedrock's own count
    assert (converse["cache_read_tokens"], converse["cache_write_tokens"]) == (cache_read, cache_write)
    assert converse["input_tokens"] == uncached + cache_read + cache_write
    assert converse["total_tokens"] == uncached + cache_read + cache_write + output
    price = PRICES["claude-3-5-sonnet"]
    expected = (
        uncached * price.input
        + cache_read * price.cache_read
        + cache_write * price.cache_write
        + output * price.output
    ) / 1e6
    assert converse["cost_usd"] == pytest.approx(expected)
    assert converse["cost_usd"] == pytest.approx(
        cost_usd(converse["model"], uncached + cache_read + cache_write, output, cache_read, cache_write)
    )


def test_invoke_model_tokens_and_price(bedrock_trace: dict[str, Any]) -> None:
    _, invoke = calls(bedrock_trace)
    inp, out, _, _ = BEDROCK_INVOKE_USAGE
    assert (invoke["input_tokens"], invoke["output_tokens"], invoke["total_tokens"]) == (inp, out, inp + out)
    assert (
        invoke["cost_usd"] == pytest.approx(cost_usd("claude-3-5-sonnet", inp, out))
        and invoke["cost_usd"] > 0
    )


def test_content_in_the_genai_messages_shape(bedrock_trace: dict[str, Any]) -> None:
    converse, invoke = calls(bedrock_trace)
    user = {"role": "user", "parts": [{"type": "text", "content": PROMPT}]}
    answer = [
        {"role": "assistant", "parts": [{"type": "text", "content": BEDROCK_ANSWER}], "finish_reason": "stop"}
    ]
    assert json.loads(converse["input"]) == [
        {"role": "system", "parts": [{"type": "text", "content": "Answer briefly."}]},
        user,
    ]
    assert json.loads(invoke["input"]) == [user]
    assert json.loads(converse["output"]) == json.loads(invoke["output"]) == answer
