"""OTLP/HTTP receiver (`POST /v1/traces`, `/v1/logs`, `/v1/metrics`: protobuf or JSON, optionally
gzip) plus the seed's Prela JSON on `/v1/traces`.

Answers follow the OTLP/HTTP spec: the response body has the request's
encoding; failures carry a `google.rpc.Status`; retryable failures are 503
with Retry-After; partial success lists `rejected_spans`.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from google.rpc.status_pb2 import Status
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from prela.auth import AuthUnavailable, Principal, Unauthenticated
from prela.collector.admission import AdmissionLimiter, AdmissionMiddleware
from prela.collector.errors import InvalidPayload, PayloadTooLarge, RateLimited, UnsupportedMediaType
from prela.collector.ingest import Ingest, raw_otlp_json
from prela.collector.otlp_json import otlp_json_to_request
from prela.collector.otlp_logs import otlp_json_to_logs_request
from prela.collector.otlp_metrics import otlp_json_to_metrics_request
from prela.collector.otlp_signals import LOGS, METRICS, TRACES, OtlpSignal, export_protobuf
from prela.collector.prela_json import is_prela_trace
from prela.exporters.base import ExportError, PayloadKind, RawRequest
from prela.telemetry.health import HealthCheck, health_endpoint
from prela.telemetry.metrics import RECEIVER_REFUSED_REQUESTS, RECEIVER_REQUEST_SECONDS, metrics_endpoint

logger = logging.getLogger(__name__)

TRANSPORT = "http"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_PROTOBUF_TYPES = {PROTOBUF, "application/protobuf"}

# google.rpc.Code values used in Status bodies
_INVALID_ARGUMENT, _RESOURCE_EXHAUSTED, _UNAVAILABLE, _UNAUTHENTICATED = 3, 8, 14, 16

Authenticate = Callable[[Mapping[str, str]], Awaitable[Principal]]
Handler = Callable[[bytes, Principal], Awaitable[Response]]


def _parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidPayload(f"body is not valid JSON: {exc}") from None


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, decompressed, refusing more than `limit` bytes before and after."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body of {declared} bytes exceeds the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    if await request.is_disconnected():  # the client gave up while it waited: do no work for nobody
        raise ClientDisconnect()
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip", "deflate"):
        return _inflate(body, encoding, limit)
    raise UnsupportedMediaType(f"Content-Encoding {encoding!r} is not supported; use gzip or identity")


def _inflate(body: bytes, encoding: str, limit: int) -> bytes:
    # wbits: 16+ for the gzip wrapper, 32+ auto-detects zlib/gzip for deflate senders.
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS if encoding != "deflate" else 32 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
        if len(out) > limit or inflater.unconsumed_tail:
            raise PayloadTooLarge(f"decompressed request body exceeds the limit of {limit} bytes")
        if not inflater.eof:
            raise InvalidPayload(f"{encoding} body is truncated")
    except zlib.error as exc:
        raise InvalidPayload(f"body is not valid {encoding}: {exc}") from None
    return out


class OtlpHttpReceiver:
    def __init__(
        self, ingest: Ingest, max_request_bytes: int, retry_after_s: int, authenticate: Authenticate
    ) -> None:
        self._ingest = ingest
        self._limit = max_request_bytes
        self._retry_after = str(retry_after_s)
        self._authenticate = authenticate
        self._routes: dict[str, tuple[OtlpSignal, Handler]] = {
            "traces": (TRACES, self._json),
            "logs": (LOGS, self._logs_json),
            "metrics": (METRICS, self._metrics_json),
        }

    async def traces(self, request: Request) -> Response:
        return await self._timed(request, "traces")

    async def logs(self, request: Request) -> Response:
        """`POST /v1/logs`: OTLP log records (GenAI message events join their spans when read)."""
        return await self._timed(request, "logs")

    async def metrics(self, request: Request) -> Response:
        """`POST /v1/metrics`: OTLP metric data points."""
        return await self._timed(request, "metrics")

    async def _timed(self, request: Request, route: str) -> Response:
        started = time.perf_counter()
        response = await self._receive(request, route)
        elapsed = time.perf_counter() - started
        RECEIVER_REQUEST_SECONDS.labels(TRANSPORT).observe(elapsed)
        logger.info(
            "ingest request transport=http status=%d bytes=%s duration_ms=%.1f",
            response.status_code, request.headers.get("content-length", "-"), elapsed * 1000,
        )  # fmt: skip
        return response

    async def _receive(self, request: Request, route: str) -> Response:
        """The connection's work (media type, credentials, body within the limit), then `answer`."""
        media = _media_type(request)
        try:
            if media != JSON and media not in _PROTOBUF_TYPES:
                raise UnsupportedMediaType(
                    f"Content-Type {media or '(none)'!r} is not supported; send {PROTOBUF} or {JSON}"
                )
            principal = await self._authenticate(request.headers)
            body = await read_body(request, self._limit)
        except Exception as exc:
            return self._refusal(exc, media)
        return await self.answer(route, media, body, principal)

    async def answer(self, route: str, media: str, body: bytes, principal: Principal) -> Response:
        """The answer to an authenticated request of `route` (traces, logs, metrics) with its body read.

        `prela serve --workers N`: a receiver worker overrides it to forward to the owner (server/forward.py).
        """
        try:
            signal, json = self._routes[route]
            if media in _PROTOBUF_TYPES:
                return await self._protobuf(signal, body, principal)
            return await json(body, principal)
        except Exception as exc:
            return self._refusal(exc, media)

    def _refusal(self, exc: Exception, media: str) -> Response:
        """The answer to a refused request: re-raises what is not a refusal."""
        # Errors answer in the request's encoding: a protobuf Status to protobuf requests, else JSON
        # (also for a missing or unknown Content-Type, so that a person can read why).
        as_json = media not in _PROTOBUF_TYPES
        if isinstance(exc, Unauthenticated):
            headers = {"WWW-Authenticate": exc.www_authenticate}
            return self._refuse("auth", 401, _UNAUTHENTICATED, exc.message, as_json, headers)
        if isinstance(exc, AuthUnavailable):
            headers = {"Retry-After": self._retry_after}
            return self._refuse("auth_unavailable", 503, _UNAVAILABLE, str(exc), as_json, headers)
        if isinstance(exc, RateLimited):
            headers = {"Retry-After": exc.retry_after}
            return self._refuse("rate_limited", 429, _RESOURCE_EXHAUSTED, str(exc), as_json, headers)
        if isinstance(exc, InvalidPayload):
            return self._refuse("decode", 400, _INVALID_ARGUMENT, str(exc), as_json)
        if isinstance(exc, PayloadTooLarge):
            return self._refuse("too_large", 413, _RESOURCE_EXHAUSTED, str(exc), as_json)
        if isinstance(exc, UnsupportedMediaType):
            return self._refuse("unsupported_media", 415, _INVALID_ARGUMENT, str(exc), as_json)
        if isinstance(exc, ExportError):
            return self._refuse(
                exc.reason, 503, _UNAVAILABLE, str(exc), as_json, {"Retry-After": self._retry_after}
            )
        if isinstance(exc, ClientDisconnect):
            return self._refuse("disconnected", 400, _INVALID_ARGUMENT, "client disconnected", as_json)
        raise exc

    def unavailable(self, reason: str, message: str, media: str) -> Response:
        """A retryable refusal (503 + Retry-After) in the request's encoding."""
        as_json = media not in _PROTOBUF_TYPES
        headers = {"Retry-After": self._retry_after}
        return self._refuse(reason, 503, _UNAVAILABLE, message, as_json, headers)

    async def _protobuf(self, signal: OtlpSignal, body: bytes, principal: Principal) -> Response:
        response = await export_protobuf(
            self._ingest, signal, body, principal, TRANSPORT, "body is not a valid {name} protobuf"
        )
        return Response(response.SerializeToString(), media_type=PROTOBUF)

    async def _json(self, body: bytes, principal: Principal) -> Response:
        try:
            doc: Any = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise InvalidPayload(f"body is not valid JSON: {exc}") from None
        if is_prela_trace(doc):
            trace_id = await self._ingest.export_prela(
                doc, principal, TRANSPORT, RawRequest(PayloadKind.PRELA_JSON, body)
            )
            return JSONResponse({"status": "accepted", "trace_id": trace_id})
        if not isinstance(doc, dict):
            raise InvalidPayload(
                f"JSON body must be an object (OTLP ExportTraceServiceRequest or a Prela trace), "
                f"got {type(doc).__name__}"
            )
        request = otlp_json_to_request(doc)
        result = await self._ingest.export_otlp(request, principal, TRANSPORT, raw_otlp_json(request))
        partial: dict[str, Any] = {}
        if result.rejected:
            # proto3 JSON mapping: int64 as a string
            partial = {"rejectedSpans": str(result.rejected), "errorMessage": result.message}
        return JSONResponse({"partialSuccess": partial})

    # --- logs and metrics: the same rules, their own messages -----------------------------------

    async def _logs_json(self, body: bytes, principal: Principal) -> Response:
        otlp = otlp_json_to_logs_request(_parse_json(body))
        raw = RawRequest(PayloadKind.OTLP_LOGS, otlp.SerializeToString())
        result = await self._ingest.export_logs(otlp, principal, TRANSPORT, raw)
        partial = {"rejectedLogRecords": str(result.rejected), "errorMessage": result.message}
        return JSONResponse({"partialSuccess": partial if result.rejected else {}})

    async def _metrics_json(self, body: bytes, principal: Principal) -> Response:
        otlp = otlp_json_to_metrics_request(_parse_json(body))
        raw = RawRequest(PayloadKind.OTLP_METRICS, otlp.SerializeToString())
        result = await self._ingest.export_metrics(otlp, principal, TRANSPORT, raw)
        partial = {"rejectedDataPoints": str(result.rejected), "errorMessage": result.message}
        return JSONResponse({"partialSuccess": partial if result.rejected else {}})

    def _refuse(
        self,
        reason: str,
        http_status: int,
        code: int,
        message: str,
        as_json: bool,
        headers: dict[str, str] | None = None,
    ) -> Response:
        RECEIVER_REFUSED_REQUESTS.labels(TRANSPORT, reason).inc()
        logger.info(
            "ingest refused transport=http http_status=%d reason=%s message=%r",
            http_status,
            reason,
            message[:300],
        )
        if as_json:
            return JSONResponse({"code": code, "message": message}, status_code=http_status, headers=headers)
        body = Status(code=code, message=message).SerializeToString()
        return Response(body, status_code=http_status, media_type=PROTOBUF, headers=headers)


def build_otlp_http_app(
    receiver: OtlpHttpReceiver,
    cors_origins: list[str] | None = None,
    health: HealthCheck | None = None,
    ready: HealthCheck | None = None,
    admission: AdmissionLimiter | None = None,
) -> Starlette:
    """`/v1/traces`, `/health` (dependency state, cheap), `/ready` (live dependency probes), `/metrics`.

    With `admission`, every POST is admitted through it before its body is read (503 + Retry-After beyond).
    """
    middleware = [Middleware(AdmissionMiddleware, limiter=admission)] if admission is not None else []
    if cors_origins:  # browser SDKs post from the app's origin
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=cors_origins,
                allow_methods=["POST", "OPTIONS"],
                allow_headers=["Content-Type", "Content-Encoding", "X-API-Key", "Authorization"],
            )
        )
    return Starlette(
        routes=[
            Route("/v1/traces", receiver.traces, methods=["POST"]),
            Route("/v1/logs", receiver.logs, methods=["POST"]),
            Route("/v1/metrics", receiver.metrics, methods=["POST"]),
            Route("/health", health_endpoint(health), methods=["GET"]),
            Route("/ready", health_endpoint(ready or health), methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ],
        middleware=middleware,
    )
