"""The conventions of the Vercel AI SDK and OpenLLMetry's Bedrock instrumentation, on single spans
(the released libraries are driven end to end in tests/frameworks/)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from prela.collector import conventions as cv
from prela.collector.mapping import map_export_request
from prela.collector.pricing import cost_usd
from prela.model.span import SpanRecord
from tests.unit.test_mapping import make_request, make_span, one

BEDROCK_SCOPE = "opentelemetry.instrumentation.bedrock"


def in_scope(attrs: dict[str, Any], scope_name: str) -> SpanRecord:
    (record,) = map_export_request(make_request(make_span(attrs), scope_name=scope_name), "proj-1").records
    return record


@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        ("ai.generateText", "AGENT"),
        ("ai.streamText", "AGENT"),
        ("ai.generateText.doGenerate", "LLM"),
        ("ai.streamText.doStream", "LLM"),
        ("ai.generateObject", "CHAIN"),
        ("ai.streamObject.doStream", "LLM"),
        ("ai.toolCall", "TOOL"),
        ("ai.embed", "CHAIN"),
        ("ai.embedMany", "CHAIN"),
        ("ai.embed.doEmbed", "EMBEDDING"),
        ("ai.embedMany.doEmbed", "EMBEDDING"),
        ("ai.somethingNew", "CUSTOM"),
    ],
)
def test_vercel_operation_id_names_the_span_type(operation: str, expected: str) -> None:
    assert one({"ai.operationId": operation}).span_type == expected


def test_vercel_operation_id_comes_before_the_model_marker_and_after_gen_ai_operation() -> None:
    assert one({"ai.operationId": "ai.generateText", "gen_ai.request.model": "gpt-4o"}).span_type == "AGENT"
    assert one({"ai.operationId": "ai.generateText", "gen_ai.operation.name": "chat"}).span_type == "LLM"


VERCEL_USAGE = {
    "ai.model.id": "gpt-4o-mini",
    "ai.model.provider": "openai.chat",
    "ai.usage.inputTokens": 100,
    "ai.usage.outputTokens": 20,
    "ai.usage.totalTokens": 120,
    "ai.usage.cachedInputTokens": 40,
    "ai.usage.reasoningTokens": 5,
}


def test_vercel_usage_is_read_on_the_model_call() -> None:
    record = one({"ai.operationId": "ai.streamText.doStream", **VERCEL_USAGE})
    assert (record.input_tokens, record.output_tokens, record.total_tokens) == (100, 20, 120)
    assert (record.cache_read_tokens, record.reasoning_tokens) == (40, 5)
    assert (record.model, record.request_model, record.provider) == ("gpt-4o-mini", "gpt-4o-mini", "openai")
    assert record.cost_usd == pytest.approx(cost_usd("gpt-4o-mini", 100, 20, 40))


def test_vercel_usage_repeated_on_the_agent_span_is_not_counted_again() -> None:
    record = one({"ai.operationId": "ai.streamText", **VERCEL_USAGE})
    assert (record.input_tokens, record.output_tokens, record.total_tokens, record.cache_read_tokens) == (
        0,
        0,
        0,
        0,
    )
    assert (record.cost_usd, record.model, record.provider) == (0.0, "gpt-4o-mini", "openai")


def test_vercel_v4_usage_names_and_embedding_tokens() -> None:
    record = one(
        {
            "ai.operationId": "ai.generateText.doGenerate",
            "ai.usage.promptTokens": 7,
            "ai.usage.completionTokens": 3,
        }
    )
    assert (record.input_tokens, record.output_tokens) == (7, 3)
    record = one(
        {
            "ai.operationId": "ai.embedMany.doEmbed",
            "ai.model.id": "text-embedding-3-small",
            "ai.usage.tokens": 9,
        }
    )
    assert (record.span_type, record.input_tokens) == ("EMBEDDING", 9)


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("openai.chat", "openai"),
        ("openai.responses", "openai"),
        ("anthropic.messages", "anthropic"),
        ("google.generative-ai", "gcp.gemini"),
        ("mistral.chat", "mistral_ai"),
        ("amazon-bedrock", "aws.bedrock"),
        ("aws.bedrock", "aws.bedrock"),
        ("OpenAI", "openai"),
        ("openrouter", "openrouter"),
    ],
)
def test_provider_values_naming_an_api_are_the_provider(sent: str, stored: str) -> None:
    assert one({"gen_ai.system": sent}).provider == stored


def test_vercel_7_usage_details_are_read_on_the_model_call_only() -> None:
    details = {
        "ai.usage.inputTokens": 50,
        "ai.usage.inputTokenDetails.cacheReadTokens": 20,
        "ai.usage.inputTokenDetails.cacheWriteTokens": 10,
        "ai.usage.outputTokenDetails.reasoningTokens": 3,
    }
    call = one({"ai.operationId": "ai.generateText.doGenerate", **details})
    assert (call.input_tokens, call.cache_read_tokens, call.cache_write_tokens, call.reasoning_tokens) == (
        50,
        20,
        10,
        3,
    )
    agent = one({"ai.operationId": "ai.generateText", **details})
    assert (
        agent.input_tokens,
        agent.cache_read_tokens,
        agent.cache_write_tokens,
        agent.reasoning_tokens,
    ) == (0, 0, 0, 0)


def test_gen_ai_agent_step_and_tool_call_content() -> None:
    assert one({"gen_ai.operation.name": "agent_step"}).span_type == "CHAIN"
    tool = one(
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.call.arguments": '{"city":"Paris"}',
            "gen_ai.tool.call.result": '{"forecast":"sunny"}',
        }
    )
    assert (tool.span_type, tool.input, tool.output) == ("TOOL", '{"city":"Paris"}', '{"forecast":"sunny"}')


@pytest.mark.parametrize("prefix", ["ai.telemetry.metadata.", "ai.settings.context."])
def test_vercel_session_and_user_from_metadata_or_runtime_context(prefix: str) -> None:
    record = one({"ai.operationId": "ai.toolCall", f"{prefix}sessionId": "s-9", f"{prefix}userId": "u-9"})
    assert (record.session_id, record.user_id) == ("s-9", "u-9")


def test_vercel_content_and_session() -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    record = one(
        {
            "ai.operationId": "ai.generateText.doGenerate",
            "ai.prompt.messages": json.dumps(messages),
            "ai.response.toolCalls": '[{"toolCallId":"c1","toolName":"weather","input":"{}"}]',
            "ai.telemetry.metadata.sessionId": "s-1",
            "ai.telemetry.metadata.userId": "u-1",
        }
    )
    assert json.loads(record.input) == messages
    assert json.loads(record.output)[0]["toolName"] == "weather"
    assert (record.session_id, record.user_id) == ("s-1", "u-1")
    text = one({"ai.response.text": "hello", "ai.response.toolCalls": "[]"})
    assert text.output == "hello"
    tool = one({"ai.operationId": "ai.toolCall", "ai.toolCall.args": '{"a":1}', "ai.toolCall.result": '"ok"'})
    assert (tool.input, tool.output) == ('{"a":1}', '"ok"')


def reported(metadata: Any, **extra: Any) -> SpanRecord:
    attrs = {
        "ai.operationId": "ai.generateText.doGenerate",
        "ai.model.id": "gpt-4o",
        "ai.usage.inputTokens": 1000,
    }
    return one({**attrs, "ai.response.providerMetadata": metadata, **extra})


def test_a_cost_in_the_provider_metadata_wins_over_the_price_table() -> None:
    assert reported('{"openrouter": {"usage": {"cost": 0.25}}}').cost_usd == pytest.approx(0.25)
    assert reported('{"gateway": {"cost": "0.125"}}').cost_usd == pytest.approx(0.125)


def test_an_explicit_cost_attribute_wins_over_the_provider_metadata() -> None:
    assert reported('{"gateway": {"cost": "0.125"}}', **{"llm.cost.total": 0.5}).cost_usd == pytest.approx(
        0.5
    )


@pytest.mark.parametrize(
    "metadata", ["{not json", '{"openai": {}}', '{"gateway": {"cost": "-1"}}', '{"gateway": []}']
)
def test_provider_metadata_without_a_usable_cost_falls_back_to_the_price_table(metadata: str) -> None:
    assert reported(metadata).cost_usd == pytest.approx(cost_usd("gpt-4o", 1000, 0))


def test_provider_metadata_cost_on_the_agent_span_is_not_counted_again() -> None:
    attrs = {"ai.operationId": "ai.generateText", "ai.response.providerMetadata": '{"gateway": {"cost": 1}}'}
    assert one(attrs).cost_usd == 0.0


BEDROCK = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "aws.bedrock",
    "gen_ai.request.model": "claude-3-5-sonnet-20240620-v1:0",
    "gen_ai.usage.input_tokens": 25,
    "gen_ai.usage.output_tokens": 6,
    "gen_ai.usage.total_tokens": 31,
    "gen_ai.usage.cache_read.input_tokens": 10,
    "gen_ai.usage.cache_creation.input_tokens": 5,
}


def test_bedrock_input_tokens_leave_out_the_cache_and_are_counted_back_in() -> None:
    record = in_scope(BEDROCK, BEDROCK_SCOPE)
    assert (record.input_tokens, record.total_tokens) == (40, 46)
    assert record.cost_usd == pytest.approx(cost_usd("claude-3-5-sonnet", 40, 6, 10, 5))


def test_other_scopes_input_tokens_already_count_the_cache() -> None:
    record = in_scope(BEDROCK, "opentelemetry.instrumentation.anthropic")
    assert (record.input_tokens, record.total_tokens) == (25, 31)


def test_every_model_call_only_key_is_a_key_the_conventions_read() -> None:
    read = {
        key
        for name, value in vars(cv).items()
        if name.endswith("_KEYS") and name != "MODEL_CALL_ONLY_KEYS" and isinstance(value, tuple)
        for key in value
    } | {key for key, _ in cv.COST_JSON_PATHS}
    assert cv.MODEL_CALL_ONLY_KEYS.issubset(read)


def test_value_tables_are_matched_lower_cased() -> None:
    for table in (cv.VERCEL_AI_OPERATIONS, cv.PROVIDER_ALIASES):
        assert all(key == key.lower() for key in table)
