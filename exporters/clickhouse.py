"""ClickHouse: the one client factory, the schema (`sql/*.sql`) and the span insert.

`chdb://<dir>` DSNs give the embedded engine (chDB) through clickhouse-connect's
chDB backend, `https://host:8443/db` a ClickHouse server or Cloud: same API,
same SQL. Every call here blocks; callers keep them off the event loop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from importlib import resources
from string import Template
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DataError
from clickhouse_connect.driver.insert import InsertContext

from prela.model import SPAN_COLUMNS, SpanRecord
from prela.telemetry.metrics import (
    WRITER_INSERT_ERRORS,
    WRITER_INSERT_SECONDS,
    WRITER_INSERTED_BATCHES,
    WRITER_INSERTED_SPANS,
    WRITER_UNSTORABLE_SPANS,
)

logger = logging.getLogger(__name__)

# SpanRecord field → spans table column, where the names differ.
_COLUMN_RENAMES = {"started_at_ns": "started_at", "ended_at_ns": "ended_at"}
INSERT_COLUMNS: tuple[str, ...] = tuple(_COLUMN_RENAMES.get(c, c) for c in SPAN_COLUMNS)

_CHDB_LOCK = threading.Lock()
_CHDB_CLIENTS: dict[str, Client] = {}


def connect(dsn: str) -> Client:
    """A clickhouse-connect client for `dsn`; one shared client per chDB data dir in this process."""
    if dsn.startswith("chdb:"):
        # chDB owns its data dir per process: share one handle (its calls are serialized by a lock).
        with _CHDB_LOCK:
            client = _CHDB_CLIENTS.get(dsn)
            if client is None:
                client = clickhouse_connect.get_client(dsn=dsn)
                _CHDB_CLIENTS[dsn] = client
            return client
    return clickhouse_connect.get_client(dsn=dsn, database="default", compress=True)


def close_all() -> None:
    """Close the shared chDB clients (at process exit, after the writer drained)."""
    with _CHDB_LOCK:
        for client in _CHDB_CLIENTS.values():
            client.close()
        _CHDB_CLIENTS.clear()


def schema_statements(database: str, ttl_days: int) -> list[str]:
    """The DDL of `sql/*.sql` in file order, with the database and TTL filled in."""
    folder = resources.files("prela.exporters") / "sql"
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".sql"))
    values = {"database": database, "ttl_days": str(int(ttl_days))}
    return [Template((folder / name).read_text()).substitute(values) for name in names]


def apply_schema(client: Client, database: str, ttl_days: int) -> None:
    """Create the database, tables and views if missing (idempotent) and set the retention."""
    for statement in schema_statements(database, ttl_days):
        client.command(statement)
    logger.info("schema applied database=%s ttl_days=%d", database, ttl_days)


def log_unstorable(unstorable: Sequence[tuple[SpanRecord, str]]) -> None:
    """Account for spans skipped because ClickHouse can never hold them: never a silent drop."""
    for record, reason in unstorable:
        WRITER_UNSTORABLE_SPANS.inc()
        logger.error(
            "span cannot be stored, skipped project_id=%s trace_id=%s span_id=%s reason=%r",
            record.project_id, record.trace_id, record.span_id, reason[:300],
        )  # fmt: skip


class ClickHouseWriter:
    """Inserts batches of `SpanRecord`s into `<database>.spans` (the trace view follows by itself)."""

    def __init__(self, client: Client, database: str) -> None:
        self._client = client
        self._table = f"{database}.spans"
        self._context: InsertContext | None = None

    def insert(self, records: Sequence[SpanRecord], settings: dict[str, Any] | None = None) -> None:
        """Insert one batch; not thread-safe (one writer thread or task per instance)."""
        if not records:
            return
        started = time.perf_counter()
        try:
            if self._context is None:  # reused: describing the table once saves a query per insert
                self._context = self._client.create_insert_context(
                    self._table, column_names=list(INSERT_COLUMNS), column_oriented=True
                )
            context = self._context
            context.data = [list(column) for column in zip(*records, strict=True)]
            context.settings = dict(settings or {})
            self._client.insert(context=context)
        except Exception:
            WRITER_INSERT_ERRORS.inc()
            raise
        elapsed = time.perf_counter() - started
        WRITER_INSERT_SECONDS.observe(elapsed)
        WRITER_INSERTED_SPANS.inc(len(records))
        WRITER_INSERTED_BATCHES.inc()
        logger.debug("inserted spans=%d seconds=%.4f", len(records), elapsed)

    def insert_or_isolate(
        self, records: Sequence[SpanRecord], settings: dict[str, Any] | None = None
    ) -> list[tuple[SpanRecord, str]]:
        """Insert; rows the client cannot encode for their columns (DataError: a value out of the
        column's range) are isolated by halving and returned with the reason, the rest is stored.

        Other errors (server unreachable, disk full) propagate: those batches are retried whole.
        """
        try:
            self.insert(records, settings)
            return []
        except DataError as exc:
            if len(records) == 1:
                return [(records[0], str(exc))]
        half = len(records) // 2  # halves are different data: no deduplication token
        return self.insert_or_isolate(records[:half]) + self.insert_or_isolate(records[half:])

    def ping(self) -> bool:
        try:
            return bool(self._client.ping())
        except Exception:  # any failure means: not reachable
            return False
