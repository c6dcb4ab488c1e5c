"""The embedded pipeline: a bounded in-process queue drained by a batching writer thread.

Receivers run on the event loop: each accepted request is appended to the
write-ahead log, queued, and answered at once. One writer thread takes what
has accumulated (up to a batch size, after a linger that lets parts grow),
inserts it into ClickHouse and checkpoints the log. A full queue refuses new
requests with a retryable error (back-pressure) instead of growing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from prela.exporters.base import Overloaded, RawRequest, Unavailable
from prela.exporters.clickhouse import ClickHouseWriter, log_unstorable
from prela.exporters.wal import WriteAheadLog
from prela.model import SpanRecord
from prela.telemetry.metrics import QUEUE_CAPACITY_SPANS, QUEUE_SPANS

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class QueuedBatch:
    records: Sequence[SpanRecord]
    lsn: int  # write-ahead log sequence number; 0 when not logged


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

    def reserve(self, n: int) -> None:
        """Raise `Overloaded` / `Unavailable` now if `n` spans could not be put."""
        if self._closed:
            raise Unavailable("the server is shutting down")
        # An empty queue takes any batch, so an oversized request is never refused forever.
        if self._depth and self._depth + n > self.capacity:
            raise Overloaded(f"ingest queue full ({self._depth}/{self.capacity} spans waiting)")

    def put(self, records: Sequence[SpanRecord], lsn: int = 0) -> None:
        """Enqueue without blocking; `Overloaded` when full, `Unavailable` once closed."""
        with self._cond:
            self.reserve(len(records))
            self._batches.append(QueuedBatch(records, lsn))
            self._depth += len(records)
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
        wal: WriteAheadLog | None = None,
        max_backoff_s: float = 5.0,
    ) -> None:
        self._queue = queue
        self._writer = writer
        self._batch_spans = batch_spans
        self._linger_s = linger_s
        self._wal = wal
        self._max_backoff_s = max_backoff_s
        self._give_up = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prela-writer", daemon=True)
        self.inserted_spans = 0
        self.last_error: str | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float) -> bool:
        """Close the queue and wait for the drain; True when every queued span was stored.

        When the store keeps failing past `timeout_s`, what is left stays in the
        write-ahead log and is replayed at the next start.
        """
        self._queue.close()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            self._give_up.set()
            self._thread.join(self._max_backoff_s + 1)
            return False
        return True

    @property
    def healthy(self) -> bool:
        return self.last_error is None

    def _run(self) -> None:
        while not self._give_up.is_set():
            batches = self._queue.take(self._batch_spans, self._linger_s)
            if batches is None:
                return
            # Spans, log records and metric points go to their own tables: one insert per row type.
            by_type: dict[type, list[SpanRecord]] = {}
            for b in batches:
                by_type.setdefault(b.records[0].__class__, []).extend(b.records)
            if not all(self._insert_until_stored(records) for records in by_type.values()):
                return
            if self._wal is not None:
                self._wal.checkpoint(max(b.lsn for b in batches))

    def _insert_until_stored(self, records: list[SpanRecord]) -> bool:
        backoff = 0.05
        while True:
            try:
                unstorable = self._writer.insert_or_isolate(records)
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                logger.warning(
                    "insert failed spans=%d retry_in_s=%.2f error=%r", len(records), backoff, str(exc)[:300]
                )
                if self._give_up.wait(backoff):
                    return False
                backoff = min(backoff * 2, self._max_backoff_s)
                continue
            self.last_error = None
            if records[0].__class__ is SpanRecord:  # log records and metric points are not spans
                self.inserted_spans += len(records) - len(unstorable)
            log_unstorable(unstorable)
            return True


class QueueExporter:
    """`SpanExporter` of `prela serve`: log the request, queue its spans, answer."""

    def __init__(self, queue: SpanQueue, wal: WriteAheadLog | None = None) -> None:
        self._queue = queue
        self._wal = wal

    async def export(
        self,
        project_id: str,
        records: Sequence[SpanRecord],
        whole_trace: bool = False,
        raw: RawRequest | None = None,
    ) -> None:
        if not records:
            return
        self._queue.reserve(len(records))  # refuse before logging what would not be queued
        lsn = 0
        if self._wal is not None and raw is not None:
            try:
                lsn = self._wal.append(raw.kind, project_id, raw.payload)
            except OSError as exc:  # disk full, I/O error: not durable, so not accepted
                logger.error("write-ahead log append failed error=%r", str(exc))
                raise Unavailable(f"the write-ahead log cannot be written ({exc.strerror}), retry") from None
        self._queue.put(records, lsn)
