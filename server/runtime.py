"""Process plumbing shared by every role: HTTP/gRPC servers on one event loop, signals, ordered stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import grpc
import uvicorn
from starlette.applications import Starlette

logger = logging.getLogger(__name__)


class UvicornServer(uvicorn.Server):
    """A uvicorn server that leaves signals to the role, which may run several servers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def http_server(app: Starlette, host: str, port: int, graceful_s: float) -> UvicornServer:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=max(1, int(graceful_s)),
        limit_concurrency=4096,
        backlog=2048,
    )
    return UvicornServer(config)


class Servers:
    """Starts gRPC and HTTP servers together and stops them in order: refuse new work, finish in-flight."""

    def __init__(
        self, http: list[UvicornServer], grpc_server: grpc.aio.Server | None, graceful_s: float
    ) -> None:
        self._http = http
        self._grpc = grpc_server
        self._graceful_s = graceful_s
        self._tasks: list[asyncio.Task[Any]] = []

    async def start(self) -> bool:
        """True once every server listens; False when one could not start (uvicorn logged why)."""
        if self._grpc is not None:
            await self._grpc.start()
        self._tasks = [asyncio.create_task(_serve(s)) for s in self._http]
        while not all(s.started for s in self._http):
            if any(t.done() for t in self._tasks):
                return False
            await asyncio.sleep(0.02)
        return True

    async def stop(self) -> None:
        for server in self._http:
            server.should_exit = True
        stopping: list[Awaitable[Any]] = list(self._tasks)
        if self._grpc is not None:
            stopping.append(self._grpc.stop(self._graceful_s))
        await asyncio.gather(*stopping, return_exceptions=True)


async def _serve(server: UvicornServer) -> None:
    try:
        await server.serve()
    except SystemExit as exc:  # uvicorn exits the process when it cannot bind; let the role stop in order
        raise OSError(
            f"HTTP listener on {server.config.host}:{server.config.port} failed (exit {exc.code})"
        ) from None


def run_role(main: Callable[[asyncio.Event], Awaitable[bool]]) -> int:
    """Run `main(stop)` with SIGTERM/SIGINT setting `stop`; exit code 0 when it returns True."""

    async def runner() -> bool:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return await main(stop)

    return 0 if asyncio.run(runner()) else 1
