"""The Kafka transport of the scale-out mode: the collector's producer side.

Requests travel raw. An OTLP trace request goes to the spans topic as one
message holding its `ExportTraceServiceRequest` protobuf (split by resource,
scope and spans when larger than a message may be), its project and format in
record headers (`prela-project`, `content-type: application/x-protobuf`); a
complete trace sent as Prela JSON goes to the traces topic as its JSON body
(`content-type: application/json`): the seed's layout. The writer reads both,
and also messages of the older layout (`prela.v1.SpanBatch` per trace, no
headers) that a topic may still hold after an upgrade. The collector does not
wait for Kafka before answering: it appends each request to its spool
(exporters/spool.py), whose sender task publishes with `KafkaSender`
(acks=all) and checkpoints what Kafka acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from prela.model import SpanRecord
from prela.proto.codec import encode_batch

logger = logging.getLogger(__name__)

SEVEN_DAYS_MS = 7 * 24 * 3600 * 1000

PROJECT_HEADER = "prela-project"
CONTENT_TYPE_HEADER = "content-type"
PROTOBUF = b"application/x-protobuf"
JSON = b"application/json"

# (topic, key, value, headers); an empty key is sent as none (the producer spreads such messages)
Message = tuple[str, bytes, bytes, list[tuple[str, bytes]]]


@dataclass(frozen=True, slots=True)
class KafkaConfig:
    bootstrap_servers: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-256"
    username: str | None = None
    password: str | None = None
    topic_spans: str = "spans"
    topic_traces: str = "traces"
    topic_logs: str = "logs"  # OTLP ExportLogsServiceRequest protobuf, key = project id
    topic_metrics: str = "metrics"  # OTLP ExportMetricsServiceRequest protobuf, key = project id
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
        """The seed's topics: traces (3 partitions), spans (6), 7-day retention; plus logs and metrics
        (3 each) and the dead letters."""
        retention = {"retention.ms": str(SEVEN_DAYS_MS)}
        return [
            NewTopic(self.topic_traces, 3, 1, topic_configs=retention),
            NewTopic(self.topic_spans, 6, 1, topic_configs=retention),
            NewTopic(self.topic_logs, 3, 1, topic_configs=retention),
            NewTopic(self.topic_metrics, 3, 1, topic_configs=retention),
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


def split_request(payload: bytes, max_bytes: int) -> list[bytes]:
    """An ExportTraceServiceRequest as serialized parts of at most `max_bytes` each: halved by resource,
    then scope, then spans (the rare request larger than a Kafka message). A single span over the limit
    stays one part, left to the caller to refuse."""
    if len(payload) <= max_bytes:
        return [payload]
    parts: list[bytes] = []
    pending = [ExportTraceServiceRequest.FromString(payload)]
    while pending:
        request = pending.pop()
        value = request.SerializeToString()
        halves = _halves(request) if len(value) > max_bytes else None
        if halves is None:
            parts.append(value)
        else:
            pending += [halves[1], halves[0]]
    return parts


def _halves(
    request: ExportTraceServiceRequest,
) -> tuple[ExportTraceServiceRequest, ExportTraceServiceRequest] | None:
    resources = request.resource_spans
    if len(resources) > 1:
        half = len(resources) // 2
        return (
            ExportTraceServiceRequest(resource_spans=resources[:half]),
            ExportTraceServiceRequest(resource_spans=resources[half:]),
        )
    if not resources:
        return None
    resource = resources[0]
    scopes = resource.scope_spans
    halves = []
    if len(scopes) > 1:
        half = len(scopes) // 2
        for part in (scopes[:half], scopes[half:]):
            r = ExportTraceServiceRequest()
            added = r.resource_spans.add(resource=resource.resource, schema_url=resource.schema_url)
            added.scope_spans.extend(part)
            halves.append(r)
        return halves[0], halves[1]
    if not scopes or len(scopes[0].spans) < 2:
        return None
    scope = scopes[0]
    half = len(scope.spans) // 2
    for part in (scope.spans[:half], scope.spans[half:]):
        r = ExportTraceServiceRequest()
        added = r.resource_spans.add(resource=resource.resource, schema_url=resource.schema_url)
        added.scope_spans.add(scope=scope.scope, schema_url=scope.schema_url).spans.extend(part)
        halves.append(r)
    return halves[0], halves[1]


def encode_messages(
    project_id: str, records: Sequence[SpanRecord], max_bytes: int
) -> list[tuple[bytes, bytes]]:
    """(key, value) messages of the older layout: one SpanBatch per trace, halved until each fits
    `max_bytes` (no longer produced; kept to test that the writer still reads them)."""
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


class KafkaSender:
    """The collector's producer: publishes messages and returns once Kafka acknowledged all (acks=all).

    A broker that is down is not fatal: `send` raises and the caller (the
    spool) retries; the producer is (re)connected on the next attempt.
    """

    def __init__(self, config: KafkaConfig, on_connect: Callable[[], Awaitable[None]] | None = None) -> None:
        self._config = config
        self._on_connect = on_connect
        self._producer: AIOKafkaProducer | None = None
        self._connecting = asyncio.Lock()
        self.healthy = False

    def _new_producer(self) -> AIOKafkaProducer:
        config = self._config
        return AIOKafkaProducer(
            **config.client_options(),
            acks="all",
            compression_type=None if config.compression == "none" else config.compression,
            linger_ms=config.linger_ms,
            max_batch_size=config.max_batch_bytes,
            max_request_size=config.max_message_bytes + 64 * 1024,
            request_timeout_ms=int(config.ack_timeout_s * 1000),
            enable_idempotence=False,  # replays are folded by the store; Tansu lacks idempotent producers
        )

    @property
    def connected(self) -> bool:
        return self._producer is not None

    async def connect(self) -> None:
        """Start the producer (and run `on_connect` once); raises KafkaError/TimeoutError/OSError."""
        async with self._connecting:
            if self._producer is not None:
                return
            producer = self._new_producer()
            try:
                await asyncio.wait_for(producer.start(), self._config.ack_timeout_s)
            except BaseException:
                self.healthy = False
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(producer.stop(), 1)
                raise
            self._producer = producer
            self.healthy = True
            if self._on_connect is not None:
                on_connect, self._on_connect = self._on_connect, None
                await on_connect()

    async def send(self, messages: Sequence[Message]) -> None:
        """Publish (topic, key, value, headers) messages; raises KafkaError/TimeoutError/OSError when not
        acknowledged."""
        try:
            await self.connect()
            if self._producer is None:
                raise KafkaError("the producer did not connect")
            await asyncio.wait_for(self._send_all(self._producer, messages), self._config.ack_timeout_s)
        except (KafkaError, TimeoutError, OSError):
            self.healthy = False
            raise
        self.healthy = True

    @staticmethod
    async def _send_all(producer: AIOKafkaProducer, messages: Sequence[Message]) -> None:
        send = producer.send
        acks = [
            await send(topic, value, key=key or None, headers=headers or None)
            for topic, key, value, headers in messages
        ]
        await asyncio.gather(*acks)

    async def stop(self, timeout_s: float = 5.0) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):  # a broker that is away: nothing left to flush matters
                await asyncio.wait_for(producer.stop(), timeout_s)

    async def check(self) -> bool:
        """True when the cluster answers a metadata request now (False while not connected yet)."""
        if self._producer is None:
            return False
        try:
            self.healthy = bool(await asyncio.wait_for(self._producer.client.fetch_all_metadata(), 2))
        except Exception:  # any failure means: not reachable
            self.healthy = False
        return self.healthy
