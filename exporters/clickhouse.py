"""ClickHouse: the one client factory, the schema (`sql/*.sql`) and the span insert.

`chdb://<dir>` DSNs give the embedded engine (chDB) through clickhouse-connect's
chDB backend, `https://host:8443/db` a ClickHouse server or Cloud: same API,
same SQL. Every call here blocks; callers keep them off the event loop.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from string import Template
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DataError
from clickhouse_connect.driver.insert import InsertContext

from prela.exporters.otlp_engine import install as install_engine_mapping
from prela.model import SPAN_COLUMNS, SpanRecord
from prela.model.signals import LOG_COLUMNS, METRIC_COLUMNS, LogRow, MetricPoint
from prela.telemetry.metrics import (
    WRITER_INSERT_ERRORS,
    WRITER_INSERT_SECONDS,
    WRITER_INSERTED_BATCHES,
    WRITER_UNSTORABLE_SPANS,
)

logger = logging.getLogger(__name__)

# SpanRecord field → spans table column, where the names differ.
_COLUMN_RENAMES = {"started_at_ns": "started_at", "ended_at_ns": "ended_at"}
INSERT_COLUMNS: tuple[str, ...] = tuple(_COLUMN_RENAMES.get(c, c) for c in SPAN_COLUMNS)
# Row type → (table, insert columns): one batch holds rows of one type, stored in its table.
ROW_TABLES: dict[type, tuple[str, tuple[str, ...]]] = {
    SpanRecord: ("spans", INSERT_COLUMNS),
    LogRow: ("logs", LOG_COLUMNS),
    MetricPoint: ("metrics", METRIC_COLUMNS),
}

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


# Every read that searches text uses this expression; the full-text index is built on it (migration 4).
SEARCH_TEXT_SQL = "lowerUTF8(concat(name, ' ', status_message, ' ', input, ' ', output, ' ', events))"

_SQL = resources.files("prela.exporters") / "sql"
_BACKFILL = re.compile(r"^--\s*backfill:\s*(.+)$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered schema change, `sql/migrations/NNNN_name.sql`, recorded once applied."""

    version: int
    name: str
    text: str

    def statements(self, values: dict[str, str]) -> list[str]:
        return _statements(Template(self.text).substitute(values))

    @property
    def backfills(self) -> tuple[str, ...]:
        """Materialized views whose target tables this migration fills from the spans already stored."""
        found = _BACKFILL.search(self.text)
        return tuple(v.strip() for v in found.group(1).split(",")) if found else ()


def _statements(text: str) -> list[str]:
    """Statements of a .sql file, split at `;` line ends; comment-only chunks are dropped."""
    chunks = re.split(r";\s*$", text, flags=re.MULTILINE)
    return [
        c.strip()
        for c in chunks
        if any(ln.strip() and not ln.strip().startswith("--") for ln in c.splitlines())
    ]


def migrations() -> list[Migration]:
    """Every migration shipped with this release, in version order."""
    found = []
    for path in (_SQL / "migrations").iterdir():
        match = re.fullmatch(r"(\d{4})_(\w+)\.sql", path.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), path.read_text()))
    return sorted(found, key=lambda m: m.version)


def _values(database: str, ttl_days: int) -> dict[str, str]:
    return {"database": database, "ttl_days": str(int(ttl_days)), "search_text": SEARCH_TEXT_SQL}


def applied_versions(client: Client, database: str) -> set[int]:
    rows = client.query(f"SELECT version FROM {database}.schema_migrations").result_rows
    return {int(r[0]) for r in rows}


def apply_schema(client: Client, database: str, ttl_days: int, engine_mapping: bool = False) -> list[int]:
    """Bring `database` to this release's schema: the migrations it has not had, in order, each
    recorded after it ran; then the retention; with `engine_mapping` (`PRELA_MAPPING=engine`), the
    chain of views mapping raw OTLP requests (1.5-2.5 s, so only when chosen; a chain installed
    before is left for writers still using it). Returns the versions applied now.

    Statements are idempotent (IF NOT EXISTS), so a migration interrupted half-way runs again
    whole. Back-fills read the spans already stored: run migrations while no writer inserts.
    """
    values = _values(database, ttl_days)
    for statement in _statements(Template((_SQL / "bootstrap.sql").read_text()).substitute(values)):
        client.command(statement)
    done = applied_versions(client, database)
    applied = []
    for migration in migrations():
        if migration.version in done:
            continue
        started = time.perf_counter()
        for statement in migration.statements(values):
            client.command(statement)
        for view in migration.backfills:
            _backfill(client, database, view)
        client.command(
            f"INSERT INTO {database}.schema_migrations (version, name) VALUES "
            f"({migration.version}, '{migration.name}')"
        )
        applied.append(migration.version)
        logger.info(
            "migration applied database=%s version=%d name=%s seconds=%.2f",
            database, migration.version, migration.name, time.perf_counter() - started,
        )  # fmt: skip
    for statement in _statements(Template((_SQL / "retention.sql").read_text()).substitute(values)):
        client.command(statement)
    if engine_mapping:
        install_engine_mapping(client, database)  # after the migrations: it fills the spans columns
    logger.info("schema ready database=%s ttl_days=%d applied=%s", database, ttl_days, applied)
    return applied


