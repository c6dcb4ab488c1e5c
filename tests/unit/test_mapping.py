"""OTLP protobuf → SpanRecord: ids, envelope fields, attribute JSON, span types, LLM conventions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from prela.collector.mapping import map_export_request
from prela.collector.pricing import cost_usd
from prela.model.span import SpanRecord

TRACE_ID = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN_ID = bytes.fromhex("eee19b7ec3c1b174")
PARENT_ID = bytes.fromhex("eee19b7ec3c1b173")


def any_value(value: Any) -> AnyValue:
    if value is None:
        return AnyValue()
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[any_value(v) for v in value]))
    if isinstance(value, dict):
        return AnyValue(
            kvlist_value=KeyValueList(values=[KeyValue(key=k, value=any_value(v)) for k, v in value.items()])
        )
    return AnyValue(string_value=value)


def kvs(attrs: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in attrs.items()]


def make_span(attrs: dict[str, Any] | None = None, **fields: Any) -> Span:
    span = Span(
        trace_id=fields.pop("trace_id", TRACE_ID),
        span_id=fields.pop("span_id", SPAN_ID),
        name=fields.pop("name", "op"),
        start_time_unix_nano=fields.pop("start", 1_000),
        end_time_unix_nano=fields.pop("end", 3_500),
        **fields,
    )
    if attrs:
        span.attributes.extend(kvs(attrs))
    return span


def make_request(
    *spans: Span,
    resource: dict[str, Any] | None = None,
    scope_name: str = "my.scope",
    scope_version: str = "1.0",
) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.extend(kvs({"service.name": "svc"} if resource is None else resource))
    ss = rs.scope_spans.add()
    ss.scope.name = scope_name
    ss.scope.version = scope_version
    ss.spans.extend(spans)
    return request


def one(attrs: dict[str, Any] | None = None, **fields: Any) -> SpanRecord:
    mapped = map_export_request(make_request(make_span(attrs, **fields)), "proj-1")
    assert mapped.rejected == 0, mapped.errors
    assert len(mapped.records) == 1
    return mapped.records[0]


# --- envelope -------------------------------------------------------------------------------


def test_ids_are_lower_case_hex() -> None:
    record = one(parent_span_id=PARENT_ID)
    assert (record.trace_id, record.span_id, record.parent_span_id) == (
        "5b8efff798038103d269b633813fc60c",
        "eee19b7ec3c1b174",
        "eee19b7ec3c1b173",
    )


def test_root_span_has_empty_parent_id() -> None:
    assert one().parent_span_id == ""


def test_project_id_comes_from_the_argument_not_the_payload() -> None:
    record = one({"project_id": "evil", "prela.project_id": "evil"})
    assert record.project_id == "proj-1"


def test_timestamps_and_duration_in_nanoseconds() -> None:
    record = one(start=1_737_972_000_000_000_000, end=1_737_972_001_500_000_000)
    assert (record.started_at_ns, record.ended_at_ns, record.duration_ns) == (
        1_737_972_000_000_000_000,
        1_737_972_001_500_000_000,
        1_500_000_000,
    )


def test_end_before_start_gives_zero_duration() -> None:
    assert one(start=5_000, end=4_000).duration_ns == 0


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (Span.SPAN_KIND_UNSPECIFIED, "UNSPECIFIED"),
        (Span.SPAN_KIND_INTERNAL, "INTERNAL"),
        (Span.SPAN_KIND_SERVER, "SERVER"),
        (Span.SPAN_KIND_CLIENT, "CLIENT"),
        (Span.SPAN_KIND_PRODUCER, "PRODUCER"),
        (Span.SPAN_KIND_CONSUMER, "CONSUMER"),
        (42, "UNSPECIFIED"),
    ],
)
def test_kind_names(kind: int, expected: str) -> None:
    assert one(kind=kind).kind == expected


def test_error_status_with_message() -> None:
    record = one(status=Status(code=Status.STATUS_CODE_ERROR, message="rate limited"))
    assert (record.status, record.status_message) == ("ERROR", "rate limited")


@pytest.mark.parametrize("code", [Status.STATUS_CODE_UNSET, Status.STATUS_CODE_OK])
def test_unset_and_ok_status_are_success(code: int) -> None:
    assert one(status=Status(code=code)).status == "SUCCESS"


def test_trace_state_is_kept() -> None:
    assert one(trace_state="vendor=abc").trace_state == "vendor=abc"


def test_service_scope_and_resource_come_from_the_envelope() -> None:
    request = make_request(
        make_span(), resource={"service.name": "checkout", "deployment.environment": "prod"}
    )
    request.resource_spans[0].scope_spans[0].scope.attributes.extend(kvs({"lib.flag": True}))
    record = map_export_request(request, "p").records[0]
    assert (record.service_name, record.scope_name, record.scope_version) == ("checkout", "my.scope", "1.0")
    assert json.loads(record.resource_attributes) == {
        "service.name": "checkout",
        "deployment.environment": "prod",
    }
    assert record.scope_attributes == '{"lib.flag":true}'


def test_missing_service_name_defaults_to_unknown_service() -> None:
    record = map_export_request(make_request(make_span(), resource={}), "p").records[0]
    assert (record.service_name, record.resource_attributes) == ("unknown_service", "{}")


def test_empty_collections_are_empty_json() -> None:
    record = one()
    assert (record.attributes, record.scope_attributes, record.events, record.links) == (
        "{}",
        "{}",
        "[]",
        "[]",
    )


# --- attribute JSON -------------------------------------------------------------------------


def test_attributes_keep_every_value_type() -> None:
    record = one(
        {
            "s": "text",
            "b": True,
            "i": -7,
            "d": 0.5,
            "arr": ["a", 1, False],
            "kv": {"inner": {"deep": 2}},
            "raw": b"\x00\x01",
            "empty": None,
        }
    )
    assert json.loads(record.attributes) == {
        "s": "text",
        "b": True,
        "i": -7,
        "d": 0.5,
        "arr": ["a", 1, False],
        "kv": {"inner": {"deep": 2}},
        "raw": "AAE=",
        "empty": None,
    }


def test_attributes_are_compact_json() -> None:
    assert one({"a": 1, "b": "x"}).attributes == '{"a":1,"b":"x"}'


def test_empty_string_attribute_is_kept() -> None:
    assert one({"blank": ""}).attributes == '{"blank":""}'


def test_duplicate_attribute_keys_last_wins() -> None:
    span = make_span()
    span.attributes.extend(kvs({"k": "first"}) + kvs({"k": "second"}))
    record = map_export_request(make_request(span), "p").records[0]
    assert record.attributes == '{"k":"second"}'


def test_events_json_shape() -> None:
    span = make_span()
    event = span.events.add(name="exception", time_unix_nano=2_000)
    event.attributes.extend(kvs({"exception.type": "ValueError"}))
    record = map_export_request(make_request(span), "p").records[0]
    assert json.loads(record.events) == [
        {"name": "exception", "time_unix_nano": 2_000, "attributes": {"exception.type": "ValueError"}}
    ]


def test_links_json_shape_with_hex_ids() -> None:
    span = make_span()
    link = span.links.add(trace_id=TRACE_ID, span_id=PARENT_ID, trace_state="a=b")
    link.attributes.extend(kvs({"link.kind": "follows"}))
    record = map_export_request(make_request(span), "p").records[0]
    assert json.loads(record.links) == [
        {
            "trace_id": "5b8efff798038103d269b633813fc60c",
            "span_id": "eee19b7ec3c1b173",
            "trace_state": "a=b",
            "attributes": {"link.kind": "follows"},
        }
    ]


# --- invalid ids: partial success -----------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"trace_id": b""}, "trace_id must be 16 bytes, got 0"),
        ({"trace_id": b"\x01" * 8}, "trace_id must be 16 bytes, got 8"),
        ({"trace_id": bytes(16)}, "trace_id must not be all zero"),
        ({"span_id": b"\x01" * 4}, "span_id must be 8 bytes, got 4"),
        ({"span_id": bytes(8)}, "span_id must not be all zero"),
        ({"parent_span_id": b"\x01" * 3}, "parent_span_id must be empty or 8 bytes, got 3"),
    ],
)
def test_span_with_invalid_id_is_rejected_alone(fields: dict[str, Any], reason: str) -> None:
    good = make_span(name="good")
    bad = make_span(name="bad", **fields)
    mapped = map_export_request(make_request(good, bad), "p")
    assert [r.name for r in mapped.records] == ["good"]
    assert mapped.rejected == 1
    assert mapped.errors == [f"span 1 of scope 'my.scope': {reason}"]


def test_rejection_reasons_are_distinct_and_capped() -> None:
    spans = [make_span(trace_id=b"")] * 3 + [make_span(trace_id=b"\x01" * n) for n in range(1, 10)]
    mapped = map_export_request(make_request(*spans), "p")
    assert mapped.rejected == 12
    assert mapped.records == []
    assert mapped.errors == [
        "span 0 of scope 'my.scope': trace_id must be 16 bytes, got 0",
        "span 1 of scope 'my.scope': trace_id must be 16 bytes, got 0",
        "span 2 of scope 'my.scope': trace_id must be 16 bytes, got 0",
        "span 3 of scope 'my.scope': trace_id must be 16 bytes, got 1",
        "span 4 of scope 'my.scope': trace_id must be 16 bytes, got 2",
    ]


def test_empty_request_maps_to_nothing() -> None:
    mapped = map_export_request(ExportTraceServiceRequest(), "p")
    assert (mapped.records, mapped.rejected, mapped.errors) == ([], 0, [])


# --- span type precedence -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ({"prela.span_type": "tool", "openinference.span.kind": "LLM"}, "TOOL"),
        ({"prela.span_type": "nonsense", "openinference.span.kind": "LLM"}, "LLM"),
        ({"openinference.span.kind": "RETRIEVER"}, "RETRIEVAL"),
        ({"openinference.span.kind": "reranker"}, "RERANKER"),
        ({"openinference.span.kind": "GUARDRAIL"}, "GUARDRAIL"),
        ({"openinference.span.kind": "EVALUATOR"}, "EVALUATOR"),
        ({"openinference.span.kind": "CHAIN", "gen_ai.operation.name": "chat"}, "CHAIN"),
        ({"openinference.span.kind": "PROMPT", "gen_ai.operation.name": "chat"}, "LLM"),
        ({"gen_ai.operation.name": "chat"}, "LLM"),
        ({"gen_ai.operation.name": "text_completion"}, "LLM"),
        ({"gen_ai.operation.name": "generate_content"}, "LLM"),
        ({"gen_ai.operation.name": "embeddings"}, "EMBEDDING"),
        ({"gen_ai.operation.name": "execute_tool"}, "TOOL"),
        ({"gen_ai.operation.name": "invoke_agent"}, "AGENT"),
        ({"gen_ai.operation.name": "create_agent"}, "AGENT"),
        ({"gen_ai.operation.name": "Chat"}, "LLM"),
        ({"gen_ai.operation.name": "unknown_op", "traceloop.span.kind": "workflow"}, "CHAIN"),
        ({"traceloop.span.kind": "task"}, "CHAIN"),
        ({"traceloop.span.kind": "agent"}, "AGENT"),
        ({"traceloop.span.kind": "tool"}, "TOOL"),
        ({"traceloop.span.kind": "unknown", "llm.request.type": "chat"}, "LLM"),
        ({"llm.request.type": "completion"}, "LLM"),
        ({"llm.request.type": "embedding"}, "EMBEDDING"),
        ({"gen_ai.request.model": "gpt-4o"}, "LLM"),
        ({"http.method": "GET"}, "CUSTOM"),
        ({}, "CUSTOM"),
        ({"openinference.span.kind": 3}, "CUSTOM"),
    ],
)
def test_span_type_precedence(attrs: dict[str, Any], expected: str) -> None:
    assert one(attrs).span_type == expected


# --- OTel GenAI (current names) -------------------------------------------------------------


def test_gen_ai_current_conventions() -> None:
    record = one(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "OpenAI",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 200,
        }
    )
    assert (record.span_type, record.provider, record.model, record.request_model) == (
        "LLM",
        "openai",
        "gpt-4o-2024-08-06",
        "gpt-4o",
    )
    assert (record.input_tokens, record.output_tokens, record.total_tokens) == (1000, 200, 1200)
    assert record.cost_usd == pytest.approx(cost_usd("gpt-4o", 1000, 200))


def test_model_falls_back_to_request_model() -> None:
    record = one({"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini"})
    assert (record.model, record.request_model) == ("gpt-4o-mini", "gpt-4o-mini")


def test_cache_and_reasoning_tokens_are_kept_apart() -> None:
    record = one(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 300,
            "gen_ai.usage.cache_read.input_tokens": 600,
            "gen_ai.usage.cache_creation.input_tokens": 100,
            "gen_ai.usage.reasoning.output_tokens": 120,
        }
    )
    assert (record.input_tokens, record.output_tokens, record.total_tokens) == (1000, 300, 1300)
    assert (record.cache_read_tokens, record.cache_write_tokens, record.reasoning_tokens) == (600, 100, 120)
    assert record.cost_usd == pytest.approx(cost_usd("claude-sonnet-4-5", 1000, 300, 600, 100))


def test_gen_ai_messages_as_json_strings_are_kept_as_sent() -> None:
    messages = '[{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]'
    answer = '[{"role": "assistant", "parts": [{"type": "text", "content": "Hello"}]}]'
    record = one({"gen_ai.input.messages": messages, "gen_ai.output.messages": answer})
    assert (record.input, record.output) == (messages, answer)


def test_gen_ai_structured_messages_become_compact_json() -> None:
    messages = [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]
    record = one({"gen_ai.input.messages": messages})
    assert record.input == '[{"role":"user","parts":[{"type":"text","content":"Hi"}]}]'


def test_gen_ai_system_instructions_lead_the_input_messages() -> None:
    record = one(
        {
            "gen_ai.system_instructions": '[{"type": "text", "content": "Be brief."}]',
            "gen_ai.input.messages": '[{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]',
        }
    )
    assert json.loads(record.input) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Hi"}]},
    ]


def test_gen_ai_system_instructions_alone() -> None:
    record = one({"gen_ai.system_instructions": [{"type": "text", "content": "Be brief."}]})
    assert json.loads(record.input) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]}
    ]


# --- OTel GenAI (deprecated names) ----------------------------------------------------------


def test_gen_ai_deprecated_conventions() -> None:
    record = one(
        {
            "gen_ai.system": "Anthropic",
            "gen_ai.request.model": "claude-3-5-sonnet-20241022",
            "gen_ai.usage.prompt_tokens": 50,
            "gen_ai.usage.completion_tokens": 7,
            "gen_ai.usage.cache_read_input_tokens": 20,
            "gen_ai.usage.cache_creation_input_tokens": 5,
        }
    )
    assert (record.provider, record.model, record.input_tokens, record.output_tokens) == (
        "anthropic",
        "claude-3-5-sonnet-20241022",
        50,
        7,
    )
    assert (record.total_tokens, record.cache_read_tokens, record.cache_write_tokens) == (57, 20, 5)


def test_gen_ai_deprecated_content_events() -> None:
    span = make_span({"gen_ai.system": "openai"})
    span.events.add(name="gen_ai.content.prompt").attributes.extend(kvs({"gen_ai.prompt": "Hi"}))
    span.events.add(name="gen_ai.content.completion").attributes.extend(kvs({"gen_ai.completion": "Hello"}))
    record = map_export_request(make_request(span), "p").records[0]
    assert (record.input, record.output) == ("Hi", "Hello")


def test_provider_name_wins_over_deprecated_system() -> None:
    assert (
        one({"gen_ai.provider.name": "aws.bedrock", "gen_ai.system": "anthropic"}).provider == "aws.bedrock"
    )


# --- OpenInference --------------------------------------------------------------------------


def test_openinference_conventions() -> None:
    record = one(
        {
            "openinference.span.kind": "LLM",
            "llm.provider": "OpenAI",
            "llm.model_name": "gpt-4o-2024-08-06",
            "llm.invocation_parameters": '{"model": "gpt-4o", "temperature": 0}',
            "llm.token_count.prompt": 30,
            "llm.token_count.completion": 10,
            "llm.token_count.total": 40,
            "llm.token_count.prompt_details.cache_read": 12,
            "llm.token_count.prompt_details.cache_write": 3,
            "llm.token_count.completion_details.reasoning": 4,
            "llm.input_messages.0.message.role": "system",
            "llm.input_messages.0.message.content": "Be brief.",
            "llm.input_messages.1.message.role": "user",
            "llm.input_messages.1.message.content": "Hi",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": "Hello",
        }
    )
    assert (record.span_type, record.provider, record.model, record.request_model) == (
        "LLM",
        "openai",
        "gpt-4o-2024-08-06",
        "gpt-4o",
    )
    assert (record.input_tokens, record.output_tokens, record.total_tokens) == (30, 10, 40)
    assert (record.cache_read_tokens, record.cache_write_tokens, record.reasoning_tokens) == (12, 3, 4)
    assert record.input == ('[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}]')
    assert record.output == '[{"role":"assistant","content":"Hello"}]'


def test_openinference_model_from_invocation_parameters_alone() -> None:
    record = one({"openinference.span.kind": "LLM", "llm.invocation_parameters": '{"model": "gpt-4.1"}'})
    assert (record.model, record.request_model) == ("gpt-4.1", "gpt-4.1")


def test_openinference_embedding_model() -> None:
    record = one(
        {
            "openinference.span.kind": "EMBEDDING",
            "embedding.model_name": "text-embedding-3-small",
            "llm.system": "openai",
        }
    )
    assert (record.span_type, record.model, record.provider) == (
        "EMBEDDING",
        "text-embedding-3-small",
        "openai",
    )


def test_openinference_embedding_invocation_parameters() -> None:
    record = one({"embedding.invocation_parameters": '{"model": "text-embedding-3-large"}'})
    assert record.model == "text-embedding-3-large"


def test_openinference_input_and_output_value() -> None:
    record = one({"openinference.span.kind": "CHAIN", "input.value": "question", "output.value": '{"a": 1}'})
    assert (record.span_type, record.input, record.output) == ("CHAIN", "question", '{"a": 1}')


def test_openinference_explicit_cost_wins_over_price_table() -> None:
    record = one(
        {
            "llm.model_name": "gpt-4o",
            "llm.token_count.prompt": 1000,
            "llm.token_count.completion": 1000,
            "llm.cost.total": 0.5,
        }
    )
    assert record.cost_usd == 0.5


def test_openinference_split_costs_are_summed() -> None:
    record = one({"llm.model_name": "gpt-4o", "llm.cost.prompt": 0.25, "llm.cost.completion": 0.125})
    assert record.cost_usd == 0.375


def test_prela_cost_attribute_wins() -> None:
    record = one({"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 10, "prela.cost_usd": 1.5})
    assert record.cost_usd == 1.5


def test_openinference_multimodal_message_keeps_all_members() -> None:
    record = one(
        {
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.contents.0.message_content.type": "text",
            "llm.input_messages.0.message.contents.0.message_content.text": "What is this?",
        }
    )
    assert json.loads(record.input) == [
        {
            "role": "user",
            "contents.0.message_content.type": "text",
            "contents.0.message_content.text": "What is this?",
        }
    ]


# --- OpenLLMetry / Traceloop ----------------------------------------------------------------


def test_openllmetry_conventions() -> None:
    record = one(
        {
            "llm.request.type": "chat",
            "gen_ai.system": "OpenAI",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            "gen_ai.usage.prompt_tokens": 12,
            "gen_ai.usage.completion_tokens": 5,
            "llm.usage.total_tokens": 17,
            "gen_ai.prompt.0.role": "system",
            "gen_ai.prompt.0.content": "Be brief.",
            "gen_ai.prompt.1.role": "user",
            "gen_ai.prompt.1.content": "Hi",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "Hello",
            "gen_ai.completion.0.finish_reason": "stop",
        }
    )
    assert (record.span_type, record.provider, record.model, record.request_model) == (
        "LLM",
        "openai",
        "gpt-4o-mini-2024-07-18",
        "gpt-4o-mini",
    )
    assert (record.input_tokens, record.output_tokens, record.total_tokens) == (12, 5, 17)
    assert record.input == '[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}]'
    assert record.output == '[{"role":"assistant","content":"Hello"}]'


def test_openllmetry_prompts_are_ordered_numerically() -> None:
    attrs = {}
    for i in (10, 2, 0, 1, 3, 4, 5, 6, 7, 8, 9):
        attrs[f"gen_ai.prompt.{i}.role"] = "user"
        attrs[f"gen_ai.prompt.{i}.content"] = f"m{i}"
    record = one(attrs)
    assert [m["content"] for m in json.loads(record.input)] == [f"m{i}" for i in range(11)]


def test_openllmetry_tool_call_completion_keeps_all_members() -> None:
    record = one(
        {
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.finish_reason": "tool_calls",
            "gen_ai.completion.0.tool_calls.0.name": "get_weather",
            "gen_ai.completion.0.tool_calls.0.arguments": '{"city": "Paris"}',
        }
    )
    assert json.loads(record.output) == [
        {
            "role": "assistant",
            "finish_reason": "tool_calls",
            "tool_calls.0.name": "get_weather",
            "tool_calls.0.arguments": '{"city": "Paris"}',
        }
    ]


def test_traceloop_entity_input_and_output() -> None:
    record = one(
        {
            "traceloop.span.kind": "workflow",
            "traceloop.entity.input": '{"args": ["q"]}',
            "traceloop.entity.output": '"answer"',
        }
    )
    assert (record.span_type, record.input, record.output) == ("CHAIN", '{"args": ["q"]}', '"answer"')


def test_no_llm_fields_on_a_plain_span() -> None:
    record = one({"http.method": "GET"})
    assert record[SpanRecord._fields.index("provider") :] == (
        "",
        "",
        "",
        0,
        0,
        0,
        0,
        0,
        0,
        0.0,
        "",
        "",
        "",
        "",
        "",
    )


def test_unknown_model_costs_nothing() -> None:
    record = one({"gen_ai.request.model": "my-own-llm", "gen_ai.usage.input_tokens": 100})
    assert record.cost_usd == 0.0


def test_token_counts_sent_as_strings_or_doubles_are_read() -> None:
    record = one({"gen_ai.usage.input_tokens": "42", "gen_ai.usage.output_tokens": 8.0})
    assert (record.input_tokens, record.output_tokens, record.total_tokens) == (42, 8, 50)


# --- real OTel SDK spans ------------------------------------------------------------------


def sdk_request(build: Any) -> ExportTraceServiceRequest:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "chatbot"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    build(provider.get_tracer("opentelemetry.instrumentation.openai_v2", "2.1b0"))
    provider.shutdown()
    return encode_spans(exporter.get_finished_spans())


def test_real_sdk_spans_map_with_parentage_and_llm_fields() -> None:
    def build(tracer: Any) -> None:
        with tracer.start_as_current_span("invoke_agent planner") as agent:
            agent.set_attribute("gen_ai.operation.name", "invoke_agent")
            with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT) as llm:
                llm.set_attributes(
                    {
                        "gen_ai.operation.name": "chat",
                        "gen_ai.provider.name": "openai",
                        "gen_ai.request.model": "gpt-4o",
                        "gen_ai.usage.input_tokens": 20,
                        "gen_ai.usage.output_tokens": 4,
                        "gen_ai.response.finish_reasons": ("stop",),
                    }
                )
                llm.set_status(StatusCode.ERROR, "boom")

    mapped = map_export_request(sdk_request(build), "p")
    assert mapped.rejected == 0
    by_name = {r.name: r for r in mapped.records}
    agent, llm = by_name["invoke_agent planner"], by_name["chat gpt-4o"]
    assert llm.parent_span_id == agent.span_id
    assert llm.trace_id == agent.trace_id
    assert len(llm.trace_id) == 32 and len(llm.span_id) == 16
    assert (agent.span_type, llm.span_type, llm.kind, agent.kind) == ("AGENT", "LLM", "CLIENT", "INTERNAL")
    assert (llm.status, llm.status_message, llm.service_name) == ("ERROR", "boom", "chatbot")
    assert (llm.scope_name, llm.scope_version) == ("opentelemetry.instrumentation.openai_v2", "2.1b0")
    assert (llm.model, llm.provider, llm.total_tokens) == ("gpt-4o", "openai", 24)
    assert json.loads(llm.attributes)["gen_ai.response.finish_reasons"] == ["stop"]
    assert llm.duration_ns == llm.ended_at_ns - llm.started_at_ns


@pytest.mark.parametrize(
    "attrs",
    [
        {},
        {"http.request.method": "GET", "url.full": "https://example.com/x", "http.response.status_code": 200},
        {"db.system": "postgresql", "db.query.text": "SELECT 1", "server.port": 5432},
        {"messaging.system": "kafka", "input": "not an llm field outside Prela JSON"},
    ],
)
def test_spans_without_llm_attributes_take_the_fast_path_with_the_same_result(attrs: dict) -> None:
    from prela.collector.mapping import _NOTHING_LIFTED, lift_all_llm_fields, lift_llm_fields

    assert lift_llm_fields(attrs) == lift_all_llm_fields(attrs) == _NOTHING_LIFTED


def test_an_indexed_prompt_attribute_alone_is_not_skipped() -> None:
    from prela.collector.mapping import lift_llm_fields

    fields = lift_llm_fields({"gen_ai.prompt.0.content": "hi", "gen_ai.prompt.0.role": "user"})
    assert "hi" in fields[11]


def test_spans_with_times_beyond_the_storable_range_are_rejected_alone() -> None:
    import os

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

    from prela.collector.mapping import map_export_request

    def one(start: int, end: int) -> Span:
        return Span(trace_id=os.urandom(16), span_id=os.urandom(8), name="x",
                    start_time_unix_nano=start, end_time_unix_nano=end)  # fmt: skip

    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                scope_spans=[ScopeSpans(spans=[one(1, 2), one(2**64 - 1, 2**64 - 1), one(1, 2**63)])]
            )
        ]
    )
    mapped = map_export_request(request, "p")
    assert (len(mapped.records), mapped.rejected) == (1, 2)
    assert "2262" in mapped.errors[0]


@pytest.mark.parametrize(
    "attrs",
    [
        {"gen_ai.usage.input_tokens": -3},
        {"llm.token_count.prompt": 2**64},
        {"gen_ai.usage.input_tokens": "many"},
    ],
)
def test_implausible_token_counts_are_not_lifted(attrs: dict) -> None:
    from prela.collector.mapping import lift_llm_fields

    assert lift_llm_fields({"gen_ai.request.model": "gpt-4o", **attrs})[4] == 0


@pytest.mark.parametrize("cost", [float("nan"), float("inf"), -1.0])
def test_implausible_costs_are_not_lifted(cost: float) -> None:
    from prela.collector.mapping import lift_llm_fields

    assert lift_llm_fields({"gen_ai.request.model": "unknown-model", "llm.cost.total": cost})[10] == 0.0


# --- sessions, users, environment ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attrs", "session", "user"),
    [
        ({"prela.session_id": "s-prela", "prela.user_id": "u-prela"}, "s-prela", "u-prela"),
        ({"gen_ai.conversation.id": "conv-1"}, "conv-1", ""),
        ({"session.id": "s-oi", "user.id": "u-oi"}, "s-oi", "u-oi"),
        ({"enduser.id": "alice"}, "", "alice"),
        (
            {
                "traceloop.association.properties.session_id": "s-tl",
                "traceloop.association.properties.user_id": "u-tl",
            },
            "s-tl",
            "u-tl",
        ),
        ({"langfuse.session.id": "s-lf", "langfuse.user.id": "u-lf"}, "s-lf", "u-lf"),
        ({"prela.session_id": "first", "session.id": "second", "user.id": 42}, "first", "42"),
        ({"http.method": "GET"}, "", ""),
    ],
)
def test_session_and_user_come_from_every_convention(attrs: dict[str, Any], session: str, user: str) -> None:
    record = one(attrs)
    assert (record.session_id, record.user_id) == (session, user)


def test_environment_comes_from_the_resource_first() -> None:
    request = make_request(make_span({"deployment.environment": "span-env"}))
    request.resource_spans[0].resource.attributes.add(
        key="deployment.environment.name"
    ).value.string_value = "prod"
    assert map_export_request(request, "p").records[0].environment == "prod"
    assert one({"deployment.environment": "staging"}).environment == "staging"
    assert one({}).environment == ""


def test_session_attributes_do_not_make_a_plain_span_an_llm_span() -> None:
    record = one({"session.id": "s1", "http.method": "GET"})
    assert record.span_type == "CUSTOM" and record.model == "" and record.session_id == "s1"
