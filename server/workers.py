"""`--workers N`: one supervisor process runs N worker processes of a role, so a bigger machine scales
without an orchestrator.

A worker is the same command re-executed with the hidden flag `--worker-index i` (a fresh interpreter:
nothing forked after threads, grpc or chDB started). The supervisor forwards SIGTERM/SIGINT, waits for
every worker to drain, and exits non-zero when any worker failed.

Policy for a worker that dies while the role runs: it is logged at ERROR with its exit status and
restarted after a back-off (1 s doubling to 30 s, back to 1 s after a minute of running), so one crash
does not take the other workers' connections down; the supervisor's exit code is still 1 at the end,
so the failure is not silent to an orchestrator either. A worker that exits with 2 (a start error: a
port, the configuration) is not restarted: every worker is stopped and the supervisor exits 2.

A worker whose supervisor disappears (kill -9) stops by itself (`watch_parent`): no orphan keeps the
ports or the data dir.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence

from prela.server.settings import Settings

logger = logging.getLogger(__name__)

WORKER_FLAG = "--worker-index"
START_ERROR = 2  # the exit code of a usage or configuration error (click, ListenerError)
FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0
HEALTHY_RUN_S = 60.0  # a worker that ran this long restarts after the first back-off again
STOP_MARGIN_S = 10.0  # beyond the drain timeout, before a worker that does not stop is killed


def role_arguments(role: str, settings: Settings) -> list[str]:
    """`prela <role>` with the effective settings that flags can set (the rest is in the inherited
    environment): what every worker of the role runs, whatever the supervisor's own command line was."""
    flags: dict[str, list[tuple[str, object]]] = {
        "serve": [("--data-dir", settings.data_dir), ("--host", settings.host),
                  ("--otlp-grpc-port", settings.otlp_grpc_port), ("--otlp-http-port", settings.otlp_http_port),
                  ("--query-port", settings.query_port)],
        "collector": [("--data-dir", settings.data_dir), ("--host", settings.host),
                      ("--otlp-grpc-port", settings.otlp_grpc_port),
                      ("--otlp-http-port", settings.otlp_http_port), ("--metrics-port", settings.metrics_port)],
        "writer": [("--group", settings.writer_group), ("--host", settings.host),
                   ("--metrics-port", settings.metrics_port),
                   *(("--otlp-topic", topic) for topic in settings.otlp_topics()),
                   *((("--default-project", settings.kafka_default_project),)
                     if settings.kafka_default_project else ())],
    }  # fmt: skip
    if role in ("serve", "collector"):
        flags[role] += [
            ("--admission-max-requests", settings.admission_max_requests),
            ("--admission-max-bytes", settings.admission_max_bytes),
            ("--admission-max-queue", settings.admission_max_queue),
            ("--admission-max-wait-ms", settings.admission_max_wait_ms),
        ]
    return [
        role,
        *(str(a) for flag, value in flags[role] for a in (flag, value)),
        "--workers",
        str(settings.workers),
    ]


def worker_command(index: int, arguments: Sequence[str]) -> list[str]:
    """The command line of worker `index`: `arguments` (see `role_arguments`) with the hidden worker flag."""
    return [sys.executable, "-m", "prela.server", *arguments, WORKER_FLAG, str(index)]


