"""The schema migrations exactly as released before the stores shared one SQL base.

Copied verbatim from ``locator/stores/sqlite.py`` and ``locator/stores/postgis.py`` at commit
c9e1500 (the last commit with migrations as Python strings), with the ``schema_migrations``
DDL and bookkeeping of that code. Tests build databases "the old way" from these texts to
prove that the numbered ``.sql`` files are the same DDL and that such databases are
recognised as up to date. Never edit this file.
"""

from __future__ import annotations

#: ``locator.stores.sqlite.MIGRATIONS`` at c9e1500 (version = position, from 1).
SQLITE: list[str] = [
    """
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
    """,
    # 2: partners (embed origins, API keys by SHA-256 hash, daily quotas).
    """
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
    """,
    # 3: anonymous rider feedback (append-only), see locator.services.feedback.
    """
    CREATE TABLE feedback (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        facility_id TEXT NOT NULL,
        facility_version INTEGER NOT NULL DEFAULT 0,
        verdict TEXT NOT NULL CHECK (verdict IN ('confirm', 'problem')),
        reason TEXT NOT NULL DEFAULT ''
            CHECK (reason IN ('', 'closed', 'gone', 'moved', 'missing_service', 'other')),
        comment TEXT NOT NULL DEFAULT '',
        client TEXT NOT NULL DEFAULT '',
        locale TEXT NOT NULL DEFAULT '',
        at TEXT NOT NULL
    );
    CREATE INDEX feedback_facility_at ON feedback (facility_id, at);
    CREATE INDEX feedback_at ON feedback (at);
    CREATE TRIGGER feedback_append_only_u BEFORE UPDATE ON feedback
        BEGIN SELECT RAISE(ABORT, 'feedback is append-only'); END;
    """,
    # 4: accounts (users, API tokens: only a SHA-256 hash of each token is stored).
    """
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
    """,
    # 5: the managers' report queue: a rider's problem report (feedback, append-only)
    # is open until a manager resolves or dismisses it (report_resolutions, append-only).
    """
    CREATE TABLE report_resolutions (
        feedback_id INTEGER PRIMARY KEY REFERENCES feedback (id),
        status TEXT NOT NULL CHECK (status IN ('resolved', 'dismissed')),
        action TEXT NOT NULL DEFAULT '',
        resolved_by TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        resolved_at TEXT NOT NULL
    );
    CREATE TRIGGER report_resolutions_append_only_u BEFORE UPDATE ON report_resolutions
        BEGIN SELECT RAISE(ABORT, 'report_resolutions is append-only'); END;
    CREATE TRIGGER report_resolutions_append_only_d BEFORE DELETE ON report_resolutions
        BEGIN SELECT RAISE(ABORT, 'report_resolutions is append-only'); END;
    CREATE VIEW rider_reports AS
        SELECT f.id, f.facility_id, f.reason, f.comment AS text, f.at AS created_at,
               coalesce(r.status, 'open') AS status, r.resolved_at,
               coalesce(r.resolved_by, '') AS resolved_by, coalesce(r.action, '') AS action,
               coalesce(r.note, '') AS note
        FROM feedback f LEFT JOIN report_resolutions r ON r.feedback_id = f.id
        WHERE f.verdict = 'problem';
    """,
]

#: The bookkeeping table of ``SQLiteStore.init_schema`` at c9e1500.
SQLITE_SCHEMA_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
)

