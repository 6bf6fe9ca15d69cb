"""Managing facilities: scopes, edits, status lifecycle, verification, history, restore.

No Flask here: the management pages and API parse requests, call
:class:`ManagementService`, and render what it returns. **Every rule lives here**, so a
hidden button is never the only thing standing between a manager and another
district's facility.

Scopes
------
* ``admin``: every facility; the only role that may delete.
* ``district_manager``: the facilities whose *location* lies in one of the account's
  districts, decided by point-in-polygon on the district polygons (WGS-84). An edit is
  checked twice — the facility as stored and the facility as it would be stored — so
  moving a facility out of one's districts, or creating one outside them, is refused.
  Listings use the stored ``district_adcode`` (assigned by the same point-in-polygon at
  every write), so they agree with the checks.
* ``station_manager``: only the facility ids assigned to the account; cannot create.

Every refused action raises :class:`~locator.errors.ForbiddenError` before anything is
written. Writes go through the store with the version the caller based them on, so a
stale edit raises :class:`~locator.errors.VersionConflictError` and changes nothing.
Every write is recorded in the store's append-only history with
``Actor(user name, reason)``; the reason is the manager's own words, or a reason record
(a code and its parameters, :mod:`locator.core.history`) — never a sentence.
:meth:`ManagementService.history_words` puts the history in words.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from locator.core.domain import EDITABLE_FIELDS, KINDS, STATUSES, Facility, NearestQuery
from locator.core.geo import Datum, geodesic_distance_m
from locator.core.history import EntryWords, describe_entry, encode_reason
from locator.core.hours import TZ
from locator.core.index import FacilityIndex
from locator.errors import (
    ConflictError,
    ForbiddenError,
    ImportRejectedError,
    LocatorError,
    Msg,
    NotFoundError,
    Term,
    ValidationError,
    VersionConflictError,
)
from locator.formats.bulk import suggest_keys, vocabularies
from locator.services.facilities import LocatorService
from locator.stores.contract import (
    TRACKED_FIELDS,
    Actor,
    HistoryEntry,
    Report,
    Store,
    User,
    field_changes,
)

#: Fields a manager may change with :meth:`ManagementService.update` (``lon``/``lat``
#: in the declared datum). Status has its own operation; district and subdistrict are
#: always assigned by point-in-polygon.
CHANGEABLE_FIELDS: Final = tuple(f for f in EDITABLE_FIELDS if f not in {"verified_at", "source", "demo"})

#: Fields a new facility may be given (``id`` is generated when absent).
CREATE_FIELDS: Final = frozenset({*CHANGEABLE_FIELDS, "id", "source"})

#: The lifecycle fields: changing any of them goes through :meth:`ManagementService.status_fields`.
STATUS_FIELDS: Final = frozenset({"status", "status_until", "status_reason"})

#: Fields restored by :meth:`ManagementService.restore` (verification is not restored).
RESTORED_FIELDS: Final = (*CHANGEABLE_FIELDS, "source")

#: What a manager may do to a facility when resolving a rider report.
REPORT_ACTIONS: Final = ("none", "verified", "temporarily_closed", "removed", "open")

#: Columns a bulk upload may set (others are ignored and listed in the dry-run report).
IMPORT_FIELDS: Final = ("id", *CHANGEABLE_FIELDS, "verified_at", "source")

#: Radius (geodesic metres) within which a facility of the same kind is a likely duplicate.
SAME_KIND_RADIUS_M: Final = 30.0
#: Radius (geodesic metres) within which a similar name is a likely duplicate.
SIMILAR_NAME_RADIUS_M: Final = 200.0
#: ``difflib`` ratio from which two names (generic words removed) count as similar.
NAME_SIMILARITY: Final = 0.75

_GENERIC_WORDS: Final = sorted(
    {
        *(label.zh for label in KINDS.values()),
        "户外劳动者服务站点",
        "工会服务站点",
        "暖心驿站",
        "爱心驿站",
        "驿站",
        "母婴室",
        "服务站",
        "示例",
        "demo",
        "warm station",
        "union home",
        "nursing room",
    },
    key=len,
    reverse=True,
)
_PUNCT_RE: Final = re.compile(r"[\W_]+", re.UNICODE)


def normalise_name(name: str) -> str:
    """A facility name reduced for comparison: NFKC, lower case, generic words and punctuation removed.

    >>> normalise_name("示例·颐和园北区 暖心驿站")
    '颐和园北区'
    """
    text = unicodedata.normalize("NFKC", name).lower()
    for word in _GENERIC_WORDS:
        text = text.replace(word.lower(), " ")
    return _PUNCT_RE.sub("", text)


def similar_names(a: str, b: str) -> bool:
    """True when two facility names probably name the same place.

    >>> similar_names("海淀桥暖心驿站", "海淀桥 户外劳动者暖心驿站")
    True
    >>> similar_names("海淀桥暖心驿站", "中关村暖心驿站")
    False
    """
    na, nb = normalise_name(a), normalise_name(b)
    if na == nb:
        return True
    if min(len(na), len(nb)) >= 2 and (na in nb or nb in na):
        return True
    return difflib.SequenceMatcher(None, na, nb).ratio() >= NAME_SIMILARITY


@dataclass(frozen=True, slots=True)
class NearbyWarning:
    """A likely duplicate near a facility being saved.

    Attributes
    ----------
    facility : Facility
        The existing facility.
    distance_m : float
        Geodesic distance on WGS-84, metres.
    reasons : tuple of str
        ``same_kind`` (same kind within :data:`SAME_KIND_RADIUS_M`) and/or
        ``similar_name`` (similar name within :data:`SIMILAR_NAME_RADIUS_M`).
    """

    facility: Facility
    distance_m: float
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FacilityFilter:
    """Filters for :meth:`ManagementService.facilities`; None/empty means no constraint.

    ``text`` matches id, name or address (case-insensitive substring). ``stale`` keeps
    facilities not verified within the stale period; ``with_reports`` those with open
    rider reports (see :meth:`ManagementService.open_report_counts`).
    """

    text: str = ""
    kinds: frozenset[str] = frozenset()
    statuses: frozenset[str] = frozenset()
    districts: frozenset[str] = frozenset()
    stale: bool = False
    with_reports: bool = False


@dataclass(frozen=True, slots=True)
class Conflict:
    """What a stale edit would have changed, next to what is stored now.

    Attributes
    ----------
    current : Facility
        The facility as stored now.
    base : dict
        Tracked fields of the version the edit was based on (from history; may be empty).
    mine : dict
        The edit's changed fields ``{field: value}`` (JSON values, lon/lat WGS-84).
    theirs : dict
        Fields changed by others since the base ``{field: [base value, current value]}``.
    """

    current: Facility
    base: dict[str, Any]
    mine: dict[str, Any]
    theirs: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def overlapping(self) -> list[str]:
        """Fields both sides changed (to different values)."""
        return sorted(k for k in self.mine if k in self.theirs and self.theirs[k][1] != self.mine[k])


@dataclass(slots=True)
class PlannedRow:
    """One row of a bulk upload's dry run.

    Attributes
    ----------
    row : int
        Row number in the file (1 = first data row).
    action : str
        ``new``, ``update``, ``unchanged`` or ``error``.
    facility_id, name : str
    param, error : str
        For ``error``: the field at fault and why.
    moved_m : float or None
        For ``update``: how far the facility moves (WGS-84 geodesic metres).
    changed : list of str
        For ``update``: the fields that change.
    duplicates : list of NearbyWarning
        Likely duplicates already stored (new or moved rows).
    file_duplicates : list of (int, float, tuple of str)
        Likely duplicates among the file's other rows: (row, metres, reasons).
    suggestions : list of (str, str)
        For an unknown key (kind, amenity, status…): (what the file says, the closest
        allowed key), see :func:`locator.formats.bulk.suggest_keys`; ``error`` says it too.
    """

    row: int
    action: str
    facility_id: str = ""
    name: str = ""
    param: str = ""
    error: str = ""
    moved_m: float | None = None
    changed: list[str] = field(default_factory=list)
    duplicates: list[NearbyWarning] = field(default_factory=list)
    file_duplicates: list[tuple[int, float, tuple[str, ...]]] = field(default_factory=list)
    suggestions: list[tuple[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class ImportPlan:
    """The dry run of a bulk upload: what applying it would do, row by row.

    ``to_write`` holds the facilities ``apply`` would store (new and updated rows) and
    ``expected`` the version each was read at (None for new ones); ``seen`` the version
    of every row's facility, unchanged ones included (what a later apply compares).
    """

    datum: Datum
    rows: list[PlannedRow]
    to_write: list[Facility] = field(default_factory=list)
    expected: dict[str, int | None] = field(default_factory=dict)
    seen: dict[str, int | None] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no row has an error (``apply`` may proceed)."""
        return not any(r.action == "error" for r in self.rows)

    def count(self, action: str) -> int:
        """Number of rows with this action."""
        return sum(1 for r in self.rows if r.action == action)


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """A history entry and the same entry in words (:func:`locator.core.history.describe_entry`)."""

    entry: HistoryEntry
    words: EntryWords


