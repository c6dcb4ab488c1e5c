-- Exact summaries of a page of traces by primary key: idempotent aggregates, so re-sent spans count once.
SELECT
    trace_id,
    toUnixTimestamp64Nano(min(started_at)) AS started_ns,
    toUnixTimestamp64Nano(max(ended_at)) AS ended_ns,
    argMinMerge(root) AS root,
    uniqExactMerge(spans) AS span_count,
    uniqExactIfMerge(error_spans) AS error_count,
    groupUniqArrayIfMerge(usage) AS usage,
    arraySum(u -> u.2, usage) AS input_tokens,
    arraySum(u -> u.3, usage) AS output_tokens,
    arraySum(u -> u.4, usage) AS total_tokens,
    arraySum(u -> u.5, usage) AS cost_usd,
    groupUniqArrayArray(services) AS services,
    groupUniqArrayArray(span_types) AS span_types,
    groupUniqArrayArray(models) AS models,
    groupUniqArrayArray(providers) AS providers,
    groupUniqArrayArray(environments) AS environments,
    groupUniqArrayArray(session_ids) AS session_ids,
    groupUniqArrayArray(user_ids) AS user_ids
FROM ${database}.trace_rollups
WHERE project_id = {project_id:String} AND trace_id IN {trace_ids:Array(String)}
GROUP BY trace_id
