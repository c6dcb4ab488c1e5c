-- Which sessions a page shows, most recently active first: two narrow columns of the project's
-- sessions, no aggregate states (those are read for the page's ids only, by session_detail_rows).
SELECT
    session_id,
    toUnixTimestamp64Nano(min(first_seen)) AS first_ns,
    toUnixTimestamp64Nano(max(last_seen)) AS last_ns
FROM ${database}.sessions
WHERE project_id = {project_id:String} ${where}
GROUP BY session_id
HAVING 1 ${having}
ORDER BY last_ns DESC, session_id DESC
LIMIT {limit:UInt32}