def _backfill(client: Client, database: str, view: str) -> None:
    """Run a materialized view's own SELECT over the stored spans into its target table."""
    rows = client.query(
        "SELECT as_select, arrayElement(dependencies_table, 1) FROM system.tables "
        "WHERE database = {db:String} AND name = {view:String}",
        parameters={"db": database, "view": view},
    ).result_rows
    if not rows:
        raise RuntimeError(f"back-fill: no materialized view {database}.{view}")
    target = _view_target(client, database, view)
    client.command(f"INSERT INTO {database}.{target} {rows[0][0]}")


def _view_target(client: Client, database: str, view: str) -> str:
    create = client.command(f"SHOW CREATE TABLE {database}.{view}")
    match = re.search(r"\bTO\s+`?\w+`?\.`?(\w+)`?", str(create))
    if match is None:
        raise RuntimeError(f"back-fill: {database}.{view} is not a TO materialized view")
    return match.group(1)


_ROW_NOUNS = {SpanRecord: "span", LogRow: "log record", MetricPoint: "metric point"}


def log_unstorable(unstorable: Sequence[tuple[SpanRecord, str]]) -> None:
    """Account for spans skipped because ClickHouse can never hold them: never a silent drop."""
    for record, reason in unstorable:
        WRITER_UNSTORABLE_SPANS.inc()
        logger.error(
            "%s cannot be stored, skipped project_id=%s trace_id=%s span_id=%s reason=%r",
            _ROW_NOUNS.get(type(record), "row"), record.project_id, getattr(record, "trace_id", ""),
            getattr(record, "span_id", ""), reason[:300],
        )  # fmt: skip


def insert_settings(settings: dict[str, Any] | None) -> dict[str, Any]:
    """An insert's settings; one carrying `insert_deduplication_token` also deduplicates in the tables
    the materialized views fill (0009), so a retried batch is dropped by every table, not only the first."""
    out = dict(settings or {})
    if "insert_deduplication_token" in out:
        out["deduplicate_blocks_in_dependent_materialized_views"] = 1
    return out


@contextlib.contextmanager
def recorded_insert(what: str) -> Iterator[None]:
    """Count one insert in the writer metrics (seconds, batches, or an error when the block raises)."""
    started = time.perf_counter()
    try:
        yield
    except Exception:
        WRITER_INSERT_ERRORS.inc()
        raise
    elapsed = time.perf_counter() - started
    WRITER_INSERT_SECONDS.observe(elapsed)
    WRITER_INSERTED_BATCHES.inc()
    logger.debug("inserted %s seconds=%.4f", what, elapsed)


class ClickHouseWriter:
    """Inserts batches of `SpanRecord`s into `<database>.spans` (the trace view follows by itself),
    and batches of `LogRow`s / `MetricPoint`s into `logs` / `metrics` (`ROW_TABLES`)."""

    def __init__(self, client: Client, database: str) -> None:
        self._client = client
        self._database = database
        self._contexts: dict[type, InsertContext] = {}

    def insert(self, records: Sequence[SpanRecord], settings: dict[str, Any] | None = None) -> None:
        """Insert one batch of rows of one type; not thread-safe (one writer thread or task per instance)."""
        if not records:
            return
        row_type = records[0].__class__
        with recorded_insert(f"rows={len(records)} type={row_type.__name__}"):
            context = self._contexts.get(row_type)
            if context is None:  # reused: describing the table once saves a query per insert
                table, columns = ROW_TABLES[row_type]
                context = self._client.create_insert_context(
                    f"{self._database}.{table}", column_names=list(columns), column_oriented=True
                )
                self._contexts[row_type] = context
            context.data = [list(column) for column in zip(*records, strict=True)]
            context.settings = insert_settings(settings)
            self._client.insert(context=context)

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
