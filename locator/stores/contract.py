"""The store contract: what every facility store (SQLite, PostGIS) must do.

This module is the single statement of the contract; ``tests/test_store_contract.py``
runs one conformance suite against every implementation.

Semantics common to all operations
----------------------------------
* Locations are WGS-84 lon/lat degrees; stores never convert datums.
* **Revisions.** The store keeps one global, strictly increasing revision number.
  Every committed write (add, update, delete, import) takes the next revision and
  stamps it on each facility it wrote; deletions leave a tombstone with their revision.
  :meth:`FacilityStore.changes_since` returns everything after a revision, which is how
  every in-memory index (in every worker and app node) catches up.
* **Versions.** A facility's ``version`` is 1 after creation and grows by 1 with every
  stored change. :meth:`FacilityStore.update` and :meth:`FacilityStore.delete` take the
  version the caller based its change on and raise
  :class:`~locator.errors.VersionConflictError` (with ``current_version``) when it is
  stale, so no edit is ever silently overwritten.
* **History.** Every write appends :class:`HistoryEntry` records in the same transaction
  as the change itself (append-only; nothing updates or deletes them).
* **Atomicity.** Every write is one transaction: all of it is stored or none of it.
* **Imports that coexist with serving.** :meth:`FacilityStore.importing` stages an
  import of any size in batches (bounded memory) without holding the write lock, and
  writes it in one short final transaction: readers see the old facilities until it
  commits, and concurrent writes wait only for that transaction (a writer that waits
  longer than its timeout gets :class:`~locator.errors.StoreBusyError`, a 503 with
  ``Retry-After``; nothing is half-written).
* **Errors.** :class:`~locator.errors.NotFoundError` for an unknown id,
  :class:`~locator.errors.ConflictError` for a duplicate id,
  :class:`~locator.errors.StoreUnavailableError` when the database cannot be reached.
* ``updated_at`` is set by the store to the commit time (UTC); ``version`` by the
  store. Stores do not validate fields: callers pass facilities that went through
  :func:`locator.core.domain.validate_facility`. The schema still enforces the basic
  invariants (known kind and status, non-empty name, lon/lat in range); a row that
  breaks one raises the driver's integrity error (``sqlite3.IntegrityError``,
  ``psycopg.IntegrityError``) and, like any failure, leaves nothing written.
* **Instants** come back as equal instants, not necessarily in the offset they were
  given in (PostgreSQL's ``timestamptz`` keeps no offset: PostGIS returns
  ``verified_at`` in Asia/Shanghai and ``updated_at`` in UTC).
* **Optional capability**: :meth:`FacilityStore.store_nearest` answers a nearest
  query inside the store, without the in-memory index (brute force by default;
  PostGIS uses its KNN index). It must give the index's answer exactly.
* **Rider feedback** (:class:`~locator.core.domain.Feedback`, see :mod:`locator.services.feedback`)
  is kept apart from the facilities: adding it neither changes a facility nor takes a
  revision, it is never updated (deletion is reserved for moderation), and a
  facility's deletion leaves its feedback in place for managers.
"""

from __future__ import annotations

import abc
import builtins
import dataclasses
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from locator.core.domain import Facility, Feedback, NearestHit, NearestQuery
from locator.core.geo import geodesic_inverse
from locator.core.hours import is_open
from locator.core.live import LiveEvent

