"""Overload test: many OTLP clients with the exporters' 10 s timeout and no retries against one pinned core.

    python -m bench.overload [--transport grpc|http|both] [--clients 64,256,512] [--duration 30]
                             [--timeout 10] [--runs 1] [--server NAME=PYTHON ...] [--env K=V ...] [--json out]
                             [--role serve|collector]

Each of `--clients` clients sends a 512-span request, waits for the answer at
most `--timeout` seconds (then gives up, as an exporter does: the connection
is closed or the gRPC deadline passes), and sends its next request; it never
re-sends a request. After a retryable refusal it waits the delay the server
advised (RetryInfo / Retry-After, else 1 s) before its next request, as an
exporter backs off. Every request carries its own number in the first 4 bytes
of its trace ids, so after the run (the server drained and stopped) the spans
stored are counted per request and set against what its client saw.

Reported per transport and client count: goodput (spans answered OK within the
timeout per second), latency of OK answers, refusals and their latency, client
timeouts, the server's peak RSS, and the spans stored for requests whose
client saw a failure (work done for nobody). Servers are started as in
`bench.load` (fresh data dir, pinned to CPU 1, load generator on CPU 0);
`--server before=/path/to/other/venv/bin/python` measures another checkout
(its venv's editable install) in the same run, interleaved.

`--role collector` measures `prela collector` instead (pinned the same way) in
front of a fresh Tansu broker per cell (memory storage, on the load
generator's CPU, as in `bench.scaleout`): "stored" is then what the spans
topic holds after the collector drained and stopped, counted per request from
the raw OTLP records.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import enum
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from google.rpc.error_details_pb2 import RetryInfo
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bench.load import (
    EXPORT_PATH,
    PROTOBUF,
    SERVER_CPU,
    STOP_TIMEOUT_S,
    ServerProcess,
    _pin_prefix,
    _pin_self,
    _pythonpath,
    _rejected_spans,
    _self_cpu_seconds,
    cpu_seconds,
    free_port,
    launch,
    memory_kib,
    percentile,
    start_blackhole,
)
from bench.payloads import build_payloads
from bench.scaleout import Proc, role_env, start_broker

SPANS_TOPIC = "spans"  # where `prela collector` publishes OTLP trace requests (exporters/kafka.py)
DEFAULT_RETRY_DELAY_S = 1.0
MAX_RETRY_DELAY_S = 30.0


# --------------------------------------------------------------------------- payloads


@dataclass(slots=True)
class StampedBody:
    """A serialized request and the offsets of its trace ids, to stamp a request number into."""

    body: bytes
    offsets: list[int]
    spans: int

    def stamped(self, number: int) -> bytes:
        out = bytearray(self.body)
        prefix = number.to_bytes(4, "big")
        for offset in self.offsets:
            out[offset : offset + 4] = prefix
        return bytes(out)


def stampable(body: bytes) -> StampedBody:
    request = ExportTraceServiceRequest.FromString(body)
    trace_ids = {span.trace_id for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans}
    spans = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
    offsets: list[int] = []
    for trace_id in trace_ids:
        start = body.find(trace_id)
        while start != -1:
            offsets.append(start)
            start = body.find(trace_id, start + 1)
    return StampedBody(body, sorted(offsets), spans)


# --------------------------------------------------------------------------- servers


def start_server(python: str, env: dict[str, str], work_dir: Path, tag: str) -> ServerProcess:
    """`prela serve` of the interpreter `python` (its venv's checkout), fresh data dir, pinned."""
    data_dir = work_dir / f"{tag}-data"
    data_dir.mkdir(parents=True)
    grpc_port, http_port, query_port = free_port(), free_port(), free_port()
    command = [
        python, "-m", "prela.server", "serve",
        "--data-dir", str(data_dir),
        "--otlp-grpc-port", str(grpc_port),
        "--otlp-http-port", str(http_port),
        "--query-port", str(query_port),
    ]  # fmt: skip
    # WARNING: one line per request at INFO would itself be load; refusals are counted in /metrics.
    server_env = {**os.environ, "LOG_LEVEL": "WARNING", **env}
    return launch(
        tag,
        command,
        grpc_port,
        http_port,
        work_dir,
        tag,
        server_env,
        query_port=query_port,
        data_dir=data_dir,
    )


def start_collector(python: str, env: dict[str, str], work_dir: Path, tag: str) -> tuple[ServerProcess, Proc]:
    """`prela collector` of `python`, pinned, publishing to a fresh Tansu broker: (collector, broker)."""
    broker = start_broker(work_dir, tag)
    try:
        data_dir = work_dir / f"{tag}-data"  # the spool's: a collector keeps no store
        data_dir.mkdir(parents=True)
        grpc_port, http_port = free_port(), free_port()
        command = [
            python, "-m", "prela.server", "collector",
            "--otlp-grpc-port", str(grpc_port), "--otlp-http-port", str(http_port),
        ]  # fmt: skip
        server_env = {**role_env(broker, data_dir), "LOG_LEVEL": "WARNING", **env}
        server = launch(tag, command, grpc_port, http_port, work_dir, tag, server_env)
    except BaseException:
        broker.kill()
        raise
    return server, broker


def published_by_request(broker_port: int, topic: str = SPANS_TOPIC) -> dict[int, int]:
    """Spans per request number (the stamped trace-id prefix) in every record of `topic`, start to end."""

    async def read() -> dict[int, int]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=f"127.0.0.1:{broker_port}",
            enable_auto_commit=False,
            group_id=None,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        counts: dict[int, int] = {}
        try:
            await consumer.topics()  # refreshes the metadata partitions_for_topic reads
            partitions = [
                TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
            ]
            if not partitions:
                return counts
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            # An explicit offset: seek_to_beginning races the reset of a fresh assignment (seen: positions at the end).
            for tp, begin in (await consumer.beginning_offsets(partitions)).items():
                consumer.seek(tp, begin)
            deadline = time.monotonic() + STOP_TIMEOUT_S
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{topic}: not read to its end in {STOP_TIMEOUT_S:g}s")
                batch = await consumer.getmany(timeout_ms=1000, max_records=2000)
                for records in batch.values():
                    for record in records:
                        request = ExportTraceServiceRequest.FromString(record.value or b"")
                        for rs in request.resource_spans:
                            for ss in rs.scope_spans:
                                for span in ss.spans:
                                    number = int.from_bytes(span.trace_id[:4], "big")
                                    counts[number] = counts.get(number, 0) + 1
        finally:
            await consumer.stop()
        return counts

    return asyncio.run(read())


def stored_by_request(data_dir: Path) -> dict[int, int]:
    """Spans stored per request number (the stamped trace-id prefix), in a stopped server's chDB dir."""
    code = (
        "import sys, json, clickhouse_connect; "
        "c = clickhouse_connect.get_client(dsn='chdb://' + sys.argv[1]); "
        "rows = c.query('SELECT substring(trace_id, 1, 8) AS k, count() FROM prela.spans FINAL GROUP BY k')"
        ".result_rows; print(json.dumps([[r[0], int(r[1])] for r in rows]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str((data_dir / "clickhouse").resolve())],
        capture_output=True,
        check=True,
        timeout=STOP_TIMEOUT_S,
        env={**os.environ, "PYTHONPATH": _pythonpath()},
    )
    rows = orjson.loads(out.stdout.strip().splitlines()[-1])
    return {int(prefix, 16): count for prefix, count in rows}


# --------------------------------------------------------------------------- clients


class Outcome(enum.Enum):
    OK = "ok"
    REFUSED = "refused"  # retryable refusal: HTTP 429/503, gRPC UNAVAILABLE/RESOURCE_EXHAUSTED/CANCELLED
    TIMEOUT = "timeout"  # the client gave up after --timeout
    ERROR = "error"


@dataclass(slots=True)
class Answer:
    outcome: Outcome
    rejected: int = 0
    retry_after_s: float | None = None
    detail: str = ""


def _kind(message: str) -> str:
    """A refusal message without its numbers: a bounded label to count refusals by."""
    return "".join(c for c in message if not c.isdigit())[:48]


def _retry_delay(trailers: Any) -> float | None:
    for key, value in trailers or ():
        if key == "google.rpc.retryinfo-bin":
            delay = RetryInfo.FromString(value).retry_delay
            return float(delay.seconds + delay.nanos / 1e9)
    return None


class GrpcClient:
    def __init__(self, port: int, timeout: float) -> None:
        self._timeout = timeout
        self._channel = grpc.aio.insecure_channel(
            f"127.0.0.1:{port}",
            options=[("grpc.max_send_message_length", -1), ("grpc.use_local_subchannel_pool", 1)],
        )
        self._export = self._channel.unary_unary(EXPORT_PATH)

    async def send(self, body: bytes) -> Answer:
        try:
            response = await self._export(body, timeout=self._timeout)
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                return Answer(Outcome.TIMEOUT, detail="DEADLINE_EXCEEDED")
            # CANCELLED: grpc-core shed a call the server's event loop left waiting (retryable in the OTLP spec).
            if code in (
                grpc.StatusCode.UNAVAILABLE,
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                grpc.StatusCode.CANCELLED,
            ):
                return Answer(
                    Outcome.REFUSED,
                    retry_after_s=_retry_delay(exc.trailing_metadata()),
                    detail=f"{code.name}: {_kind(exc.details() or '')}",
                )
            return Answer(Outcome.ERROR, detail=f"{code.name}: {exc.details()}")
        return Answer(Outcome.OK, _rejected_spans(response))

    async def close(self) -> None:
        await self._channel.close()


class HttpClient:
    """One keep-alive connection; the timeout is a deadline on the whole exchange."""

    def __init__(self, port: int, timeout: float) -> None:
        self._timeout = timeout
        self._client = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            timeout=timeout,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            headers={"Content-Type": PROTOBUF},
        )

    async def send(self, body: bytes) -> Answer:
        try:
            async with asyncio.timeout(self._timeout):
                response = await self._client.post("/v1/traces", content=body)
        except TimeoutError:
            return Answer(Outcome.TIMEOUT, detail="timeout")
        except httpx.TimeoutException:
            return Answer(Outcome.TIMEOUT, detail="httpx timeout")
        except httpx.HTTPError as exc:
            return Answer(Outcome.ERROR, detail=f"{type(exc).__name__}: {exc}")
        if 200 <= response.status_code < 300:
            return Answer(Outcome.OK, _rejected_spans(response.content))
        if response.status_code in (429, 503):
            retry_after = response.headers.get("retry-after", "")
            delay = float(retry_after) if retry_after.isdigit() else None
            message = Status.FromString(response.content).message if response.content else ""
            return Answer(
                Outcome.REFUSED, retry_after_s=delay, detail=f"HTTP {response.status_code}: {_kind(message)}"
            )
        return Answer(Outcome.ERROR, detail=f"HTTP {response.status_code}: {response.content[:200]!r}")

    async def close(self) -> None:
        await self._client.aclose()


