-- accounts: users, API tokens (only a SHA-256 hash of each token is stored)
CREATE TABLE users (
    name TEXT PRIMARY KEY CHECK (length(trim(name)) > 0),
    role TEXT NOT NULL CHECK (role IN ('admin', 'district_manager', 'station_manager')),
    password_hash TEXT NOT NULL,
    districts TEXT NOT NULL DEFAULT '[]',
    facilities TEXT NOT NULL DEFAULT '[]',
    active INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL
);
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    user_name TEXT NOT NULL REFERENCES users (name),
    token_hash TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX api_tokens_user ON api_tokens (user_name);
