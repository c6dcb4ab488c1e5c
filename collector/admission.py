"""Admission control for the ingest receivers: bounded work in flight, the rest refused fast and retryably.

One `AdmissionLimiter` is shared by every receiver of a process (OTLP/gRPC and
OTLP/HTTP, whatever the signal), because they share one event loop and one
core. A request is admitted before its body is decoded:

- at most `max_requests` requests and `max_bytes` body bytes are in flight (an
  idle limiter admits any one request, so an oversized one is not refused forever);
- beyond that a request waits in a FIFO of at most `max_queue` requests and
  `max_bytes` bytes, for at most `max_wait_s`: the wait is estimated on arrival
  (Little's law: waiters ahead, times the mean time a request is in flight, over
  `max_requests`) and a request that would wait longer is refused at once, so
  refusals cost microseconds instead of a client's whole timeout;
- while the pipeline behind the receivers is full (`downstream_full`: `serve`'s
  in-process queue) requests are refused at once, not decoded and mapped only
  to be refused by the queue;
- a caller that knows its client's deadline (gRPC) is refused with reason
  `deadline` when the deadline has passed or the estimated wait plus the
  mean time in flight does not fit in what remains.

A refusal is `AdmissionRefused`: HTTP answers 503 + Retry-After, gRPC
UNAVAILABLE with a `google.rpc.RetryInfo`; both are retried by the OTel exporters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import orjson
from google.protobuf.any_pb2 import Any as AnyProto
from google.protobuf.duration_pb2 import Duration
from google.rpc.error_details_pb2 import RetryInfo
from google.rpc.status_pb2 import Status
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from prela.telemetry.metrics import (
    ADMISSION_IN_FLIGHT,
    ADMISSION_IN_FLIGHT_BYTES,
    ADMISSION_OLDEST_WAIT_SECONDS,
    ADMISSION_QUEUED,
    ADMISSION_WAIT_SECONDS,
    RECEIVER_REFUSED_REQUESTS,
)

logger = logging.getLogger(__name__)

ADMISSION = "admission"  # the limits are full or the wait would be too long
DEADLINE = "deadline"  # the client's deadline has passed or cannot be met

_EWMA_WEIGHT = 0.2  # weight of the newest sample in the mean time in flight


class AdmissionRefused(Exception):
    """The request is refused before any work was done; the client should retry after `retry_after_s`."""

    def __init__(self, reason: str, message: str, retry_after_s: float, expired: bool = False) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retry_after_s = retry_after_s
        self.expired = expired  # the client's deadline had already passed: nobody waits for the answer

    @property
    def retry_after_header(self) -> str:
        """Retry-After in whole seconds (RFC 9110), at least 1."""
        return str(max(1, math.ceil(self.retry_after_s)))


@dataclass(slots=True)
class _Waiter:
    nbytes: int
    enqueued: float
    future: asyncio.Future[None]
    timer: asyncio.TimerHandle | None = None


@dataclass(slots=True)
class Admission:
    """An admitted request's share of the budget; `grow` charges bytes read after admission (chunked bodies)."""

    limiter: AdmissionLimiter
    nbytes: int
    admitted_at: float
    waited_s: float
    released: bool = field(default=False)

    def grow(self, nbytes: int) -> None:
        """Charge `nbytes` more; `AdmissionRefused` when the byte budget is exceeded and others are in flight."""
        self.limiter._grow(self, nbytes)


