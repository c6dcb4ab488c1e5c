"""A google-genai app instrumented by `opentelemetry-instrumentation-google-genai`, run by
tests/frameworks/test_google_genai.py in its own virtualenv (requirements.txt beside this file).

One generate_content call with a Python function as a tool: the SDK's automatic function calling makes
two model calls and runs the function between them. Spans and GenAI log records go by OTLP/HTTP to
PRELA_OTLP_URL; the fake Gemini API is FAKE_GEMINI_URL. Prints {"trace_id": ...} once flushed.
"""

from __future__ import annotations

import json
import os

from google import genai
from google.genai import types
from opentelemetry import trace
from opentelemetry._logs import set_logger_provider
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.google_genai import GoogleGenAiSdkInstrumentor
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor


def get_capital(country: str) -> str:
    """The capital city of a country."""
    return {"France": "Paris"}.get(country, "unknown")


def main() -> None:
    otlp = os.environ["PRELA_OTLP_URL"]
    resource = Resource.create({"service.name": "google-genai-app"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{otlp}/v1/traces")))
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{otlp}/v1/logs"))
    )
    trace.set_tracer_provider(tracer_provider)
    set_logger_provider(logger_provider)
    GoogleGenAiSdkInstrumentor().instrument(tracer_provider=tracer_provider, logger_provider=logger_provider)

    client = genai.Client(
        api_key="test-key", http_options=types.HttpOptions(base_url=os.environ["FAKE_GEMINI_URL"])
    )
    with tracer_provider.get_tracer("google-genai-app").start_as_current_span("google-genai-app") as root:
        client.models.generate_content(
            model="gemini-2.0-flash",
            contents="What is the capital of France?",
            config=types.GenerateContentConfig(system_instruction="Answer briefly.", tools=[get_capital]),
        )
    tracer_provider.shutdown()
    logger_provider.shutdown()
    print(json.dumps({"trace_id": format(root.get_span_context().trace_id, "032x")}))


if __name__ == "__main__":
    main()
