"""The collector's spool: what `prela collector` acknowledged survives a Kafka outage and a crash.

Each accepted request is appended, raw, as the Kafka messages it becomes
(exporters/kafka.py: one per request, split only when larger than a message), to a write-ahead log in the data dir (the same
log `prela serve` keeps, exporters/wal.py), and answered once the append
returned. One sender task reads the log in order, publishes with acks=all and
checkpoints an entry only after Kafka acknowledged all of its messages; while
the broker is away it retries with back-off and the spool grows, up to
`max_bytes`: past that, requests are refused retryably (`SpoolFull`).

A crash between Kafka's acknowledgement and the checkpoint sends those
entries again at the next start: the writer folds the duplicates (the spans
table replaces rows with the same span identity), so spans are stored once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from collections.abc import Sequence

import orjson
from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from prela.exporters.base import Overloaded, PayloadKind, RawRequest, Unavailable
from prela.exporters.kafka import (
    CONTENT_TYPE_HEADER,
    JSON,
    PROJECT_HEADER,
    PROTOBUF,
    KafkaConfig,
    KafkaSender,
    Message,
    split_request,
)
from prela.exporters.wal import WalEntry, WalFull, WalReader, WriteAheadLog
from prela.proto.codec import decode_batch
from prela.telemetry.metrics import (
    EXPORTER_FAILED_SPANS,
    EXPORTER_SENT_SPANS,
    SPOOL_APPENDED_SPANS,
    SPOOL_BYTES,
    SPOOL_CAPACITY_BYTES,
    SPOOL_DRAINED_SPANS,
    SPOOL_OLDEST_AGE_SECONDS,
    SPOOL_PENDING_REQUESTS,
)
from prela.writer.backoff import Backoff

logger = logging.getLogger(__name__)

# An entry's payload: appended at (unix ns), span count, then each message as key length, value length, key, value.
_ENTRY = struct.Struct("<QI")
_MESSAGE = struct.Struct("<II")


class SpoolFull(Overloaded):
    """The spool reached PRELA_SPOOL_MAX_BYTES: Kafka has been away too long; retry later."""

    reason = "spool_full"


def encode_entry(spans: int, messages: Sequence[tuple[bytes, bytes]], appended_at_ns: int) -> bytes:
    parts = [_ENTRY.pack(appended_at_ns, spans)]
    for key, value in messages:
        parts += (_MESSAGE.pack(len(key), len(value)), key, value)
    return b"".join(parts)


def decode_entry(payload: bytes) -> tuple[int, int, list[tuple[bytes, bytes]]]:
    """(appended at unix ns, span count, [(key, value)]) of a spool entry's payload."""
    appended_at_ns, spans = _ENTRY.unpack_from(payload, 0)
    messages = []
    offset = _ENTRY.size
    while offset < len(payload):
        key_len, value_len = _MESSAGE.unpack_from(payload, offset)
        offset += _MESSAGE.size
        key = payload[offset : offset + key_len]
        offset += key_len
        messages.append((key, payload[offset : offset + value_len]))
        offset += value_len
    return appended_at_ns, spans, messages


