"""Coverage maths for the 双15 planner: who is within reach of an *open* facility, and where to add.

No Flask, no database: arrays in, arrays out. :mod:`locator.services.planning` loads the
demand and the facilities, calls these functions and aggregates by area.

Terms
-----
* **Demand points**: weighted WGS-84 points standing for where outdoor workers are
  (:class:`PointSet`). Weights are relative and unitless: never rider counts.
* A demand point is **covered** at an instant when an *open* facility lies within the
  radius ``R`` (ellipsoidal geodesic metres on WGS-84). *Open* means
  :func:`facility_open`: status ``open`` (or ``temporarily_closed`` whose
  ``status_until`` day has come), ``opening_hours`` saying open at that instant
  (unknown hours count as closed, as for riders' "open now"), and, when a live-status
  hook is given, not reported closed by it.
* **Candidate sites** are points where a station could be added; the
  **marginal gain** of a site is the weight of still-uncovered demand within ``R`` of it.

Exact geodesic answers, fast
----------------------------
Every "within R" decision equals ``pyproj.Geod(ellps="WGS84").inv(...) <= R``; nothing is
approximated. Speed comes from a k-d tree over 3-D unit vectors (geodetic lon/lat on
the unit sphere, :func:`locator.core.geo.unit_vectors`), the same device as the riders'
index (:mod:`locator.core.index`): for a demand point ``Q`` at geodetic latitude
``phi`` and a point ``P`` at central angle ``t`` from it,

    ``lo * t <= s(Q, P) <= hi * t``  with  ``lo = M(max(0, |phi| - theta))``,
    ``hi = N(min(90°, |phi| + theta))``, for every ``t <= theta``,

where ``M``/``N`` are WGS-84's meridional and prime-vertical radii of curvature and
``theta = R / R_MIN_M`` bounds the angle of anything within ``R`` (proof in
:func:`locator.core.index._radius_factors`). So a pair with ``hi * t <= R`` is within
reach, a pair with ``lo * t > R`` is not, and only pairs in between — a shell 0.4 % of
``R`` thick at Beijing's latitude (``hi / lo`` = 1.0040 at 39.4°N, 1.0038 at 41.1°N: from
996 to 1000 m for R = 1 km) — get an exact geodesic distance. Every bound is widened
by a relative ``1e-9`` and an absolute ``1e-6`` m, far above floating-point rounding and
pyproj's ~15 nm error.

This replaces the projected-CRS shortcut (e.g. UTM 50N, EPSG:32650), whose scale error
across Beijing (``k`` from 0.9996 on the central meridian 117°E to about 0.99983 at
115.4°E) would need the same kind of enlargement and a second exact pass, and which is
wrong outside its zone; the unit-vector bound holds anywhere on Earth.

How coverage is computed
------------------------
A demand × facility incidence matrix would hold every pair within ``R``: 21.8 million
pairs for Beijing-scale input (25,470 synthetic facilities, 50,378 demand points, 1 km;
``bench/coverage.py``), 2.7 s to build on a quiet 2-core machine. Coverage only needs to know whether
*any* open facility is within reach (and, for removal costs, whether exactly one is), so
:func:`within_reach` builds a tree of the facilities open at the instant and asks for
each demand point's nearest one or two; the bounds decide almost every point, the rest
get exact distances to the few facilities in reach. A 24-hour profile repeats that for
each hour (instants with the same open set share one answer). Siting does build a
sparse matrix (:func:`reach_matrix`), but only candidates × *uncovered* demand, which
is what greedy selection needs: lazy greedy re-evaluates a candidate whenever its last
known gain tops the heap, and in dense worst cases (every demand point uncovered) that
is nearly every candidate, so exact rows computed one at a time cost more than one
vectorised pass over all pairs.

Siting
------
Greedy maximal coverage (:func:`greedy_sites`): the maximal covering location problem
(Church R., ReVelle C., "The maximal covering location problem", *Papers of the Regional
Science Association* 32:101–118, 1974) picks ``K`` sites covering the most demand
weight; coverage is monotone submodular, so greedy selection is within ``1 - 1/e`` of the
optimum (Nemhauser G.L., Wolsey L.A., Fisher M.L., "An analysis of approximations for
maximizing submodular set functions — I", *Mathematical Programming* 14:265–294, 1978).
Lazy evaluation (Minoux M., "Accelerated greedy algorithms for maximizing submodular set
functions", *Optimization Techniques*, LNCIS 7:234–243, 1978) gives the same picks as
plain greedy with far fewer gain evaluations; ties go to the lowest candidate index.

The **removal cost** of an open facility is the weight of demand that it alone covers
(:func:`removal_cost`): closing it uncovers exactly that weight.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Final

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from scipy.sparse import csr_matrix
from scipy.spatial import cKDTree

from locator.core.areas import Area
from locator.core.domain import Facility
from locator.core.geo import R_MIN_M, WGS84_GEOD, chord_for_angle, unit_vectors
from locator.core.hours import TZ, is_open
from locator.errors import Msg, ValidationError

#: The radius a planner may ask for, geodesic metres (inclusive).
RADIUS_MIN_M: Final = 50.0
RADIUS_MAX_M: Final = 5000.0
#: The 双15 service radius, geodesic metres.
DEFAULT_RADIUS_M: Final = 1000.0
#: How many sites a planner may ask for (inclusive).
SITES_MIN: Final = 1
SITES_MAX: Final = 500

#: A live-status hook: ``hook(facility, instant)`` -> True (open now), False (closed
#: now) or None (no live information: the hours and status decide).
LiveStatus = Callable[[Facility, datetime], bool | None]

_A_M: Final = float(WGS84_GEOD.a)
_E2: Final = float(WGS84_GEOD.es)
_REL_SLACK: Final = 1e-9
_ABS_SLACK_M: Final = 1e-6
_HALF_PI: Final = math.pi / 2


# --- points -------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PointSet:
    """Weighted points in WGS-84: demand points or candidate sites.

    Attributes
    ----------
    lon, lat : ndarray of float64, shape (n,)
        WGS-84 degrees.
    weight : ndarray of float64, shape (n,)
        Relative, unitless, finite and >= 0 (demand: how much the point counts; sites:
        unused, 1).
    category : ndarray of object (str), shape (n,)
        What the point is (e.g. ``residential``, ``subway_entrance``, ``union_home``).
    name : ndarray of object (str), shape (n,)
        A label for people (``""`` when none).
    """

    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    weight: NDArray[np.float64]
    category: NDArray[np.object_]
    name: NDArray[np.object_]

    @classmethod
    def of(
        cls,
        lon: ArrayLike,
        lat: ArrayLike,
        weight: ArrayLike | None = None,
        category: ArrayLike | str = "",
        name: ArrayLike | str = "",
    ) -> PointSet:
        """Build and check a point set.

        Parameters
        ----------
        lon, lat : array_like of float, shape (n,)
            WGS-84 degrees.
        weight : array_like of float, shape (n,), optional
            Default 1 for every point.
        category, name : array_like of str, shape (n,), or str
            A single string applies to every point.

        Raises
        ------
        ValidationError
            On shapes that differ, coordinates that are not finite or out of range, or
            a weight that is negative or not finite (``param="points"``).
        """
        lo = np.asarray(lon, dtype=np.float64).reshape(-1)
        la = np.asarray(lat, dtype=np.float64).reshape(-1)
        n = len(lo)
        w = np.ones(n) if weight is None else np.asarray(weight, dtype=np.float64).reshape(-1)

        def labels(value: ArrayLike | str) -> NDArray[np.object_]:
            if isinstance(value, str):
                out = np.empty(n, dtype=object)
                out.fill(value)
                return out
            return np.asarray(value, dtype=object).reshape(-1)

        cat, nm = labels(category), labels(name)
        if not (len(la) == len(w) == len(cat) == len(nm) == n):
            raise ValidationError(Msg("point arrays differ in length"), param="points")
        bad = ~(np.isfinite(lo) & np.isfinite(la) & (np.abs(lo) <= 180) & (np.abs(la) <= 90))
        if bad.any():
            raise ValidationError(
                Msg("point %(row)s has invalid coordinates", row=int(np.flatnonzero(bad)[0]) + 1),
                param="points",
            )
        badw = ~(np.isfinite(w) & (w >= 0))
        if badw.any():
            raise ValidationError(
                Msg("point %(row)s has a negative or invalid weight", row=int(np.flatnonzero(badw)[0]) + 1),
                param="points",
            )
        return cls(lo, la, w, cat, nm)

    def __len__(self) -> int:
        return len(self.lon)

    @property
    def total_weight(self) -> float:
        """Sum of the weights."""
        return float(self.weight.sum())

    def take(self, which: NDArray[Any]) -> PointSet:
        """The points selected by a boolean mask or an index array, in that order."""
        return PointSet(
            self.lon[which], self.lat[which], self.weight[which], self.category[which], self.name[which]
        )

    @staticmethod
    def concat(parts: Sequence[PointSet]) -> PointSet:
        """The points of every part, in order."""
        if not parts:
            return PointSet.of([], [])
        return PointSet(
            np.concatenate([p.lon for p in parts]),
            np.concatenate([p.lat for p in parts]),
            np.concatenate([p.weight for p in parts]),
            np.concatenate([p.category for p in parts]),
            np.concatenate([p.name for p in parts]),
        )


# --- which facilities are open --------------------------------------------------------


def facility_open(f: Facility, at: datetime, *, memo: dict[str, bool] | None = None) -> bool:
    """Whether ``f`` counts as open at instant ``at`` for coverage.

    Parameters
    ----------
    f : Facility
    at : datetime
        Timezone-aware instant; dates and hours are evaluated in Asia/Shanghai.
    memo : dict, optional
        ``{opening_hours: open?}`` for this same instant, shared between calls.

    Returns
    -------
    bool
        False when ``removed``; False when ``temporarily_closed`` and either no
        ``status_until`` is set or ``at`` falls before that day (the manager's closure);
        otherwise whether ``opening_hours`` says open at ``at`` — unknown or empty hours
        count as closed.
    """
    if f.status == "removed":
        return False
    if f.status == "temporarily_closed" and (
        f.status_until is None or at.astimezone(TZ).date() < f.status_until
    ):
        return False
    if memo is None:
        return is_open(f.opening_hours, at) is True
    hit = memo.get(f.opening_hours)
    if hit is None:
        hit = memo[f.opening_hours] = is_open(f.opening_hours, at) is True
    return hit


class OpenSchedule:
    """Which of a fixed list of facilities are open at any instant (see :func:`facility_open`).

    Evaluates each distinct ``opening_hours`` value once per instant and the status
    rules as array operations, so a profile of many instants over tens of thousands of
    facilities stays cheap.

    Parameters
    ----------
    facilities : sequence of Facility, length n
    """

    def __init__(self, facilities: Sequence[Facility]) -> None:
        self.facilities = list(facilities)
        n = len(self.facilities)
        codes: dict[str, int] = {}
        self._hours = np.fromiter(
            (codes.setdefault(f.opening_hours, len(codes)) for f in self.facilities), np.int64, n
        )
        self._values = list(codes)
        self._removed = np.fromiter((f.status == "removed" for f in self.facilities), bool, n)
        # Closed while the local date's ordinal is below this (0: no closure).
        never = date.max.toordinal() + 1
        self._closed_until = np.fromiter(
            (
                (never if f.status_until is None else f.status_until.toordinal())
                if f.status == "temporarily_closed"
                else 0
                for f in self.facilities
            ),
            np.int64,
            n,
        )

    def mask(self, at: datetime, *, live: LiveStatus | None = None) -> NDArray[np.bool_]:
        """Which facilities are open at ``at``.

        Parameters
        ----------
        at : datetime
            Timezone-aware instant.
        live : callable, optional
            A live-status hook (:data:`LiveStatus`); its True/False overrides the hours
            and the status for that facility, None leaves them to decide. No live source
            exists yet: the parameter is the place to plug one in.

        Returns
        -------
        ndarray of bool, shape (n,)
        """
        states = np.fromiter((is_open(v, at) is True for v in self._values), bool, len(self._values))
        out = states[self._hours] if len(self._values) else np.zeros(0, dtype=bool)
        out &= ~self._removed
        out &= ~(at.astimezone(TZ).date().toordinal() < self._closed_until)
        if live is not None:
            for i, f in enumerate(self.facilities):
                said = live(f, at)
                if said is not None:
                    out[i] = bool(said)
        return out


def open_mask(
    facilities: Sequence[Facility], at: datetime, *, live: LiveStatus | None = None
) -> NDArray[np.bool_]:
    """Which facilities are open at ``at``: :meth:`OpenSchedule.mask` for one instant.

    Returns
    -------
    ndarray of bool, shape (len(facilities),)
    """
    return OpenSchedule(facilities).mask(at, live=live)


def day_hours(at: datetime) -> list[datetime]:
    """The 24 whole hours (``00:00`` … ``23:00``, Asia/Shanghai) of the local day of ``at``."""
    day = at.astimezone(TZ).date()
    return [datetime.combine(day, time(h), tzinfo=TZ) for h in range(24)]


def week_hours(at: datetime) -> list[datetime]:
    """The 168 whole hours of the local week (Monday ``00:00`` first, Asia/Shanghai) holding ``at``."""
    day = at.astimezone(TZ).date()
    monday: date = day - timedelta(days=day.weekday())
    start = datetime.combine(monday, time(0), tzinfo=TZ)
    return [start + timedelta(hours=h) for h in range(168)]


# --- exact reach ---------------------------------------------------------------------


def _theta_max(radius_m: float) -> float:
    """Central angle (radians) no point within ``radius_m`` geodesic metres can exceed."""
    return radius_m / R_MIN_M * (1.0 + _REL_SLACK)


def _bounds(lat_deg: NDArray[np.float64], theta: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-point ``(lo, hi)`` metres per radian (see the module docstring), widened by the slack."""
    a = np.abs(np.radians(lat_deg))
    s_lo = np.sin(np.maximum(0.0, a - theta))
    w = 1.0 - _E2 * s_lo * s_lo
    lo = _A_M * (1.0 - _E2) / (w * np.sqrt(w))
    s_hi = np.sin(np.minimum(_HALF_PI, a + theta))
    hi = _A_M / np.sqrt(1.0 - _E2 * s_hi * s_hi)
    return lo * (1.0 - _REL_SLACK), hi * (1.0 + _REL_SLACK)


def _angle(chord: NDArray[np.float64]) -> NDArray[np.float64]:
    """Central angle for unit-sphere chords (inf stays inf)."""
    with np.errstate(invalid="ignore"):
        t = 2.0 * np.arcsin(np.minimum(chord / 2.0, 1.0))
    return np.where(np.isfinite(chord), t, np.inf)


def _check_radius(radius_m: float) -> float:
    r = float(radius_m)
    if not (math.isfinite(r) and r >= 0):
        raise ValidationError(Msg("radius must be a finite number of metres >= 0"), param="radius_m")
    return r


def within_reach(
    q_lon: NDArray[np.float64],
    q_lat: NDArray[np.float64],
    s_lon: NDArray[np.float64],
    s_lat: NDArray[np.float64],
    radius_m: float,
    *,
    cap: int = 1,
) -> tuple[NDArray[np.int8], NDArray[np.int64]]:
    """For each query point: how many sites lie within ``radius_m``, up to ``cap``, and one of them.

    Parameters
    ----------
    q_lon, q_lat : ndarray of float, shape (n,)
        Query (demand) points, WGS-84 degrees.
    s_lon, s_lat : ndarray of float, shape (m,)
        Sites (e.g. the facilities open at one instant), WGS-84 degrees.
    radius_m : float
        Reach, ellipsoidal geodesic metres on WGS-84 (inclusive).
    cap : {1, 2}
        Count up to this many sites per query point.

    Returns
    -------
    count : ndarray of int8, shape (n,)
        ``min(cap, #{sites with geodesic distance <= radius_m})``, exact.
    one : ndarray of int64, shape (n,)
        Index (into the sites) of a site within reach — *the* one when ``count == 1`` —
        or -1 when none.

    Raises
    ------
    ValidationError
        On a negative or non-finite radius.

    Notes
    -----
    The tree gives each query point its ``cap`` nearest sites by central angle; the
    bounds of the module docstring settle the point unless one of those angles lies in
    the uncertain shell, in which case every site within ``R / lo`` gets an exact
    geodesic distance (:func:`locator.core.geo.geodesic_inverse`'s ``pyproj.Geod``).
    """
    radius = _check_radius(radius_m)
    if cap not in (1, 2):
        raise ValueError("cap must be 1 or 2")
    n = len(q_lon)
    count = np.zeros(n, dtype=np.int8)
    one = np.full(n, -1, dtype=np.int64)
    m = len(s_lon)
    if n == 0 or m == 0:
        return count, one
    theta = _theta_max(radius)
    upper = chord_for_angle(theta) * (1 + 1e-12) + 1e-15
    tree = cKDTree(unit_vectors(s_lon, s_lat))
    qxyz = unit_vectors(q_lon, q_lat)
    k = min(cap, m)
    chord, idx = tree.query(qxyz, k=k, distance_upper_bound=upper)
    chord = np.asarray(chord, dtype=np.float64).reshape(n, k)
    idx = np.asarray(idx, dtype=np.int64).reshape(n, k)
    t = _angle(chord)
    lo, hi = _bounds(q_lat, theta)
    inside = hi[:, None] * t + _ABS_SLACK_M <= radius
    outside = ~np.isfinite(t) | (lo[:, None] * t - _ABS_SLACK_M > radius)
    unsure = ~(inside | outside).all(axis=1)
    # Columns are in angle order, so the sites inside form a prefix.
    count[:] = inside.sum(axis=1)
    one[:] = np.where(inside[:, 0], idx[:, 0], -1)
    rows = np.flatnonzero(unsure)
    if len(rows):
        # Every site with lo * t - slack <= R, i.e. t <= (R + slack) / lo, may be within reach.
        reach = np.minimum(theta, (radius + _ABS_SLACK_M) / lo[rows])
        radii = 2.0 * np.sin(reach / 2.0) * (1 + 1e-12) + 1e-15
        found = tree.query_ball_point(qxyz[rows], radii, return_sorted=False)
        lengths = np.fromiter((len(f) for f in found), dtype=np.int64, count=len(rows))
        owner = np.repeat(rows, lengths)
        sites = np.fromiter((j for f in found for j in f), dtype=np.int64, count=int(lengths.sum()))
        count[rows] = 0
        one[rows] = -1
        if len(sites):
            _, _, dist = WGS84_GEOD.inv(q_lon[owner], q_lat[owner], s_lon[sites], s_lat[sites])
            dist = np.asarray(dist, dtype=np.float64)
            ok = dist <= radius
            owner, sites, dist = owner[ok], sites[ok], dist[ok]
            hits = np.bincount(owner, minlength=n)[rows]
            count[rows] = np.minimum(hits, cap).astype(np.int8)
            if len(owner):
                order = np.lexsort((sites, dist, owner))
                owner, sites = owner[order], sites[order]
                firsts = np.r_[True, owner[1:] != owner[:-1]]
                one[owner[firsts]] = sites[firsts]
    return count, one


def reach_matrix(
    s_lon: NDArray[np.float64],
    s_lat: NDArray[np.float64],
    q_lon: NDArray[np.float64],
    q_lat: NDArray[np.float64],
    radius_m: float,
    *,
    chunk: int = 4096,
    progress: Callable[[int], None] | None = None,
) -> csr_matrix:
    """Sparse site × query-point incidence of pairs within ``radius_m`` (exact geodesic).

    Parameters
    ----------
    s_lon, s_lat : ndarray of float, shape (m,)
        Sites (candidates), WGS-84 degrees.
    q_lon, q_lat : ndarray of float, shape (n,)
        Query (demand) points, WGS-84 degrees.
    radius_m : float
        Ellipsoidal geodesic metres on WGS-84 (inclusive).
    chunk : int
        Sites per batch (bounds the memory of the raw candidate pairs).
    progress : callable, optional
        Called with the number of sites done after each batch.

    Returns
    -------
    scipy.sparse.csr_matrix of bool, shape (m, n)
        ``[i, j]`` is True exactly when the ``Geod.inv`` distance from point j to site i
        is at most ``radius_m``.

    Raises
    ------
    ValidationError
        On a negative or non-finite radius.
    """
    radius = _check_radius(radius_m)
    m, n = len(s_lon), len(q_lon)
    if m == 0 or n == 0:
        return csr_matrix((m, n), dtype=bool)
    theta = _theta_max(radius)
    upper = chord_for_angle(theta) * (1 + 1e-12) + 1e-15
    qtree = cKDTree(unit_vectors(q_lon, q_lat))
    sxyz = unit_vectors(s_lon, s_lat)
    # The bounds as chords per demand point: chord <= sure_in is within reach, chord >
    # maybe_in is not (chord and angle grow together), in between: exact geodesic.
    sure_in, maybe_in = _chord_limits(q_lat, theta, radius)
    chunk = max(1, min(chunk, 32_767))  # local row numbers fit int16: radix-sorted below
    indptr = [np.zeros(1, dtype=np.int64)]
    indices: list[NDArray[np.int32]] = []
    done = 0
    for start in range(0, m, chunk):
        stop = min(m, start + chunk)
        pairs = cKDTree(sxyz[start:stop]).sparse_distance_matrix(qtree, upper, output_type="ndarray")
        i = pairs["i"].astype(np.int16)
        j = pairs["j"].astype(np.int32)
        v = pairs["v"]
        del pairs
        keep = v <= sure_in[j]
        unsure = np.flatnonzero(~keep & (v <= maybe_in[j]))
        if len(unsure):
            # Demand point first, as in within_reach: both functions decide a pair identically.
            ju, iu = j[unsure], i[unsure].astype(np.int64) + start
            _, _, dist = WGS84_GEOD.inv(q_lon[ju], q_lat[ju], s_lon[iu], s_lat[iu])
            keep[unsure] = np.asarray(dist) <= radius
        i, j = i[keep], j[keep]
        order = np.argsort(i, kind="stable")  # radix sort on int16
        counts = np.bincount(i, minlength=stop - start)
        indptr.append(done + np.cumsum(counts))
        indices.append(j[order])
        done += len(j)
        if progress is not None:
            progress(stop - start)
    return csr_matrix(
        (np.ones(done, dtype=bool), np.concatenate(indices), np.concatenate(indptr)), shape=(m, n)
    )


def _chord_limits(
    lat_deg: NDArray[np.float64], theta: float, radius: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-point chords ``(sure_in, maybe_in)`` equivalent to ``hi * t <= R`` and ``lo * t <= R``.

    Both carry the absolute slack and a relative ``1e-12`` for the chord's rounding:
    a site at chord ``<= sure_in`` is within ``radius`` metres for certain, one at chord
    ``> maybe_in`` is not.
    """
    lo, hi = _bounds(lat_deg, theta)
    sure = 2.0 * np.sin(np.minimum(math.pi, (radius - _ABS_SLACK_M) / hi) / 2.0) * (1 - 1e-12)
    maybe = 2.0 * np.sin(np.minimum(math.pi, (radius + _ABS_SLACK_M) / lo) / 2.0) * (1 + 1e-12)
    return sure, maybe


def covered_at(
    demand: PointSet,
    fac_lon: NDArray[np.float64],
    fac_lat: NDArray[np.float64],
    masks: Sequence[NDArray[np.bool_]],
    radius_m: float,
    *,
    progress: Callable[[int], None] | None = None,
) -> NDArray[np.bool_]:
    """Which demand points are covered under each open mask.

    Parameters
    ----------
    demand : PointSet, length n
    fac_lon, fac_lat : ndarray of float, shape (m,)
        Facilities, WGS-84 degrees.
    masks : sequence of ndarray of bool, shape (m,) each
        Facilities open at each instant (e.g. the 24 hours of a day).
    radius_m : float
        Geodesic metres.
    progress : callable, optional
        Called with 1 after each mask.

    Returns
    -------
    ndarray of bool, shape (len(masks), n)
        Instants with the same open set share one computation.
    """
    out = np.zeros((len(masks), len(demand)), dtype=bool)
    done: dict[bytes, NDArray[np.bool_]] = {}
    for h, mask in enumerate(masks):
        key = np.packbits(mask).tobytes()
        row = done.get(key)
        if row is None:
            count, _ = within_reach(demand.lon, demand.lat, fac_lon[mask], fac_lat[mask], radius_m)
            row = done[key] = count > 0
        out[h] = row
        if progress is not None:
            progress(1)
    return out


def removal_cost(
    demand: PointSet,
    fac_lon: NDArray[np.float64],
    fac_lat: NDArray[np.float64],
    mask: NDArray[np.bool_],
    radius_m: float,
) -> NDArray[np.float64]:
    """Demand weight each open facility alone covers: what closing it would uncover.

    Parameters
    ----------
    demand : PointSet, length n
    fac_lon, fac_lat : ndarray of float, shape (m,)
        WGS-84 degrees.
    mask : ndarray of bool, shape (m,)
        Facilities open at the instant considered.
    radius_m : float
        Geodesic metres.

    Returns
    -------
    ndarray of float, shape (m,)
        0 for facilities not open (and for open ones that cover nothing alone).
    """
    cost = np.zeros(len(fac_lon))
    open_idx = np.flatnonzero(mask)
    count, one = within_reach(demand.lon, demand.lat, fac_lon[open_idx], fac_lat[open_idx], radius_m, cap=2)
    sole = count == 1
    if sole.any():
        cost[open_idx] = np.bincount(one[sole], weights=demand.weight[sole], minlength=len(open_idx))
    return cost


def greedy_sites(
    reach: csr_matrix,
    weight: NDArray[np.float64],
    k: int,
    *,
    progress: Callable[[int], None] | None = None,
) -> list[tuple[int, float]]:
    """Lazy-greedy maximal coverage: up to ``k`` sites, each with its marginal gain.

    Parameters
    ----------
    reach : scipy.sparse.csr_matrix of bool, shape (m, n)
        Site × demand point incidence (:func:`reach_matrix`).
    weight : ndarray of float, shape (n,)
        Demand weight still to cover (0 for points already covered).
    k : int
        Sites wanted, >= 1.
    progress : callable, optional
        Called with 1 after each pick.

    Returns
    -------
    list of (site index, gain)
        In pick order. Each gain is the weight newly covered by that site given the
        earlier picks (so gains never increase). Fewer than ``k`` entries when no
        remaining site adds any weight. Equals plain greedy with ties broken by the
        lowest site index: a site is taken only when its current gain beats every other
        site's last known gain (an upper bound, as gains only fall), or ties it with a
        lower index.
    """
    if k < 1:
        raise ValueError("k must be >= 1")
    left = np.asarray(weight, dtype=np.float64).copy()
    indptr, indices = reach.indptr, reach.indices
    # Each site's gain: sums of its row's weights (np.add.reduceat over the non-empty
    # rows; a sparse mat-vec would first copy the whole matrix to float64).
    bounds = np.zeros(reach.shape[0])
    starts = indptr[:-1]
    nonempty = indptr[1:] > starts
    if nonempty.any():
        bounds[nonempty] = np.add.reduceat(left[indices], starts[nonempty])

    def row(c: int) -> NDArray[Any]:
        return indices[indptr[c] : indptr[c + 1]]

    heap = [(-g, c) for c, g in enumerate(bounds.tolist()) if g > 0]
    heapq.heapify(heap)
    picks: list[tuple[int, float]] = []
    while heap and len(picks) < k:
        _, c = heapq.heappop(heap)
        cols = row(c)
        g = float(left[cols].sum())
        if g <= 0:
            continue
        if heap and (-g, c) > heap[0]:
            heapq.heappush(heap, (-g, c))  # its bound was stale: someone else may be better now
            continue
        picks.append((c, g))
        left[cols] = 0.0
        if progress is not None:
            progress(1)
    return picks


# --- areas ----------------------------------------------------------------------------


def locate_points(
    areas: Sequence[Area], lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> NDArray[np.int64]:
    """Point-in-polygon for many points at once: the index of the area covering each point.

    Parameters
    ----------
    areas : sequence of Area
        WGS-84 polygons (e.g. ``load_subdistricts().areas``).
    lon, lat : ndarray of float, shape (n,)
        WGS-84 degrees.

    Returns
    -------
    ndarray of int64, shape (n,)
        Index into ``areas``, -1 where no area covers the point; boundary points count as
        inside, and a point in several areas gets the one with the lowest code (as
        :meth:`locator.core.areas.AreaIndex.locate` does).
    """
    out = np.full(len(lon), -1, dtype=np.int64)
    if not len(lon) or not areas:
        return out
    tree = shapely.STRtree([a.geometry for a in areas])
    pts = shapely.points(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    point_i, area_i = tree.query(pts, predicate="covered_by")
    if len(point_i):
        rank = np.argsort(np.argsort(np.array([a.code for a in areas], dtype=object), kind="stable"))
        order = np.lexsort((rank[area_i], point_i))
        point_i, area_i = point_i[order], area_i[order]
        firsts = np.r_[True, point_i[1:] != point_i[:-1]]
        out[point_i[firsts]] = area_i[firsts]
    return out


# --- the report -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AreaCoverage:
    """Coverage of the demand inside one district or subdistrict.

    Attributes
    ----------
    level : str
        ``district`` or ``subdistrict``.
    code : str
        District adcode, or the subdistrict's id (``bj-twp-…``).
    name : str
        Chinese name; ``name_en`` the English one where the data has it (districts).
    district_code, district_name : str
        The district the area belongs to (itself for districts).
    points : int
        Demand points inside.
    total_weight, covered_weight : float
        Demand weight inside, and the part within reach of an open facility.
    """

    level: str
    code: str
    name: str
    name_en: str
    district_code: str
    district_name: str
    points: int
    total_weight: float
    covered_weight: float

    @property
    def uncovered_weight(self) -> float:
        """Weight not within reach."""
        return max(0.0, self.total_weight - self.covered_weight)

    @property
    def covered_share(self) -> float | None:
        """Covered weight / total weight; None where the area holds no demand."""
        return self.covered_weight / self.total_weight if self.total_weight > 0 else None


@dataclass(frozen=True, slots=True)
class HourCoverage:
    """Coverage at one instant of a profile.

    Attributes
    ----------
    at : datetime
        Asia/Shanghai.
    open_facilities : int
        Facilities of the kind open then.
    covered_weight, total_weight : float
    """

    at: datetime
    open_facilities: int
    covered_weight: float
    total_weight: float

    @property
    def covered_share(self) -> float:
        """Covered weight / total weight (0 when there is no demand)."""
        return self.covered_weight / self.total_weight if self.total_weight > 0 else 0.0


@dataclass(frozen=True, slots=True)
class SitePick:
    """One suggested site.

    Attributes
    ----------
    rank : int
        1-based pick order.
    lon, lat : float
        WGS-84 degrees.
    gain : float
        Demand weight newly covered by this site, given the earlier picks.
    covered_after : float
        Covered weight with this and every earlier pick added.
    name, category : str
        The candidate's label and what it is (e.g. ``union_home``, ``subway_entrance``).
    """

    rank: int
    lon: float
    lat: float
    gain: float
    covered_after: float
    name: str
    category: str


@dataclass(frozen=True, slots=True)
class StationImportance:
    """An open facility and the demand weight only it covers (its removal cost)."""

    facility_id: str
    name: str
    lon: float
    lat: float
    removal_cost: float


@dataclass(frozen=True)
class CoverageReport:
    """Everything one planner question answers (see :mod:`locator.services.planning`).

    Attributes
    ----------
    kind : str
        Facility kind.
    radius_m : float
        Geodesic metres.
    walk_minutes : float
        :func:`locator.core.walking.walk_minutes` of ``radius_m`` (an estimate).
    at : datetime
        The instant asked about (Asia/Shanghai).
    districts : tuple of str
        Adcodes the demand was limited to; empty for the whole city.
    demand_source : str
        Which demand layer was used (``default`` or a file name).
    points, covered_points : int
        Demand points, and how many are covered at ``at``.
    total_weight, covered_weight : float
        Demand weight, and the part covered at ``at``.
    facilities_total, facilities_open : int
        Facilities of the kind (not removed), and how many are open at ``at``.
    hours : tuple of HourCoverage
        The 24 whole hours of the day of ``at``.
    week : tuple of HourCoverage
        The 168 hours of its week when asked for, else empty.
    areas : tuple of AreaCoverage
        Every district and subdistrict holding demand (districts first, by code).
    sites : tuple of SitePick
        Suggested sites when asked for, else empty.
    candidates_source : str
        Where the candidate sites came from (``""`` without siting).
    least_needed : tuple of StationImportance
        Open facilities by ascending removal cost (at most 20).
    uncovered : PointSet
        The demand points not covered at ``at``.
    demo : bool
        The facilities include the synthetic demo layer.
    """

    kind: str
    radius_m: float
    walk_minutes: float
    at: datetime
    districts: tuple[str, ...]
    demand_source: str
    points: int
    covered_points: int
    total_weight: float
    covered_weight: float
    facilities_total: int
    facilities_open: int
    hours: tuple[HourCoverage, ...]
    week: tuple[HourCoverage, ...]
    areas: tuple[AreaCoverage, ...]
    sites: tuple[SitePick, ...]
    candidates_source: str
    least_needed: tuple[StationImportance, ...]
    uncovered: PointSet
    demo: bool

    @property
    def covered_share(self) -> float:
        """Covered weight / total weight at ``at`` (0 when there is no demand)."""
        return self.covered_weight / self.total_weight if self.total_weight > 0 else 0.0

    def gaps(self, level: str = "subdistrict", n: int = 5) -> list[AreaCoverage]:
        """The ``n`` areas of ``level`` with the most uncovered weight (ties by code)."""
        rows = [a for a in self.areas if a.level == level and a.uncovered_weight > 0]
        return sorted(rows, key=lambda a: (-a.uncovered_weight, a.code))[:n]
