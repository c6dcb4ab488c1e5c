"""Overload: beyond the admission limits a real `prela serve` refuses at once and retryably, works only for
clients still waiting, and stores everything it acknowledged.

The server runs with one request in flight allowed. A request is held in flight by sending its headers
and half its body on a raw socket (the middleware admits it on its headers and the receiver waits for
the rest); `/metrics` tells when it is admitted. No assertion is about speed.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator

import grpc
import httpx
import pytest
from google.rpc.error_details_pb2 import RetryInfo
from google.rpc.status_pb2 import Status
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from opentelemetry.sdk.resources import Resource as SdkResource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter

from tests.conftest import PrelaServer, start_prela_serve
from tests.integration.test_otel_exporters import wait_for_trace

pytestmark = pytest.mark.integration

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
LIMITS = {
    "PRELA_ADMISSION_MAX_REQUESTS": "1",
    "PRELA_ADMISSION_MAX_QUEUE": "0",
    "PRELA_RETRY_AFTER_SECONDS": "1",
    "PRELA_BATCH_LINGER_MS": "50",
}


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrelaServer]:
    """One request in flight, none waiting: the second concurrent request is refused."""
    server = start_prela_serve(tmp_path_factory.mktemp("overload") / "data", env=LIMITS)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def queued(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrelaServer]:
    """One request in flight, others may wait up to a minute: only a client's deadline ends the wait."""
    env = {**LIMITS, "PRELA_ADMISSION_MAX_QUEUE": "8", "PRELA_ADMISSION_MAX_WAIT_MS": "60000"}
    server = start_prela_serve(tmp_path_factory.mktemp("overload-queued") / "data", env=env)
    yield server
    server.stop()


def otlp_request(spans: int = 3) -> tuple[str, bytes]:
    trace_id = os.urandom(16)
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(),
                scope_spans=[
                    ScopeSpans(
                        spans=[
                            Span(
                                trace_id=trace_id,
                                span_id=os.urandom(8),
                                name=f"span {i}",
                                start_time_unix_nano=1_767_225_600_000_000_000,
                                end_time_unix_nano=1_767_225_600_100_000_000,
                            )
                            for i in range(spans)
                        ]
                    )
                ],
            )
        ]
    )
    return trace_id.hex(), request.SerializeToString()


def metric(server: PrelaServer, name: str, **labels: str) -> float:
    text = httpx.get(f"{server.ingest_url}/metrics", timeout=5).text
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = re.compile(rf"^{re.escape(name)}(\{{(.*)\}})? (\S+)$", re.MULTILINE)
    for match in pattern.finditer(text):
        if (match.group(2) or "") == wanted:
            return float(match.group(3))
    return 0.0


def wait_until(condition: object, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"not reached in {timeout}s: {what}")


