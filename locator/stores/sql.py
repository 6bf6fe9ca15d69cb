"""The shared SQL store: the whole store contract written once, over a small dialect interface.

:class:`SQLStore` implements :class:`~locator.stores.contract.Store` — versions,
revisions, history, tombstones and change sets, checked batches, rider feedback,
accounts and tokens, partners, the report queue, list/count filters, the migration
runner — in SQL that SQLite and PostgreSQL both accept. A dialect
(:class:`~locator.stores.sqlite.SQLiteStore`, :class:`~locator.stores.postgis.PostGISStore`)
supplies only what really differs:

* **connections and transactions**: :meth:`SQLStore._read` (a connection for one or a few
  autocommit reads), :meth:`SQLStore._snapshot` (several reads in one consistent
  snapshot), :meth:`SQLStore._transaction` (a write transaction), each yielding a
  :class:`Session`; :meth:`SQLStore._announce` (PostGIS: ``NOTIFY``) and
  :meth:`SQLStore._saw_revision` (PostGIS: the listener's revision cache);
* **value encodings**: a facility row and back (:meth:`SQLStore._facility_values`,
  :meth:`SQLStore._facility`), instants (:meth:`SQLStore._instant`,
  :meth:`SQLStore._from_instant`), string arrays (:meth:`SQLStore._array`), JSON
  (:meth:`SQLStore._json`), set membership and containment in ``WHERE`` clauses
  (:meth:`SQLStore._in`, :meth:`SQLStore._contains_all`), and which driver error is a
  unique violation (:meth:`SQLStore._unique_violation`);
* **schema**: the revision counter's SQL (:attr:`SQLStore.REVISION_SQL`,
  :attr:`SQLStore.BUMP_REVISION_SQL`), row locks (:attr:`SQLStore.FOR_UPDATE`), the
  migration transaction and bookkeeping (:meth:`SQLStore._migrating`,
  :meth:`SQLStore._apply_migration`) and the list of migrations
  (:meth:`SQLStore._migrations`, from :mod:`locator.stores.migrations`).

Shared SQL is written with ``?`` placeholders; a :class:`Session` translates them to its
driver's style. Rows are read by column name only.

Writers serialise on the revision counter: every facility write starts with
:attr:`SQLStore.BUMP_REVISION_SQL` inside :meth:`SQLStore._transaction` (SQLite: in a
``BEGIN IMMEDIATE`` transaction; PostgreSQL: the counter's row lock), so revisions,
versions and history ``seq`` are in commit order. Partner, account, feedback and report
writes are transactions of their own that take no revision.
"""

from __future__ import annotations

import abc
import builtins
import dataclasses
import logging
import time
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from locator.core.domain import Facility, Feedback
from locator.core.live import LiveEvent
from locator.errors import ConflictError, NotFoundError, StoreBusyError, VersionConflictError
from locator.stores.contract import (
    SYSTEM,
    Actor,
    ApiToken,
    ChangeSet,
    DoorKey,
    FacilityImport,
    HistoryEntry,
    ListFilter,
    Partner,
    Report,
    Store,
    User,
    field_changes,
)

log = logging.getLogger(__name__)