def segment_bytes_for(max_bytes: int) -> int:
    """Segments small enough that drained ones are deleted long before the spool is full."""
    return max(64 * 1024, min(64 * 1024 * 1024, max_bytes // 16))


class KafkaSpool:
    """`SpanExporter` of `prela collector`: spool the request, answer; a task sends it to Kafka."""

    def __init__(
        self,
        wal: WriteAheadLog,
        sender: KafkaSender,
        config: KafkaConfig,
        max_bytes: int,
        read_bytes: int = 4 * 1024 * 1024,
        max_backoff_s: float = 5.0,
    ) -> None:
        self._wal = wal
        self._sender = sender
        self._config = config
        self._topics = {
            PayloadKind.SPOOL_TRACES: config.topic_traces,  # the older layout, still in a spool after an upgrade
            PayloadKind.SPOOL_PRELA_TRACES: config.topic_traces,
            PayloadKind.SPOOL_LOGS: config.topic_logs,
            PayloadKind.SPOOL_METRICS: config.topic_metrics,
        }
        self._content_types = {
            PayloadKind.SPOOL_OTLP_SPANS: PROTOBUF,
            PayloadKind.SPOOL_PRELA_TRACES: JSON,
            PayloadKind.SPOOL_LOGS: PROTOBUF,
            PayloadKind.SPOOL_METRICS: PROTOBUF,
        }
        self._limit = config.max_message_bytes
        self._read_bytes = read_bytes
        self._max_backoff_s = max_backoff_s
        self._wakeup = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._oldest_ns = 0  # appended-at of the oldest entry not yet acknowledged; 0 when none
        self._refused_at: int | None = None  # the checkpoint when an append was last refused as full
        self.sent_spans = 0
        SPOOL_CAPACITY_BYTES.set(max_bytes)
        SPOOL_BYTES.set_function(lambda: self._wal.size_bytes)
        SPOOL_PENDING_REQUESTS.set_function(lambda: self.pending_requests)
        SPOOL_OLDEST_AGE_SECONDS.set_function(self.oldest_age_s)

    @property
    def pending_requests(self) -> int:
        """Requests in the spool that Kafka has not acknowledged yet."""
        return self._wal.last_lsn - self._wal.checkpointed

    @property
    def has_room(self) -> bool:
        """False from a refusal (spool full) until Kafka took something from the spool."""
        return self._refused_at is None or self._wal.checkpointed > self._refused_at

    def oldest_age_s(self) -> float:
        if not self._oldest_ns or not self.pending_requests:
            return 0.0
        return max(0.0, (time.time_ns() - self._oldest_ns) / 1e9)

    async def export(self, project_id: str, raw: RawRequest, items: int) -> None:
        """Return once the request is in the spool (Kafka is not waited for)."""
        if not items:
            return
        if self._closing:
            raise Unavailable("the collector is shutting down")
        if raw.kind is PayloadKind.OTLP_PROTOBUF:
            kind, key, values = PayloadKind.SPOOL_OTLP_SPANS, b"", split_request(raw.payload, self._limit)
        elif raw.kind is PayloadKind.PRELA_JSON:
            kind, key, values = PayloadKind.SPOOL_PRELA_TRACES, b"", [raw.payload]
        else:  # OTLP logs / metrics, one message keyed by project
            kind = PayloadKind.SPOOL_LOGS if raw.kind is PayloadKind.OTLP_LOGS else PayloadKind.SPOOL_METRICS
            key, values = project_id.encode(), [raw.payload]
            items = 0  # the spool's span counters count spans only
        largest = max(len(value) for value in values)
        if largest > self._limit + 60 * 1024:  # what the producer would refuse, as before
            raise Unavailable(
                f"a request part of {largest} bytes exceeds the Kafka message limit "
                f"(PRELA_KAFKA_MAX_MESSAGE_BYTES={self._config.max_message_bytes}): send smaller batches"
            )
        self._append(kind, project_id, encode_entry(items, [(key, v) for v in values], time.time_ns()), items)

    def _append(self, kind: PayloadKind, project_id: str, entry: bytes, spans: int) -> None:
        try:
            self._wal.append(kind, project_id, entry)
        except WalFull as exc:
            self._refused_at = self._wal.checkpointed
            raise SpoolFull(f"the spool is full ({exc}): Kafka is not taking spans, retry later") from None
        except OSError as exc:  # disk full, I/O error: not durable, so not accepted
            logger.error("spool append failed error=%r", str(exc))
            raise Unavailable(f"the spool cannot be written ({exc.strerror}), retry") from None
        self._refused_at = None
        SPOOL_APPENDED_SPANS.inc(spans)
        self._wakeup.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="prela-spool-sender")

    async def close(self, timeout_s: float) -> bool:
        """Refuse new requests, send what the spool holds for up to `timeout_s`; True when all was sent.

        What Kafka did not take stays in the spool for the next start.
        """
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._task, timeout_s)
        return self.pending_requests == 0

    async def _run(self) -> None:
        reader = self._wal.reader(self._wal.checkpointed)
        try:
            await self._send_in_order(reader)
        finally:
            reader.close()

    async def _send_in_order(self, reader: WalReader) -> None:
        backoff = Backoff(0.1, self._max_backoff_s)
        while True:
            self._wakeup.clear()
            entries = reader.read(self._read_bytes)
            if entries:
                await self._send_until_acknowledged(entries)
                continue
            self._oldest_ns = 0
            if self._closing:
                return
            if not self._sender.connected:  # connect (and create topics) while idle, for /health
                try:
                    await self._sender.connect()
                    backoff.reset()
                except (KafkaError, TimeoutError, OSError) as exc:
                    delay = backoff.next()
                    logger.warning("kafka not reachable retry_in_s=%.1f error=%r", delay, str(exc)[:300])
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wakeup.wait(), delay)
                continue
            await self._wakeup.wait()

    async def _send_until_acknowledged(self, entries: list[WalEntry]) -> None:
        messages: list[Message] = []
        spans = 0
        for i, entry in enumerate(entries):
            appended_at_ns, count, pairs = decode_entry(entry.payload)
            if i == 0:
                self._oldest_ns = appended_at_ns
            spans += count
            topic = self._topics.get(entry.kind, self._config.topic_spans)
            content_type = self._content_types.get(entry.kind)
            headers = (
                [(PROJECT_HEADER, entry.project_id.encode()), (CONTENT_TYPE_HEADER, content_type)]
                if content_type is not None
                else []
            )
            messages += ((topic, key, value, headers) for key, value in pairs)
        if not await self._deliver(messages, len(entries), spans):
            # A message the broker refuses as too large (its limit is below ours) would block the spool
            # forever: send one message at a time and leave out only those, logged with their trace id.
            for message in messages:
                if not await self._deliver([message], 1, 0):
                    logger.error(
                        "kafka refuses a message as too large: left out of the spool topic=%s key=%s bytes=%d "
                        "(raise the broker's message.max.bytes or lower PRELA_KAFKA_MAX_MESSAGE_BYTES)",
                        message[0], message[1].decode(errors="replace"), len(message[2]),
                    )  # fmt: skip
                    EXPORTER_FAILED_SPANS.labels("kafka").inc(self._spans_of(message))
        self._wal.checkpoint(entries[-1].lsn)
        self.sent_spans += spans
        EXPORTER_SENT_SPANS.labels("kafka").inc(spans)
        SPOOL_DRAINED_SPANS.inc(spans)

    def _spans_of(self, message: Message) -> int:
        """The spans of a message the broker refused (for the failed-spans counter)."""
        topic, _, value, headers = message
        content_type = dict(headers).get(CONTENT_TYPE_HEADER)
        try:
            if topic == self._config.topic_spans and content_type == PROTOBUF:
                request = ExportTraceServiceRequest.FromString(value)
                return sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
            if topic == self._config.topic_traces and content_type == JSON:
                return len(orjson.loads(value)["spans"])
            if topic in (self._config.topic_spans, self._config.topic_traces) and content_type is None:
                return len(decode_batch(value)[1])
        except Exception:  # counting only: a message that does not read counts as none
            return 0
        return 0

    async def _deliver(self, messages: list[Message], requests: int, spans: int) -> bool:
        """Send until Kafka acknowledged (True), backing off while it is away; False: a message is too large."""
        backoff = Backoff(0.1, self._max_backoff_s)
        failures = 0
        while True:
            try:
                await self._sender.send(messages)
                break
            except MessageSizeTooLargeError:
                return False
            except (KafkaError, TimeoutError, OSError) as exc:
                failures += 1
                delay = backoff.next()
                logger.warning(
                    "kafka did not acknowledge spooled requests=%d spans=%d attempt=%d retry_in_s=%.1f "
                    "pending_requests=%d error=%r",
                    requests, spans, failures, delay, self.pending_requests, f"{type(exc).__name__}: {exc}"[:300],
                )  # fmt: skip
                await asyncio.sleep(delay)
        if failures:
            logger.info("kafka acknowledged again after attempts=%d", failures + 1)
        return True
