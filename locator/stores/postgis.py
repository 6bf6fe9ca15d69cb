r"""The production store: PostgreSQL + PostGIS through psycopg 3 and a connection pool.

The store's behaviour (versions, history, change sets, batches, feedback, accounts,
partners, reports) is :class:`locator.stores.sql.SQLStore`'s; this module holds the
PostgreSQL dialect and what only PostGIS does.

Design
------
* **Schema.** ``facilities`` keeps ``lon``/``lat`` (WGS-84 degrees, ``CHECK``-ed to
  [-180, 180] x [-90, 90]) and a generated ``geog geography(Point, 4326)`` column with
  a GiST index; ``amenities`` is ``text[]`` with a GIN index. The checks are in the
  schema: known kind and status, non-empty name, coordinates in range, version >= 1.
  Ids sort with ``COLLATE "C"`` (byte order), so "ascending id order" is the same as
  in SQLite and in Python. Lists of strings are ``text[]``, instants ``timestamptz``.
* **Migrations** are the numbered files ``locator/stores/migrations/postgis/*.sql``
  (:data:`MIGRATIONS`); :meth:`PostGISStore.init_schema` applies each version not yet
  recorded in ``schema_migrations``, in one transaction under an advisory lock (several
  workers may start at once), and never re-applies one.
* **Writes** are single transactions. Each one first bumps the single-row revision
  counter (``UPDATE store_revision SET value = value + 1 RETURNING value``); the row
  lock serialises writers, exactly like SQLite's ``BEGIN IMMEDIATE``, so versions,
  revisions and history ``seq`` are in commit order. Rows about to change are read
  ``FOR UPDATE``; updates and deletes carry the version they were based on
  (``... WHERE id = %s AND version = %s``) and raise
  :class:`~locator.errors.VersionConflictError` when it is stale. The transaction ends
  with ``NOTIFY locator_changes, '<revision>'``, delivered to listeners at commit.
* **Checked batches** (bulk upload "apply") are such a write: every stored version is
  read ``FOR UPDATE`` and checked before anything is written, so the batch is all or
  nothing. **Imports** (:meth:`PostGISStore.import_many`) stream rows and history with
  binary ``COPY``.
* **Partners, accounts, rider reports** are written in small transactions of their own
  that take no revision and send no notification. A unique violation becomes
  :class:`~locator.errors.ConflictError`. A report is a problem ``feedback`` row seen
  through the ``rider_reports`` view; resolving it appends a row to the append-only
  ``report_resolutions``, whose primary key lets exactly one of two concurrent
  resolutions win.
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
  counter. On a hot standby (``pg_is_in_recovery()``, which accepts no ``LISTEN`` and
  gets no ``NOTIFY``) or with ``poll_s``, the listener reads the counter every
  ``poll_s`` (default :data:`STANDBY_POLL_S`) seconds instead: an index that follows a
  standby (``LOCATOR_DATABASE_READ_URL``, docs/operations.md). :meth:`init_schema` on a
  standby only checks that every migration has arrived.
* **Failures.** ``psycopg.OperationalError`` (connection refused or lost, statement
  timeout) and ``psycopg_pool.PoolTimeout`` become
  :class:`~locator.errors.StoreUnavailableError` (HTTP 503). A request waits at most
  ``timeout_s`` for a pooled connection and at most ``timeout_s`` per statement
  (``statement_timeout``). The pool replaces broken connections by itself (checked
  on checkout); its reconnection backoff is capped by ``reconnect_timeout`` =
  ``max(10, 2 * timeout_s)`` seconds, so writes work again within seconds of the
  database coming back, without restarting the app.
* **Failing fast.** A database that is down must not hold a worker for ``timeout_s`` on
  every request. After a connection-level failure (refused, lost, pool timeout — not a
  slow statement) the store answers :class:`~locator.errors.StoreUnavailableError` at
  once for :data:`BREAKER_S` seconds, and for as long as the revision listener is
  disconnected: the listener's reconnection attempts (0.1 s doubling to 2 s) are the
  probe, so the first call after the database is back goes through.

Sources: psycopg 3 and psycopg_pool documentation (https://www.psycopg.org/psycopg3/docs/),
PostgreSQL ``LISTEN``/``NOTIFY`` (https://www.postgresql.org/docs/15/sql-notify.html),
PostGIS ``<->`` and ``ST_Distance`` (https://postgis.net/docs/).
"""

