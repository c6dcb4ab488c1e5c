"""Stores raw OTLP trace requests (INTERIM: mapped in Python; the engine's SQL mapping replaces this file)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clickhouse_connect.driver.client import Client
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from prela.collector.mapping import map_export_request
from prela.exporters.clickhouse import ClickHouseWriter, log_unstorable
from prela.model import SpanRecord


class OtlpTraceInserter:
    def __init__(self, client: Client, database: str) -> None:
        self._writer = ClickHouseWriter(client, database)

    def insert(self, requests: Sequence[tuple[str, bytes]], settings: dict[str, Any] | None = None) -> None:
        """Store the spans of serialized ExportTraceServiceRequests, each (project_id, bytes); spans
        breaking the OTLP id/time rules are skipped. Raises on store errors (caller retries the whole batch;
        `settings` may carry insert_deduplication_token)."""
        records: list[SpanRecord] = []
        for project_id, payload in requests:
            records += map_export_request(ExportTraceServiceRequest.FromString(payload), project_id).records
        if records:
            log_unstorable(self._writer.insert_or_isolate(records, settings))
