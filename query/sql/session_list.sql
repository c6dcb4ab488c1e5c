-- Sessions of one project, most recently active first (one key range: the project's sessions).
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
WHERE project_id = {project_id:String} ${where}
GROUP BY session_id
HAVING 1 ${having}
ORDER BY last_ns DESC, session_id DESC
LIMIT {limit:UInt32}