def with_suggestions(detail: str, column: str, suggestions: list[tuple[str, str]]) -> Msg:
    """A row error followed by "did you mean breastfeeding_room (哺乳间)?"."""
    labels = vocabularies().get(column, {})
    words: Msg | str = ""
    for _given, key in suggestions:
        label = labels.get(key)
        one = Msg("%(key)s (%(label)s)", key=key, label=Term(label.zh, label.en)) if label else key
        words = one if not words else Msg("%(a)s, %(b)s", a=words, b=one)
    return Msg("%(error)s — did you mean %(keys)s?", error=detail, keys=words)


def jsonable(value: Any) -> Any:
    """A tracked field value as history stores it (sorted lists, ISO strings)."""
    if isinstance(value, frozenset | set):
        return sorted(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


class ManagementService:
    """The management rules over a :class:`LocatorService` (its store and index).

    Parameters
    ----------
    locator : LocatorService
    stale_days : int
        A facility not verified for this many days is stale.
    clock : callable, optional
        Returns the current instant (timezone-aware); tests pass a fixed one.
    """

    def __init__(
        self,
        locator: LocatorService,
        *,
        stale_days: int = 90,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.locator = locator
        self.stale_days = stale_days
        self.clock = clock or (lambda: datetime.now(UTC))

    @property
    def store(self) -> Store:
        """The store (facilities, history, reports, checked batches)."""
        return self.locator.store

    # -- scopes -------------------------------------------------------------------

    def district_of(self, lon: float, lat: float) -> str | None:
        """Adcode of the district covering WGS-84 ``(lon, lat)`` (point-in-polygon), or None."""
        area = self.locator.districts.locate(lon, lat)
        return area.code if area else None

    def in_scope(self, user: User, f: Facility) -> bool:
        """Whether ``user`` may manage ``f`` as it is (location in WGS-84)."""
        if user.role == "admin":
            return True
        if user.role == "district_manager":
            return self.district_of(f.lon, f.lat) in user.districts
        if user.role == "station_manager":
            return f.id in user.facilities
        return False

    def _listed(self, user: User, f: Facility) -> bool:
        """Scope test for listings (stored district; see the module docstring)."""
        if user.role == "admin":
            return True
        if user.role == "district_manager":
            return f.district_adcode in user.districts
        return user.role == "station_manager" and f.id in user.facilities

    def check(self, user: User, f: Facility, action: Msg) -> None:
        """Raise :class:`ForbiddenError` unless ``user`` may ``action`` facility ``f``.

        Raises
        ------
        ForbiddenError
        """
        if not self.in_scope(user, f):
            raise ForbiddenError(
                Msg(
                    "you may not %(action)s facility %(id)r: it is outside your %(scope)s",
                    action=action,
                    id=f.id,
                    scope=self._scope_words(user),
                ),
                param="id",
            )

    @staticmethod
    def _scope_words(user: User) -> Msg:
        if user.role == "district_manager":
            return Msg("districts") if len(user.districts) > 1 else Msg("district")
        return Msg("assigned facilities")

    def can_create(self, user: User) -> bool:
        """Admins and district managers create facilities; station managers do not."""
        return user.role in {"admin", "district_manager"}

    # -- reads --------------------------------------------------------------------

    def facilities(self, user: User, flt: FacilityFilter | None = None) -> list[Facility]:
        """The facilities ``user`` manages that pass ``flt``, by name then id.

        Reads the in-memory index (caught up with the store first).
        """
        flt = flt or FacilityFilter()
        text = flt.text.strip().lower()
        reports = self.open_report_counts(user) if flt.with_reports else {}
        out = []
        index = self.locator.index
        # Column filters first (nothing materialised); the checks below stay the rule.
        districts: frozenset[str] | None = None
        if user.role == "district_manager":
            districts = frozenset(user.districts)
        if flt.districts:
            districts = flt.districts if districts is None else districts & flt.districts
        if user.role == "station_manager":
            handles = sorted(h for fid in user.facilities if (h := index.handle(fid)) is not None)
        elif user.role == "admin" or districts is not None:
            handles = index.handles(
                kinds=flt.kinds or None, statuses=flt.statuses or None, district_adcodes=districts
            )
        else:
            handles = []
        for f in map(index.facility, handles):
            if not self._listed(user, f):
                continue
            if flt.kinds and f.kind not in flt.kinds:
                continue
            if flt.statuses and f.status not in flt.statuses:
                continue
            if flt.districts and f.district_adcode not in flt.districts:
                continue
            if flt.stale and not self.is_stale(f):
                continue
            if flt.with_reports and not reports.get(f.id):
                continue
            if text and not any(text in s.lower() for s in (f.id, f.name, f.address)):
                continue
            out.append(f)
        out.sort(key=lambda f: (f.name, f.id))
        return out

    def get(self, user: User, facility_id: str) -> Facility:
        """One facility in ``user``'s scope, read from the store.

        Raises
        ------
        NotFoundError, ForbiddenError
        """
        f = self.store.get(facility_id)
        self.check(user, f, Msg("manage"))
        return f

    def is_stale(self, f: Facility, now: datetime | None = None) -> bool:
        """True when ``f`` was never verified or not within ``stale_days`` (removed ones never are)."""
        if f.status == "removed":
            return False
        if f.verified_at is None:
            return True
        return (now or self.clock()) - f.verified_at > timedelta(days=self.stale_days)

    def stale(self, user: User) -> list[Facility]:
        """``user``'s stale facilities, least recently verified first."""
        now = self.clock()
        items = [f for f in self.facilities(user) if self.is_stale(f, now)]
        oldest = datetime.min.replace(tzinfo=UTC)
        items.sort(key=lambda f: (f.verified_at or oldest, f.id))
        return items

    def open_report_counts(self, user: User) -> dict[str, int]:
        """``{facility id: open rider reports}`` in ``user``'s scope."""
        counts: dict[str, int] = {}
        for report, _facility in self.reports(user):
            counts[report.facility_id] = counts.get(report.facility_id, 0) + 1
        return counts

    # -- rider reports --------------------------------------------------------------

    def reports(
        self, user: User, *, handled: bool = False, limit: int = 200
    ) -> list[tuple[Report, Facility | None]]:
        """The rider reports about ``user``'s facilities, with each facility (None if deleted).

        Parameters
        ----------
        handled : bool
            False: the open queue, oldest first. True: resolved and dismissed ones,
            most recent first.
        limit : int
            Most reports returned (handled ones only; the open queue is complete).

        Reports about deleted facilities are shown to admins only.
        """
        ids = frozenset(user.facilities) if user.role == "station_manager" else None
        statuses = frozenset({"resolved", "dismissed"}) if handled else frozenset({"open"})
        out = []
        index = self.locator.index
        for report in self.store.list_reports(
            statuses=statuses, facility_ids=ids, limit=limit if handled else None
        ):
            f = index.get(report.facility_id)
            if (f is None and user.role == "admin") or (f is not None and self._listed(user, f)):
                out.append((report, f))
        return out

    def resolve_report(
        self,
        user: User,
        report_id: int,
        resolution: str,
        action: str = "none",
        *,
        until: date | str | None = None,
        note: str = "",
    ) -> Report:
        """Resolve or dismiss a rider report, applying the action to the facility first.

        Parameters
        ----------
        resolution : str
            ``resolved`` or ``dismissed`` (a dismissal takes no action).
        action : str
            One of :data:`REPORT_ACTIONS`: ``none``, ``verified`` (checked: it is right),
            ``temporarily_closed`` (optionally ``until`` a day), ``removed`` (needs a
            ``note`` saying why), ``open``.
        note : str
            Kept with the report and in the facility's history.

        Raises
        ------
        ValidationError, ForbiddenError, NotFoundError
        ConflictError
            If someone else already handled the report.
        """
        if resolution not in {"resolved", "dismissed"}:
            raise ValidationError(Msg("resolution must be resolved or dismissed"), param="resolution")
        if action not in REPORT_ACTIONS:
            raise ValidationError(
                Msg("action must be one of %(values)s", values=", ".join(REPORT_ACTIONS)), param="action"
            )
        if resolution == "dismissed" and action != "none":
            raise ValidationError(Msg("a dismissed report takes no action"), param="action")
        if action == "removed" and not note.strip():
            raise ValidationError(Msg("say why the facility is removed"), param="note")
        report = self.store.get_report(report_id)
        if report.status != "open":
            raise ConflictError(
                Msg(
                    "report %(id)s was already %(status)s",
                    id=report_id,
                    status=_report_status(report.status),
                ),
                param="report",
            )
        try:
            f: Facility | None = self.store.get(report.facility_id)
        except NotFoundError:
            f = None
        if f is None:
            if user.role != "admin":
                raise NotFoundError(Msg("no report %(id)s", id=report_id), param="report")
            if action != "none":
                raise ValidationError(
                    Msg("the facility was deleted; only “none” is possible"), param="action"
                )
        else:
            self.check(user, f, Msg("handle reports on"))
        why = {
            "code": "report",
            "note": note,
            "report": report.id,
            "report_reason": report.reason,
            "action": action,
        }
        if f is not None and action == "verified":
            self._write(user, f.id, {"verified_at": self.clock()}, None, why)
        elif f is not None and action in STATUSES:
            # The facility's status reason is the manager's note (riders see it); the
            # history records which report it answers.
            self._write(user, f.id, self.status_fields(action, until, note), None, why)
        return self.store.resolve_report(report_id, resolution, action, self._actor(user, note))

    # -- writes -------------------------------------------------------------------

    def _actor(self, user: User, note: str, code: str = "", **params: Any) -> Actor:
        """Who and why, as the history stores it (:func:`locator.core.history.encode_reason`)."""
        return Actor(user.name, encode_reason(code, (note or "").strip()[:500], **params))

    def prepare_create(self, user: User, record: Mapping[str, Any], datum: Datum) -> Facility:
        """Every check of :meth:`create`, without writing: the facility as it would be stored.

        Raises
        ------
        ValidationError, ForbiddenError
        """
        if not self.can_create(user):
            raise ForbiddenError(Msg("station managers cannot create facilities"))
        rec = {k: v for k, v in record.items() if k in CREATE_FIELDS}
        if STATUS_FIELDS & set(rec):
            status_fields = self.status_fields(
                rec.get("status", "open"), rec.get("status_until"), rec.get("status_reason", "")
            )
            rec.update(status_fields)
        rec.setdefault("source", f"manage:{user.name}")
        built = self.locator.build(rec, datum)
        self.check(user, built, Msg("create"))
        return built

    def create(self, user: User, record: Mapping[str, Any], datum: Datum, *, reason: str = "") -> Facility:
        """Validate, scope-check and store a new facility.

        Parameters
        ----------
        record : mapping
            Domain fields; ``lon``/``lat`` in ``datum`` degrees (required), ``kind`` and
            ``name`` required. ``id`` is generated when absent.
        datum : Datum
            Datum of ``lon``/``lat``; converted to WGS-84 before anything else.

        Raises
        ------
        ValidationError, ForbiddenError, ConflictError
        """
        built = self.prepare_create(user, record, datum)
        stored = self.store.add(built, self._actor(user, reason))
        self.locator.written([stored])
        return stored

    def prepare_update(
        self, user: User, facility_id: str, changes: Mapping[str, Any], datum: Datum | None = None
    ) -> Facility:
        """Every check of :meth:`update` except the version, without writing.

        Returns
        -------
        Facility
            The facility as it would be stored (WGS-84, areas assigned).

        Raises
        ------
        ValidationError, ForbiddenError, NotFoundError
        """
        unknown = sorted(set(changes) - set(CHANGEABLE_FIELDS))
        if unknown:
            raise ValidationError(
                Msg("field cannot be changed here: %(fields)s", fields=", ".join(unknown)), param=unknown[0]
            )
        moving = "lon" in changes or "lat" in changes
        if moving and not ("lon" in changes and "lat" in changes):
            raise ValidationError(Msg("send lon and lat together"), param="location")
        if moving and datum is None:
            raise ValidationError(Msg("a new location must declare its datum"), param="datum")
        base = self.store.get(facility_id)
        self.check(user, base, Msg("edit"))
        if STATUS_FIELDS & set(changes):
            # The same lifecycle rules as set_status, applied to the facility as changed.
            status = changes.get("status", base.status)
            same = status == base.status
            until = changes.get("status_until", base.status_until if same else None)
            reason = changes.get("status_reason", base.status_reason if same else "")
            fields = self.status_fields(status, until, reason, check_until="status_until" in changes)
            changes = {**changes, **fields}
        built = self.locator.build(changes, datum or Datum.WGS84, base=base)
        if not self.in_scope(user, built):
            raise ForbiddenError(
                Msg(
                    "this change would move facility %(id)r out of your %(scope)s",
                    id=facility_id,
                    scope=self._scope_words(user),
                ),
                param="location",
            )
        return built

    def update(
        self,
        user: User,
        facility_id: str,
        changes: Mapping[str, Any],
        expected_version: int,
        datum: Datum | None = None,
        *,
        reason: str = "",
    ) -> Facility:
        """Apply a partial change to a facility still at ``expected_version``.

        Parameters
        ----------
        changes : mapping
            Any of :data:`CHANGEABLE_FIELDS`. ``lon`` and ``lat`` come together, with
            ``datum``.
        datum : Datum, optional
            Required when the change moves the facility.

        Raises
        ------
        ValidationError
            An unknown field, a move without a datum, or an invalid value.
        ForbiddenError
            The facility is outside the scope, or would be after the change.
        NotFoundError, VersionConflictError
        """
        built = self.prepare_update(user, facility_id, changes, datum)
        stored = self.store.update(built, expected_version, self._actor(user, reason))
        self.locator.written([stored])
        return stored

    def set_status(
        self,
        user: User,
        facility_id: str,
        status: str,
        *,
        until: date | str | None = None,
        reason: str = "",
        expected_version: int | None = None,
    ) -> Facility:
        """Open, temporarily close (optionally until a date) or remove a facility.

        Parameters
        ----------
        status : str
            ``open``, ``temporarily_closed`` or ``removed``.
        until : date or ISO date string, optional
            Only for ``temporarily_closed``: the expected reopening day (Asia/Shanghai),
            today or later.
        reason : str
            Required for ``removed``.
        expected_version : int, optional
            The version the caller saw; default the current one.

        Raises
        ------
        ValidationError, ForbiddenError, NotFoundError, VersionConflictError
        """
        changes = self.status_fields(status, until, reason)
        reason = changes["status_reason"]
        why = {"code": "status", "note": reason, "status": status}
        return self._write(user, facility_id, changes, expected_version, why)

    def status_fields(
        self, status: Any, until: date | str | None, reason: Any, *, check_until: bool = True
    ) -> dict[str, Any]:
        """The lifecycle rules: the ``status``/``status_until``/``status_reason`` fields.

        Used by :meth:`set_status` and by :meth:`update` when a change touches the status,
        so that no path stores, e.g., a removal without a reason.

        Parameters
        ----------
        status : str
            ``open``, ``temporarily_closed`` or ``removed``.
        until : date or ISO date string, optional
            Only for ``temporarily_closed``; today (Asia/Shanghai) or later when
            ``check_until``.
        reason : str
            Required for ``removed``; dropped for ``open``.

        Raises
        ------
        ValidationError
        """
        if not isinstance(status, str) or status not in STATUSES:
            raise ValidationError(
                Msg("status must be one of %(values)s", values=", ".join(STATUSES)), param="status"
            )
        if not isinstance(reason, str):
            raise ValidationError(Msg("the reason must be text"), param="reason")
        reason = reason.strip()
        until_date = _parse_day(until)
        if until_date is not None and status != "temporarily_closed":
            raise ValidationError(Msg("until is only for temporarily_closed"), param="until")
        if check_until and until_date is not None and until_date < self.clock().astimezone(TZ).date():
            raise ValidationError(Msg("until must be today or later"), param="until")
        if status == "removed" and not reason:
            raise ValidationError(Msg("say why the facility is removed"), param="reason")
        return {
            "status": status,
            "status_until": until_date.isoformat() if until_date else None,
            "status_reason": "" if status == "open" else reason,
        }

    def verify(
        self, user: User, facility_id: str, *, expected_version: int | None = None, reason: str = ""
    ) -> Facility:
        """Record that the facility was checked and is right, now.

        Raises
        ------
        ForbiddenError, NotFoundError, VersionConflictError
        """
        changes = {"verified_at": self.clock()}
        return self._write(user, facility_id, changes, expected_version, {"code": "verified", "note": reason})

    def _write(
        self,
        user: User,
        facility_id: str,
        changes: Mapping[str, Any],
        expected_version: int | None,
        why: Mapping[str, Any],
    ) -> Facility:
        """Write ``changes`` with the reason record ``why`` (``code``, ``note``, parameters)."""
        base = self.store.get(facility_id)
        self.check(user, base, Msg("change"))
        built = self.locator.build(changes, Datum.WGS84, base=base)
        version = base.version if expected_version is None else expected_version
        params = {k: v for k, v in why.items() if k not in {"code", "note"}}
        actor = self._actor(user, str(why.get("note") or ""), str(why["code"]), **params)
        stored = self.store.update(built, version, actor)
        self.locator.written([stored])
        return stored

    def check_can_delete(self, user: User) -> None:
        """Raise :class:`ForbiddenError` unless ``user`` may delete facilities (admins only)."""
        if user.role != "admin":
            raise ForbiddenError(Msg("only administrators delete facilities; set the status to removed"))

    def delete(self, user: User, facility_id: str, expected_version: int, *, reason: str = "") -> None:
        """Delete a facility for good (admins only; others set status ``removed``).

        Raises
        ------
        ForbiddenError, NotFoundError, VersionConflictError
        """
        self.check_can_delete(user)
        self.store.delete(facility_id, expected_version, self._actor(user, reason))
        self.locator.written(deleted_ids=[facility_id])

    # -- history ------------------------------------------------------------------

    def history(self, user: User, facility_id: str) -> list[HistoryEntry]:
        """The facility's append-only history, oldest first.

        Raises
        ------
        NotFoundError
            Unknown id (or a deleted facility, for anyone but an admin).
        ForbiddenError
        """
        try:
            self.get(user, facility_id)
        except NotFoundError:
            if user.role != "admin":
                raise
        entries: list[HistoryEntry] = self.store.history(facility_id)
        if not entries:
            raise NotFoundError(Msg("no facility with id %(id)r", id=facility_id), param="id")
        return entries

    def history_words(self, user: User, facility_id: str) -> list[HistoryItem]:
        """The facility's history with every entry in words, newest first.

        Each entry is described with the facility's state before it (replayed from the
        older entries), so a move shows its geodesic distance and direction even when
        only one coordinate changed. Raises as :meth:`history`.
        """
        state: dict[str, Any] = {}
        out = []
        for e in self.history(user, facility_id):
            out.append(HistoryItem(e, describe_entry(e.action, e.actor, e.reason, e.changes, state)))
            state = {} if e.action == "delete" else {**state, **{k: v[1] for k, v in e.changes.items()}}
        out.reverse()
        return out

    @staticmethod
    def state_after(entries: Iterable[HistoryEntry], seq: int) -> dict[str, Any]:
        """The tracked fields as they were right after history entry ``seq``.

        Replays the entries' ``changes`` in order (a create or import from nothing
        carries every field, a delete clears them).

        Raises
        ------
        NotFoundError
            If no entry has this ``seq``.
        """
        state: dict[str, Any] = {}
        found = False
        for e in entries:
            for name, (_old, new) in e.changes.items():
                state[name] = new
            if e.action == "delete":
                state = {}
            if e.seq == seq:
                found = True
                break
        if not found:
            raise NotFoundError(Msg("no history entry %(seq)s", seq=seq), param="seq")
        return {name: state.get(name) for name in TRACKED_FIELDS}

    def restore(
        self, user: User, facility_id: str, seq: int, expected_version: int, *, reason: str = ""
    ) -> Facility:
        """Make the facility look as it did right after history entry ``seq``: a new change.

        Restores :data:`RESTORED_FIELDS` (not the verification time); the result is
        scope-checked like any edit, and recorded as ``update`` with the reason record
        ``restore`` (``seq``, ``version``).

        Raises
        ------
        NotFoundError, ForbiddenError, VersionConflictError, ValidationError
        """
        entries = self.history(user, facility_id)
        entry = next((e for e in entries if e.seq == seq), None)
        if entry is None or entry.action == "delete":
            raise NotFoundError(Msg("no restorable history entry %(seq)s", seq=seq), param="seq")
        state = self.state_after(entries, seq)
        changes = {name: state[name] for name in RESTORED_FIELDS if name != "source"}
        built = self.prepare_update(user, facility_id, changes, Datum.WGS84)
        actor = self._actor(user, reason, "restore", seq=seq, version=entry.version)
        stored = self.store.update(built, expected_version, actor)
        self.locator.written([stored])
        return stored

    def conflict(self, user: User, facility_id: str, based_on: int, mine: Mapping[str, Any]) -> Conflict:
        """Describe a refused stale edit: the stored facility, the base, both sides' changes.

        Parameters
        ----------
        based_on : int
            The version the edit started from.
        mine : mapping
            The edit's values (JSON values; ``lon``/``lat`` WGS-84); only those that
            differ from the base count as the editor's changes.
        """
        current = self.get(user, facility_id)
        entries = self.store.history(facility_id)
        base: dict[str, Any] = {}
        for e in reversed(entries):
            if e.version == based_on and e.action != "delete":
                base = self.state_after(entries, e.seq)
                break
        now = {name: jsonable(getattr(current, name)) for name in TRACKED_FIELDS}
        if base:
            my_changes = {k: v for k, v in mine.items() if base.get(k) != v}
            theirs = {k: [base.get(k), now[k]] for k in TRACKED_FIELDS if base.get(k) != now[k]}
        else:
            my_changes = {k: v for k, v in mine.items() if now.get(k) != v}
            theirs = {}
        ignored = {"district_adcode", "district_name", "subdistrict"}
        theirs = {k: v for k, v in theirs.items() if k not in ignored}
        return Conflict(current, base, my_changes, theirs)

    # -- bulk upload and export ---------------------------------------------------------

    def plan_import(
        self, user: User, records: Iterable[tuple[int, Mapping[str, Any]]], datum: Datum
    ) -> ImportPlan:
        """Dry-run a bulk upload: validate and scope-check every row; write nothing.

        Rows with the id of a stored facility update the columns present in the file
        (a partial update; empty ``lon`` and ``lat`` keep the location); other rows
        create facilities (ids generated when absent).

        Parameters
        ----------
        records : iterable of (row number, record)
            As :func:`locator.formats.bulk.read_upload` returns them.
        datum : Datum
            The datum of every row's ``lon``/``lat``.
        """
        plan = ImportPlan(datum, [])
        seen: dict[str, int] = {}
        columns: set[str] = set()
        for row, rec in records:
            columns.update(rec)
            fields = {k: v for k, v in rec.items() if k in IMPORT_FIELDS}
            if fields.get("lon") in (None, "") and fields.get("lat") in (None, ""):
                fields.pop("lon", None)
                fields.pop("lat", None)
            rid = str(fields.pop("id", "") or "").strip()
            item = PlannedRow(row, "new", rid, str(fields.get("name") or ""))
            plan.rows.append(item)
            try:
                if rid and rid in seen:
                    raise ValidationError(
                        Msg("duplicate id %(id)r (first on row %(row)s)", id=rid, row=seen[rid]), param="id"
                    )
                try:
                    existing: Facility | None = self.store.get(rid) if rid else None
                except NotFoundError:
                    existing = None
                if existing is None:
                    if not self.can_create(user):
                        raise ForbiddenError(Msg("station managers cannot create facilities"))
                    if "lon" not in fields:
                        raise ValidationError(Msg("lon and lat are missing"), param="location")
                    built = self.locator.build({**fields, **({"id": rid} if rid else {})}, datum)
                    self.check(user, built, Msg("create"))
                    item.duplicates = self.nearby_warnings(built.lon, built.lat, built.kind, built.name)
                else:
                    self.check(user, existing, Msg("update"))
                    built = self.locator.build(fields, datum, base=existing)
                    if not self.in_scope(user, built):
                        raise ForbiddenError(
                            Msg(
                                "row would move %(id)r out of your %(scope)s",
                                id=rid,
                                scope=self._scope_words(user),
                            )
                        )
                    changes = {
                        k: v
                        for k, v in field_changes(existing, built).items()
                        if k not in {"district_adcode", "district_name", "subdistrict"}
                    }
                    item.action = "update" if changes else "unchanged"
                    item.changed = sorted(changes)
                    if "lon" in changes or "lat" in changes:
                        item.moved_m = geodesic_distance_m(existing.lon, existing.lat, built.lon, built.lat)
                        item.duplicates = self.nearby_warnings(
                            built.lon, built.lat, built.kind, built.name, exclude_id=built.id
                        )
                item.facility_id, item.name = built.id, built.name
                seen[built.id] = row
                plan.seen[built.id] = None if existing is None else existing.version
                if item.action != "unchanged":
                    plan.to_write.append(built)
                    plan.expected[built.id] = None if existing is None else existing.version
            except LocatorError as exc:
                item.action, item.param, item.error = "error", exc.param or "", exc.detail
                item.suggestions = suggest_keys(item.param, rec.get(item.param)) if item.param else []
                if item.suggestions:
                    item.error = with_suggestions(exc.detail, item.param, item.suggestions)
        plan.ignored_columns = sorted(columns - set(IMPORT_FIELDS))
        self._file_duplicates(plan)
        return plan

    @staticmethod
    def _file_duplicates(plan: ImportPlan) -> None:
        """Mark rows that look like duplicates of other rows in the same file."""
        rows = {r.facility_id: r for r in plan.rows if r.action in {"new", "update"}}
        written = [f for f in plan.to_write if f.id in rows]
        if len(written) < 2:
            return
        index = FacilityIndex([f.replace(status="open") for f in written])
        for f in written:
            query = NearestQuery(lon=f.lon, lat=f.lat, k=20, radius_m=SIMILAR_NAME_RADIUS_M)
            for hit in index.nearest(query):
                other = hit.facility
                if other.id == f.id:
                    continue
                reasons = []
                if other.kind == f.kind and hit.distance_m <= SAME_KIND_RADIUS_M:
                    reasons.append("same_kind")
                if similar_names(f.name, other.name):
                    reasons.append("similar_name")
                if reasons:
                    rows[f.id].file_duplicates.append((rows[other.id].row, hit.distance_m, tuple(reasons)))

    def apply_import(
        self,
        user: User,
        records: Iterable[tuple[int, Mapping[str, Any]]],
        datum: Datum,
        *,
        dry_run_versions: Mapping[str, int | None] | None = None,
        reason: str = "",
        file: str = "",
    ) -> ImportPlan:
        """Apply a bulk upload: every row is written, or none.

        The rows are planned again (validated and scope-checked against the store as it
        is now). With ``dry_run_versions`` (the ``expected`` of the dry run the manager
        saw), a facility changed since that dry run refuses the whole upload. ``reason``
        (the manager's words) and ``file`` (the uploaded file's name) go into every
        written facility's history (the reason record ``bulk``).

        Returns
        -------
        ImportPlan
            What was written.

        Raises
        ------
        ImportRejectedError
            If any row has an error; nothing is written.
        VersionConflictError
            If a facility changed since the dry run (or during the write); nothing is
            written.
        """
        plan = self.plan_import(user, records, datum)
        if not plan.ok:
            raise ImportRejectedError([(r.row, r.param, r.error) for r in plan.rows if r.action == "error"])
        if dry_run_versions is not None:
            for fid, version in plan.seen.items():
                if fid in dry_run_versions and dry_run_versions[fid] != version:
                    raise VersionConflictError(
                        Msg("facility %(id)r changed since the dry run; run the dry run again", id=fid),
                        current_version=version or 0,
                    )
        if not plan.to_write:
            return plan
        actor = self._actor(user, reason, "bulk", file=file) if file else self._actor(user, reason)
        self.store.write_batch(plan.to_write, plan.expected, actor)
        self.locator.refresh(force=True)
        return plan

    # -- likely duplicates ----------------------------------------------------------

    def nearby_warnings(
        self, lon: float, lat: float, kind: str, name: str, *, exclude_id: str | None = None
    ) -> list[NearbyWarning]:
        """Likely duplicates of a facility at WGS-84 ``(lon, lat)``: nearest first.

        A facility (not removed) counts when it has the same kind within
        :data:`SAME_KIND_RADIUS_M` or a similar name (:func:`similar_names`) within
        :data:`SIMILAR_NAME_RADIUS_M`; distances are WGS-84 geodesic metres from the
        in-memory index.
        """
        query = NearestQuery(
            lon=lon,
            lat=lat,
            k=100,
            statuses=frozenset({"open", "temporarily_closed"}),
            radius_m=SIMILAR_NAME_RADIUS_M,
        )
        out = []
        for hit in self.locator.index.nearest(query):
            f = hit.facility
            if f.id == exclude_id:
                continue
            reasons = []
            if f.kind == kind and hit.distance_m <= SAME_KIND_RADIUS_M:
                reasons.append("same_kind")
            if name and similar_names(name, f.name):
                reasons.append("similar_name")
            if reasons:
                out.append(NearbyWarning(f, hit.distance_m, tuple(reasons)))
        return out


_REPORT_STATUS_WORDS: Final = {
    "open": Msg("open"),
    "resolved": Msg("resolved"),
    "dismissed": Msg("dismissed"),
}


def _report_status(status: str) -> str:
    """A report status as a translatable word (unknown statuses as they are)."""
    return _REPORT_STATUS_WORDS.get(status, status)


def _parse_day(value: date | str | None) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        raise ValidationError(Msg("until must be a date (YYYY-MM-DD)"), param="until")
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValidationError(Msg("until must be a date (YYYY-MM-DD)"), param="until") from None
