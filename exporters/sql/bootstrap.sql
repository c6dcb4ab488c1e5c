CREATE DATABASE IF NOT EXISTS ${database}
;
-- Which numbered migrations (sql/migrations/NNNN_*.sql) this database has had, and when.
CREATE TABLE IF NOT EXISTS ${database}.schema_migrations
(
    version    UInt32,
    name       String,
    applied_at DateTime64(3) DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY version