from __future__ import annotations

import builtins
import functools
import logging
import math
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row
from psycopg.types.json import Json
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from locator.core.domain import Facility, NearestHit, NearestQuery
from locator.core.geo import R_MIN_M, geodesic_inverse
from locator.core.hours import TZ, is_open
from locator.errors import StoreBusyError, StoreUnavailableError, ValidationError
from locator.stores import migrations
from locator.stores.sql import (
    COLUMNS,
    STAGE_COLUMNS,
    WRITE_COLUMNS,
    Row,
    Session,
    SQLStore,
)

log = logging.getLogger(__name__)

#: The ``NOTIFY`` channel every write announces its revision on.
CHANNEL = "locator_changes"
#: The ``NOTIFY`` channel every live door event announces its live revision on.
LIVE_CHANNEL = "locator_live"
#: Seconds between the listener's catch-up reads when no notification arrives.
HEARTBEAT_S = 5.0
#: Seconds between revision reads when the listener's connection is on a hot standby
#: (no LISTEN there) and no ``poll_s`` was given.
STANDBY_POLL_S = 0.1
#: Radius of the sphere PostGIS uses for geography ``<->`` and sphere ``ST_Distance``:
#: the WGS-84 mean radius ``(2a + b) / 3``, metres.
R_SPHERE_M = (2 * 6378137.0 + 6356752.314245179) / 3
#: Notification payload prefix of a restore: listeners take the revision even if it is lower.
RESET_PREFIX = "reset:"
#: Seconds every call fails at once after a connection-level failure (see "Failing fast").
BREAKER_S = 2.0
#: Key of the advisory lock that serialises schema migrations.
_MIGRATION_LOCK = 0x6C6F6361746F72  # "locator"
#: Key of the advisory lock an import's final transaction holds exclusively (facility
#: writes take it shared, without waiting: see ``WRITE_BUMP_SQL``).
_IMPORT_LOCK = 0x696D706F7274  # "import" = 115918758703732 (written out in WRITE_BUMP_SQL)

#: Schema migrations: ``(version, name, script)``, applied in order, once each.
MIGRATIONS: list[migrations.Migration] = migrations.load("postgis")

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
    "access": "text",
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
#: PostgreSQL types of :data:`~locator.stores.sql.WRITE_COLUMNS`, for binary ``COPY``.
_WRITE_TYPES = [_PG_TYPES[c] for c in WRITE_COLUMNS]
#: ... and of :data:`~locator.stores.sql.STAGE_COLUMNS` (an import's staging table).
_STAGE_TYPES = [*_WRITE_TYPES, "int8", "int8", "int4", "json"]
if set(_PG_TYPES) != set(WRITE_COLUMNS):  # checked at import, also under python -O
    raise RuntimeError("every Facility field needs a PostgreSQL column type in _PG_TYPES")
_COLS = sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
_SELECT = sql.SQL("SELECT {} FROM facilities").format(_COLS)
_POINT = sql.SQL("ST_SetSRID(ST_MakePoint(%(qlon)s, %(qlat)s), 4326)::geography")


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _row_to_facility(row: Row) -> Facility:
    fields = {c: row[c] for c in COLUMNS}
    fields["amenities"] = frozenset(row["amenities"])
    # timestamptz keeps no offset: verified_at comes back in Beijing time (where every
    # facility is, and the zone the service parses local times in).
    fields["verified_at"] = None if row["verified_at"] is None else row["verified_at"].astimezone(TZ)
    fields["updated_at"] = _utc(row["updated_at"])
    return Facility(**fields)


def _facility_row(f: Facility, revision: int) -> tuple[Any, ...]:
    """One ``facilities`` row as parameters, in :data:`~locator.stores.sql.WRITE_COLUMNS` order."""
    values: dict[str, Any] = {c: getattr(f, c) for c in COLUMNS}
    values["amenities"] = sorted(f.amenities)
    values["updated_at"] = f.updated_at or datetime.now(UTC)
    values["revision"] = revision
    return tuple(values[c] for c in WRITE_COLUMNS)


@functools.lru_cache(maxsize=1024)
def _pyformat(query: str) -> str:
    """Shared SQL (``?`` placeholders) in psycopg's style (``%s``; a literal ``%`` doubled)."""
    return query.replace("%", "%%").replace("?", "%s")


