"""The in-memory spatial index: exact geodesic k-nearest and bbox queries.

Why this design
---------------
Nearest must be ranked by **ellipsoidal geodesic distance on WGS-84** (as
:class:`pyproj.Geod` computes it), never by degrees: at 40°N a degree of longitude is
85 km and of latitude 111 km, so a lon/lat-degree index ranks wrongly.

* kNN: each kind's facilities are mapped to 3-D unit vectors (geodetic lon/lat on the
  unit sphere) in a :class:`scipy.spatial.cKDTree`. Chord order equals central-angle
  order, and the central angle ``t`` bounds the geodesic distance ``s`` from both
  sides. Globally ``R_MIN_M * t <= s <= R_MAX_M * t`` (see :data:`locator.core.geo.R_MIN_M`);
  the query uses the tighter local factors of :func:`_radius_factors` (radii of
  curvature over the latitude band the candidates can reach, proven there). A query
  takes the ``m`` nearest candidates by chord (``m`` sized by how many facilities of
  the kind pass the amenity/status filters), applies the filters as array masks,
  computes exact geodesic distances only for those that can still be among the k
  best (usually just k), ranks them by (distance, id), and stops once the k-th
  distance is below ``lo * theta_m`` (``theta_m`` the angle of the m-th candidate):
  no facility outside the candidates can then be as near. Otherwise ``m`` grows 4x
  and the query repeats. When the filters pass so few facilities that ranking them all
  is cheaper, it does that. The answer is exact, with ties broken by id.
  Measured with ``bench/nearest.py`` (one run, k=10, one kind, status ``open``, queries
  in Beijing's urban area, two shared noisy cores; the ratios are what count): the
  median query took 1.23x a bare cKDTree + Geod re-rank of k+10 candidates on the demo
  layer (141 vs 114 µs), 1.20x at 186k (89 vs 74 µs) and 1.26x at 1M synthetic points
  (184 vs 146 µs), where that baseline's answer was wrong for 16/2000 and 11/1000
  queries. The same exact algorithm over an R-tree (``rtree``, libspatialindex) of the
  same vectors took 1.6-1.9x our median.
* Columns, not objects. A million :class:`~locator.core.domain.Facility` objects take
  about 3 GB per process. The index keeps a *base* of plain arrays instead, in id
  order: lon/lat (float64), kind, status bit, amenity bit mask, ``opening_hours`` and
  district as codes into small string tables, ``updated_at`` as microseconds, the ids
  as fixed-width bytes (binary search), and every facility's GeoJSON ``properties`` as
  pre-encoded JSON bytes (:mod:`locator.core.records`) in one blob with offsets.
  Per kind: the rows, their unit vectors and the kd-tree. For bbox, rows sorted by
  latitude (a binary search gives the latitude band, a mask the longitude range).
  Every array can be a read-only view of a memory-mapped snapshot file
  (:mod:`locator.core.snapshot`), so that the workers of one machine share one copy
  in the page cache; :class:`~locator.core.domain.Facility` objects are made only on
  demand (hits, :meth:`FacilityIndex.get`, :meth:`FacilityIndex.facilities`), and
  :meth:`FacilityIndex.properties_json` hands the encoded properties out as they are.
* Updates: an index is immutable. :meth:`FacilityIndex.apply` returns a new index that
  shares the base and carries an *overlay*: the facilities changed or deleted since
  the base (at most a few thousand, by design). Their base rows are masked out of every
  query (kNN candidates, scans, bbox, listings) and the overlay's own facilities are
  searched beside the trees, by the same bounds (a chord prefilter, then exact geodesic
  distances), so every answer is exactly the answer over the merged facilities, with
  the same tie rule. Applying a change costs O(overlay), not O(n).
  :meth:`FacilityIndex.fold` merges the overlay into a new base with array operations
  (kd-trees are rebuilt only for the kinds that changed); the caller runs it in the
  background and swaps the result in, and :meth:`FacilityIndex.rebased` re-applies
  whatever was applied meanwhile. Readers keep using the index they hold, so no query
  ever sees a half-applied change.
* Own writes: :meth:`FacilityIndex.patch` shows a facility the caller itself just wrote
  before the store's change feed delivers it, *pinned* until the index reaches a given
  revision, so a late change set holding an older state cannot undo it.

Filters are applied to candidates before ranking: kinds, amenities (all required),
status (``open`` only by default), open at an instant (OSM ``opening_hours`` evaluated
in Asia/Shanghai; unknown hours count as not open), and a radius in metres.
"""

from __future__ import annotations

import bisect
import itertools
import math
import os
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NamedTuple, TypeVar

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from locator.core.domain import AMENITIES, STATUSES, Facility, NearestHit, NearestQuery
from locator.core.geo import R_MIN_M, WGS84_GEOD, angle_for_chord, chord_for_angle, unit_vectors
from locator.core.hours import is_open
from locator.core.records import decode_properties, encode_properties, properties_extras

_AMENITY_BIT = {name: 1 << i for i, name in enumerate(AMENITIES)}
_STATUS_BIT = {name: 1 << i for i, name in enumerate(STATUSES)}
_STATUS_OF_BIT = {bit: name for name, bit in _STATUS_BIT.items()}
_STATUS_MASKS: dict[frozenset[str], int] = {}


def _status_mask(statuses: Collection[str]) -> int:
    """Bit mask of the statuses (unknown names are ignored)."""
    key = statuses if isinstance(statuses, frozenset) else frozenset(statuses)
    mask = _STATUS_MASKS.get(key)
    if mask is None:
        mask = 0
        for status in key:
            mask |= _STATUS_BIT.get(status, 0)
        if len(_STATUS_MASKS) < 64:
            _STATUS_MASKS[key] = mask
    return mask


def status_mask(statuses: Collection[str]) -> int:
    """Bit mask of the statuses as the index stores them (see :attr:`BaseColumns.status`)."""
    return _status_mask(statuses)


def amenity_mask(amenities: Iterable[str]) -> int:
    """Bit mask of the amenity keys (see :data:`locator.core.domain.AMENITIES`)."""
    mask = 0
    for a in amenities:
        mask |= _AMENITY_BIT[a]
    return mask


_A_M: Final = float(WGS84_GEOD.a)
_E2: Final = float(WGS84_GEOD.es)
#: Relative and absolute slack (metres) widening every bound: covers floating-point
#: rounding of chords, radii and pyproj's ~15 nm accuracy many times over.
_REL_SLACK: Final = 1e-9
_ABS_SLACK_M: Final = 1e-6
_HALF_PI: Final = math.pi / 2
#: Filter results cached per kind (mask pairs).
_FILTER_CACHE: Final = 16
#: Facilities materialised from the base kept per base (hits are mostly the same few).
_OBJECT_CACHE: Final = 4096
#: Overlay facilities of one query ranked exactly without the chord prefilter.
_OVERLAY_SCAN: Final = 64
#: ``updated_at`` of a facility without one, as microseconds since 1970 (the epoch).
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
#: kd-tree build options (a sliding-midpoint tree builds ~1.5x faster than the median one).
_TREE_OPTIONS: Final = {"balanced_tree": False}


def updated_microseconds(at: datetime | None) -> int:
    """``updated_at`` as integer microseconds since 1970-01-01T00:00Z (None: 0).

    A naive instant is taken as local time, as :meth:`datetime.astimezone` does.
    """
    if at is None:
        return 0
    return (at.astimezone(UTC) - _EPOCH) // _MICROSECOND


def _meridian_radius_m(lat_rad: float) -> float:
    """Meridional radius of curvature ``M`` on WGS-84 at geodetic latitude (radians), metres."""
    s = math.sin(lat_rad)
    w = 1.0 - _E2 * s * s
    return _A_M * (1.0 - _E2) / (w * math.sqrt(w))


def _normal_radius_m(lat_rad: float) -> float:
    """Prime-vertical radius of curvature ``N`` on WGS-84 at geodetic latitude (radians), metres."""
    s = math.sin(lat_rad)
    return _A_M / math.sqrt(1.0 - _E2 * s * s)


