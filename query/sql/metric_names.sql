-- The metrics a project sent in [since, until): name, type, unit, description, last point.
SELECT
    metric_name AS name,
    any(metric_type) AS type,
    any(unit) AS unit,
    any(description) AS description,
    toUnixTimestamp64Nano(max(time)) AS last_ns,
    count() AS points
FROM ${database}.metrics
WHERE project_id = {project_id:String}
    AND time >= fromUnixTimestamp64Nano({since:Int64}) AND time < fromUnixTimestamp64Nano({until:Int64})
GROUP BY metric_name
ORDER BY metric_name
LIMIT ${max_metrics}
