-- (trace_id, span_id) of the spans whose searchable text holds every word and phrase (full-text index).
SELECT trace_id, span_id
FROM ${database}.spans
WHERE project_id = {project_id:String} AND hasAllTokens(${search_text}, {q_tokens:Array(String)}) ${phrases}
