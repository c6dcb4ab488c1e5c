"""An LLM app as users write it: `prela.init()`, stock OTel + OpenInference instrumentations, the
official `openai` client. Run as a subprocess by the end-to-end test; prints its trace id.

argv: <prela ingest base URL> <OpenAI base URL>
"""

from __future__ import annotations

import sys

from openai import OpenAI
from openinference.instrumentation.openai import OpenAIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPX2ClientInstrumentor, HTTPXClientInstrumentor

import prela


def main(ingest_url: str, openai_url: str) -> None:
    prela.init(service_name="openai-app", exporter="http", http_endpoint=f"{ingest_url}/v1/traces")
    HTTPXClientInstrumentor().instrument()  # openai 1.x-2.x
    HTTPX2ClientInstrumentor().instrument()  # openai 3.x sends with httpx2
    OpenAIInstrumentor().instrument()

    client = OpenAI(base_url=openai_url, api_key="sk-test", max_retries=0)
    with prela.trace("answer-question", span_type="AGENT") as span:
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "What is the capital of France?"}],
        )
        print(f"{span.get_span_context().trace_id:032x}", flush=True)
    prela.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
