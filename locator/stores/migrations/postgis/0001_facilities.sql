-- facilities, revision counter, tombstones, append-only history
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE TABLE store_revision (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    value bigint NOT NULL CHECK (value >= 0)
);
INSERT INTO store_revision (singleton, value) VALUES (true, 0);
CREATE TABLE facilities (
    id text COLLATE "C" PRIMARY KEY CHECK (id <> ''),
    kind text NOT NULL CHECK (kind IN ('warm_station', 'union_home', 'nursing_room')),
    name text NOT NULL CHECK (length(btrim(name)) > 0),
    address text NOT NULL DEFAULT '',
    lon double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    lat double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    geog geography(Point, 4326) NOT NULL
        GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography) STORED,
    amenities text[] NOT NULL DEFAULT '{}',
    opening_hours text NOT NULL DEFAULT '',
    host_type text NOT NULL DEFAULT '',
    phone text NOT NULL DEFAULT '',
    status text NOT NULL CHECK (status IN ('open', 'temporarily_closed', 'removed')),
    status_until date,
    status_reason text NOT NULL DEFAULT '',
    district_adcode text,
    district_name text,
    subdistrict text,
    verified_at timestamptz,
    updated_at timestamptz NOT NULL,
    version integer NOT NULL CHECK (version >= 1),
    source text NOT NULL DEFAULT '',
    demo boolean NOT NULL DEFAULT false,
    revision bigint NOT NULL
);
CREATE INDEX facilities_geog ON facilities USING gist (geog);
CREATE INDEX facilities_amenities ON facilities USING gin (amenities);
CREATE INDEX facilities_revision ON facilities (revision);
CREATE INDEX facilities_lonlat ON facilities (lon, lat);
CREATE INDEX facilities_district ON facilities (district_adcode);
CREATE INDEX facilities_updated_at ON facilities (updated_at);
CREATE TABLE tombstones (
    id text COLLATE "C" PRIMARY KEY,
    revision bigint NOT NULL
);
CREATE INDEX tombstones_revision ON tombstones (revision);
CREATE TABLE facility_history (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    facility_id text COLLATE "C" NOT NULL,
    revision bigint NOT NULL,
    version integer NOT NULL,
    action text NOT NULL CHECK (action IN ('create', 'update', 'delete', 'import')),
    actor text NOT NULL,
    reason text NOT NULL DEFAULT '',
    at timestamptz NOT NULL,
    changes json NOT NULL
);
CREATE INDEX facility_history_facility ON facility_history (facility_id, seq);
CREATE FUNCTION facility_history_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'facility_history is append-only';
    END
    $$;
CREATE TRIGGER facility_history_no_update BEFORE UPDATE OR DELETE ON facility_history
    FOR EACH ROW EXECUTE FUNCTION facility_history_append_only();
CREATE TRIGGER facility_history_no_truncate BEFORE TRUNCATE ON facility_history
    FOR EACH STATEMENT EXECUTE FUNCTION facility_history_append_only();
