"""`prela serve --workers N`: receiver workers forward authenticated requests to the process that owns
chDB, the write-ahead log and the query API.

The owner and N-1 receiver workers share the OTLP ports (SO_REUSEPORT). A receiver worker does the
connection's work — HTTP/gRPC parsing, body read, size limits, decompression, authentication, admission —
then sends (transport, signal, media type, principal, decompressed body) to the owner over a Unix socket
in the data dir and relays the owner's answer: status, headers and body, or gRPC status and response
with its partial success. The owner answers with its own receivers' `answer` (the answer a client
connected to it would get), so a span is acknowledged only after the owner acknowledged it. Owner gone
or unreachable: 503 + Retry-After / UNAVAILABLE, which every OTLP exporter retries.

Credentials are validated in the worker (same project store: SQLite in the data dir or DATABASE_URL);
the principal travels with the request and the owner's ingest applies its rate limits.

Frame (both ways): 4-byte header length, 4-byte body length (big-endian), JSON header, body.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import struct
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, cast

import grpc
import orjson
from google.protobuf.message import Message
from starlette.responses import Response

from prela.auth import AuthRuntime, Principal
from prela.collector.admission import AdmissionLimiter, AdmissionRefused
from prela.collector.ingest import Ingest
from prela.collector.otlp_grpc import GrpcRefusal, OtlpGrpcReceiver, build_grpc_server, grpc_refusal
from prela.collector.otlp_http import Authenticate, OtlpHttpReceiver, build_otlp_http_app
from prela.collector.otlp_signals import LOGS, METRICS, TRACES, OtlpSignal
from prela.server.access import auth_config
from prela.server.compose import admission_limiter
from prela.server.runtime import Servers, http_server
from prela.server.settings import ConfigurationError, Settings
from prela.server.workers import WorkerPool, role_arguments, with_parent_watch, worker_command

logger = logging.getLogger(__name__)

_FRAME = struct.Struct(">II")
_MAX_HEADER_BYTES = 64 * 1024
_UNIX_PATH_MAX = 100  # sun_path holds 108 bytes; keep a margin
SIGNALS: dict[str, OtlpSignal] = {"traces": TRACES, "logs": LOGS, "metrics": METRICS}
_ROUTE_OF = {id(signal): route for route, signal in SIGNALS.items()}
OWNER_UNAVAILABLE = "owner_unavailable"

HealthCheck = Callable[[], Awaitable[dict[str, Any]]]


class OwnerUnavailable(Exception):
    """The owner could not be reached or did not answer: nothing is known to be stored."""


def socket_path(data_dir: Path) -> Path:
    """`<data dir>/ingest.sock`, or a path under the temp dir named after the data dir when that is too
    long for a Unix socket."""
    path = data_dir.resolve() / "ingest.sock"
    if len(str(path)) <= _UNIX_PATH_MAX:
        return path
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"prela-{digest}.sock"


async def _read_frame(reader: asyncio.StreamReader) -> tuple[dict[str, Any], bytes]:
    header_len, body_len = _FRAME.unpack(await reader.readexactly(_FRAME.size))
    if header_len > _MAX_HEADER_BYTES:
        raise ValueError(f"forward frame header of {header_len} bytes exceeds {_MAX_HEADER_BYTES}")
    header = orjson.loads(await reader.readexactly(header_len))
    body = await reader.readexactly(body_len) if body_len else b""
    return header, body


def _write_frame(writer: asyncio.StreamWriter, header: dict[str, Any], body: bytes) -> None:
    encoded = orjson.dumps(header)
    writer.write(_FRAME.pack(len(encoded), len(body)) + encoded)
    if body:
        writer.write(body)


def _principal_fields(principal: Principal) -> list[str | None]:
    return [principal.project_id, principal.key_id, principal.subject, principal.method]


def _principal(fields: list[Any]) -> Principal:
    project_id, key_id, subject, method = fields
    return Principal(project_id, key_id, subject, method)


async def _authenticated_by_the_worker(headers: Mapping[str, str]) -> Principal:
    raise RuntimeError("a forwarded request carries the principal the receiver worker authenticated")


# --- the owner's side ---------------------------------------------------------------------------


class ForwardServer:
    """The owner's Unix socket: runs forwarded requests through its own receivers' `answer`."""

    def __init__(
        self,
        path: Path,
        ingest: Ingest,
        settings: Settings,
        admission: AdmissionLimiter,
        health: HealthCheck,
        ready: HealthCheck,
    ) -> None:
        self.path = path
        # `answer` only: a forwarded request was authenticated by the worker that received it.
        self._grpc = OtlpGrpcReceiver(ingest, _authenticated_by_the_worker)
        self._http = OtlpHttpReceiver(
            ingest, settings.max_request_bytes, settings.retry_after_seconds, _authenticated_by_the_worker
        )
        self._admission = admission
        self._checks = {"health": health, "ready": ready}
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.forwarded_requests = 0

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # left by an owner killed before; the data-dir lock says none runs now
        self._server = await asyncio.start_unix_server(self._connection, path=str(self.path))

    async def stop(self) -> None:
        """Refuse new connections, let the requests in flight finish."""
        if self._server is None:
            return
        self._server.close()
        if self._connections:
            await asyncio.wait(self._connections, timeout=5)
        for task in self._connections:
            task.cancel()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        logger.info("forward socket closed forwarded_requests=%d", self.forwarded_requests)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            while True:
                try:
                    header, body = await _read_frame(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return  # the worker closed the connection
                answer, answer_body = await self.answer(header, body)
                _write_frame(writer, answer, answer_body)
                await writer.drain()
        except Exception:
            logger.exception("forwarded request failed")
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()

    async def answer(self, header: dict[str, Any], body: bytes) -> tuple[dict[str, Any], bytes]:
        """The answer header and body to one forwarded request."""
        kind = header["t"]
        if kind in self._checks:
            return {"checks": await self._checks[kind]()}, b""
        principal = _principal(header["p"])
        self.forwarded_requests += 1
        try:
            async with self._admission.admit(len(body)):
                if kind == "grpc":
                    return await self._answer_grpc(SIGNALS[header["r"]], body, principal)
                response = await self._http.answer(header["r"], header["m"], body, principal)
        except AdmissionRefused as refused:
            if kind == "grpc":
                return {
                    "c": grpc.StatusCode.UNAVAILABLE.value[0],
                    "r": refused.reason,
                    "m": refused.message,
                }, b""
            response = self._http.unavailable(refused.reason, refused.message, header["m"])
        headers = {k: v for k, v in response.headers.items() if k != "content-length"}
        return {"s": response.status_code, "h": headers}, bytes(response.body)

    async def _answer_grpc(
        self, signal: OtlpSignal, body: bytes, principal: Principal
    ) -> tuple[dict[str, Any], bytes]:
        try:
            response = await self._grpc.answer(signal, body, principal)
        except Exception as exc:
            refusal = grpc_refusal(exc)
            if refusal is None:
                raise
            reason, code, message = refusal
            return {"c": code.value[0], "r": reason, "m": message}, b""
        return {"c": 0}, response.SerializeToString()


# --- the receiver worker's side -----------------------------------------------------------------


class OwnerClient:
    """Connections to the owner's socket, one per request in flight, kept open for the next."""

    def __init__(self, path: Path, timeout_s: float) -> None:
        self._path = path
        self._timeout_s = timeout_s
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def call(self, header: dict[str, Any], body: bytes) -> tuple[dict[str, Any], bytes]:
        """The owner's answer; OwnerUnavailable when it cannot be had (connect, reset, timeout)."""
        try:
            connection = self._idle.pop() if self._idle else await self._connect()
        except OSError as exc:
            raise OwnerUnavailable(f"the ingest owner is not reachable at {self._path}: {exc}") from None
        reader, writer = connection
        try:
            _write_frame(writer, header, body)
            await writer.drain()
            answer = await asyncio.wait_for(_read_frame(reader), self._timeout_s)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
            writer.close()
            raise OwnerUnavailable(f"the ingest owner did not answer: {exc!r}") from None
        self._idle.append(connection)
        return answer

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_unix_connection(str(self._path), limit=1 << 20)

    def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()


