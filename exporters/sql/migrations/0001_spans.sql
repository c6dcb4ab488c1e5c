-- One row per span. Tenant first in the sort key; (trace_id, span_id) make a
-- span's identity, so a replacing engine folds re-sent spans into one row and a
-- trace read is a primary-key range, not a scan.
CREATE TABLE IF NOT EXISTS ${database}.spans
(
    project_id          LowCardinality(String),
    trace_id            String CODEC(ZSTD(1)),
    span_id             String CODEC(ZSTD(1)),
    parent_span_id      String CODEC(ZSTD(1)),
    trace_state         String CODEC(ZSTD(1)),
    name                LowCardinality(String) CODEC(ZSTD(1)),
    span_type           LowCardinality(String),
    kind                LowCardinality(String),
    service_name        LowCardinality(String),
    scope_name          LowCardinality(String),
    scope_version       LowCardinality(String),
    started_at          DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    ended_at            DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    duration_ns         UInt64 CODEC(T64, ZSTD(1)),
    status              LowCardinality(String),
    status_message      String CODEC(ZSTD(3)),
    attributes          String CODEC(ZSTD(3)),
    resource_attributes String CODEC(ZSTD(3)),
    scope_attributes    String CODEC(ZSTD(3)),
    events              String CODEC(ZSTD(3)),
    links               String CODEC(ZSTD(3)),
    provider            LowCardinality(String),
    model               LowCardinality(String),
    request_model       LowCardinality(String),
    input_tokens        UInt64 CODEC(T64, ZSTD(1)),
    output_tokens       UInt64 CODEC(T64, ZSTD(1)),
    total_tokens        UInt64 CODEC(T64, ZSTD(1)),
    cache_read_tokens   UInt64 CODEC(T64, ZSTD(1)),
    cache_write_tokens  UInt64 CODEC(T64, ZSTD(1)),
    reasoning_tokens    UInt64 CODEC(T64, ZSTD(1)),
    cost_usd            Float64 CODEC(Gorilla, ZSTD(1)),
    input               String CODEC(ZSTD(3)),
    output              String CODEC(ZSTD(3)),
    ingested_at         DateTime64(3) DEFAULT now64(3) CODEC(Delta(8), ZSTD(1)),
    INDEX idx_started_at started_at TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(started_at)
ORDER BY (project_id, trace_id, span_id)
-- Retention counts from arrival, so back-filled or clock-skewed spans are not expired on arrival.
TTL toDateTime(ingested_at) + INTERVAL ${ttl_days} DAY
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000
