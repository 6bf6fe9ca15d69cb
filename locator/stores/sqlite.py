"""The embedded default store: one SQLite file, no server.

The store's behaviour is :class:`locator.stores.sql.SQLStore`'s; this module holds the
SQLite dialect. SQLite runs in WAL mode so readers never block the writer; each write is
a ``BEGIN IMMEDIATE`` transaction, so concurrent writers (several gunicorn workers)
serialise instead of failing. Connections are per thread. Locations are two REAL
columns in WGS-84 degrees; spatial queries are answered by the in-memory index, so the
store only needs a plain lon/lat range filter for ``bbox``.

Encodings: lists of strings are JSON text (``amenities`` matched with ``json_each``),
booleans are 0/1, instants are ISO 8601 text. Every store-set instant is UTC in the
fixed width ``YYYY-MM-DDTHH:MM:SS.ffffff+00:00``, so text order is time order;
``verified_at`` keeps the offset it was given in. The schema is
``locator/stores/migrations/sqlite/*.sql`` (:data:`MIGRATIONS`).
"""

from __future__ import annotations

import builtins
import fcntl
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from locator.core.domain import Facility
from locator.errors import StoreBusyError, StoreUnavailableError, ValidationError
from locator.stores import migrations
from locator.stores.sql import (
    COLUMNS,
    IMPORT_COMMITTING,
    IMPORT_RETRY_AFTER_S,
    STAGE_COLUMNS,
    WRITE_COLUMNS,
    Row,
    Session,
    SQLStore,
)

log = logging.getLogger(__name__)

#: How long an import's final transaction waits for the write lock, seconds (writers
#: hold it for milliseconds; the import should take its turn rather than fail).
IMPORT_LOCK_TIMEOUT_S = 60.0
#: SQLite's own words for "another connection holds the lock" (SQLITE_BUSY, SQLITE_LOCKED).
_BUSY = ("database is locked", "database table is locked", "database is busy")
#: ... and for a database that cannot be used at all (I/O, permissions, full disk).
_BROKEN = ("disk i/o error", "unable to open", "readonly database", "database or disk is full")


def store_error(exc: sqlite3.OperationalError, where: str, timeout_s: float) -> Exception:
    """The service error for a driver error, or ``exc`` itself if it is not about the database's state.

    ``database is locked`` (another write held the lock longer than ``timeout_s``)
    becomes :class:`~locator.errors.StoreBusyError` (503, ``Retry-After``); an I/O,
    permission or full-disk error :class:`~locator.errors.StoreUnavailableError`.
    Anything else (a bug: bad SQL, a missing table) is left as it is.
    """
    text = str(exc).lower()
    if any(b in text for b in _BUSY):
        log.warning("SQLite %s: %s after %.1f s", where, exc, timeout_s)
        return StoreBusyError(
            f"the database is busy with another write (such as an import being committed); "
            f"nothing was written, try again in a few seconds ({exc})"
        )
    if any(b in text for b in _BROKEN):
        log.warning("SQLite %s: %s", where, exc)
        return StoreUnavailableError(f"the database cannot be used: {exc}")
    return exc


@contextmanager
def _translated(where: str, timeout_s: float) -> Iterator[None]:
    """Raise :func:`store_error` of any ``sqlite3.OperationalError`` raised in the block."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        mapped = store_error(exc, where, timeout_s)
        if mapped is exc:
            raise
        raise mapped from exc


#: Schema migrations, applied in order once each (recorded in ``schema_migrations``).
MIGRATIONS: list[migrations.Migration] = migrations.load("sqlite")


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


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _facility_row(f: Facility, revision: int) -> tuple[Any, ...]:
    """One ``facilities`` row as parameters, in :data:`~locator.stores.sql.WRITE_COLUMNS` order."""
    values: dict[str, Any] = {c: getattr(f, c) for c in COLUMNS}
    values["amenities"] = json.dumps(sorted(f.amenities))
    values["status_until"] = None if f.status_until is None else f.status_until.isoformat()
    values["verified_at"] = None if f.verified_at is None else f.verified_at.isoformat()
    values["updated_at"] = _utc_text(f.updated_at or datetime.now(UTC))
    values["demo"] = int(f.demo)
    values["revision"] = revision
    return tuple(values[c] for c in WRITE_COLUMNS)


def _row_to_facility(row: Row) -> Facility:
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
        access=row["access"],
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


class SQLiteSession(Session):
    """A :class:`~locator.stores.sql.Session` on one ``sqlite3`` connection (``?`` is native)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        #: Held while the connection is in use, so that :meth:`SQLiteStore.close` (from
        #: another thread) never closes it under a running statement (a crash in sqlite3).
        self.in_use = threading.RLock()

    def execute(self, query: str, params: Sequence[Any] = ()) -> int:
        return self.conn.execute(query, params).rowcount

    def one(self, query: str, params: Sequence[Any] = ()) -> Row | None:
        row: sqlite3.Row | None = self.conn.execute(query, params).fetchone()
        return row

    def all(self, query: str, params: Sequence[Any] = ()) -> builtins.list[Row]:
        return self.conn.execute(query, params).fetchall()

    def many(self, query: str, rows: Iterable[Sequence[Any]]) -> None:
        self.conn.executemany(query, rows)


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


