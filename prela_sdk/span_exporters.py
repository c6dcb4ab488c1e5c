"""The span exporters behind `prela.init(exporter=...)`, built from `SdkSettings`.

"http" and "grpc" are the official OTLP exporters (their retries, back-off and timeouts, their
`OTEL_EXPORTER_OTLP_*` variables), configured for gzip and Prela's `X-API-Key`. They are imported
only when chosen, so `import prela` does not load gRPC or requests.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import sys
import threading
from collections.abc import Sequence
from typing import IO, Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from prela.config import SdkSettings

logger = logging.getLogger(__name__)

API_KEY_HEADER = "X-API-Key"
_COMPRESSION_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION")
_HEADER_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS")


def _headers(settings: SdkSettings) -> dict[str, str] | None:
    """Headers for the OTLP exporters; `None` leaves `OTEL_EXPORTER_OTLP_*HEADERS` to them."""
    if not settings.api_key and not settings.headers:
        return None
    from opentelemetry.util.re import parse_env_headers

    # Passing headers replaces the exporter's own reading of the variable: merge it here instead.
    merged: dict[str, str] = {}
    for variable in _HEADER_VARIABLES:
        if raw := os.environ.get(variable):
            merged = dict(parse_env_headers(raw, liberal=True))
            break
    merged.update(settings.headers)
    if settings.api_key:
        merged[API_KEY_HEADER] = settings.api_key
    return merged


def _compression_from_env() -> bool:
    return any(os.environ.get(variable) for variable in _COMPRESSION_VARIABLES)


def otlp_http_exporter(settings: SdkSettings) -> SpanExporter:
    """OTLP/HTTP protobuf, gzip (unless `OTEL_EXPORTER_OTLP_*COMPRESSION` says otherwise)."""
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(
        endpoint=settings.http_endpoint,  # None: OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, else localhost:4318
        headers=_headers(settings),
        timeout=settings.export_timeout_seconds,
        compression=None if _compression_from_env() else Compression.Gzip,
    )


def otlp_grpc_exporter(settings: SdkSettings) -> SpanExporter:
    """OTLP/gRPC, gzip, the API key as `x-api-key` metadata (gRPC metadata keys are lower-case)."""
    import grpc
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    headers = _headers(settings)
    return OTLPSpanExporter(
        endpoint=settings.grpc_endpoint,  # None: OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, else localhost:4317
        insecure=settings.grpc_insecure,
        headers=None if headers is None else {k.lower(): v for k, v in headers.items()},
        timeout=settings.export_timeout_seconds,
        compression=None if _compression_from_env() else grpc.Compression.Gzip,
    )


def format_span_pretty(span: ReadableSpan) -> str:
    """A few readable lines per span: name, type, duration, status, ids, then its attributes."""
    attributes = dict(span.attributes or {})
    span_type = attributes.get("prela.span_type") or attributes.get("openinference.span.kind") or ""
    duration_ms = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
    context = span.get_span_context()
    parent = f"{span.parent.span_id:016x}" if span.parent else "-"
    status = span.status.status_code.name + (f" {span.status.description}" if span.status.description else "")
    lines = [
        f"● {span.name}  [{span_type or span.kind.name}]  {duration_ms:.2f} ms  {status}",
        f"    trace={context.trace_id:032x} span={context.span_id:016x} parent={parent}"
        if context
        else "    (no context)",
    ]
    lines.extend(f"    {key} = {value!r}" for key, value in sorted(attributes.items()))
    lines.extend(f"    event {event.name} {dict(event.attributes or {})}" for event in span.events)
    return "\n".join(lines) + "\n"


def pretty_console_exporter(out: IO[str] | None = None) -> SpanExporter:
    """The OTel console exporter with a human layout instead of raw JSON."""
    return ConsoleSpanExporter(out=out or sys.stdout, formatter=format_span_pretty)


_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def _hex_ids(message: dict[str, Any]) -> None:
    # protobuf's JSON mapping writes bytes as base64; OTLP/JSON wants trace and span ids as hex.
    for key in _ID_FIELDS:
        if key in message:
            message[key] = base64.b64decode(message[key]).hex()


def otlp_json(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """Spans as one OTLP/JSON `ExportTraceServiceRequest` (hex ids, integer enums, camelCase)."""
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    request: dict[str, Any] = MessageToDict(encode_spans(spans), use_integers_for_enums=True)
    for resource_spans in request.get("resourceSpans", ()):
        for scope_spans in resource_spans.get("scopeSpans", ()):
            for span in scope_spans.get("spans", ()):
                _hex_ids(span)
                for link in span.get("links", ()):
                    _hex_ids(link)
    return request


class OTLPJsonFileExporter(SpanExporter):
    """Appends one OTLP/JSON `ExportTraceServiceRequest` per export call, one per line."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._file: IO[str] | None = open(path, "a", encoding="utf-8")  # noqa: SIM115  # closed in shutdown

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not spans:
            return SpanExportResult.SUCCESS
        line = json.dumps(otlp_json(spans), separators=(",", ":"), ensure_ascii=False)
        with self._lock:
            if self._file is None:
                logger.warning("file exporter already shut down, dropping spans=%d", len(spans))
                return SpanExportResult.FAILURE
            try:
                self._file.write(line + "\n")
                self._file.flush()
            except OSError as exc:
                logger.error("file export failed path=%s error=%s", self.path, exc)
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True  # every export is flushed to the file as it is written

    def shutdown(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


class NoOpExporter(SpanExporter):
    """Drops every span (exporter="none"); spans are still created, sampled and processed."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def build_exporter(settings: SdkSettings) -> SpanExporter:
    """The exporter named by `settings.exporter`."""
    if settings.exporter == "http":
        return otlp_http_exporter(settings)
    if settings.exporter == "grpc":
        return otlp_grpc_exporter(settings)
    if settings.exporter == "console":
        return pretty_console_exporter()
    if settings.exporter == "file":
        return OTLPJsonFileExporter(settings.file_path)
    if settings.exporter == "memory":
        return InMemorySpanExporter()
    return NoOpExporter()