def _radius_factors(abs_lat_rad: float, theta_rad: float) -> tuple[float, float]:
    """Local factors ``(lo, hi)`` with ``lo * t <= s <= hi * t`` for every ``t <= theta_rad``.

    Parameters
    ----------
    abs_lat_rad : float
        ``|latitude|`` of the query point, radians (geodetic, WGS-84).
    theta_rad : float
        A central angle (radians) between the query's and any point's unit vectors.

    Returns
    -------
    lo, hi : float
        Metres per radian, already widened by ``_REL_SLACK``: for any point at central
        angle ``t <= theta_rad`` the geodesic distance satisfies
        ``lo * t <= s <= hi * t``; for a point at ``t >= theta_rad``, ``s >= lo * theta_rad``.

    Notes
    -----
    ``M`` (meridional) and ``N`` (prime vertical) are the radii of curvature; both grow
    with ``|lat|`` and ``M <= N``. The ellipsoid's line element
    ``ds^2 = M^2 dlat^2 + N^2 cos^2(lat) dlon^2`` lies between ``M^2`` and ``N^2`` times
    the unit sphere's ``dlat^2 + cos^2(lat) dlon^2``.

    *Lower bound.* Let ``Q`` be the query, ``P`` a point at central angle ``t`` and
    ``L = M(max(0, |lat_Q| - t))``. Either the shortest geodesic from ``Q`` to ``P``
    stays where ``|lat| >= |lat_Q| - t``: there ``ds >= L * (spherical ds)``, and its
    image on the sphere is at least as long as the great-circle angle ``t``, so
    ``s >= L * t``. Or it reaches ``|lat| = |lat_Q| - t > 0``: up to there ``|lat|``
    falls by ``t`` while ``|lat| >= |lat_Q| - t``, and ``ds >= M |dlat|``, so again
    ``s >= L * t``. As ``dM/dlat <= 1.5 e^2 M / (1 - e^2)`` (about ``0.01 M``) and
    ``t <= pi``, ``L * t`` increases with ``t``; so with ``lo = M(max(0, |lat_Q| - theta))``,
    ``s >= lo * t`` for ``t <= theta`` and ``s >= lo * theta`` for ``t >= theta``.

    *Upper bound.* The curve on the ellipsoid that maps onto the minor great-circle arc
    from ``Q`` to ``P`` has every point within angle ``t`` of ``Q``, hence at
    ``|lat| <= |lat_Q| + t``; its length, an upper bound on ``s``, is at most
    ``N(min(90°, |lat_Q| + t)) * t <= hi * t`` with ``hi = N(min(90°, |lat_Q| + theta))``.

    With ``theta = 0`` this is the local scale at the query; at any ``theta`` it is at
    least as tight as the global ``R_MIN_M``/``R_MAX_M`` of :mod:`locator.core.geo`. At 40°N
    and a few km, ``hi / lo`` is about 1.004 (``N/M``), against 1.010 globally.

    Every bound is then widened by ``_REL_SLACK`` here and ``_ABS_SLACK_M`` by the
    caller, far more than floating-point rounding of the chords and radii and
    pyproj's ~15 nm geodesic error.
    """
    lo = _meridian_radius_m(max(0.0, abs_lat_rad - theta_rad))
    hi = _normal_radius_m(min(_HALF_PI, abs_lat_rad + theta_rad))
    return lo * (1.0 - _REL_SLACK), hi * (1.0 + _REL_SLACK)


def _open(hours: str, at: datetime, memo: dict[str, bool]) -> bool:
    """Whether ``opening_hours`` value ``hours`` says open at ``at`` (memoised per query)."""
    r = memo.get(hours)
    if r is None:
        r = memo[hours] = is_open(hours, at) is True
    return r


