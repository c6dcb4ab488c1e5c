"""Bad input gets a clear 4xx / INVALID_ARGUMENT, never a 500 or a dead server; bad spans are rejected alone."""

from __future__ import annotations

import gzip
import os

import grpc
import httpx
import orjson
import pytest
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from tests.conftest import PrelaServer
from tests.integration.test_otel_exporters import wait_for_trace

pytestmark = pytest.mark.integration

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def span(trace_id: bytes, span_id: bytes, name: str = "op") -> Span:
    return Span(
        trace_id=trace_id, span_id=span_id, name=name, start_time_unix_nano=1_700_000_000_000_000_000,
        end_time_unix_nano=1_700_000_000_500_000_000,
    )  # fmt: skip


def request_of(*spans: Span) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=list(spans))])]
    )


def post(server: PrelaServer, body: bytes, content_type: str, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{server.ingest_url}/v1/traces",
        content=body,
        headers={"Content-Type": content_type, **headers},
        timeout=30,
    )


def grpc_export(server: PrelaServer, body: bytes) -> bytes:
    with grpc.insecure_channel(server.grpc_endpoint) as channel:
        call = channel.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)
        return call(body, timeout=30)


def test_malformed_protobuf_is_400_with_status_body(prela_serve: PrelaServer) -> None:
    response = post(prela_serve, b"\xff\xff\xff\x0f garbage", "application/x-protobuf")
    assert response.status_code == 400
    status = Status.FromString(response.content)
    assert status.code == 3 and "ExportTraceServiceRequest" in status.message


def test_malformed_json_is_400_naming_the_problem(prela_serve: PrelaServer) -> None:
    response = post(prela_serve, b'{"resourceSpans": [', "application/json")
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["message"]


def test_json_that_is_not_an_object_is_400(prela_serve: PrelaServer) -> None:
    response = post(prela_serve, b"[1, 2]", "application/json")
    assert response.status_code == 400
    assert "must be an object" in response.json()["message"]


def test_unsupported_content_type_is_415_with_a_readable_json_status(prela_serve: PrelaServer) -> None:
    response = post(prela_serve, b"hello", "text/plain")
    assert response.status_code == 415
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "code": 3,
        "message": "Content-Type 'text/plain' is not supported; send application/x-protobuf or application/json",
    }


def test_missing_content_type_is_415_with_a_readable_json_status(prela_serve: PrelaServer) -> None:
    response = httpx.post(f"{prela_serve.ingest_url}/v1/traces", content=b"\x0a\x00", timeout=30)
    assert response.status_code == 415
    assert response.json()["message"].startswith("Content-Type '(none)' is not supported")


def test_float_timestamp_out_of_range_in_otlp_json_is_400_naming_the_field(prela_serve: PrelaServer) -> None:
    doc = {
        "resourceSpans": [{"scopeSpans": [{"spans": [
            {"traceId": os.urandom(16).hex(), "spanId": os.urandom(8).hex(), "name": "x",
             "startTimeUnixNano": 1e300, "endTimeUnixNano": "1700000000000000000"},
        ]}]}]
    }  # fmt: skip
    response = post(prela_serve, orjson.dumps(doc), "application/json")
    assert response.status_code == 400
    assert response.headers.get("connection") != "close"  # a 500 made uvicorn close the connection
    assert response.json()["message"] == (
        "resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano: 1e+300 does not fit in an unsigned "
        "64-bit integer"
    )


def test_prela_span_after_the_last_storable_time_is_400_naming_span_and_field(
    prela_serve: PrelaServer,
) -> None:
    doc = {
        "trace_id": f"t-{os.urandom(4).hex()}",
        "spans": [{"span_id": "s-1", "name": "x", "started_at": "9999-12-31T00:00:00Z"}],
    }
    response = post(prela_serve, orjson.dumps(doc), "application/json")
    assert response.status_code == 400
    assert response.json()["message"] == (
        "spans[0].started_at: '9999-12-31T00:00:00Z' is out of range: a timestamp must be from "
        "1970-01-01T00:00:00Z to 2262-04-11T23:47:16.854775807Z"
    )


