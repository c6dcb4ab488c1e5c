"""Helpers for tests of code traced with Prela: read back the spans of `prela.init(exporter="memory")`.

```
prela.init(exporter="memory")
run_my_agent()
span = prela.testing.find_span("chat gpt-4o")
assert span.attributes["gen_ai.usage.input_tokens"] == 12
```

`reset()` is for test suites only: it undoes the global provider, which OpenTelemetry otherwise
lets a process set just once. Instrumentations that cached a tracer from the old provider keep it.
"""

from __future__ import annotations

from opentelemetry import trace as trace_api
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once

from prela.provider import PrelaTracerProvider


def memory_exporter() -> InMemorySpanExporter:
    """The memory exporter of the global Prela provider; a `RuntimeError` when there is none."""
    provider = trace_api.get_tracer_provider()
    exporter = provider.span_exporter if isinstance(provider, PrelaTracerProvider) else None
    if not isinstance(exporter, InMemorySpanExporter):
        raise RuntimeError(
            f"no Prela memory exporter: the global provider is {type(provider).__name__} with "
            f'{type(exporter).__name__}; call prela.init(exporter="memory") first'
        )
    return exporter


def get_finished_spans() -> list[ReadableSpan]:
    """Every span exported so far, in the order they ended."""
    return list(memory_exporter().get_finished_spans())


def clear_spans() -> None:
    """Forget the spans exported so far."""
    memory_exporter().clear()


def find_spans(name: str) -> list[ReadableSpan]:
    """The exported spans with this name, in the order they ended."""
    return [span for span in get_finished_spans() if span.name == name]


def find_span(name: str) -> ReadableSpan:
    """The one exported span with this name; an `AssertionError` listing the names otherwise."""
    found = find_spans(name)
    if len(found) != 1:
        names = [span.name for span in get_finished_spans()]
        raise AssertionError(f"expected one span named {name!r}, found {len(found)} among {names}")
    return found[0]


def reset() -> None:
    """Test-only: shut down the global provider (if Prela's) and unset it, so `prela.init()` can
    run again in the same process. Never call this in application code."""
    provider = trace_api.get_tracer_provider()
    if isinstance(provider, PrelaTracerProvider):
        provider.shutdown()
    # The same reset the OpenTelemetry SDK's own test suite does (opentelemetry.test.globals_test).
    trace_api._TRACER_PROVIDER_SET_ONCE = Once()
    trace_api._TRACER_PROVIDER = None
