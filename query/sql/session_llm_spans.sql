-- The LLM spans of a session's traces with their content, in time order: the transcript.
SELECT trace_id, span_id, name, model, toUnixTimestamp64Nano(started_at) AS started_ns, input, output,
    events
FROM ${database}.spans
WHERE project_id = {project_id:String} AND trace_id IN {trace_ids:Array(String)} AND span_type = 'LLM'
ORDER BY trace_id, span_id, ingested_at DESC
LIMIT 1 BY trace_id, span_id
