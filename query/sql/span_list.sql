-- Spans across traces in one time range from the narrow, time-ordered span index (no content read).
-- A span stored twice (not yet merged away) may come twice: the store keeps the first.
SELECT
    trace_id, span_id, parent_span_id, name, span_type, kind, service_name,
    toUnixTimestamp64Nano(started_at) AS started_ns,
    toUnixTimestamp64Nano(ended_at) AS ended_ns,
    duration_ns, status, status_message, provider, model, request_model,
    input_tokens, output_tokens, total_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
    cost_usd, session_id, user_id, environment,
    ${sort_key} AS sort_key
FROM ${database}.span_index
WHERE project_id = {project_id:String}
  AND started_at >= fromUnixTimestamp64Nano({started_from:Int64})
  AND started_at < fromUnixTimestamp64Nano({started_to:Int64})
  ${where}
ORDER BY sort_key DESC, trace_id DESC, span_id DESC
LIMIT {limit:UInt32}
