-- The totals of a page of sessions, by primary key.
SELECT
    session_id,
    toUnixTimestamp64Nano(min(first_seen)) AS first_ns,
    toUnixTimestamp64Nano(max(last_seen)) AS last_ns,
    length(groupUniqArrayArray(trace_ids)) AS trace_count,
    groupUniqArrayArray(user_ids) AS users,
    uniqExactIfMerge(error_spans) AS error_count,
    groupUniqArrayIfMerge(usage) AS usage,
    arraySum(u -> u.2, usage) AS input_tokens,
    arraySum(u -> u.3, usage) AS output_tokens,
    arraySum(u -> u.4, usage) AS total_tokens,
    arraySum(u -> u.5, usage) AS cost_usd
FROM ${database}.sessions
WHERE project_id = {project_id:String} AND session_id IN {ids:Array(String)}
GROUP BY session_id
