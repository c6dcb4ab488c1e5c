"""Ingest load test: drive a real `prela serve` with OTLP traffic and measure what it costs.

    python -m bench.load [--transport grpc|http|both] [--batch 512] [--clients 8]
                         [--duration 15] [--runs 3] [--rate SPANS_PER_S] [--json out.json]

For every run and transport it starts a fresh server pinned to CPU 1 (the load
generator pins itself to CPU 0), sends pre-serialized ~1 KB LLM spans from
`--clients` concurrent clients for `--duration` seconds — as fast as answers
come back (closed loop) or on a fixed schedule (`--rate`, open loop) — and
reports accepted spans/s, answer latency, server CPU-seconds per 100k spans and
peak RSS. After the run the server is stopped with SIGTERM (it drains) and the
spans stored in its chDB data dir are counted. The same load against
`bench.blackhole` (parse and answer, nothing else) gives the Python gRPC/HTTP
ceiling on this machine; Prela's throughput is reported as a share of it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import enum
import itertools
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from bench.payloads import Payloads, build_payloads

SERVER_CPU = 1
LOADGEN_CPU = 0
EXPORT_PATH = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
PROTOBUF = "application/x-protobuf"
REQUEST_TIMEOUT_S = 30.0
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 120.0
MAX_REQUESTS_PER_PHASE = 2_000_000  # a hard bound on top of the time bound
REFUSAL_BACKOFF_S = 0.05
_CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _pin_prefix(cpu: int) -> list[str]:
    """`taskset -c CPU` when it exists and the CPU does; otherwise [] (see `_spawn`'s fallback)."""
    taskset = shutil.which("taskset")
    if taskset is None or cpu not in _all_cpus():
        return []
    return [taskset, "-c", str(cpu)]


def _pin_child_fallback() -> None:
    """Without taskset: pin the child before exec; if even that fails, it runs unpinned."""
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {SERVER_CPU} if SERVER_CPU in _all_cpus() else _all_cpus())


def _all_cpus() -> set[int]:
    return set(range(os.cpu_count() or 1))


@dataclass
class ServerProcess:
    """A server subprocess under test (`prela serve` or the blackhole)."""

    target: str
    process: subprocess.Popen[bytes]
    grpc_port: int
    http_port: int
    health_urls: list[str]
    log_path: Path
    data_dir: Path | None = None
    pinned: bool = False

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.target} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                healthy = all(httpx.get(url, timeout=1).status_code == 200 for url in self.health_urls)
            except httpx.HTTPError:
                healthy = False
            if healthy and _port_open(self.grpc_port):
                return
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"{self.target} not ready after {timeout}s:\n{self.log_tail()}")

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> tuple[int, float]:
        """SIGTERM and wait (the server drains): its exit code and how long the drain took."""
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            code = -9
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def _spawn(
    command: list[str], log_path: Path, env: dict[str, str], pin_fallback: bool = True
) -> subprocess.Popen[bytes]:
    fallback = None if command[0].endswith("taskset") or not pin_fallback else _pin_child_fallback
    with log_path.open("wb") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, preexec_fn=fallback)


def start_prela(work_dir: Path, tag: str, workers: int | None = None) -> ServerProcess:
    """`prela serve` with a fresh data dir on free ports, pinned to the server CPU; with `workers`,
    `--workers N` on every CPU (shared with the load generator)."""
    data_dir = work_dir / f"{tag}-data"
    data_dir.mkdir(parents=True)
    grpc_port, http_port, query_port = free_port(), free_port(), free_port()
    command = [
        sys.executable, "-m", "prela.server", "serve",
        "--data-dir", str(data_dir),
        "--otlp-grpc-port", str(grpc_port),
        "--otlp-http-port", str(http_port),
        "--query-port", str(query_port),
        *(["--workers", str(workers)] if workers is not None else []),
    ]  # fmt: skip
    env = {**os.environ, "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO")}
    return launch(
        "prela", command, grpc_port, http_port, work_dir, tag, env,
        query_port=query_port, data_dir=data_dir, pinned=workers is None,
    )  # fmt: skip


