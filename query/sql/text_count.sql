-- How many spans of the project hold every word (answered from the full-text index): a rare search
-- reads its whole time range at once, a common one walks back from the newest hour.
SELECT count() AS matches
FROM ${database}.spans
WHERE project_id = {project_id:String} AND hasAllTokens(${search_text}, {q_tokens:Array(String)})
