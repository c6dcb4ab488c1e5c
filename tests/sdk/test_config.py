"""Settings: arguments, then PRELA_* variables, validated at init with errors naming the setting."""

from __future__ import annotations

import pytest

from prela.config import PrelaConfigError, grpc_target, http_traces_url, resolve_settings


def test_ingest_url_becomes_the_http_traces_endpoint() -> None:
    settings = resolve_settings(environ={"PRELA_INGEST_URL": "https://ingest.example.com/"})
    assert settings.http_endpoint == "https://ingest.example.com/v1/traces"


def test_explicit_http_endpoint_wins_over_ingest_url() -> None:
    settings = resolve_settings(
        http_endpoint="http://127.0.0.1:4318/v1/traces", environ={"PRELA_INGEST_URL": "https://other"}
    )
    assert settings.http_endpoint == "http://127.0.0.1:4318/v1/traces"


def test_without_any_endpoint_the_otel_exporter_decides() -> None:
    settings = resolve_settings(environ={})
    assert settings.exporter == "http"
    assert settings.http_endpoint is None
    assert settings.grpc_endpoint is None


@pytest.mark.parametrize(
    ("ingest_url", "target", "insecure"),
    [
        ("https://ingest.example.com", "ingest.example.com:4317", False),
        ("http://127.0.0.1:4318", "127.0.0.1:4317", True),
        ("https://proxy.example.com:8443", "proxy.example.com:8443", False),
        ("http://[::1]:4318", "[::1]:4317", True),
    ],
)
def test_grpc_target_is_derived_from_the_ingest_url(ingest_url: str, target: str, insecure: bool) -> None:
    assert grpc_target(ingest_url) == (target, insecure)


def test_grpc_endpoint_variable_wins_over_derivation() -> None:
    settings = resolve_settings(
        exporter="grpc",
        environ={
            "PRELA_INGEST_URL": "https://ingest.example.com",
            "PRELA_GRPC_ENDPOINT": "grpc.example.com:443",
        },
    )
    assert settings.grpc_endpoint == "grpc.example.com:443"
    assert settings.grpc_insecure is None


def test_http_traces_url_does_not_repeat_the_path() -> None:
    assert http_traces_url("https://h/v1/traces") == "https://h/v1/traces"


def test_prela_variables_are_read() -> None:
    settings = resolve_settings(
        environ={
            "PRELA_API_KEY": "pk_default_abc",
            "PRELA_SERVICE_NAME": "svc",
            "PRELA_CAPTURE_CONTENT": "false",
            "PRELA_SAMPLE_RATE": "0.25",
            "PRELA_EXPORTER": "console",
            "PRELA_ENVIRONMENT": "staging",
        }
    )
    assert (settings.api_key, settings.service_name, settings.environment) == (
        "pk_default_abc",
        "svc",
        "staging",
    )
    assert settings.capture_content is False
    assert settings.sample_rate == 0.25
    assert settings.exporter == "console"
    assert settings.batch is False


def test_unknown_exporter_is_rejected_by_name() -> None:
    with pytest.raises(PrelaConfigError, match=r"exporter='kafka': expected one of http, grpc"):
        resolve_settings(exporter="kafka", environ={})


def test_sample_rate_outside_0_1_is_rejected() -> None:
    with pytest.raises(PrelaConfigError, match=r"sample_rate=1.5: expected a number from 0.0 to 1.0"):
        resolve_settings(sample_rate=1.5, environ={})


def test_bad_capture_content_variable_is_rejected() -> None:
    with pytest.raises(PrelaConfigError, match=r"PRELA_CAPTURE_CONTENT='maybe': expected true or false"):
        resolve_settings(environ={"PRELA_CAPTURE_CONTENT": "maybe"})


def test_bad_ingest_url_is_rejected() -> None:
    with pytest.raises(PrelaConfigError, match=r"PRELA_INGEST_URL='ftp://x'"):
        resolve_settings(environ={"PRELA_INGEST_URL": "ftp://x"})


def test_non_positive_batch_size_is_rejected() -> None:
    with pytest.raises(PrelaConfigError, match=r"max_export_batch_size=0: expected a positive number"):
        resolve_settings(max_export_batch_size=0, environ={})