_NO_INGEST = cast(Ingest, None)  # the forwarding receivers override `answer`: the owner ingests


class ForwardingHttpReceiver(OtlpHttpReceiver):
    """OTLP/HTTP in a receiver worker: everything but the ingest, which the owner does."""

    def __init__(self, owner: OwnerClient, settings: Settings, authenticate: Authenticate) -> None:
        super().__init__(_NO_INGEST, settings.max_request_bytes, settings.retry_after_seconds, authenticate)
        self._owner = owner

    async def answer(self, route: str, media: str, body: bytes, principal: Principal) -> Response:
        header = {"t": "http", "r": route, "m": media, "p": _principal_fields(principal)}
        try:
            answer, answer_body = await self._owner.call(header, body)
        except OwnerUnavailable as exc:
            return self.unavailable(OWNER_UNAVAILABLE, str(exc), media)
        return Response(answer_body, status_code=answer["s"], headers=answer["h"])


class ForwardingGrpcReceiver(OtlpGrpcReceiver):
    """OTLP/gRPC in a receiver worker: everything but the ingest, which the owner does."""

    def __init__(self, owner: OwnerClient, authenticate: Authenticate) -> None:
        super().__init__(_NO_INGEST, authenticate)
        self._owner = owner

    async def answer(self, signal: OtlpSignal, body: bytes, principal: Principal) -> Message:
        header = {"t": "grpc", "r": _ROUTE_OF[id(signal)], "p": _principal_fields(principal)}
        try:
            answer, answer_body = await self._owner.call(header, body)
        except OwnerUnavailable as exc:
            raise GrpcRefusal(OWNER_UNAVAILABLE, grpc.StatusCode.UNAVAILABLE, str(exc)) from None
        if answer["c"] != 0:
            raise GrpcRefusal(answer["r"], _STATUS_CODES[answer["c"]], answer["m"])
        return signal.response.FromString(answer_body)


