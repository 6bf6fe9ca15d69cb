"""The embedded default store: one SQLite file, no server.

SQLite runs in WAL mode so readers never block the writer; each write is a
``BEGIN IMMEDIATE`` transaction, so concurrent writers (several gunicorn workers)
serialise instead of failing. Connections are per thread. Locations are two REAL
columns in WGS-84 degrees; spatial queries are answered by the in-memory index, so the
store only needs a plain lon/lat range filter for ``bbox``.
"""

from __future__ import annotations

import builtins
import dataclasses
import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from locator.core.domain import Facility, Feedback
from locator.errors import ConflictError, NotFoundError, StoreUnavailableError, VersionConflictError
from locator.stores.contract import (
    SYSTEM,
    AccountStore,
    Actor,
    ApiToken,
    ChangeSet,
    CheckedBatchStore,
    FacilityStore,
    HistoryEntry,
    ListFilter,
    Partner,
    PartnerStore,
    Report,
    ReportStore,
    User,
    field_changes,
)

#: Schema migrations, applied in order once each (recorded in ``schema_migrations``).
MIGRATIONS: list[str] = [
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

#: One column per Facility field, in the dataclass's order (``id`` first).
_COLUMNS = tuple(f.name for f in dataclasses.fields(Facility))
_SELECT = "SELECT " + ", ".join(_COLUMNS) + " FROM facilities"


def path_from_url(url: str) -> Path:
    """The file path of a ``sqlite:///relative`` or ``sqlite:////absolute`` URL.

    Raises
    ------
    ValueError
        If ``url`` is not a ``sqlite:///`` URL.
    """
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise ValueError(f"not a sqlite:/// URL: {url!r}")
    return Path(url[len(prefix) :])


def _utc_text(at: datetime) -> str:
    """A fixed-width UTC timestamp, so that text order is time order."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _row_to_feedback(row: sqlite3.Row) -> Feedback:
    return Feedback(
        facility_id=row["facility_id"],
        verdict=row["verdict"],
        at=datetime.fromisoformat(row["at"]),
        reason=row["reason"],
        comment=row["comment"],
        client=row["client"],
        facility_version=row["facility_version"],
        locale=row["locale"],
        id=row["id"],
    )


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _utc_iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _row_to_facility(row: sqlite3.Row) -> Facility:
    return Facility(
        id=row["id"],
        kind=row["kind"],
        name=row["name"],
        address=row["address"],
        lon=row["lon"],
        lat=row["lat"],
        amenities=frozenset(json.loads(row["amenities"])),
        opening_hours=row["opening_hours"],
        host_type=row["host_type"],
        phone=row["phone"],
        status=row["status"],
        status_until=None if row["status_until"] is None else date.fromisoformat(row["status_until"]),
        status_reason=row["status_reason"],
        district_adcode=row["district_adcode"],
        district_name=row["district_name"],
        subdistrict=row["subdistrict"],
        verified_at=_dt(row["verified_at"]),
        updated_at=_dt(row["updated_at"]),
        version=row["version"],
        source=row["source"],
        demo=bool(row["demo"]),
    )


def _facility_params(f: Facility, revision: int) -> dict[str, Any]:
    return {
        "id": f.id,
        "kind": f.kind,
        "name": f.name,
        "address": f.address,
        "lon": f.lon,
        "lat": f.lat,
        "amenities": json.dumps(sorted(f.amenities)),
        "opening_hours": f.opening_hours,
        "host_type": f.host_type,
        "phone": f.phone,
        "status": f.status,
        "status_until": None if f.status_until is None else f.status_until.isoformat(),
        "status_reason": f.status_reason,
        "district_adcode": f.district_adcode,
        "district_name": f.district_name,
        "subdistrict": f.subdistrict,
        "verified_at": None if f.verified_at is None else f.verified_at.isoformat(),
        "updated_at": f.updated_at.isoformat() if f.updated_at else datetime.now(UTC).isoformat(),
        "version": f.version,
        "source": f.source,
        "demo": int(f.demo),
        "revision": revision,
    }


_UPSERT = (
    "INSERT INTO facilities ("
    + ", ".join(_COLUMNS)
    + ", revision) VALUES ("
    + ", ".join(":" + c for c in _COLUMNS)
    + ", :revision) ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in (*_COLUMNS[1:], "revision"))
)


class SQLiteStore(FacilityStore, PartnerStore, AccountStore, CheckedBatchStore, ReportStore):
    """Facility store in one SQLite file (see the module docstring).

    Parameters
    ----------
    path : str or Path
        The database file; its directory is created if missing.
    timeout_s : float
        How long a writer waits for the write lock, seconds.
    """

    backend = "sqlite"

    def __init__(self, path: str | Path, *, timeout_s: float = 5.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.timeout_s = timeout_s
        self._local = threading.local()
        self._closed = False
        self._all_conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()

    # -- connections -------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreUnavailableError("the store is closed")
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(
                    self.path, timeout=self.timeout_s, isolation_level=None, check_same_thread=False
                )
            except sqlite3.Error as exc:
                raise StoreUnavailableError(f"cannot open the database: {exc}") from exc
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
            with self._conns_lock:
                self._all_conns.append(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[tuple[sqlite3.Connection, int, str]]:
        """A write transaction with the next revision and the commit time."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            revision = conn.execute(
                "UPDATE meta SET value = value + 1 WHERE key = 'revision' RETURNING value"
            ).fetchone()[0]
            yield conn, revision, datetime.now(UTC).isoformat()
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    def init_schema(self) -> None:
        """Apply every migration not yet recorded in ``schema_migrations``."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
            for version, script in enumerate(MIGRATIONS, start=1):
                if version in done:
                    continue
                for statement in _split_sql(script):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    (version, datetime.now(UTC).isoformat()),
                )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # -- reads -------------------------------------------------------------------

    def get(self, facility_id: str) -> Facility:
        row = self._conn().execute(_SELECT + " WHERE id = ?", (facility_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no facility with id {facility_id!r}", param="id")
        return _row_to_facility(row)

    def _where(self, flt: ListFilter | None) -> tuple[str, list[Any]]:
        if flt is None:
            return "", []
        clauses: list[str] = []
        params: list[Any] = []
        if flt.bbox is not None:
            clauses.append("lon BETWEEN ? AND ? AND lat BETWEEN ? AND ?")
            params += [flt.bbox[0], flt.bbox[2], flt.bbox[1], flt.bbox[3]]
        for column, values in (
            ("kind", flt.kinds),
            ("status", flt.statuses),
            ("district_adcode", flt.district_adcodes),
            ("id", flt.ids),
        ):
            if values is not None:
                if not values:
                    clauses.append("0")
                    continue
                clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
                params += sorted(values)
        for amenity in sorted(flt.amenities):
            clauses.append("EXISTS (SELECT 1 FROM json_each(amenities) WHERE value = ?)")
            params.append(amenity)
        if flt.modified_since is not None:
            clauses.append("updated_at > ?")
            params.append(flt.modified_since.astimezone(UTC).isoformat())
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def list(
        self, flt: ListFilter | None = None, *, limit: int | None = None, offset: int = 0
    ) -> builtins.list[Facility]:
        where, params = self._where(flt)
        sql = _SELECT + where + " ORDER BY id"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params += [limit, offset]
        return [_row_to_facility(r) for r in self._conn().execute(sql, params)]

    def count(self, flt: ListFilter | None = None) -> int:
        where, params = self._where(flt)
        return int(self._conn().execute("SELECT count(*) FROM facilities" + where, params).fetchone()[0])

    def revision(self) -> int:
        row = self._conn().execute("SELECT value FROM meta WHERE key = 'revision'").fetchone()
        return int(row[0])

    def changes_since(self, revision: int) -> ChangeSet:
        conn = self._conn()
        conn.execute("BEGIN")  # one snapshot for all three reads
        try:
            current = int(conn.execute("SELECT value FROM meta WHERE key = 'revision'").fetchone()[0])
            changed = [
                _row_to_facility(r)
                for r in conn.execute(_SELECT + " WHERE revision > ? ORDER BY id", (revision,))
            ]
            deleted = [
                r[0]
                for r in conn.execute("SELECT id FROM tombstones WHERE revision > ? ORDER BY id", (revision,))
            ]
        finally:
            conn.execute("COMMIT")
        return ChangeSet(current, changed, deleted)

    def history(self, facility_id: str) -> builtins.list[HistoryEntry]:
        rows = self._conn().execute(
            "SELECT * FROM facility_history WHERE facility_id = ? ORDER BY seq", (facility_id,)
        )
        return [
            HistoryEntry(
                seq=r["seq"],
                facility_id=r["facility_id"],
                revision=r["revision"],
                version=r["version"],
                action=r["action"],
                actor=r["actor"],
                reason=r["reason"],
                at=datetime.fromisoformat(r["at"]),
                changes=json.loads(r["changes"]),
            )
            for r in rows
        ]

    # -- partners (PartnerStore) ---------------------------------------------------

    _PARTNER_SELECT = (
        "SELECT name, origins, daily_quota, key_hash, key_prefix, created_at, key_created_at, "
        "revoked_at FROM partners"
    )

    @staticmethod
    def _row_to_partner(row: sqlite3.Row) -> Partner:
        return Partner(
            name=row["name"],
            origins=tuple(json.loads(row["origins"])),
            daily_quota=int(row["daily_quota"]),
            key_hash=row["key_hash"],
            key_prefix=row["key_prefix"],
            created_at=datetime.fromisoformat(row["created_at"]),
            key_created_at=datetime.fromisoformat(row["key_created_at"]),
            revoked_at=_dt(row["revoked_at"]),
        )

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that does not touch the facility revision."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    def _fetch_partner(self, conn: sqlite3.Connection, name: str) -> Partner:
        row = conn.execute(self._PARTNER_SELECT + " WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFoundError(f"no partner named {name!r}", param="name")
        return self._row_to_partner(row)

    def add_partner(self, partner: Partner) -> Partner:
        with self._tx() as conn:
            try:
                conn.execute(
                    "INSERT INTO partners (name, origins, daily_quota, key_hash, key_prefix, "
                    "created_at, key_created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        partner.name,
                        json.dumps(list(partner.origins)),
                        partner.daily_quota,
                        partner.key_hash,
                        partner.key_prefix,
                        _utc_iso(partner.created_at),
                        _utc_iso(partner.key_created_at),
                        _utc_iso(partner.revoked_at),
                    ),
                )
            except sqlite3.IntegrityError as exc:
                if "partners.key_hash" in str(exc):
                    raise ConflictError("this key hash is already in use", param="key") from exc
                if "partners.name" in str(exc):
                    raise ConflictError(f"a partner named {partner.name!r} exists", param="name") from exc
                raise  # a CHECK: the driver's integrity error, as the contract says
            return self._fetch_partner(conn, partner.name)

    def get_partner(self, name: str) -> Partner:
        return self._fetch_partner(self._conn(), name)

    def partner_by_key_hash(self, key_hash: str) -> Partner | None:
        row = self._conn().execute(self._PARTNER_SELECT + " WHERE key_hash = ?", (key_hash,)).fetchone()
        return None if row is None else self._row_to_partner(row)

    def list_partners(self) -> builtins.list[Partner]:
        rows = self._conn().execute(self._PARTNER_SELECT + " ORDER BY name")
        return [self._row_to_partner(r) for r in rows]

    def set_partner_key(self, name: str, key_hash: str, key_prefix: str, at: datetime) -> Partner:
        with self._tx() as conn:
            if not self._fetch_partner(conn, name).active:
                raise ConflictError(f"partner {name!r} is revoked", param="name")
            try:
                conn.execute(
                    "UPDATE partners SET key_hash = ?, key_prefix = ?, key_created_at = ? WHERE name = ?",
                    (key_hash, key_prefix, _utc_iso(at), name),
                )
            except sqlite3.IntegrityError as exc:
                raise ConflictError("this key hash is already in use", param="key") from exc
            return self._fetch_partner(conn, name)

    def revoke_partner(self, name: str, at: datetime) -> Partner:
        with self._tx() as conn:
            self._fetch_partner(conn, name)
            conn.execute(
                "UPDATE partners SET revoked_at = coalesce(revoked_at, ?) WHERE name = ?",
                (_utc_iso(at), name),
            )
            return self._fetch_partner(conn, name)

    # -- accounts (AccountStore) ----------------------------------------------------

    def add_user(self, user: User) -> User:
        stored = dataclasses.replace(user, created_at=datetime.now(UTC))
        with self._tx() as conn:
            if conn.execute("SELECT 1 FROM users WHERE name = ?", (user.name,)).fetchone():
                raise ConflictError(f"a user named {user.name!r} exists", param="name")
            conn.execute(
                "INSERT INTO users (name, role, password_hash, districts, facilities, active, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    stored.name,
                    stored.role,
                    stored.password_hash,
                    json.dumps(sorted(stored.districts)),
                    json.dumps(sorted(stored.facilities)),
                    int(stored.active),
                    _utc_iso(stored.created_at),
                ),
            )
        return stored

    def get_user(self, name: str) -> User:
        row = self._conn().execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFoundError(f"no user named {name!r}", param="name")
        return _row_to_user(row)

    def list_users(self) -> builtins.list[User]:
        return [_row_to_user(r) for r in self._conn().execute("SELECT * FROM users ORDER BY name")]

    def update_user(self, user: User) -> User:
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE users SET role = ?, password_hash = ?, districts = ?, facilities = ?, active = ? "
                "WHERE name = ?",
                (
                    user.role,
                    user.password_hash,
                    json.dumps(sorted(user.districts)),
                    json.dumps(sorted(user.facilities)),
                    int(user.active),
                    user.name,
                ),
            )
            if cur.rowcount != 1:
                raise NotFoundError(f"no user named {user.name!r}", param="name")
            row = conn.execute("SELECT * FROM users WHERE name = ?", (user.name,)).fetchone()
        return _row_to_user(row)

    def add_token(self, token: ApiToken) -> ApiToken:
        stored = dataclasses.replace(token, created_at=datetime.now(UTC), revoked_at=None)
        with self._tx() as conn:
            if not conn.execute("SELECT 1 FROM users WHERE name = ?", (token.user_name,)).fetchone():
                raise NotFoundError(f"no user named {token.user_name!r}", param="name")
            dup = conn.execute(
                "SELECT 1 FROM api_tokens WHERE id = ? OR token_hash = ?", (token.id, token.token_hash)
            ).fetchone()
            if dup:
                raise ConflictError("a token with this id or hash exists", param="token")
            conn.execute(
                "INSERT INTO api_tokens (id, user_name, token_hash, label, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (stored.id, stored.user_name, stored.token_hash, stored.label, _utc_iso(stored.created_at)),
            )
        return stored

    def find_token(self, token_hash: str) -> ApiToken | None:
        row = self._conn().execute("SELECT * FROM api_tokens WHERE token_hash = ?", (token_hash,)).fetchone()
        return None if row is None else _row_to_token(row)

    def list_tokens(self, user_name: str | None = None) -> builtins.list[ApiToken]:
        if user_name is None:
            rows = self._conn().execute("SELECT * FROM api_tokens ORDER BY created_at, id")
        else:
            rows = self._conn().execute(
                "SELECT * FROM api_tokens WHERE user_name = ? ORDER BY created_at, id", (user_name,)
            )
        return [_row_to_token(r) for r in rows]

    def revoke_token(self, token_id: str) -> None:
        with self._tx() as conn:
            row = conn.execute("SELECT revoked_at FROM api_tokens WHERE id = ?", (token_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"no token {token_id!r}", param="token")
            if row["revoked_at"] is None:
                conn.execute(
                    "UPDATE api_tokens SET revoked_at = ? WHERE id = ?",
                    (datetime.now(UTC).isoformat(), token_id),
                )

    # -- rider reports (ReportStore) -------------------------------------------------

    def get_report(self, report_id: int) -> Report:
        row = self._conn().execute("SELECT * FROM rider_reports WHERE id = ?", (report_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no report {report_id}", param="report")
        return _row_to_report(row)

    def list_reports(
        self,
        *,
        statuses: frozenset[str] | None = frozenset({"open"}),
        facility_ids: frozenset[str] | None = None,
        limit: int | None = None,
    ) -> builtins.list[Report]:
        clauses: builtins.list[str] = []
        params: builtins.list[Any] = []
        for column, values in (("status", statuses), ("facility_id", facility_ids)):
            if values is not None:
                if not values:
                    return []
                clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
                params += sorted(values)
        sql = "SELECT * FROM rider_reports"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        if statuses == frozenset({"open"}):
            sql += " ORDER BY id"
        else:
            sql += " ORDER BY resolved_at IS NULL DESC, resolved_at DESC, id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_row_to_report(r) for r in self._conn().execute(sql, params)]

    def resolve_report(self, report_id: int, status: str, action: str, actor: Actor) -> Report:
        with self._tx() as conn:
            row = conn.execute("SELECT status FROM rider_reports WHERE id = ?", (report_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"no report {report_id}", param="report")
            if row["status"] != "open":
                raise ConflictError(f"report {report_id} was already {row['status']}", param="report")
            conn.execute(
                "INSERT INTO report_resolutions "
                "(feedback_id, status, action, resolved_by, note, resolved_at) VALUES (?, ?, ?, ?, ?, ?)",
                (report_id, status, action, actor.name, actor.reason, _utc_text(datetime.now(UTC))),
            )
            updated = conn.execute("SELECT * FROM rider_reports WHERE id = ?", (report_id,)).fetchone()
        return _row_to_report(updated)

    # -- checked batch writes (CheckedBatchStore) ------------------------------------

    def write_batch(
        self,
        facilities: Sequence[Facility],
        expected_versions: Mapping[str, int | None],
        actor: Actor = SYSTEM,
    ) -> int:
        ids = [f.id for f in facilities]
        if len(set(ids)) != len(ids):
            raise ConflictError("duplicate ids in one batch", param="id")
        missing = [i for i in ids if i not in expected_versions]
        if missing:
            raise ValueError(f"no expected version for {missing[0]!r}")
        if not facilities:
            return 0  # nothing to write: no revision, no notification
        with self._write() as (conn, revision, at):
            now = datetime.fromisoformat(at)
            olds = {}
            for f in facilities:
                old = self._fetch(conn, f.id)
                current = None if old is None else old.version
                if current != expected_versions[f.id]:
                    raise VersionConflictError(
                        f"facility {f.id!r} changed since it was read "
                        f"(expected {expected_versions[f.id]}, now {current})",
                        current_version=current or 0,
                    )
                olds[f.id] = old
            for f in facilities:
                old = olds[f.id]
                stored = f.replace(version=1 if old is None else old.version + 1, updated_at=now)
                self._put(conn, stored, revision)
                self._log(conn, revision, at, "import", actor, old, stored, f.id)
        return len(facilities)

    # -- writes ------------------------------------------------------------------

    @staticmethod
    def _log(
        conn: sqlite3.Connection,
        revision: int,
        at: str,
        action: str,
        actor: Actor,
        old: Facility | None,
        new: Facility | None,
        facility_id: str,
    ) -> None:
        conn.execute(
            "INSERT INTO facility_history "
            "(facility_id, revision, version, action, actor, reason, at, changes) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                facility_id,
                revision,
                0 if new is None else new.version,
                action,
                actor.name,
                actor.reason,
                at,
                json.dumps(field_changes(old, new), ensure_ascii=False),
            ),
        )

    def _fetch(self, conn: sqlite3.Connection, facility_id: str) -> Facility | None:
        row = conn.execute(_SELECT + " WHERE id = ?", (facility_id,)).fetchone()
        return None if row is None else _row_to_facility(row)

    def _put(self, conn: sqlite3.Connection, f: Facility, revision: int) -> None:
        conn.execute(_UPSERT, _facility_params(f, revision))
        conn.execute("DELETE FROM tombstones WHERE id = ?", (f.id,))

    def add(self, facility: Facility, actor: Actor = SYSTEM) -> Facility:
        with self._write() as (conn, revision, at):
            if self._fetch(conn, facility.id) is not None:
                raise ConflictError(f"a facility with id {facility.id!r} exists", param="id")
            stored = facility.replace(version=1, updated_at=datetime.fromisoformat(at))
            self._put(conn, stored, revision)
            self._log(conn, revision, at, "create", actor, None, stored, stored.id)
        return stored

    def update(self, facility: Facility, expected_version: int, actor: Actor = SYSTEM) -> Facility:
        with self._write() as (conn, revision, at):
            old = self._fetch(conn, facility.id)
            if old is None:
                raise NotFoundError(f"no facility with id {facility.id!r}", param="id")
            if old.version != expected_version:
                raise VersionConflictError(
                    f"facility {facility.id!r} is at version {old.version}, not {expected_version}",
                    current_version=old.version,
                )
            stored = facility.replace(version=old.version + 1, updated_at=datetime.fromisoformat(at))
            self._put(conn, stored, revision)
            self._log(conn, revision, at, "update", actor, old, stored, stored.id)
        return stored

    def delete(self, facility_id: str, expected_version: int, actor: Actor = SYSTEM) -> None:
        with self._write() as (conn, revision, at):
            old = self._fetch(conn, facility_id)
            if old is None:
                raise NotFoundError(f"no facility with id {facility_id!r}", param="id")
            if old.version != expected_version:
                raise VersionConflictError(
                    f"facility {facility_id!r} is at version {old.version}, not {expected_version}",
                    current_version=old.version,
                )
            conn.execute("DELETE FROM facilities WHERE id = ?", (facility_id,))
            conn.execute(
                "INSERT INTO tombstones (id, revision) VALUES (?, ?) "
                "ON CONFLICT (id) DO UPDATE SET revision = excluded.revision",
                (facility_id, revision),
            )
            self._log(conn, revision, at, "delete", actor, old, None, facility_id)

    def import_many(self, facilities: Sequence[Facility], actor: Actor = SYSTEM) -> int:
        ids = [f.id for f in facilities]
        if len(set(ids)) != len(ids):
            raise ConflictError("duplicate ids in one import", param="id")
        if not facilities:
            return 0  # nothing to write: no revision, no notification
        with self._write() as (conn, revision, at):
            now = datetime.fromisoformat(at)
            for f in facilities:
                old = self._fetch(conn, f.id)
                stored = f.replace(version=1 if old is None else old.version + 1, updated_at=now)
                self._put(conn, stored, revision)
                self._log(conn, revision, at, "import", actor, old, stored, f.id)
        return len(facilities)

    # -- rider feedback -----------------------------------------------------------

    def add_feedback(self, feedback: Feedback) -> Feedback:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(
                "INSERT INTO feedback (facility_id, facility_version, verdict, reason, comment, "
                "client, locale, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    feedback.facility_id,
                    feedback.facility_version,
                    feedback.verdict,
                    feedback.reason,
                    feedback.comment,
                    feedback.client,
                    feedback.locale,
                    _utc_text(feedback.at),
                ),
            ).fetchone()
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return dataclasses.replace(feedback, id=int(row[0]))

    def list_feedback(
        self,
        facility_id: str | None = None,
        *,
        since: datetime | None = None,
        verdict: str | None = None,
        limit: int | None = None,
    ) -> builtins.list[Feedback]:
        clauses: builtins.list[str] = []
        params: builtins.list[Any] = []
        if facility_id is not None:
            clauses.append("facility_id = ?")
            params.append(facility_id)
        if since is not None:
            clauses.append("at > ?")
            params.append(_utc_text(since))
        if verdict is not None:
            clauses.append("verdict = ?")
            params.append(verdict)
        sql = "SELECT * FROM feedback"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY at DESC, id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_row_to_feedback(r) for r in self._conn().execute(sql, params)]

    def close(self) -> None:
        self._closed = True
        with self._conns_lock:
            conns, self._all_conns = self._all_conns, []
        for conn in conns:
            conn.close()
        self._local = threading.local()


def _row_to_user(row: sqlite3.Row) -> User:
    return User(
        name=row["name"],
        role=row["role"],
        password_hash=row["password_hash"],
        districts=frozenset(json.loads(row["districts"])),
        facilities=frozenset(json.loads(row["facilities"])),
        active=bool(row["active"]),
        created_at=_dt(row["created_at"]),
    )


def _row_to_report(row: sqlite3.Row) -> Report:
    return Report(
        id=row["id"],
        facility_id=row["facility_id"],
        reason=row["reason"],
        text=row["text"],
        created_at=datetime.fromisoformat(row["created_at"]),
        status=row["status"],
        resolved_at=_dt(row["resolved_at"]),
        resolved_by=row["resolved_by"],
        action=row["action"],
        note=row["note"],
    )


def _row_to_token(row: sqlite3.Row) -> ApiToken:
    return ApiToken(
        id=row["id"],
        user_name=row["user_name"],
        token_hash=row["token_hash"],
        label=row["label"],
        created_at=_dt(row["created_at"]),
        revoked_at=_dt(row["revoked_at"]),
    )


def _split_sql(script: str) -> builtins.list[str]:
    """Split a migration into statements, keeping trigger bodies whole."""
    statements: builtins.list[str] = []
    buf: builtins.list[str] = []
    for line in script.strip().splitlines():
        buf.append(line)
        text = "\n".join(buf).strip()
        if text.endswith(";") and sqlite3.complete_statement(text):
            statements.append(text)
            buf = []
    if "\n".join(buf).strip():
        statements.append("\n".join(buf).strip())
    return statements