class SQLiteStore(SQLStore[SQLiteSession]):
    """Facility store in one SQLite file (see the module docstring).

    Parameters
    ----------
    path : str or Path
        The database file; its directory is created if missing.
    timeout_s : float
        How long a writer waits for the write lock, seconds.
    """

    backend = "sqlite"
    REVISION_SQL = "SELECT value FROM meta WHERE key = 'revision'"
    BUMP_REVISION_SQL = "UPDATE meta SET value = value + 1 WHERE key = 'revision' RETURNING value"
    LIVE_REVISION_SQL = "SELECT value FROM meta WHERE key = 'live_revision'"
    BUMP_LIVE_REVISION_SQL = "UPDATE meta SET value = value + 1 WHERE key = 'live_revision' RETURNING value"

    def __init__(self, path: str | Path, *, timeout_s: float = 5.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.where = str(self.path)
        self.timeout_s = timeout_s
        self._local = threading.local()
        self._closed = False
        self._all_sessions: list[SQLiteSession] = []
        self._conns_lock = threading.Lock()

    # -- connections and transactions ---------------------------------------------------

    def _session(self) -> SQLiteSession:
        """The calling thread's connection (opened on first use)."""
        if self._closed:
            raise StoreUnavailableError("the store is closed")
        session: SQLiteSession | None = getattr(self._local, "session", None)
        if session is None:
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
            session = SQLiteSession(conn)
            self._local.session = session
            with self._conns_lock:
                self._all_sessions.append(session)
        return session

    @contextmanager
    def _begin(self, statement: str, session: SQLiteSession | None = None) -> Iterator[SQLiteSession]:
        """A transaction on ``session`` (default: the thread's); a busy database is a 503.

        Writers queue for the lock for ``timeout_s``; one that waits longer (e.g. while
        an import's final transaction runs) gets :class:`~locator.errors.StoreBusyError`
        with nothing written.
        """
        timeout_s = self.timeout_s if session is None else IMPORT_LOCK_TIMEOUT_S
        with _translated("write" if "IMMEDIATE" in statement else "read", timeout_s):
            s = self._session() if session is None else session
            with s.in_use:
                s.conn.execute(statement)
                try:
                    yield s
                except BaseException:
                    if s.conn.in_transaction:
                        s.conn.execute("ROLLBACK")
                    raise
                s.conn.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[SQLiteSession]:
        with _translated("read", self.timeout_s):
            s = self._session()
            with s.in_use:
                yield s

    def _snapshot(self) -> AbstractContextManager[SQLiteSession]:
        return self._begin("BEGIN")  # a read transaction: one snapshot (WAL)

    def _transaction(self) -> AbstractContextManager[SQLiteSession]:
        if self._import_committing():
            raise StoreBusyError(IMPORT_COMMITTING, retry_after_s=IMPORT_RETRY_AFTER_S)
        return self._begin("BEGIN IMMEDIATE")  # the write lock at once: writers queue

    @property
    def _import_lock_path(self) -> Path:
        return self.path.with_name(self.path.name + "-import.lock")

    def _import_committing(self) -> bool:
        """True while an import's final transaction runs (it holds its lock file exclusively).

        A write then fails at once instead of waiting up to ``timeout_s`` for the write
        lock, so that it never holds a worker for seconds. Costs one ``open`` (and,
        once a store has imported, one ``flock``) per write transaction.
        """
        try:
            fd = os.open(self._import_lock_path, os.O_RDONLY)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return False
        finally:
            os.close(fd)
        return False

    # -- imports --------------------------------------------------------------------------

    @contextmanager
    def _staging(self) -> Iterator[SQLiteSession]:
        """A connection of the import's own; the staging table is in its ``temp`` database.

        Writing a temporary table takes no lock on the store's file, so the staging
        phase never blocks a writer. The connection waits up to
        :data:`IMPORT_LOCK_TIMEOUT_S` for the write lock of the final transaction.
        """
        if self._closed:
            raise StoreUnavailableError("the store is closed")
        with _translated("import", IMPORT_LOCK_TIMEOUT_S):
            conn = sqlite3.connect(
                self.path, timeout=IMPORT_LOCK_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            try:
                conn.row_factory = sqlite3.Row
                conn.execute("PRAGMA foreign_keys=ON")
                conn.execute("PRAGMA temp_store=FILE")  # the staged rows spill to disk, not memory
                conn.execute("PRAGMA temp.cache_size=-32768")  # 32 MiB of page cache for them
                conn.execute(
                    "CREATE TEMP TABLE import_rows AS SELECT "
                    + ", ".join(WRITE_COLUMNS)
                    + ", NULL AS ord, NULL AS old_revision, NULL AS old_version, NULL AS changes "
                    "FROM facilities WHERE 1 = 0"
                )
                conn.execute("CREATE UNIQUE INDEX temp.import_rows_id ON import_rows (id)")
                yield SQLiteSession(conn)
            finally:
                conn.close()

    def _stage(self, s: SQLiteSession, rows: Sequence[Sequence[Any]]) -> None:
        marks = ", ".join("?" * len(STAGE_COLUMNS))
        insert = f"INSERT INTO import_rows ({', '.join(STAGE_COLUMNS)}) VALUES ({marks})"
        with self._begin("BEGIN", s):  # one transaction of the temp database only
            s.conn.executemany(insert, rows)

    @contextmanager
    def _merging(self, s: SQLiteSession, rows: int) -> Iterator[SQLiteSession]:
        """The final transaction, with the import lock file held exclusively (:meth:`_import_committing`)."""
        fd = os.open(self._import_lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # one import commits at a time
            with self._begin("BEGIN IMMEDIATE", s) as m:
                yield m
        finally:
            os.close(fd)  # releases the lock

    # -- migrations ---------------------------------------------------------------------

    def _migrations(self) -> Sequence[tuple[int, str, str]]:
        return MIGRATIONS

    def _migrating(self) -> AbstractContextManager[SQLiteSession]:
        @contextmanager
        def migrating() -> Iterator[SQLiteSession]:
            with self._begin("BEGIN IMMEDIATE") as s:
                s.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations "
                    "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
                )
                yield s

        return migrating()

    def _apply_migration(self, s: SQLiteSession, version: int, name: str, script: str) -> None:
        for statement in _split_sql(script):
            s.execute(statement)
        s.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
            (version, datetime.now(UTC).isoformat()),
        )

    # -- encodings ------------------------------------------------------------------------

    def _facility_values(self, f: Facility, revision: int) -> tuple[Any, ...]:
        return _facility_row(f, revision)

    def _facility(self, row: Row) -> Facility:
        return _row_to_facility(row)

    def _instant(self, value: datetime | None) -> Any:
        return None if value is None else _utc_text(value)

    def _from_instant(self, value: Any) -> datetime:
        return datetime.fromisoformat(value)

    def _array(self, values: Sequence[str]) -> Any:
        return json.dumps(list(values))

    def _from_array(self, value: Any) -> builtins.list[str]:
        items: builtins.list[str] = json.loads(value)
        return items

    def _json(self, value: Any) -> Any:
        return json.dumps(value, ensure_ascii=False)

    def _from_json(self, value: Any) -> Any:
        return json.loads(value)

    def _in(self, column: str, values: Collection[str]) -> tuple[str, builtins.list[Any]]:
        return f"{column} IN ({', '.join('?' * len(values))})", sorted(values)

    def _contains_all(self, column: str, values: Collection[str]) -> tuple[str, builtins.list[Any]]:
        clause = f"EXISTS (SELECT 1 FROM json_each({column}) WHERE value = ?)"
        return " AND ".join([clause] * len(values)), sorted(values)

    def _unique_violation(self, exc: BaseException) -> str | None:
        prefix = "UNIQUE constraint failed: "
        if isinstance(exc, sqlite3.IntegrityError) and str(exc).startswith(prefix):
            return str(exc)[len(prefix) :]
        return None

    # -- lifecycle ------------------------------------------------------------------------

    # -- backup and restore (BackupStore) -----------------------------------------------

    def backup(self, path: Path) -> None:
        """SQLite's online backup API: a consistent copy while others read and write."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.unlink(missing_ok=True)
        target = sqlite3.connect(tmp)
        try:
            self._session().conn.backup(target)
        finally:
            target.close()
        os.replace(tmp, path)

    def restore(self, path: Path) -> None:
        """Copy the backup's pages over the live database (one step for every reader)."""
        path = Path(path)
        try:
            source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                source.execute("SELECT count(*) FROM schema_migrations").fetchone()
                source.execute("SELECT value FROM meta WHERE key = 'revision'").fetchone()
            except sqlite3.Error:
                source.close()
                raise
        except sqlite3.Error as exc:
            raise ValidationError(f"{path} is not a backup of a SQLite store: {exc}", param="path") from None
        try:
            source.backup(self._session().conn)
        finally:
            source.close()

    def close(self) -> None:
        """Close every thread's connection; a connection in use is closed when its statement ends.

        Waits up to ``timeout_s`` per connection for a statement another thread is running
        (closing a ``sqlite3`` connection under a running statement crashes the process);
        one still busy after that is left to be closed by the garbage collector.
        """
        self._closed = True
        with self._conns_lock:
            sessions, self._all_sessions = self._all_sessions, []
        for session in sessions:
            if session.in_use.acquire(timeout=self.timeout_s):
                try:
                    session.conn.close()
                finally:
                    session.in_use.release()
        self._local = threading.local()
