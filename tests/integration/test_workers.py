"""`prela serve --workers N`: receiver workers share the OTLP ports with the process that owns chDB."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import httpx
import pytest

from tests.conftest import PrelaServer, free_port, start_prela_serve
from tests.integration.test_bad_input import EXPORT, request_of, span

pytestmark = pytest.mark.integration

SPANS_PER_REQUEST = 5


def start_with_workers(data_dir: Path, workers: int = 2, **env: str) -> PrelaServer:
    server = start_prela_serve(data_dir, env={"PRELA_WORKERS": str(workers), **env})
    wait_log(server, "prela serve receiver ready", workers - 1)
    return server


def wait_log(server: PrelaServer, text: str, times: int = 1, timeout: float = 30) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = [line for line in server.log().splitlines() if text in line]
        if len(lines) >= times:
            return lines
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not logged {times} times:\n{server.log()[-3000:]}")


def new_body() -> tuple[str, bytes]:
    trace_id = os.urandom(16)
    spans = (span(trace_id, os.urandom(8)) for _ in range(SPANS_PER_REQUEST))
    return trace_id.hex(), request_of(*spans).SerializeToString()


def send_http(server: PrelaServer, key: str | None = None, expect: int = 200) -> str:
    """One request on a connection of its own, so that the kernel may give it to any worker."""
    trace_id, body = new_body()
    headers = {"Content-Type": "application/x-protobuf", **({"X-API-Key": key} if key else {})}
    with httpx.Client(timeout=30) as client:
        response = client.post(f"{server.ingest_url}/v1/traces", content=body, headers=headers)
    assert response.status_code == expect, response.content
    return trace_id


def send_grpc(server: PrelaServer, key: str | None = None) -> str:
    trace_id, body = new_body()
    metadata = (("x-api-key", key),) if key else None
    with grpc.insecure_channel(server.grpc_endpoint) as channel:
        call = channel.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)
        call(body, metadata=metadata, timeout=30)
    return trace_id


def send_many(server: PrelaServer, requests: int) -> list[str]:
    with ThreadPoolExecutor(8) as pool:
        http = [pool.submit(send_http, server) for _ in range(requests)]
        grpc_ = [pool.submit(send_grpc, server) for _ in range(requests)]
        return [f.result() for f in http + grpc_]


def stored_span_counts(server: PrelaServer) -> dict[str, int]:
    counts: dict[str, int] = {}
    cursor = None
    while True:
        params = {"limit": "1000", "since": "2023-11-14T00:00:00Z", **({"cursor": cursor} if cursor else {})}
        body = httpx.get(f"{server.query_url}/api/v1/traces", params=params, timeout=30).json()
        counts.update({t["trace_id"]: t["span_count"] for t in body["traces"]})
        cursor = body["next_cursor"]
        if cursor is None:
            return counts


def test_every_request_over_both_transports_is_stored_exactly_once_and_sigterm_drains(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    server = start_with_workers(data_dir)
    sent = send_many(server, 60)
    assert len(set(sent)) == 120
    assert server.stop(signal.SIGTERM) == 0
    log = server.log()
    assert "drained: every accepted span is stored" in log
    assert "worker stopped role=serve worker=1" in log
    [forwarded] = re.findall(r"forward socket closed forwarded_requests=(\d+)", log)
    assert int(forwarded) > 0, "no request reached the receiver worker"

    restarted = start_prela_serve(data_dir)
    try:
        counts = stored_span_counts(restarted)
    finally:
        restarted.stop()
    assert {trace_id: counts.get(trace_id) for trace_id in sent} == dict.fromkeys(sent, SPANS_PER_REQUEST)


def test_a_receiver_worker_killed_is_reported_and_the_owner_keeps_serving(tmp_path: Path) -> None:
    server = start_with_workers(tmp_path / "data")
    try:
        [started] = wait_log(server, "worker started role=serve worker=1")
        pid = int(started.rsplit("pid=", 1)[1].split()[0].rstrip("'\""))
        os.kill(pid, signal.SIGKILL)
        wait_log(server, f"worker died role=serve worker=1 pid={pid} exit=signal SIGKILL")
        # The owner alone until the worker is back: every request is still answered.
        sent = send_many(server, 10)
        wait_log(server, "worker started role=serve worker=1", 2)
        wait_log(server, "prela serve receiver ready", 2)
        sent += send_many(server, 10)
    finally:
        code = server.stop(signal.SIGTERM)
    assert code == 1  # a worker failed during the run: not silent to whoever started the process
    assert "drained: every accepted span is stored" in server.log()
    assert len(sent) == 40


def test_the_receiver_workers_stop_when_the_owner_is_killed(tmp_path: Path) -> None:
    server = start_with_workers(tmp_path / "data")
    [started] = wait_log(server, "worker started role=serve worker=1")
    pid = int(started.rsplit("pid=", 1)[1].split()[0].rstrip("'\""))
    server.stop(signal.SIGKILL)
    deadline = time.monotonic() + 30
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid), "an orphaned receiver worker still holds the ports"
    wait_log(server, "is gone: stopping this worker")
    # The ports are free again: a new owner starts on the same data dir and ports.
    again = start_prela_serve(server.data_dir)
    again.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is gone for our purpose
        return stat.read().split(")")[-1].split()[0] != "Z"


@pytest.fixture
def held_with_reuseport() -> Iterator[int]:
    """A port another program listens on with SO_REUSEPORT (as grpc does by default)."""
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


@pytest.mark.parametrize("flag", ["--otlp-grpc-port", "--otlp-http-port"])
def test_a_port_taken_by_another_program_stops_serve_with_workers_with_exit_2(
    held_with_reuseport: int, tmp_path: Path, flag: str
) -> None:
    ports = {"--otlp-grpc-port": free_port(), "--otlp-http-port": free_port(), "--query-port": free_port()}
    ports[flag] = held_with_reuseport
    result = subprocess.run(
        [sys.executable, "-m", "prela.server", "serve", "--workers", "2", "--data-dir", str(tmp_path / "d"),
         *(arg for item in ports.items() for arg in (item[0], str(item[1])))],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    variable = {"--otlp-grpc-port": "PRELA_OTLP_GRPC_PORT", "--otlp-http-port": "PRELA_OTLP_HTTP_PORT"}[flag]
    assert (
        f"Error: port 127.0.0.1:{held_with_reuseport} is in use: pass {flag} or set {variable}"
        in result.stderr
    )


def prela_cli(data_dir: Path, *args: str) -> dict[str, str]:
    out = subprocess.run(
        [sys.executable, "-m", "prela.server", *args, "--data-dir", str(data_dir), "--json"],
        env={**os.environ, "PRELA_AUTH": "required"}, capture_output=True, check=True,
    )  # fmt: skip
    return dict(json.loads(out.stdout))


def test_with_auth_every_worker_takes_a_valid_key_and_refuses_a_missing_one(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    prela_cli(data_dir, "projects", "create", "--id", "workers-auth", "--name", "Workers")
    key = prela_cli(data_dir, "keys", "create", "--project", "workers-auth", "--name", "w")["key"]
    server = start_with_workers(data_dir, PRELA_AUTH="required", JWT_SECRET="s" * 32)
    try:
        with ThreadPoolExecutor(8) as pool:
            accepted = [pool.submit(send_http, server, key) for _ in range(20)]
            accepted += [pool.submit(send_grpc, server, key) for _ in range(20)]
            refused = [pool.submit(send_http, server, None, 401) for _ in range(20)]
            sent = [f.result() for f in accepted]
            [f.result() for f in refused]
        for _ in range(10):  # a fresh connection each time: whichever process takes it refuses
            with pytest.raises(grpc.RpcError) as caught:
                send_grpc(server)
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        assert server.stop(signal.SIGTERM) == 0
    assert int(re.findall(r"forwarded_requests=(\d+)", server.log())[0]) > 0
    restarted = start_prela_serve(data_dir, env={"PRELA_AUTH": "required", "JWT_SECRET": "s" * 32})
    try:
        headers = {"X-API-Key": key}
        for trace_id in sent[:5] + sent[-5:]:
            response = httpx.get(
                f"{restarted.query_url}/api/v1/traces/{trace_id}", headers=headers, timeout=30
            )
            assert response.status_code == 200 and len(response.json()["spans"]) == SPANS_PER_REQUEST
    finally:
        restarted.stop()


def test_sigterm_under_load_stores_every_acknowledged_request(tmp_path: Path) -> None:
    """Requests in flight in a receiver worker when SIGTERM comes are answered by the owner, which drains
    only after its workers stopped: nothing acknowledged is lost."""
    data_dir = tmp_path / "data"
    server = start_with_workers(data_dir)
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def send() -> None:
        for i in range(2000):  # bounded
            if stop.is_set():
                return
            trace_id, body = new_body()
            try:
                if i % 2:
                    with httpx.Client(timeout=30) as client:  # a new connection: any process may take it
                        ok = (
                            client.post(
                                f"{server.ingest_url}/v1/traces",
                                content=body,
                                headers={"Content-Type": "application/x-protobuf"},
                            ).status_code
                            == 200
                        )
                else:
                    with grpc.insecure_channel(server.grpc_endpoint) as channel:
                        call = channel.unary_unary(
                            EXPORT, request_serializer=None, response_deserializer=None
                        )
                        call(body, timeout=30)
                        ok = True
            except (httpx.HTTPError, grpc.RpcError):
                ok = False
            if ok:
                with lock:
                    acknowledged.append(trace_id)

    senders = [threading.Thread(target=send) for _ in range(4)]
    for t in senders:
        t.start()
    time.sleep(2)
    assert server.stop(signal.SIGTERM) == 0
    stop.set()
    for t in senders:
        t.join(30)
    assert "drained: every accepted span is stored" in server.log()
    assert len(acknowledged) > 20

    restarted = start_prela_serve(data_dir)
    try:
        counts = stored_span_counts(restarted)
    finally:
        restarted.stop()
    missing = [trace_id for trace_id in acknowledged if counts.get(trace_id) != SPANS_PER_REQUEST]
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged requests not stored whole"
