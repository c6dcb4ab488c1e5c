"""The Prela trace model: one typed span row, shared by the collector, the exporters and the query API."""

from prela.model.span import (
    COST_DECIMALS,
    MAX_COST_USD,
    SPAN_COLUMNS,
    SPAN_TYPES,
    SpanRecord,
    SpanStatus,
    SpanType,
)

__all__ = [
    "COST_DECIMALS",
    "MAX_COST_USD",
    "SPAN_COLUMNS",
    "SPAN_TYPES",
    "SpanRecord",
    "SpanStatus",
    "SpanType",
]