@dataclass
class Record:
    number: int
    spans: int
    outcome: Outcome
    latency_s: float
    accepted: int


@dataclass
class Load:
    bodies: list[StampedBody]
    records: list[Record] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)
    refusal_kinds: dict[str, int] = field(default_factory=dict)
    next_number: int = 1

    def take(self) -> tuple[int, StampedBody]:
        number = self.next_number
        self.next_number += 1
        return number, self.bodies[number % len(self.bodies)]


async def _client(client: GrpcClient | HttpClient, load: Load, deadline: float) -> None:
    while time.perf_counter() < deadline:
        number, template = load.take()
        body = template.stamped(number)
        started = time.perf_counter()
        answer = await client.send(body)
        latency = time.perf_counter() - started
        accepted = template.spans - answer.rejected if answer.outcome is Outcome.OK else 0
        load.records.append(Record(number, template.spans, answer.outcome, latency, accepted))
        if answer.outcome is Outcome.ERROR and len(load.error_samples) < 5:
            load.error_samples.append(answer.detail)
        if answer.outcome is Outcome.REFUSED:
            load.refusal_kinds[answer.detail] = load.refusal_kinds.get(answer.detail, 0) + 1
            delay = answer.retry_after_s if answer.retry_after_s is not None else DEFAULT_RETRY_DELAY_S
            await asyncio.sleep(min(delay, MAX_RETRY_DELAY_S))


