"""The collector's spool: order, checkpoint after Kafka's acknowledgement, replay, torn tails, the bound.

The write-ahead log and the spool are the real ones; Kafka is replaced by an
in-memory stand-in that records, fails or stalls on demand (the real broker
is in tests/scaleout/test_spool.py).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path

import orjson
import pytest
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from prometheus_client import REGISTRY

from prela.collector.ingest import Ingest
from prela.exporters.base import PayloadKind, RawRequest, Unavailable
from prela.exporters.kafka import KafkaConfig, Message
from prela.exporters.spool import KafkaSpool, SpoolFull, decode_entry
from prela.exporters.wal import WriteAheadLog
from tests.unit.test_backpressure import http_client, post

CONFIG = KafkaConfig(bootstrap_servers="unused:9092")


class MemoryKafka:
    """Stands in for `KafkaSender`: keeps what it acknowledged; fails `failures` times first; `gate` stalls it."""

    def __init__(self, failures: int = 0, max_message_bytes: int = 1 << 30) -> None:
        self.failures = failures
        self.max_message_bytes = max_message_bytes
        self.attempts = 0
        self.acknowledged: list[Message] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.connected = True
        self.healthy = True

    async def connect(self) -> None:
        pass

    async def send(self, messages: Sequence[Message]) -> None:
        await self.gate.wait()
        self.attempts += 1
        if self.attempts <= self.failures:
            self.healthy = False
            raise KafkaConnectionError("broker unreachable")
        self.healthy = True
        if any(len(value) > self.max_message_bytes for _, _, value, _ in messages):
            raise MessageSizeTooLargeError("the broker's message.max.bytes")
        self.acknowledged.extend(messages)

    def trace_ids(self) -> list[str]:
        """The trace id of each message: the first span's of an OTLP request, a Prela JSON trace's own."""
        ids = []
        for _, _, value, headers in self.acknowledged:
            if dict(headers)["content-type"] == b"application/json":
                ids.append(orjson.loads(value)["trace_id"])
            else:
                request = ExportTraceServiceRequest.FromString(value)
                ids.append(request.resource_spans[0].scope_spans[0].spans[0].trace_id.hex())
        return ids


def otlp(trace_id: str, spans: int = 1, input_bytes: int = 10) -> RawRequest:
    """A raw OTLP trace request of `spans` spans of one trace, each with an input of `input_bytes`."""
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[
        Span(trace_id=bytes.fromhex(trace_id), span_id=(i + 1).to_bytes(8, "big"), name="op",
             start_time_unix_nano=1_700_000_000_000_000_000 + i, end_time_unix_nano=1_700_000_000_000_000_100 + i,
             attributes=[KeyValue(key="input.value", value=AnyValue(string_value="x" * input_bytes))])
        for i in range(spans)
    ])])])  # fmt: skip
    return RawRequest(PayloadKind.OTLP_PROTOBUF, request.SerializeToString())


def prela(trace_id: str, spans: int = 2) -> RawRequest:
    doc = {"trace_id": trace_id, "spans": [{"span_id": f"s{i}", "name": "op"} for i in range(spans)]}
    return RawRequest(PayloadKind.PRELA_JSON, orjson.dumps(doc))


def spool_of(
    directory: Path, kafka: MemoryKafka, max_bytes: int = 1 << 30
) -> tuple[WriteAheadLog, KafkaSpool]:
    wal = WriteAheadLog(directory, segment_bytes=4096, max_bytes=max_bytes, recycle=True)
    return wal, KafkaSpool(wal, kafka, CONFIG, max_bytes, max_backoff_s=0.01)  # type: ignore[arg-type]


async def until(condition: object, what: str) -> None:
    for _ in range(2000):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"not reached: {what}")


async def test_spooled_requests_reach_kafka_in_the_order_they_were_accepted(tmp_path: Path) -> None:
    kafka = MemoryKafka()
    wal, spool = spool_of(tmp_path / "spool", kafka)
    trace_ids = [f"{i:032x}" for i in range(60)]
    for i, trace_id in enumerate(trace_ids):  # a few appends at a time, while the sender runs
        await spool.export("p", prela(trace_id) if i % 3 == 0 else otlp(trace_id, 2), 2)
        if i == 0:
            spool.start()
        if i % 7 == 0:
            await asyncio.sleep(0)
    await until(lambda: spool.pending_requests == 0, "spool drained")
    assert await spool.close(5)
    assert kafka.trace_ids() == trace_ids
    assert [topic for topic, _, _, _ in kafka.acknowledged] == [
        "traces" if i % 3 == 0 else "spans" for i in range(60)
    ]
    _, key, value, headers = kafka.acknowledged[5]
    assert (key, value) == (b"", otlp(trace_ids[5], 2).payload)  # the request as received
    assert headers == [("prela-project", b"p"), ("content-type", b"application/x-protobuf")]
    assert kafka.acknowledged[6][3] == [("prela-project", b"p"), ("content-type", b"application/json")]
    assert (wal.checkpointed, wal.last_lsn, spool.sent_spans) == (60, 60, 120)
    wal.close()
    assert list(WriteAheadLog(tmp_path / "spool").pending()) == []


async def test_nothing_is_checkpointed_until_kafka_acknowledged(tmp_path: Path) -> None:
    kafka = MemoryKafka(failures=5)
    wal, spool = spool_of(tmp_path / "spool", kafka)
    spool.start()
    for i in range(3):
        await spool.export("p", otlp(f"{i:032x}"), 1)
    await until(lambda: kafka.attempts >= 3, "three failed sends")
    assert wal.checkpointed == 0 and not kafka.healthy
    await until(lambda: spool.pending_requests == 0, "spool drained after the broker came back")
    assert await spool.close(5)
    assert kafka.trace_ids() == [f"{i:032x}" for i in range(3)]
    assert wal.checkpointed == 3 and spool.oldest_age_s() == 0.0


async def test_a_crash_before_the_acknowledgement_sends_everything_again_at_the_next_start(
    tmp_path: Path,
) -> None:
    stalled = MemoryKafka()
    stalled.gate.clear()  # Kafka never answers
    wal, spool = spool_of(tmp_path / "spool", stalled)
    spool.start()
    for i in range(4):
        await spool.export("p", otlp(f"{i:032x}"), 1)
    await asyncio.sleep(0.05)
    assert spool.pending_requests == 4 and spool.oldest_age_s() > 0
    assert not await spool.close(0.05)  # what kill -9 leaves: the files, no checkpoint
    wal.close()

    kafka = MemoryKafka()
    restarted, spool = spool_of(tmp_path / "spool", kafka)
    assert spool.pending_requests == 4
    spool.start()
    await until(lambda: spool.pending_requests == 0, "replayed")
    assert await spool.close(5)
    assert kafka.trace_ids() == [f"{i:032x}" for i in range(4)]
    assert (restarted.checkpointed, restarted.last_lsn) == (4, 4)


async def test_a_message_the_broker_refuses_as_too_large_is_left_out_and_the_rest_sent_in_order(
    tmp_path: Path,
) -> None:
    kafka = MemoryKafka(max_message_bytes=2000)
    wal, spool = spool_of(tmp_path / "spool", kafka)
    for i in range(6):
        large = i == 2
        await spool.export("p", otlp(f"{i:032x}", input_bytes=5000 if large else 10), 1)
    spool.start()
    await until(lambda: spool.pending_requests == 0, "drained past the large message")
    assert await spool.close(5)
    assert kafka.trace_ids() == [f"{i:032x}" for i in (0, 1, 3, 4, 5)]
    assert wal.checkpointed == 6


async def test_a_span_larger_than_a_kafka_message_is_refused_not_spooled(tmp_path: Path) -> None:
    wal, spool = spool_of(tmp_path / "spool", MemoryKafka())
    with pytest.raises(Unavailable, match="exceeds the Kafka message limit"):
        await spool.export("p", otlp(f"{1:032x}", input_bytes=CONFIG.max_message_bytes + 100_000), 1)
    assert wal.last_lsn == 0


def test_a_torn_tail_is_cut_and_the_entries_before_and_after_it_are_read(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path / "spool")
    for i in range(3):
        wal.append(PayloadKind.SPOOL_SPANS, "p", f"entry {i}".encode())
    wal.close()
    [segment] = (tmp_path / "spool").glob("wal-*.log")
    intact = segment.stat().st_size
    with segment.open("ab") as f:  # a crash in the middle of the fourth append
        f.write(b"\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d")

    reopened = WriteAheadLog(tmp_path / "spool")
    assert segment.stat().st_size == intact
    reader = reopened.reader(0)
    assert [(e.lsn, e.payload) for e in reader.read(1 << 20)] == [
        (i + 1, f"entry {i}".encode()) for i in range(3)
    ]
    assert reopened.append(PayloadKind.SPOOL_SPANS, "p", b"after the crash") == 4
    assert [(e.lsn, e.payload) for e in reader.read(1 << 20)] == [(4, b"after the crash")]
    assert reader.read(1 << 20) == []


def test_the_reader_follows_appends_across_segments_and_checkpoints_drop_them(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path / "spool", segment_bytes=1024)
    reader = wal.reader(0)
    seen: list[int] = []
    for i in range(200):
        wal.append(PayloadKind.SPOOL_SPANS, "p", os.urandom(100))
        if i % 9 == 0:
            seen += [e.lsn for e in reader.read(300)]
    seen += [e.lsn for e in reader.read(1 << 20)]
    assert seen == list(range(1, 201))
    assert len(list((tmp_path / "spool").glob("wal-*.log"))) > 10
    wal.checkpoint(200)
    assert list((tmp_path / "spool").glob("wal-*.log")) == [] and wal.size_bytes == 0
    assert wal.append(PayloadKind.SPOOL_SPANS, "p", b"next") == 201
    assert [e.lsn for e in reader.read(1 << 20)] == [201]


def test_a_recycled_segment_is_overwritten_and_its_old_records_never_read_again(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path / "spool", segment_bytes=1024, recycle=True)
    reader = wal.reader(0)
    for i in range(30):  # ~10 segments
        wal.append(PayloadKind.SPOOL_SPANS, "p", b"old %03d " % i + bytes(90))
    assert [e.lsn for e in reader.read(1 << 20)] == list(range(1, 31))
    wal.checkpoint(30)
    assert sorted(p.name for p in (tmp_path / "spool").iterdir()) == ["checkpoint", "spare.log"]
    spare = (tmp_path / "spool" / "spare.log").stat().st_ino
    wal.append(PayloadKind.SPOOL_SPANS, "p", b"new")  # written over the spare's first bytes
    [segment] = (tmp_path / "spool").glob("wal-*.log")
    assert (segment.name, segment.stat().st_ino) == (f"wal-{31:020d}.log", spare)
    assert [(e.lsn, e.payload) for e in reader.read(1 << 20)] == [(31, b"new")]
    assert reader.read(1 << 20) == []
    # kill -9 now: the file still holds the old records after the new one; they are not replayed
    restarted = WriteAheadLog(tmp_path / "spool", segment_bytes=1024, recycle=True)
    assert [(e.lsn, e.payload) for e in restarted.pending()] == [(31, b"new")]
    assert restarted.last_lsn == 31 and restarted.size_bytes == segment.stat().st_size
    assert restarted.append(PayloadKind.SPOOL_SPANS, "p", b"next") == 32
    assert [e.lsn for e in restarted.reader(30).read(1 << 20)] == [31, 32]


async def test_a_full_spool_refuses_with_spool_full_until_kafka_took_some(tmp_path: Path) -> None:
    kafka = MemoryKafka()
    kafka.gate.clear()
    wal, spool = spool_of(tmp_path / "spool", kafka, max_bytes=8 * 1024)
    spool.start()
    accepted = 0
    with pytest.raises(SpoolFull) as refused:
        for i in range(1000):
            await spool.export("p", otlp(f"{i:032x}", 3), 3)
            accepted += 1
    assert refused.value.reason == "spool_full"
    assert 0 < accepted < 1000 and wal.size_bytes <= 8 * 1024
    assert not spool.has_room
    kafka.gate.set()
    await until(lambda: spool.pending_requests == 0, "drained")
    assert spool.has_room
    await spool.export("p", otlp(f"{10**6:032x}"), 1)
    await until(lambda: spool.pending_requests == 0, "drained again")
    assert await spool.close(5)
    assert len(kafka.acknowledged) == accepted + 1


async def test_a_full_spool_is_503_with_retry_after_and_counted_as_spool_full(tmp_path: Path) -> None:
    def refused() -> float:
        labels = {"transport": "http", "reason": "spool_full"}
        return REGISTRY.get_sample_value("prela_receiver_refused_requests_total", labels) or 0.0

    before = refused()
    kafka = MemoryKafka()
    kafka.gate.clear()
    _, spool = spool_of(tmp_path / "spool", kafka, max_bytes=2048)
    async with http_client(Ingest(spool)) as client:
        statuses = [(await post(client, 5)).status_code for _ in range(30)]
        response = await post(client, 5)
    assert statuses[0] == 200 and statuses[-1] == 503
    assert (response.status_code, response.headers["Retry-After"]) == (503, "2")
    assert refused() - before == statuses.count(503) + 1


def test_an_entry_holds_the_kafka_messages_as_encoded() -> None:
    from prela.exporters.spool import encode_entry

    messages = [(b"k1", b"v" * 300), (b"", b""), (b"k3", b"\x00\xff")]
    assert decode_entry(encode_entry(7, messages, 123)) == (123, 7, messages)


async def test_a_request_larger_than_a_kafka_message_is_split_by_spans_into_requests_that_fit(
    tmp_path: Path,
) -> None:
    config = KafkaConfig(bootstrap_servers="unused:9092", max_message_bytes=4096)
    kafka = MemoryKafka()
    wal = WriteAheadLog(tmp_path / "spool")
    spool = KafkaSpool(wal, kafka, config, 1 << 30)  # type: ignore[arg-type]
    raw = otlp(f"{7:032x}", spans=40, input_bytes=500)
    await spool.export("p", raw, 40)
    spool.start()
    await until(lambda: spool.pending_requests == 0, "sent")
    assert await spool.close(5)
    parts = [ExportTraceServiceRequest.FromString(value) for _, _, value, _ in kafka.acknowledged]
    assert len(parts) > 1 and all(len(value) <= 4096 for _, _, value, _ in kafka.acknowledged)
    spans = [span for part in parts for span in part.resource_spans[0].scope_spans[0].spans]
    assert spans == list(
        ExportTraceServiceRequest.FromString(raw.payload).resource_spans[0].scope_spans[0].spans
    )
    assert spool.sent_spans == 40


async def test_entries_spooled_before_the_upgrade_are_sent_as_they_were_encoded(tmp_path: Path) -> None:
    """A spool written by the previous version (SpanBatch messages keyed by trace id) is sent unchanged,
    without headers: the writer still reads that layout."""
    from prela.exporters.spool import encode_entry

    old = [(b"a" * 32, b"spanbatch-1"), (b"b" * 32, b"spanbatch-2")]
    wal = WriteAheadLog(tmp_path / "spool", recycle=True)
    wal.append(PayloadKind.SPOOL_SPANS, "p", encode_entry(2, old, 1))
    wal.append(PayloadKind.SPOOL_TRACES, "p", encode_entry(1, [(b"seed", b"spanbatch-3")], 2))
    kafka = MemoryKafka()
    spool = KafkaSpool(wal, kafka, CONFIG, 1 << 30)  # type: ignore[arg-type]
    spool.start()
    await until(lambda: spool.pending_requests == 0, "sent")
    assert await spool.close(5)
    assert kafka.acknowledged == [
        ("spans", b"a" * 32, b"spanbatch-1", []),
        ("spans", b"b" * 32, b"spanbatch-2", []),
        ("traces", b"seed", b"spanbatch-3", []),
    ]
    assert spool.sent_spans == 3
