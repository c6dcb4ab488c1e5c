-- The GenAI content events of some traces' spans (sessions, span pages), by primary key.
SELECT trace_id, span_id, event_name, body, attributes
FROM ${database}.logs FINAL
WHERE project_id = {project_id:String} AND trace_id IN {trace_ids:Array(String)}
    AND span_id != '' AND event_name IN {event_names:Array(String)}
ORDER BY trace_id, span_id, time, seq
LIMIT ${max_logs}
