"""The embedded pipeline's queue: accepted raw requests, bounded, drained by the batch writer thread.

Receivers run on the event loop: each accepted request is appended to the
write-ahead log, queued as it was received (no mapping on the loop), and
answered at once. The writer thread (`prela.writer.batch_writer`) takes what
has accumulated, stores it and checkpoints the log. A full queue — by items
(spans, log records, data points) or by bytes — refuses new requests with a
retryable error (back-pressure) instead of growing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

from prela.exporters.base import Overloaded, PayloadKind, RawRequest, Unavailable
from prela.exporters.wal import WriteAheadLog
from prela.telemetry.metrics import QUEUE_CAPACITY_SPANS, QUEUE_OLDEST_AGE_SECONDS, QUEUE_SPANS

logger = logging.getLogger(__name__)


@dataclass(slots=True, frozen=True)
class QueuedRequest:
    kind: PayloadKind
    project_id: str
    payload: bytes
    items: int  # accepted spans (log records, data points) it carries
    lsn: int = 0  # write-ahead log sequence number; 0 when not logged


class SpanQueue:
    """A FIFO of raw requests bounded by the items waiting in it and by their bytes."""

    def __init__(self, capacity_spans: int, capacity_bytes: int = 256 * 1024 * 1024) -> None:
        if capacity_spans <= 0 or capacity_bytes <= 0:
            raise ValueError(
                f"capacity_spans and capacity_bytes must be > 0, got {capacity_spans} and {capacity_bytes}"
            )
        self.capacity = capacity_spans
        self.capacity_bytes = capacity_bytes
        self._requests: deque[QueuedRequest] = deque()
        self._enqueued: deque[float] = deque()  # monotonic time each request of _requests was put
        self._depth = 0
        self._bytes = 0
        self._closed = False
        self._cond = threading.Condition()
        QUEUE_CAPACITY_SPANS.set(capacity_spans)
        QUEUE_SPANS.set_function(lambda: self._depth)
        QUEUE_OLDEST_AGE_SECONDS.set_function(self.oldest_age_s)

    @property
    def depth(self) -> int:
        """Items waiting, not yet taken by the writer."""
        return self._depth

    @property
    def depth_bytes(self) -> int:
        return self._bytes

    def oldest_age_s(self) -> float:
        """How long the oldest queued request has waited for the writer (0 when the queue is empty).

        Without the lock: a metrics scrape must not wait for the writer thread that may hold it, which runs
        at a lower priority (a deque's ends are read atomically under the GIL)."""
        try:
            return time.monotonic() - self._enqueued[0]
        except IndexError:
            return 0.0

    def reserve(self, items: int, size: int = 0) -> None:
        """Raise `Overloaded` / `Unavailable` now if a request of `items` and `size` bytes could not be put."""
        if self._closed:
            raise Unavailable("the server is shutting down")
        # An empty queue takes any request, so an oversized one is never refused forever.
        if self._depth and self._depth + items > self.capacity:
            raise Overloaded(f"ingest queue full ({self._depth}/{self.capacity} spans waiting)")
        if self._bytes and self._bytes + size > self.capacity_bytes:
            raise Overloaded(f"ingest queue full ({self._bytes}/{self.capacity_bytes} bytes waiting)")

    def put(self, request: QueuedRequest) -> None:
        """Enqueue without blocking; `Overloaded` when full, `Unavailable` once closed."""
        with self._cond:
            self.reserve(request.items, len(request.payload))
            self._requests.append(request)
            self._enqueued.append(time.monotonic())
            self._depth += request.items
            self._bytes += len(request.payload)
            self._cond.notify()

    def take(self, max_items: int, linger_s: float) -> list[QueuedRequest] | None:
        """Block until requests wait, linger up to `linger_s` for more, pop up to `max_items` items.

        Returns None once the queue is closed and empty.
        """
        with self._cond:
            while not self._requests:
                if self._closed:
                    return None
                self._cond.wait()
            deadline = time.monotonic() + linger_s
            while self._depth < max_items and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            taken: list[QueuedRequest] = []
            count = size = 0
            while self._requests and (not taken or count + self._requests[0].items <= max_items):
                request = self._requests.popleft()
                self._enqueued.popleft()
                taken.append(request)
                count += request.items
                size += len(request.payload)
            self._depth -= count
            self._bytes -= size
            return taken

    def close(self) -> None:
        """Refuse new requests; the writer drains what is queued and then stops."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class QueueExporter:
    """`SpanExporter` of `prela serve`: log the request, queue it raw, answer."""

    def __init__(self, queue: SpanQueue, wal: WriteAheadLog | None = None) -> None:
        self._queue = queue
        self._wal = wal

    async def export(self, project_id: str, raw: RawRequest, items: int) -> None:
        if not items:
            return
        self._queue.reserve(items, len(raw.payload))  # refuse before logging what would not be queued
        lsn = 0
        if self._wal is not None:
            try:
                lsn = self._wal.append(raw.kind, project_id, raw.payload)
            except OSError as exc:  # disk full, I/O error: not durable, so not accepted
                logger.error("write-ahead log append failed error=%r", str(exc))
                raise Unavailable(f"the write-ahead log cannot be written ({exc.strerror}), retry") from None
        self._queue.put(QueuedRequest(raw.kind, project_id, raw.payload, items, lsn))
