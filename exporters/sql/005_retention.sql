-- Applied at every start so a changed PRELA_TTL_DAYS takes effect; existing parts are not rewritten.
ALTER TABLE ${database}.spans MODIFY TTL toDateTime(ingested_at) + INTERVAL ${ttl_days} DAY
SETTINGS materialize_ttl_after_modify = 0
