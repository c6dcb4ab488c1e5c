-- The read-side tables of migration 5, filled from the spans a store already holds (a data dir or
-- database written by an earlier release), by each materialized view's own SELECT.
-- backfill: trace_index_mv, trace_rollups_mv, span_index_mv, span_stats_1m_mv, span_stats_1h_mv, user_stats_1h_mv, sessions_mv, users_mv
SELECT 1
