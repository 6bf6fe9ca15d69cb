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
from typing import Any, Final

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
from locator.formats.readers import count_records, iter_records
from locator.services.index_keeper import CHUNK, DEFAULT_POLL_S, IndexKeeper
from locator.stores import open_store
from locator.stores.contract import SYSTEM, Actor, Store

log = logging.getLogger(__name__)

#: A record as read from an import file or an API body: domain field names, plus
#: ``lon``/``lat`` in the declared datum.
Record = Mapping[str, Any]

IMPORT_ACTOR = Actor("import")
#: Most bad rows an import lists; the others are counted (``ImportRejectedError.unlisted``).
MAX_LISTED_ERRORS: Final = 1_000
#: Rows validated and staged at a time (what an import holds in memory, besides the ids).
IMPORT_BATCH: Final = 5_000
#: Largest file an import accepts by default, rows (``LOCATOR_IMPORT_MAX_ROWS``).
DEFAULT_IMPORT_MAX_ROWS: Final = 2_000_000


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

    def _build_unplaced(self, record: Record, datum: Datum, *, base: Facility | None = None) -> Facility:
        """:meth:`build` without the service-area test and the district assignment."""
        values: dict[str, Any] = {}
        if base is None:
            fid = record.get("id")
            values["id"] = new_facility_id() if _missing(fid) else str(fid).strip()
            if _missing(record.get("kind")):
                raise ValidationError(Msg("%(name)s is missing", name="kind"), param="kind")
            if _missing(record.get("name")):
                raise ValidationError(Msg("%(name)s is missing", name="name"), param="name")
        # Properties outside EDITABLE_FIELDS (e.g. a source's own columns) are ignored.
        text_fields = (
            "kind",
            "name",
            "address",
            "opening_hours",
            "host_type",
            "phone",
            "access",
            "status_reason",
        )
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
        return validate_facility(f)

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
        f = self._build_unplaced(record, datum, base=base)
        if not self.service_area.contains(f.lon, f.lat):
            raise ValidationError(Msg("location is outside the service area"), param="location")
        return self.assign_areas(f)

    def build_many(self, records: Sequence[Record], datum: Datum) -> list[Facility | LocatorError]:
        """:meth:`build` for many new facilities: the area tests vectorised (an import's batch).

        Returns
        -------
        list of Facility or LocatorError
            One per record, in order: the facility :meth:`build` returns, or the error
            it raises (the same checks in the same order; only the service area and the
            district/subdistrict point-in-polygon tests run once for the whole batch).
        """
        out: list[Facility | LocatorError] = []
        for record in records:
            try:
                out.append(self._build_unplaced(record, datum))
            except LocatorError as exc:
                out.append(exc)
        built = [(i, f) for i, f in enumerate(out) if isinstance(f, Facility)]
        lons = [f.lon for _, f in built]
        lats = [f.lat for _, f in built]
        inside = self.service_area.contains_many(lons, lats)
        districts = self.districts.locate_many(lons, lats)
        subdistricts = self.subdistricts.locate_many(lons, lats)
        for (i, f), ok, d, sub in zip(built, inside, districts, subdistricts, strict=True):
            if not ok:
                out[i] = ValidationError(Msg("location is outside the service area"), param="location")
                continue
            out[i] = f.replace(
                district_adcode=d.code if d else None,
                district_name=d.name if d else None,
                subdistrict=sub.name if sub else None,
            )
        return out

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

    def import_file(
        self,
        path: str | Path,
        datum: Datum,
        actor: Actor = IMPORT_ACTOR,
        *,
        demo: bool | None = None,
        max_rows: int = DEFAULT_IMPORT_MAX_ROWS,
    ) -> int:
        """Import a GeoJSON, GeoPackage or CSV file, streamed (see :meth:`import_records`).

        The file's rows are counted first (cheaply, see
        :func:`locator.formats.readers.count_records`): a file of more than ``max_rows``
        is refused before anything is read into memory or staged.

        Parameters
        ----------
        path : str or Path
        datum : Datum
            The datum of the file's coordinates.
        actor : Actor
        demo : bool, optional
            Force the ``demo`` flag on every row.
        max_rows : int
            The most rows one import may hold (``LOCATOR_IMPORT_MAX_ROWS``).

        Returns
        -------
        int
            Number of facilities stored.

        Raises
        ------
        ValidationError
            The file cannot be read, or holds more than ``max_rows`` rows
            (``param="path"``); nothing is stored.
        ImportRejectedError
            See :meth:`import_records`.
        StoreUnavailableError
        """
        n = count_records(path, at_most=max_rows)
        if n > max_rows:
            raise ValidationError(
                Msg(
                    "%(file)s holds %(n)s rows; an import takes at most %(max)s "
                    "(LOCATOR_IMPORT_MAX_ROWS): split the file; nothing was imported",
                    file=Path(path).name,
                    n=n,
                    max=max_rows,
                ),
                param="path",
            )
        return self.import_records(iter_records(path), datum, actor, demo=demo, max_rows=max_rows)

    def import_records(
        self,
        records: Iterable[tuple[int, Record]],
        datum: Datum,
        actor: Actor = IMPORT_ACTOR,
        *,
        demo: bool | None = None,
        max_rows: int | None = None,
        batch: int = IMPORT_BATCH,
    ) -> int:
        """Validate every record, then store all of them in one transaction, or none.

        Records are consumed as a stream: validated and staged (see
        :meth:`~locator.stores.contract.FacilityStore.importing`) ``batch`` at a
        time, so memory holds one batch and the ids seen (for duplicates), whatever
        the number of rows. Riders keep seeing the previous facilities until the final
        transaction commits, and writes made meanwhile are not blocked except during
        that transaction. After the first bad row nothing more is staged, but every
        row is still checked, so that the report is complete.

        Parameters
        ----------
        records : iterable of (row_number, record)
            Row numbers are reported in errors (1-based, as the reader counts them).
        datum : Datum
            The datum of every record's ``lon``/``lat``.
        demo : bool, optional
            Force the ``demo`` flag on every record.
        max_rows : int, optional
            Refuse the import when it reaches this many rows plus one.
        batch : int
            Rows validated and staged at a time.

        Returns
        -------
        int
            Number of facilities stored.

        Raises
        ------
        ImportRejectedError
            Listing the bad rows (number, field, reason) — the first
            :data:`MAX_LISTED_ERRORS`, with the number of the others; nothing is stored.
        ValidationError
            The reader could not read the rest of the file, or it holds more than
            ``max_rows`` rows; nothing is stored.
        StoreUnavailableError
        """
        errors: list[tuple[int, str, str]] = []
        unlisted = 0
        first_row: dict[str, int] = {}
        rows = 0

        def check(batch_rows: list[int], batch_records: list[Record]) -> list[Facility]:
            """The batch's facilities, or nothing once any row of the import has failed."""
            nonlocal unlisted
            good: list[Facility] = []
            for row, built in zip(batch_rows, self.build_many(batch_records, datum), strict=True):
                error: tuple[int, str, str] | None = None
                if isinstance(built, LocatorError):
                    error = (row, built.param or "", built.detail)
                else:
                    seen = first_row.setdefault(built.id, row)
                    if seen != row:
                        dup = Msg("duplicate id %(id)r (first on row %(row)s)", id=built.id, row=seen)
                        error = (row, "id", dup)
                    else:
                        good.append(built)
                if error is None:
                    continue
                if len(errors) < MAX_LISTED_ERRORS:
                    errors.append(error)
                else:
                    unlisted += 1
            return [] if errors else good

        with self.store.importing(actor) as staged:
            batch_rows: list[int] = []
            batch_records: list[Record] = []
            for row, record in records:
                rows += 1
                if max_rows is not None and rows > max_rows:
                    raise ValidationError(
                        Msg(
                            "the file holds more than %(max)s rows (LOCATOR_IMPORT_MAX_ROWS); "
                            "nothing was imported",
                            max=max_rows,
                        ),
                        param="path",
                    )
                rec = dict(record)
                if demo is not None:
                    rec["demo"] = demo
                batch_rows.append(row)
                batch_records.append(rec)
                if len(batch_rows) >= batch:
                    staged.add(check(batch_rows, batch_records))
                    batch_rows, batch_records = [], []
            staged.add(check(batch_rows, batch_records))
            if errors:
                raise ImportRejectedError(errors, unlisted=unlisted)
            if not rows:
                raise ImportRejectedError([(0, "", Msg("the file holds no rows"))])
        count = staged.staged
        if count <= CHUNK:
            self.refresh(force=True)
        else:
            # A large change set: the background thread folds it (a process that only
            # imported, such as the command line, never reads it back).
            self.keeper.wake()
        return count
