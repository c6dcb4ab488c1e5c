"""prela.init(): the global PrelaTracerProvider, repeated calls, foreign providers, sampling, exit."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider

import prela
from prela.provider import PrelaTracer, PrelaTracerProvider
from prela.sessions import SessionSpanProcessor

SEED_ENDPOINT = "https://prela-ingest-gateway-xxx.railway.app/v1/traces"


def _processors(provider: TracerProvider) -> tuple[object, ...]:
    """The provider's exporting processors (behind the session/user processor every Prela provider has)."""
    processors = tuple(provider._active_span_processor._span_processors)
    assert isinstance(processors[0], SessionSpanProcessor)
    return processors[1:]


def test_init_installs_a_global_prela_provider_and_returns_it() -> None:
    provider = prela.init(service_name="svc", exporter="memory")
    assert isinstance(provider, PrelaTracerProvider)
    assert trace.get_tracer_provider() is provider
    assert isinstance(trace.get_tracer("any.instrumentation"), PrelaTracer)
    assert provider.resource.attributes["service.name"] == "svc"


def test_the_seeds_exact_call_works_as_written() -> None:
    provider = prela.init(service_name="my-app", exporter="http", http_endpoint=SEED_ENDPOINT)
    assert isinstance(provider, PrelaTracerProvider)
    assert trace.get_tracer_provider() is provider
    assert provider.resource.attributes["service.name"] == "my-app"
    exporter = provider.span_exporter
    assert isinstance(exporter, OTLPSpanExporter)
    assert exporter._endpoint == SEED_ENDPOINT
    assert exporter._compression.value == "gzip"
    assert len(_processors(provider)) == 1  # no span is made: nothing leaves this machine


def test_second_init_warns_and_keeps_one_exporter() -> None:
    first = prela.init(exporter="memory")
    with pytest.warns(prela.PrelaSetupWarning, match="already called"):
        second = prela.init(exporter="memory", service_name="other")
    assert second is first
    assert len(_processors(first)) == 1
    with trace.get_tracer("t").start_as_current_span("once"):
        pass
    assert [span.name for span in prela.testing.get_finished_spans()] == ["once"]


def test_init_refuses_when_another_sdk_provider_is_global() -> None:
    trace.set_tracer_provider(TracerProvider())
    with pytest.raises(prela.PrelaInitError, match=r"opentelemetry.sdk.trace.TracerProvider.*span_processor"):
        prela.init(exporter="memory")


def test_span_processor_serves_a_provider_the_app_owns() -> None:
    provider = TracerProvider()
    processor = prela.span_processor(exporter="file", file_path="/dev/null", batch=False)
    provider.add_span_processor(processor)
    with provider.get_tracer("t").start_as_current_span("x"):
        pass
    provider.shutdown()


def test_bad_settings_fail_at_init_naming_the_setting() -> None:
    with pytest.raises(prela.PrelaConfigError, match="sample_rate=-1"):
        prela.init(exporter="memory", sample_rate=-1)
    assert not isinstance(trace.get_tracer_provider(), PrelaTracerProvider)


def test_sample_rate_zero_exports_nothing() -> None:
    prela.init(exporter="memory", sample_rate=0.0)
    tracer = trace.get_tracer("t")
    for _ in range(50):
        with tracer.start_as_current_span("dropped"), tracer.start_as_current_span("child"):
            pass
    assert prela.testing.get_finished_spans() == []


def test_sample_rate_one_exports_everything() -> None:
    prela.init(exporter="memory", sample_rate=1.0)
    tracer = trace.get_tracer("t")
    for _ in range(50):
        with tracer.start_as_current_span("kept"):
            pass
    assert len(prela.testing.find_spans("kept")) == 50


def test_sample_rate_half_keeps_whole_traces() -> None:
    prela.init(exporter="memory", sample_rate=0.5)
    tracer = trace.get_tracer("t")
    for _ in range(400):
        with tracer.start_as_current_span("root"), tracer.start_as_current_span("child"):
            pass
    roots, children = prela.testing.find_spans("root"), prela.testing.find_spans("child")
    assert 120 < len(roots) < 280
    assert {s.context.trace_id for s in roots} == {s.context.trace_id for s in children}


def test_environment_and_resource_attributes_reach_the_resource() -> None:
    provider = prela.init(
        exporter="memory",
        environment="staging",
        resource_attributes={"team": "search", "service.version": "1.2"},
    )
    attributes = provider.resource.attributes
    assert attributes["deployment.environment.name"] == "staging"
    assert attributes["team"] == "search"
    assert attributes["service.version"] == "1.2"
    assert attributes["telemetry.distro.name"] == "prela"


def test_otel_service_name_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-otel")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "region=eu")
    provider = prela.init(exporter="memory")
    assert provider.resource.attributes["service.name"] == "from-otel"
    assert provider.resource.attributes["region"] == "eu"


def test_prela_service_name_wins_over_otel_service_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-otel")
    monkeypatch.setenv("PRELA_SERVICE_NAME", "from-prela")
    assert prela.init(exporter="memory").resource.attributes["service.name"] == "from-prela"


def test_shutdown_twice_is_harmless_and_flush_without_init_is_true() -> None:
    assert prela.flush() is True
    prela.init(exporter="memory")
    assert prela.flush() is True
    prela.shutdown()
    prela.shutdown()


def test_exporter_none_creates_spans_but_adds_no_processor() -> None:
    provider = prela.init(exporter="none")
    assert _processors(provider) == ()
    with trace.get_tracer("t").start_as_current_span("s") as span:
        assert span.is_recording()


def test_get_tracer_accepts_span_type() -> None:
    prela.init(exporter="memory")
    tracer = prela.get_tracer("my.app")
    with tracer.start_as_current_span("lookup", span_type="retrieval"):
        pass
    tracer.start_span("tool-call", span_type="TOOL").end()
    assert prela.testing.find_span("lookup").attributes["prela.span_type"] == "RETRIEVAL"
    assert prela.testing.find_span("tool-call").attributes["prela.span_type"] == "TOOL"


def test_unknown_span_type_is_rejected() -> None:
    prela.init(exporter="memory")
    with pytest.raises(ValueError, match=r"span_type='database': expected one of AGENT"):
        prela.get_tracer("t").start_span("x", span_type="database")


def test_spans_are_flushed_at_interpreter_exit(tmp_path: Path) -> None:
    out = tmp_path / "spans.jsonl"
    script = textwrap.dedent(
        f"""
        import prela
        prela.init(service_name="exit-app", exporter="file", file_path={str(out)!r}, schedule_delay_millis=60000)
        with prela.trace("before-exit"):
            pass
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=30)
    (line,) = out.read_text().splitlines()
    spans = json.loads(line)["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert [span["name"] for span in spans] == ["before-exit"]


def test_prela_tracer_start_as_current_span_decorates_async_functions_and_records_errors() -> None:
    import asyncio

    from opentelemetry.trace import StatusCode

    prela.init(exporter="memory")
    tracer = prela.get_tracer("my.app")

    @tracer.start_as_current_span("async-op", span_type="TOOL")
    async def op() -> None:
        await asyncio.sleep(0)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        asyncio.run(op())
    span = prela.testing.find_span("async-op")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes == {"prela.span_type": "TOOL"}