class HeldRequest:
    """An OTLP/HTTP export whose body is half sent: admitted, in flight until `finish`."""

    def __init__(self, server: PrelaServer) -> None:
        self.server = server
        self.trace_id, self.body = otlp_request()
        self.sock = socket.create_connection(("127.0.0.1", server.http_port))
        head = (
            f"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\n"
            f"Content-Length: {len(self.body)}\r\n\r\n"
        ).encode()
        self.sock.sendall(head + self.body[: len(self.body) // 2])
        wait_until(lambda: metric(server, "prela_admission_in_flight_requests") == 1, "the request admitted")

    def finish(self) -> int:
        self.sock.sendall(self.body[len(self.body) // 2 :])
        status_line = self.sock.makefile("rb").readline()
        self.sock.close()
        wait_until(lambda: metric(self.server, "prela_admission_in_flight_requests") == 0, "released")
        return int(status_line.split()[1])


def stored_spans(server: PrelaServer, trace_id: str) -> int:
    response = httpx.get(f"{server.query_url}/api/v1/traces/{trace_id}", timeout=5)
    return len(response.json()["spans"]) if response.status_code == 200 else 0


def test_http_beyond_the_limit_is_503_with_retry_after_and_a_status_body(limited: PrelaServer) -> None:
    held = HeldRequest(limited)
    trace_id, body = otlp_request()
    response = httpx.post(
        f"{limited.ingest_url}/v1/traces", content=body, headers={"Content-Type": "application/x-protobuf"}
    )
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    status = Status.FromString(response.content)
    assert status.code == 14  # UNAVAILABLE
    assert "server overloaded" in status.message
    json_response = httpx.post(f"{limited.ingest_url}/v1/traces", json={"resourceSpans": []})
    assert (json_response.status_code, json_response.json()["code"]) == (503, 14)
    assert held.finish() == 200
    wait_for_trace(limited, held.trace_id, 3)
    assert stored_spans(limited, trace_id) == 0


def test_grpc_beyond_the_limit_is_unavailable_with_retry_info(limited: PrelaServer) -> None:
    refused_before = metric(
        limited, "prela_receiver_refused_requests_total", transport="grpc", reason="admission"
    )
    held = HeldRequest(limited)
    trace_id, body = otlp_request()
    with grpc.insecure_channel(limited.grpc_endpoint) as channel, pytest.raises(grpc.RpcError) as failed:
        channel.unary_unary(EXPORT)(body, timeout=30)
    error = failed.value
    assert error.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
    trailers = dict(error.trailing_metadata())  # type: ignore[attr-defined]
    status = Status.FromString(trailers["grpc-status-details-bin"])
    assert status.code == 14
    retry_info = RetryInfo()
    assert status.details[0].Unpack(retry_info)
    assert (retry_info.retry_delay.seconds, retry_info.retry_delay.nanos) == (1, 0)
    assert RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"]) == retry_info
    assert held.finish() == 200
    assert (
        metric(limited, "prela_receiver_refused_requests_total", transport="grpc", reason="admission")
        == refused_before + 1
    )
    wait_for_trace(limited, held.trace_id, 3)
    assert stored_spans(limited, trace_id) == 0


def test_a_grpc_request_whose_deadline_passes_while_it_waits_is_not_processed(queued: PrelaServer) -> None:
    held = HeldRequest(queued)
    trace_id, body = otlp_request()
    with grpc.insecure_channel(queued.grpc_endpoint) as channel, pytest.raises(grpc.RpcError) as failed:
        channel.unary_unary(EXPORT)(body, timeout=1.0)
    # The server refuses as the deadline comes (UNAVAILABLE) or the client's own deadline fires first.
    code = failed.value.code()  # type: ignore[attr-defined]
    assert code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    wait_until(lambda: metric(queued, "prela_admission_queued_requests") == 0, "the waiter gone")
    assert held.finish() == 200
    marker_id, marker = otlp_request()  # admitted after anything that still waited
    assert httpx.post(
        f"{queued.ingest_url}/v1/traces", content=marker, headers={"Content-Type": "application/x-protobuf"}
    ).is_success
    wait_for_trace(queued, held.trace_id, 3)
    wait_for_trace(queued, marker_id, 3)
    assert stored_spans(queued, trace_id) == 0


def test_an_http_request_whose_client_left_while_it_waited_is_not_processed(queued: PrelaServer) -> None:
    disconnected_before = metric(
        queued, "prela_receiver_refused_requests_total", transport="http", reason="disconnected"
    )
    held = HeldRequest(queued)
    trace_id, body = otlp_request()
    waiting = socket.create_connection(("127.0.0.1", queued.http_port))
    waiting.sendall(
        b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    wait_until(lambda: metric(queued, "prela_admission_queued_requests") == 1, "the request waiting")
    waiting.close()  # the client gives up while its request waits for admission
    assert held.finish() == 200
    wait_until(
        lambda: (
            metric(queued, "prela_receiver_refused_requests_total", transport="http", reason="disconnected")
            == disconnected_before + 1
        ),
        "the abandoned request refused",
    )
    wait_for_trace(queued, held.trace_id, 3)
    assert stored_spans(queued, trace_id) == 0


def test_every_acknowledged_request_is_stored_and_no_refused_one(limited: PrelaServer) -> None:
    held = HeldRequest(limited)
    answers: dict[str, int] = {}
    for _ in range(5):
        trace_id, body = otlp_request()
        response = httpx.post(
            f"{limited.ingest_url}/v1/traces",
            content=body,
            headers={"Content-Type": "application/x-protobuf"},
        )
        answers[trace_id] = response.status_code
    assert set(answers.values()) == {503}
    assert held.finish() == 200
    after: dict[str, int] = {}
    for _ in range(3):
        trace_id, body = otlp_request()
        response = httpx.post(
            f"{limited.ingest_url}/v1/traces",
            content=body,
            headers={"Content-Type": "application/x-protobuf"},
        )
        after[trace_id] = response.status_code
    assert set(after.values()) == {200}
    for trace_id in [held.trace_id, *after]:
        wait_for_trace(limited, trace_id, 3)
    assert [stored_spans(limited, trace_id) for trace_id in answers] == [0] * 5


def export_in_background(exporter: SpanExporter, name: str) -> tuple[threading.Thread, dict[str, str]]:
    provider = TracerProvider(resource=SdkResource.create({"service.name": "overload-test"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    result: dict[str, str] = {}

    def emit() -> None:
        with provider.get_tracer("overload").start_as_current_span(name) as span:
            result["trace_id"] = format(span.get_span_context().trace_id, "032x")
        provider.shutdown()

    thread = threading.Thread(target=emit)
    thread.start()
    return thread, result


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_the_otel_exporter_retries_after_a_refusal_and_its_data_arrives(
    limited: PrelaServer, transport: str
) -> None:
    exporter: SpanExporter
    if transport == "http":
        exporter = HttpExporter(endpoint=f"{limited.ingest_url}/v1/traces", timeout=30)
    else:
        exporter = GrpcExporter(endpoint=limited.grpc_endpoint, insecure=True, timeout=30)
    refused_before = metric(
        limited, "prela_receiver_refused_requests_total", transport=transport, reason="admission"
    )
    held = HeldRequest(limited)
    thread, result = export_in_background(exporter, f"retried over {transport}")
    wait_until(
        lambda: (
            metric(limited, "prela_receiver_refused_requests_total", transport=transport, reason="admission")
            > refused_before
        ),
        "the exporter refused",
    )
    assert held.finish() == 200
    thread.join(60)
    trace = wait_for_trace(limited, result["trace_id"], 1)
    assert [span["name"] for span in trace["spans"]] == [f"retried over {transport}"]
