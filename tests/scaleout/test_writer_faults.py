"""The writer with ClickHouse unavailable: nothing committed, nothing lost, recovery when it returns.

Real Tansu broker and real chDB; the outage is injected in front of the real
ClickHouse writer (an embedded engine cannot be taken down from outside).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from prela.exporters.clickhouse import ClickHouseWriter, apply_schema, close_all, connect
from prela.exporters.kafka import KafkaConfig, create_topics, encode_messages
from prela.exporters.otlp_insert import PythonOtlpInserter
from prela.model import SpanRecord
from prela.writer.kafka_writer import KafkaClickHouseWriter
from tests.scaleout.conftest import Broker

pytestmark = pytest.mark.integration


class OutageClickHouse:
    """The real writer behind a switch that makes every insert fail like an unreachable server."""

    def __init__(self, real: ClickHouseWriter) -> None:
        self.real = real
        self.down = True
        self.refused = 0

    def insert(self, records: Sequence[SpanRecord], settings: dict[str, Any] | None = None) -> None:
        if self.down:
            self.refused += 1
            raise ConnectionError("ClickHouse: connection refused")
        self.real.insert(records, settings)

    def insert_or_isolate(
        self, records: Sequence[SpanRecord], settings: dict[str, Any] | None = None
    ) -> list[tuple[SpanRecord, str]]:
        if self.down:
            self.refused += 1
            raise ConnectionError("ClickHouse: connection refused")
        return self.real.insert_or_isolate(records, settings)

    def ping(self) -> bool:
        return not self.down


def record(trace_id: str, i: int) -> SpanRecord:
    return SpanRecord(
        "p", trace_id, f"{i:016x}", "", "", "op", "CUSTOM", "INTERNAL", "svc", "", "",
        1_700_000_000_000_000_000 + i, 1_700_000_000_000_000_100 + i, 100, "SUCCESS", "", "{}", "{}", "{}",
        "[]", "[]", "", "", "", 0, 0, 0, 0, 0, 0, 0.0, "", "",
    )  # fmt: skip


async def committed(
    broker: Broker, group: str, partitions: list[TopicPartition]
) -> dict[TopicPartition, Any]:
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        return {tp: await consumer.committed(tp) for tp in partitions}
    finally:
        await consumer.stop()


async def test_clickhouse_outage_commits_nothing_and_recovers(broker: Broker, tmp_path: Path) -> None:
    config = KafkaConfig(bootstrap_servers=broker.bootstrap)
    await create_topics(config)
    records = [record(os.urandom(16).hex(), i) for i in range(300)]
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
    await producer.start()
    for key, value in encode_messages("p", records, config.max_message_bytes):
        await producer.send_and_wait(config.topic_spans, value, key=key)
    await producer.stop()

    client = connect(f"chdb://{tmp_path / 'ch'}")
    try:
        apply_schema(client, "prela", 90)
        store = OutageClickHouse(ClickHouseWriter(client, "prela"))
        # The spans travel as SpanBatch messages (the layout before raw requests): an upgrade drains them.
        traces = PythonOtlpInserter(client, "prela")
        writer = KafkaClickHouseWriter(config, "g-outage", traces, store, linger_s=0.1, max_backoff_s=0.3)
        stop = asyncio.Event()
        task = asyncio.create_task(writer.run(stop))
        for _ in range(300):  # the group join takes a few seconds
            if store.refused >= 3:
                break
            await asyncio.sleep(0.1)
        partitions = [TopicPartition(config.topic_spans, p) for p in range(6)]
        assert store.refused >= 2
        assert writer.stats.inserted_spans == 0 and not writer.stats.clickhouse_ok
        assert set((await committed(broker, "g-outage", partitions)).values()) == {None}

        store.down = False
        for _ in range(100):
            if writer.stats.inserted_spans >= 300:
                break
            await asyncio.sleep(0.1)
        stop.set()
        await asyncio.wait_for(task, 30)
        assert writer.stats.clickhouse_ok
        offsets = await committed(broker, "g-outage", partitions)
        assert sum(o or 0 for o in offsets.values()) == len(
            encode_messages("p", records, config.max_message_bytes)
        )
        assert client.query("SELECT count() FROM prela.spans FINAL").result_rows == [(300,)]
    finally:
        close_all()


def test_a_row_clickhouse_cannot_hold_is_isolated_and_the_rest_stored(tmp_path: Path) -> None:
    client = connect(f"chdb://{tmp_path / 'ch'}")
    try:
        apply_schema(client, "prela", 90)
        writer = ClickHouseWriter(client, "prela")
        good = [record(os.urandom(16).hex(), i) for i in range(9)]
        bad = record(os.urandom(16).hex(), 99)._replace(started_at_ns=2**64 - 1)  # past DateTime64(9)
        unstorable = writer.insert_or_isolate([*good[:4], bad, *good[4:]])
        assert [r.span_id for r, _ in unstorable] == [bad.span_id]
        assert "started_at" in unstorable[0][1]
        assert client.query("SELECT count() FROM prela.spans").result_rows == [(9,)]
    finally:
        close_all()