def start_blackhole(work_dir: Path, tag: str, refuse: bool = False) -> ServerProcess:
    grpc_port, http_port = free_port(), free_port()
    command = [
        sys.executable, "-m", "bench.blackhole",
        "--grpc-port", str(grpc_port), "--http-port", str(http_port), *(("--refuse",) if refuse else ()),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": _pythonpath()}
    return launch("blackhole", command, grpc_port, http_port, work_dir, tag, env)


def launch(
    target: str,
    command: list[str],
    grpc_port: int,
    http_port: int,
    work_dir: Path,
    tag: str,
    env: dict[str, str],
    *,
    query_port: int | None = None,
    data_dir: Path | None = None,
    pinned: bool = True,
) -> ServerProcess:
    """Start a server under test (pinned to the server CPU unless not `pinned`), logging to
    `<work_dir>/<tag>.log`, and wait until its gRPC port and `/health` (and the query API's, with
    `query_port`) answer."""
    pin = _pin_prefix(SERVER_CPU) if pinned else []
    log_path = work_dir / f"{tag}.log"
    process = _spawn([*pin, *command], log_path, env, pin_fallback=pinned)
    health_urls = [f"http://127.0.0.1:{http_port}/health"]
    if query_port is not None:
        health_urls.append(f"http://127.0.0.1:{query_port}/api/v1/health")
    server = ServerProcess(target, process, grpc_port, http_port, health_urls, log_path, data_dir, bool(pin))
    server.wait_ready()
    return server


def _pythonpath() -> str:
    """So `python -m bench.blackhole` resolves from any working directory."""
    root = str(Path(__file__).resolve().parent.parent)
    existing = os.environ.get("PYTHONPATH")
    return f"{root}{os.pathsep}{existing}" if existing else root


# --------------------------------------------------------------------------- /proc


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads) and its running children (`--workers`), in seconds."""
    total = 0.0
    for member in _process_tree(pid):
        with contextlib.suppress(OSError):
            total += cpu_seconds_from_stat(Path(f"/proc/{member}/stat").read_text())
    return total


def _process_tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        with contextlib.suppress(OSError):
            todo += [int(c) for c in Path(f"/proc/{current}/task/{current}/children").read_text().split()]
    return pids


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU-seconds per thread group: the main thread (the event loop) apart, others by thread name."""
    groups: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        name = "main (event loop)" if task.name == str(pid) else comm
        groups[name] = groups.get(name, 0.0) + cpu_seconds_from_stat(stat)
    return groups