def _geodesics(
    lon: float, lat: float, lons: NDArray[np.float64], lats: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Geodesic ``(azimuth_deg, distance_m)`` from one point to many (WGS-84, pyproj)."""
    count = len(lons)
    qlon = np.empty(count)
    qlon.fill(lon)
    qlat = np.empty(count)
    qlat.fill(lat)
    az, _, dist = WGS84_GEOD.inv(
        qlon,
        qlat,
        np.array(lons, dtype=float),
        np.array(lats, dtype=float),
        inplace=True,
        return_back_azimuth=False,
    )
    return az, dist


def tree_state(tree: cKDTree) -> dict[str, Any]:
    """The arrays that rebuild a kd-tree without re-splitting (see :func:`restore_tree`).

    Returns
    -------
    dict
        ``buffer`` (uint8 node buffer), ``indices`` (int64 permutation of the points),
        ``leafsize``, ``maxes``, ``mins`` (float64 bounding box).
    """
    state = tree.__getstate__()
    return {
        "buffer": np.frombuffer(state[0], dtype=np.uint8),
        "indices": np.asarray(state[7], dtype=np.int64),
        "leafsize": int(state[4]),
        "maxes": np.asarray(state[5], dtype=np.float64),
        "mins": np.asarray(state[6], dtype=np.float64),
    }


def restore_tree(data: NDArray[np.float64], state: Mapping[str, Any]) -> cKDTree:
    """A kd-tree over ``data`` (n x 3) from :func:`tree_state` arrays, without rebuilding.

    ``data`` and ``indices`` are used in place (memory-mapped arrays stay shared);
    scipy copies the node buffer. This uses cKDTree's pickling state, so a snapshot
    is keyed by the scipy version (:mod:`locator.core.snapshot`).

    Raises
    ------
    ValueError
        If the state does not fit ``data``.
    """
    n = len(data)
    indices = state["indices"]
    if indices.shape != (n,) or data.shape != (n, 3) or n == 0:
        raise ValueError("kd-tree state does not fit its points")
    if int(indices.min()) != 0 or int(indices.max()) != n - 1:
        raise ValueError("kd-tree indices are not a permutation of the points")
    if np.count_nonzero(np.bincount(indices, minlength=n)) != n:
        raise ValueError("kd-tree indices are not a permutation of the points")
    tree = cKDTree.__new__(cKDTree)
    tree.__setstate__(
        (
            np.asarray(state["buffer"]).view("S1"),
            data,
            n,
            3,
            int(state["leafsize"]),
            np.array(state["maxes"], dtype=np.float64),
            np.array(state["mins"], dtype=np.float64),
            indices,
            None,
            None,
        )
    )
    return tree


class FileSegment:
    """A region of a file read with :func:`os.pread`, never memory-mapped.

    The properties blob is most of a snapshot and is read a few hundred bytes at a time
    (the hits of a query). Mapped, every such read would make the kernel map whole
    large folios of the page cache around it (hundreds of KB each on current Linux):
    after a few thousand queries a worker's resident set holds the whole blob. Read
    with ``pread``, the bytes come from the same shared page cache and nothing is
    mapped into the process.

    Parameters
    ----------
    fd : int
        An open file; it is duplicated (closed when this object is collected).
    offset, length : int
        The region, bytes.
    """

    def __init__(self, fd: int, offset: int, length: int) -> None:
        import weakref

        self._fd = os.dup(fd)
        self.offset = offset
        self.length = length
        weakref.finalize(self, os.close, self._fd)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, key: slice) -> bytes:
        start, stop, step = key.indices(self.length)
        if step != 1:
            raise ValueError("only contiguous slices")
        return os.pread(self._fd, max(0, stop - start), self.offset + start)

    def chunks(self, size: int = 8 << 20) -> Iterable[bytes]:
        """The whole region, in pieces of at most ``size`` bytes."""
        for start in range(0, self.length, size):
            yield self[start : min(self.length, start + size)]


def segment_array(segment: Any) -> NDArray[np.uint8]:
    """A blob segment (array or :class:`FileSegment`) as a uint8 array (reads a file segment)."""
    if isinstance(segment, FileSegment):
        return np.frombuffer(b"".join(segment.chunks()), dtype=np.uint8)
    return np.asarray(segment, dtype=np.uint8)


class _KindPart:
    """One kind's rows of a base: row numbers (ascending, so id order), unit vectors, kd-tree."""

    __slots__ = ("base", "code", "name", "rows", "xyz", "tree", "n", "_filters")

    def __init__(
        self, base: _Base, code: int, rows: NDArray[np.int64], xyz: NDArray[np.float64], tree: cKDTree | None
    ) -> None:
        self.base = base
        self.code = code
        self.name = base.kinds[code]
        self.rows = rows
        self.xyz = xyz
        self.n = len(rows)
        self.tree = tree if tree is not None or not self.n else cKDTree(xyz, **_TREE_OPTIONS)
        # (amenity mask, status mask) -> (which rows pass, how many); filled lazily.
        self._filters: dict[tuple[int, int], tuple[NDArray[np.bool_], int]] = {}

    def passing(self, req_mask: int, status_mask: int) -> tuple[NDArray[np.bool_], int]:
        """Which of the kind's rows pass the amenity and status filters, and how many (cached).

        The base is immutable, so the answer is cached per mask pair (at most
        ``_FILTER_CACHE`` pairs, one byte per row each). Masked rows are not excluded here.
        """
        key = (req_mask, status_mask)
        hit = self._filters.get(key)
        if hit is None:
            base = self.base
            ok = (base.status[self.rows] & status_mask) != 0
            if req_mask:
                ok &= (base.amen[self.rows] & req_mask) == req_mask
            hit = (ok, int(np.count_nonzero(ok)))
            if len(self._filters) >= _FILTER_CACHE:
                self._filters.clear()
            self._filters[key] = hit
        return hit

    def _hours(self, positions: NDArray[np.int64]) -> list[str]:
        table = self.base.hours_table
        return [table[c] for c in self.base.hours[self.rows[positions]].tolist()]

    def nearest(
        self,
        q: NearestQuery,
        qxyz: tuple[float, float, float],
        req_mask: int,
        status_mask: int,
        open_memo: dict[str, bool],
        masked: tuple[NDArray[np.int64], NDArray[np.bool_]] | None,
    ) -> list[tuple[float, int, float]]:
        """Exact k best ``(distance_m, position, bearing_deg)`` in this kind; positions index :attr:`rows`.

        The kd-tree gives the ``m`` nearest candidates by chord (equivalently by central
        angle ``t``) and the filters keep some of them (rows masked by an overlay never
        pass). With ``lo``/``hi`` from :func:`_radius_factors` at the angle ``theta_m``
        of the m-th candidate, a kept candidate can be among the k best only if
        ``lo * t`` is at most ``hi * t_k`` (``t_k`` the k-th kept angle): only those get
        an exact geodesic distance, and are ranked by (distance, id). The answer is
        final once the k-th distance is below ``lo * theta_m`` (every facility outside
        the candidates is farther), or the tree holds no more points within reach;
        otherwise ``m`` grows 4x.
        """
        tree = self.tree
        n = self.n
        k = q.k
        if tree is None or k < 1:
            return []
        ok_all, matching = self.passing(req_mask, status_mask)
        masked_part = None
        if masked is not None:
            masked_pos, masked_part = masked
            matching -= int(np.count_nonzero(ok_all[masked_pos]))
        if matching <= 0:
            return []
        radius = q.radius_m
        at = q.open_at
        upper = math.inf
        if radius is not None:
            if not radius >= 0:
                return []
            # Anything within radius_m has t <= radius_m / R_MIN_M.
            upper = chord_for_angle(radius / R_MIN_M) * (1 + 1e-9) + 1e-12
        # Enough candidates that k of them probably pass the filters, plus a margin.
        m = min(n, math.ceil(k * n / matching) + 5 + (k if at is not None else 0))
        if m >= n or 4 * matching * matching <= k * n:
            # So few facilities pass (at most a quarter of the m candidates the tree
            # would have to return) that ranking all of them is cheaper.
            return self._scan(q, ok_all, open_memo, masked_part)
        abs_lat = abs(math.radians(q.lat))
        base = self.base
        ranked: list[tuple[float, int, float]] = []
        while True:
            chord, idx = tree.query(qxyz, k=m, distance_upper_bound=upper)
            if m == 1:
                chord, idx = np.atleast_1d(chord), np.atleast_1d(idx)
            got = len(idx)
            if got and idx[-1] >= n:  # padding: fewer than m points within `upper`
                valid = idx < n
                chord, idx = chord[valid], idx[valid]
                got = len(idx)
            if got == 0:
                return []
            keep = ok_all[idx]
            if masked_part is not None:
                keep &= ~masked_part[idx]
            acc = idx[keep]
            acc_chord: list[float] = chord[keep].tolist()
            if at is not None and len(acc):
                is_on = [_open(h, at, open_memo) for h in self._hours(acc)]
                acc = acc[np.asarray(is_on, dtype=bool)]
                acc_chord = list(itertools.compress(acc_chord, is_on))
            theta_m = angle_for_chord(float(chord[-1]))
            lo, hi = _radius_factors(abs_lat, theta_m)
            # The largest geodesic distance a kept candidate may have and still matter.
            cap = math.inf
            if len(acc_chord) >= k:
                cap = hi * angle_for_chord(acc_chord[k - 1]) + _ABS_SLACK_M
            if radius is not None:
                cap = min(cap, radius)
            nc = len(acc_chord)
            if cap < math.inf:
                # lo * t - slack <= cap  <=>  t <= (cap + slack) / lo
                nc = bisect.bisect_right(acc_chord, chord_for_angle((cap + _ABS_SLACK_M) / lo) * (1 + 1e-12))
            if nc:
                cand = acc[:nc]
                rows = self.rows[cand]
                az, dist = _geodesics(q.lon, q.lat, base.lon[rows], base.lat[rows])
                # Positions are in id order, so this ranks by (distance, id).
                ranked = sorted(zip(dist.tolist(), cand.tolist(), az.tolist(), strict=True))
                del ranked[k:]
            else:
                ranked = []
            if got < m or m >= n:
                break  # every point within reach has been a candidate
            beyond = lo * theta_m - _ABS_SLACK_M  # no facility outside the candidates is nearer
            if len(ranked) == k and ranked[-1][0] < beyond:
                break
            if radius is not None and beyond > radius:
                break
            m = min(n, m * 4)
        return [(d, i, b % 360.0) for d, i, b in ranked if radius is None or d <= radius]

    def _scan(
        self,
        q: NearestQuery,
        ok_all: NDArray[np.bool_],
        open_memo: dict[str, bool],
        masked_part: NDArray[np.bool_] | None,
    ) -> list[tuple[float, int, float]]:
        """Exact k best ``(distance_m, position, bearing_deg)`` among all that pass."""
        idx = np.flatnonzero(ok_all)
        if masked_part is not None:
            idx = idx[~masked_part[idx]]
        if q.open_at is not None and len(idx):
            at = q.open_at
            idx = idx[np.asarray([_open(h, at, open_memo) for h in self._hours(idx)], dtype=bool)]
        if not len(idx):
            return []
        rows = self.rows[idx]
        az, dist = _geodesics(q.lon, q.lat, self.base.lon[rows], self.base.lat[rows])
        if q.radius_m is not None:
            within = dist <= q.radius_m
            idx, dist, az = idx[within], dist[within], az[within]
        # Positions are in id order, so this ranks by (distance, id).
        order = np.lexsort((idx, dist))[: q.k]
        return [
            (d, i, b % 360.0)
            for d, i, b in zip(dist[order].tolist(), idx[order].tolist(), az[order].tolist(), strict=True)
        ]


class _Base:
    """Immutable columns of every facility in id order (see the module docstring).

    Row ``r``'s encoded properties are ``blob[pstart[r] : pstart[r] + plen[r]]`` where
    the blob is the concatenation of ``segments`` (one memory-mapped buffer once loaded
    from a snapshot; a fold appends a segment rather than copying the old one).
    """

    def __init__(
        self,
        *,
        revision: int,
        ids: NDArray[Any],
        lon: NDArray[np.float64],
        lat: NDArray[np.float64],
        kind: NDArray[np.uint8],
        status: NDArray[np.int64],
        amen: NDArray[np.int64],
        hours: NDArray[np.int32],
        district: NDArray[np.int32],
        updated: NDArray[np.int64],
        pstart: NDArray[np.int64],
        plen: NDArray[np.int32],
        segments: Sequence[Any],
        kinds: Sequence[str],
        hours_table: Sequence[str],
        district_table: Sequence[str],
        extras: Mapping[str, dict[str, Any]],
        parts: Mapping[int, tuple[NDArray[np.int64], NDArray[np.float64], cKDTree | None]] | None = None,
        lat_order: NDArray[np.int64] | None = None,
        lat_sorted: NDArray[np.float64] | None = None,
        upd_order: NDArray[np.int64] | None = None,
    ) -> None:
        self.revision = revision
        self.n = len(ids)
        self.ids = ids
        self.lon = lon
        self.lat = lat
        self.kind = kind
        self.status = status
        self.amen = amen
        self.hours = hours
        self.district = district
        self.updated = updated
        self.pstart = pstart
        self.plen = plen
        self.segments = list(segments)
        bounds = [0]
        for seg in self.segments:
            bounds.append(bounds[-1] + len(seg))
        self._seg_bounds = bounds
        self.kinds = list(kinds)
        self.kind_codes = {name: code for code, name in enumerate(self.kinds)}
        self.hours_table = list(hours_table)
        self.district_table = list(district_table)
        self.extras = dict(extras)
        self.parts: dict[int, _KindPart] = {}
        for code in range(len(self.kinds)):
            if parts is not None and code in parts:
                rows, xyz, tree = parts[code]
            else:
                rows = np.flatnonzero(kind == code).astype(np.int64)
                xyz = unit_vectors(lon[rows], lat[rows]) if len(rows) else np.empty((0, 3))
                tree = None
            if len(rows):
                self.parts[code] = _KindPart(self, code, rows, xyz, tree)
        self.lat_order = (
            lat_order if lat_order is not None else np.argsort(lat, kind="stable").astype(np.int64)
        )
        if lat_sorted is None:
            lat_sorted = lat[self.lat_order] if self.n else np.empty(0)
        self.lat_sorted = lat_sorted
        self.upd_order = (
            upd_order if upd_order is not None else np.argsort(updated, kind="stable").astype(np.int64)
        )
        self._objects: dict[int, Facility] = {}
        #: Data derived from this base by other modules (see :meth:`FacilityIndex.base_derived`).
        self.derived: dict[str, Any] = {}
        self.derived_lock = threading.Lock()
        #: The snapshot file this base was loaded from, and its key (None: built in memory).
        self.source: Any = None
        self.key: dict[str, Any] = {}

    @property
    def blob_size(self) -> int:
        """Bytes in the properties blob (including those of rows no longer present)."""
        return self._seg_bounds[-1]

    # -- rows ----------------------------------------------------------------------

    def id_at(self, row: int) -> str:
        """The id of ``row``."""
        return bytes(self.ids[row]).decode()

    def find(self, facility_id: str) -> int:
        """The row of ``facility_id``, or -1."""
        key = facility_id.encode()
        if not self.n or len(key) > self.ids.dtype.itemsize or not key or key.endswith(b"\0"):
            return -1
        row = int(np.searchsorted(self.ids, key))
        if row < self.n and bytes(self.ids[row]) == key:
            return row
        return -1

    def find_many(self, facility_ids: Sequence[str]) -> NDArray[np.int64]:
        """Rows of the ids (-1 where absent), vectorised."""
        out = np.full(len(facility_ids), -1, dtype=np.int64)
        if not self.n or not facility_ids:
            return out
        width = self.ids.dtype.itemsize
        keys = [fid.encode() for fid in facility_ids]
        fits = np.fromiter(
            (0 < len(key) <= width and not key.endswith(b"\0") for key in keys), bool, len(keys)
        )
        if not fits.any():
            return out
        arr = np.array([key for key, ok in zip(keys, fits.tolist(), strict=True) if ok], dtype=self.ids.dtype)
        pos = np.searchsorted(self.ids, arr)
        inside = pos < self.n
        hit = np.zeros(len(arr), dtype=bool)
        hit[inside] = self.ids[pos[inside]] == arr[inside]
        found = np.where(hit, pos, -1)
        out[np.flatnonzero(fits)] = found
        return out

    def props(self, row: int) -> bytes:
        """Row ``row``'s encoded properties."""
        start = int(self.pstart[row])
        end = start + int(self.plen[row])
        bounds = self._seg_bounds
        if len(bounds) == 2:
            return bytes(self.segments[0][start:end])
        i = bisect.bisect_right(bounds, start) - 1
        seg_start = bounds[i]
        return bytes(self.segments[i][start - seg_start : end - seg_start])

    def facility(self, row: int, *, cache: bool = True) -> Facility:
        """Row ``row`` as a :class:`Facility` (materialised from its properties)."""
        f = self._objects.get(row)
        if f is None:
            fid = self.id_at(row)
            f = decode_properties(
                self.props(row), float(self.lon[row]), float(self.lat[row]), self.extras.get(fid)
            )
            if cache:
                if len(self._objects) >= _OBJECT_CACHE:
                    self._objects.clear()
                self._objects[row] = f
        return f

    def status_name(self, row: int) -> str:
        """The status of ``row``."""
        return _STATUS_OF_BIT[int(self.status[row])]

    def rows_in_box(
        self, min_lon: float, min_lat: float, max_lon: float, max_lat: float
    ) -> NDArray[np.int64]:
        """Rows inside the rectangle (edges inclusive), ascending (id order)."""
        lo = int(np.searchsorted(self.lat_sorted, min_lat, side="left"))
        hi = int(np.searchsorted(self.lat_sorted, max_lat, side="right"))
        rows = self.lat_order[lo:hi]
        lon = self.lon[rows]
        rows = rows[(lon >= min_lon) & (lon <= max_lon)]
        rows.sort()
        return rows

    # -- building ------------------------------------------------------------------

    def merged(self, masked: NDArray[np.bool_] | None, live: Sequence[_Entry], revision: int) -> _Base:
        """A new base: this one without the ``masked`` rows, plus the ``live`` facilities.

        Parameters
        ----------
        masked : ndarray of bool, shape (n,), or None
            Rows to drop (changed or deleted since this base).
        live : sequence of _Entry
            Facilities to add, in id order; none of them has an unmasked row here.
        revision : int
            The new base's revision.

        Array operations only (O(n) copies, no per-row Python), except for the new
        facilities; kd-trees are rebuilt only for kinds that lost or gained rows.
        """
        keep_rows = np.flatnonzero(~masked) if masked is not None else np.arange(self.n, dtype=np.int64)
        count = len(live)
        new_ids = [e.facility.id.encode() for e in live if e.facility is not None]
        width = max([self.ids.dtype.itemsize, 1, *map(len, new_ids)])
        id_dtype = np.dtype(f"S{width}")
        kept_ids = self.ids[keep_rows].astype(id_dtype)
        add_ids = np.array(new_ids, dtype=id_dtype)
        pos = np.searchsorted(kept_ids, add_ids)
        total = len(keep_rows) + count
        new_at = pos + np.arange(count, dtype=np.int64)
        is_new = np.zeros(total, dtype=bool)
        is_new[new_at] = True
        old_at = np.flatnonzero(~is_new)

        def column(old: NDArray[Any], added: Sequence[Any] | NDArray[Any], dtype: Any) -> NDArray[Any]:
            out = np.empty(total, dtype=dtype)
            out[old_at] = old[keep_rows]
            out[new_at] = np.asarray(added, dtype=dtype)
            return out

        kinds = list(self.kinds)
        kind_codes = {name: code for code, name in enumerate(kinds)}
        hours_table = list(self.hours_table)
        hours_codes = {h: c for c, h in enumerate(hours_table)}
        district_table = list(self.district_table)
        district_codes = {d: c for c, d in enumerate(district_table)}
        fs = [e.facility for e in live if e.facility is not None]

        def code_of(table: list[str], codes: dict[str, int], value: str) -> int:
            c = codes.get(value)
            if c is None:
                c = codes[value] = len(table)
                table.append(value)
            return c

        kind_new = [code_of(kinds, kind_codes, f.kind) for f in fs]
        if len(kinds) > 255:
            raise ValueError("too many facility kinds for the index")
        hours_new = [code_of(hours_table, hours_codes, f.opening_hours) for f in fs]
        district_new = [
            -1 if f.district_adcode is None else code_of(district_table, district_codes, f.district_adcode)
            for f in fs
        ]
        blobs = [e.props or b"" for e in live]
        lengths = np.fromiter(map(len, blobs), np.int64, count)
        starts = self.blob_size + np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
        segments = list(self.segments)
        if count:
            segments.append(np.frombuffer(b"".join(blobs), dtype=np.uint8))
        extras = {fid: x for fid, x in self.extras.items()}
        if masked is not None and masked.any():
            for row in np.flatnonzero(masked).tolist():
                extras.pop(self.id_at(row), None)
        for f in fs:
            x = properties_extras(f)
            if x is not None:
                extras[f.id] = x
        kind = column(self.kind, kind_new, np.uint8)
        lon = column(self.lon, [f.lon for f in fs], np.float64)
        lat = column(self.lat, [f.lat for f in fs], np.float64)
        changed_kinds = set(kind_new)
        if masked is not None and masked.any():
            changed_kinds.update(np.unique(self.kind[masked]).tolist())
        parts: dict[int, tuple[NDArray[np.int64], NDArray[np.float64], cKDTree | None]] = {}
        for code in range(len(kinds)):
            rows = np.flatnonzero(kind == code).astype(np.int64)
            old = self.parts.get(code)
            if code not in changed_kinds and old is not None and len(rows) == old.n:
                parts[code] = (rows, old.xyz, old.tree)  # same points in the same order
            elif len(rows):
                parts[code] = (rows, unit_vectors(lon[rows], lat[rows]), None)
        base = _Base(
            revision=revision,
            ids=column(
                self.ids.astype(id_dtype) if self.ids.dtype != id_dtype else self.ids, add_ids, id_dtype
            ),
            lon=lon,
            lat=lat,
            kind=kind,
            status=column(self.status, [_STATUS_BIT[f.status] for f in fs], np.int64),
            amen=column(self.amen, [amenity_mask(f.amenities) for f in fs], np.int64),
            hours=column(self.hours, hours_new, np.int32),
            district=column(self.district, district_new, np.int32),
            updated=column(self.updated, [updated_microseconds(f.updated_at) for f in fs], np.int64),
            pstart=column(self.pstart, starts, np.int64),
            plen=column(self.plen, lengths, np.int32),
            segments=segments,
            kinds=kinds,
            hours_table=hours_table,
            district_table=district_table,
            extras=extras,
            parts=parts,
        )
        live_bytes = int(base.plen.sum()) if base.n else 0
        if base.blob_size > 2 * live_bytes + (1 << 20):
            base = base.compacted()  # more than half of the blob is old versions
        elif len(base.segments) > 8:
            base = base.compacted(rows=False)
        return base

    def compacted(self, *, rows: bool = True) -> _Base:
        """The same base with its properties blob in one segment.

        With ``rows``, only the present rows' properties are kept, in row order (a
        Python loop over the rows); otherwise the segments are concatenated as they are.
        """
        if rows:
            pieces = [self.props(r) for r in range(self.n)]
            lengths = np.fromiter(map(len, pieces), np.int64, self.n)
            starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64) if self.n else lengths
            segment = np.frombuffer(b"".join(pieces), dtype=np.uint8)
        else:
            lengths, starts = self.plen.astype(np.int64), self.pstart
            segment = np.concatenate([segment_array(s) for s in self.segments])
        return _Base(
            revision=self.revision,
            ids=self.ids,
            lon=self.lon,
            lat=self.lat,
            kind=self.kind,
            status=self.status,
            amen=self.amen,
            hours=self.hours,
            district=self.district,
            updated=self.updated,
            pstart=starts,
            plen=lengths.astype(np.int32),
            segments=[segment],
            kinds=self.kinds,
            hours_table=self.hours_table,
            district_table=self.district_table,
            extras=self.extras,
            parts={c: (p.rows, p.xyz, p.tree) for c, p in self.parts.items()},
            lat_order=self.lat_order,
            lat_sorted=self.lat_sorted,
            upd_order=self.upd_order,
        )


