-- One row per span of the OTLP requests in otlp_ingest, its attributes split into per-attribute
-- arrays (exporters/otlp_engine.py `AttributeArrays`); the staged SELECTs the renderer wraps
-- around it compute the spans columns. Rendered: every placeholder comes from the conventions.
SELECT
    project_id, service_name, resource_attributes, resource_environment,
    scope_name, scope_version, scope_attributes,
    sp.trace_id AS sp_trace_id, sp.span_id AS sp_span_id, sp.parent_span_id AS sp_parent_span_id,
    sp.trace_state AS sp_trace_state, sp.name AS sp_name, sp.kind AS sp_kind,
    sp.start_time_unix_nano AS sp_start, sp.end_time_unix_nano AS sp_end,
    sp.status.code AS sp_status_code, sp.status.message AS sp_status_message,
    sp.attributes AS sp_attributes, sp.events AS sp_events, sp.links AS sp_links,
${attribute_arrays}
FROM
(
    SELECT
        project_id, service_name, resource_attributes, resource_environment,
        ss.scope.name AS scope_name, ss.scope.version AS scope_version,
        ${scope_attributes} AS scope_attributes,
        ss.spans AS scope_span_list
    FROM
    (
        SELECT
            project_id,
            rs.scope_spans AS scope_spans,
${resource_columns}
        FROM ${database}.otlp_ingest
        ARRAY JOIN resource_spans AS rs
    )
    ARRAY JOIN scope_spans AS ss
)
ARRAY JOIN scope_span_list AS sp
-- span_problem(): spans breaking the OTLP id/time rules are not stored (the receiver counts them)
WHERE length(sp.trace_id) = 16 AND sp.trace_id != repeat('\0', 16)
    AND length(sp.span_id) = 8 AND sp.span_id != repeat('\0', 8)
    AND (sp.parent_span_id = '' OR length(sp.parent_span_id) = 8)
    AND sp.start_time_unix_nano <= ${max_time_ns} AND sp.end_time_unix_nano <= ${max_time_ns}
