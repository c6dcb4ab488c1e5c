"""The writer thread of `prela serve`: queued raw requests → ClickHouse, then the write-ahead log's
checkpoint.

One thread takes what has accumulated in the queue (up to a batch size, after
a linger that lets parts grow), groups it by kind (OTLP traces to the trace
inserter, the rest mapped to rows) and retries each insert until it is stored.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

from prela.exporters.queue import QueuedRequest, SpanQueue
from prela.exporters.wal import WriteAheadLog
from prela.writer.backoff import Backoff
from prela.writer.rows import Insert, RawBatch, RowWriter, TraceInserter

logger = logging.getLogger(__name__)


class BatchWriter:
    """The thread that moves queued requests into ClickHouse, retrying until they are stored."""

    def __init__(
        self,
        queue: SpanQueue,
        traces: TraceInserter,
        writer: RowWriter,
        batch_spans: int,
        linger_s: float,
        wal: WriteAheadLog | None = None,
        max_backoff_s: float = 5.0,
        nice: int = 0,
    ) -> None:
        self._queue = queue
        self._traces = traces
        self._writer = writer
        self._batch_spans = batch_spans
        self._linger_s = linger_s
        self._wal = wal
        self._max_backoff_s = max_backoff_s
        self._nice = nice
        self._give_up = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prela-writer", daemon=True)
        self.inserted_spans = 0
        self.last_error: str | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float) -> bool:
        """Close the queue and wait for the drain; True when every queued request was stored.

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
        if self._nice:
            lower_thread_priority(self._nice)
        while not self._give_up.is_set():
            requests = self._queue.take(self._batch_spans, self._linger_s)
            if requests is None:
                return
            batch = batch_of(requests)
            for insert in batch.inserts(self._traces, self._writer):
                stored = self._insert_until_stored(insert)
                if stored is None:
                    return
                self.inserted_spans += stored
            if self._wal is not None:
                self._wal.checkpoint(max(r.lsn for r in requests))

    def _insert_until_stored(self, insert: Insert) -> int | None:
        """Spans stored; None when giving up (stopping while the store fails)."""
        backoff = Backoff(0.05, self._max_backoff_s)
        while True:
            try:
                stored = insert.run()
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                delay = backoff.next()
                logger.warning(
                    "insert failed table=%s rows=%d retry_in_s=%.2f error=%r",
                    insert.what, insert.rows, delay, str(exc)[:300],
                )  # fmt: skip
                if self._give_up.wait(delay):
                    return None
                continue
            self.last_error = None
            return stored


def lower_thread_priority(increment: int) -> None:
    """Lower the calling thread's CPU priority by `increment` nice steps (Linux: a thread has its own nice
    value, and raising it needs no privilege). The writer's batches are seconds of CPU that can wait; the
    event loop's answers cannot: on a busy core the scheduler then runs the receivers first, and the
    writer takes what they leave (which, the receivers being bounded by admission, is most of it)."""
    if not sys.platform.startswith("linux"):  # elsewhere PRIO_PROCESS would renice the whole process
        return
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + increment))
    except OSError as exc:
        logger.warning("could not lower the writer thread's priority nice=%d error=%s", increment, exc)


def batch_of(requests: list[QueuedRequest]) -> RawBatch:
    """The queued requests as one batch; one that no longer reads (cannot happen unless a bug let it
    through the receiver) is logged and left out rather than blocking the queue forever."""
    batch = RawBatch()
    for request in requests:
        try:
            batch.add(request.kind, request.project_id, request.payload, request.items)
        except Exception:
            logger.exception("writer: skipping a request that does not read kind=%s", request.kind.name)
    return batch
