"""logfire's OpenAI instrumentation, configured locally (`send_to_logfire=False`) with an extra OTLP/gRPC
span processor to Prela. One client in logfire's default format (version 2: GenAI messages) calls with a
tool offered; a second in the legacy format (version 1: `request_data` / `response_data`) asks plainly.
Usage: python -m tests.frameworks.apps_py.logfire_openai_app GRPC_ENDPOINT LLM_URL"""

from __future__ import annotations

import json
import sys

import logfire
from openai import OpenAI
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from tests.frameworks.fake_llm_py import REQUEST_MODEL

SERVICE = "logfire-openai-app"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather in Paris?"}]


def main(grpc_endpoint: str, llm_url: str) -> None:
    processor = BatchSpanProcessor(OTLPSpanExporter(endpoint=grpc_endpoint, insecure=True))
    logfire.configure(
        send_to_logfire=False,
        console=False,
        service_name=SERVICE,
        additional_span_processors=[processor],
    )
    semconv_client = OpenAI(base_url=llm_url, api_key="sk-test", max_retries=0)
    legacy_client = OpenAI(base_url=llm_url, api_key="sk-test", max_retries=0)
    logfire.instrument_openai(semconv_client)
    logfire.instrument_openai(legacy_client, version=1)
    with logfire.span("weather question"):
        semconv_client.chat.completions.create(model=REQUEST_MODEL, messages=MESSAGES, tools=[WEATHER_TOOL])  # type: ignore[arg-type, list-item]
        legacy_client.chat.completions.create(model=REQUEST_MODEL, messages=MESSAGES)  # type: ignore[arg-type]
    logfire.shutdown()
    print(json.dumps({"ok": True}))


if __name__ == "__main__":
    main(*sys.argv[1:3])
