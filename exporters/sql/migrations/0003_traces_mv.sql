CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.traces_mv TO ${database}.traces AS
SELECT
    project_id,
    trace_id,
    min(${database}.spans.started_at) AS started_at,
    max(${database}.spans.ended_at) AS ended_at,
    argMinState(tuple(toString(service_name), toString(name)), tuple(toUInt8(parent_span_id != ''), ${database}.spans.started_at)) AS root,
    max(toUInt8(status = 'ERROR')) AS has_error,
    groupUniqArray(toString(service_name)) AS services,
    groupUniqArray(toString(span_type)) AS span_types,
    groupUniqArrayIf(toString(model), model != '') AS models,
    max(${database}.spans.ingested_at) AS ingested_at
FROM ${database}.spans
GROUP BY project_id, trace_id
