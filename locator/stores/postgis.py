r"""The production store: PostgreSQL + PostGIS through psycopg 3 and a connection pool.

Design
------
* **Schema.** ``facilities`` keeps ``lon``/``lat`` (WGS-84 degrees, ``CHECK``-ed to
  [-180, 180] x [-90, 90]) and a generated ``geog geography(Point, 4326)`` column with
  a GiST index; ``amenities`` is ``text[]`` with a GIN index. The checks are in the
  schema: known kind and status, non-empty name, coordinates in range, version >= 1.
  Ids sort with ``COLLATE "C"`` (byte order), so "ascending id order" is the same as
  in SQLite and in Python.
* **Migrations** are the numbered scripts in :data:`MIGRATIONS`; :meth:`init_schema`
  applies each version not yet recorded in ``schema_migrations``, in one transaction
  under an advisory lock (several workers may start at once), and never re-applies one.
* **Writes** are single transactions. Each one first bumps the single-row revision
  counter (``UPDATE store_revision SET value = value + 1 RETURNING value``); the row
  lock serialises writers, exactly like SQLite's ``BEGIN IMMEDIATE``, so versions,
  revisions and history ``seq`` are in commit order. Updates and deletes carry the
  version they were based on (``... WHERE id = %s AND version = %s``) and raise
  :class:`~locator.errors.VersionConflictError` when it is stale. The transaction ends
  with ``NOTIFY locator_changes, '<revision>'``, delivered to listeners at commit.
* **Checked batches** (:meth:`PostGISStore.write_batch`, bulk upload "apply") are such
  a write: every stored version is read ``FOR UPDATE`` and checked before anything is
  written, so the batch is all or nothing, like :meth:`PostGISStore.import_many`.
* **Partners, accounts, rider reports** (``PartnerStore``, ``AccountStore``,
  ``ReportStore``; migrations 3-5, mirroring SQLite's) are written in small transactions
  of their own that take no revision and send no notification. A unique violation
  becomes :class:`~locator.errors.ConflictError`. A report is a problem ``feedback`` row
  seen through the ``rider_reports`` view; resolving it appends a row to the
  append-only ``report_resolutions``, whose primary key lets exactly one of two
  concurrent resolutions win.
* **Revision feed.** A background thread per store holds its own connection that
  ``LISTEN``\\ s on ``locator_changes`` and caches the latest revision, so
  :meth:`PostGISStore.revision` costs no round trip and every worker on every app node
  sees a committed edit as soon as its notification arrives (milliseconds; the
  requirement is one second). The listener re-reads the counter after every
  (re)connection and every :data:`HEARTBEAT_S` seconds (catch-up after a lost
  connection or a missed notification), and reconnects with exponential backoff
  (first attempt at once, then 0.1 s doubling up to 2 s). While it is disconnected
  because its connection broke or a reconnection failed, :meth:`revision` raises
  :class:`~locator.errors.StoreUnavailableError` at once, so that queries answered
  from the in-memory index never wait for a dead database; when the listener is up but
  has no revision yet (no schema when it connected), :meth:`revision` queries the
  counter.
* **Failures.** ``psycopg.OperationalError`` (connection refused or lost, statement
  timeout) and ``psycopg_pool.PoolTimeout`` become
  :class:`~locator.errors.StoreUnavailableError` (HTTP 503). A request waits at most
  ``timeout_s`` for a pooled connection and at most ``timeout_s`` per statement
  (``statement_timeout``). The pool replaces broken connections by itself (checked
  on checkout); its reconnection backoff is capped by ``reconnect_timeout`` =
  ``max(10, 2 * timeout_s)`` seconds, so writes work again within seconds of the
  database coming back, without restarting the app.

Sources: psycopg 3 and psycopg_pool documentation (https://www.psycopg.org/psycopg3/docs/),
PostgreSQL ``LISTEN``/``NOTIFY`` (https://www.postgresql.org/docs/15/sql-notify.html),
PostGIS ``<->`` and ``ST_Distance`` (https://postgis.net/docs/).
"""

from __future__ import annotations

import builtins
import dataclasses
import logging
import math
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import numpy as np
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg.types.json import Json
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from locator.core.domain import Facility, Feedback, NearestHit, NearestQuery
from locator.core.geo import R_MIN_M, geodesic_inverse
from locator.core.hours import TZ, is_open
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

log = logging.getLogger(__name__)

#: The ``NOTIFY`` channel every write announces its revision on.
CHANNEL = "locator_changes"
#: Seconds between the listener's catch-up reads when no notification arrives.
HEARTBEAT_S = 5.0
#: Radius of the sphere PostGIS uses for geography ``<->`` and sphere ``ST_Distance``:
#: the WGS-84 mean radius ``(2a + b) / 3``, metres.
R_SPHERE_M = (2 * 6378137.0 + 6356752.314245179) / 3
#: Key of the advisory lock that serialises schema migrations.
_MIGRATION_LOCK = 0x6C6F6361746F72  # "locator"