def test_prela_trace_without_spans_is_400(prela_serve: PrelaServer) -> None:
    response = post(prela_serve, b'{"trace_id": "x", "service_name": "s"}', "application/json")
    assert response.status_code == 400
    assert response.json()["message"] == "spans: missing (a Prela trace carries a non-empty list of spans)"


def test_empty_otlp_json_request_is_accepted(prela_serve: PrelaServer) -> None:
    response = post(prela_serve, b"{}", "application/json")
    assert response.status_code == 200
    assert response.json() == {"partialSuccess": {}}


def test_span_after_the_last_storable_time_is_rejected_by_partial_success_over_grpc(
    prela_serve: PrelaServer,
) -> None:
    late = span(os.urandom(16), os.urandom(8))
    late.end_time_unix_nano = 2**63
    response = ExportTraceServiceResponse.FromString(
        grpc_export(prela_serve, request_of(late).SerializeToString())
    )
    assert response.partial_success.rejected_spans == 1
    assert "2262-04-11" in response.partial_success.error_message


def test_llm_attribute_whose_json_text_nests_too_deep_is_stored_over_grpc(prela_serve: PrelaServer) -> None:
    # mapping parsed the text and could not write it back (orjson stops at 254 levels): was gRPC UNKNOWN
    trace_id = os.urandom(16)
    deep = span(trace_id, os.urandom(8))
    deep.attributes.add(key="gen_ai.system_instructions").value.string_value = "[" * 300 + "]" * 300
    response = ExportTraceServiceResponse.FromString(
        grpc_export(prela_serve, request_of(deep).SerializeToString())
    )
    assert not response.HasField("partial_success")
    wait_for_trace(prela_serve, trace_id.hex(), 1)


def test_unsupported_content_encoding_is_415(prela_serve: PrelaServer) -> None:
    response = post(prela_serve, b"x", "application/json", **{"Content-Encoding": "br"})
    assert response.status_code == 415
    assert "br" in response.json()["message"]


def test_corrupt_gzip_is_400(prela_serve: PrelaServer) -> None:
    response = post(
        prela_serve, b"\x1f\x8b not gzip", "application/x-protobuf", **{"Content-Encoding": "gzip"}
    )
    assert response.status_code == 400
    assert "gzip" in Status.FromString(response.content).message


def test_gzip_otlp_http_is_accepted(prela_serve: PrelaServer) -> None:
    trace_id = os.urandom(16)
    body = gzip.compress(request_of(span(trace_id, os.urandom(8))).SerializeToString())
    response = post(prela_serve, body, "application/x-protobuf", **{"Content-Encoding": "gzip"})
    assert response.status_code == 200
    assert not ExportTraceServiceResponse.FromString(response.content).HasField("partial_success")
    wait_for_trace(prela_serve, trace_id.hex(), 1)


