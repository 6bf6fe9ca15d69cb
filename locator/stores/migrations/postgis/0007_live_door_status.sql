-- live door status: facility access, door keys, live events (manager overrides, door devices, rider check-ins)
ALTER TABLE facilities ADD COLUMN access text NOT NULL DEFAULT ''
    CHECK (access IN ('', 'walk_in', 'scan_to_enter', 'ask_staff', 'registration_required'));
CREATE TABLE live_revision (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    value bigint NOT NULL CHECK (value >= 0)
);
INSERT INTO live_revision (singleton, value) VALUES (true, 0);
CREATE TABLE door_keys (
    id text COLLATE "C" PRIMARY KEY,
    facility_id text COLLATE "C" NOT NULL,
    name text NOT NULL CHECK (length(btrim(name)) > 0),
    salt text NOT NULL,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX door_keys_facility ON door_keys (facility_id);
CREATE TABLE live_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    revision bigint NOT NULL,
    facility_id text COLLATE "C" NOT NULL,
    source text NOT NULL,
    state text NOT NULL,
    at timestamptz NOT NULL,
    until timestamptz,
    reason text NOT NULL DEFAULT '',
    actor text COLLATE "C" NOT NULL DEFAULT '',
    nonce text COLLATE "C" NOT NULL DEFAULT '',
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
CREATE FUNCTION live_events_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'live_events is append-only';
    END
    $$;
CREATE TRIGGER live_events_no_update BEFORE UPDATE ON live_events
    FOR EACH ROW EXECUTE FUNCTION live_events_append_only();
