"""How `prela writer` reads one Kafka message, by topic and headers (the broker is in tests/scaleout)."""

from __future__ import annotations

import os

import orjson
import pytest
from aiokafka import ConsumerRecord

from prela.exporters.base import PayloadKind
from prela.model import SpanRecord
from prela.proto.codec import encode_batch
from prela.writer.kafka_writer import PoisonMessage, add_message
from prela.writer.rows import RawBatch
from tests.integration.test_bad_input import request_of, span
from tests.scaleout.test_writer_faults import record

SIGNALS = {"logs": PayloadKind.OTLP_LOGS, "metrics": PayloadKind.OTLP_METRICS}
PROTOBUF = [("prela-project", b"p1"), ("content-type", b"application/x-protobuf")]


def message(topic: str, value: bytes, headers: list[tuple[str, bytes]] | None = None) -> ConsumerRecord:
    return ConsumerRecord(topic, 0, 0, 0, 0, None, value, None, 0, len(value), headers or [])


def read(msg: ConsumerRecord, default_project: str | None = None) -> RawBatch:
    batch = RawBatch()
    add_message(batch, msg, SIGNALS, frozenset({"otlp_spans"}), default_project)
    return batch


def otlp(spans: int = 2) -> bytes:
    trace_id = os.urandom(16)
    return request_of(*(span(trace_id, os.urandom(8)) for _ in range(spans))).SerializeToString()


def test_a_raw_request_with_prela_headers_is_kept_as_it_is_with_its_project() -> None:
    body = otlp(3)
    batch = read(message("spans", body, PROTOBUF))
    assert (batch.traces, batch.trace_spans, batch.rows) == ([("p1", body)], 3, {})


def test_a_message_of_an_otlp_topic_without_headers_belongs_to_the_default_project() -> None:
    body = otlp()
    assert read(message("otlp_spans", body), default_project="shared").traces == [("shared", body)]


def test_an_otlp_message_without_a_project_anywhere_is_poison() -> None:
    with pytest.raises(PoisonMessage, match="PRELA_KAFKA_DEFAULT_PROJECT"):
        read(message("otlp_spans", otlp()))


def test_an_otlp_message_upb_cannot_parse_is_poison() -> None:
    with pytest.raises(PoisonMessage, match="not an OTLP ExportTraceServiceRequest"):
        read(message("spans", b"\x0a\xff\xff\xff", PROTOBUF))


def test_an_old_spanbatch_message_without_headers_is_decoded_to_rows() -> None:
    records = [record(os.urandom(16).hex(), i) for i in range(2)]
    batch = read(message("spans", encode_batch("p-old", records)))
    assert batch.traces == []
    assert [(r.project_id, r.span_id) for r in batch.rows[SpanRecord]] == [
        ("p-old", r.span_id) for r in records
    ]


def test_a_prela_json_trace_is_mapped_in_the_writer_and_a_bad_one_is_poison() -> None:
    headers = [("prela-project", b"p1"), ("content-type", b"application/json")]
    started = "2025-01-27T10:00:00Z"
    doc = {
        "trace_id": "t-1",
        "spans": [
            {
                "span_id": "s-1",
                "name": "op",
                "span_type": "LLM",
                "started_at": started,
                "attributes": {"model": "gpt-4"},
            }
        ],
    }
    [row] = read(message("traces", orjson.dumps(doc), headers)).rows[SpanRecord]
    assert (row.project_id, row.trace_id, row.span_type, row.model) == ("p1", "t-1", "LLM", "gpt-4")
    with pytest.raises(PoisonMessage, match="not a Prela JSON trace"):
        read(message("traces", orjson.dumps({"trace_id": "t-2"}), headers))


def test_every_insert_of_a_batch_has_its_own_deduplication_token() -> None:
    batch = read(message("spans", otlp(), PROTOBUF))
    batch.add_rows([record(os.urandom(16).hex(), 0)])
    seen: list[object] = []

    class Store:
        def insert(self, requests: object, settings: dict[str, str] | None = None) -> None:
            seen.append(settings)

        def insert_or_isolate(self, rows: object, settings: dict[str, str] | None = None) -> list[object]:
            seen.append(settings)
            return []

    for insert in batch.inserts(Store(), Store(), token="t"):  # type: ignore[arg-type]
        insert.run()
    assert seen == [{"insert_deduplication_token": "t/otlp"}, {"insert_deduplication_token": "t/SpanRecord"}]


def test_a_batch_inserts_in_the_order_its_kinds_arrived() -> None:
    """GenAI log events sent before their spans are stored before the trace they fill becomes visible."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs

    logs = ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(log_records=[LogRecord(time_unix_nano=1)])])]
    )
    batch = RawBatch()
    batch.add(PayloadKind.OTLP_LOGS, "p", logs.SerializeToString(), 1)
    batch.add(PayloadKind.OTLP_PROTOBUF, "p", otlp(), 2)
    assert [insert.what for insert in batch.inserts(None, None)] == ["logs", "spans"]  # type: ignore[arg-type]
