-- The totals of a page of users, by primary key.
SELECT
    user_id,
    toUnixTimestamp64Nano(min(first_seen)) AS first_ns,
    toUnixTimestamp64Nano(max(last_seen)) AS last_ns,
    uniqExactMerge(traces) AS trace_count,
    uniqExactIfMerge(sessions) AS session_count,
    groupUniqArrayIfMerge(usage) AS usage,
    arraySum(u -> u.2, usage) AS input_tokens,
    arraySum(u -> u.3, usage) AS output_tokens,
    arraySum(u -> u.4, usage) AS total_tokens,
    arraySum(u -> u.5, usage) AS cost_usd
FROM ${database}.users
WHERE project_id = {project_id:String} AND user_id IN {ids:Array(String)}
GROUP BY user_id
