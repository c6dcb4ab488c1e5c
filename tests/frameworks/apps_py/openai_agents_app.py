"""An OpenAI Agents SDK agent with one function tool, on the Responses API (the SDK's default model) or
on Chat Completions (`OpenAIChatCompletionsModel`), traced by OpenInference (`openinference-instrumentation-openai-agents`) and exported over OTLP/gRPC.
The instrumentor replaces the SDK's trace processors (its default `exclusive_processor=True`), so
nothing is uploaded to OpenAI. Session and user come from OpenInference's `using_attributes`.
Usage: python -m tests.frameworks.apps_py.openai_agents_app GRPC_ENDPOINT LLM_URL responses|chat"""

from __future__ import annotations

import json
import sys

from agents import Agent, OpenAIChatCompletionsModel, OpenAIResponsesModel, Runner, function_tool
from openai import AsyncOpenAI
from openinference.instrumentation import using_attributes
from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from tests.frameworks.fake_llm_py import REQUEST_MODEL, get_weather

SERVICE = "openai-agents-app"
SESSION = "agents-session-1"
USER = "agents-user-1"
MODELS = {"responses": OpenAIResponsesModel, "chat": OpenAIChatCompletionsModel}


def main(grpc_endpoint: str, llm_url: str, api: str) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": f"{SERVICE}-{api}"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=grpc_endpoint, insecure=True)))
    OpenAIAgentsInstrumentor().instrument(tracer_provider=provider)
    client = AsyncOpenAI(base_url=llm_url, api_key="sk-test", max_retries=0)
    agent = Agent(
        name="weather agent",
        instructions="Be brief.",
        tools=[function_tool(get_weather)],
        model=MODELS[api](model=REQUEST_MODEL, openai_client=client),
    )
    with using_attributes(session_id=SESSION, user_id=USER):
        result = Runner.run_sync(agent, "Weather in Paris?")
    provider.shutdown()
    print(json.dumps({"output": result.final_output}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
