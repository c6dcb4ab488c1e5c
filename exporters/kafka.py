"""The Kafka transport of the scale-out mode: the collector's producer side.

Spans travel as `prela.v1.SpanBatch` messages (proto/prela_spans.proto), one
message per trace (split when large), keyed by trace id so a trace's spans
share a partition. OTLP spans go to the spans topic; complete traces sent as
Prela JSON go to the traces topic (the seed's layout); the writer reads both.
`export` returns only once Kafka acknowledged every message (acks=all).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context

from prela.exporters.base import RawRequest, Unavailable
from prela.model import SpanRecord
from prela.proto.codec import encode_batch
from prela.telemetry.metrics import EXPORTER_FAILED_SPANS, EXPORTER_SENT_SPANS

logger = logging.getLogger(__name__)

SEVEN_DAYS_MS = 7 * 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class KafkaConfig:
    bootstrap_servers: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-256"
    username: str | None = None
    password: str | None = None
    topic_spans: str = "spans"
    topic_traces: str = "traces"
    topic_dead_letter: str = "prela-dead-letter"
    compression: str = "zstd"  # gzip | lz4 | zstd | none; aiokafka's lz4 is LZ4-HC level 9: slower
    linger_ms: int = 5
    max_batch_bytes: int = 1024 * 1024
    max_message_bytes: int = 1024 * 1024
    ack_timeout_s: float = 10.0
    client_id: str = "prela"

    def __post_init__(self) -> None:
        if self.security_protocol.startswith("SASL") and not (self.username and self.password):
            raise ValueError(
                f"KAFKA_SECURITY_PROTOCOL={self.security_protocol} needs KAFKA_USERNAME and KAFKA_PASSWORD"
            )
        if self.compression not in ("gzip", "lz4", "zstd", "none"):
            raise ValueError(f"compression must be gzip, lz4, zstd or none, got {self.compression!r}")

    def client_options(self) -> dict[str, Any]:
        """Connection options shared by producer, consumer and admin client."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
            "client_id": self.client_id,
        }
        if self.security_protocol in ("SSL", "SASL_SSL"):
            options["ssl_context"] = create_ssl_context()
        if self.security_protocol.startswith("SASL"):
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.username
            options["sasl_plain_password"] = self.password
        return options

    def topics(self) -> list[NewTopic]:
        """The seed's topics: traces (3 partitions), spans (6), 7-day retention; plus the dead letters."""
        retention = {"retention.ms": str(SEVEN_DAYS_MS)}
        return [
            NewTopic(self.topic_traces, 3, 1, topic_configs=retention),
            NewTopic(self.topic_spans, 6, 1, topic_configs=retention),
            NewTopic(self.topic_dead_letter, 1, 1, topic_configs=retention),
        ]


async def create_topics(config: KafkaConfig, timeout_s: float = 15.0) -> list[str]:
    """Create the missing topics; returns those created. Raises KafkaError when not allowed."""
    admin = AIOKafkaAdminClient(**config.client_options(), request_timeout_ms=int(timeout_s * 1000))
    await asyncio.wait_for(admin.start(), timeout_s)
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in config.topics() if t.name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another replica won the race
                await admin.create_topics(missing)
        return [t.name for t in missing]
    finally:
        await admin.close()


def split_by_trace(records: Sequence[SpanRecord]) -> dict[str, list[SpanRecord]]:
    by_trace: dict[str, list[SpanRecord]] = {}
    for record in records:
        group = by_trace.get(record.trace_id)
        if group is None:
            by_trace[record.trace_id] = [record]
        else:
            group.append(record)
    return by_trace


def encode_messages(
    project_id: str, records: Sequence[SpanRecord], max_bytes: int
) -> list[tuple[bytes, bytes]]:
    """(key, value) messages: one SpanBatch per trace, halved until each fits `max_bytes`."""
    messages: list[tuple[bytes, bytes]] = []
    for trace_id, spans in split_by_trace(records).items():
        key = trace_id.encode()
        pending = [spans]
        while pending:
            chunk = pending.pop()
            value = encode_batch(project_id, chunk)
            if len(value) > max_bytes and len(chunk) > 1:
                half = len(chunk) // 2
                pending += [chunk[half:], chunk[:half]]
                continue
            messages.append((key, value))  # a single span over the limit is left to the broker to refuse
    return messages


class KafkaExporter:
    """`SpanExporter` publishing to Kafka; answers only after the broker acknowledged."""

    def __init__(self, config: KafkaConfig) -> None:
        self._config = config
        self._producer = AIOKafkaProducer(
            **config.client_options(),
            acks="all",
            compression_type=None if config.compression == "none" else config.compression,
            linger_ms=config.linger_ms,
            max_batch_size=config.max_batch_bytes,
            max_request_size=config.max_message_bytes + 64 * 1024,
            request_timeout_ms=int(config.ack_timeout_s * 1000),
            enable_idempotence=False,  # replays are folded by the store; Tansu lacks idempotent producers
        )
        self._started = False
        self.healthy = False

    async def start(self) -> None:
        """Connect; a broker that is down now is not fatal: exports fail retryably until it is back."""
        try:
            await asyncio.wait_for(self._producer.start(), self._config.ack_timeout_s)
            self._started = True
            self.healthy = True
        except (KafkaError, TimeoutError, OSError) as exc:
            logger.warning(
                "kafka not reachable at start bootstrap=%s error=%r", self._config.bootstrap_servers, exc
            )

    async def stop(self) -> None:
        if self._started:
            await self._producer.stop()

    async def export(
        self,
        project_id: str,
        records: Sequence[SpanRecord],
        whole_trace: bool = False,
        raw: RawRequest | None = None,
    ) -> None:
        """Publish and wait for Kafka's acknowledgement (Kafka is the durable log: `raw` is not kept)."""
        if not records:
            return
        topic = self._config.topic_traces if whole_trace else self._config.topic_spans
        messages = encode_messages(project_id, records, self._config.max_message_bytes)
        try:
            await asyncio.wait_for(self._send_all(topic, messages), self._config.ack_timeout_s)
        except (KafkaError, TimeoutError, OSError) as exc:
            self.healthy = False
            EXPORTER_FAILED_SPANS.labels("kafka").inc(len(records))
            raise Unavailable(f"Kafka did not acknowledge the spans ({type(exc).__name__}), retry") from None
        self.healthy = True
        EXPORTER_SENT_SPANS.labels("kafka").inc(len(records))

    async def _send_all(self, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
        if not self._started:
            await self._producer.start()
            self._started = True
        send = self._producer.send
        acks = [await send(topic, value, key=key) for key, value in messages]
        await asyncio.gather(*acks)

    async def check(self) -> bool:
        """True when the cluster answers a metadata request."""
        try:
            if not self._started:
                await asyncio.wait_for(self._producer.start(), 2)
                self._started = True
            self.healthy = bool(await asyncio.wait_for(self._producer.client.fetch_all_metadata(), 2))
        except Exception:  # any failure means: not reachable
            self.healthy = False
        return self.healthy
