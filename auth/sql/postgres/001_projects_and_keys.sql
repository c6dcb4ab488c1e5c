-- Projects (tenants) and their API keys. A key is stored only as the SHA-256 of the whole key.
CREATE TABLE prela_projects (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE prela_api_keys (
    id         TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES prela_projects (id),
    name       TEXT NOT NULL,
    key_hash   BYTEA NOT NULL UNIQUE CHECK (octet_length(key_hash) = 32),
    created_at TIMESTAMPTZ NOT NULL,
    last_used  TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);

CREATE INDEX prela_api_keys_project ON prela_api_keys (project_id, created_at);
