"""Raw OTLP trace requests into `spans`, mapped by one of two inserters (`PRELA_MAPPING`).

- `PythonOtlpInserter` (`python`, the default): `collector/mapping.py` maps each request in the writer
  and the rows go as one clickhouse-connect insert. Cheaper per span today (bench/README.md).
- `EngineOtlpInserter` (`engine`): no Python per span. Each request's bytes get the project id
  appended as field 15 (`proto/otlp_ingest.proto`: protobuf concatenation merges fields), and the
  requests of one call go as ONE length-delimited Protobuf insert into the Null table `otlp_ingest`,
  whose chain of materialized views (`otlp_engine`, installed by `apply_schema(engine_mapping=True)`)
  writes the spans.

Both store the same rows (tests/unit/test_engine_mapping.py); `trace_inserter` builds the one chosen.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal

from clickhouse_connect.driver._chdbclient import ChdbClient
from clickhouse_connect.driver.client import Client
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from prela.collector.mapping import map_export_request
from prela.exporters.clickhouse import ClickHouseWriter, insert_settings, log_unstorable, recorded_insert
from prela.exporters.otlp_engine import PROTO_MESSAGE, RAW_TABLE, proto_path, proto_schema
from prela.model import SpanRecord

logger = logging.getLogger(__name__)

Mapping = Literal["python", "engine"]
MAPPINGS: tuple[Mapping, ...] = ("python", "engine")

_PROJECT_ID_TAG = b"\x7a"  # field 15, wire type 2 (length-delimited)


def trace_inserter(
    mapping: Mapping, client: Client, database: str
) -> PythonOtlpInserter | EngineOtlpInserter:
    """The inserter of `PRELA_MAPPING` (`engine` needs `apply_schema(..., engine_mapping=True)`); either
    is a `writer.rows.TraceInserter`: same call, same rows stored."""
    if mapping == "engine":
        return EngineOtlpInserter(client, database)
    if mapping == "python":
        return PythonOtlpInserter(client, database)
    raise ValueError(f"mapping must be one of {MAPPINGS}, got {mapping!r}")


class PythonOtlpInserter:
    """Maps the requests with `map_export_request` and inserts the rows (`ClickHouseWriter`)."""

    def __init__(self, client: Client, database: str) -> None:
        self._writer = ClickHouseWriter(client, database)

    def insert(self, requests: Sequence[tuple[str, bytes]], settings: dict[str, Any] | None = None) -> None:
        """Store the spans of serialized ExportTraceServiceRequests, each (project_id, bytes); spans
        breaking the OTLP id/time rules are skipped, rows ClickHouse cannot hold logged and skipped.
        Raises on store errors (caller retries the whole batch; `settings` may carry
        insert_deduplication_token)."""
        records: list[SpanRecord] = []
        for project_id, payload in requests:
            records += map_export_request(ExportTraceServiceRequest.FromString(payload), project_id).records
        if records:
            log_unstorable(self._writer.insert_or_isolate(records, settings))


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def frame(requests: Sequence[tuple[str, bytes]]) -> bytes:
    """The engine's insert body: each request with its project id, length-delimited."""
    parts: list[bytes] = []
    for project_id, body in requests:
        pid = project_id.encode()
        message_length = len(body) + 1 + len(_varint(len(pid))) + len(pid)
        parts += (_varint(message_length), body, _PROJECT_ID_TAG, _varint(len(pid)), pid)
    return b"".join(parts)


def schema_settings(client: Client) -> dict[str, Any]:
    """How ClickHouse finds the trimmed OTLP schema. chDB (same machine) reads the shipped file by its
    absolute path; a server gets it inline — which ClickHouse caches as a file under its working
    directory's `__cache__/`, so chDB is not sent it inline (it would litter the user's directory)."""
    if isinstance(client, ChdbClient):
        return {"format_schema": f"{proto_path()}:{PROTO_MESSAGE}"}
    return {
        "format_schema": proto_schema(),
        "format_schema_source": "string",
        "format_schema_message_name": PROTO_MESSAGE,
    }


class EngineOtlpInserter:
    """Inserts the raw requests into `otlp_ingest`; ClickHouse maps their spans into `spans`."""

    def __init__(self, client: Client, database: str) -> None:
        self._client = client
        self._table = f"{database}.{RAW_TABLE}"
        self._settings = schema_settings(client)

    def insert(self, requests: Sequence[tuple[str, bytes]], settings: dict[str, Any] | None = None) -> None:
        """`PythonOtlpInserter.insert`, mapped by ClickHouse."""
        if not requests:
            return
        # a deduplication token reaches `spans` only through the views: insert_settings sees to it
        query_settings = {**self._settings, **insert_settings(settings)}
        with recorded_insert(f"requests={len(requests)}"):
            self._client.raw_insert(
                self._table, insert_block=frame(requests), fmt="Protobuf", settings=query_settings
            )
