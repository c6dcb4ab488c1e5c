"""`prela.init()`, `prela.flush()`, `prela.shutdown()`: the one place the SDK is composed.

settings (config) → resource, sampler → exporter (exporters), wrapped for `capture_content=False`
(content) → batch or simple span processor, after the session/user processor (sessions) →
`PrelaTracerProvider` → the global OTel provider.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanProcessor,
)
from opentelemetry.sdk.trace.sampling import ParentBased, Sampler, TraceIdRatioBased

from prela import __version__
from prela.config import SdkSettings, resolve_settings
from prela.content import ContentRedactingExporter
from prela.provider import PrelaTracerProvider
from prela.sessions import SessionSpanProcessor
from prela.span_exporters import build_exporter

logger = logging.getLogger(__name__)

_lock = threading.Lock()


class PrelaSetupWarning(UserWarning):
    """`prela.init()` did something other than asked (a second call); the message says what."""


class PrelaInitError(RuntimeError):
    """`prela.init()` cannot install its provider (another SDK provider is already global)."""


def build_resource(settings: SdkSettings) -> Resource:
    """The SDK's resource (which reads `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_SERVICE_NAME`) plus Prela's."""
    attributes: dict[str, Any] = {"telemetry.distro.name": "prela", "telemetry.distro.version": __version__}
    attributes.update(settings.resource_attributes)
    if settings.service_name:
        attributes["service.name"] = settings.service_name
    if settings.environment:
        attributes["deployment.environment.name"] = settings.environment
        attributes["deployment.environment"] = settings.environment  # pre-1.27 name, still widely read
    return Resource.create(attributes)


def build_sampler(settings: SdkSettings) -> Sampler | None:
    """Parent-based ratio sampling for `sample_rate`; `None` lets `OTEL_TRACES_SAMPLER` decide."""
    if settings.sample_rate is None:
        return None
    return ParentBased(TraceIdRatioBased(settings.sample_rate))


def build_span_processor(settings: SdkSettings) -> tuple[SpanProcessor, SpanExporter]:
    """The processor for the exporter named by the settings, and that exporter (unwrapped)."""
    built = build_exporter(settings)
    exporter = built if settings.capture_content else ContentRedactingExporter(built)
    if not settings.batch:
        return SimpleSpanProcessor(exporter), built
    return (
        BatchSpanProcessor(
            exporter,
            max_queue_size=settings.max_queue_size,
            schedule_delay_millis=settings.schedule_delay_millis,
            max_export_batch_size=settings.max_export_batch_size,
            export_timeout_millis=settings.export_timeout_millis,
        ),
        built,
    )


def span_processor(**options: Any) -> SpanProcessor:
    """A Prela exporter + processor for a provider you own: `provider.add_span_processor(...)`.

    Takes `prela.init()`'s exporter and batch options; use it when another SDK provider is global.
    """
    processor, _ = build_span_processor(resolve_settings(**options))
    return processor


def init(
    service_name: str | None = None,
    *,
    exporter: str | None = None,
    http_endpoint: str | None = None,
    grpc_endpoint: str | None = None,
    api_key: str | None = None,
    headers: Mapping[str, str] | None = None,
    environment: str | None = None,
    sample_rate: float | None = None,
    capture_content: bool | None = None,
    resource_attributes: Mapping[str, str | bool | int | float] | None = None,
    file_path: str | None = None,
    export_timeout_seconds: float | None = None,
    batch: bool | None = None,
    max_queue_size: int | None = None,
    max_export_batch_size: int | None = None,
    schedule_delay_millis: float | None = None,
    export_timeout_millis: float | None = None,
) -> PrelaTracerProvider:
    """Install a `PrelaTracerProvider` as the global OpenTelemetry tracer provider and return it.

    Every argument left `None` comes from the environment (`PRELA_*`, then the OTel SDK's `OTEL_*`);
    see the README's SDK section. Settings are validated here (`PrelaConfigError` names the bad one).
    A second call warns (`PrelaSetupWarning`) and returns the installed provider unchanged. When a
    different SDK provider is already global, `PrelaInitError` is raised: use `prela.span_processor()`
    with that provider instead. Spans are flushed at interpreter exit (the SDK's atexit shutdown).
    """
    settings = resolve_settings(
        service_name=service_name,
        exporter=exporter,
        http_endpoint=http_endpoint,
        grpc_endpoint=grpc_endpoint,
        api_key=api_key,
        headers=headers,
        environment=environment,
        sample_rate=sample_rate,
        capture_content=capture_content,
        resource_attributes=resource_attributes,
        file_path=file_path,
        export_timeout_seconds=export_timeout_seconds,
        batch=batch,
        max_queue_size=max_queue_size,
        max_export_batch_size=max_export_batch_size,
        schedule_delay_millis=schedule_delay_millis,
        export_timeout_millis=export_timeout_millis,
    )
    with _lock:
        current = trace_api.get_tracer_provider()
        if isinstance(current, PrelaTracerProvider):
            message = (
                "prela.init() was already called: keeping the installed provider and its exporter; "
                "the new arguments are ignored"
            )
            warnings.warn(message, PrelaSetupWarning, stacklevel=2)
            logger.warning("event=init_repeated action=ignored")
            return current
        if isinstance(current, TracerProvider) or not isinstance(
            current, trace_api.ProxyTracerProvider | trace_api.NoOpTracerProvider
        ):
            raise PrelaInitError(
                f"another tracer provider is already global ({type(current).__module__}."
                f"{type(current).__qualname__}); OpenTelemetry allows one per process. Call prela.init() "
                "before anything sets one, or add Prela's exporter to that provider: "
                "provider.add_span_processor(prela.span_processor(exporter=..., http_endpoint=...))"
            )

        processor, built = build_span_processor(settings) if settings.exporter != "none" else (None, None)
        provider = PrelaTracerProvider(
            resource=build_resource(settings),
            sampler=build_sampler(settings),
            shutdown_on_exit=True,  # the SDK registers an atexit shutdown, which flushes the processors
            capture_content=settings.capture_content,
        )
        provider.add_span_processor(SessionSpanProcessor())  # first: ids are on the span before export
        if processor is not None:
            provider.add_span_processor(processor)
        provider.span_exporter = built
        trace_api.set_tracer_provider(provider)
        if trace_api.get_tracer_provider() is not provider:
            provider.shutdown()
            raise PrelaInitError("OpenTelemetry refused the provider: one was set concurrently")
    logger.info(
        "event=init exporter=%s endpoint=%s sample_rate=%s capture_content=%s",
        settings.exporter,
        settings.http_endpoint if settings.exporter == "http" else settings.grpc_endpoint,
        settings.sample_rate,
        settings.capture_content,
    )
    return provider


def _prela_provider() -> PrelaTracerProvider | None:
    provider = trace_api.get_tracer_provider()
    return provider if isinstance(provider, PrelaTracerProvider) else None


def flush(timeout_millis: int = 30000) -> bool:
    """Export every finished span now; True when all processors finished within the timeout."""
    provider = _prela_provider()
    return True if provider is None else provider.force_flush(timeout_millis)


def shutdown() -> None:
    """Flush and stop the exporters; spans ended afterwards are dropped. Safe to call twice."""
    provider = _prela_provider()
    if provider is not None:
        provider.shutdown()
