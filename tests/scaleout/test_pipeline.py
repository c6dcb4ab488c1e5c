"""OTel exporter → `prela collector` → Kafka (Tansu) → `prela writer` → ClickHouse (chDB), with faults."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from pathlib import Path

import grpc
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from tests.conftest import free_port
from tests.integration.test_bad_input import request_of, span
from tests.integration.test_metrics import samples, value
from tests.integration.test_seed_payload import SEED_PAYLOAD
from tests.scaleout.conftest import (
    Broker,
    read_spans,
    role_env,
    start_collector,
    start_role,
    start_writer,
    topic_trace_ids,
    wait_http,
    wait_inserted,
    writer_stats,
)

pytestmark = pytest.mark.integration


def post_spans(collector_url: str, trace_id: bytes, n: int, client: httpx.Client) -> httpx.Response:
    body = request_of(*(span(trace_id, os.urandom(8), f"s{i}") for i in range(n))).SerializeToString()
    return client.post(
        f"{collector_url}/v1/traces", content=body, headers={"Content-Type": "application/x-protobuf"}
    )


def test_otel_exporter_spans_arrive_once_with_fields_intact(broker: Broker, tmp_path: Path) -> None:
    collector = start_collector(broker, tmp_path)
    writer = start_writer(broker, tmp_path / "ch", tmp_path)
    try:
        provider = TracerProvider(resource=Resource.create({"service.name": "scaleout-app"}))
        exporter = OTLPSpanExporter(
            endpoint=f"127.0.0.1:{collector.ports['grpc']}", insecure=True, compression=grpc.Compression.Gzip
        )
        provider.add_span_processor(BatchSpanProcessor(exporter))
        tracer = provider.get_tracer("t")
        trace_ids = set()
        for i in range(50):
            with tracer.start_as_current_span(
                "agent", attributes={"openinference.span.kind": "AGENT"}
            ) as root:
                with tracer.start_as_current_span(
                    "chat",
                    attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
                                "gen_ai.usage.input_tokens": i, "gen_ai.usage.output_tokens": 1},
                ):  # fmt: skip
                    pass
                trace_ids.add(format(root.get_span_context().trace_id, "032x"))
        assert provider.force_flush(10_000)
        provider.shutdown()
        wait_inserted(writer, 100)
        collector_metrics = samples(f"{collector.url('http')}/metrics")
        assert value(collector_metrics, "prela_receiver_accepted_spans_total", transport="grpc") == 100
        assert value(collector_metrics, "prela_exporter_sent_spans_total", exporter="kafka") == 100
        writer_metrics = samples(f"{writer.url('metrics')}/metrics")
        assert value(writer_metrics, "prela_writer_inserted_spans_total") >= 100
        lags = [v for (name, _), v in writer_metrics.items() if name == "prela_writer_consumer_lag_messages"]
        assert lags and set(lags) == {0.0}
        assert httpx.get(f"{writer.url('metrics')}/ready", timeout=10).json() == {
            "status": "ok", "kafka": "ok", "clickhouse": "ok",
        }  # fmt: skip
    finally:
        collector.stop()
        assert writer.stop() == 0
    stored = read_spans(tmp_path / "ch")
    assert len(stored["final"]) == 100
    assert {row[0] for row in stored["final"]} == trace_ids
    chats = sorted((row for row in stored["final"] if row[2] == "chat"), key=lambda r: r[5])
    assert [(r[3], r[4], r[5]) for r in chats] == [("LLM", "gpt-4o", i) for i in range(50)]
    agents = [row for row in stored["final"] if row[2] == "agent"]
    assert {r[3] for r in agents} == {"AGENT"}


def test_writer_killed_mid_stream_loses_and_duplicates_nothing(broker: Broker, tmp_path: Path) -> None:
    collector = start_collector(broker, tmp_path)
    writer = start_writer(broker, tmp_path / "ch", tmp_path, PRELA_BATCH_SPANS="500")
    sent: set[bytes] = set()
    try:
        with httpx.Client(timeout=30) as client:
            for i in range(40):
                trace_id = os.urandom(16)
                assert post_spans(collector.url("http"), trace_id, 250, client).status_code == 200
                sent.add(trace_id)
                if i == 15:
                    deadline = time.monotonic() + 30
                    while writer_stats(writer)["inserted_spans"] == 0:
                        assert time.monotonic() < deadline
                        time.sleep(0.05)
                    writer.stop(signal.SIGKILL)
        writer = start_writer(broker, tmp_path / "ch", tmp_path, PRELA_BATCH_SPANS="500")
        wait_inserted(writer, 1)  # lag 0 once everything left is stored
        deadline = time.monotonic() + 60
        while any(writer_stats(writer)["lag"].values()) or not writer_stats(writer)["lag"]:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        collector.stop()
        writer.stop()
    stored = read_spans(tmp_path / "ch")
    assert len(stored["final"]) == 40 * 250
    assert len({(r[0], r[1]) for r in stored["final"]}) == 40 * 250
    assert {bytes.fromhex(r[0]) for r in stored["final"]} == sent


def test_paused_broker_is_absorbed_by_the_spool_and_loses_nothing_acknowledged(
    broker: Broker, tmp_path: Path
) -> None:
    collector = start_collector(broker, tmp_path, PRELA_KAFKA_ACK_TIMEOUT_SECONDS="1.5")
    writer = start_writer(broker, tmp_path / "ch", tmp_path)
    acknowledged: list[bytes] = []
    refused: list[int] = []
    stop = threading.Event()

    def send() -> None:
        with httpx.Client(timeout=30) as client:
            for _ in range(3000):  # bounded
                if stop.is_set():
                    return
                trace_id = os.urandom(16)
                response = post_spans(collector.url("http"), trace_id, 10, client)
                if response.status_code == 200:
                    acknowledged.append(trace_id)
                else:
                    refused.append(response.status_code)
                time.sleep(0.01)

    sender = threading.Thread(target=send)
    try:
        sender.start()
        time.sleep(1.0)
        broker.pause()
        time.sleep(4.0)
        during = len(acknowledged)
        health = httpx.get(f"{collector.url('http')}/health", timeout=10)
        assert (health.status_code, health.json()) == (200, {"status": "ok", "spool": "ok", "kafka": "down"})
        assert httpx.get(f"{collector.url('http')}/ready", timeout=10).json()["kafka"] == "down"
        broker.resume()
        time.sleep(4.0)
        stop.set()
        sender.join(30)
        assert refused == [], "the spool had room: nothing may be refused while the broker is paused"
        assert len(acknowledged) > during
        assert httpx.get(f"{collector.url('http')}/health", timeout=10).json()["kafka"] == "ok"
        assert httpx.get(f"{collector.url('http')}/ready", timeout=10).status_code == 200
        wait_inserted(writer, len(acknowledged) * 10, timeout=90)
    finally:
        stop.set()
        broker.resume()
        collector.stop()
        writer.stop()
    stored = {bytes.fromhex(r[0]) for r in read_spans(tmp_path / "ch")["final"]}
    assert set(acknowledged) <= stored


def test_poison_message_goes_to_dead_letter_and_consumer_moves_on(broker: Broker, tmp_path: Path) -> None:
    writer = start_writer(broker, tmp_path / "ch", tmp_path)
    collector = start_collector(broker, tmp_path)
    try:

        async def produce_poison() -> None:
            producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
            await producer.start()
            await producer.send_and_wait("spans", b"\xff\xff this is not a SpanBatch", key=b"k")
            await producer.stop()

        asyncio.run(produce_poison())
        with httpx.Client(timeout=30) as client:
            trace_id = os.urandom(16)
            assert post_spans(collector.url("http"), trace_id, 5, client).status_code == 200
        wait_inserted(writer, 5)
        assert writer_stats(writer)["dead_lettered"] == 1

        async def read_dead_letters() -> list:
            consumer = AIOKafkaConsumer(
                "prela-dead-letter", bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest"
            )
            await consumer.start()
            try:
                batch = await consumer.getmany(timeout_ms=5000)
                return [m for messages in batch.values() for m in messages]
            finally:
                await consumer.stop()

        [dead] = asyncio.run(read_dead_letters())
        headers = dict(dead.headers)
        assert dead.value == b"\xff\xff this is not a SpanBatch"
        assert headers["prela.source.topic"] == b"spans"
        assert headers["prela.source.offset"].isdigit()
        assert b"SpanBatch" in headers["prela.error"]
    finally:
        collector.stop()
        writer.stop()
    assert {r[0] for r in read_spans(tmp_path / "ch")["final"]} == {trace_id.hex()}


def test_seed_trace_is_published_on_the_traces_topic_and_stored(broker: Broker, tmp_path: Path) -> None:
    collector = start_collector(broker, tmp_path)
    writer = start_writer(broker, tmp_path / "ch", tmp_path)
    try:
        response = httpx.post(
            f"{collector.url('http')}/v1/traces",
            content=SEED_PAYLOAD,
            headers={"Content-Type": "application/json"},
        )
        assert response.json() == {"status": "accepted", "trace_id": "test-production-123"}
        stats = wait_inserted(writer, 1)
        assert stats["lag"].keys() >= {"traces/0", "traces/1", "traces/2"}
    finally:
        collector.stop()
        writer.stop()
    [row] = read_spans(tmp_path / "ch")["final"]
    assert (row[0], row[1], row[2], row[3], row[4]) == (
        "test-production-123",
        "span-1",
        "test-operation",
        "LLM",
        "gpt-4",
    )

    # The API gateway role reads what the trace service wrote.
    port = free_port()
    query = start_role(
        "query", ["--port", str(port)], role_env(broker, CLICKHOUSE_URL=f"chdb://{tmp_path / 'ch'}"), tmp_path,
        {"api": port},
    )  # fmt: skip
    try:
        wait_http(query, f"{query.url('api')}/api/v1/health", 60)
        trace = httpx.get(f"{query.url('api')}/api/v1/traces/test-production-123", timeout=10).json()
        assert (trace["service_name"], trace["spans"][0]["model"]) == ("test-service", "gpt-4")
    finally:
        assert query.stop() == 0


def test_collector_without_broker_spools_and_sends_once_a_broker_is_there(tmp_path: Path) -> None:
    from tests.conftest import free_port
    from tests.scaleout.conftest import role_env, start_role, wait_port

    absent = Broker(free_port(), tmp_path / "later.log")  # nothing listens there yet
    grpc_port, http_port = free_port(), free_port()
    env = role_env(absent, PRELA_KAFKA_ACK_TIMEOUT_SECONDS="1", PRELA_DRAIN_TIMEOUT_SECONDS="1")
    ports = {"grpc": grpc_port, "http": http_port}
    args = ["--otlp-grpc-port", str(grpc_port), "--otlp-http-port", str(http_port)]
    collector = start_role("collector", args, env, tmp_path, ports)
    trace_ids = [os.urandom(16), os.urandom(16)]
    try:
        wait_port(http_port, 60)
        health = httpx.get(f"{collector.url('http')}/health", timeout=10)
        assert (health.status_code, health.json()) == (200, {"status": "ok", "spool": "ok", "kafka": "down"})
        with httpx.Client(timeout=30) as client:
            assert post_spans(collector.url("http"), trace_ids[0], 3, client).status_code == 200
        body = request_of(span(trace_ids[1], os.urandom(8))).SerializeToString()
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            export = channel.unary_unary(
                "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                request_serializer=None,
                response_deserializer=None,
            )
            export(body, timeout=30)
        metrics = samples(f"{collector.url('http')}/metrics")
        assert value(metrics, "prela_spool_pending_requests") == 2
        assert value(metrics, "prela_spool_appended_spans_total") == 4
    finally:
        exit_code = collector.stop()
    assert exit_code == 1, "stopped with an unsent spool"
    assert "requests=2 stay in it for the next start" in collector.log()

    absent.start()  # the broker appears; a restarted collector sends what it spooled
    try:
        collector = start_role("collector", args, env, tmp_path, ports)
        wait_port(http_port, 60)
        deadline = time.monotonic() + 60
        while value(samples(f"{collector.url('http')}/metrics"), "prela_spool_pending_requests") != 0:
            assert time.monotonic() < deadline, collector.log()
            time.sleep(0.1)
        assert collector.stop() == 0

        assert asyncio.run(topic_trace_ids(absent.bootstrap, "spans", 2)) == {
            t.hex().encode() for t in trace_ids
        }
    finally:
        absent.stop()


def test_writer_waits_for_an_unreachable_clickhouse_and_says_so(broker: Broker, tmp_path: Path) -> None:
    from tests.conftest import free_port
    from tests.scaleout.conftest import role_env, start_role, wait_port

    port = free_port()
    nothing_there = f"http://default:@127.0.0.1:{free_port()}/prela"
    writer = start_role(
        "writer", ["--metrics-port", str(port)], role_env(broker, CLICKHOUSE_URL=nothing_there), tmp_path,
        {"metrics": port},
    )  # fmt: skip
    try:
        wait_port(port, 60)
        for path in ("/health", "/ready"):
            response = httpx.get(f"{writer.url('metrics')}{path}", timeout=10)
            assert (response.status_code, response.json()["clickhouse"]) == (503, "down")
        time.sleep(1.5)
        assert writer.process.poll() is None, "the writer must wait for ClickHouse, not exit"
        assert "clickhouse not ready" in writer.log() and "default:@" not in writer.log()
    finally:
        assert writer.stop() == 0
