"""A pydantic-ai agent with one tool, instrumented by pydantic-ai itself (`Agent.instrument_all`),
exporting over OTLP/HTTP. Usage: python -m tests.frameworks.apps_py.pydantic_ai_app INGEST_URL LLM_URL"""

from __future__ import annotations

import json
import sys

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from pydantic_ai import Agent
from pydantic_ai.models.instrumented import InstrumentationSettings
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from tests.frameworks.fake_llm_py import REQUEST_MODEL, get_weather

SERVICE = "pydantic-ai-app"


def main(ingest_url: str, llm_url: str) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{ingest_url}/v1/traces")))
    Agent.instrument_all(InstrumentationSettings(tracer_provider=provider, include_content=True))
    model = OpenAIChatModel(REQUEST_MODEL, provider=OpenAIProvider(base_url=llm_url, api_key="sk-test"))
    agent = Agent(model, name="weather_agent", instructions="Be brief.", tools=[get_weather])
    result = agent.run_sync("Weather in Paris?", conversation_id="conv-pydantic-1")
    provider.shutdown()
    print(json.dumps({"output": result.output}))


if __name__ == "__main__":
    main(*sys.argv[1:3])
