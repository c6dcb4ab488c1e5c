-- One row per OTLP log record (GenAI message events among them). Tenant first, then the trace and
-- span the record belongs to, so a trace's logs are one primary-key range (the trace detail joins
-- them to their spans at read time). `seq` (the record's position in its request) keeps the
-- sender's order among records of one span and one timestamp; `record_hash` tells apart
-- different records at the same key, while a replayed request folds into the rows it already made.
CREATE TABLE IF NOT EXISTS ${database}.logs
(
    project_id          LowCardinality(String),
    trace_id            String CODEC(ZSTD(1)),
    span_id             String CODEC(ZSTD(1)),
    time                DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    observed_time       DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    seq                 UInt32 CODEC(T64, ZSTD(1)),
    severity_number     Int32,
    severity_text       LowCardinality(String),
    event_name          LowCardinality(String),
    body                String CODEC(ZSTD(3)),
    attributes          String CODEC(ZSTD(3)),
    resource_attributes String CODEC(ZSTD(3)),
    service_name        LowCardinality(String),
    scope_name          LowCardinality(String),
    scope_version       LowCardinality(String),
    flags               UInt32,
    record_hash         UInt64 DEFAULT cityHash64(event_name, severity_text, body, attributes),
    ingested_at         DateTime64(3) DEFAULT now64(3) CODEC(Delta(8), ZSTD(1)),
    INDEX idx_time time TYPE minmax GRANULARITY 1,
    INDEX idx_event_name event_name TYPE set(256) GRANULARITY 4
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(time)
ORDER BY (project_id, trace_id, span_id, time, seq, record_hash)
TTL toDateTime(ingested_at) + INTERVAL ${ttl_days} DAY
SETTINGS ttl_only_drop_parts = 1