class AdmissionLimiter:
    """Requests and bytes in flight bounded; a short, time-bounded FIFO behind them; the rest refused."""

    def __init__(
        self,
        max_requests: int,
        max_bytes: int,
        max_queue: int,
        max_wait_s: float,
        retry_after_s: float,
        clock: Callable[[], float] = time.monotonic,
        downstream_full: Callable[[], bool] | None = None,
    ) -> None:
        if max_requests <= 0 or max_bytes <= 0 or max_queue < 0 or max_wait_s < 0:
            raise ValueError(
                f"admission limits must be positive (max_queue, max_wait_s >= 0), got max_requests="
                f"{max_requests} max_bytes={max_bytes} max_queue={max_queue} max_wait_s={max_wait_s}"
            )
        self.max_requests = max_requests
        self.max_bytes = max_bytes
        self.max_queue = max_queue
        self.max_wait_s = max_wait_s
        self.retry_after_s = retry_after_s
        self._clock = clock
        self._downstream_full = downstream_full
        self._requests = 0
        self._bytes = 0
        self._queued_bytes = 0
        self._waiters: deque[_Waiter] = deque()
        self._in_flight_s: float | None = None  # EWMA of the time a request is in flight (admit → release)
        ADMISSION_IN_FLIGHT.set_function(lambda: self._requests)
        ADMISSION_QUEUED.set_function(lambda: len(self._waiters))
        ADMISSION_IN_FLIGHT_BYTES.set_function(lambda: self._bytes)
        ADMISSION_OLDEST_WAIT_SECONDS.set_function(self.oldest_wait_s)

    @property
    def in_flight(self) -> int:
        return self._requests

    @property
    def in_flight_bytes(self) -> int:
        return self._bytes

    @property
    def queued(self) -> int:
        return len(self._waiters)

    def oldest_wait_s(self) -> float:
        """How long the oldest waiter has waited so far (0 when none waits)."""
        waiters = self._waiters
        return self._clock() - waiters[0].enqueued if waiters else 0.0

    @property
    def mean_in_flight_s(self) -> float:
        """The mean time a request is in flight (0 until one was released)."""
        return self._in_flight_s or 0.0

    def estimated_wait_s(self, ahead: int | None = None) -> float:
        """How long a request arriving now would wait for admission (Little's law on the recent past)."""
        waiting = len(self._waiters) if ahead is None else ahead
        if self._has_room(0) and not waiting:
            return 0.0
        return (waiting + 1) * self.mean_in_flight_s / self.max_requests

    @contextlib.asynccontextmanager
    async def admit(self, nbytes: int, time_remaining_s: float | None = None) -> AsyncIterator[Admission]:
        """Hold a share of the budget for the body of the block; `AdmissionRefused` when it cannot be had.

        `nbytes`: the body's size if known before reading it (Content-Length; gRPC: the message),
        else 0 and `Admission.grow` as it is read. `time_remaining_s`: the client's deadline, if known.
        """
        admission = await self.acquire(nbytes, time_remaining_s)
        try:
            yield admission
        finally:
            self.release(admission)

    async def acquire(self, nbytes: int, time_remaining_s: float | None = None) -> Admission:
        """`admit` without the block: pair with `release`."""
        nbytes = max(0, nbytes)
        now = self._clock()
        if time_remaining_s is not None and time_remaining_s <= 0:
            raise AdmissionRefused(
                DEADLINE, "the client's deadline passed before the request was processed",
                self.retry_after_s, expired=True,
            )  # fmt: skip
        if self._downstream_full is not None and self._downstream_full():
            raise self._refusal("the ingest queue is full")
        if not self._waiters and self._has_room(nbytes):
            if time_remaining_s is not None and time_remaining_s < self.mean_in_flight_s:
                raise self._deadline_refusal(time_remaining_s, 0.0)
            return self._take(nbytes, now, 0.0)
        wait = self.estimated_wait_s()
        if len(self._waiters) >= self.max_queue or self._queued_bytes + nbytes > self.max_bytes:
            raise self._refusal(f"{len(self._waiters)} requests already wait for admission")
        if wait > self.max_wait_s:
            raise self._refusal(f"the estimated wait of {wait:.2f} s exceeds {self.max_wait_s:.2f} s")
        budget = self.max_wait_s
        if time_remaining_s is not None:
            if wait + self.mean_in_flight_s > time_remaining_s:
                raise self._deadline_refusal(time_remaining_s, wait)
            budget = min(budget, time_remaining_s - self.mean_in_flight_s)
        return await self._wait(
            nbytes, now, budget, time_remaining_s is not None and budget < self.max_wait_s
        )

    def release(self, admission: Admission) -> None:
        if admission.released:
            return
        admission.released = True
        self._requests -= 1
        self._bytes -= admission.nbytes
        sample = self._clock() - admission.admitted_at
        previous = self._in_flight_s
        self._in_flight_s = sample if previous is None else previous + _EWMA_WEIGHT * (sample - previous)
        self._admit_waiters()

    # ------------------------------------------------------------------ internals

    def _has_room(self, nbytes: int) -> bool:
        if self._requests == 0:
            return True
        return self._requests < self.max_requests and self._bytes + nbytes <= self.max_bytes

    def _take(self, nbytes: int, now: float, waited_s: float) -> Admission:
        self._requests += 1
        self._bytes += nbytes
        ADMISSION_WAIT_SECONDS.observe(waited_s)
        return Admission(self, nbytes, now, waited_s)

    def _grow(self, admission: Admission, nbytes: int) -> None:
        if self._requests > 1 and self._bytes + nbytes > self.max_bytes:
            raise self._refusal(
                f"{self._bytes + nbytes} bytes in flight would exceed the budget of {self.max_bytes} bytes"
            )
        admission.nbytes += nbytes
        self._bytes += nbytes

    async def _wait(self, nbytes: int, now: float, budget_s: float, deadline_bound: bool) -> Admission:
        loop = asyncio.get_running_loop()
        waiter = _Waiter(nbytes, now, loop.create_future())
        self._waiters.append(waiter)
        self._queued_bytes += nbytes
        waiter.timer = loop.call_later(max(0.0, budget_s), self._expire, waiter, deadline_bound)
        try:
            await waiter.future
        except asyncio.CancelledError:
            # The caller went away (client disconnect, gRPC cancellation): give back what was handed over.
            if waiter.future.done() and not waiter.future.cancelled() and waiter.future.exception() is None:
                self._requests -= 1
                self._bytes -= nbytes
                self._admit_waiters()
            else:
                self._forget(waiter)
            raise
        return Admission(self, nbytes, self._clock(), self._clock() - now)

    def _expire(self, waiter: _Waiter, deadline_bound: bool) -> None:
        if waiter.future.done():
            return
        self._forget(waiter)
        waited = self._clock() - waiter.enqueued
        if deadline_bound:
            refusal = AdmissionRefused(
                DEADLINE, f"waited {waited:.2f} s for admission; the client's deadline cannot be met",
                self.retry_after_s,
            )  # fmt: skip
        else:
            refusal = self._refusal(
                f"waited {waited:.2f} s for admission, the bound is {self.max_wait_s:.2f} s"
            )
        waiter.future.set_exception(refusal)

    def _forget(self, waiter: _Waiter) -> None:
        if waiter.timer is not None:
            waiter.timer.cancel()
        with contextlib.suppress(ValueError):
            self._waiters.remove(waiter)
            self._queued_bytes -= waiter.nbytes

    def _admit_waiters(self) -> None:
        # The budget is handed over here, in FIFO order, so a woken waiter cannot lose it to a newcomer.
        while self._waiters and self._has_room(self._waiters[0].nbytes):
            waiter = self._waiters.popleft()
            self._queued_bytes -= waiter.nbytes
            if waiter.timer is not None:
                waiter.timer.cancel()
            if waiter.future.done():  # cancelled meanwhile
                continue
            self._requests += 1
            self._bytes += waiter.nbytes
            ADMISSION_WAIT_SECONDS.observe(self._clock() - waiter.enqueued)
            waiter.future.set_result(None)

    def _refusal(self, why: str) -> AdmissionRefused:
        return AdmissionRefused(
            ADMISSION,
            f"server overloaded: {why}; {self._requests} requests in flight; retry after {self.retry_after_s:g} s",
            self.retry_after_s,
        )

    def _deadline_refusal(self, remaining_s: float, wait_s: float) -> AdmissionRefused:
        return AdmissionRefused(
            DEADLINE,
            f"the client's deadline ({remaining_s:.3f} s left) cannot be met: estimated wait {wait_s:.3f} s "
            f"plus {self.mean_in_flight_s:.3f} s in flight",
            self.retry_after_s,
        )


