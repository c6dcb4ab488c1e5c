-- Every insert writes one part into `spans` and one into each of the 9 view tables. A part was a
-- directory of 12-155 files (Wide: two files per column and skip index; Compact: a dozen), and on
-- the filesystems measured creating those files was most of what an insert cost the store.
-- Parts under 64 MiB (uncompressed) are now written Compact (one data file, one marks file) and
-- Packed (the part's files in one `data.packed` archive, ClickHouse's packed part storage): one
-- file per table per insert. Store CPU per span, spans + every view (bench/README.md, "Store cost
-- per span"): 62.7 -> 22.3 at 10k-span inserts, 27.5 -> 18.3 at 20k. Merges that reach 64 MiB
-- write Wide parts in full storage as before: big parts keep one file per column for reads that
-- need a few columns of many rows. Applies to parts written from now on; a server older than
-- packed storage's open-source release keeps the setting as a no-op (full storage).
ALTER TABLE ${database}.spans MODIFY SETTING
    min_bytes_for_wide_part = 67108864, min_bytes_for_full_part_storage = 67108864;
ALTER TABLE ${database}.span_index MODIFY SETTING
    min_bytes_for_wide_part = 67108864, min_bytes_for_full_part_storage = 67108864;
ALTER TABLE ${database}.traces MODIFY SETTING
    min_bytes_for_wide_part = 67108864, min_bytes_for_full_part_storage = 67108864;
ALTER TABLE ${database}.trace_index MODIFY SETTING
    min_bytes_for_wide_part = 67108864, min_bytes_for_full_part_storage = 67108864;
ALTER TABLE ${database}.trace_rollups MODIFY SETTING
    min_bytes_for_wide_part = 67108864, min_bytes_for_full_part_storage = 67108864;
ALTER TABLE ${database}.span_stats_1m MODIFY SETTING
    min_bytes_for_wide_part = 67108864, min_bytes_for_full_part_storage = 67108864;
ALTER TABLE ${database}.span_stats_1h MODIFY SETTING
    min_bytes_for_wide_part = 67108864, min_bytes_for_full_part_storage = 67108864;
ALTER TABLE ${database}.user_stats_1h MODIFY SETTING
    min_bytes_for_wide_part = 67108864, min_bytes_for_full_part_storage = 67108864;
ALTER TABLE ${database}.sessions MODIFY SETTING
    min_bytes_for_wide_part = 67108864, min_bytes_for_full_part_storage = 67108864;
ALTER TABLE ${database}.users MODIFY SETTING
    min_bytes_for_wide_part = 67108864, min_bytes_for_full_part_storage = 67108864;
ALTER TABLE ${database}.logs MODIFY SETTING
    min_bytes_for_wide_part = 67108864, min_bytes_for_full_part_storage = 67108864;
ALTER TABLE ${database}.metrics MODIFY SETTING
    min_bytes_for_wide_part = 67108864, min_bytes_for_full_part_storage = 67108864;
