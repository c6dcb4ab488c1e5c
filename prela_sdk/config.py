"""SDK settings: `prela.init()` arguments merged with the environment, read once and validated.

Precedence for every setting: the explicit argument, then the `PRELA_*` variable, then whatever the
OpenTelemetry SDK / exporters read from their own `OTEL_*` variables (left to them on purpose, so
`OTEL_EXPORTER_OTLP_*`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`,
`OTEL_BSP_*` keep their meaning).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, get_args
from urllib.parse import urlsplit, urlunsplit

ExporterName = Literal["http", "grpc", "console", "file", "memory", "none"]
EXPORTERS: Final[tuple[str, ...]] = get_args(ExporterName)

HTTP_TRACES_PATH: Final = "/v1/traces"
OTLP_GRPC_PORT: Final = 4317
OTLP_HTTP_PORT: Final = 4318
DEFAULT_FILE_PATH: Final = "prela-traces.jsonl"

_TRUE: Final = frozenset(("1", "true", "yes", "on"))
_FALSE: Final = frozenset(("0", "false", "no", "off"))


class PrelaConfigError(ValueError):
    """A setting has a value the SDK cannot use; the message names the setting and the value."""


@dataclass(frozen=True, slots=True)
class SdkSettings:
    """Everything `prela.init()` needs, resolved. `None` means: let the OTel SDK decide."""

    exporter: ExporterName = "http"
    service_name: str | None = None
    environment: str | None = None
    resource_attributes: Mapping[str, str | bool | int | float] = field(default_factory=dict)
    http_endpoint: str | None = None
    grpc_endpoint: str | None = None
    grpc_insecure: bool | None = None
    api_key: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    export_timeout_seconds: float | None = None
    file_path: str = DEFAULT_FILE_PATH
    sample_rate: float | None = None
    capture_content: bool = True
    batch: bool = True
    max_queue_size: int | None = None
    max_export_batch_size: int | None = None
    schedule_delay_millis: float | None = None
    export_timeout_millis: float | None = None


def parse_bool(name: str, value: str) -> bool:
    """`true/false`, `1/0`, `yes/no`, `on/off` (any case), or a `PrelaConfigError` naming `name`."""
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise PrelaConfigError(f"{name}={value!r}: expected true or false")


def http_traces_url(base_url: str) -> str:
    """The OTLP/HTTP traces URL of an ingest base URL: `https://host` → `https://host/v1/traces`."""
    base = base_url.rstrip("/")
    return base if base.endswith(HTTP_TRACES_PATH) else base + HTTP_TRACES_PATH


def grpc_target(ingest_url: str) -> tuple[str, bool]:
    """The OTLP/gRPC `host:port` and whether it is insecure, derived from an ingest URL.

    The host is kept; the port is 4317 unless the URL names a port other than 4318 (then that port
    is used as is: a proxy that serves both); `https` means TLS, `http` plaintext.
    """
    parts = urlsplit(ingest_url if "://" in ingest_url else f"http://{ingest_url}")
    if not parts.hostname:
        raise PrelaConfigError(f"PRELA_INGEST_URL={ingest_url!r}: expected a URL like https://host")
    port = parts.port if parts.port not in (None, OTLP_HTTP_PORT) else OTLP_GRPC_PORT
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{port}", parts.scheme != "https"


def _validated_url(name: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PrelaConfigError(f"{name}={url!r}: expected an http:// or https:// URL")
    return urlunsplit(parts)


def _env(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    return value.strip() if value and value.strip() else None


def _float_env(environ: Mapping[str, str], name: str) -> float | None:
    value = _env(environ, name)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        raise PrelaConfigError(f"{name}={value!r}: expected a number") from None


def resolve_settings(
    *,
    service_name: str | None = None,
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
    environ: Mapping[str, str] | None = None,
) -> SdkSettings:
    """Merge `prela.init()` arguments with `PRELA_*` variables and validate them all at once."""
    env = os.environ if environ is None else environ

    chosen = (exporter or _env(env, "PRELA_EXPORTER") or "http").lower()
    if chosen not in EXPORTERS:
        raise PrelaConfigError(f"exporter={chosen!r}: expected one of {', '.join(EXPORTERS)}")

    ingest_url = _env(env, "PRELA_INGEST_URL")
    if ingest_url is not None:
        ingest_url = _validated_url("PRELA_INGEST_URL", ingest_url)
    http_url = http_endpoint or (http_traces_url(ingest_url) if ingest_url else None)
    if http_url is not None:
        http_url = _validated_url("http_endpoint", http_url)

    grpc_url = grpc_endpoint or _env(env, "PRELA_GRPC_ENDPOINT")
    grpc_insecure: bool | None = None
    if grpc_url is None and ingest_url is not None:
        grpc_url, grpc_insecure = grpc_target(ingest_url)

    rate = sample_rate
    if rate is None:
        rate = _float_env(env, "PRELA_SAMPLE_RATE")
    if rate is not None and not 0.0 <= float(rate) <= 1.0:
        raise PrelaConfigError(f"sample_rate={rate!r}: expected a number from 0.0 to 1.0")

    capture = capture_content
    if capture is None:
        raw = _env(env, "PRELA_CAPTURE_CONTENT")
        capture = True if raw is None else parse_bool("PRELA_CAPTURE_CONTENT", raw)

    for name, number in (
        ("max_queue_size", max_queue_size),
        ("max_export_batch_size", max_export_batch_size),
        ("schedule_delay_millis", schedule_delay_millis),
        ("export_timeout_millis", export_timeout_millis),
        ("export_timeout_seconds", export_timeout_seconds),
    ):
        if number is not None and number <= 0:
            raise PrelaConfigError(f"{name}={number!r}: expected a positive number")

    return SdkSettings(
        exporter=chosen,  # type: ignore[arg-type]  # checked against EXPORTERS above
        service_name=service_name or _env(env, "PRELA_SERVICE_NAME"),
        environment=environment or _env(env, "PRELA_ENVIRONMENT"),
        resource_attributes=dict(resource_attributes or {}),
        http_endpoint=http_url,
        grpc_endpoint=grpc_url,
        grpc_insecure=grpc_insecure,
        api_key=api_key or _env(env, "PRELA_API_KEY"),
        headers=dict(headers or {}),
        export_timeout_seconds=export_timeout_seconds,
        file_path=file_path or _env(env, "PRELA_FILE_PATH") or DEFAULT_FILE_PATH,
        sample_rate=None if rate is None else float(rate),
        capture_content=capture,
        # Memory and console spans are read right away (tests, a terminal): no batching by default.
        batch=batch if batch is not None else chosen not in ("memory", "console"),
        max_queue_size=max_queue_size,
        max_export_batch_size=max_export_batch_size,
        schedule_delay_millis=schedule_delay_millis,
        export_timeout_millis=export_timeout_millis,
    )
