-- The read side: one table per question a page asks, each filled by a materialized view of `spans`
-- and keyed so that the question is a bounded range read.

-- "Which traces started in this hour, and what do they hold?" Time-ordered trace index: one row per
-- (trace, hour of its spans' starts) after merges; pages read a few hours of it, filters in WHERE.
CREATE TABLE IF NOT EXISTS ${database}.trace_index
(
    project_id   LowCardinality(String),
    hour         DateTime CODEC(Delta(4), ZSTD(1)),
    trace_id     String CODEC(ZSTD(1)),
    started_at   SimpleAggregateFunction(min, DateTime64(9)) CODEC(Delta(8), ZSTD(1)),
    ended_at     SimpleAggregateFunction(max, DateTime64(9)) CODEC(Delta(8), ZSTD(1)),
    has_error    SimpleAggregateFunction(max, UInt8),
    -- sums as received, for ranking and filtering only: the numbers shown are the exact roll-ups
    total_tokens SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    cost_usd     SimpleAggregateFunction(sum, Decimal(38, 12)) CODEC(ZSTD(1)),
    services     SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    span_types   SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    models       SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    providers    SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    environments SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    session_ids  SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    user_ids     SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    ingested_at  SimpleAggregateFunction(max, DateTime64(3)) CODEC(Delta(8), ZSTD(1)),
    INDEX idx_models models TYPE bloom_filter GRANULARITY 1,
    INDEX idx_sessions session_ids TYPE bloom_filter GRANULARITY 1,
    INDEX idx_users user_ids TYPE bloom_filter GRANULARITY 1
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (project_id, hour, trace_id)
TTL toDateTime(ingested_at) + INTERVAL ${ttl_days} DAY
SETTINGS ttl_only_drop_parts = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.trace_index_mv TO ${database}.trace_index AS
SELECT
    project_id,
    toStartOfHour(${database}.spans.started_at) AS hour,
    trace_id,
    min(${database}.spans.started_at) AS started_at,
    max(${database}.spans.ended_at) AS ended_at,
    max(toUInt8(status = 'ERROR')) AS has_error,
    sum(${database}.spans.total_tokens) AS total_tokens,
    sum(${database}.spans.cost_usd) AS cost_usd,
    groupUniqArray(toString(service_name)) AS services,
    groupUniqArray(toString(span_type)) AS span_types,
    arrayFilter(m -> m != '', arrayDistinct(groupArrayArray([toString(model), toString(request_model)]))) AS models,
    groupUniqArrayIf(toString(provider), provider != '') AS providers,
    groupUniqArrayIf(toString(environment), environment != '') AS environments,
    groupUniqArrayIf(session_id, session_id != '') AS session_ids,
    groupUniqArrayIf(user_id, user_id != '') AS user_ids,
    max(${database}.spans.ingested_at) AS ingested_at
FROM ${database}.spans
GROUP BY project_id, hour, trace_id;

-- "What does trace X add up to?" Exact roll-ups by primary key: idempotent aggregates only (sets of
-- span ids), so a span sent twice counts once. Small granules: a page looks up 50 random trace ids.
CREATE TABLE IF NOT EXISTS ${database}.trace_rollups
(
    project_id   LowCardinality(String),
    trace_id     String CODEC(ZSTD(1)),
    started_at   SimpleAggregateFunction(min, DateTime64(9)) CODEC(Delta(8), ZSTD(1)),
    ended_at     SimpleAggregateFunction(max, DateTime64(9)) CODEC(Delta(8), ZSTD(1)),
    root         AggregateFunction(argMin, Tuple(String, String), Tuple(UInt8, DateTime64(9))),
    spans        AggregateFunction(uniqExact, String),
    error_spans  AggregateFunction(uniqExactIf, String, UInt8),
    -- (span_id, input, output, total tokens, cost) of the spans that have any
    usage        AggregateFunction(groupUniqArrayIf, Tuple(String, UInt64, UInt64, UInt64, Decimal(18, 12)), UInt8),
    services     SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    span_types   SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    models       SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    providers    SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    environments SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    session_ids  SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    user_ids     SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    ingested_at  SimpleAggregateFunction(max, DateTime64(3)) CODEC(Delta(8), ZSTD(1))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(started_at)
ORDER BY (project_id, trace_id)
TTL toDateTime(ingested_at) + INTERVAL ${ttl_days} DAY
SETTINGS ttl_only_drop_parts = 1, index_granularity = 256;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.trace_rollups_mv TO ${database}.trace_rollups AS
SELECT
    project_id,
    trace_id,
    min(${database}.spans.started_at) AS started_at,
    max(${database}.spans.ended_at) AS ended_at,
    argMinState(tuple(toString(service_name), toString(name)), tuple(toUInt8(parent_span_id != ''), ${database}.spans.started_at)) AS root,
    uniqExactState(span_id) AS spans,
    uniqExactIfState(span_id, toUInt8(status = 'ERROR')) AS error_spans,
    groupUniqArrayIfState(
        tuple(span_id, input_tokens, output_tokens, ${database}.spans.total_tokens, ${database}.spans.cost_usd),
        toUInt8(${database}.spans.total_tokens > 0 OR input_tokens > 0 OR output_tokens > 0 OR ${database}.spans.cost_usd > 0)
    ) AS usage,
    groupUniqArray(toString(service_name)) AS services,
    groupUniqArray(toString(span_type)) AS span_types,
    arrayFilter(m -> m != '', arrayDistinct(groupArrayArray([toString(model), toString(request_model)]))) AS models,
    groupUniqArrayIf(toString(provider), provider != '') AS providers,
    groupUniqArrayIf(toString(environment), environment != '') AS environments,
    groupUniqArrayIf(session_id, session_id != '') AS session_ids,
    groupUniqArrayIf(user_id, user_id != '') AS user_ids,
    max(${database}.spans.ingested_at) AS ingested_at
FROM ${database}.spans
GROUP BY project_id, trace_id;

-- "Which spans (LLM calls) happened lately?" Narrow, time-ordered, no content; re-sent spans fold.
CREATE TABLE IF NOT EXISTS ${database}.span_index
(
    project_id         LowCardinality(String),
    started_at         DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    trace_id           String CODEC(ZSTD(1)),
    span_id            String CODEC(ZSTD(1)),
    parent_span_id     String CODEC(ZSTD(1)),
    name               LowCardinality(String),
    span_type          LowCardinality(String),
    kind               LowCardinality(String),
    service_name       LowCardinality(String),
    ended_at           DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    duration_ns        UInt64 CODEC(T64, ZSTD(1)),
    status             LowCardinality(String),
    status_message     String CODEC(ZSTD(3)),
    provider           LowCardinality(String),
    model              LowCardinality(String),
    request_model      LowCardinality(String),
    input_tokens       UInt64 CODEC(T64, ZSTD(1)),
    output_tokens      UInt64 CODEC(T64, ZSTD(1)),
    total_tokens       UInt64 CODEC(T64, ZSTD(1)),
    cache_read_tokens  UInt64 CODEC(T64, ZSTD(1)),
    cache_write_tokens UInt64 CODEC(T64, ZSTD(1)),
    reasoning_tokens   UInt64 CODEC(T64, ZSTD(1)),
    cost_usd           Decimal(18, 12) CODEC(ZSTD(1)),
    session_id         String CODEC(ZSTD(1)),
    user_id            String CODEC(ZSTD(1)),
    environment        LowCardinality(String),
    ingested_at        DateTime64(3) CODEC(Delta(8), ZSTD(1)),
    INDEX idx_duration duration_ns TYPE minmax GRANULARITY 1,
    INDEX idx_session session_id TYPE bloom_filter GRANULARITY 1,
    INDEX idx_user user_id TYPE bloom_filter GRANULARITY 1
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(started_at)
ORDER BY (project_id, started_at, trace_id, span_id)
TTL toDateTime(ingested_at) + INTERVAL ${ttl_days} DAY
SETTINGS ttl_only_drop_parts = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.span_index_mv TO ${database}.span_index AS
SELECT
    project_id, started_at, trace_id, span_id, parent_span_id, name, span_type, kind, service_name,
    ended_at, duration_ns, status, status_message, provider, model, request_model, input_tokens,
    output_tokens, total_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_usd,
    session_id, user_id, environment, ingested_at
FROM ${database}.spans;

-- "How many calls, how slow, how many tokens, what cost, per minute / hour, by model…?"
CREATE TABLE IF NOT EXISTS ${database}.span_stats_1m
(
    project_id    LowCardinality(String),
    bucket        DateTime CODEC(Delta(4), ZSTD(1)),
    service_name  LowCardinality(String),
    span_type     LowCardinality(String),
    model         LowCardinality(String),
    provider      LowCardinality(String),
    status        LowCardinality(String),
    environment   LowCardinality(String),
    spans         SimpleAggregateFunction(sum, UInt64),
    errors        SimpleAggregateFunction(sum, UInt64),
    duration_ms   AggregateFunction(quantilesTDigest(0.5, 0.9, 0.99), Float64),
    input_tokens  SimpleAggregateFunction(sum, UInt64),
    output_tokens SimpleAggregateFunction(sum, UInt64),
    total_tokens  SimpleAggregateFunction(sum, UInt64),
    cost_usd      SimpleAggregateFunction(sum, Decimal(38, 12)),
    ingested_at   SimpleAggregateFunction(max, DateTime64(3))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(bucket)
ORDER BY (project_id, bucket, service_name, span_type, model, provider, status, environment)
TTL toDateTime(ingested_at) + INTERVAL ${ttl_days} DAY
SETTINGS ttl_only_drop_parts = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.span_stats_1m_mv TO ${database}.span_stats_1m AS
SELECT
    project_id,
    toStartOfMinute(${database}.spans.started_at) AS bucket,
    service_name, span_type, model, provider, status, environment,
    toUInt64(count()) AS spans,
    toUInt64(countIf(status = 'ERROR')) AS errors,
    quantilesTDigestState(0.5, 0.9, 0.99)(${database}.spans.duration_ns / 1e6) AS duration_ms,
    sum(${database}.spans.input_tokens) AS input_tokens,
    sum(${database}.spans.output_tokens) AS output_tokens,
    sum(${database}.spans.total_tokens) AS total_tokens,
    sum(${database}.spans.cost_usd) AS cost_usd,
    max(${database}.spans.ingested_at) AS ingested_at
FROM ${database}.spans
GROUP BY project_id, bucket, service_name, span_type, model, provider, status, environment;

CREATE TABLE IF NOT EXISTS ${database}.span_stats_1h AS ${database}.span_stats_1m;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.span_stats_1h_mv TO ${database}.span_stats_1h AS
SELECT
    project_id,
    toStartOfHour(${database}.spans.started_at) AS bucket,
    service_name, span_type, model, provider, status, environment,
    toUInt64(count()) AS spans,
    toUInt64(countIf(status = 'ERROR')) AS errors,
    quantilesTDigestState(0.5, 0.9, 0.99)(${database}.spans.duration_ns / 1e6) AS duration_ms,
    sum(${database}.spans.input_tokens) AS input_tokens,
    sum(${database}.spans.output_tokens) AS output_tokens,
    sum(${database}.spans.total_tokens) AS total_tokens,
    sum(${database}.spans.cost_usd) AS cost_usd,
    max(${database}.spans.ingested_at) AS ingested_at
FROM ${database}.spans
GROUP BY project_id, bucket, service_name, span_type, model, provider, status, environment;

-- The same by user, hourly (a user dimension per minute would be as large as the spans).
CREATE TABLE IF NOT EXISTS ${database}.user_stats_1h
(
    project_id    LowCardinality(String),
    bucket        DateTime CODEC(Delta(4), ZSTD(1)),
    user_id       String CODEC(ZSTD(1)),
    service_name  LowCardinality(String),
    span_type     LowCardinality(String),
    model         LowCardinality(String),
    provider      LowCardinality(String),
    status        LowCardinality(String),
    environment   LowCardinality(String),
    spans         SimpleAggregateFunction(sum, UInt64),
    errors        SimpleAggregateFunction(sum, UInt64),
    duration_ms   AggregateFunction(quantilesTDigest(0.5, 0.9, 0.99), Float64),
    input_tokens  SimpleAggregateFunction(sum, UInt64),
    output_tokens SimpleAggregateFunction(sum, UInt64),
    total_tokens  SimpleAggregateFunction(sum, UInt64),
    cost_usd      SimpleAggregateFunction(sum, Decimal(38, 12)),
    ingested_at   SimpleAggregateFunction(max, DateTime64(3))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(bucket)
ORDER BY (project_id, bucket, user_id, service_name, span_type, model, provider, status, environment)
TTL toDateTime(ingested_at) + INTERVAL ${ttl_days} DAY
SETTINGS ttl_only_drop_parts = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.user_stats_1h_mv TO ${database}.user_stats_1h AS
SELECT
    project_id,
    toStartOfHour(${database}.spans.started_at) AS bucket,
    user_id, service_name, span_type, model, provider, status, environment,
    toUInt64(count()) AS spans,
    toUInt64(countIf(status = 'ERROR')) AS errors,
    quantilesTDigestState(0.5, 0.9, 0.99)(${database}.spans.duration_ns / 1e6) AS duration_ms,
    sum(${database}.spans.input_tokens) AS input_tokens,
    sum(${database}.spans.output_tokens) AS output_tokens,
    sum(${database}.spans.total_tokens) AS total_tokens,
    sum(${database}.spans.cost_usd) AS cost_usd,
    max(${database}.spans.ingested_at) AS ingested_at
FROM ${database}.spans
WHERE user_id != ''
GROUP BY project_id, bucket, user_id, service_name, span_type, model, provider, status, environment;

-- "Which conversations, and what did each cost?" Idempotent aggregates, keyed by session.
CREATE TABLE IF NOT EXISTS ${database}.sessions
(
    project_id  LowCardinality(String),
    session_id  String CODEC(ZSTD(1)),
    first_seen  SimpleAggregateFunction(min, DateTime64(9)),
    last_seen   SimpleAggregateFunction(max, DateTime64(9)),
    trace_ids   SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    user_ids    SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    error_spans AggregateFunction(uniqExactIf, String, UInt8),
    usage       AggregateFunction(groupUniqArrayIf, Tuple(String, UInt64, UInt64, UInt64, Decimal(18, 12)), UInt8),
    ingested_at SimpleAggregateFunction(max, DateTime64(3))
)
ENGINE = AggregatingMergeTree
ORDER BY (project_id, session_id)
TTL toDateTime(ingested_at) + INTERVAL ${ttl_days} DAY
SETTINGS index_granularity = 1024;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.sessions_mv TO ${database}.sessions AS
SELECT
    project_id,
    session_id,
    min(${database}.spans.started_at) AS first_seen,
    max(${database}.spans.ended_at) AS last_seen,
    groupUniqArray(trace_id) AS trace_ids,
    groupUniqArrayIf(user_id, user_id != '') AS user_ids,
    uniqExactIfState(span_id, toUInt8(status = 'ERROR')) AS error_spans,
    groupUniqArrayIfState(
        tuple(span_id, input_tokens, output_tokens, ${database}.spans.total_tokens, ${database}.spans.cost_usd),
        toUInt8(${database}.spans.total_tokens > 0 OR input_tokens > 0 OR output_tokens > 0 OR ${database}.spans.cost_usd > 0)
    ) AS usage,
    max(${database}.spans.ingested_at) AS ingested_at
FROM ${database}.spans
WHERE session_id != ''
GROUP BY project_id, session_id;

-- "Who uses it, how much?" Idempotent aggregates, keyed by user.
CREATE TABLE IF NOT EXISTS ${database}.users
(
    project_id  LowCardinality(String),
    user_id     String CODEC(ZSTD(1)),
    first_seen  SimpleAggregateFunction(min, DateTime64(9)),
    last_seen   SimpleAggregateFunction(max, DateTime64(9)),
    traces      AggregateFunction(uniqExact, String),
    sessions    AggregateFunction(uniqExactIf, String, UInt8),
    usage       AggregateFunction(groupUniqArrayIf, Tuple(String, UInt64, UInt64, UInt64, Decimal(18, 12)), UInt8),
    ingested_at SimpleAggregateFunction(max, DateTime64(3))
)
ENGINE = AggregatingMergeTree
ORDER BY (project_id, user_id)
TTL toDateTime(ingested_at) + INTERVAL ${ttl_days} DAY
SETTINGS index_granularity = 1024;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.users_mv TO ${database}.users AS
SELECT
    project_id,
    user_id,
    min(${database}.spans.started_at) AS first_seen,
    max(${database}.spans.ended_at) AS last_seen,
    uniqExactState(trace_id) AS traces,
    uniqExactIfState(session_id, toUInt8(session_id != '')) AS sessions,
    groupUniqArrayIfState(
        tuple(span_id, input_tokens, output_tokens, ${database}.spans.total_tokens, ${database}.spans.cost_usd),
        toUInt8(${database}.spans.total_tokens > 0 OR input_tokens > 0 OR output_tokens > 0 OR ${database}.spans.cost_usd > 0)
    ) AS usage,
    max(${database}.spans.ingested_at) AS ingested_at
FROM ${database}.spans
WHERE user_id != ''
GROUP BY project_id, user_id
