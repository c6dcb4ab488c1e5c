"""Drain on shutdown, persistence across restarts, and re-sent spans never duplicated."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tests.conftest import PrelaServer, free_port, start_prela_serve
from tests.integration.test_bad_input import post, request_of, span
from tests.integration.test_otel_exporters import wait_for_trace
from tests.integration.test_seed_payload import SEED_PAYLOAD

pytestmark = pytest.mark.integration


def all_trace_ids(server: PrelaServer) -> set[str]:
    ids: set[str] = set()
    cursor = None
    while True:
        params = {"limit": "1000", **({"cursor": cursor} if cursor else {})}
        body = httpx.get(f"{server.query_url}/api/v1/traces", params=params, timeout=30).json()
        ids.update(t["trace_id"] for t in body["traces"])
        cursor = body["next_cursor"]
        if cursor is None:
            return ids


def test_sigterm_drains_every_acknowledged_span_and_a_restart_finds_them(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = start_prela_serve(data_dir)
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def send() -> None:
        with httpx.Client(timeout=30) as client:
            for _ in range(2000):  # bounded
                if stop.is_set():
                    return
                trace_id = os.urandom(16)
                body = request_of(*(span(trace_id, os.urandom(8)) for _ in range(20))).SerializeToString()
                try:
                    response = client.post(
                        f"{server.ingest_url}/v1/traces",
                        content=body,
                        headers={"Content-Type": "application/x-protobuf"},
                    )
                except httpx.HTTPError:
                    return  # the server stopped listening
                if response.status_code == 200:
                    with lock:
                        acknowledged.append(trace_id.hex())

    senders = [threading.Thread(target=send) for _ in range(4)]
    for t in senders:
        t.start()
    time.sleep(1.5)
    assert server.stop(signal.SIGTERM) == 0
    stop.set()
    for t in senders:
        t.join(30)
    assert "drained: every accepted span is stored" in server.log()
    assert len(acknowledged) > 10

    restarted = start_prela_serve(data_dir)
    try:
        stored = all_trace_ids(restarted)
        missing = set(acknowledged) - stored
        assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged traces lost"
        sample = wait_for_trace(restarted, acknowledged[-1], 20)
        assert len(sample["spans"]) == 20
    finally:
        restarted.stop()


def test_resent_spans_are_not_duplicated(prela_serve: PrelaServer) -> None:
    trace_id = os.urandom(16)
    body = request_of(
        span(trace_id, os.urandom(8), "a"), span(trace_id, os.urandom(8), "b")
    ).SerializeToString()
    for _ in range(3):
        assert post(prela_serve, body, "application/x-protobuf").status_code == 200
    trace = wait_for_trace(prela_serve, trace_id.hex(), 2)
    assert sorted(s["name"] for s in trace["spans"]) == ["a", "b"]
    assert trace["span_count"] == 2
    listed = httpx.get(
        f"{prela_serve.query_url}/api/v1/traces",
        params={"since": "2023-11-14T22:13:20Z", "until": "2023-11-14T22:13:21Z"},
    ).json()["traces"]
    [summary] = [t for t in listed if t["trace_id"] == trace_id.hex()]
    assert summary["span_count"] == 2


@pytest.mark.parametrize("mapping", ["python", "engine"])
def test_kill_9_right_after_the_answers_loses_nothing_acknowledged(tmp_path: Path, mapping: str) -> None:
    data_dir = tmp_path / "data"
    # A long linger keeps the answered spans in the queue, not yet in ClickHouse, when the process dies.
    server = start_prela_serve(
        data_dir,
        env={"PRELA_BATCH_LINGER_MS": "60000", "PRELA_BATCH_SPANS": "1000000", "PRELA_MAPPING": mapping},
    )
    acknowledged = []
    with httpx.Client(timeout=30) as client:
        for _ in range(30):
            trace_id = os.urandom(16)
            body = request_of(*(span(trace_id, os.urandom(8)) for _ in range(10))).SerializeToString()
            response = client.post(
                f"{server.ingest_url}/v1/traces",
                content=body,
                headers={"Content-Type": "application/x-protobuf"},
            )
            assert response.status_code == 200
            acknowledged.append(trace_id.hex())
    server.stop(signal.SIGKILL)

    restarted = start_prela_serve(data_dir, env={"PRELA_MAPPING": mapping})
    try:
        assert "replayed spans=300" in restarted.log()
        assert set(acknowledged) <= all_trace_ids(restarted)
        assert len(wait_for_trace(restarted, acknowledged[0], 10)["spans"]) == 10
    finally:
        restarted.stop()
    assert "replayed" not in start_and_stop_log(data_dir)


@pytest.mark.parametrize("mapping", ["python", "engine"])
def test_kill_9_replays_every_kind_of_raw_request_and_skips_the_spans_it_refused(
    tmp_path: Path, mapping: str
) -> None:
    """OTLP/JSON (logged converted to protobuf), the seed's Prela JSON (logged as JSON, mapped at replay)
    and a request with a span answered as rejected (logged whole; the span is not stored); with either
    mapping of OTLP traces (PRELA_MAPPING)."""
    data_dir = tmp_path / "data"
    server = start_prela_serve(
        data_dir,
        env={"PRELA_BATCH_LINGER_MS": "60000", "PRELA_BATCH_SPANS": "1000000", "PRELA_MAPPING": mapping},
    )
    json_trace, partial_trace = os.urandom(16).hex(), os.urandom(16)
    otlp_json = {"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": json_trace, "spanId": os.urandom(8).hex(), "name": "from json",
         "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000100000000"}
    ]}]}]}  # fmt: skip
    with httpx.Client(timeout=30) as client:
        url = f"{server.ingest_url}/v1/traces"
        assert client.post(url, json=otlp_json).json() == {"partialSuccess": {}}
        assert (
            client.post(url, content=SEED_PAYLOAD, headers={"Content-Type": "application/json"}).status_code
            == 200
        )
        bad = span(partial_trace, bytes(8), "zero span id")
        body = request_of(span(partial_trace, os.urandom(8), "kept"), bad).SerializeToString()
        response = client.post(url, content=body, headers={"Content-Type": "application/x-protobuf"})
        assert ExportTraceServiceResponse.FromString(response.content).partial_success.rejected_spans == 1
    server.stop(signal.SIGKILL)

    restarted = start_prela_serve(data_dir, env={"PRELA_MAPPING": mapping})
    try:
        assert "replayed spans=3" in restarted.log()
        assert wait_for_trace(restarted, json_trace, 1)["spans"][0]["name"] == "from json"
        assert wait_for_trace(restarted, "test-production-123", 1)["spans"][0]["model"] == "gpt-4"
        assert [s["name"] for s in wait_for_trace(restarted, partial_trace.hex(), 1)["spans"]] == ["kept"]
    finally:
        restarted.stop()


def start_and_stop_log(data_dir: Path) -> str:
    """A third start finds nothing left to replay: the log was checkpointed."""
    server = start_prela_serve(data_dir)
    server.stop()
    return server.log()


def _serve_once(
    data_dir: Path, grpc_port: int, http_port: int, query_port: int
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prela.server", "serve", "--data-dir", str(data_dir),
         "--otlp-grpc-port", str(grpc_port), "--otlp-http-port", str(http_port), "--query-port", str(query_port)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_a_second_serve_on_the_same_data_dir_is_refused_clearly(prela_serve: PrelaServer) -> None:
    second = _serve_once(prela_serve.data_dir, free_port(), free_port(), free_port())
    assert second.returncode != 0
    assert "is in use by another prela process" in second.stderr


def _stderr_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    """What the process printed besides its first log line (the configuration)."""
    return [line for line in result.stderr.splitlines() if 'msg="starting role=' not in line]


@pytest.mark.parametrize(
    ("taken", "flag", "variable"),
    [
        ("grpc", "--otlp-grpc-port", "PRELA_OTLP_GRPC_PORT"),
        ("http", "--otlp-http-port", "PRELA_OTLP_HTTP_PORT"),
        ("query", "--query-port", "PRELA_QUERY_PORT"),
    ],
)
def test_a_taken_port_stops_serve_with_one_line_naming_the_flag(
    prela_serve: PrelaServer, tmp_path: Path, taken: str, flag: str, variable: str
) -> None:
    ports = {"grpc": free_port(), "http": free_port(), "query": free_port()}
    ports[taken] = getattr(prela_serve, f"{taken}_port")  # held by the running server
    second = _serve_once(tmp_path / "other", ports["grpc"], ports["http"], ports["query"])
    assert second.returncode == 2
    assert _stderr_lines(second) == [
        f"Error: port 127.0.0.1:{ports[taken]} is in use: pass {flag} or set {variable}"
    ]


def test_one_port_given_to_two_listeners_is_refused(tmp_path: Path) -> None:
    port = free_port()
    second = _serve_once(tmp_path / "data", free_port(), port, port)
    assert second.returncode == 2
    assert _stderr_lines(second) == [
        f"Error: port 127.0.0.1:{port} is in use: pass --query-port or set PRELA_QUERY_PORT"
    ]


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another program listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


@pytest.mark.parametrize(
    ("role", "flag", "variable", "other_flags"),
    [
        ("collector", "--otlp-grpc-port", "PRELA_OTLP_GRPC_PORT", ["--otlp-http-port"]),
        ("collector", "--otlp-http-port", "PRELA_OTLP_HTTP_PORT", ["--otlp-grpc-port"]),
        ("query", "--port", "PRELA_QUERY_PORT", []),
        ("writer", "--metrics-port", "PRELA_METRICS_PORT", []),
    ],
)
def test_a_taken_port_stops_each_scale_out_role_with_one_line_naming_the_flag(
    taken_port: int, tmp_path: Path, role: str, flag: str, variable: str, other_flags: list[str]
) -> None:
    # Checked before anything else starts: no broker, ClickHouse or store is reached.
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "CLICKHOUSE_URL": f"chdb://{tmp_path / 'ch'}",
        "PRELA_DATA_DIR": str(tmp_path),
    }
    others = [arg for other in other_flags for arg in (other, str(free_port()))]
    result = subprocess.run(
        [sys.executable, "-m", "prela.server", role, flag, str(taken_port), *others],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert result.returncode == 2
    assert _stderr_lines(result) == [
        f"Error: port 127.0.0.1:{taken_port} is in use: pass {flag} or set {variable}"
    ]


def _log_lines_with(server: PrelaServer, text: str) -> list[str]:
    return [line for line in server.log().splitlines() if text in line]


def test_each_query_request_is_logged_once_with_its_route_template(prela_serve: PrelaServer) -> None:
    line = "query request method=GET route=/api/v1/traces/{trace_id:path} status=404"
    before = len(_log_lines_with(prela_serve, line))
    trace_id = os.urandom(16).hex()
    response = httpx.get(f"{prela_serve.query_url}/api/v1/traces/{trace_id}", timeout=30)
    assert response.status_code == 404
    deadline = time.monotonic() + 10
    while len(_log_lines_with(prela_serve, line)) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    logged = _log_lines_with(prela_serve, line)
    assert len(logged) == before + 1
    assert "duration_ms=" in logged[-1] and trace_id not in prela_serve.log()


def test_no_server_lifecycle_line_is_logged_twice(prela_serve: PrelaServer) -> None:
    uvicorn_lines = [
        line.split(" msg=", 1)[1] for line in prela_serve.log().splitlines() if "logger=uvicorn" in line
    ]
    assert len(uvicorn_lines) == len(set(uvicorn_lines))
    assert len(_log_lines_with(prela_serve, "prela serve ready")) == 1
