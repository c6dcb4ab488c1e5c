"""The embedded pipeline: a bounded in-process queue drained by a batching writer thread.

Receivers run on the event loop and `put` spans with a completion callback;
one writer thread takes what has accumulated (up to a batch size, after a
short linger), inserts it into ClickHouse and only then completes the
callbacks, so a client is answered once its spans are stored.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from prela.exporters.base import Overloaded, Unavailable
from prela.exporters.clickhouse import ClickHouseWriter
from prela.model import SpanRecord
from prela.telemetry.metrics import QUEUE_CAPACITY_SPANS, QUEUE_SPANS

logger = logging.getLogger(__name__)

DoneCallback = Callable[[BaseException | None], None]


@dataclass(slots=True)
class QueuedBatch:
    records: Sequence[SpanRecord]
    done: DoneCallback


class SpanQueue:
    """A FIFO of span batches bounded by the number of spans waiting in it."""

    def __init__(self, capacity_spans: int) -> None:
        if capacity_spans <= 0:
            raise ValueError(f"capacity_spans must be > 0, got {capacity_spans}")
        self.capacity = capacity_spans
        self._batches: deque[QueuedBatch] = deque()
        self._depth = 0
        self._closed = False
        self._cond = threading.Condition()
        QUEUE_CAPACITY_SPANS.set(capacity_spans)
        QUEUE_SPANS.set_function(lambda: self._depth)

    @property
    def depth(self) -> int:
        """Spans waiting, not yet taken by the writer."""
        return self._depth

    def put(self, records: Sequence[SpanRecord], done: DoneCallback) -> None:
        """Enqueue without blocking; `Overloaded` when full, `Unavailable` once closed."""
        n = len(records)
        with self._cond:
            if self._closed:
                raise Unavailable("the server is shutting down")
            # An empty queue takes any batch, so an oversized request is never refused forever.
            if self._depth and self._depth + n > self.capacity:
                raise Overloaded(f"ingest queue full ({self._depth}/{self.capacity} spans waiting)")
            self._batches.append(QueuedBatch(records, done))
            self._depth += n
            if self._depth >= n:  # wake the writer on the first batch of a burst
                self._cond.notify()

    def take(self, max_spans: int, linger_s: float) -> list[QueuedBatch] | None:
        """Block until spans wait, linger up to `linger_s` for more, pop up to `max_spans`.

        Returns None once the queue is closed and empty.
        """
        with self._cond:
            while not self._batches:
                if self._closed:
                    return None
                self._cond.wait()
            deadline = time.monotonic() + linger_s
            while self._depth < max_spans and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            taken: list[QueuedBatch] = []
            count = 0
            while self._batches and (not taken or count + len(self._batches[0].records) <= max_spans):
                batch = self._batches.popleft()
                taken.append(batch)
                count += len(batch.records)
            self._depth -= count
            return taken

    def close(self) -> None:
        """Refuse new spans; the writer drains what is queued and then stops."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class BatchWriter:
    """The thread that moves queued spans into ClickHouse, retrying until they are stored."""

    def __init__(
        self,
        queue: SpanQueue,
        writer: ClickHouseWriter,
        batch_spans: int,
        linger_s: float,
        max_backoff_s: float = 5.0,
    ) -> None:
        self._queue = queue
        self._writer = writer
        self._batch_spans = batch_spans
        self._linger_s = linger_s
        self._max_backoff_s = max_backoff_s
        self._give_up = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prela-writer", daemon=True)
        self.inserted_spans = 0
        self.last_error: str | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float) -> bool:
        """Close the queue and wait for the drain; True when every queued span was stored."""
        self._queue.close()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            # The store is still failing: give the waiting clients a retryable error.
            self._give_up.set()
            self._thread.join(self._max_backoff_s + 1)
            return False
        return True

    @property
    def healthy(self) -> bool:
        return self.last_error is None

    def _run(self) -> None:
        while True:
            batches = self._queue.take(self._batch_spans, self._linger_s)
            if batches is None:
                return
            records = [r for b in batches for r in b.records]
            error = self._insert_until_stored(records)
            for batch in batches:
                try:
                    batch.done(error)
                except Exception:  # a callback must never stop the writer
                    logger.exception("completion callback failed")
            if self._give_up.is_set() and error is not None:
                self._fail_remaining(error)
                return

    def _insert_until_stored(self, records: list[SpanRecord]) -> BaseException | None:
        backoff = 0.05
        while True:
            try:
                self._writer.insert(records)
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                logger.warning(
                    "insert failed spans=%d retry_in_s=%.2f error=%r", len(records), backoff, str(exc)[:300]
                )
                if self._give_up.wait(backoff):
                    return Unavailable(f"spans could not be stored: {self.last_error[:200]}")
                backoff = min(backoff * 2, self._max_backoff_s)
                continue
            self.last_error = None
            self.inserted_spans += len(records)
            return None

    def _fail_remaining(self, error: BaseException) -> None:
        while (batches := self._queue.take(self._batch_spans, 0)) is not None:
            for batch in batches:
                batch.done(error)


class QueueExporter:
    """`SpanExporter` over a `SpanQueue`: resolves when the writer thread stored the spans."""

    def __init__(self, queue: SpanQueue, ack_timeout_s: float = 10.0) -> None:
        self._queue = queue
        self._ack_timeout_s = ack_timeout_s

    async def export(self, project_id: str, records: Sequence[SpanRecord], whole_trace: bool = False) -> None:
        if not records:
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def settle(error: BaseException | None) -> None:
            if not future.done():
                if error is None:
                    future.set_result(None)
                else:
                    future.set_exception(error)

        def done(error: BaseException | None) -> None:  # runs on the writer thread
            loop.call_soon_threadsafe(settle, error)

        self._queue.put(records, done)
        try:
            await asyncio.wait_for(asyncio.shield(future), self._ack_timeout_s)
        except TimeoutError:
            # Still queued and will be stored; the client's retry is folded by the replacing engine.
            raise Unavailable(f"spans not stored within {self._ack_timeout_s:g}s, retry") from None
