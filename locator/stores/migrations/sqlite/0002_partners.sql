-- partners (embed origins, API keys by SHA-256 hash, daily quotas)
CREATE TABLE partners (
    name TEXT PRIMARY KEY,
    origins TEXT NOT NULL DEFAULT '[]',
    daily_quota INTEGER NOT NULL CHECK (daily_quota >= 1),
    key_hash TEXT NOT NULL UNIQUE,
    key_prefix TEXT NOT NULL,
    created_at TEXT NOT NULL,
    key_created_at TEXT NOT NULL,
    revoked_at TEXT
);
