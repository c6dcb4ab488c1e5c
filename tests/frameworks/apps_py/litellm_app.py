"""LiteLLM's OpenTelemetry callback (`litellm.callbacks = ["otel"]`), configured by its documented
environment (OTEL_EXPORTER=otlp_http, OTEL_ENDPOINT), calling the fake server through the `openai/`
provider and `api_base`: one call offered a tool, one plain. Each call is a trace of its own.
Usage: python -m tests.frameworks.apps_py.litellm_app LLM_URL (with the OTEL_* environment set)"""

from __future__ import annotations

import json
import os
import sys

# LiteLLM fetches its model price map from the internet at import unless told to use its own copy.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm

from tests.frameworks.apps_py.logfire_openai_app import MESSAGES, WEATHER_TOOL
from tests.frameworks.fake_llm_py import REQUEST_MODEL

USER = "end-user-1"


def main(llm_url: str) -> None:
    litellm.callbacks = ["otel"]
    model = f"openai/{REQUEST_MODEL}"
    litellm.completion(
        model=model, api_base=llm_url, api_key="sk-test", messages=MESSAGES, tools=[WEATHER_TOOL], user=USER
    )
    litellm.completion(model=model, api_base=llm_url, api_key="sk-test", messages=MESSAGES, user=USER)
    # The callbacks run on LiteLLM's worker threads; the exporter flushes at exit, after they end.
    print(json.dumps({"ok": True}))


if __name__ == "__main__":
    main(sys.argv[1])
