"""The Prela trace model: one typed span row, shared by the collector, the exporters and the query API."""

from prela.model.span import SPAN_COLUMNS, SPAN_TYPES, SpanRecord, SpanStatus, SpanType

__all__ = ["SPAN_COLUMNS", "SPAN_TYPES", "SpanRecord", "SpanStatus", "SpanType"]
