"""Replay of `prela serve`'s write-ahead log at start: what was accepted before a crash is stored."""

from __future__ import annotations

import logging

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from prela.collector.checks import check_traces
from prela.exporters.base import PayloadKind
from prela.exporters.wal import WriteAheadLog
from prela.writer.rows import RawBatch, RowWriter, TraceInserter

logger = logging.getLogger(__name__)


def replay_wal(wal: WriteAheadLog, traces: TraceInserter, writer: RowWriter, batch_spans: int) -> int:
    """Store the requests logged but not checkpointed before the last stop (spans, log records, metric
    points), grouped as the batch writer groups them; returns the span count.

    Stores are not retried here: a store that fails fails the start (the log keeps everything).
    """
    replayed = 0
    batch = RawBatch()
    last_lsn = 0

    def store(batch: RawBatch) -> int:
        return sum(insert.run() for insert in batch.inserts(traces, writer))

    for entry in wal.pending():
        try:
            items = 0
            if entry.kind is PayloadKind.OTLP_PROTOBUF:  # the count the receiver acknowledged
                items = check_traces(ExportTraceServiceRequest.FromString(entry.payload)).accepted
            batch.add(entry.kind, entry.project_id, entry.payload, items)
        except Exception:  # logged only after it decoded once: cannot happen unless the file was edited
            logger.exception("wal: skipping an entry that no longer decodes lsn=%d", entry.lsn)
        last_lsn = entry.lsn
        if batch.items >= batch_spans:
            replayed += store(batch)
            batch = RawBatch()
            wal.checkpoint(last_lsn)
    if not batch.empty:
        replayed += store(batch)
    if last_lsn:
        wal.checkpoint(last_lsn)
    return replayed
