"""`capture_content=False`: the attributes that carry prompts and completions, and the exporter
wrapper that removes them from every exported span (Prela's own and third-party instrumentation's).

The names mirror the content keys the collector reads (`prela.collector.conventions`), which the SDK
must not import: OTel GenAI (current and deprecated), OpenInference, OpenLLMetry / Traceloop.
Redaction runs in the export path (the batch thread), so the span hot path pays nothing for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

CONTENT_KEYS: Final[frozenset[str]] = frozenset(
    (
        # OTel GenAI
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "gen_ai.prompt",
        "gen_ai.completion",
        # OpenInference
        "input.value",
        "output.value",
        "llm.prompts",
        "llm.prompt_template.variables",
        # OpenLLMetry / Traceloop
        "traceloop.entity.input",
        "traceloop.entity.output",
    )
)
# Indexed families: every key under these prefixes is content.
CONTENT_PREFIXES: Final[tuple[str, ...]] = (
    "gen_ai.prompt.",
    "gen_ai.completion.",
    "llm.input_messages.",
    "llm.output_messages.",
    "embedding.embeddings.",
    "retrieval.documents.",
    "reranker.input_documents.",
    "reranker.output_documents.",
    "reranker.query",
)
# Deprecated GenAI events whose whole purpose is to carry content.
CONTENT_EVENTS: Final[frozenset[str]] = frozenset(("gen_ai.content.prompt", "gen_ai.content.completion"))


def is_content_key(key: str) -> bool:
    """True when an attribute of this name holds prompt / completion / document content."""
    return key in CONTENT_KEYS or key.startswith(CONTENT_PREFIXES)


def _has_content(span: ReadableSpan) -> bool:
    attributes = span.attributes or {}
    if any(is_content_key(key) for key in attributes):
        return True
    return any(
        event.name in CONTENT_EVENTS or any(is_content_key(key) for key in (event.attributes or {}))
        for event in span.events
    )


def redact_span(span: ReadableSpan) -> ReadableSpan:
    """The span without content attributes and content events (the same span when it has none)."""
    if not _has_content(span):
        return span
    attributes = {k: v for k, v in (span.attributes or {}).items() if not is_content_key(k)}
    events = [
        Event(
            event.name,
            {k: v for k, v in (event.attributes or {}).items() if not is_content_key(k)},
            event.timestamp,
        )
        for event in span.events
        if event.name not in CONTENT_EVENTS
    ]
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes,
        events=events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class ContentRedactingExporter(SpanExporter):
    """Wraps an exporter; every span it exports has its content attributes and events removed."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.inner.export([redact_span(span) for span in spans])

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)