def cpu_seconds_from_stat(stat: str) -> float:
    fields = stat[stat.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state): utime is field 14, stime field 15
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def memory_kib(pid: int) -> dict[str, int]:
    """VmHWM (peak RSS) and VmRSS in KiB."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            values[key] = int(rest.split()[0])
    return values


def _self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --------------------------------------------------------------------------- clients


class Outcome(enum.Enum):
    OK = "ok"
    REFUSED = "refused"  # retryable: HTTP 429/503, gRPC UNAVAILABLE/RESOURCE_EXHAUSTED
    ERROR = "error"


@dataclass(slots=True)
class Answer:
    outcome: Outcome
    rejected: int = 0
    detail: str = ""


Sender = Callable[[bytes], Awaitable[Answer]]


def _rejected_spans(body: bytes) -> int:
    if not body:
        return 0
    return int(ExportTraceServiceResponse.FromString(body).partial_success.rejected_spans)


class GrpcSender:
    """One grpc.aio channel (its own HTTP/2 connection) sending pre-serialized request bytes."""

    def __init__(self, port: int) -> None:
        self._channel = grpc.aio.insecure_channel(
            f"127.0.0.1:{port}",
            options=[
                ("grpc.max_send_message_length", -1),
                ("grpc.max_receive_message_length", -1),
                ("grpc.use_local_subchannel_pool", 1),
            ],
        )
        # No serializers: the call takes and returns bytes as they are.
        self._export = self._channel.unary_unary(EXPORT_PATH)

    async def __call__(self, body: bytes) -> Answer:
        try:
            response = await self._export(body, timeout=REQUEST_TIMEOUT_S)
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            retryable = code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED)
            return Answer(
                Outcome.REFUSED if retryable else Outcome.ERROR, detail=f"{code.name}: {exc.details()}"
            )
        return Answer(Outcome.OK, _rejected_spans(response))

    async def close(self) -> None:
        await self._channel.close()


class HttpSender:
    """One httpx client (one keep-alive connection) posting OTLP/HTTP protobuf."""

    def __init__(self, port: int) -> None:
        self._client = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            timeout=REQUEST_TIMEOUT_S,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            headers={"Content-Type": PROTOBUF},
        )

    async def __call__(self, body: bytes) -> Answer:
        try:
            response = await self._client.post("/v1/traces", content=body)
        except httpx.HTTPError as exc:
            return Answer(Outcome.ERROR, detail=f"{type(exc).__name__}: {exc}")
        if 200 <= response.status_code < 300:
            return Answer(Outcome.OK, _rejected_spans(response.content))
        outcome = Outcome.REFUSED if response.status_code in (429, 503) else Outcome.ERROR
        return Answer(outcome, detail=f"HTTP {response.status_code}: {response.content[:200]!r}")

    async def close(self) -> None:
        await self._client.aclose()


@dataclass
class PhaseStats:
    """What the clients saw during one phase (warm-up or measured)."""

    requests: int = 0
    ok: int = 0
    refused: int = 0
    errors: int = 0
    spans_accepted: int = 0
    spans_rejected: int = 0
    late_sends: int = 0  # open loop: sent more than 5 ms after its scheduled time
    latencies_s: list[float] = field(default_factory=list)  # send → answer
    latencies_sched_s: list[float] = field(default_factory=list)  # open loop: scheduled time → answer
    error_samples: list[str] = field(default_factory=list)


@dataclass
class LoadState:
    """Shared by all clients for the whole run (warm-up included): the e2e accounting."""

    payloads: Payloads
    body_counter: Iterator[int] = field(default_factory=itertools.count)
    accepted_by_body: dict[int, int] = field(default_factory=dict)  # distinct bodies accepted
    spans_accepted_total: int = 0

    def next_body(self) -> tuple[int, bytes]:
        index = next(self.body_counter) % len(self.payloads.bodies)
        return index, self.payloads.bodies[index]


async def _send_one(send: Sender, state: LoadState, stats: PhaseStats, scheduled: float | None) -> Answer:
    index, body = state.next_body()
    started = time.perf_counter()
    answer = await send(body)
    finished = time.perf_counter()
    stats.requests += 1
    if answer.outcome is Outcome.OK:
        accepted = state.payloads.batch - answer.rejected
        stats.ok += 1
        stats.spans_accepted += accepted
        stats.spans_rejected += answer.rejected
        stats.latencies_s.append(finished - started)
        if scheduled is not None:
            stats.latencies_sched_s.append(finished - scheduled)
        state.spans_accepted_total += accepted
        state.accepted_by_body[index] = max(accepted, state.accepted_by_body.get(index, 0))
    elif answer.outcome is Outcome.REFUSED:
        stats.refused += 1
    else:
        stats.errors += 1
    if answer.detail and len(stats.error_samples) < 5:
        stats.error_samples.append(answer.detail)
    return answer


async def _closed_loop_client(send: Sender, state: LoadState, stats: PhaseStats, deadline: float) -> None:
    while time.perf_counter() < deadline and stats.requests < MAX_REQUESTS_PER_PHASE:
        answer = await _send_one(send, state, stats, None)
        if answer.outcome is not Outcome.OK:
            await asyncio.sleep(REFUSAL_BACKOFF_S)  # as an exporter would back off, without spinning


async def _open_loop_client(
    send: Sender,
    state: LoadState,
    stats: PhaseStats,
    schedule: Iterator[int],
    start: float,
    interval: float,
    deadline: float,
) -> None:
    for slot in schedule:
        scheduled = start + slot * interval
        if scheduled >= deadline or slot >= MAX_REQUESTS_PER_PHASE:
            return
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.005:
            stats.late_sends += 1
        await _send_one(send, state, stats, scheduled)


async def run_phase(
    senders: list[Sender], state: LoadState, duration: float, rate: float | None
) -> tuple[PhaseStats, float]:
    """Drive all clients for `duration` seconds; returns their stats and the wall time until the last answer."""
    stats = PhaseStats()
    start = time.perf_counter()
    deadline = start + duration
    if rate:
        schedule = itertools.count()  # one shared token schedule: slot k is due at start + k * interval
        interval = state.payloads.batch / rate
        tasks = [_open_loop_client(s, state, stats, schedule, start, interval, deadline) for s in senders]
    else:
        tasks = [_closed_loop_client(s, state, stats, deadline) for s in senders]
    await asyncio.gather(*tasks)
    return stats, time.perf_counter() - start


# --------------------------------------------------------------------------- one run


def start_profiler(server: ServerProcess, args: argparse.Namespace) -> subprocess.Popen[bytes] | None:
    """py-spy on the server for the measured phase: collapsed stacks (all threads, idle excluded)."""
    py_spy = shutil.which("py-spy")
    if py_spy is None:
        print("    --profile: py-spy not found (pip install py-spy); not profiling")
        return None
    args.profile.mkdir(parents=True, exist_ok=True)
    name = f"{server.target}-{server.log_path.stem}"
    command = [
        py_spy, "record", "--pid", str(server.pid), "--duration", str(max(1, int(args.duration))),
        "--rate", "200", "--format", "raw", "--output", str(args.profile / f"{name}.txt"),
        "--nonblocking", *(["--native"] if args.profile_native else []),
    ]  # fmt: skip
    log = (args.profile / f"{name}.py-spy.log").open("wb")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_pin_to_loadgen_cpu)


def _pin_to_loadgen_cpu() -> None:
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {LOADGEN_CPU})


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def count_stored(data_dir: Path) -> tuple[int, int]:
    """(count() FINAL, count()) of prela.spans in a stopped server's chDB data dir."""
    import clickhouse_connect  # chDB is heavy: only loaded when a Prela run is counted

    client = clickhouse_connect.get_client(dsn=f"chdb://{(data_dir / 'clickhouse').resolve()}")
    try:
        final = int(client.query("SELECT count() FROM prela.spans FINAL").result_rows[0][0])
        raw = int(client.query("SELECT count() FROM prela.spans").result_rows[0][0])
    finally:
        client.close()
    return final, raw


