"""The embedded pipeline: back-pressure, write-ahead logging before the answer, drain and replay.

The receivers, queue, writer thread and log are the real ones; ClickHouse is
replaced by in-memory stand-ins that can stall or fail on demand.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from prela.auth import Principal
from prela.collector.ingest import Ingest, replay_wal
from prela.collector.otlp_grpc import OtlpGrpcReceiver, build_grpc_server
from prela.collector.otlp_http import OtlpHttpReceiver, build_otlp_http_app
from prela.exporters.base import PayloadKind, Unavailable
from prela.exporters.queue import BatchWriter, QueueExporter, SpanQueue
from prela.exporters.wal import WriteAheadLog
from prela.model import SpanRecord


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
    """Stands in for ClickHouse: stores, or fails `failures` times first like an unreachable server."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.calls = 0
        self.stored: list[SpanRecord] = []

    def insert(self, records: Sequence[SpanRecord], settings: dict[str, Any] | None = None) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("clickhouse unreachable")
        self.stored.extend(records)

    def insert_or_isolate(
        self, records: Sequence[SpanRecord], settings: dict[str, Any] | None = None
    ) -> list[tuple[SpanRecord, str]]:
        self.insert(records, settings)
        return []


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
        queue.put([_record()] * 7, wal.append(PayloadKind.OTLP_PROTOBUF, "p", b"x"))
    store = MemoryStore()
    writer = BatchWriter(queue, store, batch_spans=20, linger_s=0.01, wal=wal)  # type: ignore[arg-type]
    writer.start()
    assert writer.stop(5)
    assert len(store.stored) == 70
    assert wal.checkpointed == 10
    assert list(WriteAheadLog(tmp_path / "wal").pending()) == []


def test_store_failures_are_retried_until_the_spans_are_stored_once() -> None:
    queue = SpanQueue(capacity_spans=100)
    queue.put([_record()] * 5)
    store = MemoryStore(failures=3)
    writer = BatchWriter(queue, store, batch_spans=100, linger_s=0, max_backoff_s=0.05)  # type: ignore[arg-type]
    writer.start()
    assert writer.stop(5)
    assert (store.calls, len(store.stored)) == (4, 5)
    assert writer.healthy


def test_spans_a_failing_store_never_took_stay_in_the_log_for_the_next_start(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path / "wal")
    queue = SpanQueue(capacity_spans=100)
    queue.put([_record()] * 5, wal.append(PayloadKind.OTLP_PROTOBUF, "p", otlp_body(5)))
    writer = BatchWriter(queue, MemoryStore(failures=10**9), 5, 0, wal=wal, max_backoff_s=0.05)  # type: ignore[arg-type]
    writer.start()
    assert not writer.stop(0.3)
    assert not writer.healthy
    wal.close()

    restarted = WriteAheadLog(tmp_path / "wal")
    store = MemoryStore()
    assert replay_wal(restarted, store, batch_spans=100) == 5  # type: ignore[arg-type]
    assert len(store.stored) == 5 and store.stored[0].project_id == "p"
    assert list(WriteAheadLog(tmp_path / "wal").pending()) == []


def test_a_closed_queue_refuses_new_spans() -> None:
    queue = SpanQueue(capacity_spans=10)
    queue.close()
    with pytest.raises(Unavailable):
        queue.put([_record()])


def test_an_oversized_batch_is_taken_when_the_queue_is_empty() -> None:
    queue = SpanQueue(capacity_spans=10)
    queue.put([_record()] * 50)
    assert queue.depth == 50


async def test_exporter_answers_without_waiting_for_the_store() -> None:
    queue = SpanQueue(capacity_spans=100)
    await asyncio.wait_for(QueueExporter(queue).export("p", [_record()] * 3), 1)
    assert queue.depth == 3


def _record() -> SpanRecord:
    return SpanRecord(*(["p", "t", "s", "", "", "n", "CUSTOM", "INTERNAL", "svc", "", ""] + [1, 2, 1]
                        + ["SUCCESS", "", "{}", "{}", "{}", "[]", "[]", "", "", ""] + [0] * 6 + [0.0, "", ""]))  # fmt: skip


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
