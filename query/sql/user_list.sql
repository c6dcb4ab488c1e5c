-- Users of one project, most recently seen first.
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
WHERE project_id = {project_id:String}
GROUP BY user_id
HAVING 1 ${having}
ORDER BY last_ns DESC, user_id DESC
LIMIT {limit:UInt32}
