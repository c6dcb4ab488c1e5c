"""Drain on shutdown, persistence across restarts, and re-sent spans never duplicated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import PrelaServer, free_port, start_prela_serve
from tests.integration.test_bad_input import post, request_of, span
from tests.integration.test_otel_exporters import wait_for_trace

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


def test_kill_9_right_after_the_answers_loses_nothing_acknowledged(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    # A long linger keeps the answered spans in the queue, not yet in ClickHouse, when the process dies.
    server = start_prela_serve(
        data_dir, env={"PRELA_BATCH_LINGER_MS": "60000", "PRELA_BATCH_SPANS": "1000000"}
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

    restarted = start_prela_serve(data_dir)
    try:
        assert "replayed spans=300" in restarted.log()
        assert set(acknowledged) <= all_trace_ids(restarted)
        assert len(wait_for_trace(restarted, acknowledged[0], 10)["spans"]) == 10
    finally:
        restarted.stop()
    assert "replayed" not in start_and_stop_log(data_dir)


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


@pytest.mark.parametrize("taken", ["grpc", "http"])
def test_a_taken_port_stops_serve_with_an_error(prela_serve: PrelaServer, tmp_path: Path, taken: str) -> None:
    grpc_port = prela_serve.grpc_port if taken == "grpc" else free_port()
    http_port = prela_serve.http_port if taken == "http" else free_port()
    second = _serve_once(tmp_path / "other", grpc_port, http_port, free_port())
    assert second.returncode != 0
    assert "address in use" in second.stderr or "address already in use" in second.stderr