#: One ``facilities`` column per Facility field, in the dataclass's order (``id`` first).
COLUMNS = tuple(f.name for f in dataclasses.fields(Facility))
#: The columns a facility write sets: every field and the store revision.
WRITE_COLUMNS = (*COLUMNS, "revision")
HISTORY_COLUMNS = ("facility_id", "revision", "version", "action", "actor", "reason", "at", "changes")
FEEDBACK_COLUMNS = (
    "id",
    "facility_id",
    "facility_version",
    "verdict",
    "reason",
    "comment",
    "client",
    "locale",
    "at",
)
PARTNER_COLUMNS = (
    "name",
    "origins",
    "daily_quota",
    "key_hash",
    "key_prefix",
    "created_at",
    "key_created_at",
    "revoked_at",
)
USER_COLUMNS = (
    "name",
    "role",
    "password_hash",
    "districts",
    "facilities",
    "active",
    "created_at",
    "session_epoch",
)
#: The columns ``add_user`` writes (the epoch starts at its default, 0).
NEW_USER_COLUMNS = USER_COLUMNS[:-1]
TOKEN_COLUMNS = ("id", "user_name", "token_hash", "label", "created_at", "revoked_at")
REPORT_COLUMNS = (
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


def _names(columns: Sequence[str]) -> str:
    return ", ".join(columns)


def _marks(n: int) -> str:
    return ", ".join("?" * n)


SELECT_FACILITIES = f"SELECT {_names(COLUMNS)} FROM facilities"
#: The staging table of an import (a temporary table of the import's own connection):
#: a facilities row (revision, version and updated_at are set when it is merged), its
#: position in the import, the revision and version of the row it replaces (None: a new
#: facility) and the history entry's ``changes`` against that row.
STAGE_COLUMNS = (*WRITE_COLUMNS, "ord", "old_revision", "old_version", "changes")
_STAGE_TABLE = "import_rows"
#: The answer to a write sent while an import's final transaction runs (503).
IMPORT_COMMITTING = "an import is being committed; nothing was written: try again in a few seconds"
#: ``Retry-After`` of that answer, seconds.
IMPORT_RETRY_AFTER_S = 5
#: Merge the staging table into ``facilities``: parameters ``(updated_at, revision)``.
MERGE_IMPORT = (
    f"INSERT INTO facilities ({_names(WRITE_COLUMNS)}) SELECT "
    + ", ".join(
        {"updated_at": "?", "version": "coalesce(old_version, 0) + 1", "revision": "?"}.get(c, c)
        for c in WRITE_COLUMNS
    )
    # in id order: the primary key's pages are filled one after another, not at random
    + f" FROM {_STAGE_TABLE} WHERE true ORDER BY id ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in WRITE_COLUMNS[1:])
)
#: The import's history entries, in staging order: parameters ``(revision, actor, reason, at)``.
INSERT_IMPORT_HISTORY = (
    f"INSERT INTO facility_history ({_names(HISTORY_COLUMNS)}) "
    "SELECT id, ?, coalesce(old_version, 0) + 1, 'import', ?, ?, ?, changes "
    f"FROM {_STAGE_TABLE} ORDER BY ord"
)
UPSERT_FACILITY = (
    f"INSERT INTO facilities ({_names(WRITE_COLUMNS)}) VALUES ({_marks(len(WRITE_COLUMNS))}) "
    "ON CONFLICT (id) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in WRITE_COLUMNS[1:])
)
UPDATE_FACILITY = (
    "UPDATE facilities SET "
    + ", ".join(f"{c} = ?" for c in WRITE_COLUMNS[1:])
    + " WHERE id = ? AND version = ?"
)
INSERT_HISTORY = (
    f"INSERT INTO facility_history ({_names(HISTORY_COLUMNS)}) VALUES ({_marks(len(HISTORY_COLUMNS))})"
)
LIVE_EVENT_COLUMNS = ("id", "revision", "facility_id", "source", "state", "at", "until", "reason", "actor")
DOOR_KEY_COLUMNS = ("id", "facility_id", "name", "salt", "created_at", "revoked_at")
_SELECT_LIVE = f"SELECT {_names(LIVE_EVENT_COLUMNS)} FROM live_events"
_SELECT_DOOR_KEYS = (
    f"SELECT {_names(['k.' + c for c in DOOR_KEY_COLUMNS])}, "
    "(SELECT max(e.at) FROM live_events e WHERE e.source = 'device' AND e.actor = k.id) AS last_seen_at "
    "FROM door_keys k"
)
_SELECT_HISTORY = f"SELECT seq, {_names(HISTORY_COLUMNS)} FROM facility_history"
_SELECT_FEEDBACK = f"SELECT {_names(FEEDBACK_COLUMNS)} FROM feedback"
_SELECT_PARTNERS = f"SELECT {_names(PARTNER_COLUMNS)} FROM partners"
_SELECT_USERS = f"SELECT {_names(USER_COLUMNS)} FROM users"
_SELECT_TOKENS = f"SELECT {_names(TOKEN_COLUMNS)} FROM api_tokens"
_SELECT_REPORTS = f"SELECT {_names(REPORT_COLUMNS)} FROM rider_reports"


class Row(Protocol):
    """A result row, read by column name (``sqlite3.Row``, a psycopg ``dict_row``)."""

    def __getitem__(self, key: str, /) -> Any: ...


class Session(abc.ABC):
    """One database connection lent to one store operation.

    Queries use ``?`` placeholders (one per value, positional); parameters are always
    bound, never formatted into the text.
    """

    @abc.abstractmethod
    def execute(self, query: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return the number of rows it changed."""

    @abc.abstractmethod
    def one(self, query: str, params: Sequence[Any] = ()) -> Row | None:
        """Run one statement; return its first row, or None."""

    @abc.abstractmethod
    def all(self, query: str, params: Sequence[Any] = ()) -> builtins.list[Row]:
        """Run one statement; return every row."""

    @abc.abstractmethod
    def many(self, query: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement once per parameter row."""


S = TypeVar("S", bound=Session)


def history_changes(old: Facility | None, new: Facility | None) -> dict[str, list[Any]]:
    """:func:`~locator.stores.contract.field_changes`, not counting a bare change of UTC offset.

    ``verified_at`` given in another offset but at the same instant is no change
    (PostgreSQL keeps no offset at all, so it could not record one).
    """
    if old is not None and new is not None and old.verified_at == new.verified_at:
        new = new.replace(verified_at=old.verified_at)
    return field_changes(old, new)


class SQLImport(FacilityImport):
    """An import staged in a temporary table of its own connection (see :meth:`SQLStore.importing`)."""

    def __init__(self, store: SQLStore[Any], s: Session, start_revision: int) -> None:
        self.store = store
        self.s = s
        #: The store revision before the first staged row was read: a stored row that
        #: changes after its state was staged has a revision above it.
        self.start_revision = start_revision
        self.staged = 0

    def add(self, facilities: Sequence[Facility]) -> None:
        ids = check_unique_ids(facilities, "import")
        if not facilities:
            return
        store = self.store
        current = store._current_many(self.s, ids)
        rows = []
        for f in facilities:
            self.staged += 1
            old, old_revision = current.get(f.id, (None, None))
            rows.append(
                (
                    *store._facility_values(f, 0),
                    self.staged,
                    old_revision,
                    None if old is None else old.version,
                    store._json(history_changes(old, f)),
                )
            )
        try:
            store._stage(self.s, rows)
        except Exception as exc:
            if store._unique_violation(exc) is None:
                raise
            raise ConflictError("duplicate ids in one import", param="id") from exc


def check_unique_ids(facilities: Sequence[Facility], what: str) -> builtins.list[str]:
    """The ids of ``facilities``, in order.

    Raises
    ------
    ConflictError
        If an id repeats (``what`` names the operation in the message).
    """
    ids = [f.id for f in facilities]
    if len(set(ids)) != len(ids):
        raise ConflictError(f"duplicate ids in one {what}", param="id")
    return ids


class SQLStore(Store, Generic[S]):
    """The store contract in shared SQL; subclasses supply the dialect (see the module docstring).

    Adding a table's operations means writing them here once, with ``?`` placeholders
    and the value hooks; adding a migration means adding one ``.sql`` file per dialect
    under :mod:`locator.stores.migrations`.
    """

    #: Read the store revision (one row, column ``value``).
    REVISION_SQL: ClassVar[str]
    #: Read the live revision (one row, column ``value``).
    LIVE_REVISION_SQL: ClassVar[str]
    #: Take the next live revision (``UPDATE … RETURNING value``); it serialises live writers.
    BUMP_LIVE_REVISION_SQL: ClassVar[str]
    #: Take the next revision (``UPDATE … RETURNING value``); it also serialises writers.
    BUMP_REVISION_SQL: ClassVar[str]
    #: What a facility write (not an import) takes its revision with: no row while an
    #: import's final transaction runs (PostGIS: an advisory lock), so that the writer
    #: fails at once instead of waiting for it. Default: :attr:`BUMP_REVISION_SQL`.
    WRITE_BUMP_SQL: ClassVar[str] = ""
    #: Appended to a ``SELECT`` that reads rows a write transaction is about to change.
    FOR_UPDATE: ClassVar[str] = ""
    #: Most ids per :meth:`_in` clause when reading or writing many facilities.
    IN_CHUNK: ClassVar[int] = 5_000

    #: Where the data is (a path or ``user@host:port/dbname``), for messages and logs.
    where: str = ""

    # -- the dialect interface --------------------------------------------------------

    @abc.abstractmethod
    def _read(self) -> AbstractContextManager[S]:
        """A session for reads, each statement in its own (autocommit) transaction."""

    @abc.abstractmethod
    def _snapshot(self) -> AbstractContextManager[S]:
        """A read-only session whose statements all see one consistent snapshot."""

    @abc.abstractmethod
    def _transaction(self) -> AbstractContextManager[S]:
        """A write transaction: committed when the block ends, rolled back if it raises."""

    @abc.abstractmethod
    def _migrating(self) -> AbstractContextManager[S]:
        """The migration transaction: one migrator at a time, ``schema_migrations`` exists."""

    @abc.abstractmethod
    def _migrations(self) -> Sequence[tuple[int, str, str]]:
        """The dialect's migrations, ``(version, name, script)`` in version order."""

    @abc.abstractmethod
    def _apply_migration(self, s: S, version: int, name: str, script: str) -> None:
        """Run one migration's script and record its version in ``schema_migrations``."""

    @abc.abstractmethod
    def _facility_values(self, f: Facility, revision: int) -> tuple[Any, ...]:
        """A ``facilities`` row as parameters, in :data:`WRITE_COLUMNS` order."""

    @abc.abstractmethod
    def _facility(self, row: Row) -> Facility:
        """The facility of a row holding :data:`COLUMNS`."""

    @abc.abstractmethod
    def _instant(self, value: datetime | None) -> Any:
        """A timezone-aware instant (or None) as a parameter."""

    @abc.abstractmethod
    def _from_instant(self, value: Any) -> datetime:
        """A stored instant as a timezone-aware datetime (UTC)."""

    @abc.abstractmethod
    def _array(self, values: Sequence[str]) -> Any:
        """A list of strings as a parameter, order kept."""

    @abc.abstractmethod
    def _from_array(self, value: Any) -> builtins.list[str]:
        """A stored list of strings."""

    @abc.abstractmethod
    def _json(self, value: Any) -> Any:
        """A JSON-compatible value as a parameter."""

    @abc.abstractmethod
    def _from_json(self, value: Any) -> Any:
        """A stored JSON value, decoded."""

    @abc.abstractmethod
    def _in(self, column: str, values: Collection[str]) -> tuple[str, builtins.list[Any]]:
        """``(clause, params)``: ``column`` is one of ``values`` (never empty)."""

    @abc.abstractmethod
    def _contains_all(self, column: str, values: Collection[str]) -> tuple[str, builtins.list[Any]]:
        """``(clause, params)``: the array column ``column`` holds every one of ``values``."""

    @abc.abstractmethod
    def _unique_violation(self, exc: BaseException) -> str | None:
        """The violated unique key's name (table/column) if ``exc`` is a unique violation, else None."""

    @abc.abstractmethod
    def _staging(self) -> AbstractContextManager[S]:
        """A session on a connection of the import's own, holding the empty staging table.

        Its statements autocommit; the temporary table ``import_rows``
        (:data:`STAGE_COLUMNS`, unique ``id``) lives as long as the session.
        """

    @abc.abstractmethod
    def _stage(self, s: S, rows: Sequence[Sequence[Any]]) -> None:
        """Append rows (:data:`STAGE_COLUMNS` order) to the staging table, in one go."""

    @abc.abstractmethod
    def _merging(self, s: S, rows: int) -> AbstractContextManager[S]:
        """The import's final write transaction, on the staging session (``rows`` staged)."""

    def _announce(self, s: S, revision: int) -> None:  # noqa: B027 - optional hook
        """Last statement of a facility write's transaction (PostGIS: ``NOTIFY``)."""

    def _saw_revision(self, revision: int) -> None:  # noqa: B027 - optional hook
        """Called with every revision the store read or committed (PostGIS: the cache)."""

    def _announce_live(self, s: S, revision: int) -> None:  # noqa: B027 - optional hook
        """Last statement of a live write's transaction (PostGIS: ``NOTIFY``)."""

    def _saw_live_revision(self, revision: int) -> None:  # noqa: B027 - optional hook
        """Called with every live revision the store read or committed (PostGIS: the cache)."""

    # -- helpers ------------------------------------------------------------------------

    def _maybe_instant(self, value: Any) -> datetime | None:
        return None if value is None else self._from_instant(value)

    @contextmanager
    def _write(self) -> Iterator[tuple[S, int, datetime]]:
        """A facility write: a transaction, its revision and its commit time (UTC)."""
        with self._transaction() as s:
            row = s.one(self.WRITE_BUMP_SQL or self.BUMP_REVISION_SQL)
            if row is None:
                raise StoreBusyError(IMPORT_COMMITTING, retry_after_s=IMPORT_RETRY_AFTER_S)
            revision = int(row["value"])
            yield s, revision, datetime.now(UTC)
            self._announce(s, revision)
        self._saw_revision(revision)

    def _history_values(
        self,
        revision: int,
        at: datetime,
        action: str,
        actor: Actor,
        old: Facility | None,
        new: Facility | None,
        facility_id: str,
    ) -> tuple[Any, ...]:
        """One ``facility_history`` row, in :data:`HISTORY_COLUMNS` order."""
        return (
            facility_id,
            revision,
            0 if new is None else new.version,
            action,
            actor.name,
            actor.reason,
            self._instant(at),
            self._json(history_changes(old, new)),
        )

    def _fetch(self, s: S, facility_id: str) -> Facility | None:
        row = s.one(SELECT_FACILITIES + " WHERE id = ?" + self.FOR_UPDATE, (facility_id,))
        return None if row is None else self._facility(row)

    def _fetch_many(self, s: S, ids: Sequence[str]) -> dict[str, Facility]:
        """The stored facilities among ``ids`` (locked for the transaction where supported)."""
        found: dict[str, Facility] = {}
        for start in range(0, len(ids), self.IN_CHUNK):
            clause, params = self._in("id", ids[start : start + self.IN_CHUNK])
            for row in s.all(f"{SELECT_FACILITIES} WHERE {clause} ORDER BY id{self.FOR_UPDATE}", params):
                f = self._facility(row)
                found[f.id] = f
        return found

    def _current_many(self, s: S, ids: Sequence[str]) -> dict[str, tuple[Facility, int]]:
        """The stored facilities among ``ids`` with their revisions (no locks)."""
        found: dict[str, tuple[Facility, int]] = {}
        for start in range(0, len(ids), self.IN_CHUNK):
            clause, params = self._in("id", ids[start : start + self.IN_CHUNK])
            for row in s.all(f"SELECT {_names(COLUMNS)}, revision FROM facilities WHERE {clause}", params):
                f = self._facility(row)
                found[f.id] = (f, int(row["revision"]))
        return found

    def _put_many(
        self,
        s: S,
        stored: Sequence[Facility],
        old: Mapping[str, Facility],
        revision: int,
        at: datetime,
        actor: Actor,
    ) -> None:
        """Upsert ``stored`` (versions set), clear their tombstones, log ``import`` history."""
        s.many(UPSERT_FACILITY, [self._facility_values(f, revision) for f in stored])
        ids = [f.id for f in stored]
        for start in range(0, len(ids), self.IN_CHUNK):
            clause, params = self._in("id", ids[start : start + self.IN_CHUNK])
            s.execute("DELETE FROM tombstones WHERE " + clause, params)
        s.many(
            INSERT_HISTORY,
            [self._history_values(revision, at, "import", actor, old.get(f.id), f, f.id) for f in stored],
        )

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

    def _where(self, flt: ListFilter | None) -> tuple[str, builtins.list[Any]]:
        if flt is None:
            return "", []
        clauses: builtins.list[str] = []
        params: builtins.list[Any] = []
        if flt.bbox is not None:
            clauses.append("lon BETWEEN ? AND ? AND lat BETWEEN ? AND ?")
            params += [flt.bbox[0], flt.bbox[2], flt.bbox[1], flt.bbox[3]]
        for column, values in (
            ("kind", flt.kinds),
            ("status", flt.statuses),
            ("district_adcode", flt.district_adcodes),
            ("id", flt.ids),
        ):
            if values is None:
                continue
            if not values:
                clauses.append("1 = 0")
                continue
            clause, more = self._in(column, values)
            clauses.append(clause)
            params += more
        if flt.amenities:
            clause, more = self._contains_all("amenities", flt.amenities)
            clauses.append(clause)
            params += more
        if flt.modified_since is not None:
            clauses.append("updated_at > ?")
            params.append(self._instant(flt.modified_since))
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    # -- schema ---------------------------------------------------------------------------

    def init_schema(self) -> None:
        """Apply every migration not yet recorded in ``schema_migrations``, in version order.

        All pending steps run in one transaction (:meth:`_migrating`); a recorded
        version is never re-applied.
        """
        with self._migrating() as s:
            done = {int(r["version"]) for r in s.all("SELECT version FROM schema_migrations")}
            for version, name, script in self._migrations():
                if version in done:
                    continue
                log.info("applying schema migration %s (%s) on %s", version, name, self.where)
                self._apply_migration(s, version, name, script)
            row = s.one(self.REVISION_SQL)
        assert row is not None
        self._saw_revision(int(row["value"]))

    # -- facility reads -------------------------------------------------------------------

    def get(self, facility_id: str) -> Facility:
        with self._read() as s:
            row = s.one(SELECT_FACILITIES + " WHERE id = ?", (facility_id,))
        if row is None:
            raise NotFoundError(f"no facility with id {facility_id!r}", param="id")
        return self._facility(row)

    def list(
        self, flt: ListFilter | None = None, *, limit: int | None = None, offset: int = 0
    ) -> builtins.list[Facility]:
        """Facilities matching ``flt`` in ascending id (byte) order, paged by limit/offset."""
        where, params = self._where(flt)
        query = SELECT_FACILITIES + where + " ORDER BY id"
        if limit is not None:
            query += " LIMIT ? OFFSET ?"
            params += [limit, offset]
        with self._read() as s:
            rows = s.all(query, params)
        return [self._facility(r) for r in rows]

    def count(self, flt: ListFilter | None = None) -> int:
        where, params = self._where(flt)
        with self._read() as s:
            row = s.one("SELECT count(*) AS n FROM facilities" + where, params)
        assert row is not None
        return int(row["n"])

    def revision(self) -> int:
        with self._read() as s:
            row = s.one(self.REVISION_SQL)
        assert row is not None
        return int(row["value"])

    def changes_since(self, revision: int) -> ChangeSet:
        """Everything written after ``revision``, read in one snapshot."""
        with self._snapshot() as s:
            row = s.one(self.REVISION_SQL)
            assert row is not None
            current = int(row["value"])
            # No ORDER BY: SQLite would walk the primary key instead of the revision index
            # (0.9 s at 1M rows for one edit); ids sort the same in Python (code points =
            # UTF-8 bytes = COLLATE "C").
            changed = s.all(SELECT_FACILITIES + " WHERE revision > ?", (revision,))
            deleted = s.all("SELECT id FROM tombstones WHERE revision > ?", (revision,))
        self._saw_revision(current)
        facilities = sorted((self._facility(r) for r in changed), key=lambda f: f.id)
        return ChangeSet(current, facilities, sorted(r["id"] for r in deleted))

    def history(self, facility_id: str) -> builtins.list[HistoryEntry]:
        """Return the history of one facility, oldest first (``at`` in UTC)."""
        with self._read() as s:
            rows = s.all(_SELECT_HISTORY + " WHERE facility_id = ? ORDER BY seq", (facility_id,))
        return [
            HistoryEntry(
                seq=int(r["seq"]),
                facility_id=r["facility_id"],
                revision=int(r["revision"]),
                version=int(r["version"]),
                action=r["action"],
                actor=r["actor"],
                reason=r["reason"],
                at=self._from_instant(r["at"]),
                changes=self._from_json(r["changes"]),
            )
            for r in rows
        ]

    # -- facility writes ------------------------------------------------------------------

    def add(self, facility: Facility, actor: Actor = SYSTEM) -> Facility:
        with self._write() as (s, revision, at):
            if self._fetch(s, facility.id) is not None:
                raise ConflictError(f"a facility with id {facility.id!r} exists", param="id")
            stored = facility.replace(version=1, updated_at=at)
            s.execute(UPSERT_FACILITY, self._facility_values(stored, revision))
            s.execute("DELETE FROM tombstones WHERE id = ?", (stored.id,))
            s.execute(
                INSERT_HISTORY, self._history_values(revision, at, "create", actor, None, stored, stored.id)
            )
        return stored

    def update(self, facility: Facility, expected_version: int, actor: Actor = SYSTEM) -> Facility:
        with self._write() as (s, revision, at):
            old = self._check_version(self._fetch(s, facility.id), facility.id, expected_version)
            stored = facility.replace(version=old.version + 1, updated_at=at)
            values = self._facility_values(stored, revision)
            changed = s.execute(UPDATE_FACILITY, (*values[1:], facility.id, expected_version))
            if changed != 1:  # pragma: no cover - the write lock above makes this unreachable
                raise VersionConflictError(
                    f"facility {facility.id!r} changed concurrently", current_version=old.version
                )
            s.execute(
                INSERT_HISTORY, self._history_values(revision, at, "update", actor, old, stored, stored.id)
            )
        return stored

    def delete(self, facility_id: str, expected_version: int, actor: Actor = SYSTEM) -> None:
        with self._write() as (s, revision, at):
            old = self._check_version(self._fetch(s, facility_id), facility_id, expected_version)
            s.execute("DELETE FROM facilities WHERE id = ? AND version = ?", (facility_id, expected_version))
            s.execute(
                "INSERT INTO tombstones (id, revision) VALUES (?, ?) "
                "ON CONFLICT (id) DO UPDATE SET revision = excluded.revision",
                (facility_id, revision),
            )
            s.execute(
                INSERT_HISTORY, self._history_values(revision, at, "delete", actor, old, None, facility_id)
            )

    def import_many(self, facilities: Sequence[Facility], actor: Actor = SYSTEM) -> int:
        """One batch imported through :meth:`importing` (the same staging and merge)."""
        check_unique_ids(facilities, "import")
        if not facilities:
            return 0  # nothing to write: no revision, no notification
        with self.importing(actor) as imp:
            imp.add(facilities)
        return imp.staged

    @contextmanager
    def importing(self, actor: Actor = SYSTEM) -> Iterator[FacilityImport]:
        """Stage batches apart, then merge them in one short transaction (see the contract).

        Staging (:meth:`SQLImport.add`) reads the rows each batch replaces (no lock),
        computes their history entries and appends the batch to a temporary table of
        the import's own connection. The merge then takes the write lock (the revision
        counter), re-computes the history of any staged facility written by someone else
        meanwhile (those with a revision above the one read before staging), and writes
        everything with three set-based statements: the upsert into ``facilities``
        (:data:`MERGE_IMPORT`), the tombstones' removal and the history
        (:data:`INSERT_IMPORT_HISTORY`). Only those statements hold the lock.
        """
        with self._staging() as s:
            row = s.one(self.REVISION_SQL)
            assert row is not None
            imp = SQLImport(self, s, int(row["value"]))
            yield imp
            if imp.staged:
                imp.revision = self._merge_import(s, imp, actor)

    def _merge_import(self, s: S, imp: SQLImport, actor: Actor) -> int:
        with self._merging(s, imp.staged) as m:
            row = m.one(self.BUMP_REVISION_SQL)
            assert row is not None
            locked = time.perf_counter()
            revision = int(row["value"])
            at = datetime.now(UTC)
            self._restage_moved(m, imp.start_revision)
            m.execute(MERGE_IMPORT, (self._instant(at), revision))
            m.execute(f"DELETE FROM tombstones WHERE id IN (SELECT id FROM {_STAGE_TABLE})")
            m.execute(INSERT_IMPORT_HISTORY, (revision, actor.name, actor.reason, self._instant(at)))
            self._announce(m, revision)
        log.info(
            "import of %s facilities committed at revision %s on %s; write lock held %.2f s",
            imp.staged,
            revision,
            self.where,
            time.perf_counter() - locked,
        )
        self._saw_revision(revision)
        return revision

    def _restage_moved(self, s: S, since: int) -> None:
        """Re-base the staged rows whose stored facility was written after ``since``.

        Their old revision, old version and history ``changes`` are computed again from
        what is stored now (the caller holds the write lock, so it cannot move again).
        """
        moved = s.all(
            f"SELECT i.id AS id FROM facilities f JOIN {_STAGE_TABLE} i ON i.id = f.id "
            "WHERE f.revision > ? AND f.revision IS DISTINCT FROM i.old_revision "
            f"UNION SELECT i.id AS id FROM tombstones t JOIN {_STAGE_TABLE} i ON i.id = t.id "
            "WHERE t.revision > ? AND i.old_revision IS NOT NULL",
            (since, since),
        )
        ids = sorted(r["id"] for r in moved)
        for start in range(0, len(ids), self.IN_CHUNK):
            part = ids[start : start + self.IN_CHUNK]
            current = self._current_many(s, part)
            clause, params = self._in("id", part)
            updates = []
            for r in s.all(f"SELECT {_names(COLUMNS)} FROM {_STAGE_TABLE} WHERE {clause}", params):
                new = self._facility(r)
                old, old_revision = current.get(new.id, (None, None))
                version = None if old is None else old.version
                updates.append((old_revision, version, self._json(history_changes(old, new)), new.id))
            s.many(
                f"UPDATE {_STAGE_TABLE} SET old_revision = ?, old_version = ?, changes = ? WHERE id = ?",
                updates,
            )

    def count_changes_since(self, revision: int) -> int:
        with self._snapshot() as s:
            changed = s.one("SELECT count(*) AS n FROM facilities WHERE revision > ?", (revision,))
            deleted = s.one("SELECT count(*) AS n FROM tombstones WHERE revision > ?", (revision,))
        assert changed is not None and deleted is not None
        return int(changed["n"]) + int(deleted["n"])

    def write_batch(
        self,
        facilities: Sequence[Facility],
        expected_versions: Mapping[str, int | None],
        actor: Actor = SYSTEM,
    ) -> int:
        """Insert or replace facilities, each only if unchanged since read (one transaction).

        See :meth:`~locator.stores.contract.CheckedBatchStore.write_batch`. The stored
        versions are read inside the write transaction, after the revision lock (and
        ``FOR UPDATE`` where supported), so a concurrent update either committed before
        (and this batch fails with ``VersionConflictError``, writing nothing) or waits.
        """
        ids = check_unique_ids(facilities, "batch")
        missing = [i for i in ids if i not in expected_versions]
        if missing:
            raise ValueError(f"no expected version for {missing[0]!r}")
        if not facilities:
            return 0  # nothing to write: no revision, no notification
        with self._write() as (s, revision, at):
            old = self._fetch_many(s, ids)
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
            self._put_many(s, stored, old, revision, at, actor)
        return len(facilities)

    # -- rider feedback -------------------------------------------------------------------

    def _feedback(self, row: Row) -> Feedback:
        return Feedback(
            facility_id=row["facility_id"],
            verdict=row["verdict"],
            at=self._from_instant(row["at"]),
            reason=row["reason"],
            comment=row["comment"],
            client=row["client"],
            facility_version=int(row["facility_version"]),
            locale=row["locale"],
            id=int(row["id"]),
        )

    def add_feedback(self, feedback: Feedback) -> Feedback:
        """Store one rider report (no revision, no notification: facilities are unchanged)."""
        with self._transaction() as s:
            row = s.one(
                f"INSERT INTO feedback ({_names(FEEDBACK_COLUMNS[1:])}) "
                f"VALUES ({_marks(len(FEEDBACK_COLUMNS) - 1)}) RETURNING id",
                (
                    feedback.facility_id,
                    feedback.facility_version,
                    feedback.verdict,
                    feedback.reason,
                    feedback.comment,
                    feedback.client,
                    feedback.locale,
                    self._instant(feedback.at),
                ),
            )
        assert row is not None
        return dataclasses.replace(feedback, id=int(row["id"]))

    def list_feedback(
        self,
        facility_id: str | None = None,
        *,
        since: datetime | None = None,
        verdict: str | None = None,
        limit: int | None = None,
    ) -> builtins.list[Feedback]:
        """Rider reports, newest first (``at`` in UTC)."""
        clauses: builtins.list[str] = []
        params: builtins.list[Any] = []
        if facility_id is not None:
            clauses.append("facility_id = ?")
            params.append(facility_id)
        if since is not None:
            clauses.append("at > ?")
            params.append(self._instant(since))
        if verdict is not None:
            clauses.append("verdict = ?")
            params.append(verdict)
        query = _SELECT_FEEDBACK
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        query += " ORDER BY at DESC, id DESC"
        if limit is not None:
            query += " LIMIT ?"
            params.append(limit)
        with self._read() as s:
            rows = s.all(query, params)
        return [self._feedback(r) for r in rows]

    # -- partners (PartnerStore) ----------------------------------------------------------

    def _partner(self, row: Row) -> Partner:
        return Partner(
            name=row["name"],
            origins=tuple(self._from_array(row["origins"])),
            daily_quota=int(row["daily_quota"]),
            key_hash=row["key_hash"],
            key_prefix=row["key_prefix"],
            created_at=self._from_instant(row["created_at"]),
            key_created_at=self._from_instant(row["key_created_at"]),
            revoked_at=self._maybe_instant(row["revoked_at"]),
        )

    def add_partner(self, partner: Partner) -> Partner:
        """Store a new partner (see :meth:`~locator.stores.contract.PartnerStore.add_partner`)."""
        with self._transaction() as s:
            try:
                row = s.one(
                    f"INSERT INTO partners ({_names(PARTNER_COLUMNS)}) "
                    f"VALUES ({_marks(len(PARTNER_COLUMNS))}) RETURNING {_names(PARTNER_COLUMNS)}",
                    (
                        partner.name,
                        self._array(list(partner.origins)),
                        partner.daily_quota,
                        partner.key_hash,
                        partner.key_prefix,
                        self._instant(partner.created_at),
                        self._instant(partner.key_created_at),
                        self._instant(partner.revoked_at),
                    ),
                )
            except Exception as exc:
                key = self._unique_violation(exc)
                if key is None:
                    raise  # a CHECK: the driver's integrity error, as the contract says
                if "key_hash" in key:
                    raise ConflictError("this key hash is already in use", param="key") from exc
                raise ConflictError(f"a partner named {partner.name!r} exists", param="name") from exc
        assert row is not None
        return self._partner(row)

    def get_partner(self, name: str) -> Partner:
        with self._read() as s:
            row = s.one(_SELECT_PARTNERS + " WHERE name = ?", (name,))
        if row is None:
            raise NotFoundError(f"no partner named {name!r}", param="name")
        return self._partner(row)

    def partner_by_key_hash(self, key_hash: str) -> Partner | None:
        with self._read() as s:
            row = s.one(_SELECT_PARTNERS + " WHERE key_hash = ?", (key_hash,))
        return None if row is None else self._partner(row)

    def list_partners(self) -> builtins.list[Partner]:
        """Every partner, revoked ones included, in name (byte) order."""
        with self._read() as s:
            rows = s.all(_SELECT_PARTNERS + " ORDER BY name")
        return [self._partner(r) for r in rows]

    def set_partner_key(self, name: str, key_hash: str, key_prefix: str, at: datetime) -> Partner:
        """Replace the partner's key (see :meth:`~locator.stores.contract.PartnerStore.set_partner_key`).

        The partner's row is read for update first, so a concurrent revocation either
        commits before (and this raises ``ConflictError``) or waits.
        """
        with self._transaction() as s:
            row = s.one("SELECT revoked_at FROM partners WHERE name = ?" + self.FOR_UPDATE, (name,))
            if row is None:
                raise NotFoundError(f"no partner named {name!r}", param="name")
            if row["revoked_at"] is not None:
                raise ConflictError(f"partner {name!r} is revoked", param="name")
            try:
                row = s.one(
                    "UPDATE partners SET key_hash = ?, key_prefix = ?, key_created_at = ? "
                    f"WHERE name = ? RETURNING {_names(PARTNER_COLUMNS)}",
                    (key_hash, key_prefix, self._instant(at), name),
                )
            except Exception as exc:
                if self._unique_violation(exc) is None:
                    raise
                raise ConflictError("this key hash is already in use", param="key") from exc
        assert row is not None
        return self._partner(row)

    def revoke_partner(self, name: str, at: datetime) -> Partner:
        """Mark the partner revoked at ``at``, keeping an earlier revocation's time."""
        with self._transaction() as s:
            row = s.one(
                "UPDATE partners SET revoked_at = coalesce(revoked_at, ?) "
                f"WHERE name = ? RETURNING {_names(PARTNER_COLUMNS)}",
                (self._instant(at), name),
            )
        if row is None:
            raise NotFoundError(f"no partner named {name!r}", param="name")
        return self._partner(row)

    # -- accounts (AccountStore) ----------------------------------------------------------

    def _user(self, row: Row) -> User:
        return User(
            name=row["name"],
            role=row["role"],
            password_hash=row["password_hash"],
            districts=frozenset(self._from_array(row["districts"])),
            facilities=frozenset(self._from_array(row["facilities"])),
            active=bool(row["active"]),
            created_at=self._maybe_instant(row["created_at"]),
            session_epoch=int(row["session_epoch"]),
        )

    def _token(self, row: Row) -> ApiToken:
        return ApiToken(
            id=row["id"],
            user_name=row["user_name"],
            token_hash=row["token_hash"],
            label=row["label"],
            created_at=self._maybe_instant(row["created_at"]),
            revoked_at=self._maybe_instant(row["revoked_at"]),
        )

    def add_user(self, user: User) -> User:
        with self._transaction() as s:
            try:
                row = s.one(
                    f"INSERT INTO users ({_names(NEW_USER_COLUMNS)}) "
                    f"VALUES ({_marks(len(NEW_USER_COLUMNS))}) "
                    f"RETURNING {_names(USER_COLUMNS)}",
                    (
                        user.name,
                        user.role,
                        user.password_hash,
                        self._array(sorted(user.districts)),
                        self._array(sorted(user.facilities)),
                        user.active,
                        self._instant(datetime.now(UTC)),
                    ),
                )
            except Exception as exc:
                if self._unique_violation(exc) is None:
                    raise
                raise ConflictError(f"a user named {user.name!r} exists", param="name") from exc
        assert row is not None
        return self._user(row)

    def get_user(self, name: str) -> User:
        with self._read() as s:
            row = s.one(_SELECT_USERS + " WHERE name = ?", (name,))
        if row is None:
            raise NotFoundError(f"no user named {name!r}", param="name")
        return self._user(row)

    def list_users(self) -> builtins.list[User]:
        """Every user, in name (byte) order."""
        with self._read() as s:
            rows = s.all(_SELECT_USERS + " ORDER BY name")
        return [self._user(r) for r in rows]

    def update_user(self, user: User) -> User:
        with self._transaction() as s:
            row = s.one(
                "UPDATE users SET role = ?, password_hash = ?, districts = ?, facilities = ?, active = ? "
                f"WHERE name = ? RETURNING {_names(USER_COLUMNS)}",
                (
                    user.role,
                    user.password_hash,
                    self._array(sorted(user.districts)),
                    self._array(sorted(user.facilities)),
                    user.active,
                    user.name,
                ),
            )
        if row is None:
            raise NotFoundError(f"no user named {user.name!r}", param="name")
        return self._user(row)

    def end_sessions(self, name: str) -> User:
        with self._transaction() as s:
            row = s.one(
                "UPDATE users SET session_epoch = session_epoch + 1 WHERE name = ? "
                f"RETURNING {_names(USER_COLUMNS)}",
                (name,),
            )
        if row is None:
            raise NotFoundError(f"no user named {name!r}", param="name")
        return self._user(row)

    # -- counters (CounterStore) ----------------------------------------------------------

    def incr_counter(self, key: str, expiry_s: float, amount: int = 1) -> int:
        now = datetime.now(UTC)
        expires = self._instant(now + timedelta(seconds=expiry_s))
        at = self._instant(now)
        with self._transaction() as s:
            row = s.one(
                "INSERT INTO counters (key, value, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET "
                "value = CASE WHEN counters.expires_at <= ? THEN excluded.value "
                "ELSE counters.value + excluded.value END, "
                "expires_at = CASE WHEN counters.expires_at <= ? THEN excluded.expires_at "
                "ELSE counters.expires_at END "
                "RETURNING value",
                (key, amount, expires, at, at),
            )
        assert row is not None
        return int(row["value"])

    def get_counter(self, key: str) -> tuple[int, datetime | None]:
        with self._read() as s:
            row = s.one(
                "SELECT value, expires_at FROM counters WHERE key = ? AND expires_at > ?",
                (key, self._instant(datetime.now(UTC))),
            )
        if row is None:
            return 0, None
        return int(row["value"]), self._from_instant(row["expires_at"])

    def clear_counter(self, key: str) -> None:
        with self._transaction() as s:
            s.execute(
                "DELETE FROM counters WHERE key = ? OR expires_at <= ?",
                (key, self._instant(datetime.now(UTC))),
            )

    def add_token(self, token: ApiToken) -> ApiToken:
        with self._transaction() as s:
            if s.one("SELECT 1 AS found FROM users WHERE name = ?", (token.user_name,)) is None:
                raise NotFoundError(f"no user named {token.user_name!r}", param="name")
            try:
                row = s.one(
                    "INSERT INTO api_tokens (id, user_name, token_hash, label, created_at) "
                    f"VALUES (?, ?, ?, ?, ?) RETURNING {_names(TOKEN_COLUMNS)}",
                    (
                        token.id,
                        token.user_name,
                        token.token_hash,
                        token.label,
                        self._instant(datetime.now(UTC)),
                    ),
                )
            except Exception as exc:
                if self._unique_violation(exc) is None:
                    raise
                raise ConflictError("a token with this id or hash exists", param="token") from exc
        assert row is not None
        return self._token(row)

    def find_token(self, token_hash: str) -> ApiToken | None:
        with self._read() as s:
            row = s.one(_SELECT_TOKENS + " WHERE token_hash = ?", (token_hash,))
        return None if row is None else self._token(row)

    def list_tokens(self, user_name: str | None = None) -> builtins.list[ApiToken]:
        with self._read() as s:
            if user_name is None:
                rows = s.all(_SELECT_TOKENS + " ORDER BY created_at, id")
            else:
                rows = s.all(_SELECT_TOKENS + " WHERE user_name = ? ORDER BY created_at, id", (user_name,))
        return [self._token(r) for r in rows]

    def revoke_token(self, token_id: str) -> None:
        """Mark a token revoked, keeping an earlier revocation's time (idempotent)."""
        with self._transaction() as s:
            changed = s.execute(
                "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?",
                (self._instant(datetime.now(UTC)), token_id),
            )
            if changed != 1:
                raise NotFoundError(f"no token {token_id!r}", param="token")

    # -- rider reports (ReportStore) ------------------------------------------------------

    def _report(self, row: Row) -> Report:
        return Report(
            id=int(row["id"]),
            facility_id=row["facility_id"],
            reason=row["reason"],
            text=row["text"],
            created_at=self._from_instant(row["created_at"]),
            status=row["status"],
            resolved_at=self._maybe_instant(row["resolved_at"]),
            resolved_by=row["resolved_by"],
            action=row["action"],
            note=row["note"],
        )

    def get_report(self, report_id: int) -> Report:
        with self._read() as s:
            row = s.one(_SELECT_REPORTS + " WHERE id = ?", (report_id,))
        if row is None:
            raise NotFoundError(f"no report {report_id}", param="report")
        return self._report(row)

    def list_reports(
        self,
        *,
        statuses: frozenset[str] | None = frozenset({"open"}),
        facility_ids: frozenset[str] | None = None,
        limit: int | None = None,
    ) -> builtins.list[Report]:
        """Reports by status and facility (see :meth:`~locator.stores.contract.ReportStore.list_reports`)."""
        clauses: builtins.list[str] = []
        params: builtins.list[Any] = []
        for column, values in (("status", statuses), ("facility_id", facility_ids)):
            if values is not None:
                if not values:
                    return []
                clause, more = self._in(column, values)
                clauses.append(clause)
                params += more
        query = _SELECT_REPORTS
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        if statuses == frozenset({"open"}):
            query += " ORDER BY id"
        else:
            query += " ORDER BY resolved_at IS NULL DESC, resolved_at DESC, id DESC"
        if limit is not None:
            query += " LIMIT ?"
            params.append(limit)
        with self._read() as s:
            rows = s.all(query, params)
        return [self._report(r) for r in rows]

    def resolve_report(self, report_id: int, status: str, action: str, actor: Actor) -> Report:
        """Close an open report (see :meth:`~locator.stores.contract.ReportStore.resolve_report`).

        The primary key of ``report_resolutions`` decides between concurrent resolvers:
        the ``INSERT … ON CONFLICT DO NOTHING`` of the later one waits for the earlier
        one's commit and then inserts nothing, which raises ``ConflictError``.
        """
        with self._transaction() as s:
            row = s.one("SELECT status FROM rider_reports WHERE id = ?", (report_id,))
            if row is None:
                raise NotFoundError(f"no report {report_id}", param="report")
            if row["status"] != "open":
                raise ConflictError(f"report {report_id} was already {row['status']}", param="report")
            inserted = s.one(
                "INSERT INTO report_resolutions "
                "(feedback_id, status, action, resolved_by, note, resolved_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (feedback_id) DO NOTHING "
                "RETURNING feedback_id",
                (report_id, status, action, actor.name, actor.reason, self._instant(datetime.now(UTC))),
            )
            if inserted is None:
                # Someone else's resolution committed meanwhile; this statement sees it.
                row = s.one("SELECT status FROM rider_reports WHERE id = ?", (report_id,))
                assert row is not None
                raise ConflictError(f"report {report_id} was already {row['status']}", param="report")
            updated = s.one(_SELECT_REPORTS + " WHERE id = ?", (report_id,))
        assert updated is not None
        return self._report(updated)

    # -- live door status (LiveStore) -----------------------------------------------------

    def _live_event(self, row: Row) -> LiveEvent:
        return LiveEvent(
            facility_id=row["facility_id"],
            source=row["source"],
            state=row["state"],
            at=self._from_instant(row["at"]),
            until=self._maybe_instant(row["until"]),
            reason=row["reason"],
            actor=row["actor"],
            id=int(row["id"]),
            revision=int(row["revision"]),
        )

    def _door_key(self, row: Row) -> DoorKey:
        return DoorKey(
            id=row["id"],
            facility_id=row["facility_id"],
            name=row["name"],
            salt=row["salt"],
            created_at=self._from_instant(row["created_at"]),
            revoked_at=self._maybe_instant(row["revoked_at"]),
            last_seen_at=self._maybe_instant(row["last_seen_at"]),
        )

    def live_revision(self) -> int:
        with self._read() as s:
            row = s.one(self.LIVE_REVISION_SQL)
        assert row is not None
        revision = int(row["value"])
        self._saw_live_revision(revision)
        return revision

    def add_live_event(
        self, event: LiveEvent, *, nonce: str = "", once_per: timedelta | None = None
    ) -> LiveEvent:
        """Store one live event (see :meth:`~locator.stores.contract.LiveStore.add_live_event`).

        The checks run after the live revision was taken, inside the same transaction, so
        two concurrent votes of one client cannot both pass.
        """
        with self._transaction() as s:
            row = s.one(self.BUMP_LIVE_REVISION_SQL)
            assert row is not None
            revision = int(row["value"])
            if event.source == "device":
                key = s.one("SELECT revoked_at FROM door_keys WHERE id = ?", (event.actor,))
                if key is None or key["revoked_at"] is not None:
                    raise NotFoundError(f"no active door key {event.actor!r}", param="key")
            if nonce and s.one(
                "SELECT 1 AS found FROM live_events WHERE source = ? AND actor = ? AND nonce = ?",
                (event.source, event.actor, nonce),
            ):
                raise ConflictError("this request was already received", param="nonce")
            if once_per is not None:
                prev = s.one(
                    "SELECT max(at) AS at FROM live_events "
                    "WHERE facility_id = ? AND actor = ? AND source = ? AND at > ?",
                    (
                        event.facility_id,
                        event.actor,
                        event.source,
                        self._instant(event.at - once_per),
                    ),
                )
                if prev is not None and prev["at"] is not None:
                    retry_at = self._from_instant(prev["at"]) + once_per
                    raise ConflictError(
                        "one vote per client and facility per period",
                        param="actor",
                        retry_at=retry_at.isoformat(),
                    )
            inserted = s.one(
                "INSERT INTO live_events "
                "(revision, facility_id, source, state, at, until, reason, actor, nonce) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    revision,
                    event.facility_id,
                    event.source,
                    event.state,
                    self._instant(event.at),
                    self._instant(event.until),
                    event.reason,
                    event.actor,
                    nonce,
                ),
            )
            assert inserted is not None
            self._announce_live(s, revision)
        self._saw_live_revision(revision)
        return dataclasses.replace(event, id=int(inserted["id"]), revision=revision)

    def live_events_since(self, revision: int) -> tuple[int, builtins.list[LiveEvent]]:
        with self._snapshot() as s:
            row = s.one(self.LIVE_REVISION_SQL)
            assert row is not None
            current = int(row["value"])
            rows = s.all(_SELECT_LIVE + " WHERE revision > ? ORDER BY revision, id", (revision,))
        self._saw_live_revision(current)
        return current, [self._live_event(r) for r in rows]

    def live_events_after(self, at: datetime) -> tuple[int, builtins.list[LiveEvent]]:
        with self._snapshot() as s:
            row = s.one(self.LIVE_REVISION_SQL)
            assert row is not None
            current = int(row["value"])
            rows = s.all(_SELECT_LIVE + " WHERE at > ? ORDER BY revision, id", (self._instant(at),))
        self._saw_live_revision(current)
        return current, [self._live_event(r) for r in rows]

    def list_live_events(
        self, facility_id: str, *, source: str | None = None, limit: int | None = None
    ) -> builtins.list[LiveEvent]:
        query = _SELECT_LIVE + " WHERE facility_id = ?"
        params: builtins.list[Any] = [facility_id]
        if source is not None:
            query += " AND source = ?"
            params.append(source)
        query += " ORDER BY at DESC, id DESC"
        if limit is not None:
            query += " LIMIT ?"
            params.append(limit)
        with self._read() as s:
            rows = s.all(query, params)
        return [self._live_event(r) for r in rows]

    def add_door_key(self, key: DoorKey) -> DoorKey:
        with self._transaction() as s:
            try:
                s.execute(
                    f"INSERT INTO door_keys ({_names(DOOR_KEY_COLUMNS)}) "
                    f"VALUES ({_marks(len(DOOR_KEY_COLUMNS))})",
                    (
                        key.id,
                        key.facility_id,
                        key.name,
                        key.salt,
                        self._instant(key.created_at),
                        self._instant(key.revoked_at),
                    ),
                )
            except Exception as exc:
                if self._unique_violation(exc) is None:
                    raise
                raise ConflictError(f"a door key {key.id!r} exists", param="key") from exc
        return self.get_door_key(key.id)

    def get_door_key(self, key_id: str) -> DoorKey:
        with self._read() as s:
            row = s.one(_SELECT_DOOR_KEYS + " WHERE k.id = ?", (key_id,))
        if row is None:
            raise NotFoundError(f"no door key {key_id!r}", param="key")
        return self._door_key(row)

    def list_door_keys(self, facility_id: str | None = None) -> builtins.list[DoorKey]:
        with self._read() as s:
            if facility_id is None:
                rows = s.all(_SELECT_DOOR_KEYS + " ORDER BY k.created_at, k.id")
            else:
                rows = s.all(
                    _SELECT_DOOR_KEYS + " WHERE k.facility_id = ? ORDER BY k.created_at, k.id", (facility_id,)
                )
        return [self._door_key(r) for r in rows]

    def revoke_door_key(self, key_id: str, at: datetime) -> DoorKey:
        with self._transaction() as s:
            changed = s.execute(
                "UPDATE door_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?",
                (self._instant(at), key_id),
            )
        if changed != 1:
            raise NotFoundError(f"no door key {key_id!r}", param="key")
        return self.get_door_key(key_id)
