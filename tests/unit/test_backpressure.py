"""The embedded pipeline: back-pressure, write-ahead logging before the answer, drain and replay.

The receivers, queue, writer thread and log are the real ones; ClickHouse is
replaced by in-memory stand-ins that can stall or fail on demand.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from prometheus_client import REGISTRY

from prela.auth import Principal
from prela.collector.ingest import Ingest
from prela.collector.mapping import map_export_request
from prela.collector.otlp_grpc import OtlpGrpcReceiver, build_grpc_server
from prela.collector.otlp_http import OtlpHttpReceiver, build_otlp_http_app
from prela.exporters.base import Overloaded, PayloadKind, RawRequest, Unavailable
from prela.exporters.queue import QueuedRequest, QueueExporter, SpanQueue
from prela.exporters.wal import WriteAheadLog
from prela.model import SpanRecord
from prela.writer.batch_writer import BatchWriter
from prela.writer.replay import replay_wal


def otlp_body(spans: int) -> bytes:
    trace_id = os.urandom(16)
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[
            Span(trace_id=trace_id, span_id=os.urandom(8), name="s", start_time_unix_nano=1, end_time_unix_nano=2)
            for _ in range(spans)
        ])])]
    )  # fmt: skip
    return request.SerializeToString()


class MemoryStore:
    """Stands in for ClickHouse (both the trace inserter and the row writer): stores, or fails `failures`
    times first like an unreachable server. Trace requests are mapped as the interim inserter maps them."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.calls = 0
        self.stored: list[SpanRecord] = []

    def _call(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("clickhouse unreachable")

    def insert(self, requests: Sequence[tuple[str, bytes]], settings: dict[str, Any] | None = None) -> None:
        self._call()
        for project_id, payload in requests:
            self.stored += map_export_request(
                ExportTraceServiceRequest.FromString(payload), project_id
            ).records

    def insert_or_isolate(
        self, records: Sequence[SpanRecord], settings: dict[str, Any] | None = None
    ) -> list[tuple[SpanRecord, str]]:
        self._call()
        self.stored.extend(records)
        return []


def queued(spans: int, lsn: int = 0, body: bytes | None = None) -> QueuedRequest:
    return QueuedRequest(PayloadKind.OTLP_PROTOBUF, "p", body or otlp_body(spans), spans, lsn)


async def project_p(headers: Mapping[str, str]) -> Principal:
    return Principal("p", None, method="off")


def http_client(ingest: Ingest) -> httpx.AsyncClient:
    app = build_otlp_http_app(OtlpHttpReceiver(ingest, 1 << 20, retry_after_s=2, authenticate=project_p))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://prela")


async def post(client: httpx.AsyncClient, spans: int) -> httpx.Response:
    return await client.post(
        "/v1/traces", content=otlp_body(spans), headers={"Content-Type": "application/x-protobuf"}
    )


async def test_full_queue_is_503_with_retry_after_over_http() -> None:
    queue = SpanQueue(capacity_spans=10)  # no writer: nothing drains
    async with http_client(Ingest(QueueExporter(queue))) as client:
        assert (await post(client, 8)).status_code == 200
        refused = await post(client, 8)
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "2"
    assert "queue full" in Status.FromString(refused.content).message
    assert queue.depth == 8


async def test_full_queue_is_unavailable_over_grpc() -> None:
    queue = SpanQueue(capacity_spans=10)
    receiver = OtlpGrpcReceiver(Ingest(QueueExporter(queue)), project_p)
    server, port = build_grpc_server(receiver, "127.0.0.1", 0, 1 << 20)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            export = channel.unary_unary(
                "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                request_serializer=None,
                response_deserializer=None,
            )
            await export(otlp_body(8), timeout=5)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await export(otlp_body(8), timeout=5)
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await server.stop(0)


async def test_a_request_is_in_the_write_ahead_log_before_it_is_answered(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path / "wal")
    queue = SpanQueue(capacity_spans=100)
    body = otlp_body(3)
    async with http_client(Ingest(QueueExporter(queue, wal))) as client:
        response = await client.post(
            "/v1/traces", content=body, headers={"Content-Type": "application/x-protobuf"}
        )
    assert response.status_code == 200
    [entry] = list(WriteAheadLog(tmp_path / "wal").pending())
    assert (entry.kind, entry.project_id, entry.payload) == (PayloadKind.OTLP_PROTOBUF, "p", body)


async def test_a_refused_request_is_not_logged(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path / "wal")
    queue = SpanQueue(capacity_spans=4)
    async with http_client(Ingest(QueueExporter(queue, wal))) as client:
        assert (await post(client, 3)).status_code == 200
        assert (await post(client, 3)).status_code == 503
    assert len(list(WriteAheadLog(tmp_path / "wal").pending())) == 1


def test_stop_drains_everything_queued_and_checkpoints_the_log(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path / "wal")
    queue = SpanQueue(capacity_spans=1000)
    for _ in range(10):
        body = otlp_body(7)
        queue.put(queued(7, wal.append(PayloadKind.OTLP_PROTOBUF, "p", body), body))
    store = MemoryStore()
    writer = BatchWriter(queue, store, store, batch_spans=20, linger_s=0.01, wal=wal)
    writer.start()
    assert writer.stop(5)
    assert len(store.stored) == 70
    assert wal.checkpointed == 10
    assert list(WriteAheadLog(tmp_path / "wal").pending()) == []


class NiceRecordingStore(MemoryStore):
    """Records the nice value of the thread that inserts."""

    def insert(self, requests: Sequence[tuple[str, bytes]], settings: dict[str, Any] | None = None) -> None:
        self.nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        super().insert(requests, settings)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a thread's own nice value is Linux's")
def test_the_writer_thread_runs_at_a_lower_priority_than_the_receivers() -> None:
    queue = SpanQueue(capacity_spans=100)
    queue.put(queued(5))
    store = NiceRecordingStore()
    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    writer = BatchWriter(queue, store, store, batch_spans=100, linger_s=0, nice=7)
    writer.start()
    assert writer.stop(5)
    assert len(store.stored) == 5
    assert store.nice == min(19, before + 7)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before  # not the process's


def test_store_failures_are_retried_until_the_spans_are_stored_once() -> None:
    queue = SpanQueue(capacity_spans=100)
    queue.put(queued(5))
    store = MemoryStore(failures=3)
    writer = BatchWriter(queue, store, store, batch_spans=100, linger_s=0, max_backoff_s=0.05)
    writer.start()
    assert writer.stop(5)
    assert (store.calls, len(store.stored)) == (4, 5)
    assert writer.healthy


def test_spans_a_failing_store_never_took_stay_in_the_log_for_the_next_start(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path / "wal")
    queue = SpanQueue(capacity_spans=100)
    body = otlp_body(5)
    queue.put(queued(5, wal.append(PayloadKind.OTLP_PROTOBUF, "p", body), body))
    failing = MemoryStore(failures=10**9)
    writer = BatchWriter(queue, failing, failing, 5, 0, wal=wal, max_backoff_s=0.05)
    writer.start()
    assert not writer.stop(0.3)
    assert not writer.healthy
    wal.close()

    restarted = WriteAheadLog(tmp_path / "wal")
    store = MemoryStore()
    assert replay_wal(restarted, store, store, batch_spans=100) == 5
    assert len(store.stored) == 5 and store.stored[0].project_id == "p"
    assert list(WriteAheadLog(tmp_path / "wal").pending()) == []


def test_a_closed_queue_refuses_new_spans() -> None:
    queue = SpanQueue(capacity_spans=10)
    queue.close()
    with pytest.raises(Unavailable):
        queue.put(queued(1))


def test_an_oversized_batch_is_taken_when_the_queue_is_empty() -> None:
    queue = SpanQueue(capacity_spans=10)
    queue.put(queued(50))
    assert queue.depth == 50


async def test_exporter_answers_without_waiting_for_the_store() -> None:
    queue = SpanQueue(capacity_spans=100)
    raw = RawRequest(PayloadKind.OTLP_PROTOBUF, otlp_body(3))
    await asyncio.wait_for(QueueExporter(queue).export("p", raw, 3), 1)
    assert queue.depth == 3


def test_the_queue_is_also_bounded_by_bytes() -> None:
    queue = SpanQueue(capacity_spans=1000, capacity_bytes=300)
    queue.put(queued(1, body=bytes(200)))
    with pytest.raises(Overloaded, match="bytes waiting"):
        queue.put(queued(1, body=bytes(200)))
    assert (queue.depth, queue.depth_bytes) == (1, 200)


def test_the_queue_reports_how_long_its_oldest_request_has_waited() -> None:
    queue = SpanQueue(capacity_spans=1000)
    assert queue.oldest_age_s() == 0.0
    queue.put(queued(1))
    time.sleep(0.05)
    queue.put(queued(1))
    assert queue.oldest_age_s() >= 0.05
    assert REGISTRY.get_sample_value("prela_queue_oldest_age_seconds") >= 0.05
    assert queue.take(max_items=1, linger_s=0) is not None
    assert queue.oldest_age_s() < 0.05  # the newer one is the oldest now
    assert queue.take(max_items=1, linger_s=0) is not None
    assert queue.oldest_age_s() == 0.0


async def test_the_receive_path_never_maps_spans(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mapping runs in the writer: a receiver that called it would fail this request."""

    def no_mapping(*args: object) -> None:
        raise AssertionError("the receive path mapped spans")

    import prela.collector.mapping as mapping

    for name in ("map_export_request", "lift_llm_fields", "attributes_dict"):
        original = getattr(mapping, name)
        for module in list(sys.modules.values()):  # wherever the function was imported by name
            if (
                getattr(module, "__name__", "").startswith("prela.")
                and getattr(module, name, None) is original
            ):
                monkeypatch.setattr(module, name, no_mapping)
    queue = SpanQueue(capacity_spans=100)
    async with http_client(Ingest(QueueExporter(queue))) as client:
        response = await post(client, 5)
    assert response.status_code == 200
    [request] = queue.take(100, 0) or []
    assert (request.kind, request.items) == (PayloadKind.OTLP_PROTOBUF, 5)


async def test_spans_breaking_the_id_rules_are_answered_as_partial_success_and_the_rest_queued_raw() -> None:
    good = Span(
        trace_id=os.urandom(16),
        span_id=os.urandom(8),
        name="ok",
        start_time_unix_nano=1,
        end_time_unix_nano=2,
    )
    bad = Span(trace_id=bytes(16), span_id=os.urandom(8), name="zero trace id")
    body = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[good, bad])])]
    ).SerializeToString()
    queue = SpanQueue(capacity_spans=100)
    async with http_client(Ingest(QueueExporter(queue))) as client:
        response = await client.post(
            "/v1/traces", content=body, headers={"Content-Type": "application/x-protobuf"}
        )
    assert response.status_code == 200
    answer = ExportTraceServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_spans == 1
    assert answer.partial_success.error_message == "span 1 of scope '': trace_id must not be all zero"
    [request] = queue.take(100, 0) or []
    assert (request.payload, request.items) == (body, 1)


async def test_a_request_the_log_cannot_write_is_refused_retryably(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path / "wal")
    wal.append(PayloadKind.OTLP_PROTOBUF, "p", b"x")
    wal.close()  # its file descriptor is gone: the next append fails like a full disk would
    wal._fd = 10**6  # an fd that does not exist
    queue = SpanQueue(capacity_spans=100)
    async with http_client(Ingest(QueueExporter(queue, wal))) as client:
        response = await post(client, 2)
    assert response.status_code == 503
    assert "write-ahead log" in Status.FromString(response.content).message
    assert queue.depth == 0


async def test_an_otlp_json_request_is_logged_once_converted_to_protobuf(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path / "wal")
    trace_id, span_id = os.urandom(16), os.urandom(8)
    doc = {"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": trace_id.hex(), "spanId": span_id.hex(), "name": "s", "startTimeUnixNano": "1", "endTimeUnixNano": "2"}
    ]}]}]}  # fmt: skip
    async with http_client(Ingest(QueueExporter(SpanQueue(capacity_spans=100), wal))) as client:
        assert (await client.post("/v1/traces", json=doc)).status_code == 200
    [entry] = list(WriteAheadLog(tmp_path / "wal").pending())
    [span] = ExportTraceServiceRequest.FromString(entry.payload).resource_spans[0].scope_spans[0].spans
    assert (entry.kind, span.trace_id, span.span_id, span.name) == (
        PayloadKind.OTLP_PROTOBUF,
        trace_id,
        span_id,
        "s",
    )
