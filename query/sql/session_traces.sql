-- The trace ids of one session.
SELECT groupUniqArrayArray(trace_ids) AS trace_ids
FROM ${database}.sessions
WHERE project_id = {project_id:String} AND session_id = {session_id:String}
