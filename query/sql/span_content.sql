-- Input and output of a page of spans, by primary key.
SELECT trace_id, span_id, any(input) AS input, any(output) AS output, any(events) AS events
FROM ${database}.spans
WHERE project_id = {project_id:String} AND (trace_id, span_id) IN {keys:Array(Tuple(String, String))}
GROUP BY trace_id, span_id
