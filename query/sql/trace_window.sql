-- Newest traces that started in one window of hours, from the time-ordered trace index.
-- Rows of the hour before and after the window are read too, so a trace crossing an hour boundary is
-- whole. The where and having slots are fixed clauses from store.py; every value is a bound parameter.
SELECT
    trace_id,
    toUnixTimestamp64Nano(min(started_at)) AS started_ns,
    toUnixTimestamp64Nano(max(ended_at)) AS ended_ns,
    ended_ns - started_ns AS duration_ns,
    sum(total_tokens) AS tokens_seen,
    sum(cost_usd) AS cost_seen,
    max(has_error) AS has_error_seen,
    ${sort_key} AS sort_key
FROM ${database}.trace_index
WHERE project_id = {project_id:String}
  AND hour >= {read_from:DateTime} AND hour <= {read_to:DateTime}
  ${where}
GROUP BY trace_id
HAVING started_ns >= {started_from:Int64} AND started_ns < {started_to:Int64}
  ${having}
ORDER BY sort_key DESC, trace_id DESC
LIMIT {limit:UInt32}
