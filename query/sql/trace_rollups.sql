-- Additive roll-ups of a page of traces, from de-duplicated spans (primary-key lookups).
SELECT
    trace_id,
    count() AS span_count,
    countIf(status = 'ERROR') AS error_count,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(total_tokens) AS total_tokens,
    sum(cost_usd) AS cost_usd
FROM ${database}.spans FINAL
WHERE project_id = {project_id:String} AND trace_id IN {trace_ids:Array(String)}
GROUP BY trace_id