def test_gzip_bomb_is_refused_413(prela_serve: PrelaServer) -> None:
    bomb = gzip.compress(b"\0" * (17 * 1024 * 1024))  # 17 MiB of zeros: ~17 KiB compressed
    response = post(prela_serve, bomb, "application/x-protobuf", **{"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert "decompressed" in Status.FromString(response.content).message


def test_body_over_the_limit_is_413(prela_serve: PrelaServer) -> None:
    response = post(prela_serve, b"\0" * (16 * 1024 * 1024 + 1), "application/x-protobuf")
    assert response.status_code == 413


def test_invalid_span_ids_are_rejected_by_partial_success_over_http(prela_serve: PrelaServer) -> None:
    good_trace = os.urandom(16)
    request = request_of(
        span(good_trace, os.urandom(8), "good"),
        span(b"\x01" * 5, os.urandom(8), "short trace id"),
        span(os.urandom(16), b"\0" * 8, "zero span id"),
    )
    response = post(prela_serve, request.SerializeToString(), "application/x-protobuf")
    assert response.status_code == 200
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 2
    assert "trace_id" in partial.error_message and "span_id" in partial.error_message
    trace = wait_for_trace(prela_serve, good_trace.hex(), 1)
    assert [s["name"] for s in trace["spans"]] == ["good"]


def test_invalid_span_ids_are_rejected_by_partial_success_over_json(prela_serve: PrelaServer) -> None:
    good_trace = os.urandom(16).hex()
    doc = {
        "resourceSpans": [{"scopeSpans": [{"spans": [
            {"traceId": good_trace, "spanId": os.urandom(8).hex(), "name": "good",
             "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000100000000"},
            {"traceId": "abcd", "spanId": os.urandom(8).hex(), "name": "short",
             "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000100000000"},
        ]}]}]
    }  # fmt: skip
    response = post(prela_serve, orjson.dumps(doc), "application/json")
    assert response.status_code == 200
    assert response.json()["partialSuccess"]["rejectedSpans"] == "1"
    wait_for_trace(prela_serve, good_trace, 1)


def test_invalid_span_ids_are_rejected_by_partial_success_over_grpc(prela_serve: PrelaServer) -> None:
    request = request_of(span(os.urandom(16), os.urandom(8)), span(os.urandom(16), b"\x02" * 3))
    response = ExportTraceServiceResponse.FromString(grpc_export(prela_serve, request.SerializeToString()))
    assert response.partial_success.rejected_spans == 1
    assert "span_id" in response.partial_success.error_message


def test_malformed_grpc_message_is_invalid_argument(prela_serve: PrelaServer) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        grpc_export(prela_serve, b"\xff\xff\xff\x0f garbage")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "ExportTraceServiceRequest" in (caught.value.details() or "")


def test_grpc_message_over_the_limit_is_resource_exhausted(prela_serve: PrelaServer) -> None:
    big = request_of(span(os.urandom(16), os.urandom(8), "x" * (17 * 1024 * 1024)))
    with pytest.raises(grpc.RpcError) as caught:
        grpc_export(prela_serve, big.SerializeToString())
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_invalid_prela_json_is_400_naming_the_field(prela_serve: PrelaServer) -> None:
    doc = {"trace_id": "t-1", "spans": [{"span_id": "s-1", "name": "x", "started_at": "2025-13-01"}]}
    response = post(prela_serve, orjson.dumps(doc), "application/json")
    assert response.status_code == 400
    assert "started_at" in response.json()["message"]


def test_server_still_serves_after_bad_input(prela_serve: PrelaServer) -> None:
    for body in (b"\x00\x01\x02", b"{", b"\xff" * 100):
        post(prela_serve, body, "application/x-protobuf")
        post(prela_serve, body, "application/json")
    assert httpx.get(f"{prela_serve.ingest_url}/health").status_code == 200
    assert prela_serve.process.poll() is None


def test_grpc_gzip_bomb_is_resource_exhausted(prela_serve: PrelaServer) -> None:
    bomb = request_of(span(os.urandom(16), os.urandom(8), "x" * (20 * 1024 * 1024))).SerializeToString()
    with grpc.insecure_channel(prela_serve.grpc_endpoint, compression=grpc.Compression.Gzip) as channel:
        call = channel.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)
        with pytest.raises(grpc.RpcError) as caught:
            call(bomb, timeout=30)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "Decompressed message larger than max" in (caught.value.details() or "")


def test_costs_whose_sum_overflows_are_not_taken_and_the_trace_stays_readable(
    prela_serve: PrelaServer,
) -> None:
    # two spans of 1.7e308 summed to inf: the trace and the project's trace list answered 500
    trace_id = os.urandom(16)
    spans = [span(trace_id, os.urandom(8), name) for name in ("a", "b")]
    for costly in spans:
        costly.attributes.add(key="llm.cost.total").value.double_value = 1.7e308
    response = post(prela_serve, request_of(*spans).SerializeToString(), "application/x-protobuf")
    assert response.status_code == 200
    trace = wait_for_trace(prela_serve, trace_id.hex(), 2)
    assert [s["cost_usd"] for s in trace["spans"]] == [0.0, 0.0]
    assert httpx.get(f"{prela_serve.query_url}/api/v1/traces", timeout=30).status_code == 200
