-- Sessions, users and environment of each span; cost exact to a pico-dollar (Decimal, not Float64);
-- a full-text index over what a person searches: names, prompts, completions, status messages, events.
ALTER TABLE ${database}.spans
    ADD COLUMN IF NOT EXISTS session_id String CODEC(ZSTD(1)),
    ADD COLUMN IF NOT EXISTS user_id String CODEC(ZSTD(1)),
    ADD COLUMN IF NOT EXISTS environment LowCardinality(String);
ALTER TABLE ${database}.spans MODIFY COLUMN cost_usd Decimal(18, 12) CODEC(ZSTD(1))
SETTINGS mutations_sync = 2;
ALTER TABLE ${database}.spans
    ADD INDEX IF NOT EXISTS idx_text ${search_text}
    TYPE text(tokenizer = 'splitByNonAlpha') GRANULARITY 1;
ALTER TABLE ${database}.spans MATERIALIZE INDEX idx_text
SETTINGS mutations_sync = 2
