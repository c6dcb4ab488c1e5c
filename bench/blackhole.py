"""A do-nothing OTLP traces server: the Python gRPC/HTTP ceiling that Prela is measured against.

    python -m bench.blackhole --grpc-port 4317 --http-port 4318 [--refuse]

It runs the same stack as `prela serve` on one asyncio loop — a grpc.aio server
taking raw bytes and a starlette app under uvicorn with the same settings — and
for every request parses the `ExportTraceServiceRequest` with protobuf and
answers an empty `ExportTraceServiceResponse`. Nothing is mapped or stored.

With `--refuse` it refuses every request at once, before reading its body, as
Prela's admission does (gRPC UNAVAILABLE, HTTP 503 + Retry-After): the refusal
latency any Python server gets from a load generator on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator

import grpc
import uvicorn
from google.protobuf.message import DecodeError
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

logger = logging.getLogger(__name__)

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
PROTOBUF = "application/x-protobuf"
_EMPTY_RESPONSE = b""  # ExportTraceServiceResponse() serializes to no bytes
_MAX_REQUEST_BYTES = 16 * 1024 * 1024  # as `prela serve`


async def _grpc_export(body: bytes, context: grpc.aio.ServicerContext) -> bytes:
    try:
        ExportTraceServiceRequest.FromString(body)
    except DecodeError as exc:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"not an ExportTraceServiceRequest: {exc}")
    return _EMPTY_RESPONSE


_REFUSAL = "blackhole --refuse: refused before reading"


async def _grpc_refuse(requests: object, context: grpc.aio.ServicerContext) -> bytes:
    await context.abort(grpc.StatusCode.UNAVAILABLE, _REFUSAL)
    return _EMPTY_RESPONSE  # not reached: abort raises


_HTTP_REFUSAL = Status(code=grpc.StatusCode.UNAVAILABLE.value[0], message=_REFUSAL).SerializeToString()


async def _http_refuse(request: Request) -> Response:  # OTLP/HTTP: a google.rpc.Status body
    return Response(_HTTP_REFUSAL, status_code=503, media_type=PROTOBUF, headers={"Retry-After": "1"})


async def _http_traces(request: Request) -> Response:
    body = await request.body()
    try:
        ExportTraceServiceRequest.FromString(body)
    except DecodeError as exc:
        return Response(f"not an ExportTraceServiceRequest: {exc}", status_code=400)
    return Response(_EMPTY_RESPONSE, media_type=PROTOBUF)


async def _health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def build_http_app(refuse: bool = False) -> Starlette:
    return Starlette(
        routes=[
            Route("/v1/traces", _http_refuse if refuse else _http_traces, methods=["POST"]),
            Route("/health", _health, methods=["GET"]),
            Route("/api/v1/health", _health, methods=["GET"]),
        ]
    )


class _Server(uvicorn.Server):
    """Signals are handled by `main`, as in `prela serve`."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _http_server(host: str, port: int, refuse: bool) -> _Server:
    config = uvicorn.Config(
        build_http_app(refuse),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="off",
        limit_concurrency=2048,
        backlog=2048,
    )
    return _Server(config)


async def run(host: str, grpc_port: int, http_port: int, refuse: bool = False) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    grpc_server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", _MAX_REQUEST_BYTES),
            ("grpc.max_send_message_length", 4 * 1024 * 1024),
            ("grpc.http2.bdp_probe", 0),
        ]
    )
    grpc_server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                SERVICE,
                {
                    # refusing: served as client-streaming, answered before the message is read (as Prela)
                    "Export": grpc.stream_unary_rpc_method_handler(
                        _grpc_refuse, request_deserializer=None, response_serializer=None
                    )
                    if refuse
                    else grpc.unary_unary_rpc_method_handler(
                        _grpc_export, request_deserializer=None, response_serializer=None
                    )
                },
            ),
        )
    )
    if grpc_server.add_insecure_port(f"{host}:{grpc_port}") == 0:
        raise OSError(f"cannot bind gRPC to {host}:{grpc_port}")
    await grpc_server.start()
    http = _http_server(host, http_port, refuse)
    http_task = asyncio.create_task(http.serve())
    logger.info("blackhole ready grpc=%s:%d http=%s:%d", host, grpc_port, host, http_port)
    await stop.wait()
    http.should_exit = True
    await asyncio.gather(grpc_server.stop(1), http_task, return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--grpc-port", type=int, required=True)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--refuse", action="store_true", help="refuse every request at once, unread")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(run(args.host, args.grpc_port, args.http_port, args.refuse))


if __name__ == "__main__":
    main()
