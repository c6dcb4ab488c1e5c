"""Micro-benchmark of the OTLP → SpanRecord mapping (the ingest hot path).

    python bench/bench_mapping.py

Builds batches of 512 realistic ~1 KB LLM spans (OTel GenAI, OpenInference and OpenLLMetry
variants, ~15 attributes each, prompt and completion content) and prints spans/s (median of 5
runs) of `map_export_request`, of bare `ExportTraceServiceRequest.FromString`, and of the OTLP/JSON
builder `otlp_json_to_request`.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from prela.collector.mapping import map_export_request
from prela.collector.otlp_json import otlp_json_to_request

BATCH = 512
RUNS = 5
PROMPT = "Summarise the quarterly revenue report for the board, highlighting risks and growth. " * 3
ANSWER = "Revenue grew 12% quarter on quarter; the main risk is supplier concentration in APAC. " * 3


def _kv(key: str, value: object) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def _genai(i: int) -> dict[str, object]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.max_tokens": 512,
        "gen_ai.response.id": f"chatcmpl-{i:012d}",
        "gen_ai.response.finish_reasons": "stop",
        "gen_ai.usage.input_tokens": 180 + i % 50,
        "gen_ai.usage.output_tokens": 60 + i % 30,
        "gen_ai.usage.cache_read.input_tokens": 64,
        "gen_ai.input.messages": orjson.dumps(
            [{"role": "user", "parts": [{"type": "text", "content": PROMPT}]}]
        ).decode(),
        "gen_ai.output.messages": orjson.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": ANSWER}], "finish_reason": "stop"}]
        ).decode(),
        "server.address": "api.openai.com",
        "server.port": 443,
    }


def _openinference(i: int) -> dict[str, object]:
    return {
        "openinference.span.kind": "LLM",
        "llm.provider": "anthropic",
        "llm.system": "anthropic",
        "llm.model_name": "claude-3-5-sonnet-20241022",
        "llm.invocation_parameters": '{"model": "claude-3-5-sonnet-20241022", "max_tokens": 1024}',
        "llm.token_count.prompt": 200 + i % 40,
        "llm.token_count.completion": 80,
        "llm.token_count.total": 280 + i % 40,
        "llm.input_messages.0.message.role": "system",
        "llm.input_messages.0.message.content": "You are a careful financial analyst.",
        "llm.input_messages.1.message.role": "user",
        "llm.input_messages.1.message.content": PROMPT,
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": ANSWER,
        "session.id": f"session-{i % 17}",
    }


def _openllmetry(i: int) -> dict[str, object]:
    return {
        "llm.request.type": "chat",
        "gen_ai.system": "OpenAI",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "llm.is_streaming": False,
        "gen_ai.request.temperature": 0.7,
        "gen_ai.usage.prompt_tokens": 150 + i % 20,
        "gen_ai.usage.completion_tokens": 70,
        "llm.usage.total_tokens": 220 + i % 20,
        "gen_ai.prompt.0.role": "user",
        "gen_ai.prompt.0.content": PROMPT,
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.content": ANSWER,
        "gen_ai.completion.0.finish_reason": "stop",
        "traceloop.workflow.name": "report_summary",
    }


def build_request(n: int = BATCH) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(
        [_kv("service.name", "bench-service"), _kv("telemetry.sdk.language", "python")]
    )
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "bench.instrumentation"
    scope_spans.scope.version = "1.0.0"
    variants: tuple[Callable[[int], dict[str, object]], ...] = (_genai, _openinference, _openllmetry)
    for i in range(n):
        span = scope_spans.spans.add()
        span.trace_id = os.urandom(16)
        span.span_id = os.urandom(8)
        span.parent_span_id = os.urandom(8)
        span.name = "chat gpt-4o"
        span.kind = Span.SPAN_KIND_CLIENT
        span.start_time_unix_nano = 1_737_972_000_000_000_000 + i * 1_000_000
        span.end_time_unix_nano = span.start_time_unix_nano + 850_000_000
        span.attributes.extend(_kv(k, v) for k, v in variants[i % 3](i).items())
    return request


def _as_otlp_json(request: ExportTraceServiceRequest) -> dict[str, object]:
    from google.protobuf import json_format

    doc = json_format.MessageToDict(request)
    for rs in doc["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    span[key] = __import__("base64").b64decode(span[key]).hex()
    return doc  # type: ignore[no-any-return]


def _median_rate(fn: Callable[[], object], spans: int) -> float:
    timings = []
    for _ in range(RUNS):
        start = time.perf_counter()
        fn()
        timings.append(time.perf_counter() - start)
    return spans / statistics.median(timings)


def main() -> None:
    request = build_request()
    payload = request.SerializeToString()
    doc = _as_otlp_json(request)
    spans = len(request.resource_spans[0].scope_spans[0].spans)
    print(f"batch: {spans} spans, {len(payload) / spans:.0f} bytes/span protobuf")
    map_export_request(request, "bench")  # warm the price cache

    decode = _median_rate(lambda: ExportTraceServiceRequest.FromString(payload), spans)
    mapped = _median_rate(lambda: map_export_request(request, "bench"), spans)
    both = _median_rate(
        lambda: map_export_request(ExportTraceServiceRequest.FromString(payload), "bench"), spans
    )
    from_json = _median_rate(lambda: otlp_json_to_request(doc), spans)
    print(f"ExportTraceServiceRequest.FromString : {decode:12,.0f} spans/s ({1e6 / decode:6.2f} us/span)")
    print(f"map_export_request                   : {mapped:12,.0f} spans/s ({1e6 / mapped:6.2f} us/span)")
    print(f"FromString + map_export_request      : {both:12,.0f} spans/s ({1e6 / both:6.2f} us/span)")
    print(
        f"otlp_json_to_request (OTLP/JSON)     : {from_json:12,.0f} spans/s ({1e6 / from_json:6.2f} us/span)"
    )


if __name__ == "__main__":
    main()
