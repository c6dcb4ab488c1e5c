-- Which users a page shows, most recently seen first: one narrow column, no aggregate states.
SELECT user_id, toUnixTimestamp64Nano(max(last_seen)) AS last_ns
FROM ${database}.users
WHERE project_id = {project_id:String}
GROUP BY user_id
HAVING 1 ${having}
ORDER BY last_ns DESC, user_id DESC
LIMIT {limit:UInt32}
