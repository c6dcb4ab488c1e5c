"""The trace service (`prela writer`): Kafka consumer group → ClickHouse, at least once, no duplicates.

Messages are read raw: an OTLP trace request (the collector's, with Prela
headers, or one an OTel Collector / rotel Kafka exporter wrote as `otlp_proto`
to a topic of PRELA_KAFKA_OTLP_TOPICS) goes to the trace inserter as it is;
Prela JSON traces, OTLP logs and metrics, and the older `prela.v1.SpanBatch`
messages are mapped to rows here.

Offsets are committed only after the batch they cover is inserted. A replay
(crash, rebalance, ClickHouse failure) re-inserts the same spans: each insert
carries a deduplication token made of the batch's partition offset ranges,
and the replacing `spans` table folds whatever still arrives twice. A message
that can never be decoded goes to the dead-letter topic with its origin and
the reason, and the consumer moves past it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from prela.collector.errors import InvalidPayload
from prela.exporters.base import PayloadKind
from prela.exporters.kafka import CONTENT_TYPE_HEADER, JSON, PROJECT_HEADER, PROTOBUF, KafkaConfig
from prela.model import SpanRecord
from prela.proto.codec import decode_batch
from prela.telemetry.metrics import WRITER_CONSUMER_LAG, WRITER_DEAD_LETTERED
from prela.writer.backoff import Backoff
from prela.writer.rows import RawBatch, RowWriter, TraceInserter

logger = logging.getLogger(__name__)


_MAX_POLL_RECORDS = 5000


class PoisonMessage(ValueError):
    """A message that can never be stored: not the OTLP request, Prela JSON or SpanBatch it should be."""


def decode_message(message: ConsumerRecord) -> list[SpanRecord]:
    """The spans of one Kafka message; `PoisonMessage` when it can never be decoded."""
    if not message.value:
        raise PoisonMessage("empty message value")
    try:
        project_id, records = decode_batch(message.value)
    except DecodeError as exc:
        raise PoisonMessage(f"not a prela.v1.SpanBatch: {exc}") from None
    if not project_id:
        raise PoisonMessage("SpanBatch without project_id")
    for record in records:
        if not record.trace_id or not record.span_id:
            raise PoisonMessage("SpanBatch span without trace_id or span_id")
    return records


def _headers(message: ConsumerRecord) -> dict[str, bytes]:
    return {key.lower(): value for key, value in message.headers or ()}


def _project(message: ConsumerRecord, headers: dict[str, bytes], fallback: str | None) -> str:
    project = headers.get(PROJECT_HEADER)
    if project:
        return project.decode(errors="replace")
    if fallback:
        return fallback
    raise PoisonMessage(
        f"message of topic {message.topic} without a {PROJECT_HEADER} header, and no default project "
        "(PRELA_KAFKA_DEFAULT_PROJECT) to give it"
    )


def add_message(
    batch: RawBatch,
    message: ConsumerRecord,
    signal_topics: Mapping[str, PayloadKind],
    otlp_topics: frozenset[str],
    default_project: str | None,
) -> None:
    """Add one message to `batch`, by its topic and headers; `PoisonMessage` when it can never be stored."""
    value = message.value or b""
    headers = _headers(message)
    content_type = headers.get(CONTENT_TYPE_HEADER)
    kind = signal_topics.get(message.topic)
    if kind is not None:  # OTLP logs / metrics, the project in the key (and, since raw requests, a header)
        key = message.key.decode(errors="replace") if message.key else None
        project = _project(message, headers, key)
        try:
            batch.add(kind, project, value, 0)
        except DecodeError as exc:
            raise PoisonMessage(f"not an OTLP request of topic {message.topic}: {exc}") from None
    elif content_type == PROTOBUF or message.topic in otlp_topics:
        if content_type not in (None, PROTOBUF):
            raise PoisonMessage(
                f"content-type {content_type!r} on an OTLP topic; expected {PROTOBUF.decode()}"
            )
        project = _project(message, headers, default_project)
        try:  # upb parses the whole message without Python objects per field
            request = ExportTraceServiceRequest.FromString(value)
        except DecodeError as exc:
            raise PoisonMessage(f"not an OTLP ExportTraceServiceRequest: {exc}") from None
        batch.add_otlp(
            project, value, sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
        )
    elif content_type == JSON:
        try:
            batch.add(PayloadKind.PRELA_JSON, _project(message, headers, None), value, 0)
        except (orjson.JSONDecodeError, InvalidPayload) as exc:
            raise PoisonMessage(f"not a Prela JSON trace: {exc}") from None
    elif content_type is not None:
        raise PoisonMessage(f"unknown content-type {content_type!r}")
    else:  # the older layout: a prela.v1.SpanBatch, no headers
        batch.add_rows(decode_message(message))


@dataclass(slots=True)
class WriterStats:
    consumed_messages: int = 0
    inserted_spans: int = 0
    inserted_batches: int = 0
    insert_errors: int = 0
    dead_lettered: int = 0
    last_insert_seconds: float = 0.0
    clickhouse_ok: bool = True
    kafka_ok: bool = False
    lag: dict[tuple[str, int], int] = field(default_factory=dict)


@dataclass(slots=True)
class _Batch:
    raw: RawBatch = field(default_factory=RawBatch)
    first: dict[TopicPartition, int] = field(default_factory=dict)
    next: dict[TopicPartition, int] = field(default_factory=dict)

    def token(self, group: str) -> str:
        ranges = sorted(f"{tp.topic}/{tp.partition}/{self.first[tp]}-{self.next[tp]}" for tp in self.next)
        return hashlib.sha256(f"{group}|{'|'.join(ranges)}".encode()).hexdigest()


class KafkaClickHouseWriter:
    def __init__(
        self,
        config: KafkaConfig,
        group: str,
        traces: TraceInserter,
        writer: RowWriter,
        batch_spans: int = 20_000,
        linger_s: float = 0.2,
        max_backoff_s: float = 5.0,
        signal_topics: Mapping[str, PayloadKind] | None = None,
        otlp_topics: Sequence[str] = (),
        default_project: str | None = None,
    ) -> None:
        """`signal_topics`: topic → kind of the other OTLP signals (logs, metrics), also consumed;
        `otlp_topics`: topics of raw OTLP trace requests without Prela headers (an OTel Collector's or
        rotel's Kafka exporter, `otlp_proto`), whose spans belong to `default_project`."""
        self._signal_topics = dict(signal_topics or {})
        self._otlp_topics = frozenset(otlp_topics)
        self._default_project = default_project
        self._config = config
        self._group = group
        self._traces = traces
        self._writer = writer
        self._batch_spans = batch_spans
        self._linger_s = linger_s
        self._max_backoff_s = max_backoff_s
        self.stats = WriterStats()
        self._fetched_messages = 0
        self._fetched_items = 0
        self._topics = list(
            dict.fromkeys([config.topic_spans, config.topic_traces, *self._signal_topics, *otlp_topics])
        )
        self._consumer = AIOKafkaConsumer(
            *self._topics,
            **config.client_options(),
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=_MAX_POLL_RECORDS,
            fetch_max_bytes=16 * 1024 * 1024,
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        self._dead_letters = AIOKafkaProducer(
            **config.client_options(),
            acks="all",
            max_request_size=config.max_message_bytes + 64 * 1024,
            enable_idempotence=False,
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; the batch in hand is inserted and committed before returning."""
        if not await self._start(stop):
            return
        try:
            while not stop.is_set():
                batch = await self._collect(stop)
                if batch.next and await self._store(batch, stop):
                    await self._commit(batch)
        finally:
            await self._consumer.stop()
            await self._dead_letters.stop()

    async def _start(self, stop: asyncio.Event) -> bool:
        backoff = Backoff(0.2, self._max_backoff_s)
        while not stop.is_set():
            try:
                await self._consumer.start()
                await self._dead_letters.start()
                self.stats.kafka_ok = True
                logger.info("consuming topics=%s group=%s", ",".join(self._topics), self._group)
                return True
            except (KafkaError, OSError) as exc:
                self.stats.kafka_ok = False
                delay = backoff.next()
                logger.warning("kafka not reachable, retrying in_s=%.1f error=%r", delay, str(exc))
                await _sleep_or_stop(stop, delay)
        return False

    async def _collect(self, stop: asyncio.Event) -> _Batch:
        batch = _Batch()
        deadline = time.monotonic() + self._linger_s
        while batch.raw.items < self._batch_spans and not stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0 and batch.next:
                break
            try:
                fetched = await self._consumer.getmany(
                    timeout_ms=max(int(remaining * 1000), 50), max_records=self._records_to_fetch(batch)
                )
                self.stats.kafka_ok = True
            except KafkaError as exc:
                self.stats.kafka_ok = False
                logger.warning("fetch failed error=%r", str(exc))
                await _sleep_or_stop(stop, 1.0)
                continue
            before = batch.raw.items
            for tp, messages in fetched.items():
                for message in messages:
                    await self._take(batch, tp, message, stop)
                self._fetched_messages += len(messages)
            self._fetched_items += batch.raw.items - before
            if not fetched and not batch.next:
                deadline = time.monotonic() + self._linger_s  # idle: start the linger at the next message
        await self._update_lag()
        return batch

    def _records_to_fetch(self, batch: _Batch) -> int:
        """As many messages as should fill the batch to `batch_spans`, by the items a message has held so
        far: a message may hold one trace or a 512-span request, and a batch must stay near its size."""
        if not self._fetched_messages:
            return 1  # nothing known yet: learn the size from one message
        per_message = max(1.0, self._fetched_items / self._fetched_messages)
        return max(1, min(_MAX_POLL_RECORDS, int((self._batch_spans - batch.raw.items) / per_message)))

    async def _take(
        self, batch: _Batch, tp: TopicPartition, message: ConsumerRecord, stop: asyncio.Event
    ) -> None:
        self.stats.consumed_messages += 1
        batch.first.setdefault(tp, message.offset)
        batch.next[tp] = message.offset + 1
        try:
            add_message(batch.raw, message, self._signal_topics, self._otlp_topics, self._default_project)
        except PoisonMessage as exc:
            await self._dead_letter(message, str(exc), stop)

    async def _dead_letter(self, message: ConsumerRecord, reason: str, stop: asyncio.Event) -> None:
        headers = [
            ("prela.source.topic", message.topic.encode()),
            ("prela.source.partition", str(message.partition).encode()),
            ("prela.source.offset", str(message.offset).encode()),
            ("prela.error", reason.encode()),
        ]
        backoff = Backoff(0.2, self._max_backoff_s)
        while True:
            try:
                await self._dead_letters.send_and_wait(
                    self._config.topic_dead_letter, message.value or b"", key=message.key, headers=headers
                )
                self.stats.dead_lettered += 1
                WRITER_DEAD_LETTERED.inc()
                logger.warning(
                    "dead-lettered topic=%s partition=%d offset=%d reason=%r",
                    message.topic, message.partition, message.offset, reason,
                )  # fmt: skip
                return
            except KafkaError as exc:  # never move past a message that is neither stored nor dead-lettered
                logger.warning("dead-letter publish failed, retrying error=%r", str(exc))
                if stop.is_set():
                    raise
                await _sleep_or_stop(stop, backoff.next())

    async def _store(self, batch: _Batch, stop: asyncio.Event) -> bool:
        """Insert until it succeeds (True); False when stopping first — then nothing is committed."""
        token = batch.token(self._group)
        started = time.perf_counter()
        for insert in batch.raw.inserts(self._traces, self._writer, token):
            backoff = Backoff(0.2, self._max_backoff_s)
            while True:
                try:
                    self.stats.inserted_spans += await asyncio.to_thread(insert.run)
                    break
                except Exception as exc:
                    self.stats.insert_errors += 1
                    self.stats.clickhouse_ok = False
                    delay = backoff.next()
                    logger.warning(
                        "insert failed table=%s rows=%d retry_in_s=%.1f error=%r",
                        insert.what, insert.rows, delay, str(exc)[:300],
                    )  # fmt: skip
                    if await _sleep_or_stop(stop, delay):
                        return False
            self.stats.clickhouse_ok = True
        if not batch.raw.empty:
            self.stats.inserted_batches += 1
            self.stats.last_insert_seconds = time.perf_counter() - started
        return True

    async def _commit(self, batch: _Batch) -> None:
        try:
            await self._consumer.commit(dict(batch.next))
        except (CommitFailedError, KafkaError) as exc:
            # The group moved on (rebalance): the new owner replays from the last commit, the store folds it.
            logger.warning("offset commit failed, batch will be replayed error=%r", str(exc))

    async def _update_lag(self) -> None:
        for tp in self._consumer.assignment():
            highwater = self._consumer.highwater(tp)
            if highwater is None:
                continue
            try:
                position = await asyncio.wait_for(self._consumer.position(tp), 1)
            except (KafkaError, TimeoutError):
                continue
            lag = max(0, highwater - position)
            self.stats.lag[(tp.topic, tp.partition)] = lag
            WRITER_CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(lag)

    async def check_kafka(self) -> bool:
        try:
            await asyncio.wait_for(self._consumer.topics(), 2)
            return True
        except Exception:  # any failure means: not reachable
            return False


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to `seconds`; True when `stop` was set meanwhile."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
        return True
    except TimeoutError:
        return False
