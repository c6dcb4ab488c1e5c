"""The trace service (`prela writer`): Kafka consumer group → ClickHouse, at least once, no duplicates.

Offsets are committed only after the batch they cover is inserted. A replay
(crash, rebalance, ClickHouse failure) re-inserts the same spans: the insert
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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from google.protobuf.message import DecodeError

from prela.exporters.clickhouse import ClickHouseWriter, log_unstorable
from prela.exporters.kafka import KafkaConfig
from prela.model import SpanRecord
from prela.proto.codec import decode_batch
from prela.telemetry.metrics import WRITER_CONSUMER_LAG, WRITER_DEAD_LETTERED

logger = logging.getLogger(__name__)


class PoisonMessage(ValueError):
    """A message that is not a valid Prela SpanBatch (or OTLP request, on the logs / metrics topics)."""


# Rows of one OTLP logs / metrics message: (project id from the key, value) → LogRow / MetricPoint rows.
SignalDecoder = Callable[[str, bytes], Sequence[SpanRecord]]


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


def _decode_signal(decode: SignalDecoder, message: ConsumerRecord) -> Sequence[SpanRecord]:
    project_id = message.key.decode(errors="replace") if message.key else ""
    if not project_id:
        raise PoisonMessage("OTLP message without a project id as its key")
    try:
        return decode(project_id, message.value or b"")
    except DecodeError as exc:
        raise PoisonMessage(f"not an OTLP request of topic {message.topic}: {exc}") from None


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
    records: list[SpanRecord] = field(default_factory=list)
    signals: bool = False  # holds log / metric rows too: inserted per row type
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
        writer: ClickHouseWriter,
        batch_spans: int = 20_000,
        linger_s: float = 0.2,
        max_backoff_s: float = 5.0,
        signal_decoders: Mapping[str, SignalDecoder] | None = None,
    ) -> None:
        """`signal_decoders`: topic → decoder of the other OTLP signals (logs, metrics), also consumed."""
        self._signal_decoders = dict(signal_decoders or {})
        self._config = config
        self._group = group
        self._writer = writer
        self._batch_spans = batch_spans
        self._linger_s = linger_s
        self._max_backoff_s = max_backoff_s
        self.stats = WriterStats()
        self._consumer = AIOKafkaConsumer(
            config.topic_spans,
            config.topic_traces,
            *self._signal_decoders,
            **config.client_options(),
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=5000,
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
        backoff = 0.2
        while not stop.is_set():
            try:
                await self._consumer.start()
                await self._dead_letters.start()
                self.stats.kafka_ok = True
                logger.info(
                    "consuming topics=%s group=%s",
                    ",".join([self._config.topic_spans, self._config.topic_traces, *self._signal_decoders]),
                    self._group,
                )
                return True
            except (KafkaError, OSError) as exc:
                self.stats.kafka_ok = False
                logger.warning("kafka not reachable, retrying in_s=%.1f error=%r", backoff, str(exc))
                await _sleep_or_stop(stop, backoff)
                backoff = min(backoff * 2, self._max_backoff_s)
        return False

    async def _collect(self, stop: asyncio.Event) -> _Batch:
        batch = _Batch()
        deadline = time.monotonic() + self._linger_s
        while len(batch.records) < self._batch_spans and not stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0 and batch.next:
                break
            try:
                fetched = await self._consumer.getmany(
                    timeout_ms=max(int(remaining * 1000), 50), max_records=5000
                )
                self.stats.kafka_ok = True
            except KafkaError as exc:
                self.stats.kafka_ok = False
                logger.warning("fetch failed error=%r", str(exc))
                await _sleep_or_stop(stop, 1.0)
                continue
            for tp, messages in fetched.items():
                for message in messages:
                    await self._take(batch, tp, message, stop)
            if not fetched and not batch.next:
                deadline = time.monotonic() + self._linger_s  # idle: start the linger at the next message
        await self._update_lag()
        return batch

    async def _take(
        self, batch: _Batch, tp: TopicPartition, message: ConsumerRecord, stop: asyncio.Event
    ) -> None:
        self.stats.consumed_messages += 1
        batch.first.setdefault(tp, message.offset)
        batch.next[tp] = message.offset + 1
        try:
            decode = self._signal_decoders.get(message.topic)
            if decode is None:
                batch.records.extend(decode_message(message))
            else:
                batch.records.extend(_decode_signal(decode, message))
                batch.signals = True
        except PoisonMessage as exc:
            await self._dead_letter(message, str(exc), stop)

    async def _dead_letter(self, message: ConsumerRecord, reason: str, stop: asyncio.Event) -> None:
        headers = [
            ("prela.source.topic", message.topic.encode()),
            ("prela.source.partition", str(message.partition).encode()),
            ("prela.source.offset", str(message.offset).encode()),
            ("prela.error", reason.encode()),
        ]
        backoff = 0.2
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
                await _sleep_or_stop(stop, backoff)
                backoff = min(backoff * 2, self._max_backoff_s)

    async def _store(self, batch: _Batch, stop: asyncio.Event) -> bool:
        """Insert until it succeeds (True); False when stopping first — then nothing is committed."""
        if not batch.records:
            return True  # only dead letters: commit past them
        token = batch.token(self._group)
        backoff = 0.2
        while True:
            started = time.perf_counter()
            try:
                unstorable = await asyncio.to_thread(self._insert_by_table, batch, token)
            except Exception as exc:
                self.stats.insert_errors += 1
                self.stats.clickhouse_ok = False
                logger.warning(
                    "insert failed spans=%d retry_in_s=%.1f error=%r",
                    len(batch.records),
                    backoff,
                    str(exc)[:300],
                )
                if await _sleep_or_stop(stop, backoff):
                    return False
                backoff = min(backoff * 2, self._max_backoff_s)
                continue
            self.stats.clickhouse_ok = True
            log_unstorable(unstorable)
            self.stats.inserted_spans += len(batch.records) - len(unstorable)
            self.stats.inserted_batches += 1
            self.stats.last_insert_seconds = time.perf_counter() - started
            return True

    def _insert_by_table(self, batch: _Batch, token: str) -> list[tuple[SpanRecord, str]]:
        """One insert per row type (spans, log records, metric points), each into its own table."""
        settings = {"insert_deduplication_token": token}  # deduplication is per table: one token serves all
        if not batch.signals:
            return self._writer.insert_or_isolate(batch.records, settings)
        by_type: dict[type, list[SpanRecord]] = {}
        for record in batch.records:
            by_type.setdefault(record.__class__, []).append(record)
        return [u for rows in by_type.values() for u in self._writer.insert_or_isolate(rows, settings)]

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