async def drive(
    transport: str, server: ServerProcess, load: Load, clients: int, duration: float, timeout: float
) -> tuple[float, float]:
    """Run the clients for `duration`: (wall seconds, the load generator's CPU seconds meanwhile)."""
    port = server.grpc_port if transport == "grpc" else server.http_port
    senders = [
        GrpcClient(port, timeout) if transport == "grpc" else HttpClient(port, timeout)
        for _ in range(clients)
    ]
    started, self_before = time.perf_counter(), _self_cpu_seconds()
    try:
        await asyncio.gather(*(_client(s, load, started + duration) for s in senders))
        wall, self_used = time.perf_counter() - started, _self_cpu_seconds() - self_before
    finally:
        for sender in senders:
            await sender.close()
    # Not counted: building the clients (an httpx client makes its own SSL context: ~15 CPU-ms each).
    return wall, self_used


# --------------------------------------------------------------------------- one run


BLACKHOLE = "blackhole"  # the --floor server: answers OK at once, stores nothing (bench/blackhole.py)
REFUSER = "refuser"  # the other --floor server: refuses every request at once, unread (blackhole --refuse)


def run_once(
    name: str, python: str, env: dict[str, str], transport: str, clients: int, bodies: list[StampedBody],
    args: argparse.Namespace, work_dir: Path, tag: str,
) -> dict[str, Any]:  # fmt: skip
    broker: Proc | None = None
    if name in (BLACKHOLE, REFUSER):
        server = start_blackhole(work_dir, tag, refuse=name == REFUSER)
    elif args.role == "collector":
        server, broker = start_collector(python, env, work_dir, tag)
    else:
        server = start_server(python, env, work_dir, tag)
    load = Load(bodies)
    try:
        cpu_before = cpu_seconds(server.pid)
        wall, self_used = asyncio.run(drive(transport, server, load, clients, args.duration, args.timeout))
        cpu_used = cpu_seconds(server.pid) - cpu_before
        memory = memory_kib(server.pid)
    finally:
        exit_code, stop_s = server.stop()
    try:
        if broker is not None:
            stored = published_by_request(broker.ports["kafka"])
        else:
            stored = stored_by_request(server.data_dir) if server.data_dir is not None else {}
    finally:
        if broker is not None:
            broker.kill()
    by_outcome = {o: [r for r in load.records if r.outcome is o] for o in Outcome}
    ok = by_outcome[Outcome.OK]
    failed = [r for r in load.records if r.outcome is not Outcome.OK]
    sent = {r.number for r in load.records}
    result: dict[str, Any] = {
        "server": name,
        "transport": transport,
        "clients": clients,
        "wall_s": wall,
        "requests": len(load.records),
        "ok": len(ok),
        "refused": len(by_outcome[Outcome.REFUSED]),
        "timeouts": len(by_outcome[Outcome.TIMEOUT]),
        "errors": len(by_outcome[Outcome.ERROR]),
        "error_samples": load.error_samples,
        "refusal_kinds": load.refusal_kinds,
        "goodput_spans_per_s": sum(r.accepted for r in ok) / wall,
        "ok_p50_ms": percentile([r.latency_s for r in ok], 50) * 1000,
        "ok_p99_ms": percentile([r.latency_s for r in ok], 99) * 1000,
        "refused_p50_ms": percentile([r.latency_s for r in by_outcome[Outcome.REFUSED]], 50) * 1000,
        "refused_p99_ms": percentile([r.latency_s for r in by_outcome[Outcome.REFUSED]], 99) * 1000,
        "peak_rss_mib": memory.get("VmHWM", 0) / 1024,
        "server_cpu_util": cpu_used / wall,
        "loadgen_cpu_util": self_used / wall,
        "spans_acknowledged": sum(r.accepted for r in ok),
        "spans_stored": sum(stored.values()),
        "stored_for_failed_spans": sum(stored.get(r.number, 0) for r in failed),
        "stored_for_failed_requests": sum(1 for r in failed if stored.get(r.number, 0)),
        "acknowledged_not_stored_spans": sum(max(0, r.accepted - stored.get(r.number, 0)) for r in ok),
        "stored_never_sent_spans": sum(c for n, c in stored.items() if n not in sent),
        "exit_code": exit_code,
        "stop_s": stop_s,
        "pinned": server.pinned,
    }
    if server.data_dir is None and broker is None:  # the blackhole stores nothing: no stored-span accounting
        for key in ("spans_stored", "stored_for_failed_spans", "stored_for_failed_requests",
                    "acknowledged_not_stored_spans", "stored_never_sent_spans"):  # fmt: skip
            result[key] = float("nan")
    elif not args.keep and server.data_dir is not None:
        shutil.rmtree(server.data_dir, ignore_errors=True)
    return result


