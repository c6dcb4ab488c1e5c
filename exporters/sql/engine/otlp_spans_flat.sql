-- One row per valid span of the OTLP requests in otlp_ingest, with its resource's and scope's
-- fields: the first step of the chain exporters/otlp_engine.py renders (its stages compute the
-- spans columns). Only the first stage reads the deeply nested AnyValue columns, which are costly
-- for ClickHouse to analyse; later steps see plain arrays.
SELECT
    project_id,
    rs.resource.attributes AS r_source,
    ss.scope.name AS scope_name, ss.scope.version AS scope_version, ss.scope.attributes AS scope_source,
    sp.trace_id AS sp_trace_id, sp.span_id AS sp_span_id, sp.parent_span_id AS sp_parent_span_id,
    sp.trace_state AS sp_trace_state, sp.name AS sp_name, sp.kind AS sp_kind,
    sp.start_time_unix_nano AS sp_start, sp.end_time_unix_nano AS sp_end,
    sp.status.code AS sp_status_code, sp.status.message AS sp_status_message,
    sp.attributes AS sp_attributes, sp.events AS sp_events, sp.links AS sp_links
FROM ${database}.otlp_ingest
ARRAY JOIN resource_spans AS rs
ARRAY JOIN rs.scope_spans AS ss
ARRAY JOIN ss.spans AS sp
-- span_problem(): spans breaking the OTLP id/time rules are not stored (the receiver counts them)
WHERE length(sp.trace_id) = 16 AND sp.trace_id != repeat('\0', 16)
    AND length(sp.span_id) = 8 AND sp.span_id != repeat('\0', 8)
    AND (sp.parent_span_id = '' OR length(sp.parent_span_id) = 8)
    AND sp.start_time_unix_nano <= ${max_time_ns} AND sp.end_time_unix_nano <= ${max_time_ns}
