"""Pre-built OTLP payloads for the ingest load test: realistic ~1 KB LLM spans, serialized once.

Each request body is an `ExportTraceServiceRequest` of `batch` spans grouped into
small traces (agent → LLM call → tool → LLM call …) whose LLM spans alternate
between the three conventions Prela understands: OTel GenAI, OpenInference and
OpenLLMetry/Traceloop. Trace and span ids are random per body, so bodies are
distinct; a body sent twice carries the same ids (the store deduplicates them).
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span, Status

_BASE_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z

_PROMPTS = (
    "Summarise the quarterly revenue report for the board, highlighting the main risks, the growth "
    "drivers by region and anything that changed since the last quarter. Keep it under 200 words.",
    "The customer writes: my order #48213 arrived damaged and the replacement never shipped. Draft a "
    "polite reply that apologises, explains the refund timeline and offers a discount on the next order.",
    "Given the retrieved passages about the Kubernetes scheduler, explain why pods stay Pending when "
    "node affinity rules and taints disagree, and list three concrete ways to debug it step by step.",
)
_ANSWERS = (
    "Revenue grew 12% quarter on quarter, led by EMEA (+18%) and APAC (+9%). The main risk is supplier "
    "concentration in APAC; churn in the SMB segment rose slightly. Gross margin held at 61%.",
    "Dear customer, we are sorry your order arrived damaged. A full refund of the replacement will reach "
    "your card within 5 business days, and we've added a 15% discount code to your account.",
    "Pods stay Pending when no node satisfies both the affinity terms and tolerates its taints. Check "
    "`kubectl describe pod` events, compare node labels and taints, and try relaxing one rule at a time.",
)
_MODELS = (
    ("openai", "gpt-4o", "gpt-4o-2024-08-06"),
    ("anthropic", "claude-3-5-sonnet", "claude-3-5-sonnet-20241022"),
    ("openai", "gpt-4o-mini", "gpt-4o-mini-2024-07-18"),
)
_TOOLS = ("search_documents", "get_weather", "sql_query", "send_email")


def _kv(key: str, value: object) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def _genai_llm(rng: random.Random) -> tuple[str, dict[str, object]]:
    provider, model, response_model = rng.choice(_MODELS)
    return f"chat {model}", {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        "gen_ai.response.model": response_model,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.max_tokens": 512,
        "gen_ai.response.id": f"chatcmpl-{rng.getrandbits(48):012x}",
        "gen_ai.response.finish_reasons": "stop",
        "gen_ai.usage.input_tokens": rng.randint(120, 900),
        "gen_ai.usage.output_tokens": rng.randint(30, 400),
        "gen_ai.input.messages": orjson.dumps(
            [{"role": "user", "parts": [{"type": "text", "content": rng.choice(_PROMPTS)}]}]
        ).decode(),
        "gen_ai.output.messages": orjson.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": rng.choice(_ANSWERS)}]}]
        ).decode(),
        "server.address": "api.openai.com",
    }


def _openinference_llm(rng: random.Random) -> tuple[str, dict[str, object]]:
    provider, model, _ = rng.choice(_MODELS)
    prompt_tokens, completion_tokens = rng.randint(120, 900), rng.randint(30, 400)
    return "ChatCompletion", {
        "openinference.span.kind": "LLM",
        "llm.provider": provider,
        "llm.model_name": model,
        "llm.invocation_parameters": orjson.dumps({"model": model, "temperature": 0.0}).decode(),
        "llm.token_count.prompt": prompt_tokens,
        "llm.token_count.completion": completion_tokens,
        "llm.token_count.total": prompt_tokens + completion_tokens,
        "input.value": rng.choice(_PROMPTS),
        "input.mime_type": "text/plain",
        "output.value": rng.choice(_ANSWERS),
        "output.mime_type": "text/plain",
        "session.id": f"session-{rng.randint(0, 99)}",
    }


def _openllmetry_llm(rng: random.Random) -> tuple[str, dict[str, object]]:
    _, model, response_model = rng.choice(_MODELS)
    prompt_tokens, completion_tokens = rng.randint(120, 900), rng.randint(30, 400)
    return "openai.chat", {
        "llm.request.type": "chat",
        "gen_ai.system": "OpenAI",
        "gen_ai.request.model": model,
        "gen_ai.response.model": response_model,
        "gen_ai.request.temperature": 0.7,
        "gen_ai.usage.prompt_tokens": prompt_tokens,
        "gen_ai.usage.completion_tokens": completion_tokens,
        "llm.usage.total_tokens": prompt_tokens + completion_tokens,
        "gen_ai.prompt.0.role": "user",
        "gen_ai.prompt.0.content": rng.choice(_PROMPTS),
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.content": rng.choice(_ANSWERS),
        "gen_ai.completion.0.finish_reason": "stop",
        "traceloop.workflow.name": "support_agent",
    }


def _tool(rng: random.Random) -> tuple[str, dict[str, object]]:
    tool = rng.choice(_TOOLS)
    arguments = orjson.dumps({"query": rng.choice(_PROMPTS)[:160], "limit": 5}).decode()
    result = orjson.dumps({"results": [rng.choice(_ANSWERS)[:200]], "count": 1}).decode()
    return f"execute_tool {tool}", {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": tool,
        "gen_ai.tool.call.id": f"call_{rng.getrandbits(64):016x}",
        "gen_ai.tool.type": "function",
        "gen_ai.tool.description": f"Calls {tool} against the internal API and returns JSON results.",
        "openinference.span.kind": "TOOL",
        "tool.name": tool,
        "input.value": arguments,
        "output.value": result,
        "traceloop.span.kind": "tool",
    }


def _agent(rng: random.Random) -> tuple[str, dict[str, object]]:
    agent = rng.choice(("support_agent", "research_agent", "report_writer"))
    return f"invoke_agent {agent}", {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": agent,
        "gen_ai.agent.id": f"asst_{rng.getrandbits(48):012x}",
        "gen_ai.agent.description": "Answers customer and analyst questions using tools and retrieval.",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.conversation.id": f"conv_{rng.getrandbits(64):016x}",
        "openinference.span.kind": "AGENT",
        "input.value": rng.choice(_PROMPTS),
        "output.value": rng.choice(_ANSWERS),
        "user.id": f"user-{rng.randint(0, 999)}",
    }


SpanFactory = Callable[[random.Random], tuple[str, dict[str, object]]]
# One trace: an agent root, then LLM calls in each convention with tool calls between them.
_TRACE_SHAPE: tuple[SpanFactory, ...] = (
    _agent,
    _genai_llm,
    _tool,
    _openinference_llm,
    _tool,
    _openllmetry_llm,
    _genai_llm,
    _openinference_llm,
)


@dataclass(frozen=True, slots=True)
class Payloads:
    """Serialized request bodies of `batch` spans each, ready to send as they are."""

    bodies: list[bytes]
    batch: int
    span_bytes_mean: float  # serialized size of one span (Span.ByteSize), mean
    span_bytes_min: int
    span_bytes_max: int
    attributes_mean: float

    @property
    def body_bytes_mean(self) -> float:
        return statistics.fmean(len(b) for b in self.bodies)


def _span(
    rng: random.Random,
    factory: SpanFactory,
    trace_id: bytes,
    parent_id: bytes,
    start_ns: int,
) -> Span:
    name, attributes = factory(rng)
    duration_ns = rng.randint(40, 4_000) * 1_000_000
    span = Span(
        trace_id=trace_id,
        span_id=rng.randbytes(8),
        parent_span_id=parent_id,
        name=name,
        kind=Span.SPAN_KIND_CLIENT if factory is not _agent else Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=start_ns,
        end_time_unix_nano=start_ns + duration_ns,
        attributes=[_kv(k, v) for k, v in attributes.items()],
    )
    if rng.random() < 0.03:
        span.status.code = Status.STATUS_CODE_ERROR
        span.status.message = "RateLimitError: 429 Too Many Requests"
    else:
        span.status.code = Status.STATUS_CODE_OK
    return span


def build_request(batch: int, rng: random.Random) -> ExportTraceServiceRequest:
    """One request of `batch` spans in traces of the `_TRACE_SHAPE` (children point at the agent root)."""
    resource_spans = ResourceSpans()
    resource_spans.resource.attributes.extend(
        [
            _kv("service.name", rng.choice(("support-bot", "analyst-api", "rag-service"))),
            _kv("service.version", "2.3.1"),
            _kv("deployment.environment.name", "production"),
            _kv("telemetry.sdk.language", "python"),
            _kv("telemetry.sdk.name", "opentelemetry"),
            _kv("telemetry.sdk.version", "1.38.0"),
        ]
    )
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "openinference.instrumentation.openai"
    scope_spans.scope.version = "0.1.18"
    spans: list[Span] = []
    while len(spans) < batch:
        trace_id = rng.randbytes(16)
        start_ns = _BASE_NS + rng.getrandbits(40) * 1_000
        root = _span(rng, _TRACE_SHAPE[0], trace_id, b"", start_ns)
        root.end_time_unix_nano = start_ns + 6_000_000_000
        spans.append(root)
        for offset, factory in enumerate(_TRACE_SHAPE[1:], start=1):
            if len(spans) >= batch:
                break
            spans.append(_span(rng, factory, trace_id, root.span_id, start_ns + offset * 50_000_000))
    scope_spans.spans.extend(spans)
    return ExportTraceServiceRequest(resource_spans=[resource_spans])


def build_payloads(count: int, batch: int, seed: int = 20260101) -> Payloads:
    """`count` distinct serialized requests of `batch` spans each (deterministic for a given seed)."""
    if count <= 0 or batch <= 0:
        raise ValueError(f"count and batch must be > 0, got count={count} batch={batch}")
    rng = random.Random(seed)
    bodies: list[bytes] = []
    sizes: list[int] = []
    attribute_counts: list[int] = []
    for index in range(count):
        request = build_request(batch, rng)
        if index == 0:  # sizes from the first body: the rest come from the same generators
            for span in request.resource_spans[0].scope_spans[0].spans:
                sizes.append(span.ByteSize())
                attribute_counts.append(len(span.attributes))
        bodies.append(request.SerializeToString())
    return Payloads(
        bodies=bodies,
        batch=batch,
        span_bytes_mean=statistics.fmean(sizes),
        span_bytes_min=min(sizes),
        span_bytes_max=max(sizes),
        attributes_mean=statistics.fmean(attribute_counts),
    )
