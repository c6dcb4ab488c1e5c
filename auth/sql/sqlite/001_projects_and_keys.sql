-- Projects (tenants) and their API keys. A key is stored only as the SHA-256 of the whole key.
-- Timestamps are ISO-8601 UTC text of one fixed width, so they compare as text.
CREATE TABLE prela_projects (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE prela_api_keys (
    id         TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES prela_projects (id),
    name       TEXT NOT NULL,
    key_hash   BLOB NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    created_at TEXT NOT NULL,
    last_used  TEXT,
    revoked_at TEXT
);

CREATE INDEX prela_api_keys_project ON prela_api_keys (project_id, created_at);
