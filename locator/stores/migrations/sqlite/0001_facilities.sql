-- facilities, revision counter (meta), tombstones, append-only history
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO meta (key, value) VALUES ('revision', 0);
CREATE TABLE facilities (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('warm_station', 'union_home', 'nursing_room')),
    name TEXT NOT NULL CHECK (length(trim(name)) > 0),
    address TEXT NOT NULL DEFAULT '',
    lon REAL NOT NULL CHECK (lon BETWEEN -180 AND 180),
    lat REAL NOT NULL CHECK (lat BETWEEN -90 AND 90),
    amenities TEXT NOT NULL DEFAULT '[]',
    opening_hours TEXT NOT NULL DEFAULT '',
    host_type TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL CHECK (status IN ('open', 'temporarily_closed', 'removed')),
    status_until TEXT,
    status_reason TEXT NOT NULL DEFAULT '',
    district_adcode TEXT,
    district_name TEXT,
    subdistrict TEXT,
    verified_at TEXT,
    updated_at TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 1),
    source TEXT NOT NULL DEFAULT '',
    demo INTEGER NOT NULL DEFAULT 0,
    revision INTEGER NOT NULL
);
CREATE INDEX facilities_revision ON facilities (revision);
CREATE INDEX facilities_lonlat ON facilities (lon, lat);
CREATE INDEX facilities_district ON facilities (district_adcode);
CREATE TABLE tombstones (id TEXT PRIMARY KEY, revision INTEGER NOT NULL);
CREATE INDEX tombstones_revision ON tombstones (revision);
CREATE TABLE facility_history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    facility_id TEXT NOT NULL,
    revision INTEGER NOT NULL,
    version INTEGER NOT NULL,
    action TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    at TEXT NOT NULL,
    changes TEXT NOT NULL
);
CREATE INDEX facility_history_facility ON facility_history (facility_id, seq);
CREATE TRIGGER facility_history_append_only_u BEFORE UPDATE ON facility_history
    BEGIN SELECT RAISE(ABORT, 'facility_history is append-only'); END;
CREATE TRIGGER facility_history_append_only_d BEFORE DELETE ON facility_history
    BEGIN SELECT RAISE(ABORT, 'facility_history is append-only'); END;
