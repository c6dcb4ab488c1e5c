-- Applied at every start so a changed PRELA_TTL_DAYS takes effect; existing parts are not rewritten.
-- Retention counts from arrival (ingested_at) in every table, the seed's 90 days by default.
ALTER TABLE ${database}.spans MODIFY TTL toDateTime(ingested_at) + INTERVAL ${ttl_days} DAY
SETTINGS materialize_ttl_after_modify = 0;
ALTER TABLE ${database}.traces MODIFY TTL toDateTime(ingested_at) + INTERVAL ${ttl_days} DAY
SETTINGS materialize_ttl_after_modify = 0;
ALTER TABLE ${database}.trace_index MODIFY TTL toDateTime(ingested_at) + INTERVAL ${ttl_days} DAY
SETTINGS materialize_ttl_after_modify = 0;
ALTER TABLE ${database}.trace_rollups MODIFY TTL toDateTime(ingested_at) + INTERVAL ${ttl_days} DAY
SETTINGS materialize_ttl_after_modify = 0;
ALTER TABLE ${database}.span_index MODIFY TTL toDateTime(ingested_at) + INTERVAL ${ttl_days} DAY
SETTINGS materialize_ttl_after_modify = 0;
ALTER TABLE ${database}.span_stats_1m MODIFY TTL toDateTime(ingested_at) + INTERVAL ${ttl_days} DAY
SETTINGS materialize_ttl_after_modify = 0;
ALTER TABLE ${database}.span_stats_1h MODIFY TTL toDateTime(ingested_at) + INTERVAL ${ttl_days} DAY
SETTINGS materialize_ttl_after_modify = 0;
ALTER TABLE ${database}.user_stats_1h MODIFY TTL toDateTime(ingested_at) + INTERVAL ${ttl_days} DAY
SETTINGS materialize_ttl_after_modify = 0;
ALTER TABLE ${database}.sessions MODIFY TTL toDateTime(ingested_at) + INTERVAL ${ttl_days} DAY
SETTINGS materialize_ttl_after_modify = 0;
ALTER TABLE ${database}.users MODIFY TTL toDateTime(ingested_at) + INTERVAL ${ttl_days} DAY
SETTINGS materialize_ttl_after_modify = 0;
ALTER TABLE ${database}.logs MODIFY TTL toDateTime(ingested_at) + INTERVAL ${ttl_days} DAY
SETTINGS materialize_ttl_after_modify = 0;
ALTER TABLE ${database}.metrics MODIFY TTL toDateTime(ingested_at) + INTERVAL ${ttl_days} DAY
SETTINGS materialize_ttl_after_modify = 0
