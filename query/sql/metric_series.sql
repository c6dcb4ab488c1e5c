-- One metric over [since, until) in buckets of {interval_ns}, grouped by one attribute (${group_expr}).
-- Per series (one attribute set) and bucket: a cumulative series counts its latest value, a delta
-- series the sum of its points, a gauge the average; then the series of a group are added up
-- (gauges averaged).
SELECT
    bucket,
    grp,
    kind AS metric_type,
    if(kind = 'gauge', avg(v), sum(v)) AS value,
    sum(c) AS total_count,
    sum(s) AS total_sum
FROM
(
    SELECT
        intDiv(toUnixTimestamp64Nano(time), {interval_ns:Int64}) * {interval_ns:Int64} AS bucket,
        ${group_expr} AS grp,
        series_hash,
        any(metric_type) AS kind,
        any(temporality) AS cumulative_if_2,
        multiIf(cumulative_if_2 = 2, argMax(value, time), kind = 'gauge', avg(value), sum(value)) AS v,
        if(cumulative_if_2 = 2, argMax(count, time), sum(count)) AS c,
        if(cumulative_if_2 = 2, argMax(sum, time), sum(sum)) AS s
    FROM ${database}.metrics FINAL
    WHERE project_id = {project_id:String} AND metric_name = {name:String}
        AND time >= fromUnixTimestamp64Nano({since:Int64}) AND time < fromUnixTimestamp64Nano({until:Int64})
    GROUP BY bucket, grp, series_hash
)
GROUP BY bucket, grp, kind
ORDER BY grp, bucket
LIMIT ${max_points}
