-- (trace_id, span_id) of the spans whose searchable text holds every word and phrase (full-text index),
-- among those that started in the time range being read (the phrases are checked on those rows only).
SELECT trace_id, span_id
FROM ${database}.spans
WHERE project_id = {project_id:String} AND hasAllTokens(${search_text}, {q_tokens:Array(String)})
  ${time_range} ${phrases}
