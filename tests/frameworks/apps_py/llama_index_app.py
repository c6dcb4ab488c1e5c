"""LlamaIndex traced by OpenInference (`openinference-instrumentation-llama-index`), exported over
OTLP/HTTP: one `llm.chat`, then a `FunctionAgent` with one tool (non-streaming). The LLM class is
LlamaIndex's LiteLLM integration (`openai/` provider + `api_base`) or its OpenAI integration.
Usage: python -m tests.frameworks.apps_py.llama_index_app INGEST_URL LLM_URL litellm|openai"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

# LiteLLM fetches its model price map from the internet at import unless told to use its own copy.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.llms import ChatMessage
from openinference.instrumentation import using_attributes
from openinference.instrumentation.llama_index import LlamaIndexInstrumentor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from tests.frameworks.fake_llm_py import REQUEST_MODEL, get_weather

SERVICE = "llama-index-app"
SESSION = "llama-session-1"
USER = "llama-user-1"


def make_llm(kind: str, llm_url: str) -> Any:
    if kind == "litellm":
        from llama_index.llms.litellm import LiteLLM

        return LiteLLM(model=f"openai/{REQUEST_MODEL}", api_base=llm_url, api_key="sk-test")
    from llama_index.llms.openai import OpenAI  # type: ignore[import-not-found]

    return OpenAI(model=REQUEST_MODEL, api_base=llm_url, api_key="sk-test", max_retries=0)


async def run_agent(agent: FunctionAgent) -> Any:
    return await agent.run("Weather in Paris?")  # the workflow starts on the running loop


def main(ingest_url: str, llm_url: str, kind: str) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": f"{SERVICE}-{kind}"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{ingest_url}/v1/traces")))
    LlamaIndexInstrumentor().instrument(tracer_provider=provider)
    llm = make_llm(kind, llm_url)
    messages = [
        ChatMessage(role="system", content="Be brief."),
        ChatMessage(role="user", content="Weather in Paris?"),
    ]
    agent = FunctionAgent(tools=[get_weather], llm=llm, system_prompt="Be brief.", streaming=False)
    with using_attributes(session_id=SESSION, user_id=USER):
        chat = llm.chat(messages)
        answer = asyncio.run(run_agent(agent))
    provider.shutdown()
    print(json.dumps({"chat": chat.message.content, "agent": str(answer)}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
