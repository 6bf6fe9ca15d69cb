-- live door status: facility access, door keys, live events (manager overrides, door devices, rider check-ins)
ALTER TABLE facilities ADD COLUMN access TEXT NOT NULL DEFAULT ''
    CHECK (access IN ('', 'walk_in', 'scan_to_enter', 'ask_staff', 'registration_required'));
INSERT INTO meta (key, value) VALUES ('live_revision', 0);
CREATE TABLE door_keys (
    id TEXT PRIMARY KEY,
    facility_id TEXT NOT NULL,
    name TEXT NOT NULL CHECK (length(trim(name)) > 0),
    salt TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX door_keys_facility ON door_keys (facility_id);
CREATE TABLE live_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    revision INTEGER NOT NULL,
    facility_id TEXT NOT NULL,
    source TEXT NOT NULL,
    state TEXT NOT NULL,
    at TEXT NOT NULL,
    until TEXT,
    reason TEXT NOT NULL DEFAULT '',
    actor TEXT NOT NULL DEFAULT '',
    nonce TEXT NOT NULL DEFAULT '',
    CHECK (
        (source = 'manager' AND state IN ('open', 'closed', 'cleared'))
        OR (source = 'device' AND state IN ('open', 'closed'))
        OR (source = 'rider' AND state IN ('open', 'locked', 'scan_required'))
    )
);
CREATE INDEX live_events_revision ON live_events (revision);
CREATE INDEX live_events_at ON live_events (at);
CREATE INDEX live_events_votes ON live_events (facility_id, actor, at);
CREATE UNIQUE INDEX live_events_nonce ON live_events (source, actor, nonce) WHERE nonce <> '';
CREATE TRIGGER live_events_append_only_u BEFORE UPDATE ON live_events
    BEGIN SELECT RAISE(ABORT, 'live_events is append-only'); END;
