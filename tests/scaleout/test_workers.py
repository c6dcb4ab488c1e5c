"""`prela collector --workers N` and `prela writer --workers N`: one supervisor, N worker processes."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import grpc
import httpx
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter

from tests.conftest import free_port
from tests.integration.test_metrics import samples, value
from tests.scaleout.conftest import (
    Broker,
    read_spans,
    role_env,
    start_collector,
    start_role,
    start_writer,
    wait_inserted,
    wait_port,
)

pytestmark = pytest.mark.integration

EXPORTERS_PER_TRANSPORT = 6  # each its own connection: the kernel spreads them over the workers
TRACES_PER_EXPORTER = 5


def emit(exporter: SpanExporter, service: str) -> set[str]:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))  # one export per span: many requests
    tracer = provider.get_tracer("t")
    trace_ids = set()
    for _ in range(TRACES_PER_EXPORTER):
        with (
            tracer.start_as_current_span("agent", attributes={"openinference.span.kind": "AGENT"}) as root,
            tracer.start_as_current_span("chat", attributes={"gen_ai.request.model": "gpt-4o"}),
        ):
            pass
        trace_ids.add(format(root.get_span_context().trace_id, "032x"))
    provider.shutdown()
    return trace_ids


def test_collector_workers_take_both_transports_from_the_official_exporters_into_kafka(
    broker: Broker, tmp_path: Path
) -> None:
    metrics_port = two_free_ports()
    collector = start_collector(broker, tmp_path, PRELA_WORKERS="2", PRELA_METRICS_PORT=str(metrics_port))
    writer = start_writer(broker, tmp_path / "ch", tmp_path)
    trace_ids: set[str] = set()
    try:
        for i in range(EXPORTERS_PER_TRANSPORT):
            grpc_exporter = GrpcExporter(
                endpoint=f"127.0.0.1:{collector.ports['grpc']}",
                insecure=True,
                compression=grpc.Compression.Gzip,
            )
            trace_ids |= emit(grpc_exporter, f"grpc-{i}")
            http_exporter = HttpExporter(endpoint=f"{collector.url('http')}/v1/traces")
            trace_ids |= emit(http_exporter, f"http-{i}")
        spans = 2 * len(trace_ids)
        assert spans == 2 * 2 * EXPORTERS_PER_TRANSPORT * TRACES_PER_EXPORTER
        wait_inserted(writer, spans)
        # Each worker is a scrape target of its own: together they counted every span once.
        accepted = [
            sum(
                value(
                    samples(f"http://127.0.0.1:{port}/metrics"),
                    "prela_receiver_accepted_spans_total",
                    transport=t,
                )
                for t in ("grpc", "http")
            )
            for port in (metrics_port, metrics_port + 1)
        ]
        assert sum(accepted) == spans and all(accepted), accepted
    finally:
        assert collector.stop() == 0
        assert writer.stop() == 0
    log = collector.log()
    sent = [
        int(n) for n in re.findall(r"drained: Kafka acknowledged every accepted span sent_spans=(\d+)", log)
    ]
    assert len(sent) == 2 and sum(sent) == spans
    assert all(sent), f"a worker took no connection: {sent}"
    assert "worker stopped role=collector worker=0" in log and "worker stopped role=collector worker=1" in log
    stored = read_spans(tmp_path / "ch")
    assert stored["raw"] == spans  # each span inserted once
    assert {row[0] for row in stored["final"]} == trace_ids

    # Fewer workers on the same data dir: the spool no worker sends any more is named.
    single = start_collector(broker, tmp_path, PRELA_WORKERS="1")
    assert single.stop() == 0
    assert "the spool of a former worker is not sent by this start" in single.log()
    assert "start with --workers 2 or more" in single.log()


def two_free_ports() -> int:
    """A port whose next one is free too (worker 0 and worker 1)."""
    for _ in range(50):
        port = free_port()
        with socket.socket() as a, socket.socket() as b:
            try:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two consecutive free ports")


def test_writer_workers_each_serve_health_on_their_port_and_stop_on_sigterm(
    broker: Broker, tmp_path: Path
) -> None:
    port = two_free_ports()
    nothing_there = f"http://default:@127.0.0.1:{free_port()}/prela"
    writer = start_role(
        "writer", ["--metrics-port", str(port), "--workers", "2"],
        role_env(broker, CLICKHOUSE_URL=nothing_there), tmp_path, {"metrics": port},
    )  # fmt: skip
    try:
        for worker_port in (port, port + 1):
            wait_port(worker_port, 60)
            response = httpx.get(f"http://127.0.0.1:{worker_port}/health", timeout=10)
            assert (response.status_code, response.json()["clickhouse"]) == (503, "down")
    finally:
        code = writer.stop(signal.SIGTERM)
    assert code == 0
    log = writer.log()
    assert "worker stopped role=writer worker=0" in log and "worker stopped role=writer worker=1" in log


def test_a_worker_that_cannot_start_stops_the_supervisor_with_exit_2(broker: Broker, tmp_path: Path) -> None:
    # The supervisor checks its ports, each worker its configuration: a bad one is a start error.
    env = role_env(broker, KAFKA_SECURITY_PROTOCOL="SASL_SSL")  # without KAFKA_USERNAME/PASSWORD
    env["PRELA_METRICS_PORT"] = str(two_free_ports())
    result = subprocess.run(
        [sys.executable, "-m", "prela.server", "collector", "--workers", "2",
         "--otlp-grpc-port", str(free_port()), "--otlp-http-port", str(free_port())],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-2000:]
    assert "worker could not start role=collector" in result.stderr
