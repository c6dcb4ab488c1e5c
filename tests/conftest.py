"""Shared fixtures: a real `prela serve` process on free ports with its own data dir."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

# Every log a test process wrote; scanned for secrets once the session ends.
PROCESS_LOGS: list[Path] = []
_API_KEY = re.compile(r"pk_[A-Za-z0-9][A-Za-z0-9_-]{0,63}_[A-Za-z0-9]{32,}")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.")


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_any_log() -> Iterator[None]:
    """No API key or JWT appears in any log line a Prela process wrote during the whole suite."""
    yield
    leaks = []
    for path in PROCESS_LOGS:
        if path.exists():
            text = path.read_text(errors="replace")
            leaks += [
                f"{path.name}: {m.group()[:12]}…" for m in (*_API_KEY.finditer(text), *_JWT.finditer(text))
            ]
    assert not leaks, f"secrets in process logs: {leaks[:5]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PrelaServer:
    """A running `prela serve` subprocess."""

    process: subprocess.Popen[bytes]
    data_dir: Path
    grpc_port: int
    http_port: int
    query_port: int
    log_path: Path

    @property
    def grpc_endpoint(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def ingest_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def query_url(self) -> str:
        return f"http://127.0.0.1:{self.query_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)


def start_prela_serve(data_dir: Path, env: dict[str, str] | None = None, timeout: float = 60) -> PrelaServer:
    grpc_port, http_port, query_port = free_port(), free_port(), free_port()
    log_path = data_dir.with_name(data_dir.name + f"-{http_port}.log")
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "prela.server", "serve",
        "--data-dir", str(data_dir),
        "--otlp-grpc-port", str(grpc_port),
        "--otlp-http-port", str(http_port),
        "--query-port", str(query_port),
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        # One process unless a test asks for workers: the default (one per core) is tested where it matters.
        env={**os.environ, "LOG_LEVEL": "INFO", "PRELA_WORKERS": "1", **(env or {})},
    )
    PROCESS_LOGS.append(log_path)
    server = PrelaServer(process, data_dir, grpc_port, http_port, query_port, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prela serve exited with {process.returncode}:\n{server.log()}")
        try:
            if (
                httpx.get(f"{server.ingest_url}/health", timeout=1).status_code == 200
                and httpx.get(f"{server.query_url}/api/v1/health", timeout=1).status_code == 200
                and _port_open(grpc_port)
            ):
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"prela serve did not become ready in {timeout}s:\n{server.log()}")


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session")
def prela_serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrelaServer]:
    """One `prela serve` for the tests that only send and read (each uses its own trace ids)."""
    server = start_prela_serve(tmp_path_factory.mktemp("serve") / "data")
    yield server
    server.stop()