# --------------------------------------------------------------------------- OTLP/HTTP

_PROTOBUF_TYPES = (b"application/x-protobuf", b"application/protobuf")
_UNAVAILABLE = 14  # google.rpc.Code


class AdmissionMiddleware:
    """ASGI middleware admitting every POST of an OTLP/HTTP app (every signal's endpoint) through `limiter`.

    The request is admitted on its Content-Length before the endpoint reads a byte; a body without one
    (chunked) is charged as it is read. A refusal is 503 with Retry-After, its body a `google.rpc.Status`
    in the request's encoding (protobuf, else JSON), as the OTLP/HTTP spec asks. The unread body is
    discarded by the server.
    """

    def __init__(self, app: ASGIApp, limiter: AdmissionLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        try:
            admission = await self.limiter.acquire(declared or 0)
        except AdmissionRefused as exc:
            await _refuse_http(scope, send, exc)
            return
        started = False

        async def counting_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                admission.grow(len(message.get("body", b"")))
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, receive if declared is not None else counting_receive, tracking_send)
        except AdmissionRefused as exc:  # a chunked body outgrew the byte budget while it was read
            if started:
                raise
            await _refuse_http(scope, send, exc)
        finally:
            self.limiter.release(admission)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _refuse_http(scope: Scope, send: Send, refused: AdmissionRefused) -> None:
    RECEIVER_REFUSED_REQUESTS.labels("http", refused.reason).inc()
    logger.debug("ingest refused transport=http reason=%s message=%r", refused.reason, refused.message)
    media = next((v for k, v in scope["headers"] if k == b"content-type"), b"").split(b";", 1)[0].strip()
    if media.lower() in _PROTOBUF_TYPES:
        body = Status(code=_UNAVAILABLE, message=refused.message).SerializeToString()
        content_type = b"application/x-protobuf"
    else:
        body = orjson.dumps({"code": _UNAVAILABLE, "message": refused.message})
        content_type = b"application/json"
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", refused.retry_after_header.encode()),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# --------------------------------------------------------------------------- OTLP/gRPC