class BaseBuilder:
    """Builds a base from facilities given in any order, in chunks, in bounded memory.

    Each chunk is encoded at once (properties JSON into one growing blob, fields into
    typed columns), so only the chunk's :class:`Facility` objects are alive at a time.
    A facility given twice keeps the later copy.

    Examples
    --------
    >>> b = BaseBuilder()
    >>> b.add([Facility("b", "warm_station", "B", 116.34, 39.99)])
    >>> b.add([Facility("a", "warm_station", "A", 116.30, 39.99)])
    >>> idx = FacilityIndex.from_base(b.finish(revision=3))
    >>> [f.id for f in idx.facilities()], idx.revision
    (['a', 'b'], 3)
    """

    def __init__(self) -> None:
        import array

        self._ids: list[bytes] = []
        self._lon = array.array("d")
        self._lat = array.array("d")
        self._kind: list[str] = []
        self._status = array.array("q")
        self._amen = array.array("q")
        self._hours = array.array("i")
        self._district = array.array("i")
        self._updated = array.array("q")
        self._pstart = array.array("q")
        self._plen = array.array("i")
        self._blob = bytearray()
        self._hours_codes: dict[str, int] = {}
        self._district_codes: dict[str, int] = {}
        self._kind_codes: dict[str, int] = {}
        self._extras: dict[str, dict[str, Any]] = {}
        self._amen_masks: dict[frozenset[str], int] = {}

    def add(self, facilities: Iterable[Facility]) -> None:
        """Encode a chunk of facilities (WGS-84)."""
        hours_codes, district_codes, masks = self._hours_codes, self._district_codes, self._amen_masks
        blob = self._blob
        for f in facilities:
            props = encode_properties(f)
            self._ids.append(f.id.encode())
            self._lon.append(f.lon)
            self._lat.append(f.lat)
            self._kind.append(f.kind)
            self._kind_codes.setdefault(f.kind, len(self._kind_codes))
            self._status.append(_STATUS_BIT[f.status])
            mask = masks.get(f.amenities)
            if mask is None:
                mask = masks[f.amenities] = amenity_mask(f.amenities)
            self._amen.append(mask)
            self._hours.append(hours_codes.setdefault(f.opening_hours, len(hours_codes)))
            self._district.append(
                -1
                if f.district_adcode is None
                else district_codes.setdefault(f.district_adcode, len(district_codes))
            )
            self._updated.append(updated_microseconds(f.updated_at))
            self._pstart.append(len(blob))
            self._plen.append(len(props))
            blob += props
            extra = properties_extras(f)
            if extra is not None:
                self._extras[f.id] = extra
            else:
                self._extras.pop(f.id, None)

    def finish(self, revision: int) -> _Base:
        """The base of every facility added (the later copy of a repeated id)."""
        n = len(self._ids)
        width = max([1, *map(len, self._ids)])
        ids = np.array(self._ids, dtype=f"S{width}") if n else np.empty(0, dtype="S1")
        self._ids = []
        # Stable sort by id; of equal ids keep the last added.
        order = np.argsort(ids, kind="stable")
        if n > 1:
            sorted_ids = ids[order]
            last = np.ones(n, dtype=bool)
            last[:-1] = sorted_ids[1:] != sorted_ids[:-1]
            order = order[last]
        kinds = sorted(self._kind_codes)
        kind_code = {name: code for code, name in enumerate(kinds)}
        kind_arr = np.fromiter((kind_code[k] for k in self._kind), np.uint8, n)
        self._kind = []
        hours_table = sorted(self._hours_codes, key=self._hours_codes.__getitem__)
        district_table = sorted(self._district_codes, key=self._district_codes.__getitem__)
        ids_sorted = ids[order]
        present = {bytes(i).decode() for i in ids_sorted.tolist()} if len(self._extras) else set()
        return _Base(
            revision=revision,
            ids=ids_sorted,
            lon=np.frombuffer(self._lon, dtype=np.float64)[order].copy(),
            lat=np.frombuffer(self._lat, dtype=np.float64)[order].copy(),
            kind=kind_arr[order],
            status=np.frombuffer(self._status, dtype=np.int64)[order].copy(),
            amen=np.frombuffer(self._amen, dtype=np.int64)[order].copy(),
            hours=np.frombuffer(self._hours, dtype=np.int32)[order].copy(),
            district=np.frombuffer(self._district, dtype=np.int32)[order].copy(),
            updated=np.frombuffer(self._updated, dtype=np.int64)[order].copy(),
            pstart=np.frombuffer(self._pstart, dtype=np.int64)[order].copy(),
            plen=np.frombuffer(self._plen, dtype=np.int32)[order].copy(),
            segments=[np.frombuffer(self._blob, dtype=np.uint8)],
            kinds=kinds,
            hours_table=hours_table,
            district_table=district_table,
            extras={fid: x for fid, x in self._extras.items() if fid in present},
        )