#: Schema migrations: ``(version, name, script)``, applied in order, once each.
MIGRATIONS: list[tuple[int, str, str]] = [
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

#: PostgreSQL type of each ``facilities`` column written (binary ``COPY`` needs them).
_PG_TYPES: dict[str, str] = {
    "id": "text",
    "kind": "text",
    "name": "text",
    "lon": "float8",
    "lat": "float8",
    "address": "text",
    "amenities": "text[]",
    "opening_hours": "text",
    "host_type": "text",
    "phone": "text",
    "status": "text",
    "status_until": "date",
    "status_reason": "text",
    "district_adcode": "text",
    "district_name": "text",
    "subdistrict": "text",
    "verified_at": "timestamptz",
    "updated_at": "timestamptz",
    "version": "int4",
    "source": "text",
    "demo": "bool",
    "revision": "int8",
}
#: One column per Facility field, in the dataclass's order (``id`` first).
_COLUMNS = tuple(f.name for f in dataclasses.fields(Facility))
_WRITE_COLUMNS = (*_COLUMNS, "revision")
_COLS = sql.SQL(", ").join(map(sql.Identifier, _COLUMNS))
_SELECT = sql.SQL("SELECT {} FROM facilities").format(_COLS)
_UPSERT = sql.SQL(
    "INSERT INTO facilities ({cols}) VALUES ({values}) ON CONFLICT (id) DO UPDATE SET {sets}"
).format(
    cols=sql.SQL(", ").join(map(sql.Identifier, _WRITE_COLUMNS)),
    values=sql.SQL(", ").join(sql.Placeholder(c) for c in _WRITE_COLUMNS),
    sets=sql.SQL(", ").join(
        sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in _WRITE_COLUMNS[1:]
    ),
)
#: PostgreSQL types of :data:`_WRITE_COLUMNS`, for binary ``COPY``.
_WRITE_TYPES = [_PG_TYPES[c] for c in _WRITE_COLUMNS]
if set(_PG_TYPES) != set(_WRITE_COLUMNS):  # checked at import, also under python -O
    raise RuntimeError("every Facility field needs a PostgreSQL column type in _PG_TYPES")
_HISTORY_COLUMNS = ("facility_id", "revision", "version", "action", "actor", "reason", "at", "changes")
_INSERT_HISTORY = sql.SQL("INSERT INTO facility_history ({}) VALUES ({})").format(
    sql.SQL(", ").join(map(sql.Identifier, _HISTORY_COLUMNS)),
    sql.SQL(", ").join(sql.Placeholder() * len(_HISTORY_COLUMNS)),
)
_POINT = sql.SQL("ST_SetSRID(ST_MakePoint(%(qlon)s, %(qlat)s), 4326)::geography")


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _row_to_facility(row: dict[str, Any]) -> Facility:
    fields = {c: row[c] for c in _COLUMNS}
    fields["amenities"] = frozenset(row["amenities"])
    # timestamptz keeps no offset: verified_at comes back in Beijing time (where every
    # facility is, and the zone the service parses local times in).
    fields["verified_at"] = None if row["verified_at"] is None else row["verified_at"].astimezone(TZ)
    fields["updated_at"] = _utc(row["updated_at"])
    return Facility(**fields)


def _facility_params(f: Facility, revision: int) -> dict[str, Any]:
    """One ``facilities`` row as query parameters (:data:`_WRITE_COLUMNS`)."""
    row = {c: getattr(f, c) for c in _COLUMNS}
    row["amenities"] = sorted(f.amenities)
    row["updated_at"] = f.updated_at or datetime.now(UTC)
    row["revision"] = revision
    return row


def _diff(old: Facility | None, new: Facility | None) -> dict[str, list[Any]]:
    """:func:`field_changes`, not reporting an instant that only changed its UTC offset.

    PostgreSQL stores ``timestamptz`` without the offset it was given in, so a
    ``verified_at`` read back is in Asia/Shanghai; the same instant is not a change.
    """
    if old is not None and new is not None and old.verified_at == new.verified_at:
        new = new.replace(verified_at=old.verified_at)
    return field_changes(old, new)


def _history_row(
    revision: int,
    at: datetime,
    action: str,
    actor: Actor,
    old: Facility | None,
    new: Facility | None,
    facility_id: str,
) -> tuple[Any, ...]:
    """The values of one ``facility_history`` row, in :data:`_HISTORY_COLUMNS` order."""
    return (
        facility_id,
        revision,
        0 if new is None else new.version,
        action,
        actor.name,
        actor.reason,
        at,
        Json(_diff(old, new)),
    )


def _cols(*names: str) -> sql.Composed:
    return sql.SQL(", ").join(map(sql.Identifier, names))


_PARTNER_COLS = _cols(
    "name", "origins", "daily_quota", "key_hash", "key_prefix", "created_at", "key_created_at", "revoked_at"
)
_USER_COLS = _cols("name", "role", "password_hash", "districts", "facilities", "active", "created_at")
_API_TOKEN_COLS = _cols("id", "user_name", "token_hash", "label", "created_at", "revoked_at")
_REPORT_COLS = _cols(
    "id",
    "facility_id",
    "reason",
    "text",
    "created_at",
    "status",
    "resolved_at",
    "resolved_by",
    "action",
    "note",
)
_SELECT_PARTNERS = sql.SQL("SELECT {} FROM partners").format(_PARTNER_COLS)
_SELECT_USERS = sql.SQL("SELECT {} FROM users").format(_USER_COLS)
_SELECT_API_TOKENS = sql.SQL("SELECT {} FROM api_tokens").format(_API_TOKEN_COLS)
_SELECT_REPORTS = sql.SQL("SELECT {} FROM rider_reports").format(_REPORT_COLS)


def _row_to_partner(row: dict[str, Any]) -> Partner:
    return Partner(
        name=row["name"],
        origins=tuple(row["origins"]),
        daily_quota=int(row["daily_quota"]),
        key_hash=row["key_hash"],
        key_prefix=row["key_prefix"],
        created_at=row["created_at"].astimezone(UTC),
        key_created_at=row["key_created_at"].astimezone(UTC),
        revoked_at=_utc(row["revoked_at"]),
    )


def _row_to_user(row: dict[str, Any]) -> User:
    return User(
        name=row["name"],
        role=row["role"],
        password_hash=row["password_hash"],
        districts=frozenset(row["districts"]),
        facilities=frozenset(row["facilities"]),
        active=bool(row["active"]),
        created_at=_utc(row["created_at"]),
    )


def _row_to_token(row: dict[str, Any]) -> ApiToken:
    return ApiToken(
        id=row["id"],
        user_name=row["user_name"],
        token_hash=row["token_hash"],
        label=row["label"],
        created_at=_utc(row["created_at"]),
        revoked_at=_utc(row["revoked_at"]),
    )


def _row_to_report(row: dict[str, Any]) -> Report:
    return Report(
        id=int(row["id"]),
        facility_id=row["facility_id"],
        reason=row["reason"],
        text=row["text"],
        created_at=row["created_at"].astimezone(UTC),
        status=row["status"],
        resolved_at=_utc(row["resolved_at"]),
        resolved_by=row["resolved_by"],
        action=row["action"],
        note=row["note"],
    )


def describe_url(url: str) -> str:
    """``user@host:port/dbname`` of a PostgreSQL URL, never the password.

    Parameters
    ----------
    url : str
        A libpq connection URI or key/value string.
    """
    try:
        info = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "(unparsable URL)"
    user = str(info.get("user") or "")
    host = str(info.get("host") or "localhost")
    port = str(info.get("port") or 5432)
    dbname = str(info.get("dbname") or user)
    return f"{user + '@' if user else ''}{host}:{port}/{dbname}"


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


class PostGISStore(FacilityStore, PartnerStore, AccountStore, CheckedBatchStore, ReportStore):
    """Facility store in PostgreSQL + PostGIS (see the module docstring).

    Parameters
    ----------
    url : str
        ``postgresql://user:password@host:port/dbname`` (any libpq URI or
        key/value string). The database needs the ``postgis`` extension, or a role
        allowed to create it (:meth:`init_schema` runs ``CREATE EXTENSION IF NOT
        EXISTS postgis``).
    pool_min, pool_max : int
        Connection pool size (``LOCATOR_DB_POOL_MIN``/``MAX``). The revision
        listener holds one more connection.
    timeout_s : float
        Seconds: the longest wait for a pooled connection, the ``statement_timeout``,
        and (rounded up, at least 2 s, as libpq requires) the ``connect_timeout``.

    Raises
    ------
    StoreUnavailableError
        If the database cannot be reached at start-up (the message names
        ``user@host:port/dbname`` and libpq's reason, never the password).
    """

    backend = "postgis"

    def __init__(self, url: str, *, pool_min: int = 1, pool_max: int = 10, timeout_s: float = 5.0) -> None:
        self.url = url
        self.timeout_s = float(timeout_s)
        self.where = describe_url(url)
        try:
            info = conninfo_to_dict(url)
        except psycopg.ProgrammingError as exc:
            raise StoreUnavailableError(f"invalid PostgreSQL URL: {_first_line(exc)}") from None
        options = " ".join(
            filter(
                None,
                [
                    str(info.get("options") or ""),
                    f"-c statement_timeout={max(1, round(self.timeout_s * 1000))}",
                    "-c TimeZone=UTC",
                ],
            )
        )
        self._kwargs: dict[str, Any] = {
            # Reads are single statements; writes and multi-statement reads open an
            # explicit transaction (conn.transaction()).
            "autocommit": True,
            "connect_timeout": max(2, math.ceil(self.timeout_s)),
            "options": options,
            "application_name": info.get("application_name") or "warm-station-locator",
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
        }
        self._closed = False
        self._rev_lock = threading.Lock()
        self._cached_rev: int | None = None
        self._listening = False
        self._listener_error: str | None = None
        self._stop = threading.Event()
        self._wake_channel = f"locator_wake_{uuid.uuid4().hex[:16]}"

        # The listener's first connection doubles as the start-up probe: it fails
        # fast with libpq's own reason (refused, authentication, unknown database).
        try:
            first = self._listen_connect()
        except psycopg.Error as exc:
            raise StoreUnavailableError(
                f"cannot connect to PostgreSQL at {self.where}: {_first_line(exc)}"
            ) from None
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            conninfo=url,
            kwargs=self._kwargs,
            min_size=pool_min,
            max_size=pool_max,
            open=False,
            check=ConnectionPool.check_connection,
            timeout=self.timeout_s,
            reconnect_timeout=max(10.0, 2 * self.timeout_s),
            name=f"locator-{self.where}",
        )
        try:
            self._pool.open(wait=True, timeout=self.timeout_s)
        except PoolTimeout:
            first.close()
            self._pool.close()
            raise StoreUnavailableError(
                f"cannot fill the connection pool for PostgreSQL at {self.where} within {self.timeout_s:g} s"
            ) from None
        self._thread = threading.Thread(
            target=self._listen_loop, args=(first,), name=f"locator-listener-{self.where}", daemon=True
        )
        self._thread.start()

    # -- connections -------------------------------------------------------------

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        """Lend a pooled connection; connection-level failures become StoreUnavailableError."""
        if self._closed:
            raise StoreUnavailableError("the store is closed")
        try:
            with self._pool.connection() as conn:
                yield conn
        except PoolTimeout:
            raise StoreUnavailableError(
                f"the database ({self.where}) did not answer within {self.timeout_s:g} s"
            ) from None
        except PoolClosed:
            raise StoreUnavailableError("the store is closed") from None
        except psycopg.OperationalError as exc:
            log.warning("database error on %s: %s", self.where, _first_line(exc))
            raise StoreUnavailableError(f"the database ({self.where}) is unavailable") from None

    @contextmanager
    def _write(self) -> Iterator[tuple[psycopg.Cursor[dict[str, Any]], int, datetime]]:
        """Open a write transaction; yield a cursor, the next revision and the commit time (UTC)."""
        with self._connection() as conn:
            with conn.transaction():
                cur = conn.cursor(row_factory=dict_row)
                row = cur.execute("UPDATE store_revision SET value = value + 1 RETURNING value").fetchone()
                assert row is not None
                revision = int(row["value"])
                yield cur, revision, datetime.now(UTC)
                cur.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(revision)))
        self._saw_revision(revision)

    # -- the revision listener ---------------------------------------------------

    def _listen_connect(self) -> psycopg.Connection[Any]:
        conn = psycopg.Connection.connect(self.url, **self._kwargs)
        try:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._wake_channel)))
        except BaseException:
            conn.close()
            raise
        return conn

    def _saw_revision(self, revision: int) -> None:
        with self._rev_lock:
            if self._cached_rev is None or revision > self._cached_rev:
                self._cached_rev = revision

    def _catch_up(self, conn: psycopg.Connection[Any]) -> None:
        """Re-read the counter on the listener connection (after (re)connecting, heartbeat)."""
        try:
            row = conn.execute("SELECT value FROM store_revision").fetchone()
        except psycopg.errors.UndefinedTable:
            row = None  # no schema yet: init_schema will set the revision
        with self._rev_lock:
            if row is not None and (self._cached_rev is None or int(row[0]) > self._cached_rev):
                self._cached_rev = int(row[0])
            self._listening = True
            self._listener_error = None

    def _listen_loop(self, conn: psycopg.Connection[Any] | None) -> None:
        delay = 0.1
        while not self._stop.is_set():
            if conn is None:
                try:
                    conn = self._listen_connect()
                except Exception as exc:
                    with self._rev_lock:
                        self._listening = False
                        self._listener_error = _first_line(exc)
                    self._stop.wait(delay)
                    delay = min(delay * 2, 2.0)
                    continue
            try:
                self._catch_up(conn)
                delay = 0.1
                while not self._stop.is_set():
                    for note in conn.notifies(timeout=HEARTBEAT_S):
                        if note.channel == CHANNEL:
                            try:
                                self._saw_revision(int(note.payload))
                            except ValueError:
                                log.warning("ignoring notification %r", note.payload)
                        elif self._stop.is_set():
                            break
                    if not self._stop.is_set():
                        self._catch_up(conn)
            except Exception as exc:
                if not self._stop.is_set():
                    log.warning("revision listener lost %s: %s", self.where, _first_line(exc))
                with self._rev_lock:
                    # Presumed down until the (immediate) reconnection succeeds.
                    self._listening = False
                    self._listener_error = f"connection lost: {_first_line(exc)}"
                conn.close()
                conn = None
        if conn is not None:
            conn.close()
        with self._rev_lock:
            self._listening = False

    # -- schema ------------------------------------------------------------------

    def init_schema(self) -> None:
        """Apply every migration in :data:`MIGRATIONS` not yet in ``schema_migrations``.

        All pending steps run in one transaction under an advisory lock, so
        concurrent callers (several workers starting) apply each step exactly once.

        Raises
        ------
        StoreUnavailableError
            If the database is unreachable, or PostGIS is not installed and cannot
            be created by this role.
        """
        try:
            with self._connection() as conn, conn.transaction():
                # CREATE EXTENSION postgis, or waiting for another worker's migration,
                # may take longer than a request's statement timeout.
                conn.execute("SET LOCAL statement_timeout = '5min'")
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    "version integer PRIMARY KEY, name text NOT NULL, "
                    "applied_at timestamptz NOT NULL DEFAULT now())"
                )
                done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
                for version, name, script in MIGRATIONS:
                    if version in done:
                        continue
                    log.info("applying schema migration %s (%s) on %s", version, name, self.where)
                    conn.execute(script.encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name)
                    )
                row = conn.execute("SELECT value FROM store_revision").fetchone()
        except (
            psycopg.errors.UndefinedFile,
            psycopg.errors.FeatureNotSupported,
            psycopg.errors.InsufficientPrivilege,
        ) as exc:
            raise StoreUnavailableError(
                f"PostGIS is not available in {self.where}: {_first_line(exc)} "
                "(install PostGIS and run CREATE EXTENSION postgis as a superuser)"
            ) from None
        assert row is not None
        self._saw_revision(int(row[0]))

    # -- reads -------------------------------------------------------------------

    def get(self, facility_id: str) -> Facility:
        """Return one facility (see :meth:`FacilityStore.get`)."""
        with self._connection() as conn:
            row = (
                conn.cursor(row_factory=dict_row)
                .execute(_SELECT + sql.SQL(" WHERE id = %s"), (facility_id,))
                .fetchone()
            )
        if row is None:
            raise NotFoundError(f"no facility with id {facility_id!r}", param="id")
        return _row_to_facility(row)

    @staticmethod
    def _where(flt: ListFilter | None) -> tuple[sql.Composable, list[Any]]:
        if flt is None:
            return sql.SQL(""), []
        clauses: list[sql.Composable] = []
        params: list[Any] = []
        if flt.bbox is not None:
            clauses.append(sql.SQL("lon BETWEEN %s AND %s AND lat BETWEEN %s AND %s"))
            params += [flt.bbox[0], flt.bbox[2], flt.bbox[1], flt.bbox[3]]
        for column, values in (
            ("kind", flt.kinds),
            ("status", flt.statuses),
            ("district_adcode", flt.district_adcodes),
            ("id", flt.ids),
        ):
            if values is not None:
                clauses.append(sql.SQL("{} = ANY(%s::text[])").format(sql.Identifier(column)))
                params.append(sorted(values))
        if flt.amenities:
            clauses.append(sql.SQL("amenities @> %s::text[]"))
            params.append(sorted(flt.amenities))
        if flt.modified_since is not None:
            clauses.append(sql.SQL("updated_at > %s"))
            params.append(flt.modified_since)
        if not clauses:
            return sql.SQL(""), []
        return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(clauses), params

    def list(
        self, flt: ListFilter | None = None, *, limit: int | None = None, offset: int = 0
    ) -> builtins.list[Facility]:
        """Facilities matching ``flt`` in ascending id (byte) order, paged by limit/offset."""
        where, params = self._where(flt)
        query = _SELECT + where + sql.SQL(" ORDER BY id")
        if limit is not None:
            query += sql.SQL(" LIMIT %s OFFSET %s")
            params += [limit, offset]
        with self._connection() as conn:
            rows = conn.cursor(row_factory=dict_row).execute(query, params).fetchall()
        return [_row_to_facility(r) for r in rows]

    def count(self, flt: ListFilter | None = None) -> int:
        """Count the facilities matching ``flt``."""
        where, params = self._where(flt)
        with self._connection() as conn:
            row = conn.execute(sql.SQL("SELECT count(*) FROM facilities") + where, params).fetchone()
        assert row is not None
        return int(row[0])

    def revision(self) -> int:
        """Return the current store revision (see the module docstring for the cache).

        Raises
        ------
        StoreUnavailableError
            If the database cannot be reached: at once while the listener is
            disconnected, else (the fallback query) within ``timeout_s``.
        """
        with self._rev_lock:
            if self._listening and self._cached_rev is not None:
                return self._cached_rev
            down = self._listener_error
        if down is not None:
            raise StoreUnavailableError(f"the database ({self.where}) is unavailable: {down}")
        with self._connection() as conn:
            row = conn.execute("SELECT value FROM store_revision").fetchone()
        assert row is not None
        self._saw_revision(int(row[0]))
        return int(row[0])

    def changes_since(self, revision: int) -> ChangeSet:
        """Everything written after ``revision``, read in one REPEATABLE READ snapshot."""
        with self._connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cur = conn.cursor(row_factory=dict_row)
            row = cur.execute("SELECT value FROM store_revision").fetchone()
            assert row is not None
            current = int(row["value"])
            changed = [
                _row_to_facility(r)
                for r in cur.execute(_SELECT + sql.SQL(" WHERE revision > %s ORDER BY id"), (revision,))
            ]
            deleted = [
                r["id"]
                for r in cur.execute("SELECT id FROM tombstones WHERE revision > %s ORDER BY id", (revision,))
            ]
        self._saw_revision(current)
        return ChangeSet(current, changed, deleted)

    def history(self, facility_id: str) -> builtins.list[HistoryEntry]:
        """Return the history of one facility, oldest first (``at`` in UTC)."""
        with self._connection() as conn:
            rows = (
                conn.cursor(row_factory=dict_row)
                .execute(
                    "SELECT seq, facility_id, revision, version, action, actor, reason, at, changes "
                    "FROM facility_history WHERE facility_id = %s ORDER BY seq",
                    (facility_id,),
                )
                .fetchall()
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
                at=r["at"].astimezone(UTC),
                changes=r["changes"],
            )
            for r in rows
        ]

    # -- writes ------------------------------------------------------------------

    @staticmethod
    def _log(
        cur: psycopg.Cursor[Any],
        revision: int,
        at: datetime,
        action: str,
        actor: Actor,
        old: Facility | None,
        new: Facility | None,
        facility_id: str,
    ) -> None:
        cur.execute(_INSERT_HISTORY, _history_row(revision, at, action, actor, old, new, facility_id))

    @staticmethod
    def _fetch(cur: psycopg.Cursor[dict[str, Any]], facility_id: str) -> Facility | None:
        row = cur.execute(_SELECT + sql.SQL(" WHERE id = %s FOR UPDATE"), (facility_id,)).fetchone()
        return None if row is None else _row_to_facility(row)

    @staticmethod
    def _check_version(old: Facility | None, facility_id: str, expected_version: int) -> Facility:
        if old is None:
            raise NotFoundError(f"no facility with id {facility_id!r}", param="id")
        if old.version != expected_version:
            raise VersionConflictError(
                f"facility {facility_id!r} is at version {old.version}, not {expected_version}",
                current_version=old.version,
            )
        return old

    def add(self, facility: Facility, actor: Actor = SYSTEM) -> Facility:
        """Store a new facility with version 1 (see :meth:`FacilityStore.add`)."""
        with self._write() as (cur, revision, at):
            if self._fetch(cur, facility.id) is not None:
                raise ConflictError(f"a facility with id {facility.id!r} exists", param="id")
            stored = facility.replace(version=1, updated_at=at)
            cur.execute(_UPSERT, _facility_params(stored, revision))
            cur.execute("DELETE FROM tombstones WHERE id = %s", (stored.id,))
            self._log(cur, revision, at, "create", actor, None, stored, stored.id)
        return stored

    def update(self, facility: Facility, expected_version: int, actor: Actor = SYSTEM) -> Facility:
        """Replace a facility still at ``expected_version`` (see :meth:`FacilityStore.update`)."""
        with self._write() as (cur, revision, at):
            old = self._check_version(self._fetch(cur, facility.id), facility.id, expected_version)
            stored = facility.replace(version=old.version + 1, updated_at=at)
            params = _facility_params(stored, revision)
            cur.execute(
                sql.SQL("UPDATE facilities SET {sets} WHERE id = %(id)s AND version = %(expected)s").format(
                    sets=sql.SQL(", ").join(
                        sql.SQL("{} = {}").format(sql.Identifier(c), sql.Placeholder(c))
                        for c in _WRITE_COLUMNS[1:]
                    )
                ),
                {**params, "expected": expected_version},
            )
            if cur.rowcount != 1:  # pragma: no cover - the row lock above makes this unreachable
                raise VersionConflictError(
                    f"facility {facility.id!r} changed concurrently", current_version=old.version
                )
            self._log(cur, revision, at, "update", actor, old, stored, stored.id)
        return stored

    def delete(self, facility_id: str, expected_version: int, actor: Actor = SYSTEM) -> None:
        """Delete a facility still at ``expected_version``, leaving a tombstone."""
        with self._write() as (cur, revision, at):
            old = self._check_version(self._fetch(cur, facility_id), facility_id, expected_version)
            cur.execute(
                "DELETE FROM facilities WHERE id = %s AND version = %s", (facility_id, expected_version)
            )
            cur.execute(
                "INSERT INTO tombstones (id, revision) VALUES (%s, %s) "
                "ON CONFLICT (id) DO UPDATE SET revision = EXCLUDED.revision",
                (facility_id, revision),
            )
            self._log(cur, revision, at, "delete", actor, old, None, facility_id)

    def import_many(self, facilities: Sequence[Facility], actor: Actor = SYSTEM) -> int:
        """Insert or replace ``facilities`` in one transaction (see the contract).

        Rows are streamed with ``COPY`` into a temporary table and merged with one
        ``INSERT … ON CONFLICT``; history rows are streamed with ``COPY`` too, so an
        import of a million rows is one transaction of a few statements. Its
        statements may run for 30 s + 0.5 ms per row (at least ``timeout_s``) instead
        of ``timeout_s``.

        Raises
        ------
        ConflictError
            If ``facilities`` repeats an id (nothing is written).
        psycopg.IntegrityError
            If a row violates a schema constraint (nothing is written).
        StoreUnavailableError
        """
        ids = [f.id for f in facilities]
        if len(set(ids)) != len(ids):
            raise ConflictError("duplicate ids in one import", param="id")
        if not facilities:
            return 0  # nothing to write: no revision, no notification
        with self._write() as (cur, revision, at):
            # A bulk write gets 30 s plus 0.5 ms a row per statement (at least timeout_s).
            budget_ms = round(1000 * max(self.timeout_s, 30 + len(facilities) / 2000))
            cur.execute(sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(budget_ms)))
            old: dict[str, Facility] = {}
            for start in range(0, len(ids), 50_000):
                chunk = ids[start : start + 50_000]
                for row in cur.execute(_SELECT + sql.SQL(" WHERE id = ANY(%s::text[]) FOR UPDATE"), (chunk,)):
                    f = _row_to_facility(row)
                    old[f.id] = f
            cur.execute(
                sql.SQL(
                    "CREATE TEMPORARY TABLE import_rows ON COMMIT DROP AS "
                    "SELECT {} FROM facilities WITH NO DATA"
                ).format(sql.SQL(", ").join(map(sql.Identifier, _WRITE_COLUMNS)))
            )
            versions: list[int] = []
            with cur.copy(
                sql.SQL("COPY import_rows ({}) FROM STDIN (FORMAT BINARY)").format(
                    sql.SQL(", ").join(map(sql.Identifier, _WRITE_COLUMNS))
                )
            ) as copy:
                copy.set_types(_WRITE_TYPES)
                for f in facilities:
                    prev = old.get(f.id)
                    version = 1 if prev is None else prev.version + 1
                    versions.append(version)
                    row = _facility_params(f.replace(updated_at=at, version=version), revision)
                    copy.write_row(tuple(row[c] for c in _WRITE_COLUMNS))
            cur.execute(
                sql.SQL(
                    "INSERT INTO facilities ({cols}) SELECT {cols} FROM import_rows "
                    "ON CONFLICT (id) DO UPDATE SET {sets}"
                ).format(
                    cols=sql.SQL(", ").join(map(sql.Identifier, _WRITE_COLUMNS)),
                    sets=sql.SQL(", ").join(
                        sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in _WRITE_COLUMNS[1:]
                    ),
                )
            )
            cur.execute("DELETE FROM tombstones t USING import_rows i WHERE t.id = i.id")
            with cur.copy(
                sql.SQL("COPY facility_history ({}) FROM STDIN (FORMAT BINARY)").format(
                    sql.SQL(", ").join(map(sql.Identifier, _HISTORY_COLUMNS))
                )
            ) as copy:
                copy.set_types(["text", "int8", "int4", "text", "text", "text", "timestamptz", "json"])
                for f, version in zip(facilities, versions, strict=True):
                    # version and updated_at are not tracked fields: f diffs like the stored row
                    changes = _diff(old.get(f.id), f)
                    copy.write_row(
                        (f.id, revision, version, "import", actor.name, actor.reason, at, Json(changes))
                    )
        return len(facilities)

    # -- PostGIS-side nearest ----------------------------------------------------

    def store_nearest(self, query: NearestQuery) -> builtins.list[NearestHit]:
        """Answer a nearest query in PostGIS, exactly as the in-memory index does.

        Parameters
        ----------
        query : NearestQuery
            Query point in WGS-84 degrees and filters.

        Returns
        -------
        list of NearestHit
            At most ``query.k`` hits in ascending ellipsoidal geodesic distance on
            WGS-84 (metres, ``ST_Distance(geog, point, true)``), ties broken by
            ascending id; bearings from :class:`pyproj.Geod`.

        Raises
        ------
        StoreUnavailableError

        Notes
        -----
        Candidates come from a KNN scan ``ORDER BY geog <-> point LIMIT m`` (GiST,
        index-assisted) with kinds, statuses and amenities (``@>``) filtered in SQL;
        ``open_at`` is evaluated in Python with :func:`locator.core.hours.is_open`, and the
        candidates are re-ranked by spheroid ``ST_Distance`` (PostGIS uses
        GeographicLib, the algorithm of :class:`pyproj.Geod`; they agree to far
        below a millimetre).

        **Why it is exact.** For geography, ``<->`` is the great-circle distance on
        the sphere of radius :data:`R_SPHERE_M` with geodetic lon/lat taken as
        spherical coordinates, i.e. ``R_SPHERE_M * theta`` with ``theta`` the same
        central angle :mod:`locator.core.index` uses; and the ellipsoidal geodesic
        distance satisfies ``s >= R_MIN_M * theta`` (:data:`locator.core.geo.R_MIN_M`).
        ``ORDER BY … LIMIT m`` returns the ``m`` SQL-matching rows with the smallest
        ``<->``, so every row not returned has ``theta >= theta_m`` (the m-th row's)
        and hence ``s >= R_MIN_M * theta_m``. Once the k-th best accepted distance
        (or the radius) is below that bound — with a relative margin of 1e-9 for
        rounding — no unseen row can enter the answer. Otherwise ``m`` grows 4x and
        the query repeats; fewer than ``m`` rows means every matching row was seen.
        This is the bound :class:`locator.core.index.FacilityIndex` uses, so both return
        the same ids, order and distances.
        """
        clauses = [sql.SQL("status = ANY(%(statuses)s::text[])")]
        params: dict[str, Any] = {
            "qlon": query.lon,
            "qlat": query.lat,
            "statuses": sorted(query.statuses),
        }
        if query.kinds is not None:
            clauses.append(sql.SQL("kind = ANY(%(kinds)s::text[])"))
            params["kinds"] = sorted(query.kinds)
        if query.amenities:
            clauses.append(sql.SQL("amenities @> %(amenities)s::text[]"))
            params["amenities"] = sorted(query.amenities)
        where = sql.SQL(" AND ").join(clauses)
        knn = sql.SQL(
            "SELECT {cols}, geog <-> {pt} AS knn_m, ST_Distance(geog, {pt}, true) AS dist_m "
            "FROM facilities WHERE {where} ORDER BY geog <-> {pt} LIMIT %(m)s"
        )
        full_rows = knn.format(cols=_COLS, pt=_POINT, where=where)
        light_rows = knn.format(cols=sql.SQL("id, opening_hours"), pt=_POINT, where=where)

        k = query.k
        m = k + 8  # as the index does; grows 4x while the bound is not met
        seen: set[str] = set()
        accepted: list[tuple[float, str]] = []
        rows_by_id: dict[str, dict[str, Any]] = {}

        def take(rows: list[dict[str, Any]]) -> bool:
            """Add a round's candidates; True once the answer is provably complete."""
            for r in rows:
                if r["id"] in seen:
                    continue
                seen.add(r["id"])
                if query.open_at is not None and is_open(r["opening_hours"], query.open_at) is not True:
                    continue
                accepted.append((float(r["dist_m"]), r["id"]))
                if "name" in r:
                    rows_by_id[r["id"]] = r
            accepted.sort()
            del accepted[k:]
            if len(rows) < m:
                return True  # every matching row has been seen
            bound_m = R_MIN_M * (float(rows[-1]["knn_m"]) / R_SPHERE_M) * (1 - 1e-9)
            needed = accepted[-1][0] if len(accepted) == k else math.inf
            if query.radius_m is not None:
                needed = min(needed, query.radius_m)
            return needed < bound_m

        with self._connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            # Usually one round trip: the first candidates, with their full rows.
            if not take(cur.execute(full_rows, {**params, "m": m}).fetchall()):
                # Larger rounds (ids only) and the final rows in one consistent snapshot.
                with conn.transaction():
                    cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    seen.clear()
                    accepted.clear()
                    rows_by_id.clear()
                    m *= 4
                    while not take(cur.execute(light_rows, {**params, "m": m}).fetchall()):
                        m *= 4
                    if accepted:
                        rows_by_id = {
                            r["id"]: r
                            for r in cur.execute(
                                _SELECT + sql.SQL(" WHERE id = ANY(%s::text[])"),
                                ([fid for _, fid in accepted],),
                            )
                        }
        if query.radius_m is not None:
            accepted = [h for h in accepted if h[0] <= query.radius_m]
        if not accepted:
            return []
        facilities = [_row_to_facility(rows_by_id[fid]) for _, fid in accepted]
        _, bearings = geodesic_inverse(
            np.full(len(accepted), query.lon),
            np.full(len(accepted), query.lat),
            [f.lon for f in facilities],
            [f.lat for f in facilities],
        )
        return [
            NearestHit(facility=f, distance_m=d, bearing_deg=float(b), rank=rank)
            for rank, ((d, _), f, b) in enumerate(
                zip(accepted, facilities, bearings.tolist(), strict=True), start=1
            )
        ]

    # -- lifecycle ---------------------------------------------------------------

    # -- rider feedback ------------------------------------------------------------

    def add_feedback(self, feedback: Feedback) -> Feedback:
        """Store one rider report (no revision, no notification: facilities are unchanged)."""
        with self._connection() as conn, conn.transaction():
            row = conn.execute(
                "INSERT INTO feedback (facility_id, facility_version, verdict, reason, comment, "
                "client, locale, at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (
                    feedback.facility_id,
                    feedback.facility_version,
                    feedback.verdict,
                    feedback.reason,
                    feedback.comment,
                    feedback.client,
                    feedback.locale,
                    feedback.at,
                ),
            ).fetchone()
        assert row is not None
        return dataclasses.replace(feedback, id=int(row[0]))

    def list_feedback(
        self,
        facility_id: str | None = None,
        *,
        since: datetime | None = None,
        verdict: str | None = None,
        limit: int | None = None,
    ) -> builtins.list[Feedback]:
        """Rider reports, newest first (``at`` in UTC)."""
        clauses: builtins.list[sql.Composable] = []
        params: builtins.list[Any] = []
        for column, value in (("facility_id", facility_id), ("verdict", verdict)):
            if value is not None:
                clauses.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
                params.append(value)
        if since is not None:
            clauses.append(sql.SQL("at > %s"))
            params.append(since)
        query: sql.Composable = sql.SQL(
            "SELECT id, facility_id, facility_version, verdict, reason, comment, client, locale, at "
            "FROM feedback"
        )
        if clauses:
            query += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(clauses)
        query += sql.SQL(" ORDER BY at DESC, id DESC")
        if limit is not None:
            query += sql.SQL(" LIMIT %s")
            params.append(limit)
        with self._connection() as conn:
            rows = conn.cursor(row_factory=dict_row).execute(query, params).fetchall()
        return [Feedback(**{**r, "at": r["at"].astimezone(UTC)}) for r in rows]

    # -- small transactions outside the facility revision -----------------------------

    @contextmanager
    def _tx(self) -> Iterator[psycopg.Cursor[dict[str, Any]]]:
        """A write transaction that takes no revision and sends no notification."""
        with self._connection() as conn, conn.transaction():
            yield conn.cursor(row_factory=dict_row)

    def _fetch_one(self, query: sql.Composed, params: Sequence[Any]) -> dict[str, Any] | None:
        with self._connection() as conn:
            return conn.cursor(row_factory=dict_row).execute(query, params).fetchone()

    def _fetch_all(self, query: sql.Composed, params: Sequence[Any]) -> builtins.list[dict[str, Any]]:
        with self._connection() as conn:
            return conn.cursor(row_factory=dict_row).execute(query, params).fetchall()

    # -- partners (PartnerStore) -----------------------------------------------------

    def add_partner(self, partner: Partner) -> Partner:
        """Store a new partner (see :meth:`PartnerStore.add_partner`)."""
        with self._tx() as cur:
            try:
                row = cur.execute(
                    sql.SQL(
                        "INSERT INTO partners (name, origins, daily_quota, key_hash, key_prefix, "
                        "created_at, key_created_at, revoked_at) "
                        "VALUES (%s, %s::text[], %s, %s, %s, %s, %s, %s) RETURNING {}"
                    ).format(_PARTNER_COLS),
                    (
                        partner.name,
                        list(partner.origins),
                        partner.daily_quota,
                        partner.key_hash,
                        partner.key_prefix,
                        partner.created_at,
                        partner.key_created_at,
                        partner.revoked_at,
                    ),
                ).fetchone()
            except psycopg.errors.UniqueViolation as exc:
                if "key_hash" in (exc.diag.constraint_name or ""):
                    raise ConflictError("this key hash is already in use", param="key") from exc
                raise ConflictError(f"a partner named {partner.name!r} exists", param="name") from exc
        assert row is not None
        return _row_to_partner(row)

    def get_partner(self, name: str) -> Partner:
        """Return one partner, revoked ones included (see :meth:`PartnerStore.get_partner`)."""
        row = self._fetch_one(_SELECT_PARTNERS + sql.SQL(" WHERE name = %s"), (name,))
        if row is None:
            raise NotFoundError(f"no partner named {name!r}", param="name")
        return _row_to_partner(row)

    def partner_by_key_hash(self, key_hash: str) -> Partner | None:
        """The partner whose current key has this hash, or None."""
        row = self._fetch_one(_SELECT_PARTNERS + sql.SQL(" WHERE key_hash = %s"), (key_hash,))
        return None if row is None else _row_to_partner(row)

    def list_partners(self) -> builtins.list[Partner]:
        """Every partner, revoked ones included, in name (byte) order."""
        rows = self._fetch_all(_SELECT_PARTNERS + sql.SQL(" ORDER BY name"), ())
        return [_row_to_partner(r) for r in rows]

    def set_partner_key(self, name: str, key_hash: str, key_prefix: str, at: datetime) -> Partner:
        """Replace the partner's key (see :meth:`PartnerStore.set_partner_key`).

        The partner's row is locked first, so a concurrent revocation either commits
        before (and this raises ``ConflictError``) or waits.
        """
        with self._tx() as cur:
            cur.execute("SELECT revoked_at FROM partners WHERE name = %s FOR UPDATE", (name,))
            row = cur.fetchone()
            if row is None:
                raise NotFoundError(f"no partner named {name!r}", param="name")
            if row["revoked_at"] is not None:
                raise ConflictError(f"partner {name!r} is revoked", param="name")
            try:
                row = cur.execute(
                    sql.SQL(
                        "UPDATE partners SET key_hash = %s, key_prefix = %s, key_created_at = %s "
                        "WHERE name = %s RETURNING {}"
                    ).format(_PARTNER_COLS),
                    (key_hash, key_prefix, at, name),
                ).fetchone()
            except psycopg.errors.UniqueViolation as exc:
                raise ConflictError("this key hash is already in use", param="key") from exc
        assert row is not None
        return _row_to_partner(row)

    def revoke_partner(self, name: str, at: datetime) -> Partner:
        """Mark the partner revoked at ``at``, keeping an earlier revocation's time."""
        with self._tx() as cur:
            row = cur.execute(
                sql.SQL(
                    "UPDATE partners SET revoked_at = coalesce(revoked_at, %s) WHERE name = %s RETURNING {}"
                ).format(_PARTNER_COLS),
                (at, name),
            ).fetchone()
        if row is None:
            raise NotFoundError(f"no partner named {name!r}", param="name")
        return _row_to_partner(row)

    # -- accounts (AccountStore) -------------------------------------------------------

    def add_user(self, user: User) -> User:
        """Store a new user (see :meth:`AccountStore.add_user`)."""
        with self._tx() as cur:
            try:
                row = cur.execute(
                    sql.SQL(
                        "INSERT INTO users (name, role, password_hash, districts, facilities, active, "
                        "created_at) VALUES (%s, %s, %s, %s::text[], %s::text[], %s, %s) RETURNING {}"
                    ).format(_USER_COLS),
                    (
                        user.name,
                        user.role,
                        user.password_hash,
                        sorted(user.districts),
                        sorted(user.facilities),
                        user.active,
                        datetime.now(UTC),
                    ),
                ).fetchone()
            except psycopg.errors.UniqueViolation as exc:
                raise ConflictError(f"a user named {user.name!r} exists", param="name") from exc
        assert row is not None
        return _row_to_user(row)

    def get_user(self, name: str) -> User:
        """Return one user (see :meth:`AccountStore.get_user`)."""
        row = self._fetch_one(_SELECT_USERS + sql.SQL(" WHERE name = %s"), (name,))
        if row is None:
            raise NotFoundError(f"no user named {name!r}", param="name")
        return _row_to_user(row)

    def list_users(self) -> builtins.list[User]:
        """Every user, in name (byte) order."""
        return [_row_to_user(r) for r in self._fetch_all(_SELECT_USERS + sql.SQL(" ORDER BY name"), ())]

    def update_user(self, user: User) -> User:
        """Replace a user's role, hash, scope and ``active`` (see :meth:`AccountStore.update_user`)."""
        with self._tx() as cur:
            row = cur.execute(
                sql.SQL(
                    "UPDATE users SET role = %s, password_hash = %s, districts = %s::text[], "
                    "facilities = %s::text[], active = %s WHERE name = %s RETURNING {}"
                ).format(_USER_COLS),
                (
                    user.role,
                    user.password_hash,
                    sorted(user.districts),
                    sorted(user.facilities),
                    user.active,
                    user.name,
                ),
            ).fetchone()
        if row is None:
            raise NotFoundError(f"no user named {user.name!r}", param="name")
        return _row_to_user(row)

    def add_token(self, token: ApiToken) -> ApiToken:
        """Store a new API token (see :meth:`AccountStore.add_token`)."""
        with self._tx() as cur:
            if cur.execute("SELECT 1 FROM users WHERE name = %s", (token.user_name,)).fetchone() is None:
                raise NotFoundError(f"no user named {token.user_name!r}", param="name")
            try:
                row = cur.execute(
                    sql.SQL(
                        "INSERT INTO api_tokens (id, user_name, token_hash, label, created_at) "
                        "VALUES (%s, %s, %s, %s, %s) RETURNING {}"
                    ).format(_API_TOKEN_COLS),
                    (token.id, token.user_name, token.token_hash, token.label, datetime.now(UTC)),
                ).fetchone()
            except psycopg.errors.UniqueViolation as exc:
                raise ConflictError("a token with this id or hash exists", param="token") from exc
            except psycopg.errors.ForeignKeyViolation as exc:  # pragma: no cover - users are never deleted
                raise NotFoundError(f"no user named {token.user_name!r}", param="name") from exc
        assert row is not None
        return _row_to_token(row)

    def find_token(self, token_hash: str) -> ApiToken | None:
        """The token with this hash (revoked ones included), or None."""
        row = self._fetch_one(_SELECT_API_TOKENS + sql.SQL(" WHERE token_hash = %s"), (token_hash,))
        return None if row is None else _row_to_token(row)

    def list_tokens(self, user_name: str | None = None) -> builtins.list[ApiToken]:
        """Tokens (of one user, or all), oldest first."""
        if user_name is None:
            rows = self._fetch_all(_SELECT_API_TOKENS + sql.SQL(" ORDER BY created_at, id"), ())
        else:
            rows = self._fetch_all(
                _SELECT_API_TOKENS + sql.SQL(" WHERE user_name = %s ORDER BY created_at, id"),
                (user_name,),
            )
        return [_row_to_token(r) for r in rows]

    def revoke_token(self, token_id: str) -> None:
        """Mark a token revoked, keeping an earlier revocation's time (idempotent)."""
        with self._tx() as cur:
            cur.execute(
                "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, %s) WHERE id = %s",
                (datetime.now(UTC), token_id),
            )
            if cur.rowcount != 1:
                raise NotFoundError(f"no token {token_id!r}", param="token")

    # -- rider reports (ReportStore) -----------------------------------------------------

    def get_report(self, report_id: int) -> Report:
        """Return one report (see :meth:`ReportStore.get_report`)."""
        row = self._fetch_one(_SELECT_REPORTS + sql.SQL(" WHERE id = %s"), (report_id,))
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
        """Reports by status and facility (see :meth:`ReportStore.list_reports`)."""
        clauses: builtins.list[sql.Composable] = []
        params: builtins.list[Any] = []
        for column, values in (("status", statuses), ("facility_id", facility_ids)):
            if values is not None:
                if not values:
                    return []
                clauses.append(sql.SQL("{} = ANY(%s::text[])").format(sql.Identifier(column)))
                params.append(sorted(values))
        query = _SELECT_REPORTS
        if clauses:
            query += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(clauses)
        if statuses == frozenset({"open"}):
            query += sql.SQL(" ORDER BY id")
        else:
            query += sql.SQL(" ORDER BY resolved_at IS NULL DESC, resolved_at DESC, id DESC")
        if limit is not None:
            query += sql.SQL(" LIMIT %s")
            params.append(limit)
        return [_row_to_report(r) for r in self._fetch_all(query, params)]

    def resolve_report(self, report_id: int, status: str, action: str, actor: Actor) -> Report:
        """Close an open report (see :meth:`ReportStore.resolve_report`).

        The primary key of ``report_resolutions`` decides between concurrent resolvers:
        the ``INSERT … ON CONFLICT DO NOTHING`` of the later one waits for the earlier
        one's commit and then inserts nothing, which raises ``ConflictError``.
        """
        with self._tx() as cur:
            row = cur.execute("SELECT status FROM rider_reports WHERE id = %s", (report_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"no report {report_id}", param="report")
            if row["status"] != "open":
                raise ConflictError(f"report {report_id} was already {row['status']}", param="report")
            inserted = cur.execute(
                "INSERT INTO report_resolutions "
                "(feedback_id, status, action, resolved_by, note, resolved_at) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (feedback_id) DO NOTHING "
                "RETURNING feedback_id",
                (report_id, status, action, actor.name, actor.reason, datetime.now(UTC)),
            ).fetchone()
            if inserted is None:
                # Someone else's resolution committed meanwhile; this statement sees it.
                row = cur.execute("SELECT status FROM rider_reports WHERE id = %s", (report_id,)).fetchone()
                assert row is not None
                raise ConflictError(f"report {report_id} was already {row['status']}", param="report")
            updated = cur.execute(_SELECT_REPORTS + sql.SQL(" WHERE id = %s"), (report_id,)).fetchone()
        assert updated is not None
        return _row_to_report(updated)

    # -- checked batch writes (CheckedBatchStore) --------------------------------------

    def write_batch(
        self,
        facilities: Sequence[Facility],
        expected_versions: Mapping[str, int | None],
        actor: Actor = SYSTEM,
    ) -> int:
        """Insert or replace facilities, each only if unchanged since read (one transaction).

        See :meth:`CheckedBatchStore.write_batch`. The stored versions are read with
        ``FOR UPDATE`` inside the write transaction, after the revision lock, so a
        concurrent update either committed before (and this batch fails with
        ``VersionConflictError``, writing nothing) or waits for this one.
        """
        ids = [f.id for f in facilities]
        if len(set(ids)) != len(ids):
            raise ConflictError("duplicate ids in one batch", param="id")
        missing = [i for i in ids if i not in expected_versions]
        if missing:
            raise ValueError(f"no expected version for {missing[0]!r}")
        if not facilities:
            return 0  # nothing to write: no revision, no notification
        with self._write() as (cur, revision, at):
            old = {
                f.id: f
                for f in map(
                    _row_to_facility,
                    cur.execute(
                        _SELECT + sql.SQL(" WHERE id = ANY(%s::text[]) ORDER BY id FOR UPDATE"), (ids,)
                    ).fetchall(),
                )
            }
            for f in facilities:
                current = old[f.id].version if f.id in old else None
                if current != expected_versions[f.id]:
                    raise VersionConflictError(
                        f"facility {f.id!r} changed since it was read "
                        f"(expected {expected_versions[f.id]}, now {current})",
                        current_version=current or 0,
                    )
            stored = [
                f.replace(version=old[f.id].version + 1 if f.id in old else 1, updated_at=at)
                for f in facilities
            ]
            if stored:
                cur.executemany(_UPSERT, [_facility_params(f, revision) for f in stored])
                cur.execute("DELETE FROM tombstones WHERE id = ANY(%s::text[])", (ids,))
                cur.executemany(
                    _INSERT_HISTORY,
                    [_history_row(revision, at, "import", actor, old.get(f.id), f, f.id) for f in stored],
                )
        return len(facilities)

    def close(self) -> None:
        """Stop the listener and close the pool (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._thread.is_alive() and self._listening:
            # Wake the listener out of its wait for notifications.
            try:
                with self._pool.connection(timeout=1.0) as conn:
                    conn.execute("SELECT pg_notify(%s, '')", (self._wake_channel,))
            except (psycopg.Error, PoolTimeout, PoolClosed):
                pass
        self._thread.join(timeout=HEARTBEAT_S + self.timeout_s + 1)
        self._pool.close()

    @property
    def listening(self) -> bool:
        """True while the revision listener is connected and caught up."""
        with self._rev_lock:
            return self._listening
