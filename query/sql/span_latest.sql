-- When the newest span before {before} started (reads one granule, in reverse key order).
SELECT toUnixTimestamp64Nano(started_at) AS started_ns
FROM ${database}.span_index
WHERE project_id = {project_id:String}
  AND started_at < fromUnixTimestamp64Nano({before:Int64})
  AND started_at >= fromUnixTimestamp64Nano({not_before:Int64})
ORDER BY started_at DESC
LIMIT 1
