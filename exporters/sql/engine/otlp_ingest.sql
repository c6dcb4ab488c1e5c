-- The OTLP trace requests as they arrive (proto/otlp_ingest.proto, format Protobuf): nothing is kept
-- here (Null engine); the materialized view otlp_spans_mv_<hash> maps each insert into spans.
CREATE TABLE IF NOT EXISTS ${database}.otlp_ingest
(
    resource_spans Array(Tuple(
        resource Tuple(attributes ${key_values}),
        scope_spans Array(Tuple(
            scope Tuple(name String, version String, attributes ${key_values}),
            spans Array(Tuple(
                trace_id String,
                span_id String,
                trace_state String,
                parent_span_id String,
                flags UInt32,
                name String,
                kind Int32,
                start_time_unix_nano UInt64,
                end_time_unix_nano UInt64,
                attributes ${key_values},
                events Array(Tuple(time_unix_nano UInt64, name String, attributes ${key_values})),
                links Array(Tuple(trace_id String, span_id String, trace_state String, attributes ${key_values})),
                status Tuple(message String, code Int32)
            ))
        ))
    )),
    project_id String
)
ENGINE = Null
