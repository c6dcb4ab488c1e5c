-- Step 3: one row per valid span, with the slices of the r_all_* arrays it sees (its resource's,
-- its scope's, its own, its events', its links': all_*) and their sizes (g_r, g_s, g_a, ev_n, ln_n).
SELECT
    project_id,
    scope_names[s_scope] AS scope_name, scope_versions[s_scope] AS scope_version,
    sp_trace_id, sp_span_id, sp_parent_span_id, sp_trace_state, sp_name, sp_kind, sp_start, sp_end,
    sp_status_code, sp_status_message,
    all_k, all_t, all_j, all_sv, all_bv, all_iv, all_dv, all_len,
    n_res[s_resource] AS g_r, n_scope[s_scope] AS g_s, g_a, ev_n, ev_names, ev_times, ln_n, ln_ids
FROM
(
    SELECT
        *,
        -- per span: its slice of each, in the order resource, scope, span, events, links
${span_arrays},
        arrayMap((i, fe, ce) -> arraySlice(n_event, fe, ce), arrayEnumerate(s_trace_id), first_event, events_per_span) AS s_ev_n,
        arrayMap((fe, ce) -> arraySlice(e_name, fe, ce), first_event, events_per_span) AS s_ev_names,
        arrayMap((fe, ce) -> arraySlice(e_time, fe, ce), first_event, events_per_span) AS s_ev_times,
        arrayMap((fl, cl) -> arraySlice(n_link, fl, cl), first_link, links_per_span) AS s_ln_n,
        arrayMap((fl, cl) -> arraySlice(l_ids, fl, cl), first_link, links_per_span) AS s_ln_ids
    FROM ${prev}
)
ARRAY JOIN
    s_trace_id AS sp_trace_id, s_span_id AS sp_span_id, s_parent_span_id AS sp_parent_span_id,
    s_trace_state AS sp_trace_state, s_name AS sp_name, s_kind AS sp_kind, s_start AS sp_start,
    s_end AS sp_end, s_status_code AS sp_status_code, s_status_message AS sp_status_message,
    s_resources AS s_resource, s_scopes AS s_scope, n_span AS g_a,
${span_array_join},
    s_ev_n AS ev_n, s_ev_names AS ev_names, s_ev_times AS ev_times, s_ln_n AS ln_n, s_ln_ids AS ln_ids
-- span_problem(): spans breaking the OTLP id/time rules are not stored (the receiver counts them)
WHERE length(sp_trace_id) = 16 AND sp_trace_id != repeat('\0', 16)
    AND length(sp_span_id) = 8 AND sp_span_id != repeat('\0', 8)
    AND (sp_parent_span_id = '' OR length(sp_parent_span_id) = 8)
    AND sp_start <= ${max_time_ns} AND sp_end <= ${max_time_ns}
