"""The writer reads raw OTLP from Kafka: a topic filled by rotel's Kafka exporter (no Prela headers), the
collector's raw requests, and the older SpanBatch messages a topic may still hold after an upgrade."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

import pytest
import rotel
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from prela.exporters.kafka import KafkaConfig, create_topics, encode_messages
from tests.conftest import PROCESS_LOGS, free_port
from tests.integration.test_bad_input import request_of, span
from tests.scaleout.conftest import Broker, start_writer, wait_inserted, wait_port, writer_stats
from tests.scaleout.test_writer_faults import record

pytestmark = pytest.mark.integration

ROTEL_AGENT = Path(rotel.__file__).parent / "rotel-agent"
_READ_LLM_SPANS = """
import json, sys, clickhouse_connect
c = clickhouse_connect.get_client(dsn="chdb://" + sys.argv[1])
rows = c.query(
    "SELECT project_id, name, span_type, provider, model, input_tokens, output_tokens, service_name "
    "FROM prela.spans FINAL ORDER BY name"
).result_rows
print(json.dumps(rows))
"""


def read_rows(data_dir: Path) -> list[list[object]]:
    import json
    import sys

    out = subprocess.run(
        [sys.executable, "-c", _READ_LLM_SPANS, str(data_dir)], capture_output=True, check=True
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def start_rotel(broker: Broker, topic: str, log_dir: Path) -> tuple[subprocess.Popen[bytes], int]:
    """rotel's agent (the Rust collector of the `rotel` wheel) in the foreground: OTLP/gRPC in, Kafka out."""
    grpc_port, http_port = free_port(), free_port()
    log_path = log_dir / "rotel.log"
    process = subprocess.Popen(
        [
            str(ROTEL_AGENT), "start",
            "--otlp-grpc-endpoint", f"127.0.0.1:{grpc_port}",
            "--otlp-http-endpoint", f"127.0.0.1:{http_port}",
            "--pid-file", str(log_dir / "rotel.pid"),
            "--exporter", "kafka",
            "--kafka-exporter-brokers", broker.bootstrap,
            "--kafka-exporter-traces-topic", topic,
            "--kafka-exporter-format", "protobuf",
            "--kafka-exporter-acks", "all",
            "--batch-timeout", "100ms",
        ],
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    PROCESS_LOGS.append(log_path)
    wait_port(grpc_port, 30)
    return process, grpc_port


@pytest.mark.parametrize("mapping", ["python", "engine"])
def test_spans_rotel_exported_to_kafka_are_stored_typed_under_the_default_project(
    broker: Broker, tmp_path: Path, mapping: str
) -> None:
    """Either mapping (PRELA_MAPPING) stores the same typed rows."""
    topic = "otlp_spans"
    asyncio.run(create_topics(KafkaConfig(bootstrap_servers=broker.bootstrap)))
    rotel_agent, grpc_port = start_rotel(broker, topic, tmp_path)
    writer = start_writer(
        broker,
        tmp_path / "ch",
        tmp_path,
        PRELA_KAFKA_OTLP_TOPICS=topic,
        PRELA_KAFKA_DEFAULT_PROJECT="from-rotel",
        PRELA_MAPPING=mapping,
    )
    try:
        provider = TracerProvider(resource=Resource.create({"service.name": "rotel-app"}))
        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=f"127.0.0.1:{grpc_port}", insecure=True))
        )
        tracer = provider.get_tracer("t")
        llm = {
            "gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06", "gen_ai.usage.input_tokens": 12,
            "gen_ai.usage.output_tokens": 3,
        }  # fmt: skip
        with (
            tracer.start_as_current_span("agent", attributes={"openinference.span.kind": "AGENT"}),
            tracer.start_as_current_span("chat gpt-4o", attributes=llm),
        ):
            pass
        assert provider.force_flush(10_000)
        provider.shutdown()
        stats = wait_inserted(writer, 2)
        assert stats["dead_lettered"] == 0
        assert any(key.startswith(f"{topic}/") for key in stats["lag"])
    finally:
        writer.stop()
        rotel_agent.terminate()
        rotel_agent.wait(10)
    assert read_rows(tmp_path / "ch") == [
        ["from-rotel", "agent", "AGENT", "", "", 0, 0, "rotel-app"],
        ["from-rotel", "chat gpt-4o", "LLM", "openai", "gpt-4o-2024-08-06", 12, 3, "rotel-app"],
    ]


def test_old_spanbatch_messages_raw_requests_and_an_unreadable_otlp_message_on_one_topic(
    broker: Broker, tmp_path: Path
) -> None:
    """An upgrade drains the older layout; a raw request with Prela headers keeps its project; an OTLP
    message upb cannot parse is dead-lettered with its reason."""
    config = KafkaConfig(bootstrap_servers=broker.bootstrap)
    old_trace, new_trace = os.urandom(16), os.urandom(16)
    raw = request_of(*(span(new_trace, os.urandom(8), f"n{i}") for i in range(3))).SerializeToString()
    protobuf = [("prela-project", b"p-new"), ("content-type", b"application/x-protobuf")]

    async def produce() -> None:
        await create_topics(config)
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
        await producer.start()
        for key, value in encode_messages("p-old", [record(old_trace.hex(), i) for i in range(2)], 1 << 20):
            await producer.send_and_wait("spans", value, key=key)
        await producer.send_and_wait("spans", b"\x0a\xff\xff\xff", headers=protobuf)
        await producer.send_and_wait("spans", raw, headers=protobuf)
        await producer.stop()

    asyncio.run(produce())
    writer = start_writer(broker, tmp_path / "ch", tmp_path)
    try:
        wait_inserted(writer, 5)
        deadline = time.monotonic() + 20
        while writer_stats(writer)["dead_lettered"] < 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert writer_stats(writer)["dead_lettered"] == 1

        async def dead_letters() -> list:
            consumer = AIOKafkaConsumer(
                "prela-dead-letter", bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest"
            )
            await consumer.start()
            try:
                batch = await consumer.getmany(timeout_ms=5000)
                return [m for messages in batch.values() for m in messages]
            finally:
                await consumer.stop()

        [dead] = asyncio.run(dead_letters())
        assert dead.value == b"\x0a\xff\xff\xff"
        assert b"not an OTLP ExportTraceServiceRequest" in dict(dead.headers)["prela.error"]
    finally:
        writer.stop()
    rows = read_rows(tmp_path / "ch")
    assert sorted((r[0], r[1]) for r in rows) == [
        ("p-new", "n0"), ("p-new", "n1"), ("p-new", "n2"), ("p-old", "op"), ("p-old", "op"),
    ]  # fmt: skip