#: ``locator.stores.postgis.MIGRATIONS`` at c9e1500: ``(version, name, script)``.
POSTGIS: list[tuple[int, str, str]] = [
    (
        1,
        "facilities, revision counter, tombstones, append-only history",
        """
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
        """,
    ),
    (
        2,
        "anonymous rider feedback (append-only), see locator.services.feedback",
        """
        CREATE TABLE feedback (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            facility_id text COLLATE "C" NOT NULL,
            facility_version integer NOT NULL DEFAULT 0,
            verdict text NOT NULL CHECK (verdict IN ('confirm', 'problem')),
            reason text NOT NULL DEFAULT ''
                CHECK (reason IN ('', 'closed', 'gone', 'moved', 'missing_service', 'other')),
            comment text NOT NULL DEFAULT '',
            client text NOT NULL DEFAULT '',
            locale text NOT NULL DEFAULT '',
            at timestamptz NOT NULL
        );
        CREATE INDEX feedback_facility_at ON feedback (facility_id, at);
        CREATE INDEX feedback_at ON feedback (at);
        CREATE FUNCTION feedback_append_only() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'feedback is append-only';
            END
            $$;
        CREATE TRIGGER feedback_no_update BEFORE UPDATE ON feedback
            FOR EACH ROW EXECUTE FUNCTION feedback_append_only();
        """,
    ),
    (
        3,
        "partners (embed origins, API keys by SHA-256 hash, daily quotas)",
        """
        CREATE TABLE partners (
            name text COLLATE "C" PRIMARY KEY,
            origins text[] NOT NULL DEFAULT '{}',
            daily_quota bigint NOT NULL CHECK (daily_quota >= 1),
            key_hash text COLLATE "C" NOT NULL UNIQUE,
            key_prefix text NOT NULL,
            created_at timestamptz NOT NULL,
            key_created_at timestamptz NOT NULL,
            revoked_at timestamptz
        );
        """,
    ),
    (
        4,
        "accounts: users, API tokens (only a SHA-256 hash of each token is stored)",
        """
        CREATE TABLE users (
            name text COLLATE "C" PRIMARY KEY CHECK (length(btrim(name)) > 0),
            role text NOT NULL CHECK (role IN ('admin', 'district_manager', 'station_manager')),
            password_hash text NOT NULL,
            districts text[] NOT NULL DEFAULT '{}',
            facilities text[] NOT NULL DEFAULT '{}',
            active boolean NOT NULL DEFAULT true,
            created_at timestamptz NOT NULL
        );
        CREATE TABLE api_tokens (
            id text COLLATE "C" PRIMARY KEY,
            user_name text COLLATE "C" NOT NULL REFERENCES users (name),
            token_hash text COLLATE "C" NOT NULL UNIQUE,
            label text NOT NULL DEFAULT '',
            created_at timestamptz NOT NULL,
            revoked_at timestamptz
        );
        CREATE INDEX api_tokens_user ON api_tokens (user_name);
        """,
    ),
    (
        5,
        "the managers' report queue: append-only report_resolutions, rider_reports view",
        """
        CREATE TABLE report_resolutions (
            feedback_id bigint PRIMARY KEY REFERENCES feedback (id),
            status text NOT NULL CHECK (status IN ('resolved', 'dismissed')),
            action text NOT NULL DEFAULT '',
            resolved_by text NOT NULL,
            note text NOT NULL DEFAULT '',
            resolved_at timestamptz NOT NULL
        );
        CREATE FUNCTION report_resolutions_append_only() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'report_resolutions is append-only';
            END
            $$;
        CREATE TRIGGER report_resolutions_no_update BEFORE UPDATE OR DELETE ON report_resolutions
            FOR EACH ROW EXECUTE FUNCTION report_resolutions_append_only();
        CREATE TRIGGER report_resolutions_no_truncate BEFORE TRUNCATE ON report_resolutions
            FOR EACH STATEMENT EXECUTE FUNCTION report_resolutions_append_only();
        CREATE VIEW rider_reports AS
            SELECT f.id, f.facility_id, f.reason, f.comment AS text, f.at AS created_at,
                   coalesce(r.status, 'open') AS status, r.resolved_at,
                   coalesce(r.resolved_by, '') AS resolved_by, coalesce(r.action, '') AS action,
                   coalesce(r.note, '') AS note
            FROM feedback f LEFT JOIN report_resolutions r ON r.feedback_id = f.id
            WHERE f.verdict = 'problem';
        """,
    ),
]

#: The bookkeeping table of ``PostGISStore.init_schema`` at c9e1500.
POSTGIS_SCHEMA_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "version integer PRIMARY KEY, name text NOT NULL, "
    "applied_at timestamptz NOT NULL DEFAULT now())"
)
