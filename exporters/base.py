"""The interface between the collector and whatever carries its requests on (queue or Kafka).

Requests travel raw, as received: the mapping to Prela's rows happens where they are stored
(the writer), never on the receivers' event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol


class PayloadKind(IntEnum):
    """The encoding of a request's body, kept with it wherever it is logged (WAL, spool)."""

    OTLP_PROTOBUF = 1
    OTLP_JSON = 2
    PRELA_JSON = 3
    SPOOL_SPANS = 4  # the collector's spool: Kafka messages for the spans topic
    SPOOL_TRACES = 5  # … for the traces topic
    OTLP_LOGS = 6  # an ExportLogsServiceRequest (protobuf; OTLP/JSON requests are logged converted)
    OTLP_METRICS = 7  # an ExportMetricsServiceRequest (likewise)
    SPOOL_LOGS = 8  # the collector's spool: an OTLP logs request for the logs topic
    SPOOL_METRICS = 9  # … an OTLP metrics request for the metrics topic
    SPOOL_OTLP_SPANS = 10  # … raw ExportTraceServiceRequests for the spans topic (with Prela headers)
    SPOOL_PRELA_TRACES = 11  # … Prela JSON traces for the traces topic (with Prela headers)


@dataclass(frozen=True, slots=True)
class RawRequest:
    """The request as received (decompressed), for exporters that log it before answering."""

    kind: PayloadKind
    payload: bytes


class ExportError(Exception):
    """The spans were not accepted; the client may retry (HTTP 503 / gRPC UNAVAILABLE)."""

    reason = "unavailable"  # the `reason` label of the refused counters


class Overloaded(ExportError):
    """The pipeline is full: back-pressure, retry later."""

    reason = "overloaded"


class Unavailable(ExportError):
    """The pipeline cannot make the spans durable right now (store down, shutting down)."""


class SpanExporter(Protocol):
    async def export(self, project_id: str, raw: RawRequest, items: int) -> None:
        """Return once the request is durable; raise `ExportError` when it is not.

        `raw` is the request as received (OTLP/JSON traces already converted to protobuf);
        `items` counts what it carries that was accepted (spans, log records, data points),
        for the exporter's bounds and metrics.
        """
        ...
