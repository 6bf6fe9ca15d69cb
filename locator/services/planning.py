"""The 双15 coverage planner's use cases: demand, scopes, coverage by area, siting. No Flask here.

The maths is in :mod:`locator.core.coverage`; this module decides *what* goes in:

* **Demand** (:meth:`PlanningService.default_demand`): the shipped proxy for where
  outdoor workers are — 48,966 CityBench building/area points
  (``geodata/beijing_demand_aoi.csv``) weighted by land-use category, plus the
  OpenStreetMap subway stations and entrances (``geodata/beijing_subway_osm.geojson``).
  The weights (:data:`CATEGORY_WEIGHTS`) are relative and unitless: **never rider
  counts**. An operator's own points (a delivery platform's order hotspots…) replace
  them with :meth:`PlanningService.read_points` (GeoJSON points or CSV ``lon,lat`` with
  an optional ``weight``, in a declared datum).
* **Facilities**: the index's facilities of the asked kind, except removed ones; which
  are open at an instant is :class:`locator.core.coverage.OpenSchedule`.
* **Scope** (:meth:`PlanningService.scope`): administrators see the whole city or the
  districts they pick; district managers only their own districts (asking for another is
  a :class:`~locator.errors.ForbiddenError`); station managers may not use the planner.
  A scope limits the *demand* (and the candidate sites) to its districts by
  point-in-polygon; facilities on the other side of a district border still cover it,
  as they do for the people there.
* **Areas**: every demand point gets its district and subdistrict (街道/乡镇) by
  vectorised point-in-polygon (:func:`locator.core.coverage.locate_points`).
* **Candidate sites** (:data:`CANDIDATE_SOURCES`): existing union homes that could host
  a warm station, subway entrances, the building points, or an imported list.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Protocol

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from locator.core import coverage as cov
from locator.core.areas import GEODATA, Area
from locator.core.domain import KINDS, Facility
from locator.core.geo import Datum, to_wgs84
from locator.core.hours import TZ
from locator.core.walking import walk_minutes
from locator.errors import ForbiddenError, ImportRejectedError, Msg, ValidationError
from locator.formats.readers import read_records
from locator.services.facilities import LocatorService
from locator.stores.contract import User

#: The shipped building/area points (lon, lat, category; see geodata/README.md).
DEMAND_FILE: Final = GEODATA / "beijing_demand_aoi.csv"
#: OpenStreetMap subway stations and entrances.
SUBWAY_FILE: Final = GEODATA / "beijing_subway_osm.geojson"

#: Relative demand weight per category of the shipped demand (docs/planning.md says why).
#: A proxy for where outdoor workers are, never a head count.
CATEGORY_WEIGHTS: Final[dict[str, float]] = {
    "commercial": 3.0,  # shops, restaurants, malls: where orders are picked up and riders wait
    "residential": 2.0,  # where orders are delivered
    "industrial": 2.0,  # warehouses and depots (工矿仓储用地): couriers' hubs
    "transport": 2.0,  # stations and depots (交通运输用地)
    "subway_station": 2.0,
    "public": 1.0,  # offices, schools, hospitals, parks (公共管理与公共服务用地)
    "bus_stop": 1.0,
    "subway_entrance": 1.0,
    "other": 1.0,
    "unclassified": 1.0,  # most points: the source gives no land-use class
}

#: Built-in candidate sources for siting, in the order they are listed.
CANDIDATE_SOURCES: Final = ("union_homes", "subway_entrances", "buildings")

_CACHE_SIZE: Final = 8
_NAME_MAX: Final = 200


class Progress(Protocol):
    """Where long computations report progress (the CLI draws bars on stderr)."""

    def stage(self, label: str, total: int) -> Callable[[int], None]:
        """Start a stage of ``total`` steps; returns ``advance(n)``."""
        ...


class _NoProgress:
    def stage(self, label: str, total: int) -> Callable[[int], None]:
        return lambda n: None


@dataclass(frozen=True, slots=True)
class PlanQuery:
    """A checked planner question (see :meth:`PlanningService.check`).

    Attributes
    ----------
    kind : str
        A key of :data:`locator.core.domain.KINDS`.
    radius_m : float
        Geodesic metres, within [RADIUS_MIN_M, RADIUS_MAX_M].
    at : datetime
        Timezone-aware instant.
    districts : tuple of str
        Adcodes (sorted); empty = the whole city.
    sites : int
        Sites to suggest; 0 for none.
    candidates : tuple of str
        Built-in candidate sources (:data:`CANDIDATE_SOURCES`) when no file is given.
    week : bool
        Also the 168-hour profile of the week of ``at``.
    """

    kind: str
    radius_m: float
    at: datetime
    districts: tuple[str, ...] = ()
    sites: int = 0
    candidates: tuple[str, ...] = CANDIDATE_SOURCES
    week: bool = False


@dataclass(frozen=True, eq=False)
class _Located:
    """Demand points with their district and subdistrict indices (-1 = none)."""

    points: cov.PointSet
    district: NDArray[np.int64]
    subdistrict: NDArray[np.int64]


def parse_instant(value: str | None, *, now: datetime | None = None) -> datetime:
    """Parse an ISO 8601 instant; a naive one is Asia/Shanghai time; empty means now.

    Raises
    ------
    ValidationError
        ``param="at"``.
    """
    if value is None or not value.strip():
        return (now or datetime.now(TZ)).astimezone(TZ)
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(
            Msg("at must be an ISO 8601 instant such as 2026-12-01T22:00+08:00"), param="at"
        ) from None
    return (dt if dt.tzinfo is not None else dt.replace(tzinfo=TZ)).astimezone(TZ)


def check_kind(kind: str) -> str:
    """``kind`` if it is a facility kind.

    Raises
    ------
    ValidationError
        ``param="kind"``, naming the kinds.
    """
    if kind not in KINDS:
        raise ValidationError(
            Msg("unknown kind %(kind)r; use one of %(kinds)s", kind=kind, kinds=", ".join(KINDS)),
            param="kind",
        )
    return kind


def check_radius(value: Any) -> float:
    """The radius as a float if it is a number of metres in [50, 5000].

    Raises
    ------
    ValidationError
        ``param="radius_m"``.
    """
    try:
        r = float(value)
    except (TypeError, ValueError):
        r = math.nan
    if not (cov.RADIUS_MIN_M <= r <= cov.RADIUS_MAX_M):
        raise ValidationError(
            Msg(
                "radius_m must be a number of metres from %(lo)s to %(hi)s",
                lo=int(cov.RADIUS_MIN_M),
                hi=int(cov.RADIUS_MAX_M),
            ),
            param="radius_m",
        )
    return r


def check_sites(value: Any) -> int:
    """The number of sites if it is a whole number in [1, 500].

    Raises
    ------
    ValidationError
        ``param="sites"``.
    """
    try:
        k = int(str(value).strip())
    except (TypeError, ValueError):
        k = 0
    if not (cov.SITES_MIN <= k <= cov.SITES_MAX):
        raise ValidationError(
            Msg("sites must be a whole number from %(lo)s to %(hi)s", lo=cov.SITES_MIN, hi=cov.SITES_MAX),
            param="sites",
        )
    return k


def check_candidates(names: Iterable[str]) -> tuple[str, ...]:
    """Built-in candidate sources, in :data:`CANDIDATE_SOURCES` order.

    Raises
    ------
    ValidationError
        ``param="candidates"`` on an unknown source or none at all.
    """
    wanted = {n.strip() for n in names if n.strip()}
    unknown = sorted(wanted - set(CANDIDATE_SOURCES))
    if unknown or not wanted:
        raise ValidationError(
            Msg(
                "candidates must be one or more of %(names)s",
                names=", ".join(CANDIDATE_SOURCES),
            ),
            param="candidates",
        )
    return tuple(n for n in CANDIDATE_SOURCES if n in wanted)


def _number(value: Any, name: str) -> float:
    if value is None or (isinstance(value, str) and not value.strip()) or isinstance(value, bool):
        raise ValidationError(Msg("%(name)s is missing", name=name), param=name)
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValidationError(Msg("%(name)s must be a number", name=name), param=name) from None
    if not math.isfinite(x):
        raise ValidationError(Msg("%(name)s must be a finite number", name=name), param=name)
    return x


class PlanningService:
    """The planner over a :class:`LocatorService` (its index and area polygons).

    Parameters
    ----------
    locator : LocatorService
    demand_file, subway_file : Path
        The shipped demand layers (see the module docstring).
    """

    def __init__(
        self,
        locator: LocatorService,
        *,
        demand_file: Path = DEMAND_FILE,
        subway_file: Path = SUBWAY_FILE,
    ) -> None:
        self.locator = locator
        self.demand_file = demand_file
        self.subway_file = subway_file
        self._lock = threading.Lock()
        self._default: _Located | None = None
        self._subway: cov.PointSet | None = None
        self._cache: dict[tuple[Any, ...], cov.CoverageReport] = {}

    # -- data -----------------------------------------------------------------------

    def _subway_points(self) -> cov.PointSet:
        if self._subway is None:
            with open(self.subway_file, encoding="utf-8") as fh:
                doc = json.load(fh)
            feats = [f for f in doc["features"] if f.get("geometry", {}).get("type") == "Point"]
            self._subway = cov.PointSet.of(
                [f["geometry"]["coordinates"][0] for f in feats],
                [f["geometry"]["coordinates"][1] for f in feats],
                [CATEGORY_WEIGHTS[f["properties"]["kind"]] for f in feats],
                [f["properties"]["kind"] for f in feats],
                [f["properties"].get("name") or "" for f in feats],
            )
        return self._subway

    def _locate(self, points: cov.PointSet) -> _Located:
        return _Located(
            points,
            cov.locate_points(self.locator.districts.areas, points.lon, points.lat),
            cov.locate_points(self.locator.subdistricts.areas, points.lon, points.lat),
        )

    def _default_located(self) -> _Located:
        with self._lock:
            if self._default is None:
                frame = pd.read_csv(self.demand_file, dtype={"category": str}, keep_default_na=False)
                weights = frame["category"].map(CATEGORY_WEIGHTS)
                if weights.isna().any():
                    raise ValueError(f"{self.demand_file}: unknown category in the shipped demand layer")
                aoi = cov.PointSet.of(
                    frame["lon"].to_numpy(), frame["lat"].to_numpy(), weights.to_numpy(), frame["category"]
                )
                self._default = self._locate(cov.PointSet.concat([aoi, self._subway_points()]))
            return self._default

    def default_demand(self) -> cov.PointSet:
        """The shipped demand: CityBench points by category weight plus subway stations and entrances.

        Read once per service (WGS-84; weights from :data:`CATEGORY_WEIGHTS`).
        """
        return self._default_located().points

    def read_points(self, path: Path, datum: Datum, *, category: str = "imported") -> cov.PointSet:
        """Read an operator's points: GeoJSON Point features or CSV ``lon,lat[,weight][,name][,category]``.

        Parameters
        ----------
        path : Path
            ``.geojson``/``.json``, ``.gpkg`` or ``.csv``.
        datum : Datum
            The datum of the file's coordinates; converted to WGS-84.
        category : str
            Category of rows without a ``category`` column.

        Returns
        -------
        PointSet
            WGS-84; ``weight`` from the ``weight`` column/property (default 1).

        Raises
        ------
        ValidationError
            The file cannot be read, is not lon/lat degrees, or has no ``lon``/``lat``.
        ImportRejectedError
            Listing every bad row (row number from 1, field, reason): missing or bad
            coordinates, a point outside the service area, a negative or non-numeric
            weight, or a file without rows.
        """
        records = read_records(path)
        if not records:
            raise ImportRejectedError([(0, "", Msg("the file holds no rows"))])
        first = records[0][1]
        if "lon" not in first or "lat" not in first:
            raise ValidationError(
                Msg("%(file)s has no lon and lat columns", file=Path(path).name), param="path"
            )
        errors: list[tuple[int, str, str]] = []
        rows: list[int] = []
        lons: list[float] = []
        lats: list[float] = []
        weights: list[float] = []
        names: list[str] = []
        cats: list[str] = []
        for row, rec in records:
            try:
                lon, lat = _number(rec.get("lon"), "lon"), _number(rec.get("lat"), "lat")
                if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                    raise ValidationError(Msg("coordinates out of range"), param="location")
                raw_w = rec.get("weight")
                weight = 1.0 if raw_w is None or str(raw_w).strip() == "" else _number(raw_w, "weight")
                if weight < 0:
                    raise ValidationError(Msg("weight must not be negative"), param="weight")
            except ValidationError as exc:
                errors.append((row, exc.param or "", exc.detail))
                continue
            lon, lat = to_wgs84(lon, lat, datum)
            rows.append(row)
            lons.append(lon)
            lats.append(lat)
            weights.append(weight)
            names.append(str(rec.get("name") or "")[:_NAME_MAX])
            cats.append(str(rec.get("category") or category)[:64])
        area = self.locator.service_area.geometry
        if area is not None and lons:
            inside = shapely.covers(area, shapely.points(np.asarray(lons), np.asarray(lats)))
            for i in np.flatnonzero(~inside).tolist():
                errors.append((rows[i], "location", Msg("location is outside the service area")))
        if errors:
            raise ImportRejectedError(sorted(errors, key=lambda e: e[0]))
        return cov.PointSet.of(
            lons, lats, weights, np.asarray(cats, dtype=object), np.asarray(names, dtype=object)
        )

    def builtin_candidates(self, sources: Sequence[str]) -> cov.PointSet:
        """Candidate sites from :data:`CANDIDATE_SOURCES` (WGS-84).

        ``union_homes``: union homes of the index that are not removed (a union home
        could host a warm station); ``subway_entrances``: the OSM entrances;
        ``buildings``: the shipped CityBench points.
        """
        parts: list[cov.PointSet] = []
        for source in check_candidates(sources):
            if source == "union_homes":
                homes = [
                    f
                    for f in self.locator.index.facilities()
                    if f.kind == "union_home" and f.status != "removed"
                ]
                parts.append(
                    cov.PointSet.of(
                        [f.lon for f in homes],
                        [f.lat for f in homes],
                        None,
                        "union_home",
                        np.asarray([f.name for f in homes], dtype=object),
                    )
                )
            elif source == "subway_entrances":
                sub = self._subway_points()
                parts.append(sub.take(sub.category == "subway_entrance"))
            else:
                aoi = self._default_located().points
                aoi = aoi.take(~np.isin(aoi.category, ["subway_station", "subway_entrance"]))
                parts.append(cov.PointSet(aoi.lon, aoi.lat, np.ones(len(aoi)), aoi.category, aoi.name))
        return cov.PointSet.concat(parts)

    # -- scope ------------------------------------------------------------------------

    def scope(self, user: User, requested: Iterable[str] = ()) -> tuple[str, ...]:
        """The districts ``user`` may plan for, given the ones asked for.

        Returns
        -------
        tuple of str
            Sorted adcodes; empty means the whole city (administrators only).

        Raises
        ------
        ForbiddenError
            A station manager, or a district manager asking for another district.
        ValidationError
            An unknown district adcode (``param="district"``).
        """
        if user.role not in {"admin", "district_manager"}:
            raise ForbiddenError(
                Msg("only administrators and district managers may use the coverage planner")
            )
        wanted = tuple(sorted({c.strip() for c in requested if c and c.strip()}))
        unknown = [c for c in wanted if self.locator.districts.by_code(c) is None]
        if unknown:
            raise ValidationError(
                Msg("unknown district: %(values)s", values=", ".join(unknown)), param="district"
            )
        if user.role == "admin":
            return wanted
        if not wanted:
            return tuple(sorted(user.districts))
        outside = sorted(set(wanted) - set(user.districts))
        if outside:
            raise ForbiddenError(
                Msg("you may only plan for your own districts (not %(values)s)", values=", ".join(outside)),
                param="district",
            )
        return wanted

    def district_choices(self, user: User) -> list[Area]:
        """The districts ``user`` may pick, by code."""
        areas = sorted(self.locator.districts.areas, key=lambda a: a.code)
        if user.role == "admin":
            return areas
        return [a for a in areas if a.code in user.districts]

    # -- the report ---------------------------------------------------------------------

    def check(
        self,
        kind: str,
        radius_m: Any,
        at: datetime,
        *,
        districts: Iterable[str] = (),
        sites: Any = 0,
        candidates: Iterable[str] = CANDIDATE_SOURCES,
        week: bool = False,
    ) -> PlanQuery:
        """Validate a question.

        Raises
        ------
        ValidationError
            Naming the parameter at fault (kind, radius_m, sites, candidates, district).
        """
        k = 0 if sites in (0, None, "", "0") else check_sites(sites)
        codes = tuple(sorted({c for c in districts if c}))
        unknown = [c for c in codes if self.locator.districts.by_code(c) is None]
        if unknown:
            raise ValidationError(
                Msg("unknown district: %(values)s", values=", ".join(unknown)), param="district"
            )
        return PlanQuery(
            check_kind(kind),
            check_radius(radius_m),
            at.astimezone(TZ),
            codes,
            k,
            check_candidates(candidates) if k else CANDIDATE_SOURCES,
            bool(week),
        )

    def report(
        self,
        query: PlanQuery,
        *,
        demand: cov.PointSet | None = None,
        demand_source: str = "default",
        candidates: cov.PointSet | None = None,
        candidates_source: str = "",
        live: cov.LiveStatus | None = None,
        progress: Progress | None = None,
    ) -> cov.CoverageReport:
        """Answer a planner question.

        Parameters
        ----------
        query : PlanQuery
            From :meth:`check`.
        demand : PointSet, optional
            An operator's demand (:meth:`read_points`); default the shipped demand.
        demand_source : str
            How to name the demand in the report.
        candidates : PointSet, optional
            An operator's candidate sites; default ``query.candidates`` built in.
        candidates_source : str
            How to name imported candidates in the report.
        live : callable, optional
            A live-status hook (:data:`locator.core.coverage.LiveStatus`).
        progress : Progress, optional

        Returns
        -------
        CoverageReport
            Reports for the shipped demand and built-in candidates without a live hook
            are cached per question and index revision (the page and its downloads
            share one computation).
        """
        prog = progress or _NoProgress()
        index = self.locator.index
        cacheable = demand is None and candidates is None and live is None
        key = (query, index.revision)
        if cacheable:
            with self._lock:
                hit = self._cache.get(key)
            if hit is not None:
                return hit
        located = self._default_located() if demand is None else self._locate(demand)
        facilities = [f for f in index.facilities() if f.kind == query.kind and f.status != "removed"]
        result = self._compute(
            query,
            located,
            demand_source if demand is not None else "default",
            facilities,
            candidates,
            candidates_source,
            live,
            prog,
        )
        if cacheable:
            with self._lock:
                while len(self._cache) >= _CACHE_SIZE:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[key] = result
        return result

    def _in_scope(self, district_idx: NDArray[np.int64], codes: tuple[str, ...]) -> NDArray[np.bool_]:
        areas = self.locator.districts.areas
        wanted = np.array([a.code in codes for a in areas] + [False], dtype=bool)
        return wanted[district_idx]  # -1 picks the trailing False

    def _compute(
        self,
        query: PlanQuery,
        located: _Located,
        demand_source: str,
        facilities: list[Facility],
        candidates: cov.PointSet | None,
        candidates_source: str,
        live: cov.LiveStatus | None,
        prog: Progress,
    ) -> cov.CoverageReport:
        dem, d_idx, s_idx = located.points, located.district, located.subdistrict
        if query.districts:
            keep = self._in_scope(d_idx, query.districts)
            dem, d_idx, s_idx = dem.take(keep), d_idx[keep], s_idx[keep]
        fac_lon = np.fromiter((f.lon for f in facilities), float, len(facilities))
        fac_lat = np.fromiter((f.lat for f in facilities), float, len(facilities))
        hours = cov.day_hours(query.at)
        week = cov.week_hours(query.at) if query.week else []
        instants = [query.at, *hours, *week]
        advance = prog.stage("Opening hours", len(instants))
        schedule = cov.OpenSchedule(facilities)
        masks = []
        for t in instants:
            masks.append(schedule.mask(t, live=live))
            advance(1)
        advance = prog.stage("Coverage", len(instants))
        covered = cov.covered_at(dem, fac_lon, fac_lat, masks, query.radius_m, progress=advance)
        w = dem.weight
        total = float(w.sum())
        now = covered[0]
        covered_weight = float(w[now].sum())

        def profile(offset: int, count: int) -> tuple[cov.HourCoverage, ...]:
            return tuple(
                cov.HourCoverage(
                    instants[offset + i],
                    int(masks[offset + i].sum()),
                    float(w[covered[offset + i]].sum()),
                    total,
                )
                for i in range(count)
            )

        areas = self._areas(dem, d_idx, s_idx, now)

        # Least needed: open facilities in scope by the weight only they cover.
        cost = cov.removal_cost(dem, fac_lon, fac_lat, masks[0], query.radius_m)
        in_scope = [
            i
            for i in np.flatnonzero(masks[0]).tolist()
            if not query.districts or facilities[i].district_adcode in query.districts
        ]
        in_scope.sort(key=lambda i: (cost[i], facilities[i].id))
        least = tuple(
            cov.StationImportance(
                facilities[i].id, facilities[i].name, facilities[i].lon, facilities[i].lat, float(cost[i])
            )
            for i in in_scope[:20]
        )

        picks: tuple[cov.SitePick, ...] = ()
        cand_source = ""
        if query.sites:
            cands = candidates if candidates is not None else self.builtin_candidates(query.candidates)
            cand_source = candidates_source if candidates is not None else ",".join(query.candidates)
            if query.districts and len(cands):
                where = cov.locate_points(self.locator.districts.areas, cands.lon, cands.lat)
                cands = cands.take(self._in_scope(where, query.districts))
            gap = ~now
            advance = prog.stage("Candidate reach", max(1, len(cands)))
            reach = cov.reach_matrix(
                cands.lon, cands.lat, dem.lon[gap], dem.lat[gap], query.radius_m, progress=advance
            )
            advance = prog.stage("Choosing sites", query.sites)
            chosen = cov.greedy_sites(reach, w[gap], query.sites, progress=advance)
            running = covered_weight
            out = []
            for rank, (c, gain) in enumerate(chosen, start=1):
                running += gain
                out.append(
                    cov.SitePick(
                        rank,
                        float(cands.lon[c]),
                        float(cands.lat[c]),
                        gain,
                        running,
                        str(cands.name[c]),
                        str(cands.category[c]),
                    )
                )
            picks = tuple(out)

        return cov.CoverageReport(
            kind=query.kind,
            radius_m=query.radius_m,
            walk_minutes=walk_minutes(query.radius_m),
            at=query.at,
            districts=query.districts,
            demand_source=demand_source,
            points=len(dem),
            covered_points=int(now.sum()),
            total_weight=total,
            covered_weight=covered_weight,
            facilities_total=len(facilities),
            facilities_open=int(masks[0].sum()),
            hours=profile(1, len(hours)),
            week=profile(1 + len(hours), len(week)),
            areas=areas,
            sites=picks,
            candidates_source=cand_source,
            least_needed=least,
            uncovered=dem.take(~now),
            demo=any(f.demo for f in facilities),
        )

    def _areas(
        self,
        dem: cov.PointSet,
        d_idx: NDArray[np.int64],
        s_idx: NDArray[np.int64],
        covered: NDArray[np.bool_],
    ) -> tuple[cov.AreaCoverage, ...]:
        """Per-district and per-subdistrict totals of the demand (areas holding demand only)."""
        districts = self.locator.districts.areas
        subs = self.locator.subdistricts.areas
        w = dem.weight
        by_code = {a.code: a for a in districts}
        out: list[cov.AreaCoverage] = []
        for level, idx, areas in (("district", d_idx, districts), ("subdistrict", s_idx, subs)):
            ok = idx >= 0
            n = len(areas)
            points = np.bincount(idx[ok], minlength=n)
            total = np.bincount(idx[ok], weights=w[ok], minlength=n)
            done = np.bincount(idx[ok], weights=np.where(covered, w, 0.0)[ok], minlength=n)
            rows = []
            for i in np.flatnonzero(points).tolist():
                a = areas[i]
                parent = a.code if level == "district" else (a.parent_code or "")
                pa = by_code.get(parent)
                rows.append(
                    cov.AreaCoverage(
                        level,
                        a.code,
                        a.name,
                        a.name_en,
                        parent,
                        pa.name if pa is not None else "",
                        int(points[i]),
                        float(total[i]),
                        float(done[i]),
                    )
                )
            out.extend(sorted(rows, key=lambda r: r.code))
        return tuple(out)

    def subdistrict_areas(self, districts: tuple[str, ...] = ()) -> list[Area]:
        """Subdistrict polygons (WGS-84) in the districts (all when empty), by code."""
        subs = sorted(self.locator.subdistricts.areas, key=lambda a: a.code)
        return [a for a in subs if not districts or (a.parent_code or "") in districts]
