"""A full ingest queue answers with the retryable OTLP error, never by dropping spans.

The receivers and the queue are the real ones; the writer thread is held (not
started, or stalled) to fill the queue deterministically.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence

import grpc
import httpx
import pytest
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from prela.collector.ingest import Ingest
from prela.collector.otlp_grpc import OtlpGrpcReceiver, build_grpc_server
from prela.collector.otlp_http import OtlpHttpReceiver, build_otlp_http_app
from prela.exporters.queue import BatchWriter, QueueExporter, SpanQueue
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


class StalledWriter:
    """Stands in for ClickHouse: blocks until released, records what it stored."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.stored: list[SpanRecord] = []

    def insert(self, records: Sequence[SpanRecord]) -> None:
        self.release.wait(10)
        self.stored.extend(records)


def http_client(ingest: Ingest) -> httpx.AsyncClient:
    app = build_otlp_http_app(OtlpHttpReceiver(ingest, 1 << 20, retry_after_s=2, project_id="p"))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://prela")


async def post(client: httpx.AsyncClient, spans: int) -> httpx.Response:
    return await client.post(
        "/v1/traces", content=otlp_body(spans), headers={"Content-Type": "application/x-protobuf"}
    )


async def test_full_queue_is_503_with_retry_after_over_http() -> None:
    queue = SpanQueue(capacity_spans=10)
    async with http_client(Ingest(QueueExporter(queue, ack_timeout_s=5))) as client:
        first = asyncio.create_task(post(client, 8))  # waits in the queue: nobody writes
        await asyncio.sleep(0.1)
        refused = await post(client, 8)
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "2"
        assert "queue full" in Status.FromString(refused.content).message
        assert queue.depth == 8
        first.cancel()


async def test_unstored_spans_time_out_as_retryable_503() -> None:
    queue = SpanQueue(capacity_spans=100)
    async with http_client(Ingest(QueueExporter(queue, ack_timeout_s=0.2))) as client:
        response = await post(client, 3)
    assert response.status_code == 503
    assert "not stored within" in Status.FromString(response.content).message


async def test_full_queue_is_unavailable_over_grpc() -> None:
    queue = SpanQueue(capacity_spans=10)
    receiver = OtlpGrpcReceiver(Ingest(QueueExporter(queue, ack_timeout_s=5)), "p")
    server, port = build_grpc_server(receiver, "127.0.0.1", 0, 1 << 20)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            export = channel.unary_unary(
                "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                request_serializer=None,
                response_deserializer=None,
            )
            first = asyncio.ensure_future(export(otlp_body(8), timeout=5))
            await asyncio.sleep(0.2)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await export(otlp_body(8), timeout=5)
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
            first.cancel()
    finally:
        await server.stop(0)


async def test_acknowledged_only_after_the_writer_stored_the_spans() -> None:
    queue = SpanQueue(capacity_spans=100)
    store = StalledWriter()
    writer = BatchWriter(queue, store, batch_spans=100, linger_s=0)  # type: ignore[arg-type]
    writer.start()
    async with http_client(Ingest(QueueExporter(queue, ack_timeout_s=5))) as client:
        pending = asyncio.create_task(post(client, 4))
        await asyncio.sleep(0.2)
        assert not pending.done()
        store.release.set()
        response = await pending
    assert response.status_code == 200
    assert len(store.stored) == 4
    assert writer.stop(5)


def test_stop_drains_everything_queued() -> None:
    queue = SpanQueue(capacity_spans=1000)
    store = StalledWriter()
    store.release.set()
    done: list[BaseException | None] = []
    for _ in range(10):
        queue.put([_record()] * 7, done.append)
    writer = BatchWriter(queue, store, batch_spans=20, linger_s=0.01)  # type: ignore[arg-type]
    writer.start()
    assert writer.stop(5)
    assert len(store.stored) == 70
    assert done == [None] * 10


def test_a_closed_queue_refuses_new_spans() -> None:
    from prela.exporters.base import Unavailable

    queue = SpanQueue(capacity_spans=10)
    queue.close()
    with pytest.raises(Unavailable):
        queue.put([_record()], lambda error: None)


def _record() -> SpanRecord:
    return SpanRecord(*(["p", "t", "s", "", "", "n", "CUSTOM", "INTERNAL", "svc", "", ""] + [1, 2, 1]
                        + ["SUCCESS", "", "{}", "{}", "{}", "[]", "[]", "", "", ""] + [0] * 6 + [0.0, "", ""]))  # fmt: skip


class FlakyWriter:
    """Fails like an unreachable ClickHouse a few times, then stores."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.stored: list[SpanRecord] = []

    def insert(self, records: Sequence[SpanRecord]) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("clickhouse unreachable")
        self.stored.extend(records)


def test_store_failures_are_retried_until_the_spans_are_stored_once() -> None:
    queue = SpanQueue(capacity_spans=100)
    store = FlakyWriter(failures=3)
    done: list[BaseException | None] = []
    queue.put([_record()] * 5, done.append)
    writer = BatchWriter(queue, store, batch_spans=100, linger_s=0, max_backoff_s=0.05)  # type: ignore[arg-type]
    writer.start()
    assert writer.stop(5)
    assert (store.calls, len(store.stored), done) == (4, 5, [None])
    assert writer.healthy


def test_a_store_that_never_returns_fails_the_waiting_clients_retryably_at_stop() -> None:
    from prela.exporters.base import Unavailable

    queue = SpanQueue(capacity_spans=100)
    store = FlakyWriter(failures=10**9)
    done: list[BaseException | None] = []
    queue.put([_record()] * 5, done.append)
    queue.put([_record()] * 5, done.append)
    writer = BatchWriter(queue, store, batch_spans=5, linger_s=0, max_backoff_s=0.05)  # type: ignore[arg-type]
    writer.start()
    assert not writer.stop(0.3)
    assert len(done) == 2 and all(isinstance(e, Unavailable) for e in done)
    assert not writer.healthy