#: Fields compared to build a history entry's ``changes``: all but the identity and
#: what the store itself sets.
TRACKED_FIELDS = tuple(
    f.name for f in dataclasses.fields(Facility) if f.name not in {"id", "updated_at", "version"}
)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made a change (a user name, ``cli``, ``import``, ``rider-feedback``...)."""

    name: str
    reason: str = ""


SYSTEM = Actor("system")


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One append-only history record.

    Attributes
    ----------
    seq : int
        Store-wide sequence number (ascending in commit order).
    facility_id : str
    revision : int
        The store revision of the change.
    version : int
        The facility's version after the change (0 for a delete).
    action : str
        ``create``, ``update``, ``delete`` or ``import``.
    actor, reason : str
    at : datetime
        Commit time, UTC.
    changes : dict
        ``{field: [old, new]}`` with JSON-compatible values (``None`` for absent).
    """

    seq: int
    facility_id: str
    revision: int
    version: int
    action: str
    actor: str
    reason: str
    at: datetime
    changes: dict[str, list[Any]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """What changed after a revision.

    Attributes
    ----------
    revision : int
        The store's revision when the change set was read.
    changed : list of Facility
        Facilities written after the asked revision, in their current state.
    deleted_ids : list of str
        Ids deleted after the asked revision (and not re-created since).
    """

    revision: int
    changed: list[Facility]
    deleted_ids: list[str]


class FacilityImport(abc.ABC):
    """An import being staged; see :meth:`FacilityStore.importing`.

    Attributes
    ----------
    staged : int
        Facilities staged so far.
    revision : int or None
        The revision the import was committed with (None before the commit, and when
        nothing was staged).
    """

    staged: int = 0
    revision: int | None = None

    @abc.abstractmethod
    def add(self, facilities: Sequence[Facility]) -> None:
        """Stage one batch (validated facilities; ``version``/``updated_at`` are ignored).

        Raises
        ------
        ConflictError
            If an id repeats, within the batch or across batches of this import.
        StoreUnavailableError
        """


@dataclass(frozen=True, slots=True)
class ListFilter:
    """Filters for :meth:`FacilityStore.list`; None means no constraint.

    ``bbox`` is ``(min_lon, min_lat, max_lon, max_lat)`` in WGS-84 degrees, edges
    inclusive. ``modified_since`` compares with ``updated_at``. ``district_adcodes``
    matches ``district_adcode``.
    """

    bbox: tuple[float, float, float, float] | None = None
    kinds: frozenset[str] | None = None
    statuses: frozenset[str] | None = None
    amenities: frozenset[str] = frozenset()
    district_adcodes: frozenset[str] | None = None
    modified_since: datetime | None = None
    ids: frozenset[str] | None = None


# -- partners ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Partner:
    """A partner that embeds the map or calls the public API with a key.

    Stores keep partners exactly as given; :mod:`locator.services.partners` validates them.

    Attributes
    ----------
    name : str
        Unique, URL-safe handle (``[a-z0-9][a-z0-9-]{0,62}``); never changes.
    origins : tuple of str
        Web origins (``scheme://host[:port]``, no path) allowed to frame the embed and
        to read the API from a browser (CORS), in the order registered.
    daily_quota : int
        API requests allowed per 24 hours (>= 1).
    key_hash : str
        Hex SHA-256 of the current API key; the key itself is never stored.
    key_prefix : str
        The key's first characters, shown to identify it (not secret).
    created_at : datetime
        UTC.
    key_created_at : datetime
        When the current key was issued (UTC): creation or last rotation.
    revoked_at : datetime or None
        UTC; a revoked partner's key and origins are refused.
    """

    name: str
    origins: tuple[str, ...]
    daily_quota: int
    key_hash: str
    key_prefix: str
    created_at: datetime
    key_created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        """True until the partner is revoked."""
        return self.revoked_at is None


class PartnerStore(abc.ABC):
    """Partner persistence; a store class implements it next to :class:`FacilityStore`.

    Partner writes are their own small transactions: they do not take a facility
    revision and leave no facility history. Every method may raise
    :class:`~locator.errors.StoreUnavailableError`. Stores do not validate fields
    (see :mod:`locator.services.partners`); instants are UTC.
    """

    @abc.abstractmethod
    def add_partner(self, partner: Partner) -> Partner:
        """Store a new partner and return it as stored.

        Raises
        ------
        ConflictError
            If a partner with this name exists (revoked ones included) or the key
            hash is already in use.
        """

    @abc.abstractmethod
    def get_partner(self, name: str) -> Partner:
        """Return the partner with this name (revoked ones included).

        Raises
        ------
        NotFoundError
        """

    @abc.abstractmethod
    def partner_by_key_hash(self, key_hash: str) -> Partner | None:
        """Return the partner whose current key has this SHA-256 hex hash, or None."""

    @abc.abstractmethod
    def list_partners(self) -> builtins.list[Partner]:
        """Every partner, revoked ones included, in name order."""

    @abc.abstractmethod
    def set_partner_key(self, name: str, key_hash: str, key_prefix: str, at: datetime) -> Partner:
        """Replace the partner's key (the old one stops working at once).

        Raises
        ------
        NotFoundError
        ConflictError
            If the partner is revoked.
        """

    @abc.abstractmethod
    def revoke_partner(self, name: str, at: datetime) -> Partner:
        """Mark the partner revoked at ``at``; revoking twice keeps the first time.

        Raises
        ------
        NotFoundError
        """


def field_changes(old: Facility | None, new: Facility | None) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for every tracked field that differs (JSON values)."""
    out: dict[str, list[Any]] = {}
    for name in TRACKED_FIELDS:
        a = _jsonable(getattr(old, name)) if old is not None else None
        b = _jsonable(getattr(new, name)) if new is not None else None
        if a != b:
            out[name] = [a, b]
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, frozenset | set):
        return sorted(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


class FacilityStore(abc.ABC):
    """Abstract facility store. See the module docstring for common semantics."""

    #: Short backend name (``sqlite``, ``postgis``).
    backend: str = "abstract"

    @abc.abstractmethod
    def init_schema(self) -> None:
        """Create or upgrade the schema to the latest version (idempotent)."""

    @abc.abstractmethod
    def get(self, facility_id: str) -> Facility:
        """Return one facility.

        Raises
        ------
        NotFoundError
            If no facility has this id.
        """

    @abc.abstractmethod
    def list(
        self, flt: ListFilter | None = None, *, limit: int | None = None, offset: int = 0
    ) -> list[Facility]:
        """Facilities matching ``flt`` in ascending id order, paged by limit/offset."""

    @abc.abstractmethod
    def count(self, flt: ListFilter | None = None) -> int:
        """Count the facilities matching ``flt``."""

    @abc.abstractmethod
    def add(self, facility: Facility, actor: Actor = SYSTEM) -> Facility:
        """Store a new facility with version 1 and return it as stored.

        Raises
        ------
        ConflictError
            If the id exists.
        """

    @abc.abstractmethod
    def update(self, facility: Facility, expected_version: int, actor: Actor = SYSTEM) -> Facility:
        """Replace the stored facility ``facility.id`` if its version is ``expected_version``.

        Returns the stored facility with ``version = expected_version + 1``. A write
        that changes nothing still bumps the version (it is a deliberate save).

        Raises
        ------
        NotFoundError
            If no facility has this id.
        VersionConflictError
            If the stored version differs (``current_version`` says which it is).
        """

    @abc.abstractmethod
    def delete(self, facility_id: str, expected_version: int, actor: Actor = SYSTEM) -> None:
        """Delete a facility (hard delete; ``status="removed"`` is the soft one).

        Raises
        ------
        NotFoundError, VersionConflictError
        """

    @abc.abstractmethod
    def import_many(self, facilities: Sequence[Facility], actor: Actor = SYSTEM) -> int:
        """Insert new facilities and replace existing ones, all in one transaction.

        Existing ids are replaced regardless of version (an import is authoritative)
        and their version grows by 1. Returns the number of rows written. Nothing is
        written if anything fails.
        """

    @abc.abstractmethod
    def importing(self, actor: Actor = SYSTEM) -> AbstractContextManager[FacilityImport]:
        """A streaming import, for any number of rows in bounded memory.

        Inside the ``with`` block the caller stages batches with
        :meth:`FacilityImport.add`; they are kept apart from the facilities (a staging
        table) and take no write lock, so readers and writers carry on. When the block
        ends normally, everything staged is written like :meth:`import_many` — inserted
        or replaced, versions + 1, one revision, ``import`` history in staging order —
        in one short transaction; if the block raises, nothing is written. A facility
        written by someone else while the import was staged is replaced too, and its
        history entry records the change from what was stored at the commit.

        Raises
        ------
        StoreUnavailableError
            :class:`~locator.errors.StoreBusyError` if the final transaction could
            not take the write lock in time.
        """

    def count_changes_since(self, revision: int) -> int:
        """How many facilities :meth:`changes_since` would return (changed + deleted), cheaply."""
        changes = self.changes_since(revision)
        return len(changes.changed) + len(changes.deleted_ids)

    @abc.abstractmethod
    def revision(self) -> int:
        """Return the current store revision (0 for an empty, never-written store)."""

    @abc.abstractmethod
    def changes_since(self, revision: int) -> ChangeSet:
        """Everything written after ``revision`` (see :class:`ChangeSet`)."""

    @abc.abstractmethod
    def history(self, facility_id: str) -> builtins.list[HistoryEntry]:
        """Return the history of one facility, oldest first (empty for an unknown id)."""

    @abc.abstractmethod
    def add_feedback(self, feedback: Feedback) -> Feedback:
        """Store one rider report and return it with its ``id`` (ascending, store-wide).

        ``at`` is stored as given (the caller's clock); ``facility_id`` is not checked
        against the facilities (the service does that).
        """

    @abc.abstractmethod
    def list_feedback(
        self,
        facility_id: str | None = None,
        *,
        since: datetime | None = None,
        verdict: str | None = None,
        limit: int | None = None,
    ) -> builtins.list[Feedback]:
        """Rider reports, newest first (``at`` then ``id`` descending).

        Parameters
        ----------
        facility_id : str, optional
            Only this facility's reports.
        since : datetime, optional
            Only reports with ``at`` strictly after this instant.
        verdict : str, optional
            Only ``confirm`` or only ``problem``.
        limit : int, optional
            At most this many.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections. The store is unusable afterwards."""

    def all(self) -> builtins.list[Facility]:
        """Every facility, in id order."""
        return self.list()

    def store_nearest(self, query: NearestQuery) -> builtins.list[NearestHit]:
        """Answer a nearest query from the store alone, without the in-memory index.

        For cross-checking the index, and for deployments that cannot hold it in
        memory. This default is a brute-force scan (O(n) per query): every facility
        passing the kind, status and amenity filters is read, ``open_at`` is
        evaluated with :func:`locator.core.hours.is_open`, and all are ranked by
        ellipsoidal geodesic distance (:func:`locator.core.geo.geodesic_inverse`).
        Backends with a spatial index override it (PostGIS: KNN ``<->``).

        Parameters
        ----------
        query : NearestQuery
            Query point in WGS-84 degrees and filters.

        Returns
        -------
        list of NearestHit
            Exactly what :meth:`locator.core.index.FacilityIndex.nearest` returns for the
            same facilities: at most ``query.k`` hits in ascending geodesic distance
            (metres), ties broken by ascending id, ranks from 1.

        Raises
        ------
        StoreUnavailableError
        """
        candidates = self.list(
            ListFilter(kinds=query.kinds, statuses=query.statuses, amenities=query.amenities)
        )
        if query.open_at is not None:
            at = query.open_at
            candidates = [f for f in candidates if is_open(f.opening_hours, at) is True]
        if not candidates:
            return []
        n = len(candidates)
        dist, bearing = geodesic_inverse(
            [query.lon] * n, [query.lat] * n, [f.lon for f in candidates], [f.lat for f in candidates]
        )
        ranked = sorted(
            zip(dist.tolist(), bearing.tolist(), candidates, strict=True), key=lambda h: (h[0], h[2].id)
        )
        if query.radius_m is not None:
            ranked = [h for h in ranked if h[0] <= query.radius_m]
        return [
            NearestHit(facility=f, distance_m=d, bearing_deg=b, rank=r)
            for r, (d, b, f) in enumerate(ranked[: query.k], start=1)
        ]


# --- accounts: users and API tokens (issue 5) ---------------------------------------

#: Account roles, from most to least powerful (see ``docs/managers.md``).
ROLES = ("admin", "district_manager", "station_manager")


@dataclass(frozen=True, slots=True)
class User:
    """A management account.

    Attributes
    ----------
    name : str
        Login name, unique, case-sensitive.
    role : str
        One of :data:`ROLES`.
    password_hash : str
        An argon2 hash (``$argon2id$…``); stores never see passwords.
    districts : frozenset of str
        District adcodes a ``district_manager`` manages (point-in-polygon scope).
    facilities : frozenset of str
        Facility ids a ``station_manager`` manages.
    active : bool
        Inactive accounts cannot log in or use their tokens.
    created_at : datetime or None
        Set by the store (UTC).
    session_epoch : int
        Grows by one each time the user's sessions are ended
        (:meth:`AccountStore.end_sessions`); a session remembers the epoch it began in.
        Set by the store only.
    """

    name: str
    role: str
    password_hash: str
    districts: frozenset[str] = frozenset()
    facilities: frozenset[str] = frozenset()
    active: bool = True
    created_at: datetime | None = None
    session_epoch: int = 0


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A bearer token for the management API. Only its SHA-256 hash is stored.

    Attributes
    ----------
    id : str
        Public identifier (``tok_…``), safe to show and to log.
    user_name : str
        The account the token acts as.
    token_hash : str
        Lower-case hex SHA-256 of the secret token text.
    label : str
    created_at, revoked_at : datetime or None
        Set by the store (UTC); a revoked token no longer authenticates.
    """

    id: str
    user_name: str
    token_hash: str
    label: str = ""
    created_at: datetime | None = None
    revoked_at: datetime | None = None


class AccountStore(abc.ABC):
    """Users and API tokens. Every write is one transaction; none touches the revision.

    Errors: :class:`~locator.errors.NotFoundError` for an unknown user or token,
    :class:`~locator.errors.ConflictError` for a duplicate user name or token.
    """

    @abc.abstractmethod
    def add_user(self, user: User) -> User:
        """Store a new user (``created_at`` set by the store) and return it.

        Raises
        ------
        ConflictError
            If the name is taken.
        """

    @abc.abstractmethod
    def get_user(self, name: str) -> User:
        """Return one user.

        Raises
        ------
        NotFoundError
        """

    @abc.abstractmethod
    def list_users(self) -> builtins.list[User]:
        """Every user, by name."""

    @abc.abstractmethod
    def update_user(self, user: User) -> User:
        """Replace role, password hash, districts, facilities and ``active`` of ``user.name``.

        ``session_epoch`` is left as stored (only :meth:`end_sessions` changes it, so a
        write based on an older read never brings ended sessions back).

        Raises
        ------
        NotFoundError
        """

    @abc.abstractmethod
    def end_sessions(self, name: str) -> User:
        """End every session of ``name``: add one to its ``session_epoch`` (atomically).

        Raises
        ------
        NotFoundError
        """

    @abc.abstractmethod
    def add_token(self, token: ApiToken) -> ApiToken:
        """Store a new token (``created_at`` set by the store).

        Raises
        ------
        NotFoundError
            If ``token.user_name`` is no user.
        ConflictError
            If the id or hash exists.
        """

    @abc.abstractmethod
    def find_token(self, token_hash: str) -> ApiToken | None:
        """The token with this hash (revoked ones included), or None."""

    @abc.abstractmethod
    def list_tokens(self, user_name: str | None = None) -> builtins.list[ApiToken]:
        """Tokens (of one user, or all), oldest first."""

    @abc.abstractmethod
    def revoke_token(self, token_id: str) -> None:
        """Mark a token revoked (idempotent).

        Raises
        ------
        NotFoundError
        """


# --- checked batch writes (issue 5: bulk upload "apply") --------------------------------


class CheckedBatchStore(abc.ABC):
    """All-or-nothing batch writes that, unlike ``import_many``, respect versions."""

    @abc.abstractmethod
    def write_batch(
        self,
        facilities: Sequence[Facility],
        expected_versions: Mapping[str, int | None],
        actor: Actor = SYSTEM,
    ) -> int:
        """Insert or replace ``facilities`` in one transaction, each only if unchanged since read.

        Parameters
        ----------
        facilities : sequence of Facility
            Complete, validated facilities (WGS-84).
        expected_versions : mapping
            For every facility id: the stored version the caller based the row on, or
            None for a facility that must not exist yet.
        actor : Actor

        Returns
        -------
        int
            Rows written. Each gets ``version`` = old + 1 (1 when new), the batch's
            revision, and a history entry with action ``import``.

        Raises
        ------
        VersionConflictError
            If any stored version differs (``current_version`` is 0 for a facility
            that does not exist, and the message names the id); nothing is written.
        ConflictError
            For duplicate ids in the batch.
        ValueError
            If a facility has no entry in ``expected_versions``.
        """


# --- rider reports: the managers' queue ------------------------------------------------

#: A report is ``open`` until a manager resolves or dismisses it.
REPORT_STATUSES = ("open", "resolved", "dismissed")


@dataclass(frozen=True, slots=True)
class Report:
    """A rider's problem report about a facility, as the management queue sees it.

    Every :class:`~locator.core.domain.Feedback` with ``verdict="problem"`` is a report (same
    ``id``); the resolution is stored apart from it, so feedback stays append-only.

    Attributes
    ----------
    id : int
        Store-assigned, ascending.
    facility_id : str
        The facility reported (it may since have been deleted).
    reason : str
        A key of :data:`locator.core.domain.FEEDBACK_REASONS`.
    text : str
        The rider's comment (untrusted: escaped wherever shown).
    created_at : datetime
        When the rider sent it (the feedback's ``at``), UTC.
    status : str
        One of :data:`REPORT_STATUSES`.
    resolved_at : datetime or None
    resolved_by : str
        The manager who resolved or dismissed it.
    action : str
        What the manager did to the facility (``none``, ``verified``,
        ``temporarily_closed``, ``removed``, ``open``).
    note : str
        The manager's note.
    """

    id: int
    facility_id: str
    reason: str
    text: str
    created_at: datetime
    status: str = "open"
    resolved_at: datetime | None = None
    resolved_by: str = ""
    action: str = ""
    note: str = ""


class ReportStore(abc.ABC):
    """The managers' queue of rider problem reports (see :class:`Report`).

    Reports are created by :meth:`FacilityStore.add_feedback` with ``verdict="problem"``.
    Resolving one is a single transaction that does not touch the facility revision.
    """

    @abc.abstractmethod
    def get_report(self, report_id: int) -> Report:
        """Return one report.

        Raises
        ------
        NotFoundError
        """

    @abc.abstractmethod
    def list_reports(
        self,
        *,
        statuses: frozenset[str] | None = frozenset({"open"}),
        facility_ids: frozenset[str] | None = None,
        limit: int | None = None,
    ) -> builtins.list[Report]:
        """Reports with these statuses (None: all) about these facilities (None: all).

        Only open reports (the default): oldest first, the queue's order. Otherwise
        open ones first (newest first), then handled ones most recently resolved first.
        """

    @abc.abstractmethod
    def resolve_report(self, report_id: int, status: str, action: str, actor: Actor) -> Report:
        """Close an open report as ``resolved`` or ``dismissed``, recording the action taken.

        ``resolved_by`` is ``actor.name`` and ``note`` is ``actor.reason``.

        Raises
        ------
        NotFoundError
        ConflictError
            If the report is not open any more (someone else handled it).
        """


# --- the whole contract ------------------------------------------------------------------


class CounterStore(abc.ABC):
    """Expiring counters shared by every worker and node (login throttling).

    A counter is a key, a value and the instant it expires; an expired counter counts as
    zero and restarts. Writes are single atomic statements that take no revision.
    """

    @abc.abstractmethod
    def incr_counter(self, key: str, expiry_s: float, amount: int = 1) -> int:
        """Add ``amount`` to ``key`` and return the new value.

        A missing or expired counter starts again at ``amount`` and expires ``expiry_s``
        seconds from now; a live counter keeps its expiry (a fixed window).
        """

    @abc.abstractmethod
    def get_counter(self, key: str) -> tuple[int, datetime | None]:
        """``(value, expires_at)`` of ``key``; ``(0, None)`` when missing or expired (UTC)."""

    @abc.abstractmethod
    def clear_counter(self, key: str) -> None:
        """Forget ``key`` (idempotent); also drops every counter that has expired."""


class BackupStore(abc.ABC):
    """A whole store copied to one file and back (``flask locator backup|restore``)."""

    @abc.abstractmethod
    def backup(self, path: Path) -> None:
        """Write a consistent copy of everything the store holds to ``path``, online.

        The file appears complete or not at all (written beside it, then renamed).

        Raises
        ------
        StoreUnavailableError
            If the database or its dump tool cannot be reached.
        """

    @abc.abstractmethod
    def restore(self, path: Path) -> None:
        """Replace everything the store holds with the backup at ``path``, in one step.

        Facilities, history, feedback and reports, accounts, tokens, partners and counters
        all come back as they were; the revision too (so in-memory indexes reload).

        Raises
        ------
        ValidationError
            If ``path`` is not a backup of this kind of store (nothing is changed).
        StoreUnavailableError
        """


# --- live door status (issue 13) ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DoorKey:
    """One door device's key for the signed door API (``POST /api/v1/facilities/<id>/door``).

    The device's secret is never stored: it is derived from the app's secret key and
    :attr:`salt` (:mod:`locator.services.live`), so the database alone cannot sign.

    Attributes
    ----------
    id : str
        Public key id (``dk_`` and 16 hex digits), sent as ``X-Door-Key``.
    facility_id : str
        The one facility this device may report on.
    name : str
        What the manager called it ("front door lock").
    salt : str
        Random hex, input of the secret's derivation (not secret on its own).
    created_at : datetime
        UTC.
    revoked_at : datetime or None
        UTC; a revoked key's requests are refused.
    last_seen_at : datetime or None
        The latest event accepted with this key (read from the events; UTC).
    """

    id: str
    facility_id: str
    name: str
    salt: str
    created_at: datetime
    revoked_at: datetime | None = None
    last_seen_at: datetime | None = None

    @property
    def active(self) -> bool:
        """True until revoked."""
        return self.revoked_at is None


class LiveStore(abc.ABC):
    """Live door events and door keys (see :mod:`locator.core.live`).

    Live events are append-only and kept apart from the facilities: writing one takes
    the **live revision** (a counter of its own, so that heartbeats never touch the
    facility revision, the index or the history) and, on PostGIS, notifies every node.
    Each write is one transaction that starts by taking the next live revision, which
    also serialises live writers: a check and the insert it guards cannot interleave.
    """

    @abc.abstractmethod
    def live_revision(self) -> int:
        """The current live revision (0 before any live event)."""

    @abc.abstractmethod
    def add_live_event(
        self, event: LiveEvent, *, nonce: str = "", once_per: timedelta | None = None
    ) -> LiveEvent:
        """Store one event; return it with its ``id`` and ``revision``.

        Parameters
        ----------
        event : LiveEvent
            ``at`` as given (the caller's clock); the facility is not checked.
        nonce : str
            A value the same ``(source, actor)`` may use once (a door request's
            signature): a repeat raises ``ConflictError(param="nonce")``.
        once_per : timedelta, optional
            Refuse the event when the same ``actor`` already has an event of the same
            source about the same facility less than this before ``event.at``
            (``ConflictError(param="actor")``, with ``retry_at``: when it would be
            accepted).

        Raises
        ------
        ConflictError
            See above; nothing is stored.
        NotFoundError
            A ``device`` event whose ``actor`` is no active door key (``param="key"``).
        """

    @abc.abstractmethod
    def live_events_since(self, revision: int) -> tuple[int, builtins.list[LiveEvent]]:
        """``(current live revision, events written after revision)``, in revision order."""

    @abc.abstractmethod
    def live_events_after(self, at: datetime) -> tuple[int, builtins.list[LiveEvent]]:
        """``(current live revision, events with at > at)``, in revision order (one snapshot)."""

    @abc.abstractmethod
    def list_live_events(
        self, facility_id: str, *, source: str | None = None, limit: int | None = None
    ) -> builtins.list[LiveEvent]:
        """One facility's events, newest first (``at``, then ``id``)."""

    @abc.abstractmethod
    def add_door_key(self, key: DoorKey) -> DoorKey:
        """Store a new door key.

        Raises
        ------
        ConflictError
            If the id exists.
        """

    @abc.abstractmethod
    def get_door_key(self, key_id: str) -> DoorKey:
        """One door key (revoked ones included), with ``last_seen_at``.

        Raises
        ------
        NotFoundError
        """

    @abc.abstractmethod
    def list_door_keys(self, facility_id: str | None = None) -> builtins.list[DoorKey]:
        """Door keys (of one facility, or all), oldest first, with ``last_seen_at``."""

    @abc.abstractmethod
    def revoke_door_key(self, key_id: str, at: datetime) -> DoorKey:
        """Revoke a key at ``at`` (revoking twice keeps the first time).

        Raises
        ------
        NotFoundError
        """


class Store(
    FacilityStore,
    PartnerStore,
    AccountStore,
    CheckedBatchStore,
    ReportStore,
    CounterStore,
    BackupStore,
    LiveStore,
):
    """Everything a store does: facilities, partners, accounts, checked batches, reports, counters, live.

    Every backend implements all of it (:class:`locator.stores.sql.SQLStore` does, once,
    for SQLite and PostGIS), so services are typed with :class:`Store` and never test for
    a capability.
    """
