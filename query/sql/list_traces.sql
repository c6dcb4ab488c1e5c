-- Newest traces of one project from the narrow `traces` table (no prompt text read).
-- ${having} is assembled from fixed clauses in store.py; every value is a bound parameter.
SELECT
    trace_id,
    toUnixTimestamp64Nano(min(started_at)) AS started_ns,
    toUnixTimestamp64Nano(max(ended_at)) AS ended_ns,
    argMinMerge(root) AS root,
    max(has_error) AS has_error,
    groupUniqArrayArray(services) AS services,
    groupUniqArrayArray(span_types) AS span_types,
    groupUniqArrayArray(models) AS models
FROM ${database}.traces
WHERE project_id = {project_id:String}
GROUP BY trace_id
HAVING 1 ${having}
ORDER BY started_ns DESC, trace_id DESC
LIMIT {limit:UInt32}
