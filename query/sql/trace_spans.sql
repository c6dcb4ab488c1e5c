-- Every span of one trace, content included. A span stored twice (a retry not yet merged away) is
-- read once, its latest copy: LIMIT 1 BY over a primary-key range is far cheaper than FINAL.
SELECT
    span_id,
    parent_span_id,
    trace_state,
    name,
    span_type,
    kind,
    service_name,
    scope_name,
    scope_version,
    toUnixTimestamp64Nano(started_at) AS started_ns,
    toUnixTimestamp64Nano(ended_at) AS ended_ns,
    duration_ns,
    status,
    status_message,
    attributes,
    resource_attributes,
    scope_attributes,
    events,
    links,
    provider,
    model,
    request_model,
    input_tokens,
    output_tokens,
    total_tokens,
    cache_read_tokens,
    cache_write_tokens,
    reasoning_tokens,
    cost_usd,
    input,
    output,
    session_id,
    user_id,
    environment
FROM ${database}.spans
WHERE project_id = {project_id:String} AND trace_id = {trace_id:String}
ORDER BY span_id, ingested_at DESC
LIMIT 1 BY span_id