class WorkerPool:
    """Worker processes `indexes` of `role`, each `command(i)` (see `worker_command`), supervised until `stop()`."""

    def __init__(
        self,
        role: str,
        indexes: Sequence[int],
        drain_timeout_s: float,
        command: Callable[[int], list[str]],
    ) -> None:
        self._role = role
        self._indexes = list(indexes)
        self._drain_timeout_s = drain_timeout_s
        self._command = command
        self._processes: dict[int, asyncio.subprocess.Process] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self.failed = False  # a worker died, or did not stop cleanly
        self.start_error = asyncio.Event()  # a worker could not start: the role cannot run

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._keep(index)) for index in self._indexes]

    async def _keep(self, index: int) -> None:
        backoff = FIRST_BACKOFF_S
        while not self._stopping.is_set():
            started = time.monotonic()
            process = await asyncio.create_subprocess_exec(*self._command(index))
            self._processes[index] = process
            logger.info("worker started role=%s worker=%d pid=%d", self._role, index, process.pid)
            code = await process.wait()
            if self._stopping.is_set():
                self._stopped(index, process.pid, code)
                return
            self.failed = True
            if code == START_ERROR:
                logger.error(
                    "worker could not start role=%s worker=%d pid=%d exit=%d: not restarted",
                    self._role, index, process.pid, code,
                )  # fmt: skip
                self.start_error.set()
                return
            if time.monotonic() - started >= HEALTHY_RUN_S:
                backoff = FIRST_BACKOFF_S
            logger.error(
                "worker died role=%s worker=%d pid=%d exit=%s restart_in_s=%.0f",
                self._role, index, process.pid, _status(code), backoff,
            )  # fmt: skip
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    def _stopped(self, index: int, pid: int, code: int) -> None:
        if code == 0:
            logger.info("worker stopped role=%s worker=%d pid=%d", self._role, index, pid)
            return
        self.failed = True
        logger.error(
            "worker failed to drain role=%s worker=%d pid=%d exit=%s", self._role, index, pid, _status(code)
        )

    async def stop(self) -> bool:
        """SIGTERM every worker, wait for their drain (killing what outlives it); True when none failed."""
        self._stopping.set()
        for process in self._processes.values():
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        deadline = self._drain_timeout_s + STOP_MARGIN_S
        if not self._tasks:
            return not self.failed
        _, pending = await asyncio.wait(self._tasks, timeout=deadline)  # does not cancel them
        if pending:
            for index, process in self._processes.items():
                if process.returncode is None:
                    logger.error(
                        "worker did not stop in %.0fs, killed role=%s worker=%d", deadline, self._role, index
                    )
                    process.kill()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self.failed = True
        return not self.failed


def _status(code: int) -> str:
    """An exit code as a person reads it: `-9` is `signal SIGKILL`."""
    if code < 0:
        return f"signal {signal.Signals(-code).name}"
    return str(code)


def supervise(role: str, settings: Settings) -> int:
    """The supervisor of `prela <role> --workers N`: returns its exit code (0, 1 or 2)."""
    workers, arguments = settings.workers, role_arguments(role, settings)

    async def run() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        pool = WorkerPool(
            role, range(workers), settings.drain_timeout_s, lambda i: worker_command(i, arguments)
        )
        pool.start()
        logger.info("supervisor ready role=%s workers=%d pid=%d", role, workers, os.getpid())
        waits = [asyncio.create_task(stop.wait()), asyncio.create_task(pool.start_error.wait())]
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for wait in waits:
            wait.cancel()
        if pool.start_error.is_set():
            logger.error("supervisor stopping role=%s: a worker could not start", role)
        logger.info("supervisor stopping role=%s: every worker drains", role)
        clean = await pool.stop()
        if pool.start_error.is_set():
            return START_ERROR
        return 0 if clean else 1

    return asyncio.run(run())


async def watch_parent(stop: asyncio.Event, interval_s: float = 1.0) -> None:
    """Set `stop` when the supervisor that started this worker is gone (the worker was re-parented)."""
    parent = os.getppid()
    while not stop.is_set():
        if os.getppid() != parent:
            logger.error("the supervisor pid=%d is gone: stopping this worker", parent)
            stop.set()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)


def with_parent_watch(
    main: Callable[[asyncio.Event], Awaitable[bool]],
) -> Callable[[asyncio.Event], Awaitable[bool]]:
    """`main` of a worker, stopping also when its supervisor disappears."""

    async def run(stop: asyncio.Event) -> bool:
        watcher = asyncio.create_task(watch_parent(stop))
        try:
            return await main(stop)
        finally:
            watcher.cancel()

    return run
