"""`prela serve --workers N`'s forward layer: a receiver worker answers what the owner answers.

The owner's forward socket, the forwarding receivers and the ingest queue are the real ones, talking
over a real Unix socket; only the ClickHouse behind the queue is left out (nothing drains it).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import grpc
import httpx
import pytest
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from prela.auth import Principal, Unauthenticated
from prela.collector.ingest import Ingest
from prela.collector.otlp_grpc import OtlpGrpcReceiver, build_grpc_server
from prela.collector.otlp_http import OtlpHttpReceiver, build_otlp_http_app
from prela.exporters.queue import QueueExporter, SpanQueue
from prela.server.compose import admission_limiter
from prela.server.forward import (
    ForwardingGrpcReceiver,
    ForwardingHttpReceiver,
    ForwardServer,
    OwnerClient,
    socket_path,
)
from prela.server.settings import Settings

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
PROTOBUF = {"Content-Type": "application/x-protobuf"}


async def project_p(headers: Mapping[str, str]) -> Principal:
    if headers.get("x-api-key") == "wrong":
        raise Unauthenticated("invalid API key")
    return Principal("p", None, method="off")


def body_of(*spans: Span) -> bytes:
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=list(spans))])]
    ).SerializeToString()


def good_span(name: str = "s") -> Span:
    return Span(
        trace_id=os.urandom(16), span_id=os.urandom(8), name=name,
        start_time_unix_nano=1_700_000_000_000_000_000, end_time_unix_nano=1_700_000_000_500_000_000,
    )  # fmt: skip


class Owner:
    def __init__(self, tmp_path: Path) -> None:
        self.settings = Settings(PRELA_DATA_DIR=str(tmp_path), PRELA_RETRY_AFTER_SECONDS=2)
        self.queue = SpanQueue(capacity_spans=1000)
        self.ingest = Ingest(QueueExporter(self.queue))

        async def health() -> dict[str, bool]:
            return {"clickhouse": True}

        self.forward = ForwardServer(
            socket_path(tmp_path),
            self.ingest,
            self.settings,
            admission_limiter(self.settings),
            health,
            health,
        )

    def local_http(self) -> httpx.AsyncClient:
        receiver = OtlpHttpReceiver(self.ingest, 1 << 20, 2, project_p)
        return _client(build_otlp_http_app(receiver))

    def worker_http(self, path: Path | None = None) -> httpx.AsyncClient:
        owner = OwnerClient(path or self.forward.path, timeout_s=5)
        return _client(build_otlp_http_app(ForwardingHttpReceiver(owner, self.settings, project_p)))


def _client(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://prela")  # type: ignore[arg-type]


@pytest.fixture
async def owner(tmp_path: Path) -> AsyncIterator[Owner]:
    owner = Owner(tmp_path)
    await owner.forward.start()
    yield owner
    await owner.forward.stop()


async def test_a_forwarded_http_request_is_queued_by_the_owner_and_answered_as_the_owner_answers(
    owner: Owner,
) -> None:
    body = body_of(good_span(), good_span())
    async with owner.worker_http() as worker, owner.local_http() as local:
        forwarded = await worker.post("/v1/traces", content=body, headers=PROTOBUF)
        direct = await local.post("/v1/traces", content=body, headers=PROTOBUF)
    assert forwarded.status_code == direct.status_code == 200
    assert forwarded.content == direct.content
    assert forwarded.headers["content-type"] == direct.headers["content-type"]
    assert owner.queue.depth == 4  # both requests reached the owner's queue
    assert owner.forward.forwarded_requests == 1


async def test_partial_success_and_refusals_are_relayed_as_the_owner_words_them(owner: Owner) -> None:
    no_trace_id = Span(span_id=os.urandom(8), name="bad", start_time_unix_nano=1, end_time_unix_nano=2)
    cases = [
        (body_of(good_span(), no_trace_id), "application/x-protobuf"),  # partial success
        (b"\xff\xff\xff\x0f garbage", "application/x-protobuf"),  # 400 Status
        (b"{not json", "application/json"),  # 400 JSON
        (b'{"resourceSpans": []}', "application/json"),  # OTLP/JSON
    ]
    async with owner.worker_http() as worker, owner.local_http() as local:
        for body, media in cases:
            forwarded = await worker.post("/v1/traces", content=body, headers={"Content-Type": media})
            direct = await local.post("/v1/traces", content=body, headers={"Content-Type": media})
            assert (forwarded.status_code, forwarded.content) == (direct.status_code, direct.content), media
    response = ExportTraceServiceResponse.FromString(
        (await _post_once(owner, body_of(good_span(), no_trace_id))).content
    )
    assert response.partial_success.rejected_spans == 1


async def _post_once(owner: Owner, body: bytes) -> httpx.Response:
    async with owner.worker_http() as worker:
        return await worker.post("/v1/traces", content=body, headers=PROTOBUF)


async def test_credentials_are_refused_by_the_worker_before_anything_is_forwarded(owner: Owner) -> None:
    async with owner.worker_http() as worker:
        refused = await worker.post(
            "/v1/traces", content=body_of(good_span()), headers={**PROTOBUF, "X-API-Key": "wrong"}
        )
    assert refused.status_code == 401
    assert owner.forward.forwarded_requests == 0 and owner.queue.depth == 0


async def test_owner_gone_is_503_with_retry_after(owner: Owner, tmp_path: Path) -> None:
    async with owner.worker_http(tmp_path / "nobody.sock") as worker:
        refused = await worker.post("/v1/traces", content=body_of(good_span()), headers=PROTOBUF)
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "2"
    assert "ingest owner is not reachable" in Status.FromString(refused.content).message


async def _grpc_call(receiver: OtlpGrpcReceiver, body: bytes) -> tuple[grpc.StatusCode, bytes | str]:
    server, port = build_grpc_server(receiver, "127.0.0.1", 0, 1 << 20)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            export = channel.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)
            try:
                return grpc.StatusCode.OK, await export(body, timeout=5)
            except grpc.aio.AioRpcError as exc:
                return exc.code(), exc.details() or ""
    finally:
        await server.stop(0)


async def test_grpc_answers_and_refusals_are_relayed(owner: Owner, tmp_path: Path) -> None:
    no_trace_id = Span(span_id=os.urandom(8), name="bad", start_time_unix_nano=1, end_time_unix_nano=2)
    worker = ForwardingGrpcReceiver(OwnerClient(owner.forward.path, timeout_s=5), project_p)
    local = OtlpGrpcReceiver(owner.ingest, project_p)
    for body in (body_of(good_span(), no_trace_id), b"\xff\xff\xff\x0f garbage"):
        assert await _grpc_call(worker, body) == await _grpc_call(local, body)
    code, answer = await _grpc_call(worker, body_of(good_span(), no_trace_id))
    assert code == grpc.StatusCode.OK
    assert isinstance(answer, bytes)
    assert ExportTraceServiceResponse.FromString(answer).partial_success.rejected_spans == 1

    gone = ForwardingGrpcReceiver(OwnerClient(tmp_path / "nobody.sock", timeout_s=5), project_p)
    code, message = await _grpc_call(gone, body_of(good_span()))
    assert code == grpc.StatusCode.UNAVAILABLE
    assert "ingest owner is not reachable" in str(message)


async def test_the_owners_health_is_the_workers_health(owner: Owner, tmp_path: Path) -> None:
    from prela.server.forward import OwnerUnavailable

    answer, _ = await OwnerClient(owner.forward.path, timeout_s=5).call({"t": "health"}, b"")
    assert answer == {"checks": {"clickhouse": True}}
    with pytest.raises(OwnerUnavailable):
        await OwnerClient(tmp_path / "nobody.sock", timeout_s=5).call({"t": "health"}, b"")


def test_the_socket_is_in_the_data_dir_unless_that_path_is_too_long_for_a_unix_socket(tmp_path: Path) -> None:
    assert socket_path(tmp_path) == tmp_path.resolve() / "ingest.sock"
    deep = tmp_path / ("d" * 120)
    far = socket_path(deep)
    assert far.parent == Path(tempfile.gettempdir()) and len(str(far)) < 100
    assert far == socket_path(deep)  # the owner and its workers find the same one
    assert far != socket_path(tmp_path / ("e" * 120))
