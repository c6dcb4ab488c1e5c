-- Which numbered migrations of prela.auth have been applied (created before any of them).
CREATE TABLE IF NOT EXISTS prela_auth_schema_version (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
);
