-- The latest hour at or before {hour}, of one project's trace index (reads one granule in order).
SELECT hour
FROM ${database}.trace_index
WHERE project_id = {project_id:String} AND hour <= {hour:DateTime} AND hour >= {floor:DateTime}
ORDER BY project_id DESC, hour DESC
LIMIT 1
