-- One row per OTLP metric data point: sums, gauges, histograms (explicit and exponential buckets)
-- and summaries. Keyed (project_id, metric_name, time) so that one metric's series over a time
-- range is one primary-key range; `series_hash` (the point's identity: its attributes and resource)
-- folds a replayed request into the rows it already made.
CREATE TABLE IF NOT EXISTS ${database}.metrics
(
    project_id             LowCardinality(String),
    metric_name            LowCardinality(String),
    metric_type            LowCardinality(String),
    unit                   LowCardinality(String),
    description            String CODEC(ZSTD(3)),
    service_name           LowCardinality(String),
    scope_name             LowCardinality(String),
    scope_version          LowCardinality(String),
    time                   DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    start_time             DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    temporality            Int32,
    is_monotonic           UInt8,
    value                  Float64 CODEC(Gorilla, ZSTD(1)),
    count                  UInt64 CODEC(T64, ZSTD(1)),
    sum                    Float64 CODEC(Gorilla, ZSTD(1)),
    min                    Float64 CODEC(Gorilla, ZSTD(1)),
    max                    Float64 CODEC(Gorilla, ZSTD(1)),
    bucket_counts          Array(UInt64) CODEC(ZSTD(1)),
    explicit_bounds        Array(Float64) CODEC(ZSTD(1)),
    scale                  Int32,
    zero_count             UInt64,
    positive_offset        Int32,
    positive_bucket_counts Array(UInt64) CODEC(ZSTD(1)),
    negative_offset        Int32,
    negative_bucket_counts Array(UInt64) CODEC(ZSTD(1)),
    quantiles              Array(Tuple(Float64, Float64)) CODEC(ZSTD(1)),
    flags                  UInt32,
    attributes             String CODEC(ZSTD(3)),
    resource_attributes    String CODEC(ZSTD(3)),
    series_hash            UInt64 DEFAULT cityHash64(metric_type, attributes, resource_attributes, scope_name),
    ingested_at            DateTime64(3) DEFAULT now64(3) CODEC(Delta(8), ZSTD(1))
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(time)
ORDER BY (project_id, metric_name, time, series_hash)
TTL toDateTime(ingested_at) + INTERVAL ${ttl_days} DAY
SETTINGS ttl_only_drop_parts = 1
