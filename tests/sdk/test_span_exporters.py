"""The exporters behind prela.init(exporter=...): what goes over the wire, to files and to the console."""

from __future__ import annotations

import gzip
import io
import json
import threading
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

import prela
from prela.span_exporters import pretty_console_exporter
from tests.conftest import PrelaServer, free_port
from tests.sdk.conftest import spans_by_name, wait_for_trace


@contextmanager
def capturing_http_collector() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    """An OTLP/HTTP endpoint on 127.0.0.1 that records each request's headers and body."""
    received: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/traces", received
    finally:
        server.shutdown()
        server.server_close()


def test_http_exporter_sends_gzip_protobuf_with_the_api_key() -> None:
    with capturing_http_collector() as (url, received):
        prela.init(service_name="wire", exporter="http", http_endpoint=url, api_key="pk_default_secret")
        with prela.trace("sent"):
            pass
        assert prela.flush()
    ((headers, body),) = received
    assert headers["x-api-key"] == "pk_default_secret"
    assert headers["content-encoding"] == "gzip"
    assert headers["content-type"] == "application/x-protobuf"
    request = trace_service_pb2.ExportTraceServiceRequest.FromString(gzip.decompress(body))
    assert [s.name for s in request.resource_spans[0].scope_spans[0].spans] == ["sent"]


def test_http_exporter_keeps_otel_exporter_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=acme")
    with capturing_http_collector() as (url, received):
        prela.init(exporter="http", http_endpoint=url, api_key="pk_default_k", batch=False)
        with prela.trace("sent"):
            pass
    ((headers, _),) = received
    assert (headers["x-tenant"], headers["x-api-key"]) == ("acme", "pk_default_k")


def test_ingest_url_variable_routes_http_exports(monkeypatch: pytest.MonkeyPatch) -> None:
    with capturing_http_collector() as (url, received):
        monkeypatch.setenv("PRELA_INGEST_URL", url.removesuffix("/v1/traces"))
        monkeypatch.setenv("PRELA_API_KEY", "pk_default_env")
        prela.init(batch=False)
        with prela.trace("via-env"):
            pass
    ((headers, _),) = received
    assert headers["x-api-key"] == "pk_default_env"


def test_grpc_exporter_sends_the_api_key_as_metadata() -> None:
    metadata: list[dict[str, str]] = []

    class Collector(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request: Any, context: grpc.ServicerContext) -> Any:
            metadata.append({m.key: m.value for m in context.invocation_metadata()})
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Collector(), server)
    port = free_port()
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    try:
        provider = prela.init(
            exporter="grpc", grpc_endpoint=f"http://127.0.0.1:{port}", api_key="pk_default_g", batch=False
        )
        with prela.trace("over-grpc"):
            pass
    finally:
        prela.shutdown()
        server.stop(None)
    assert metadata[0]["x-api-key"] == "pk_default_g"
    assert provider.span_exporter._compression == grpc.Compression.Gzip  # type: ignore[union-attr]


@pytest.mark.integration
def test_grpc_exporter_reaches_prela_serve(prela_serve: PrelaServer) -> None:
    prela.init(service_name="grpc-app", exporter="grpc", grpc_endpoint=f"http://{prela_serve.grpc_endpoint}")
    with prela.trace("grpc-root", span_type="AGENT") as span:
        trace_id = f"{span.get_span_context().trace_id:032x}"
    assert prela.flush()
    stored = wait_for_trace(prela_serve.query_url, trace_id, 1)
    assert spans_by_name(stored)["grpc-root"]["span_type"] == "AGENT"
    assert stored["service_name"] == "grpc-app"


def test_file_exporter_writes_otlp_json_lines_with_hex_ids(tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    prela.init(service_name="file-app", exporter="file", file_path=str(path), batch=False)
    with prela.trace("parent", span_type="chain") as parent, prela.trace("child"):
        pass
    prela.shutdown()
    lines = path.read_text().splitlines()
    assert len(lines) == 2  # one export call per span without batching
    child = json.loads(lines[0])["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    root = json.loads(lines[1])["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    context = parent.get_span_context()
    assert root["traceId"] == f"{context.trace_id:032x}"
    assert root["spanId"] == f"{context.span_id:016x}"
    assert child["parentSpanId"] == root["spanId"]
    assert child["kind"] == 1  # OTLP/JSON enums are integers
    assert root["attributes"] == [{"key": "prela.span_type", "value": {"stringValue": "CHAIN"}}]


@pytest.mark.integration
def test_file_exporter_lines_are_accepted_by_prela_serve(tmp_path: Path, prela_serve: PrelaServer) -> None:
    path = tmp_path / "traces.jsonl"
    prela.init(service_name="replayed", exporter="file", file_path=str(path))
    with prela.trace("replay-root") as span, prela.trace("replay-child", span_type="TOOL"):
        trace_id = f"{span.get_span_context().trace_id:032x}"
    prela.shutdown()
    for line in path.read_text().splitlines():
        response = httpx.post(
            f"{prela_serve.ingest_url}/v1/traces", content=line, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 200, response.text
    stored = spans_by_name(wait_for_trace(prela_serve.query_url, trace_id, 2))
    assert stored["replay-child"]["parent_span_id"] == stored["replay-root"]["span_id"]
    assert stored["replay-child"]["span_type"] == "TOOL"


def test_console_exporter_pretty_prints_spans() -> None:
    out = io.StringIO()
    provider = prela.init(exporter="none")
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider.add_span_processor(SimpleSpanProcessor(pretty_console_exporter(out)))
    with prela.llm("gpt-4o", provider="openai") as call:
        call.set_llm(input_tokens=3)
    text = out.getvalue()
    assert text.startswith("● chat gpt-4o  [LLM]  ")
    assert "gen_ai.usage.input_tokens = 3" in text


def test_console_exporter_is_chosen_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    prela.init(exporter="console")
    with trace.get_tracer("t").start_as_current_span("printed"):
        pass
    assert "● printed  [INTERNAL]" in capsys.readouterr().out
