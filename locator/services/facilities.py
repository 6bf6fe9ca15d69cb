"""Use cases: find nearest, read, create, update and import facilities. No Flask here.

:class:`LocatorService` owns the in-memory index, kept in step with the store by an
:class:`~locator.services.index_keeper.IndexKeeper`: it starts from a memory-mapped
snapshot when one matches the store, follows the store's revision in a background thread
(each committed write reaches every worker, and every app node on one PostGIS database,
within a fraction of a second), and folds changes into a new base in the background. A
request only reads the current index: no revision check, no catch-up. This worker's own
writes are patched into the index at once, so the writer's next request sees them. If the
store is unreachable, queries keep being answered from the last index.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from locator.core.areas import AreaIndex, ServiceArea
from locator.core.domain import Facility, NearestHit, NearestQuery, parse_amenities, validate_facility
from locator.core.geo import Datum, to_wgs84
from locator.core.hours import TZ
from locator.core.index import FacilityIndex
from locator.errors import (
    ImportRejectedError,
    LocatorError,
    Msg,
    NotFoundError,
    StoreUnavailableError,
    ValidationError,
)
from locator.services.index_keeper import DEFAULT_POLL_S, IndexKeeper
from locator.stores import open_store
from locator.stores.contract import SYSTEM, Actor, Store

log = logging.getLogger(__name__)

#: A record as read from an import file or an API body: domain field names, plus
#: ``lon``/``lat`` in the declared datum.
Record = Mapping[str, Any]

IMPORT_ACTOR = Actor("import")


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""


def _parse_instant(value: Any, name: str) -> datetime | None:
    if _missing(value):
        return None
    if isinstance(value, datetime):
        dt = value
    else:
        try:
            dt = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(
                Msg("%(name)s must be an ISO 8601 instant", name=name), param=name
            ) from None
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=TZ)


def _parse_date(value: Any, name: str) -> date | None:
    if _missing(value):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise ValidationError(Msg("%(name)s must be an ISO 8601 date", name=name), param=name) from None


def _parse_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if _missing(value):
        return False
    text = str(value).strip().lower()
    if text in {"true", "1", "yes", "y", "t"}:
        return True
    if text in {"false", "0", "no", "n", "f"}:
        return False
    raise ValidationError(Msg("%(name)s must be true or false", name=name), param=name)


def _parse_coord(value: Any, name: str) -> float:
    if _missing(value) or isinstance(value, bool):
        raise ValidationError(Msg("%(name)s is missing", name=name), param=name)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValidationError(Msg("%(name)s must be a number", name=name), param=name) from None
    if not math.isfinite(number):
        raise ValidationError(Msg("%(name)s must be a finite number", name=name), param=name)
    return number


def _text_or_empty(value: Any) -> Any:
    return "" if _missing(value) else value


def new_facility_id() -> str:
    """A fresh random facility id (``f-`` and 16 hex digits)."""
    return "f-" + uuid.uuid4().hex[:16]


class LocatorService:
    """The locator's rules over one store and one in-memory index.

    Parameters
    ----------
    store : Store
        Every capability of the store contract (facilities, feedback, reports, ...).
    districts, subdistricts : AreaIndex
        For assigning district and subdistrict by point-in-polygon (WGS-84).
    service_area : ServiceArea
        Facilities must lie inside it.
    check_interval_s : float
        Seconds between the background thread's store-revision checks (0: the
        default, :data:`~locator.services.index_keeper.DEFAULT_POLL_S`).
    snapshot_dir : Path, optional
        Where index snapshots are kept (see :mod:`locator.services.index_keeper`);
        None: the index is built from the rows at every start.
    follower : Store, optional
        The store the index follows, when it is not ``store`` (a PostGIS standby,
        ``LOCATOR_DATABASE_READ_URL``): same data, possibly a few milliseconds behind.
        Closed by :meth:`close`.
    """

    def __init__(
        self,
        store: Store,
        districts: AreaIndex,
        subdistricts: AreaIndex,
        service_area: ServiceArea,
        *,
        check_interval_s: float = 0.0,
        snapshot_dir: Path | None = None,
        follower: Store | None = None,
    ) -> None:
        self.store = store
        self.districts = districts
        self.subdistricts = subdistricts
        self.service_area = service_area
        path = getattr(store, "path", None)
        if follower is not None:
            pass
        elif store.backend == "sqlite" and path is not None:
            # The keeper's threads read through a store object of their own, so that
            # closing this one (tests do, at any moment) never closes a connection a
            # background thread is using.
            follower = open_store(f"sqlite:///{path}")
        else:
            follower = store
        self.keeper = IndexKeeper(
            follower,
            snapshot_dir=snapshot_dir,
            poll_s=check_interval_s if check_interval_s > 0 else DEFAULT_POLL_S,
        )

    # -- the index ----------------------------------------------------------------

    @property
    def index(self) -> FacilityIndex:
        """The current index (what a request reads: one attribute, no store access).

        The first use in a process starts the keeper's background thread (after
        gunicorn's fork, not in the master).
        """
        keeper = self.keeper
        if not keeper.running:
            keeper.ensure_running()
        return keeper.index

    def start(self) -> FacilityIndex:
        """Load or build the index (start-up; see :meth:`IndexKeeper.start_up`).

        Raises
        ------
        StoreUnavailableError
        """
        return self.keeper.start_up()

    def refresh(self, *, force: bool = False) -> FacilityIndex:
        """Return the index; with ``force``, first apply the store's changes in this thread.

        ``force`` is for the command line, tests and writes through the store that do
        not know what they wrote (bulk batches); a request's reads never need it. If
        the store is unreachable the last index is returned and the failure logged.
        """
        if force:
            try:
                self.keeper.catch_up()
            except StoreUnavailableError:
                log.warning("store unavailable; answering from index revision %s", self.keeper.index.revision)
        return self.index

    def written(self, changed: Iterable[Facility] = (), deleted_ids: Iterable[str] = ()) -> None:
        """Show this worker's own committed write in its index at once.

        Parameters
        ----------
        changed : iterable of Facility
            Facilities as the store returned them after the write.
        deleted_ids : iterable of str
            Facilities the write deleted.
        """
        self.keeper.written(changed, deleted_ids)

    def close(self) -> None:
        """Stop following the store and close it."""
        self.keeper.stop()
        if self.keeper.store is not self.store:
            self.keeper.store.close()
        self.store.close()

    # -- queries ------------------------------------------------------------------

    def nearest(self, query: NearestQuery) -> list[NearestHit]:
        """Answer a nearest query from the index (see :meth:`FacilityIndex.nearest`)."""
        return self.index.nearest(query)

    def get(self, facility_id: str) -> Facility:
        """One facility by id, from the index.

        Raises
        ------
        NotFoundError
        """
        f = self.index.get(facility_id)
        if f is None:
            raise NotFoundError(Msg("no facility with id %(id)r", id=facility_id), param="id")
        return f

    # -- building facilities ------------------------------------------------------

    def assign_areas(self, f: Facility) -> Facility:
        """Set district and subdistrict from the WGS-84 location (point-in-polygon)."""
        d = self.districts.locate(f.lon, f.lat)
        s = self.subdistricts.locate(f.lon, f.lat)
        return f.replace(
            district_adcode=d.code if d else None,
            district_name=d.name if d else None,
            subdistrict=s.name if s else None,
        )

    def build(self, record: Record, datum: Datum, *, base: Facility | None = None) -> Facility:
        """Turn a record into a validated WGS-84 facility.

        Parameters
        ----------
        record : mapping
            Domain field names; ``lon``/``lat`` in ``datum`` degrees. With ``base``,
            absent fields keep the base's values (a partial update).
        datum : Datum
            The datum of ``lon``/``lat`` in the record.
        base : Facility, optional
            The stored facility being changed.

        Raises
        ------
        ValidationError
            Naming the field at fault; coordinates outside the service area included.
        """
        values: dict[str, Any] = {}
        if base is None:
            fid = record.get("id")
            values["id"] = new_facility_id() if _missing(fid) else str(fid).strip()
            if _missing(record.get("kind")):
                raise ValidationError(Msg("%(name)s is missing", name="kind"), param="kind")
            if _missing(record.get("name")):
                raise ValidationError(Msg("%(name)s is missing", name="name"), param="name")
        # Properties outside EDITABLE_FIELDS (e.g. a source's own columns) are ignored.
        text_fields = ("kind", "name", "address", "opening_hours", "host_type", "phone", "status_reason")
        for key in (*text_fields, "source"):
            if key in record:
                values[key] = _text_or_empty(record[key])
        if "amenities" in record:
            values["amenities"] = parse_amenities(_text_or_empty(record["amenities"]))
        if "status" in record:
            values["status"] = "open" if _missing(record["status"]) else record["status"]
        if "status_until" in record:
            values["status_until"] = _parse_date(record["status_until"], "status_until")
        if "verified_at" in record:
            values["verified_at"] = _parse_instant(record["verified_at"], "verified_at")
        if "demo" in record:
            values["demo"] = _parse_bool(record["demo"], "demo")
        if base is None or "lon" in record or "lat" in record:
            lon = _parse_coord(record.get("lon"), "lon")
            lat = _parse_coord(record.get("lat"), "lat")
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                raise ValidationError(Msg("coordinates out of range"), param="location")
            lon, lat = to_wgs84(lon, lat, datum)
            values["lon"], values["lat"] = lon, lat
        f = base.replace(**values) if base is not None else Facility(**values)
        f = validate_facility(f)
        if not self.service_area.contains(f.lon, f.lat):
            raise ValidationError(Msg("location is outside the service area"), param="location")
        return self.assign_areas(f)

    # -- writes -------------------------------------------------------------------

    def create(self, record: Record, datum: Datum, actor: Actor = SYSTEM) -> Facility:
        """Validate and store a new facility; the index follows."""
        stored = self.store.add(self.build(record, datum), actor)
        self.written([stored])
        return stored

    def update(
        self,
        facility_id: str,
        changes: Record,
        expected_version: int,
        datum: Datum = Datum.WGS84,
        actor: Actor = SYSTEM,
    ) -> Facility:
        """Apply a partial change to a stored facility if it is still at ``expected_version``.

        Raises
        ------
        NotFoundError, VersionConflictError, ValidationError
        """
        base = self.store.get(facility_id)
        stored = self.store.update(self.build(changes, datum, base=base), expected_version, actor)
        self.written([stored])
        return stored

    def import_records(
        self,
        records: Sequence[tuple[int, Record]],
        datum: Datum,
        actor: Actor = IMPORT_ACTOR,
        *,
        demo: bool | None = None,
    ) -> int:
        """Validate every record, then store all of them in one transaction, or none.

        Parameters
        ----------
        records : sequence of (row_number, record)
            Row numbers are reported in errors (1-based, as the reader counts them).
        datum : Datum
            The datum of every record's ``lon``/``lat``.
        demo : bool, optional
            Force the ``demo`` flag on every record.

        Returns
        -------
        int
            Number of facilities stored.

        Raises
        ------
        ImportRejectedError
            Listing every bad row (number, field, reason); nothing is stored.
        """
        errors: list[tuple[int, str, str]] = []
        built: list[Facility] = []
        first_row: dict[str, int] = {}
        for row, record in records:
            try:
                rec = dict(record)
                if demo is not None:
                    rec["demo"] = demo
                f = self.build(rec, datum)
            except LocatorError as exc:
                errors.append((row, exc.param or "", exc.detail))
                continue
            if f.id in first_row:
                dup = Msg("duplicate id %(id)r (first on row %(row)s)", id=f.id, row=first_row[f.id])
                errors.append((row, "id", dup))
                continue
            first_row[f.id] = row
            built.append(f)
        if errors:
            raise ImportRejectedError(errors)
        if not records:
            raise ImportRejectedError([(0, "", Msg("the file holds no rows"))])
        count = self.store.import_many(built, actor)
        self.refresh(force=True)
        return count
