-- Count, errors, latency percentiles, tokens and cost per time bucket and group, from a rollup table,
-- and the totals over the range (the empty grouping set, level 3) in the same pass.
SELECT
    ${time_expr} AS t,
    ${group_expr} AS g,
    ${level_expr} AS level,
    sum(spans) AS count,
    sum(errors) AS error_count,
    quantilesTDigestMerge(0.5, 0.9, 0.99)(duration_ms) AS q,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(total_tokens) AS total_tokens,
    sum(cost_usd) AS cost_usd
FROM ${database}.${table}
WHERE project_id = {project_id:String}
  AND bucket >= {since:DateTime} AND bucket < {until:DateTime}
  ${where}
GROUP BY GROUPING SETS (${grouping_sets})
ORDER BY level, g, t