class _Entry(NamedTuple):
    """One overlay entry: a facility's state since the base (None: deleted), its encoding, when set."""

    facility: Facility | None
    props: bytes | None
    seq: int


class _Overlay:
    """The live overlay facilities of one index as arrays, in id order."""

    __slots__ = ("entries", "ids", "lon", "lat", "xyz", "amen", "status", "kind", "kinds", "hours", "props")

    def __init__(self, live: list[_Entry]) -> None:
        self.entries = live
        fs = [e.facility for e in live if e.facility is not None]
        count = len(fs)
        self.ids = [f.id for f in fs]
        self.lon = np.fromiter((f.lon for f in fs), np.float64, count)
        self.lat = np.fromiter((f.lat for f in fs), np.float64, count)
        self.xyz = unit_vectors(self.lon, self.lat) if count else np.empty((0, 3))
        self.amen = np.fromiter((amenity_mask(f.amenities) for f in fs), np.int64, count)
        self.status = np.fromiter((_STATUS_BIT[f.status] for f in fs), np.int64, count)
        self.kinds = sorted({f.kind for f in fs})
        codes = {name: c for c, name in enumerate(self.kinds)}
        self.kind = np.fromiter((codes[f.kind] for f in fs), np.int64, count)
        self.hours = [f.opening_hours for f in fs]
        self.props = [e.props for e in live]


_EMPTY_OVERLAY: Final = _Overlay([])

_T = TypeVar("_T")


class BaseColumns(NamedTuple):
    """Read-only columns of an index's base, for modules that derive data from it.

    Attributes
    ----------
    token : object
        The base itself, opaque: equal tokens mean the same rows (use it as a cache key).
    lon, lat : ndarray of float64, shape (n,)
        WGS-84 degrees, rows in id order (row ``r`` is handle ``r``).
    kind : ndarray of uint8, shape (n,)
        Codes into ``kinds``.
    kinds : list of str
    status : ndarray of int64, shape (n,)
        One bit per status (test with :func:`status_mask`).
    """

    token: object
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    kind: NDArray[np.uint8]
    kinds: list[str]
    status: NDArray[np.int64]


