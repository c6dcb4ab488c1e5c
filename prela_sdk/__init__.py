"""Prela: OpenTelemetry-native tracing for LLM and AI-agent applications.

This package is the light SDK install (`pip install prela`); the server roles live in
`prela.collector`, `prela.exporters`, `prela.query` and `prela.server` and need the `server` extra.

```
import prela
prela.init(service_name="my-app", exporter="http", http_endpoint="https://…/v1/traces")

@prela.trace(span_type="TOOL")
def search(query: str) -> list[str]: ...

with prela.llm("gpt-4o", provider="openai", input=messages) as call:
    call.set_llm(output=answer, input_tokens=12, output_tokens=34)

with prela.session("chat-42", user_id="alice"):   # on every span started inside
    run_agent()
```
"""

__version__ = "0.1.0"

from opentelemetry.trace import get_current_span as current_span

from prela import testing
from prela.config import PrelaConfigError, SdkSettings
from prela.decorators import TraceDecorator, trace
from prela.genai import LLMSpan, llm, set_llm
from prela.lifecycle import PrelaInitError, PrelaSetupWarning, flush, init, shutdown, span_processor
from prela.provider import SPAN_TYPES, PrelaTracer, PrelaTracerProvider
from prela.sessions import SessionScope, SessionSpanProcessor, session, user


def get_tracer(name: str, version: str | None = None) -> PrelaTracer:
    """A tracer from the global Prela provider (a `PrelaTracer`, so `span_type=` is accepted).

    Raises `RuntimeError` before `prela.init()` (or when another provider is global).
    """
    from opentelemetry import trace as _trace

    provider = _trace.get_tracer_provider()
    if not isinstance(provider, PrelaTracerProvider):
        raise RuntimeError(
            f"prela.get_tracer() needs prela.init() first (global provider: {type(provider).__name__})"
        )
    tracer = provider.get_tracer(name, version)
    if not isinstance(tracer, PrelaTracer):  # OTEL_SDK_DISABLED=true hands out no-op tracers
        raise RuntimeError("prela.get_tracer(): the OpenTelemetry SDK is disabled (OTEL_SDK_DISABLED)")
    return tracer


__all__ = [
    "SPAN_TYPES",
    "LLMSpan",
    "PrelaConfigError",
    "PrelaInitError",
    "PrelaSetupWarning",
    "PrelaTracer",
    "PrelaTracerProvider",
    "SdkSettings",
    "SessionScope",
    "SessionSpanProcessor",
    "TraceDecorator",
    "__version__",
    "current_span",
    "flush",
    "get_tracer",
    "init",
    "llm",
    "session",
    "set_llm",
    "shutdown",
    "span_processor",
    "testing",
    "trace",
    "user",
]
