-- sessions that can be ended (a per-user epoch) and shared counters (login throttling)
ALTER TABLE users ADD COLUMN session_epoch INTEGER NOT NULL DEFAULT 0 CHECK (session_epoch >= 0);
CREATE TABLE counters (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX counters_expires_at ON counters (expires_at);