class OverlayColumns(NamedTuple):
    """The overlay's live facilities as columns (changed or added since the base).

    Attributes
    ----------
    handles : ndarray of int64, shape (m,)
        Their handles in the index they came from.
    lon, lat : ndarray of float64, shape (m,)
        WGS-84 degrees.
    kind : ndarray of int64, shape (m,)
        Codes into ``kinds`` (the overlay's own table, not the base's).
    kinds : list of str
    status : ndarray of int64, shape (m,)
        Status bits (see :func:`status_mask`).
    """

    handles: NDArray[np.int64]
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    kind: NDArray[np.int64]
    kinds: list[str]
    status: NDArray[np.int64]


class FacilityIndex:
    """An immutable snapshot of every facility, for kNN and bbox queries.

    Parameters
    ----------
    facilities : iterable of Facility
        WGS-84 locations. Every status is indexed; queries filter by status. Of two
        facilities with one id, the later is kept.
    revision : int
        The store revision this snapshot reflects.

    Notes
    -----
    *Handles.* :meth:`nearest_rows`, :meth:`handle` and :meth:`handles` return integer
    handles, valid for this index object only: ``0 <= h < base_size`` names a base
    row, larger values an overlay facility. Use them with :meth:`facility`,
    :meth:`properties_json`, :meth:`lonlat`, :meth:`facility_id`, :meth:`status_of`
    and :meth:`opening_hours_of`.

    Examples
    --------
    >>> from locator.core.domain import Facility
    >>> idx = FacilityIndex([Facility("a", "warm_station", "A", 116.30, 39.99),
    ...                      Facility("b", "warm_station", "B", 116.34, 39.99)])
    >>> [(h.facility.id, round(h.distance_m)) for h in idx.nearest(NearestQuery(116.33, 39.99, k=2))]
    [('b', 854), ('a', 2562)]
    >>> moved = idx.apply([idx.get("a").replace(lon=116.331)], [], revision=1)
    >>> [h.facility.id for h in moved.nearest(NearestQuery(116.33, 39.99, k=2))], moved.overlay_size
    (['a', 'b'], 1)
    >>> [h.facility.id for h in moved.fold().nearest(NearestQuery(116.33, 39.99, k=2))]
    ['a', 'b']
    """

    def __init__(self, facilities: Iterable[Facility] = (), revision: int = 0) -> None:
        builder = BaseBuilder()
        builder.add(facilities)
        self._setup(builder.finish(revision), {}, {}, revision, 0)

    @classmethod
    def from_base(cls, base: _Base, revision: int | None = None) -> FacilityIndex:
        """An index over ``base`` with no overlay (at the base's revision unless given)."""
        idx = cls.__new__(cls)
        idx._setup(base, {}, {}, base.revision if revision is None else revision, 0)
        return idx

    def _setup(
        self, base: _Base, entries: dict[str, _Entry], pins: dict[str, int], revision: int, seq: int
    ) -> None:
        self.revision = revision
        self._base = base
        self._entries = entries
        self._pins = pins
        self._seq = seq
        self._cache: dict[object, Any] = {}
        ids = sorted(entries)
        live = [entries[fid] for fid in ids if entries[fid].facility is not None]
        self._ov = _Overlay(live) if live else _EMPTY_OVERLAY
        rows = base.find_many(ids)
        rows = np.sort(rows[rows >= 0])
        self._masked_rows = rows
        self._masked: NDArray[np.bool_] | None = None
        self._masked_parts: dict[int, tuple[NDArray[np.int64], NDArray[np.bool_]]] = {}
        if len(rows):
            masked = np.zeros(base.n, dtype=bool)
            masked[rows] = True
            self._masked = masked
            for code in np.unique(base.kind[rows]).tolist():
                part = base.parts[code]
                pos = np.searchsorted(part.rows, rows[base.kind[rows] == code])
                flags = np.zeros(part.n, dtype=bool)
                flags[pos] = True
                self._masked_parts[code] = (pos, flags)
        self._len = base.n - len(rows) + len(live)

    # -- size and lookups ------------------------------------------------------------

    def __len__(self) -> int:
        return self._len

    def __contains__(self, facility_id: object) -> bool:
        return isinstance(facility_id, str) and self.handle(facility_id) is not None

    @property
    def overlay_size(self) -> int:
        """Facilities changed or deleted since the base (what :meth:`fold` would merge)."""
        return len(self._entries)

    @property
    def base_size(self) -> int:
        """Rows in the base (present or masked); handles below it are base rows."""
        return self._base.n

    @property
    def base_revision(self) -> int:
        """The revision of the base (the last fold or snapshot)."""
        return self._base.revision

    @property
    def pins(self) -> dict[str, int]:
        """Pinned facility ids and the revision each stays pinned until (see :meth:`patch`)."""
        return dict(self._pins)

    # -- for modules that derive data from the index (e.g. the city map's clusters) --------

    def base_columns(self) -> BaseColumns:
        """The base's columns (every row, masked ones included: see :attr:`masked_rows`)."""
        base = self._base
        return BaseColumns(base, base.lon, base.lat, base.kind, base.kinds, base.status)

    @property
    def masked_rows(self) -> NDArray[np.int64]:
        """Base rows (ascending) that the overlay replaces or deletes: not part of this index."""
        return self._masked_rows

    def overlay_columns(self) -> OverlayColumns:
        """The overlay's live facilities (their states since the base), as columns."""
        ov = self._ov
        count = len(ov.ids)
        return OverlayColumns(
            np.arange(self._base.n, self._base.n + count, dtype=np.int64),
            ov.lon,
            ov.lat,
            ov.kind,
            list(ov.kinds),
            ov.status,
        )

    def base_rows_in_box(
        self, min_lon: float, min_lat: float, max_lon: float, max_lat: float
    ) -> NDArray[np.int64]:
        """Base rows (handles) inside a WGS-84 rectangle, edges inclusive, without the masked ones.

        Array operations only (a binary search on latitude, a longitude mask); the
        overlay's own facilities are not included (see :meth:`overlay_columns`).
        """
        rows = self._base.rows_in_box(min_lon, min_lat, max_lon, max_lat)
        if self._masked is not None and len(rows):
            rows = rows[~self._masked[rows]]
        return rows

    def base_derived(self, name: str, build: Callable[[BaseColumns], _T]) -> _T:
        """``build(self.base_columns())``, computed once per base and kept with it.

        Every index sharing this base (its overlays, :meth:`rebased` copies) gets the
        same object; a fold starts a new base, hence a new one. Thread-safe: one caller
        builds, the others wait for it. ``build`` must derive from the base alone (the
        overlay is the caller's to apply).
        """
        base = self._base
        hit = base.derived.get(name)
        if hit is not None:
            return hit
        with base.derived_lock:
            hit = base.derived.get(name)
            if hit is None:
                hit = base.derived[name] = build(self.base_columns())
        return hit

    def handle(self, facility_id: str) -> int | None:
        """The handle of ``facility_id`` in this index, or None."""
        e = self._entries.get(facility_id)
        if e is not None:
            if e.facility is None:
                return None
            return self._base.n + bisect.bisect_left(self._ov.ids, facility_id)
        row = self._base.find(facility_id)
        return None if row < 0 else row

    def get(self, facility_id: str) -> Facility | None:
        """Return the indexed facility with this id, or None."""
        e = self._entries.get(facility_id)
        if e is not None:
            return e.facility
        row = self._base.find(facility_id)
        return None if row < 0 else self._base.facility(row)

    def facility(self, handle: int) -> Facility:
        """The facility of a handle (materialised on demand for base rows)."""
        n = self._base.n
        if handle >= n:
            f = self._ov.entries[handle - n].facility
            assert f is not None
            return f
        return self._base.facility(handle)

    def properties_json(self, handle: int) -> bytes:
        """The facility's GeoJSON ``properties`` as compact UTF-8 JSON bytes.

        Exactly :func:`locator.core.records.encode_properties` of :meth:`facility`
        (keys in :func:`locator.core.records.facility_properties` order), encoded once
        when the facility entered the index: a response writer can splice it into a
        Feature without decoding (see :mod:`locator.core.records`).
        """
        n = self._base.n
        if handle >= n:
            props = self._ov.props[handle - n]
            assert props is not None
            return props
        return self._base.props(handle)

    def lonlat(self, handle: int) -> tuple[float, float]:
        """The facility's ``(lon, lat)``, WGS-84 degrees."""
        n = self._base.n
        if handle >= n:
            i = handle - n
            return float(self._ov.lon[i]), float(self._ov.lat[i])
        return float(self._base.lon[handle]), float(self._base.lat[handle])

    def facility_id(self, handle: int) -> str:
        """The facility's id."""
        n = self._base.n
        return self._ov.ids[handle - n] if handle >= n else self._base.id_at(handle)

    def status_of(self, handle: int) -> str:
        """The facility's status."""
        n = self._base.n
        if handle >= n:
            return _STATUS_OF_BIT[int(self._ov.status[handle - n])]
        return self._base.status_name(handle)

    def opening_hours_of(self, handle: int) -> str:
        """The facility's ``opening_hours`` value (``""``: unknown)."""
        n = self._base.n
        if handle >= n:
            return self._ov.hours[handle - n]
        return self._base.hours_table[int(self._base.hours[handle])]

    def handles(
        self,
        *,
        kinds: Collection[str] | None = None,
        statuses: Collection[str] | None = None,
        district_adcodes: Collection[str] | None = None,
        amenities: Collection[str] | None = None,
    ) -> list[int]:
        """Handles of the facilities passing the filters (None: any), in id order.

        Column filters only: nothing is materialised. ``district_adcodes`` matches
        ``district_adcode`` (a facility without one never matches a set); ``amenities``
        must all be present (an unknown amenity key matches nothing).
        """
        if amenities and not set(amenities) <= _AMENITY_BIT.keys():
            return []
        base = self._base
        ok = np.ones(base.n, dtype=bool)
        if self._masked is not None:
            ok &= ~self._masked
        if amenities:
            req = amenity_mask(amenities)
            ok &= (base.amen & req) == req
        if kinds is not None:
            codes = [base.kind_codes[k] for k in kinds if k in base.kind_codes]
            ok &= np.isin(base.kind, np.array(codes, dtype=np.uint8))
        if statuses is not None:
            ok &= (base.status & _status_mask(statuses)) != 0
        if district_adcodes is not None:
            dcodes = [c for c, d in enumerate(base.district_table) if d in district_adcodes]
            ok &= np.isin(base.district, np.array(dcodes, dtype=np.int32))
        rows = np.flatnonzero(ok).tolist()
        extra = []
        n = base.n
        for i, e in enumerate(self._ov.entries):
            f = e.facility
            assert f is not None
            if kinds is not None and f.kind not in kinds:
                continue
            if statuses is not None and f.status not in statuses:
                continue
            if district_adcodes is not None and f.district_adcode not in district_adcodes:
                continue
            if amenities and not set(amenities) <= f.amenities:
                continue
            extra.append((f.id, n + i))
        return self._merge_by_id(rows, extra)

    def _merge_by_id(self, rows: list[int], extra: list[tuple[str, int]]) -> list[int]:
        """Base rows (ascending) and ``(id, handle)`` overlay pairs (id order), merged in id order."""
        if not extra:
            return rows
        base = self._base
        width = max(base.ids.dtype.itemsize, max(len(fid.encode()) for fid, _ in extra))
        keys = np.array([fid.encode() for fid, _ in extra], dtype=f"S{width}")
        row_ids = (
            base.ids[np.asarray(rows, dtype=np.int64)].astype(f"S{width}")
            if rows
            else np.empty(0, f"S{width}")
        )
        at = np.searchsorted(row_ids, keys).tolist()
        out: list[int] = []
        prev = 0
        for pos, (_, h) in zip(at, extra, strict=True):
            out.extend(rows[prev:pos])
            out.append(h)
            prev = pos
        out.extend(rows[prev:])
        return out

    def facilities(self) -> list[Facility]:
        """Every indexed facility, in id order (each materialised: costly for a large index)."""
        base = self._base
        return [self.facility(h) if h >= base.n else base.facility(h, cache=False) for h in self.handles()]

    # -- updates ----------------------------------------------------------------------

    def _with(
        self,
        changed: Iterable[Facility],
        deleted_ids: Iterable[str],
        revision: int,
        pins: dict[str, int],
        pin_until: int | None,
    ) -> FacilityIndex:
        entries = dict(self._entries)
        seq = self._seq
        base = self._base
        for fid in deleted_ids:
            if pin_until is None and pins.get(fid, -1) > revision:
                continue
            seq += 1
            if fid in entries or base.find(fid) >= 0:
                entries[fid] = _Entry(None, None, seq)
            if pin_until is not None:
                pins[fid] = max(pins.get(fid, pin_until), pin_until)
        for f in changed:
            if pin_until is None and pins.get(f.id, -1) > revision:
                continue  # this worker wrote a newer state, not yet in the change feed
            seq += 1
            entries[f.id] = _Entry(f, encode_properties(f), seq)
            if pin_until is not None:
                pins[f.id] = max(pins.get(f.id, pin_until), pin_until)
        new = FacilityIndex.__new__(FacilityIndex)
        new._setup(base, entries, pins, revision, seq)
        return new

    def apply(
        self, changed: Collection[Facility], deleted_ids: Collection[str], revision: int
    ) -> FacilityIndex:
        """Return a new index with ``changed`` upserted and ``deleted_ids`` removed, at ``revision``.

        The change goes into the overlay (O(overlay) work); this index is left
        unchanged. A pinned facility (:meth:`patch`) whose pin reaches past
        ``revision`` keeps its pinned state; pins up to ``revision`` are dropped,
        since a change set read at ``revision`` holds that write or a later one.
        """
        pins = {fid: until for fid, until in self._pins.items() if until > revision}
        skip = {fid for fid in self._pins if fid in pins}
        new = self._with(
            (f for f in changed if f.id not in skip),
            (fid for fid in deleted_ids if fid not in skip),
            revision,
            pins,
            None,
        )
        return new

    def patch(
        self, changed: Iterable[Facility], deleted_ids: Iterable[str], until_revision: int
    ) -> FacilityIndex:
        """Show this worker's own committed write at once, pinned until ``until_revision``.

        Parameters
        ----------
        changed : iterable of Facility
            Facilities as the store returned them after the write.
        deleted_ids : iterable of str
        until_revision : int
            A store revision at or after the write's (e.g. read right after it): until
            :meth:`apply` reaches it, change sets cannot replace these facilities with
            an older state. The index's own revision is unchanged.
        """
        return self._with(changed, deleted_ids, self.revision, dict(self._pins), until_revision)

    def fold(self) -> FacilityIndex:
        """The same facilities with the overlay merged into a new base (no overlay).

        Costs O(n) in array copies plus rebuilding the kd-trees of the kinds that
        changed; meant for a background thread. Pins are kept.
        """
        if not self._entries:
            return self
        base = self._base.merged(self._masked, self._ov.entries, self.revision)
        new = FacilityIndex.__new__(FacilityIndex)
        new._setup(base, {}, dict(self._pins), self.revision, self._seq)
        return new

    def rebased(self, onto: FacilityIndex, since: FacilityIndex) -> FacilityIndex:
        """``onto`` (a fold of ``since``, an earlier state of this index) plus what came after ``since``.

        Everything this index got after ``since`` (changes and patches) is re-applied
        onto ``onto``'s base; the result has this index's revision and pins.
        """
        newer = {fid: e for fid, e in self._entries.items() if e.seq > since._seq}
        entries = dict(onto._entries)
        entries.update(newer)
        new = FacilityIndex.__new__(FacilityIndex)
        new._setup(onto._base, entries, dict(self._pins), self.revision, max(self._seq, onto._seq))
        return new

    def with_base(self, base_index: FacilityIndex) -> FacilityIndex:
        """``base_index`` with this index's pinned facilities patched on (same pin revisions)."""
        out = base_index
        for fid, until in self._pins.items():
            if until <= out.revision:
                continue
            f = self.get(fid)
            out = out.patch([] if f is None else [f], [fid] if f is None else [], until)
        return out

    # -- queries ----------------------------------------------------------------------

    def nearest(self, q: NearestQuery) -> list[NearestHit]:
        """Return the ``q.k`` nearest facilities that pass the query's filters.

        Parameters
        ----------
        q : NearestQuery
            Query point in WGS-84 degrees and filters.

        Returns
        -------
        list of NearestHit
            At most ``q.k`` hits in ascending geodesic distance (metres, WGS-84
            ellipsoid via :class:`pyproj.Geod`), ties broken by ascending id, ranks
            from 1.
        """
        return [
            NearestHit(facility=self.facility(h), distance_m=d, bearing_deg=b, rank=r)
            for r, (h, d, b) in enumerate(self.nearest_rows(q), start=1)
        ]

    def nearest_rows(self, q: NearestQuery) -> list[tuple[int, float, float]]:
        """:meth:`nearest` as ``(handle, distance_m, bearing_deg)`` triples, nothing materialised.

        Same order and values as :meth:`nearest` (rank = position + 1); see the class
        notes for handles.
        """
        if q.k < 1:
            return []
        lon_r, lat_r = math.radians(q.lon), math.radians(q.lat)
        cos_lat = math.cos(lat_r)
        qxyz = (cos_lat * math.cos(lon_r), cos_lat * math.sin(lon_r), math.sin(lat_r))
        req_mask = amenity_mask(q.amenities) if q.amenities else 0
        status_mask = _status_mask(q.statuses)
        open_memo: dict[str, bool] = {}  # opening_hours value -> open at q.open_at
        base = self._base
        if q.kinds is None:
            parts = list(base.parts.values())
        else:
            parts = [
                base.parts[c]
                for k in q.kinds
                if (c := base.kind_codes.get(k)) is not None and c in base.parts
            ]
        sources: list[list[tuple[float, str, int, float]]] = []
        for part in parts:
            found = part.nearest(q, qxyz, req_mask, status_mask, open_memo, self._masked_parts.get(part.code))
            if found:
                rows = part.rows
                sources.append([(d, "", int(rows[i]), b) for d, i, b in found])
        if self._ov.entries:
            found_ov = self._overlay_nearest(q, qxyz, req_mask, status_mask, open_memo)
            if found_ov:
                sources.append(found_ov)
        if not sources:
            return []
        if len(sources) == 1:
            hits = sources[0]
        else:
            hits = [(d, fid or base.id_at(h), h, b) for src in sources for d, fid, h, b in src]
            hits.sort(key=lambda h: (h[0], h[1]))
            del hits[q.k :]
        return [(h, d, b) for d, _, h, b in hits]

    def _overlay_nearest(
        self,
        q: NearestQuery,
        qxyz: tuple[float, float, float],
        req_mask: int,
        status_mask: int,
        open_memo: dict[str, bool],
    ) -> list[tuple[float, str, int, float]]:
        """Exact k best ``(distance_m, id, handle, bearing_deg)`` among the overlay's facilities.

        With more than ``_OVERLAY_SCAN`` passing, only those within central angle
        ``theta`` get a geodesic distance, where ``theta`` is a little over the k-th
        smallest angle ``t_k`` and ``hi * t_k + slack < lo * theta - slack`` (factors
        of :func:`_radius_factors` at ``theta``): a facility farther than ``theta`` has
        ``s >= lo * theta``, more than the k-th nearest's ``s <= hi * t_k``.
        """
        ov = self._ov
        ok = (ov.status & status_mask) != 0
        if req_mask:
            ok &= (ov.amen & req_mask) == req_mask
        if q.kinds is not None:
            codes = [c for c, name in enumerate(ov.kinds) if name in q.kinds]
            ok &= np.isin(ov.kind, np.array(codes, dtype=np.int64))
        idx = np.flatnonzero(ok)
        if q.open_at is not None and len(idx):
            at = q.open_at
            idx = idx[np.asarray([_open(ov.hours[i], at, open_memo) for i in idx.tolist()], dtype=bool)]
        k = q.k
        if len(idx) > max(_OVERLAY_SCAN, k):
            chord = np.linalg.norm(ov.xyz[idx] - np.asarray(qxyz), axis=1)
            t_k = angle_for_chord(float(np.partition(chord, k - 1)[k - 1]))
            theta = 1.02 * t_k + 1e-9
            lo, hi = _radius_factors(abs(math.radians(q.lat)), theta)
            if hi * t_k + _ABS_SLACK_M < lo * theta - _ABS_SLACK_M:
                idx = idx[chord <= chord_for_angle(theta) * (1 + 1e-12)]
        if not len(idx):
            return []
        az, dist = _geodesics(q.lon, q.lat, ov.lon[idx], ov.lat[idx])
        n = self._base.n
        ranked = sorted(
            (d, ov.ids[i], n + i, b % 360.0)
            for d, i, b in zip(dist.tolist(), idx.tolist(), az.tolist(), strict=True)
            if q.radius_m is None or d <= q.radius_m
        )
        return ranked[:k]

    def bbox(
        self,
        min_lon: float,
        min_lat: float,
        max_lon: float,
        max_lat: float,
        *,
        kinds: Collection[str] | None = None,
        statuses: Collection[str] | None = None,
    ) -> list[Facility]:
        """Facilities inside a lon/lat rectangle (WGS-84 degrees, edges inclusive).

        Returns
        -------
        list of Facility
            In id order. ``kinds``/``statuses`` of None accept all. A rectangle that
            crosses the antimeridian is not supported (min_lon must be <= max_lon).
        """
        return [
            self.facility(h)
            for h in self.bbox_handles(min_lon, min_lat, max_lon, max_lat, kinds=kinds, statuses=statuses)
        ]

    def bbox_handles(
        self,
        min_lon: float,
        min_lat: float,
        max_lon: float,
        max_lat: float,
        *,
        kinds: Collection[str] | None = None,
        statuses: Collection[str] | None = None,
        amenities: Collection[str] | None = None,
    ) -> list[int]:
        """:meth:`bbox` as handles (id order), nothing materialised (filters as :meth:`handles`)."""
        if amenities and not set(amenities) <= _AMENITY_BIT.keys():
            return []
        base = self._base
        rows = base.rows_in_box(min_lon, min_lat, max_lon, max_lat)
        if self._masked is not None and len(rows):
            rows = rows[~self._masked[rows]]
        if amenities and len(rows):
            req = amenity_mask(amenities)
            rows = rows[(base.amen[rows] & req) == req]
        if kinds is not None and len(rows):
            codes = [base.kind_codes[k] for k in kinds if k in base.kind_codes]
            rows = rows[np.isin(base.kind[rows], np.array(codes, dtype=np.uint8))]
        if statuses is not None and len(rows):
            rows = rows[(base.status[rows] & _status_mask(statuses)) != 0]
        extra = []
        ov = self._ov
        n = base.n
        for i, e in enumerate(ov.entries):
            f = e.facility
            assert f is not None
            if not (min_lon <= f.lon <= max_lon and min_lat <= f.lat <= max_lat):
                continue
            if (kinds is not None and f.kind not in kinds) or (
                statuses is not None and f.status not in statuses
            ):
                continue
            if amenities and not set(amenities) <= f.amenities:
                continue
            extra.append((f.id, n + i))
        return self._merge_by_id(rows.tolist(), extra)

    # -- orders and aggregates ----------------------------------------------------------

    def updated_order(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Every facility by ``(updated_at, id)``: microsecond keys and handles (cached).

        Keys are :func:`updated_microseconds` (UTC; 0 for a facility without
        ``updated_at``). Ties are in id order.
        """
        hit = self._cache.get("updated_order")
        if hit is None:
            base = self._base
            order = base.upd_order  # stable by (updated, row): rows are in id order
            if self._masked is not None:
                order = order[~self._masked[order]]
            keys = base.updated[order]
            ov = self._ov
            if ov.entries:
                n = base.n
                fs = [e.facility for e in ov.entries if e.facility is not None]
                okeys = np.fromiter((updated_microseconds(f.updated_at) for f in fs), np.int64, len(fs))
                all_keys = np.concatenate([keys, okeys])
                all_handles = np.concatenate([order, np.arange(n, n + len(fs), dtype=np.int64)])
                rank = np.empty(n + len(fs), dtype=np.int64)
                by_id = np.asarray(self.handles(), dtype=np.int64)
                rank[by_id] = np.arange(len(by_id), dtype=np.int64)
                sort = np.lexsort((rank[all_handles], all_keys))
                keys, order = all_keys[sort], all_handles[sort]
            hit = (keys, order)
            self._cache["updated_order"] = hit
        return hit  # type: ignore[no-any-return,unused-ignore]

    def extent(self, kind: str | None = None) -> tuple[float, float, float, float] | None:
        """``(min_lon, min_lat, max_lon, max_lat)`` of the facilities (of one kind), or None.

        WGS-84 degrees, every status included; cached per index.
        """
        key = ("extent", kind)
        if key in self._cache:
            return self._cache[key]  # type: ignore[no-any-return,unused-ignore]
        base = self._base
        sel: NDArray[np.bool_] = np.ones(base.n, dtype=bool)
        if self._masked is not None:
            sel &= ~self._masked
        if kind is not None:
            code = base.kind_codes.get(kind)
            if code is None:
                sel[:] = False
            else:
                sel &= base.kind == code
        lons = [base.lon[sel]]
        lats = [base.lat[sel]]
        ov = self._ov
        if ov.entries:
            pick = [
                i
                for i, e in enumerate(ov.entries)
                if kind is None or (e.facility and e.facility.kind == kind)
            ]
            lons.append(ov.lon[pick])
            lats.append(ov.lat[pick])
        lon = np.concatenate(lons)
        lat = np.concatenate(lats)
        out = (
            None if not len(lon) else (float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max()))
        )
        self._cache[key] = out
        return out