RETRY_INFO_KEY = "google.rpc.retryinfo-bin"  # what the OTel Python exporter reads
STATUS_DETAILS_KEY = "grpc-status-details-bin"  # the standard rich status (Go, Java, collector exporters)


class AdmissionInterceptor(grpc.aio.ServerInterceptor):
    """Admits every unary RPC of a grpc.aio server (every OTLP service) through `limiter`, before its
    message is read.

    A unary handler of grpc.aio runs only once the whole request message has arrived, so a refusal
    decided there waits for every byte of an unwanted request (seconds on a saturated core, and grpc-core
    holds them meanwhile). The interceptor therefore serves each unary method as client-streaming (the
    same HTTP/2 stream on the wire; OTLP clients see no difference): admission is decided with the
    client's deadline first, and the one message is read only once admitted. Expired → DEADLINE_EXCEEDED
    (the client stopped waiting); over the limits or a deadline that cannot be met → UNAVAILABLE with a
    `google.rpc.RetryInfo`, retried by every OTLP exporter (RESOURCE_EXHAUSTED is retryable only with
    RetryInfo, and some exporters do not look). The size of an unread message is not known: it is charged
    at the mean of recent requests on admission and corrected once read.
    """

    def __init__(self, limiter: AdmissionLimiter) -> None:
        self.limiter = limiter
        self._mean_bytes = 0.0  # EWMA of request sizes: the charge of a message not read yet

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        behavior = handler.unary_unary
        deserialize = handler.request_deserializer
        limiter = self.limiter

        async def admitted(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
            estimate = int(self._mean_bytes)
            try:
                admission = await limiter.acquire(estimate, context.time_remaining())
            except AdmissionRefused as exc:
                await refuse_grpc(context, exc)
            try:
                request = await _single_message(requests, context)
                size = len(request) if isinstance(request, bytes) else 0
                self._mean_bytes += _EWMA_WEIGHT * (size - self._mean_bytes)
                try:
                    admission.grow(size - estimate)
                except AdmissionRefused as exc:
                    await refuse_grpc(context, exc)
                if deserialize is not None:
                    request = deserialize(request)
                return await behavior(request, context)
            finally:
                limiter.release(admission)

        # Raw bytes in: the handler's own deserializer runs after admission (above).
        return grpc.stream_unary_rpc_method_handler(
            admitted, request_deserializer=None, response_serializer=handler.response_serializer
        )


async def _single_message(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
    """The one message of a unary call served as client-streaming; INVALID_ARGUMENT for none."""
    async for request in requests:
        return request
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the request carried no message")


def retry_metadata(
    code: grpc.StatusCode, message: str, retry_after_s: float
) -> tuple[tuple[str, bytes], ...]:
    """Trailing metadata carrying a `google.rpc.RetryInfo`, both where the spec puts it (in the status
    details) and where the OTel Python exporter looks for it."""
    delay = Duration()
    delay.FromNanoseconds(int(retry_after_s * 1e9))
    retry_info = RetryInfo(retry_delay=delay)
    detail = AnyProto()
    detail.Pack(retry_info)
    status = Status(code=code.value[0], message=message, details=[detail])
    return (
        (STATUS_DETAILS_KEY, status.SerializeToString()),
        (RETRY_INFO_KEY, retry_info.SerializeToString()),
    )


async def refuse_grpc(context: grpc.aio.ServicerContext, refused: AdmissionRefused) -> None:
    """Abort the RPC for `refused` (raises)."""
    RECEIVER_REFUSED_REQUESTS.labels("grpc", refused.reason).inc()
    logger.debug("ingest refused transport=grpc reason=%s message=%r", refused.reason, refused.message)
    if refused.expired:
        await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, refused.message)
    code = grpc.StatusCode.UNAVAILABLE
    await context.abort(code, refused.message, retry_metadata(code, refused.message, refused.retry_after_s))