def count_stored_isolated(data_dir: Path) -> tuple[int, int]:
    """`count_stored` in a child process: chDB keeps one session per process, each run has its own dir."""
    code = (
        "import sys, json; from bench.load import count_stored; "
        "print(json.dumps(count_stored(__import__('pathlib').Path(sys.argv[1]))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(data_dir)],
        capture_output=True,
        check=True,
        timeout=STOP_TIMEOUT_S,
        env={**os.environ, "PYTHONPATH": _pythonpath()},
    )
    final, raw = orjson.loads(out.stdout.strip().splitlines()[-1])
    return int(final), int(raw)


async def _drive(
    transport: str, server: ServerProcess, state: LoadState, args: argparse.Namespace
) -> tuple[PhaseStats, float, float, float, dict[str, float]]:
    """Warm up, then the measured phase: stats, wall, server and load-generator CPU-s, server CPU-s by thread."""
    profiler: subprocess.Popen[bytes] | None = None
    senders: list[GrpcSender | HttpSender] = [
        GrpcSender(server.grpc_port) if transport == "grpc" else HttpSender(server.http_port)
        for _ in range(args.clients)
    ]
    try:
        if args.warmup > 0:
            await run_phase(list(senders), state, args.warmup, args.rate)
        profiler = start_profiler(server, args) if args.profile else None
        threads_before = thread_cpu_seconds(server.pid)
        cpu_before, self_before = cpu_seconds(server.pid), _self_cpu_seconds()
        stats, wall = await run_phase(list(senders), state, args.duration, args.rate)
        cpu_used, self_used = cpu_seconds(server.pid) - cpu_before, _self_cpu_seconds() - self_before
        threads_after = thread_cpu_seconds(server.pid)
    finally:
        for sender in senders:
            await sender.close()
    if profiler is not None:
        await asyncio.to_thread(profiler.wait, 60)
    threads = {
        name: round(used - threads_before.get(name, 0.0), 3)
        for name, used in sorted(
            threads_after.items(), key=lambda kv: -(kv[1] - threads_before.get(kv[0], 0.0))
        )
    }
    return stats, wall, cpu_used, self_used, {k: v for k, v in threads.items() if v > 0}


