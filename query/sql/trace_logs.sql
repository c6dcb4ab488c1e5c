-- The log records of one trace (GenAI message events among them), by primary key: one range read.
SELECT
    trace_id,
    span_id,
    toUnixTimestamp64Nano(time) AS time_ns,
    toUnixTimestamp64Nano(observed_time) AS observed_ns,
    severity_number,
    severity_text,
    event_name,
    body,
    attributes,
    resource_attributes,
    service_name,
    scope_name,
    scope_version
FROM ${database}.logs FINAL
WHERE project_id = {project_id:String} AND trace_id = {trace_id:String}
ORDER BY time, seq, span_id
LIMIT ${max_logs}
