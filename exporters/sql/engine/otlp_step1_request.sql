-- Step 1 of the chain exporters/otlp_engine.py renders: per OTLP request in otlp_ingest, its spans'
-- fields, each span's resource and scope, and every KeyValue of the request (resources', scopes',
-- spans', events', links') in one list, with where each list starts in it. The nested lists are
-- read as subcolumns (resource_spans.scope_spans.spans.name ...): cheap for ClickHouse to analyse.
SELECT
    project_id,
    -- the spans, across resources and scopes
    arrayFlatten(resource_spans.scope_spans.spans.trace_id) AS s_trace_id,
    arrayFlatten(resource_spans.scope_spans.spans.span_id) AS s_span_id,
    arrayFlatten(resource_spans.scope_spans.spans.parent_span_id) AS s_parent_span_id,
    arrayFlatten(resource_spans.scope_spans.spans.trace_state) AS s_trace_state,
    arrayFlatten(resource_spans.scope_spans.spans.name) AS s_name,
    arrayFlatten(resource_spans.scope_spans.spans.kind) AS s_kind,
    arrayFlatten(resource_spans.scope_spans.spans.start_time_unix_nano) AS s_start,
    arrayFlatten(resource_spans.scope_spans.spans.end_time_unix_nano) AS s_end,
    arrayFlatten(resource_spans.scope_spans.spans.status.code) AS s_status_code,
    arrayFlatten(resource_spans.scope_spans.spans.status.message) AS s_status_message,
    arrayFlatten(resource_spans.scope_spans.scope.name) AS scope_names,
    arrayFlatten(resource_spans.scope_spans.scope.version) AS scope_versions,
    -- each span's resource and scope (numbered across the request)
    arrayMap(x -> length(arrayFlatten(x)), resource_spans.scope_spans.spans.name) AS spans_per_resource,
    arrayFlatten(arrayMap(x -> arrayMap(y -> length(y), x), resource_spans.scope_spans.spans.name)) AS spans_per_scope,
    arrayFlatten(arrayMap((n, i) -> arrayResize([i], n, i), spans_per_resource, arrayEnumerate(spans_per_resource))) AS s_resources,
    arrayFlatten(arrayMap((n, i) -> arrayResize([i], n, i), spans_per_scope, arrayEnumerate(spans_per_scope))) AS s_scopes,
    -- attributes per list: resource, scope, span, event, link
    arrayMap(x -> length(x), resource_spans.resource.attributes.key) AS n_res,
    arrayFlatten(arrayMap(x -> arrayMap(y -> length(y), x), resource_spans.scope_spans.scope.attributes.key)) AS n_scope,
    arrayFlatten(arrayMap(x -> arrayMap(y -> arrayMap(z -> length(z), y), x), resource_spans.scope_spans.spans.attributes.key)) AS n_span,
    arrayFlatten(arrayMap(x -> arrayMap(y -> arrayMap(z -> arrayMap(w -> length(w), z), y), x), resource_spans.scope_spans.spans.events.attributes.key)) AS n_event,
    arrayFlatten(arrayMap(x -> arrayMap(y -> arrayMap(z -> arrayMap(w -> length(w), z), y), x), resource_spans.scope_spans.spans.links.attributes.key)) AS n_link,
    arrayFlatten(arrayMap(x -> arrayMap(y -> arrayMap(z -> length(z), y), x), resource_spans.scope_spans.spans.events.name)) AS events_per_span,
    arrayFlatten(arrayMap(x -> arrayMap(y -> arrayMap(z -> length(z), y), x), resource_spans.scope_spans.spans.links.span_id)) AS links_per_span,
    arrayFlatten(resource_spans.scope_spans.spans.events.name) AS e_name,
    arrayFlatten(resource_spans.scope_spans.spans.events.time_unix_nano) AS e_time,
    arrayMap((t, s, st) -> (lower(hex(t)), lower(hex(s)), st),
        arrayFlatten(resource_spans.scope_spans.spans.links.trace_id),
        arrayFlatten(resource_spans.scope_spans.spans.links.span_id),
        arrayFlatten(resource_spans.scope_spans.spans.links.trace_state)) AS l_ids,
    -- where each list starts in the request's KeyValues (1-based): resources', scopes', spans', events', links'
    arrayMap((c, n) -> c - n + 1, arrayCumSum(n_res), n_res) AS res_at,
    arrayMap((c, n) -> arraySum(n_res) + c - n + 1, arrayCumSum(n_scope), n_scope) AS scope_at,
    arrayMap((c, n) -> arraySum(n_res) + arraySum(n_scope) + c - n + 1, arrayCumSum(n_span), n_span) AS span_at,
    arrayMap((c, n) -> arraySum(n_res) + arraySum(n_scope) + arraySum(n_span) + c - n + 1, arrayCumSum(n_event), n_event) AS event_at,
    arrayMap((c, n) -> arraySum(n_res) + arraySum(n_scope) + arraySum(n_span) + arraySum(n_event) + c - n + 1, arrayCumSum(n_link), n_link) AS link_at,
    arrayMap((c, n) -> c - n + 1, arrayCumSum(events_per_span), events_per_span) AS first_event,
    arrayMap((c, n) -> c - n + 1, arrayCumSum(links_per_span), links_per_span) AS first_link,
    -- every KeyValue of the request, converted once
    arrayConcat(
        arrayFlatten(resource_spans.resource.attributes),
        arrayFlatten(resource_spans.scope_spans.scope.attributes),
        arrayFlatten(resource_spans.scope_spans.spans.attributes),
        arrayFlatten(resource_spans.scope_spans.spans.events.attributes),
        arrayFlatten(resource_spans.scope_spans.spans.links.attributes)
    ) AS request_kv
FROM ${database}.otlp_ingest
