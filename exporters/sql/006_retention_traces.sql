ALTER TABLE ${database}.traces MODIFY TTL toDateTime(ingested_at) + INTERVAL ${ttl_days} DAY
SETTINGS materialize_ttl_after_modify = 0
