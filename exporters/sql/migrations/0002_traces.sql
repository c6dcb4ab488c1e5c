-- One row per trace after merges: the narrow table that trace lists read.
-- Every column is an idempotent aggregate (min, max, set union, argMin), so a
-- re-sent span changes nothing; additive roll-ups (span count, tokens, cost)
-- are summed from the de-duplicated spans of the listed page instead.
CREATE TABLE IF NOT EXISTS ${database}.traces
(
    project_id  LowCardinality(String),
    trace_id    String CODEC(ZSTD(1)),
    started_at  SimpleAggregateFunction(min, DateTime64(9)) CODEC(Delta(8), ZSTD(1)),
    ended_at    SimpleAggregateFunction(max, DateTime64(9)) CODEC(Delta(8), ZSTD(1)),
    -- (service_name, name) of the root span; the earliest span while the root has not arrived
    root        AggregateFunction(argMin, Tuple(String, String), Tuple(UInt8, DateTime64(9))),
    has_error   SimpleAggregateFunction(max, UInt8),
    services    SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    span_types  SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    models      SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    ingested_at SimpleAggregateFunction(max, DateTime64(3)) CODEC(Delta(8), ZSTD(1)),
    INDEX idx_started_at started_at TYPE minmax GRANULARITY 1
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(started_at)
ORDER BY (project_id, trace_id)
TTL toDateTime(ingested_at) + INTERVAL ${ttl_days} DAY
SETTINGS ttl_only_drop_parts = 1
