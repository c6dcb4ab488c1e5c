"""The attributes the Python agent frameworks write, lifted by the conventions (no server needed).

Attribute dicts are as pydantic-ai 2.68, logfire 5.4 and LiteLLM 1.110 write them (see the end-to-end
modules beside this one for the live runs).
"""

from __future__ import annotations

import json

from prela.collector.mapping import context_fields, lift_llm_fields
from prela.collector.pricing import cost_usd

PYDANTIC_AI_CALL = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
    "gen_ai.usage.input_tokens": 21,
    "gen_ai.usage.output_tokens": 8,
    "gen_ai.usage.cache_read.input_tokens": 5,
    "gen_ai.usage.details.reasoning_tokens": 3,
    "operation.cost": 0.5,
}


def test_pydantic_ai_reasoning_tokens_are_lifted() -> None:
    lifted = lift_llm_fields(PYDANTIC_AI_CALL)
    assert (lifted[0], lifted[7], lifted[9]) == ("LLM", 5, 3)


def test_operation_cost_reported_by_pydantic_ai_or_logfire_wins_over_the_price_table() -> None:
    assert cost_usd("gpt-4o-mini-2024-07-18", 21, 8, 5) != 0.5
    assert lift_llm_fields(PYDANTIC_AI_CALL)[10] == 0.5


def test_litellm_total_cost_wins_over_the_price_table() -> None:
    attrs = {
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": 21,
        "gen_ai.cost.total_cost": 0.25,
    }
    assert lift_llm_fields(attrs)[10] == 0.25


def test_pydantic_ai_agent_run_input_is_its_instructions_and_all_messages() -> None:
    messages = [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]
    attrs = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Be brief."}]),
        "pydantic_ai.all_messages": json.dumps(messages),
        "final_result": "Hello.",
    }
    lifted = lift_llm_fields(attrs)
    assert lifted[0] == "AGENT"
    assert json.loads(lifted[11]) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        *messages,
    ]
    assert lifted[12] == "Hello."


def test_gen_ai_input_messages_win_over_pydantic_ai_all_messages() -> None:
    attrs = {"gen_ai.input.messages": '[{"role": "user"}]', "pydantic_ai.all_messages": '[{"role": "tool"}]'}
    assert lift_llm_fields(attrs)[11] == '[{"role": "user"}]'


def test_gen_ai_tool_call_arguments_and_result_are_a_tool_span_content() -> None:
    attrs = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.call.arguments": '{"city": "Paris"}',
        "gen_ai.tool.call.result": "sunny",
    }
    assert (lift_llm_fields(attrs)[0], *lift_llm_fields(attrs)[11:]) == ("TOOL", '{"city": "Paris"}', "sunny")


def test_logfire_legacy_request_and_response_data_are_the_content_as_sent() -> None:
    attrs = {
        "gen_ai.operation.name": "chat",
        "request_data": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]},
        "response_data": {"message": {"role": "assistant", "content": "Hello"}},
    }
    lifted = lift_llm_fields(attrs)
    assert json.loads(lifted[11]) == attrs["request_data"]
    assert json.loads(lifted[12]) == attrs["response_data"]


def test_litellm_end_user_is_the_user_id() -> None:
    assert context_fields({"llm.user": "end-user-1"}) == ("", "end-user-1", "")
    assert context_fields({"user.id": "u", "llm.user": "end-user-1"})[1] == "u"
