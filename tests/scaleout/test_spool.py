"""The collector's spool on real engines: a Kafka outage (Tansu under SIGSTOP) and a kill -9 lose nothing.

Clients are answered once their request is in the collector's spool; the
spool goes to Kafka when the broker is back, and the writer stores every
acknowledged span exactly once (FINAL folds what a crash made the collector
send twice). Only a full spool refuses, retryably.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import grpc
import httpx
import pytest
from google.rpc.status_pb2 import Status
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.integration.test_bad_input import request_of, span
from tests.integration.test_metrics import samples, value
from tests.scaleout.conftest import (
    Broker,
    Role,
    read_spans,
    start_collector,
    start_writer,
    topic_trace_ids,
    wait_inserted,
)

pytestmark = pytest.mark.integration

ACK_TIMEOUT_S = "1"


class Client:
    """Sends OTLP over HTTP (httpx) and gRPC (the OTel exporter); remembers every span acknowledged."""

    def __init__(self) -> None:
        self.acknowledged: set[tuple[str, str]] = set()
        self.http = httpx.Client(timeout=30)

    def post(self, collector: Role, spans: int) -> httpx.Response:
        trace_id = os.urandom(16)
        span_ids = [os.urandom(8) for _ in range(spans)]
        body = request_of(*(span(trace_id, s, f"s{i}") for i, s in enumerate(span_ids))).SerializeToString()
        response = self.http.post(
            f"{collector.url('http')}/v1/traces",
            content=body,
            headers={"Content-Type": "application/x-protobuf"},
        )
        if response.status_code == 200:
            self.acknowledged |= {(trace_id.hex(), s.hex()) for s in span_ids}
        return response

    def export_otel(self, collector: Role, traces: int) -> SpanExportResult:
        """`traces` traces of 2 spans made by the OTel SDK, exported by the OTLP/gRPC exporter in one call."""
        finished = InMemorySpanExporter()
        provider = TracerProvider(resource=Resource.create({"service.name": "spool-app"}))
        provider.add_span_processor(SimpleSpanProcessor(finished))
        tracer = provider.get_tracer("t")
        for _ in range(traces):
            with tracer.start_as_current_span("agent"), tracer.start_as_current_span("chat"):
                pass
        spans: tuple[ReadableSpan, ...] = finished.get_finished_spans()
        exporter = OTLPSpanExporter(
            endpoint=f"127.0.0.1:{collector.ports['grpc']}", insecure=True, timeout=30
        )
        result = exporter.export(spans)
        exporter.shutdown()
        if result is SpanExportResult.SUCCESS:
            self.acknowledged |= {
                (format(s.context.trace_id, "032x"), format(s.context.span_id, "016x"))
                for s in spans
                if s.context
            }
        return result


def metric(collector: Role, name: str, **labels: str) -> float:
    return value(samples(f"{collector.url('http')}/metrics"), name, **labels)


def until(condition: object, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"not reached in {timeout}s: {what}")


def test_spans_acknowledged_while_kafka_is_away_survive_a_kill_9_and_are_stored_once(
    broker: Broker, tmp_path: Path
) -> None:
    collector = start_collector(broker, tmp_path, PRELA_KAFKA_ACK_TIMEOUT_SECONDS=ACK_TIMEOUT_S)
    writer = start_writer(broker, tmp_path / "ch", tmp_path)
    client = Client()
    try:
        assert client.post(collector, 10).status_code == 200
        wait_inserted(writer, 10)

        broker.pause()
        # Send until the collector saw Kafka time out (longer than PRELA_KAFKA_ACK_TIMEOUT_SECONDS): every answer 200.
        for _ in range(1000):
            assert client.post(collector, 10).status_code == 200
            assert client.export_otel(collector, 3) is SpanExportResult.SUCCESS
            health = httpx.get(f"{collector.url('http')}/health", timeout=10)
            assert health.status_code == 200
            if health.json()["kafka"] == "down":
                break
            time.sleep(0.05)
        assert health.json() == {"status": "ok", "spool": "ok", "kafka": "down"}
        for _ in range(20):
            assert client.post(collector, 10).status_code == 200
        spooled = metric(collector, "prela_spool_pending_requests")
        assert spooled >= 21
        assert metric(collector, "prela_spool_oldest_entry_age_seconds") > 0
        assert metric(collector, "prela_spool_bytes") > 0
        ready = httpx.get(f"{collector.url('http')}/ready", timeout=10)
        assert (ready.status_code, ready.json()["kafka"]) == (200, "down")

        collector.stop(signal.SIGKILL)  # inside the outage, with the spool unsent
        collector = start_collector(broker, tmp_path, PRELA_KAFKA_ACK_TIMEOUT_SECONDS=ACK_TIMEOUT_S)
        assert f"the spool holds requests={int(spooled)}" in collector.log()
        for _ in range(20):
            assert client.post(collector, 10).status_code == 200
        assert client.export_otel(collector, 5) is SpanExportResult.SUCCESS
        assert httpx.get(f"{collector.url('http')}/health", timeout=10).json()["status"] == "ok"
        assert metric(collector, "prela_spool_pending_requests") == spooled + 21
        assert (
            metric(collector, "prela_receiver_refused_requests_total", transport="http", reason="spool_full")
            == 0
        )

        broker.resume()
        until(lambda: metric(collector, "prela_spool_pending_requests") == 0, "the spool sent to Kafka")
        assert metric(collector, "prela_spool_oldest_entry_age_seconds") == 0
        assert httpx.get(f"{collector.url('http')}/health", timeout=10).json()["kafka"] == "ok"
        wait_inserted(writer, len(client.acknowledged), timeout=90)
    finally:
        broker.resume()
        client.http.close()
        collector_exit = collector.stop()
        writer_exit = writer.stop()
    assert (collector_exit, writer_exit) == (0, 0)
    stored = read_spans(tmp_path / "ch")
    identities = [(row[0], row[1]) for row in stored["final"]]
    assert len(identities) == len(set(identities)) == len(client.acknowledged)
    assert set(identities) == client.acknowledged
    assert stored["raw"] >= len(client.acknowledged)  # resent after the kill: folded by FINAL


def test_only_a_full_spool_refuses_with_503_retry_after_and_unavailable(
    broker: Broker, tmp_path: Path
) -> None:
    collector = start_collector(
        broker, tmp_path, PRELA_KAFKA_ACK_TIMEOUT_SECONDS=ACK_TIMEOUT_S, PRELA_SPOOL_MAX_BYTES=str(64 * 1024)
    )
    client = Client()
    try:
        assert client.post(collector, 1).status_code == 200
        until(lambda: metric(collector, "prela_spool_pending_requests") == 0, "first request sent")
        broker.pause()
        statuses = []
        for _ in range(1000):
            response = client.post(collector, 20)
            statuses.append(response.status_code)
            if response.status_code != 200:
                break
        assert set(statuses[:-1]) == {200} and len(statuses) > 5
        assert (response.status_code, response.headers["Retry-After"]) == (503, "1")
        assert "spool is full" in Status.FromString(response.content).message
        trace_id = os.urandom(16)  # as large as the refused request: it does not fit either
        body = request_of(*(span(trace_id, os.urandom(8), f"s{i}") for i in range(20))).SerializeToString()
        with grpc.insecure_channel(f"127.0.0.1:{collector.ports['grpc']}") as channel:
            export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
            with pytest.raises(grpc.RpcError) as caught:
                export(body, timeout=30)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        health = httpx.get(f"{collector.url('http')}/health", timeout=10)
        assert (health.status_code, health.json()["spool"]) == (503, "down")
        metrics = samples(f"{collector.url('http')}/metrics")
        assert (
            value(metrics, "prela_receiver_refused_requests_total", transport="http", reason="spool_full")
            == 1
        )
        assert (
            value(metrics, "prela_receiver_refused_requests_total", transport="grpc", reason="spool_full")
            == 1
        )
        assert value(metrics, "prela_spool_bytes") <= 64 * 1024

        broker.resume()
        until(lambda: metric(collector, "prela_spool_pending_requests") == 0, "the spool sent to Kafka")
        assert httpx.get(f"{collector.url('http')}/health", timeout=10).status_code == 200
        assert client.post(collector, 20).status_code == 200
        until(lambda: metric(collector, "prela_spool_pending_requests") == 0, "the last request sent")
    finally:
        broker.resume()
        client.http.close()
        collector.stop()
    acknowledged_traces = {trace_id.encode() for trace_id, _ in client.acknowledged}
    assert (
        asyncio.run(topic_trace_ids(broker.bootstrap, "spans", len(acknowledged_traces)))
        == acknowledged_traces
    )


def test_one_collector_per_data_dir(broker: Broker, tmp_path: Path) -> None:
    collector = start_collector(broker, tmp_path)
    try:
        with pytest.raises(RuntimeError, match="is in use by another prela process"):
            start_collector(broker, tmp_path)
    finally:
        assert collector.stop() == 0