class PostGISSession(Session):
    """A :class:`~locator.stores.sql.Session` on one psycopg cursor (``dict_row`` rows)."""

    def __init__(self, cur: psycopg.Cursor[dict[str, Any]]) -> None:
        self.cur = cur

    def execute(self, query: str, params: Sequence[Any] = ()) -> int:
        self.cur.execute(_pyformat(query), params)
        return self.cur.rowcount

    def one(self, query: str, params: Sequence[Any] = ()) -> Row | None:
        return self.cur.execute(_pyformat(query), params).fetchone()

    def all(self, query: str, params: Sequence[Any] = ()) -> builtins.list[Row]:
        return list(self.cur.execute(_pyformat(query), params).fetchall())

    def many(self, query: str, rows: Iterable[Sequence[Any]]) -> None:
        self.cur.executemany(_pyformat(query), rows)


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


def _first_text_line(text: str) -> str:
    """The first non-empty line of a tool's error output."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "no message")


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


class PostGISStore(SQLStore[PostGISSession]):
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
    poll_s : float, optional
        Follow the revision by reading the counter every ``poll_s`` seconds instead of
        ``LISTEN`` (a hot standby accepts no ``LISTEN`` and receives no ``NOTIFY``): for
        a read-only follower on a standby (``LOCATOR_DATABASE_READ_URL``). None (the
        default): ``LISTEN`` on ``locator_changes``, or, when the connection turns out
        to be on a standby (``pg_is_in_recovery()``, checked at every connection),
        polling every :data:`STANDBY_POLL_S` seconds.

    Raises
    ------
    StoreUnavailableError
        If the database cannot be reached at start-up (the message names
        ``user@host:port/dbname`` and libpq's reason, never the password).
    """

    backend = "postgis"
    REVISION_SQL = "SELECT value FROM store_revision"
    BUMP_REVISION_SQL = "UPDATE store_revision SET value = value + 1 RETURNING value"
    LIVE_REVISION_SQL = "SELECT value FROM live_revision"
    BUMP_LIVE_REVISION_SQL = "UPDATE live_revision SET value = value + 1 RETURNING value"
    # No row (and no wait for the row lock) while an import holds IMPORT_LOCK exclusively.
    WRITE_BUMP_SQL = (
        "UPDATE store_revision SET value = value + 1 "
        "WHERE pg_try_advisory_xact_lock_shared(115918758703732) RETURNING value"  # _IMPORT_LOCK
    )
    FOR_UPDATE = " FOR UPDATE"
    IN_CHUNK = 50_000

    def __init__(
        self,
        url: str,
        *,
        pool_min: int = 1,
        pool_max: int = 10,
        timeout_s: float = 5.0,
        poll_s: float | None = None,
    ) -> None:
        self.url = url
        self.poll_s = poll_s
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
        self._cached_live_rev: int | None = None
        self._listening = False
        self._listener_error: str | None = None
        self._down_until = 0.0  # time.monotonic() until which calls fail fast
        self._stop = threading.Event()
        self._wake_channel = f"locator_wake_{uuid.uuid4().hex[:16]}"
        self._poll_every: float | None = poll_s  # set at every (re)connection

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
        self._fail_fast()
        try:
            with self._pool.connection() as conn:
                yield conn
        except PoolTimeout:
            self._trip()
            raise StoreUnavailableError(
                f"the database ({self.where}) did not answer within {self.timeout_s:g} s"
            ) from None
        except PoolClosed:
            raise StoreUnavailableError("the store is closed") from None
        except psycopg.errors.QueryCanceled as exc:  # a slow statement or a lock wait: the database is up
            raise StoreBusyError(
                f"the database ({self.where}) did not finish in {self.timeout_s:g} s "
                f"(busy, e.g. with an import being committed); nothing was written: {_first_line(exc)}"
            ) from None
        except psycopg.OperationalError as exc:
            log.warning("database error on %s: %s", self.where, _first_line(exc))
            self._trip()
            raise StoreUnavailableError(f"the database ({self.where}) is unavailable") from None

    def _trip(self) -> None:
        """Fail every call at once for :data:`BREAKER_S` seconds (see "Failing fast")."""
        self._down_until = time.monotonic() + BREAKER_S

    def _fail_fast(self) -> None:
        """Raise at once while the database is known to be down (see "Failing fast")."""
        with self._rev_lock:
            down = self._listener_error
        if down is None and time.monotonic() >= self._down_until:
            return
        raise StoreUnavailableError(f"the database ({self.where}) is unavailable: {down or 'recent failure'}")

    @contextmanager
    def _read(self) -> Iterator[PostGISSession]:
        with self._connection() as conn:
            yield PostGISSession(conn.cursor(row_factory=dict_row))

    @contextmanager
    def _snapshot(self) -> Iterator[PostGISSession]:
        with self._connection() as conn, conn.transaction():
            cur = conn.cursor(row_factory=dict_row)
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield PostGISSession(cur)

    @contextmanager
    def _transaction(self) -> Iterator[PostGISSession]:
        with self._connection() as conn, conn.transaction():
            yield PostGISSession(conn.cursor(row_factory=dict_row))

    def _announce(self, s: PostGISSession, revision: int) -> None:
        s.cur.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(revision)))

    def _announce_live(self, s: PostGISSession, revision: int) -> None:
        s.cur.execute("SELECT pg_notify(%s, %s)", (LIVE_CHANNEL, str(revision)))

    # -- encodings ------------------------------------------------------------------------

    def _facility_values(self, f: Facility, revision: int) -> tuple[Any, ...]:
        return _facility_row(f, revision)

    def _facility(self, row: Row) -> Facility:
        return _row_to_facility(row)

    def _instant(self, value: datetime | None) -> Any:
        return value

    def _from_instant(self, value: Any) -> datetime:
        at: datetime = value.astimezone(UTC)
        return at

    def _array(self, values: Sequence[str]) -> Any:
        return list(values)

    def _from_array(self, value: Any) -> builtins.list[str]:
        return list(value)

    def _json(self, value: Any) -> Any:
        return Json(value)

    def _from_json(self, value: Any) -> Any:
        return value

    def _in(self, column: str, values: Collection[str]) -> tuple[str, builtins.list[Any]]:
        return f"{column} = ANY(?::text[])", [sorted(values)]

    def _contains_all(self, column: str, values: Collection[str]) -> tuple[str, builtins.list[Any]]:
        return f"{column} @> ?::text[]", [sorted(values)]

    def _unique_violation(self, exc: BaseException) -> str | None:
        if isinstance(exc, psycopg.errors.UniqueViolation):
            return exc.diag.constraint_name or "unique"
        return None

    # -- the revision listener ---------------------------------------------------

    def _listen_connect(self) -> psycopg.Connection[Any]:
        conn = psycopg.Connection.connect(self.url, **self._kwargs)
        try:
            if self.poll_s is not None:
                self._poll_every = self.poll_s
                return conn
            standby = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            if standby is not None and standby[0]:
                self._poll_every = STANDBY_POLL_S  # a standby refuses LISTEN
                return conn
            self._poll_every = None
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(LIVE_CHANNEL)))
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._wake_channel)))
        except BaseException:
            conn.close()
            raise
        return conn

    def _reset_revision(self, revision: int) -> None:
        """The store was restored: its revision may go back (every index reloads)."""
        with self._rev_lock:
            self._cached_rev = revision

    def _saw_revision(self, revision: int) -> None:
        with self._rev_lock:
            if self._cached_rev is None or revision > self._cached_rev:
                self._cached_rev = revision

    def _saw_live_revision(self, revision: int, *, reset: bool = False) -> None:
        with self._rev_lock:
            if reset or self._cached_live_rev is None or revision > self._cached_live_rev:
                self._cached_live_rev = revision

    def _catch_up(self, conn: psycopg.Connection[Any]) -> None:
        """Re-read the counter on the listener connection (after (re)connecting, heartbeat)."""
        try:
            row = conn.execute("SELECT value FROM store_revision").fetchone()
        except psycopg.errors.UndefinedTable:
            row = None  # no schema yet: init_schema will set the revision
        try:
            live = conn.execute(self.LIVE_REVISION_SQL).fetchone()
        except psycopg.errors.UndefinedTable:
            live = None
        if live is not None:
            # The counter itself, even if lower (a restore): the live keeper reloads then.
            self._saw_live_revision(int(live[0]), reset=True)
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
                while self._poll_every is not None and not self._stop.wait(self._poll_every):
                    self._catch_up(conn)
                while not self._stop.is_set():
                    for note in conn.notifies(timeout=HEARTBEAT_S):
                        if note.channel == CHANNEL:
                            try:
                                if note.payload.startswith(RESET_PREFIX):
                                    self._reset_revision(int(note.payload[len(RESET_PREFIX) :]))
                                else:
                                    self._saw_revision(int(note.payload))
                            except ValueError:
                                log.warning("ignoring notification %r", note.payload)
                        elif note.channel == LIVE_CHANNEL:
                            try:
                                self._saw_live_revision(int(note.payload))
                            except ValueError:
                                log.warning("ignoring live notification %r", note.payload)
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

    def _migrations(self) -> Sequence[tuple[int, str, str]]:
        return MIGRATIONS

    @contextmanager
    def _migrating(self) -> Iterator[PostGISSession]:
        with self._transaction() as s:
            # CREATE EXTENSION postgis, or waiting for another worker's migration,
            # may take longer than a request's statement timeout.
            s.cur.execute("SET LOCAL statement_timeout = '5min'")
            s.cur.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            s.cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version integer PRIMARY KEY, name text NOT NULL, "
                "applied_at timestamptz NOT NULL DEFAULT now())"
            )
            yield s

    def _apply_migration(self, s: PostGISSession, version: int, name: str, script: str) -> None:
        s.cur.execute(script.encode())
        s.cur.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name))

    def init_schema(self) -> None:
        """Apply every migration in :data:`MIGRATIONS` not yet in ``schema_migrations``.

        All pending steps run in one transaction under an advisory lock, so
        concurrent callers (several workers starting) apply each step exactly once.

        On a hot standby nothing is written: the schema is only checked to be
        complete (so that ``flask locator backup`` and read-only nodes can use a standby).

        Raises
        ------
        StoreUnavailableError
            If the database is unreachable, or PostGIS is not installed and cannot
            be created by this role, or it is a standby whose schema lacks a migration.
        """
        if self._in_recovery():
            self._check_standby_schema()
            return
        try:
            super().init_schema()
        except (
            psycopg.errors.UndefinedFile,
            psycopg.errors.FeatureNotSupported,
            psycopg.errors.InsufficientPrivilege,
        ) as exc:
            raise StoreUnavailableError(
                f"PostGIS is not available in {self.where}: {_first_line(exc)} "
                "(install PostGIS and run CREATE EXTENSION postgis as a superuser)"
            ) from None

    def _in_recovery(self) -> bool:
        """True on a hot standby (read-only: nothing to migrate there)."""
        with self._read() as s:
            row = s.one("SELECT pg_is_in_recovery() AS standby")
        return bool(row and row["standby"])

    def _check_standby_schema(self) -> None:
        """On a standby: the primary's migrations must all have arrived (backups, read-only use).

        Raises
        ------
        StoreUnavailableError
            If the standby's schema lacks a migration (migrate on the primary first).
        """
        try:
            with self._read() as s:
                done = {int(r["version"]) for r in s.all("SELECT version FROM schema_migrations")}
                row = s.one(self.REVISION_SQL)
        except psycopg.errors.UndefinedTable:
            done, row = set(), None
        missing = [v for v, _, _ in MIGRATIONS if v not in done]
        if missing or row is None:
            raise StoreUnavailableError(
                f"{self.where} is a standby without this version's schema (missing migrations "
                f"{missing}); run init-db against the primary first"
            )
        self._saw_revision(int(row["value"]))

    # -- reads and writes that differ ----------------------------------------------

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
        current = super().revision()
        self._saw_revision(current)
        return current

    def live_revision(self) -> int:
        """The live revision: the listener's cached value, else one query (as :meth:`revision`).

        Raises
        ------
        StoreUnavailableError
        """
        with self._rev_lock:
            if self._listening and self._cached_live_rev is not None:
                return self._cached_live_rev
            down = self._listener_error
        if down is not None:
            raise StoreUnavailableError(f"the database ({self.where}) is unavailable: {down}")
        return super().live_revision()

    # -- imports ------------------------------------------------------------------

    @contextmanager
    def _staging(self) -> Iterator[PostGISSession]:
        """A pooled connection holding the temporary table ``import_rows`` (dropped after).

        Staging writes only that table (no lock on ``facilities`` or the revision
        counter), with binary ``COPY``.
        """
        with self._connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            cols = sql.SQL(", ").join(map(sql.Identifier, WRITE_COLUMNS))
            cur.execute("DROP TABLE IF EXISTS pg_temp.import_rows")
            cur.execute(
                sql.SQL(
                    "CREATE TEMPORARY TABLE import_rows AS SELECT {}, NULL::bigint AS ord, "
                    "NULL::bigint AS old_revision, NULL::integer AS old_version, NULL::json AS changes "
                    "FROM facilities WITH NO DATA"
                ).format(cols)
            )
            cur.execute("CREATE UNIQUE INDEX ON pg_temp.import_rows (id)")
            try:
                yield PostGISSession(cur)
            finally:
                if not conn.closed and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
                    conn.execute("DROP TABLE IF EXISTS pg_temp.import_rows")

    def _stage(self, s: PostGISSession, rows: Sequence[Sequence[Any]]) -> None:
        cols = sql.SQL(", ").join(map(sql.Identifier, STAGE_COLUMNS))
        with s.cur.copy(sql.SQL("COPY import_rows ({}) FROM STDIN (FORMAT BINARY)").format(cols)) as copy:
            copy.set_types(_STAGE_TYPES)
            for row in rows:
                copy.write_row(row)

    @contextmanager
    def _merging(self, s: PostGISSession, rows: int) -> Iterator[PostGISSession]:
        """The final transaction; its statements may run 30 s + 0.5 ms a row (at least ``timeout_s``)."""
        s.cur.execute("ANALYZE pg_temp.import_rows")  # a temporary table has no statistics otherwise
        with s.cur.connection.transaction():
            budget_ms = round(1000 * max(self.timeout_s, 30 + rows / 2000))
            s.cur.execute(sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(budget_ms)))
            # Facility writes that start from now on fail at once (503) instead of queueing
            # for the revision lock; those already running finish first.
            s.cur.execute("SELECT pg_advisory_xact_lock(%s)", (_IMPORT_LOCK,))
            yield s

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

    # -- backup and restore (BackupStore) -----------------------------------------------

    def _pg_tool(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``pg_dump``/``pg_restore`` against this database (password through the environment)."""
        info = conninfo_to_dict(self.url)
        env = {**os.environ}
        if info.get("password"):
            env["PGPASSWORD"] = str(info.pop("password"))
        dsn = make_conninfo(**{k: str(v) for k, v in info.items()})
        try:
            return subprocess.run(  # noqa: S603 - fixed tool names, our own arguments
                [*args, "--dbname", dsn], env=env, capture_output=True, text=True, timeout=3600, check=False
            )
        except FileNotFoundError as exc:
            raise StoreUnavailableError(
                f"{args[0]} is not installed (Debian: postgresql-client-15): {exc}"
            ) from None

    def backup(self, path: Path) -> None:
        """``pg_dump --format=custom`` of the whole database (a consistent snapshot, online)."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp")
        done = self._pg_tool(
            "pg_dump", "--format=custom", "--no-owner", "--no-privileges", "--file", str(tmp)
        )
        if done.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise StoreUnavailableError(f"pg_dump failed: {_first_text_line(done.stderr)}")
        os.replace(tmp, path)

    def restore(self, path: Path) -> None:
        """``pg_restore --clean --single-transaction``: all of the backup, or nothing changes."""
        path = Path(path)
        listing = subprocess.run(  # noqa: S603
            ["pg_restore", "--list", str(path)],  # noqa: S607 - the PostgreSQL client on PATH
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if listing.returncode != 0 or "TABLE public store_revision" not in listing.stdout:
            raise ValidationError(f"{path} is not a backup of a PostGIS store", param="path")
        done = self._pg_tool(
            "pg_restore",
            "--clean",
            "--if-exists",
            "--single-transaction",
            "--no-owner",
            "--no-privileges",
            str(path),
        )
        if done.returncode != 0:
            raise StoreUnavailableError(
                f"pg_restore failed (nothing was changed): {_first_text_line(done.stderr)}"
            )
        revision = SQLStore.revision(self)
        self._reset_revision(revision)
        with self._transaction() as s:  # every node's listener takes the restored revision
            s.cur.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{RESET_PREFIX}{revision}"))

    def close(self) -> None:
        """Stop the listener and close the pool (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._thread.is_alive() and self._listening and self._poll_every is None:
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