_STATUS_CODES = {code.value[0]: code for code in grpc.StatusCode}


async def run_receiver(settings: Settings, index: int, stop: asyncio.Event) -> bool:
    """A receiver worker of `prela serve --workers N`: OTLP on the shared ports, ingest by the owner."""
    auth = await AuthRuntime.start(auth_config(settings), settings.data_dir)
    owner = OwnerClient(socket_path(settings.data_dir), timeout_s=settings.drain_timeout_s)

    async def owner_check(kind: str) -> dict[str, Any]:
        try:
            answer, _ = await owner.call({"t": kind}, b"")
        except OwnerUnavailable:
            return {"owner": False}
        return dict(answer["checks"])

    admission = admission_limiter(settings)
    try:
        grpc_server, grpc_port = build_grpc_server(
            ForwardingGrpcReceiver(owner, auth.ingest.authenticate),
            settings.host,
            settings.otlp_grpc_port,
            settings.max_request_bytes,
            admission,
            reuse_port=True,
        )
    except OSError as exc:
        raise ConfigurationError(f"{exc} (--otlp-grpc-port / PRELA_OTLP_GRPC_PORT)") from None
    app = build_otlp_http_app(
        ForwardingHttpReceiver(owner, settings, auth.ingest.authenticate),
        cors_origins=settings.cors_origins,
        health=lambda: owner_check("health"),
        ready=lambda: owner_check("ready"),
        admission=admission,
    )
    http = http_server(app, settings.host, settings.otlp_http_port, settings.drain_timeout_s, reuse_port=True)
    servers = Servers([http], grpc_server, settings.drain_timeout_s)
    started = await servers.start()
    if started:
        logger.info(
            "prela serve receiver ready worker=%d otlp_grpc=%s:%d otlp_http=%s:%d owner=%s",
            index, settings.host, grpc_port, settings.host, settings.otlp_http_port, owner._path,
        )  # fmt: skip
        await stop.wait()
    await servers.stop()  # in-flight requests finish: their forwards are answered by the owner
    owner.close()
    await auth.close()
    return started


def receiver_main(settings: Settings, index: int) -> Callable[[asyncio.Event], Awaitable[bool]]:
    return with_parent_watch(lambda stop: run_receiver(settings, index, stop))


class ReceiverWorkers:
    """The owner's half of `prela serve --workers N`: its forward socket and the N-1 receiver workers."""

    def __init__(self, settings: Settings, forward: ForwardServer) -> None:
        self._forward = forward
        arguments = role_arguments("serve", settings)
        self._pool = WorkerPool(
            "serve",
            range(1, settings.workers),
            settings.drain_timeout_s,
            lambda i: worker_command(i, arguments),
        )

    async def start_socket(self) -> None:
        """Before the owner's listeners: a worker's first request finds the socket."""
        await self._forward.start()

    def start_workers(self) -> None:
        self._pool.start()

    async def stop(self) -> bool:
        """Stop the workers (their in-flight forwards are answered), then the socket; True when none failed."""
        clean = await self._pool.stop()
        await self._forward.stop()
        return clean