def _start_with_retry(target: str, work_dir: Path, tag: str, workers: int | None) -> ServerProcess:
    """Start a server; one retry, because the tree under test may be mid-edit for a moment."""

    def start(tag: str) -> ServerProcess:
        return start_prela(work_dir, tag, workers) if target == "prela" else start_blackhole(work_dir, tag)

    try:
        return start(tag)
    except RuntimeError as exc:
        print(f"    {target} failed to start, retrying once: {str(exc).splitlines()[-1][:200]}")
        time.sleep(3)
        return start(f"{tag}-retry")


def _git_state() -> dict[str, Any]:
    """The commit measured and how many files differ from it (numbers from a dirty tree say so)."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"commit": head.stdout.strip(), "modified_files": len(dirty.stdout.splitlines())}


def run_once(
    target: str, transport: str, payloads: Payloads, args: argparse.Namespace, work_dir: Path, tag: str
) -> dict[str, Any]:
    server = _start_with_retry(target, work_dir, tag, args.workers)
    try:
        state = LoadState(payloads)
        stats, wall, cpu_used, loadgen_cpu, threads = asyncio.run(_drive(transport, server, state, args))
        memory = memory_kib(server.pid)
    finally:
        exit_code, stop_s = server.stop()
    spans_per_s = stats.spans_accepted / wall
    result: dict[str, Any] = {
        "target": target,
        "transport": transport,
        "wall_s": wall,
        "requests": stats.requests,
        "ok": stats.ok,
        "refused": stats.refused,
        "errors": stats.errors,
        "error_samples": stats.error_samples,
        "late_sends": stats.late_sends,
        "spans_accepted": stats.spans_accepted,
        "spans_rejected": stats.spans_rejected,
        "spans_per_s": spans_per_s,
        "server_cpu_s": cpu_used,
        "server_cpu_util": cpu_used / wall,
        "cpu_s_per_100k": cpu_used / stats.spans_accepted * 100_000 if stats.spans_accepted else float("nan"),
        "loadgen_cpu_util": loadgen_cpu / wall,
        "peak_rss_mib": memory.get("VmHWM", 0) / 1024,
        "rss_end_mib": memory.get("VmRSS", 0) / 1024,
        "exit_code": exit_code,
        "stop_s": stop_s,
        "pinned": server.pinned,
        "server_cpu_s_by_thread": threads,
    }
    for name, values in (("lat", stats.latencies_s), ("lat_sched", stats.latencies_sched_s)):
        for q in (50, 90, 99):
            result[f"{name}_p{q}_ms"] = percentile(values, q) * 1000
        result[f"{name}_max_ms"] = max(values) * 1000 if values else float("nan")
    if target == "prela" and server.data_dir is not None:
        accepted_distinct = sum(state.accepted_by_body.values())
        final, raw = count_stored_isolated(server.data_dir)
        result.update(
            accepted_total=state.spans_accepted_total,
            accepted_distinct=accepted_distinct,
            stored_final=final,
            stored_raw=raw,
            e2e_ratio=final / accepted_distinct if accepted_distinct else float("nan"),
            e2e_kept_pace=final >= accepted_distinct and exit_code == 0,
        )
        if not args.keep:
            shutil.rmtree(server.data_dir, ignore_errors=True)
    return result


# --------------------------------------------------------------------------- report


_SUMMARY_KEYS = (
    "spans_per_s", "cpu_s_per_100k", "server_cpu_util", "loadgen_cpu_util", "peak_rss_mib",
    "lat_p50_ms", "lat_p90_ms", "lat_p99_ms", "lat_max_ms",
    "lat_sched_p50_ms", "lat_sched_p90_ms", "lat_sched_p99_ms", "lat_sched_max_ms",
    "refused", "errors", "late_sends", "accepted_distinct", "stored_final", "stored_raw", "e2e_ratio",
    "stop_s", "ratio_vs_blackhole",
)  # fmt: skip


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    summary: dict[str, dict[str, float]] = {}
    for key in _SUMMARY_KEYS:
        values = [float(r[key]) for r in runs if key in r and r[key] == r[key]]  # drop NaN
        if values:
            summary[key] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
    return summary


def _fmt(summary: dict[str, dict[str, float]], key: str, spec: str, spread: bool = False) -> str:
    if key not in summary:
        return "-"
    s = summary[key]
    text = format(s["median"], spec)
    if spread:
        text += f" ({format(s['min'], spec)}..{format(s['max'], spec)})"
    return text


def _percent(summary: dict[str, dict[str, float]], key: str) -> str:
    return f"{summary[key]['median'] * 100:.0f}%" if key in summary else "-"


def print_table(results: dict[str, dict[str, dict[str, Any]]], rate: float | None) -> None:
    lat = "lat_sched" if rate else "lat"
    header = (
        f"{'transport':<9} {'target':<9} {'spans/s median (min..max)':<27} {'vs bh':>6} {'cpu-s/100k':>10} "
        f"{'srv cpu':>7} {'gen cpu':>7} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'max ms':>7} "
        f"{'RSS MiB':>7} {'refused':>7} {'errors':>6} {'stored/acc':>10}"
    )
    print(header)
    print("-" * len(header))
    for transport, by_target in results.items():
        for target, entry in by_target.items():
            s = entry["summary"]
            print(
                f"{transport:<9} {target:<9} {_fmt(s, 'spans_per_s', ',.0f', spread=True):<27} "
                f"{_fmt(s, 'ratio_vs_blackhole', '.2f'):>6} {_fmt(s, 'cpu_s_per_100k', '.2f'):>10} "
                f"{_percent(s, 'server_cpu_util'):>7} {_percent(s, 'loadgen_cpu_util'):>7} "
                f"{_fmt(s, f'{lat}_p50_ms', '.1f'):>7} {_fmt(s, f'{lat}_p90_ms', '.1f'):>7} "
                f"{_fmt(s, f'{lat}_p99_ms', '.1f'):>7} {_fmt(s, f'{lat}_max_ms', '.0f'):>7} "
                f"{_fmt(s, 'peak_rss_mib', '.0f'):>7} {_fmt(s, 'refused', '.0f'):>7} "
                f"{_fmt(s, 'errors', '.0f'):>6} {_fmt(s, 'e2e_ratio', '.3f'):>10}"
            )
    if rate:
        print(f"open loop at {rate:,.0f} spans/s: latency measured from each request's scheduled send time")


# --------------------------------------------------------------------------- main


def _pin_self() -> bool:
    if (
        not hasattr(os, "sched_setaffinity")
        or LOADGEN_CPU not in _all_cpus()
        or SERVER_CPU not in _all_cpus()
    ):
        return False
    try:
        os.sched_setaffinity(0, {LOADGEN_CPU})
    except OSError:
        return False
    return True


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--transport", choices=("grpc", "http", "both"), default="both")
    parser.add_argument("--batch", type=int, default=512, help="spans per export request [512]")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (connections) [8]")
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds per run [15]")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each run [2]")
    parser.add_argument(
        "--runs", type=int, default=3, help="runs per transport and target; medians reported [3]"
    )
    parser.add_argument("--rate", type=float, help="open loop: total spans/s to offer (default: closed loop)")
    parser.add_argument("--bodies", type=int, default=200, help="distinct pre-built request bodies [200]")
    parser.add_argument(
        "--target", choices=("prela", "blackhole", "both"), default="both", help="servers to measure [both]"
    )
    parser.add_argument(
        "--workers",
        type=int,
        help="`prela serve --workers N`, unpinned: on every CPU, the load generator's too [pinned, 1]",
    )
    parser.add_argument("--json", type=Path, help="write every number to this file")
    parser.add_argument("--keep", action="store_true", help="keep data dirs and server logs")
    parser.add_argument(
        "--profile", type=Path, help="py-spy the server during each measured phase; collapsed stacks here"
    )
    parser.add_argument("--profile-native", action="store_true", help="with --profile: native frames too")
    args = parser.parse_args(argv)
    for name in ("batch", "clients", "runs", "bodies"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name} must be > 0, got {getattr(args, name)}")
    if args.duration <= 0 or args.duration > 600:
        parser.error(f"--duration must be in (0, 600] seconds, got {args.duration}")
    if args.rate is not None and args.rate <= 0:
        parser.error(f"--rate must be > 0 spans/s, got {args.rate}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pinned_self = _pin_self()
    transports = ["grpc", "http"] if args.transport == "both" else [args.transport]
    targets = ["blackhole", "prela"] if args.target == "both" else [args.target]

    started = time.perf_counter()
    payloads = build_payloads(args.bodies, args.batch)
    print(
        f"payloads: {len(payloads.bodies)} bodies x {payloads.batch} spans, "
        f"span {payloads.span_bytes_mean:.0f} B mean ({payloads.span_bytes_min}..{payloads.span_bytes_max} B, "
        f"{payloads.attributes_mean:.1f} attributes), body {payloads.body_bytes_mean / 1024:.0f} KiB, "
        f"built in {time.perf_counter() - started:.1f}s"
    )
    print(
        (
            f"cpus: {os.cpu_count()}, server on CPU {SERVER_CPU} ({'taskset' if _pin_prefix(SERVER_CPU) else 'UNPINNED'}), "
            if args.workers is None
            else f"cpus: {os.cpu_count()}, prela serve --workers {args.workers} on every CPU (UNPINNED, shared), "
        )
        + f"load generator on CPU {LOADGEN_CPU} ({'pinned' if pinned_self else 'UNPINNED'}); "
        f"{args.clients} clients, {args.duration:g}s (+{args.warmup:g}s warm-up) x {args.runs} runs, "
        + (f"open loop {args.rate:,.0f} spans/s" if args.rate else "closed loop")
    )

    results: dict[str, dict[str, dict[str, Any]]] = {
        t: {g: {"runs": []} for g in targets} for t in transports
    }
    work_dir = Path(tempfile.mkdtemp(prefix="prela-bench-"))
    try:
        for run in range(1, args.runs + 1):
            for transport in transports:
                for target in targets:
                    tag = f"{target}-{transport}-{run}"
                    result = run_once(target, transport, payloads, args, work_dir, tag)
                    results[transport][target]["runs"].append(result)
                    e2e = (
                        f" stored {result['stored_final']:,}/{result['accepted_distinct']:,} distinct"
                        f" (raw {result['stored_raw']:,}/{result['accepted_total']:,})"
                        if "stored_final" in result
                        else ""
                    )
                    print(
                        f"  run {run} {transport:<4} {target:<9} {result['spans_per_s']:>9,.0f} spans/s "
                        f"p99 {result['lat_p99_ms']:.1f} ms, cpu {result['cpu_s_per_100k']:.2f} s/100k, "
                        f"RSS {result['peak_rss_mib']:.0f} MiB, refused {result['refused']}, "
                        f"errors {result['errors']}{e2e}",
                        flush=True,
                    )
                    top = sorted(result["server_cpu_s_by_thread"].items(), key=lambda kv: -kv[1])[:6]
                    print("    server CPU-s by thread: " + ", ".join(f"{n} {v:.1f}" for n, v in top))
                    for sample in result["error_samples"][:2]:
                        print(f"    sample: {sample[:200]}")
        for transport in transports:
            by_target = results[transport]
            if "blackhole" in by_target and "prela" in by_target:
                for prela_run, bh_run in zip(
                    by_target["prela"]["runs"], by_target["blackhole"]["runs"], strict=True
                ):
                    prela_run["ratio_vs_blackhole"] = prela_run["spans_per_s"] / bh_run["spans_per_s"]
            for entry in by_target.values():
                entry["summary"] = summarize(entry["runs"])
    finally:
        if args.keep:
            print(f"kept: {work_dir}")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)

    print()
    print_table(results, args.rate)
    if args.json:
        document = {
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "python": platform.python_version(),
                "server_pinned": bool(_pin_prefix(SERVER_CPU)) and args.workers is None,
                "server_workers": args.workers or 1,
                "loadgen_pinned": pinned_self,
            },
            "git": _git_state(),
            "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "payload": {
                "bodies": len(payloads.bodies),
                "batch": payloads.batch,
                "span_bytes_mean": payloads.span_bytes_mean,
                "span_bytes_min": payloads.span_bytes_min,
                "span_bytes_max": payloads.span_bytes_max,
                "attributes_mean": payloads.attributes_mean,
                "body_bytes_mean": payloads.body_bytes_mean,
            },
            "results": results,
        }
        args.json.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
