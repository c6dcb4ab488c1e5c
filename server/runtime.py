"""Process plumbing shared by every role: HTTP/gRPC servers on one event loop, signals, ordered stop."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import socket
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import uvicorn
from starlette.applications import Starlette

from prela.server.settings import ConfigurationError, Settings

logger = logging.getLogger(__name__)


class ListenerUnavailable(ConfigurationError):
    """A port of the role cannot be bound; the message names the address and the flag to change."""


@dataclass(frozen=True, slots=True)
class Listener:
    host: str
    port: int
    flag: str  # the CLI flag that moves it, e.g. --query-port
    env: str  # and its environment variable


def role_listeners(settings: Settings, role: str) -> list[Listener]:
    """Every port `role` listens on, with the flag and variable that set it."""
    grpc_port = Listener(settings.host, settings.otlp_grpc_port, "--otlp-grpc-port", "PRELA_OTLP_GRPC_PORT")
    http_port = Listener(settings.host, settings.otlp_http_port, "--otlp-http-port", "PRELA_OTLP_HTTP_PORT")
    query_flag = "--query-port" if role == "serve" else "--port"
    query_port = Listener(settings.host, settings.query_port, query_flag, "PRELA_QUERY_PORT")
    metrics_port = Listener(settings.host, settings.metrics_port, "--metrics-port", "PRELA_METRICS_PORT")
    # `--workers N`: writer worker i serves its health and metrics on the metrics port + i, and so does
    # collector worker i (its OTLP port's /metrics is whichever worker took the connection).
    worker_ports = [
        Listener(settings.host, settings.metrics_port + i, "--metrics-port", "PRELA_METRICS_PORT")
        for i in range(1, settings.workers if settings.metrics_port else 1)
    ]
    return {
        "serve": [grpc_port, http_port, query_port],
        "collector": [grpc_port, http_port, metrics_port, *worker_ports]
        if settings.workers > 1
        else [grpc_port, http_port],
        "query": [query_port],
        "writer": [metrics_port, *worker_ports],
    }.get(role, [])


def check_listeners(listeners: list[Listener]) -> None:
    """Raise `ListenerUnavailable` for the first port that cannot be bound, before any server starts.

    Each is bound and put to listening (as uvicorn and grpc will: SO_REUSEADDR, no SO_REUSEPORT) and held
    until all are checked, so two listeners given the same port are caught too. What a server would
    print about a failed bind (uvicorn's errno line, grpc core's) is never reached.
    """
    held: list[socket.socket] = []
    try:
        for listener in listeners:
            if listener.port != 0:
                held += _bind_all(listener)
    finally:
        for sock in held:
            sock.close()


def _bind_all(listener: Listener, reuse_port: bool = False) -> list[socket.socket]:
    address = f"{listener.host}:{listener.port}"
    if listener.port > 65535:  # the metrics port + i of a writer worker
        raise ListenerUnavailable(
            f"port {listener.port} is beyond 65535: pass {listener.flag} or set {listener.env}"
        )
    try:
        infos = socket.getaddrinfo(
            listener.host or None, listener.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise ListenerUnavailable(
            f"cannot listen on {address} ({exc.strerror}): pass another --host or set PRELA_HOST"
        ) from None
    bound: list[socket.socket] = []
    unavailable: OSError | None = None
    for family, kind, proto, _, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(sockaddr)
            sock.listen(2048 if reuse_port else 1)
            bound.append(sock)
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRNOTAVAIL:
                unavailable = exc  # that family is not enabled here; asyncio's servers skip it too
                continue
            for opened in bound:
                opened.close()
            raise ListenerUnavailable(_bind_error(listener, exc)) from None
    if not bound and unavailable is not None:
        raise ListenerUnavailable(_bind_error(listener, unavailable))
    return bound


def _bind_error(listener: Listener, exc: OSError) -> str:
    address = f"{listener.host}:{listener.port}"
    if exc.errno == errno.EADDRINUSE:
        return f"port {address} is in use: pass {listener.flag} or set {listener.env}"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {address} ({exc.strerror}): pass another --host or set PRELA_HOST"
    return f"cannot listen on {address} ({exc.strerror}): pass {listener.flag} or set {listener.env}"


class UvicornServer(uvicorn.Server):
    """A uvicorn server that leaves signals to the role, which may run several servers."""

    sockets: list[socket.socket] | None = None  # pre-bound listeners (SO_REUSEPORT), else uvicorn binds

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def http_server(
    app: Starlette, host: str, port: int, graceful_s: float, reuse_port: bool = False, uds: str | None = None
) -> UvicornServer:
    """A uvicorn server; `reuse_port` shares the port with the other workers (SO_REUSEPORT), `uds` listens
    on a Unix socket instead of host:port."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        uds=uds,
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=max(1, int(graceful_s)),
        limit_concurrency=4096,
        backlog=2048,
    )
    server = UvicornServer(config)
    if reuse_port:
        server.sockets = reuse_port_sockets(Listener(host, port, "", ""))
    return server


def reuse_port_sockets(listener: Listener) -> list[socket.socket]:
    """Listening sockets on every address of `listener` with SO_REUSEPORT: the kernel spreads the
    connections over every worker's socket. The supervisor has checked that no other program holds the
    port (`check_listeners`, which binds without SO_REUSEPORT)."""
    return _bind_all(listener, reuse_port=True)


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
        await server.serve(server.sockets)
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
