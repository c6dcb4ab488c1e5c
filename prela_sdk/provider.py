"""`PrelaTracerProvider` and `PrelaTracer`: the OTel SDK's, plus an optional `span_type`.

Everything else is the SDK's own behaviour, so any OTel instrumentation that asks the global
provider for a tracer gets a `PrelaTracer` and its spans flow through Prela's processors unchanged.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Sequence
from typing import Any, Final

from opentelemetry import trace as trace_api
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Tracer, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.trace import Link, Span, SpanKind
from opentelemetry.util import types

try:  # the SDK's decorator: a context manager that also decorates async functions
    from opentelemetry.util._decorator import _agnosticcontextmanager
except ImportError:  # pragma: no cover  # older API: plain contextlib semantics
    from contextlib import contextmanager as _agnosticcontextmanager  # type: ignore[assignment]

from prela.config import parse_bool

SPAN_TYPE_ATTRIBUTE: Final = "prela.span_type"
SPAN_TYPES: Final[frozenset[str]] = frozenset(
    (
        "LLM",
        "EMBEDDING",
        "TOOL",
        "AGENT",
        "CHAIN",
        "RETRIEVAL",
        "RERANKER",
        "GUARDRAIL",
        "EVALUATOR",
        "CUSTOM",
    )
)


def normalize_span_type(span_type: str) -> str:
    """`"llm"` → `"LLM"`; a `ValueError` naming the value for anything that is not a Prela type."""
    upper = span_type.upper()
    if upper not in SPAN_TYPES:
        raise ValueError(f"span_type={span_type!r}: expected one of {', '.join(sorted(SPAN_TYPES))}")
    return upper


def with_span_type(attributes: types.Attributes, span_type: str) -> dict[str, Any]:
    """A copy of `attributes` with `prela.span_type` set (validated, upper-case)."""
    merged: dict[str, Any] = dict(attributes) if attributes else {}
    merged[SPAN_TYPE_ATTRIBUTE] = normalize_span_type(span_type)
    return merged


class PrelaTracer(Tracer):
    """The SDK `Tracer`; `start_span` and `start_as_current_span` also take `span_type`."""

    def start_span(
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: Sequence[Link] | None = (),
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        span_type: str | None = None,
    ) -> Span:
        """Start a span; `span_type` (LLM, TOOL, AGENT, ...) is written as `prela.span_type`."""
        if span_type is not None:
            attributes = with_span_type(attributes, span_type)
        # Tracer.start_span(self, ...) rather than super(): this runs once per span.
        return _sdk_start_span(
            self,
            name,
            context,
            kind,
            attributes,
            links,
            start_time,
            record_exception,
            set_status_on_exception,
        )

    @_agnosticcontextmanager
    def start_as_current_span(  # type: ignore[override]  # same contract, one more keyword
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: Sequence[Link] | None = (),
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
        span_type: str | None = None,
    ) -> Iterator[Span]:
        """Start a span and make it current, as the SDK does; also takes `span_type`.

        The SDK's body, calling the SDK's `start_span` directly: going through `super()` and
        `self.start_span` would add two Python frames to every span (see bench/bench_sdk.py).
        """
        if span_type is not None:
            attributes = with_span_type(attributes, span_type)
        span = _sdk_start_span(
            self,
            name,
            context,
            kind,
            attributes,
            links,
            start_time,
            record_exception,
            set_status_on_exception,
        )
        with trace_api.use_span(
            span,
            end_on_exit=end_on_exit,
            record_exception=record_exception,
            set_status_on_exception=set_status_on_exception,
        ) as current:
            yield current


_sdk_start_span = Tracer.start_span


class PrelaTracerProvider(TracerProvider):
    """The SDK `TracerProvider` handing out `PrelaTracer`s and carrying Prela's settings.

    `capture_content` tells Prela's LLM helpers whether to record prompts and completions;
    `span_exporter` is the exporter `prela.init()` built (before any content redaction wrapper).
    """

    def __init__(self, *args: Any, capture_content: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.capture_content = capture_content
        self.span_exporter: SpanExporter | None = None
        self.is_shut_down = False

    def shutdown(self) -> None:
        """Flush and shut down the span processors, once (later calls do nothing)."""
        if self.is_shut_down:
            return
        self.is_shut_down = True
        super().shutdown()

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: types.Attributes = None,
    ) -> trace_api.Tracer:
        """The SDK's tracer for this scope (cached by the SDK), as a `PrelaTracer`."""
        tracer = super().get_tracer(
            instrumenting_module_name, instrumenting_library_version, schema_url, attributes
        )
        if type(tracer) is Tracer:
            # PrelaTracer adds methods only, no state: re-classing keeps every SDK constructor detail
            # (which changes between SDK versions) instead of copying get_tracer.
            tracer.__class__ = PrelaTracer
        return tracer


_PRELA_SCOPE: Final = "prela"
_scope_tracer: tuple[trace_api.TracerProvider, trace_api.Tracer] | None = None


def prela_tracer() -> trace_api.Tracer:
    """The tracer of Prela's own helpers, from whichever provider is global right now.

    Cached per provider: a `ProxyTracer` would pin the first provider it saw (test resets), and
    asking the SDK provider on every span costs a lock and a scope object.
    """
    global _scope_tracer
    provider = trace_api.get_tracer_provider()
    cached = _scope_tracer
    if cached is not None and cached[0] is provider:
        return cached[1]
    from prela import __version__

    tracer = provider.get_tracer(_PRELA_SCOPE, __version__)
    _scope_tracer = (provider, tracer)
    return tracer


def current_capture_content() -> bool:
    """Whether Prela's helpers record content: the global Prela provider's setting; without one,
    `PRELA_CAPTURE_CONTENT` (default true)."""
    provider = trace_api.get_tracer_provider()
    if isinstance(provider, PrelaTracerProvider):
        return provider.capture_content
    return _capture_content_from_env()


@functools.cache
def _capture_content_from_env() -> bool:
    raw = os.environ.get("PRELA_CAPTURE_CONTENT", "").strip()
    return True if not raw else parse_bool("PRELA_CAPTURE_CONTENT", raw)
