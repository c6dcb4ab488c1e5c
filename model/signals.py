"""Rows of the other two OTLP signals: a log record (`logs` table) and a metric data point (`metrics`).

Like `SpanRecord`, NamedTuples whose fields are the table's insert columns in order, so a batch
goes to ClickHouse as it is. Attribute maps are JSON text, kept whole.
"""

from __future__ import annotations

from typing import NamedTuple


class LogRow(NamedTuple):
    """One OTLP log record of one project; trace_id / span_id are hex, "" when the record has none."""

    project_id: str
    trace_id: str
    span_id: str
    time: int  # ns; the observed time when the sender left it 0
    observed_time: int
    seq: int  # position in its export request: the sender's order among equal timestamps
    severity_number: int
    severity_text: str
    event_name: str  # LogRecord.event_name, else the `event.name` attribute
    body: str  # the AnyValue body as JSON ("null" when absent)
    attributes: str
    resource_attributes: str
    service_name: str
    scope_name: str
    scope_version: str
    flags: int


class MetricPoint(NamedTuple):
    """One OTLP metric data point of one project (sum, gauge, histogram, exponential histogram, summary)."""

    project_id: str
    metric_name: str
    metric_type: str  # sum | gauge | histogram | exponential_histogram | summary
    unit: str
    description: str
    service_name: str
    scope_name: str
    scope_version: str
    time: int  # ns
    start_time: int
    temporality: int  # AggregationTemporality: 1 delta, 2 cumulative, 0 for gauges and summaries
    is_monotonic: int
    value: float  # sums and gauges
    count: int  # type: ignore[assignment]  # histograms and summaries (the column's name)
    sum: float
    min: float  # NaN when not sent
    max: float
    bucket_counts: list[int]
    explicit_bounds: list[float]
    scale: int
    zero_count: int
    positive_offset: int
    positive_bucket_counts: list[int]
    negative_offset: int
    negative_bucket_counts: list[int]
    quantiles: list[tuple[float, float]]
    flags: int
    attributes: str
    resource_attributes: str


LOG_COLUMNS: tuple[str, ...] = LogRow._fields
METRIC_COLUMNS: tuple[str, ...] = MetricPoint._fields