# --------------------------------------------------------------------------- report

_KEYS = (
    "goodput_spans_per_s", "ok_p50_ms", "ok_p99_ms", "refused", "refused_p99_ms", "timeouts", "errors",
    "peak_rss_mib", "stored_for_failed_spans", "acknowledged_not_stored_spans", "server_cpu_util",
    "loadgen_cpu_util", "ok", "requests",
)  # fmt: skip


def summarize(runs: list[dict[str, Any]]) -> dict[str, float]:
    summary: dict[str, float] = {}
    for key in _KEYS:
        values = [float(r[key]) for r in runs if r[key] == r[key]]  # drop NaN
        summary[key] = statistics.median(values) if values else float("nan")
    return summary


def print_table(
    summaries: list[tuple[str, str, int, int, dict[str, float]]], capacity: dict[tuple[str, str], float]
) -> None:
    header = (
        f"{'transport':<9} {'clients':>7} {'server':<9} {'runs':>4} {'goodput/s':>10} {'vs cap':>6} {'ok p50 ms':>10} "
        f"{'ok p99 ms':>10} {'refused':>8} {'ref p99 ms':>10} {'timeouts':>8} {'errors':>6} {'RSS MiB':>8} "
        f"{'stored-failed':>13} {'acked-lost':>10} {'gen cpu':>7}"
    )
    print(header)
    print("-" * len(header))
    for transport, name, clients, runs, s in summaries:
        cap = capacity.get((transport, name))
        ratio = f"{s['goodput_spans_per_s'] / cap:.0%}" if cap else "-"
        print(
            f"{transport:<9} {clients:>7} {name:<9} {runs:>4} {s['goodput_spans_per_s']:>10,.0f} {ratio:>6} "
            f"{s['ok_p50_ms']:>10,.0f} {s['ok_p99_ms']:>10,.0f} {s['refused']:>8,.0f} {s['refused_p99_ms']:>10,.1f} "
            f"{s['timeouts']:>8,.0f} {s['errors']:>6,.0f} {s['peak_rss_mib']:>8,.0f} "
            f"{s['stored_for_failed_spans']:>13,.0f} {s['acknowledged_not_stored_spans']:>10,.0f} "
            f"{s['loadgen_cpu_util'] * 100:>6.0f}%"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.overload",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--transport", choices=("grpc", "http", "both"), default="both")
    parser.add_argument("--clients", default="64,256,512", help="comma list of client counts [64,256,512]")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load per run [30]")
    parser.add_argument("--timeout", type=float, default=10.0, help="client timeout per request, s [10]")
    parser.add_argument("--runs", type=int, default=1, help="runs per cell; medians reported [1]")
    parser.add_argument("--batch", type=int, default=512, help="spans per request [512]")
    parser.add_argument("--bodies", type=int, default=64, help="distinct request templates [64]")
    parser.add_argument(
        "--server", action="append", default=[], metavar="NAME=PYTHON",
        help="a server to measure: the interpreter of the venv whose prela to run (repeat; default: this one)",
    )  # fmt: skip
    parser.add_argument(
        "--env", action="append", default=[], metavar="K=V", help="server environment (repeat)"
    )
    parser.add_argument(
        "--capacity-clients", type=int, default=2,
        help="clients of the capacity cell each server is also measured with (goodput is reported as a share "
        "of it; 0: none) [2]",
    )  # fmt: skip
    parser.add_argument(
        "--floor", action="store_true",
        help="also run every cell against bench.blackhole (answers at once, stores nothing) and against "
        "bench.blackhole --refuse (refuses every request at once, unread) on the same CPU: the answer and "
        "refusal latencies this load generator and machine impose on any server",
    )  # fmt: skip
    parser.add_argument(
        "--role", choices=("serve", "collector"), default="serve",
        help="the Prela role under test: `prela serve` (stores in chDB) or `prela collector` (publishes to a "
        "fresh Tansu broker per cell; stored = what its spans topic holds) [serve]",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, help="write every number to this file")
    parser.add_argument("--keep", action="store_true", help="keep data dirs and server logs")
    args = parser.parse_args(argv)
    args.client_counts = [int(c) for c in args.clients.split(",") if c.strip()]
    if not args.client_counts or min(args.client_counts) <= 0:
        parser.error(f"--clients must be positive integers, got {args.clients!r}")
    servers = [s.split("=", 1) for s in args.server] or [["prela", sys.executable]]
    if any(len(s) != 2 for s in servers):
        parser.error("--server takes NAME=PYTHON")
    args.servers = [(name, python) for name, python in servers]
    if args.floor:
        args.servers += [(BLACKHOLE, sys.executable), (REFUSER, sys.executable)]
    if args.capacity_clients < 0:
        parser.error("--capacity-clients must be >= 0")
    args.server_env = dict(e.split("=", 1) for e in args.env)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pinned_self = _pin_self()
    transports = ["grpc", "http"] if args.transport == "both" else [args.transport]
    payloads = build_payloads(args.bodies, args.batch)
    bodies = [stampable(body) for body in payloads.bodies]
    print(
        f"cpus: {os.cpu_count()}, server on CPU {SERVER_CPU} ({'taskset' if _pin_prefix(SERVER_CPU) else 'UNPINNED'}), "
        f"load generator {'pinned to CPU 0' if pinned_self else 'UNPINNED'}; {args.batch}-span requests "
        f"({payloads.body_bytes_mean / 1024:.0f} KiB), {args.duration:g}s per run, client timeout {args.timeout:g}s, "
        f"no retries, {args.runs} run(s); role: {args.role}; servers: {', '.join(n for n, _ in args.servers)}",
        flush=True,
    )
    runs: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    work_dir = Path(tempfile.mkdtemp(prefix="prela-overload-"))
    try:
        for run in range(1, args.runs + 1):
            for transport in transports:
                cells = [args.capacity_clients] if args.capacity_clients else []
                for clients in cells + [c for c in args.client_counts if c != args.capacity_clients]:
                    for name, python in args.servers:
                        tag = f"{name}-{transport}-{clients}-{run}"
                        result = run_once(
                            name, python, args.server_env, transport, clients, bodies, args, work_dir, tag
                        )
                        runs.setdefault((transport, clients, name), []).append(result)
                        print(
                            f"  run {run} {transport:<4} {clients:>4} clients {name:<8} goodput "
                            f"{result['goodput_spans_per_s']:>7,.0f}/s ok p50 {result['ok_p50_ms']:,.0f} ms "
                            f"p99 {result['ok_p99_ms']:,.0f} ms, refused {result['refused']} "
                            f"(p50 {result['refused_p50_ms']:.1f} p99 {result['refused_p99_ms']:.1f} ms), timeouts {result['timeouts']}, "
                            f"errors {result['errors']}, RSS {result['peak_rss_mib']:.0f} MiB, stored for failed "
                            f"{result['stored_for_failed_spans']:,} spans, acked not stored "
                            f"{result['acknowledged_not_stored_spans']:,}, gen cpu {result['loadgen_cpu_util']:.0%}",
                            flush=True,
                        )
                        for kind, count in sorted(result["refusal_kinds"].items(), key=lambda kv: -kv[1]):
                            print(f"    refused {count:>6}: {kind}")
                        for sample in result["error_samples"][:2]:
                            print(f"    sample: {sample[:200]}")
    finally:
        if args.keep:
            print(f"kept: {work_dir}")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)
    summaries = [(t, n, c, len(r), summarize(r)) for (t, c, n), r in runs.items()]
    capacity = {(t, n): s["goodput_spans_per_s"] for t, n, c, _, s in summaries if c == args.capacity_clients}
    print()
    print_table(summaries, capacity)
    if args.json:
        document = {
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "python": platform.python_version(),
            },
            "config": {
                k: (str(v) if isinstance(v, Path) else v)
                for k, v in vars(args).items()
                if k not in ("servers",)
            },
            "servers": dict(args.servers),
            "results": [
                {"transport": t, "clients": c, "server": n, "summary": s, "runs": runs[(t, c, n)]}
                for t, n, c, _, s in summaries
            ],
        }
        args.json.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
