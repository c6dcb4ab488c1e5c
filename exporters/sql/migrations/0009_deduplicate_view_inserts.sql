-- A batch the writer inserts again with the same insert_deduplication_token (the Kafka writer's
-- retry after an insert whose outcome it did not learn) was dropped by `spans` but reached every
-- view again: the tables holding sums (span_stats_1m, span_stats_1h, user_stats_1h, the ranking sums
-- of trace_index) counted it twice. The views' target tables now remember recent insert tokens as
-- `spans` does; inserts carrying a token set deduplicate_blocks_in_dependent_materialized_views, so
-- each view's block of a retried insert is recognised and dropped (exporters/clickhouse.py).
-- Inserts without a token are unchanged: without that setting views do not deduplicate.
ALTER TABLE ${database}.traces MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE ${database}.trace_index MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE ${database}.trace_rollups MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE ${database}.span_index MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE ${database}.span_stats_1m MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE ${database}.span_stats_1h MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE ${database}.user_stats_1h MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE ${database}.sessions MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE ${database}.users MODIFY SETTING non_replicated_deduplication_window = 1000;
