-- sessions that can be ended (a per-user epoch) and shared counters (login throttling)
ALTER TABLE users ADD COLUMN session_epoch integer NOT NULL DEFAULT 0 CHECK (session_epoch >= 0);
CREATE TABLE counters (
    key text COLLATE "C" PRIMARY KEY,
    value bigint NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX counters_expires_at ON counters (expires_at);
