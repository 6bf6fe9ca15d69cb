"""Clusters for the city map: a grid pyramid over Web-Mercator tiles, independent of N.

Why this design
---------------
``/map`` used to embed every facility in the page (25,470 facilities: 752 KB gzip and
491 ms of server time; 1M: 90 MB). Now the page is a shell and the browser asks for the
viewport it shows: at each zoom the facilities are counted in a fixed grid of
``CELL_PX`` x ``CELL_PX`` pixel cells of the Web-Mercator tile pyramid (EPSG:3857, the
grid of the map's own tiles: 256-px tiles, ``2**zoom`` of them across the world), per
kind. A cell holding two or more facilities is a *cluster* drawn at the mean position of
its facilities with their count; a cell holding one is that *facility* (id, kind,
position). Above :data:`MAX_CLUSTER_ZOOM` every facility is sent on its own. An answer
therefore has at most ``cells in view x kinds`` items whatever the number of facilities,
and a viewport costs a few binary searches.

* **The pyramid** (:class:`Pyramid`, built once per index base with
  :meth:`locator.core.index.FacilityIndex.base_derived`) holds, for each zoom from
  :data:`MIN_ZOOM` to :data:`PYRAMID_MAX_ZOOM` and each non-empty cell, the count, the
  mean longitude and latitude (WGS-84) and one member row, sorted by
  ``(kind, cell row, cell column)``, so that the cells of one row of a viewport are a
  contiguous run found by binary search. The finest level is counted from the
  facilities (``numpy.unique`` and ``bincount``), each coarser one from the level below
  (a cell is the sum of its four children), so building it is a few sorts of at most N
  keys (measured with ``bench/map.py``). The zooms above it, up to
  :data:`MAX_CLUSTER_ZOOM`, are counted the same way from the facilities in view (a
  latitude-band search of the index), so that the pyramid need not hold about one cell
  per facility.
* **Only the facilities the map shows**: every status except ``removed``
  (:data:`VISIBLE_STATUSES`), as the old map did.
* **Edits** never rebuild it: an index is a base plus an overlay of the facilities
  changed since (:mod:`locator.core.index`). A viewport answer takes the base's cells,
  removes the overlay's masked base rows from their cells and adds the overlay's
  facilities to theirs (O(overlay), at most a few thousand), so it is exactly the
  answer over the current facilities. A fold makes a new base, whose pyramid the index
  keeper builds in the background before publishing it.
* **Coordinates.** The grid is in WGS-84 Web Mercator; positions are returned in WGS-84
  degrees (the caller shifts them to the tiles' datum for display). Latitudes beyond
  Web Mercator's +-85.0511 degrees are clamped into its first or last row.

Grid clustering is the simplest hierarchy with exact counts (``supercluster``'s greedy
radius clustering gives rounder clusters, but its cells depend on insertion order and an
edit can move many of them); two clusters in neighbouring cells can be drawn close to
each other, which a cluster icon smaller than a cell (48 px in 64) keeps legible.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from locator.core.index import BaseColumns, FacilityIndex, status_mask

#: ``log2`` of the cells per tile side: 4 x 4 cells of 64 px in a 256-px tile.
CELL_SHIFT: Final = 2
#: Cell side, pixels (of a 256-px tile).
CELL_PX: Final = 256 >> CELL_SHIFT
#: Lowest zoom answered (the map's own lowest zoom).
MIN_ZOOM: Final = 3
#: Highest zoom answered with clusters; above it every facility is sent on its own. 17, not
#: 16: at zoom 17 a desktop view of the 1M bench store held 10,732 facilities (103 KB gzip,
#: 39 ms); clustered, at most ``cells x kinds`` (``bench/map.py``). Every tile provider
#: goes to zoom 18 at least, so a zoom-17 cluster can always be tapped open.
MAX_CLUSTER_ZOOM: Final = 17
#: Highest zoom kept in the pyramid. Zooms above it up to :data:`MAX_CLUSTER_ZOOM` are
#: counted from the facilities in view (a few thousand at most at these zooms), which
#: costs no memory per worker: a stored zoom-17 level would hold about one cell per
#: facility at a national size (~28 MB per worker at 1M).
PYRAMID_MAX_ZOOM: Final = 16
#: Highest zoom answered (the highest tile zoom of any provider).
MAX_ZOOM: Final = 19
#: Most cells (of the requested zoom) one answer may cover: a 4,096 x 4,096 px view.
MAX_CELLS: Final = 64 * 64
#: The statuses the city map shows.
VISIBLE_STATUSES: Final = frozenset({"open", "temporarily_closed"})
#: Web Mercator's latitude limit (degrees): the square world.
MAX_LAT: Final = 85.0511287798066
#: Name of the pyramid among a base's derived data.
DERIVED_NAME: Final = "city-map-pyramid"

_FINE: Final = PYRAMID_MAX_ZOOM + CELL_SHIFT  # bits per axis of the finest cells


def mercator_xy(
    lon: NDArray[np.float64] | float, lat: NDArray[np.float64] | float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """WGS-84 degrees to normalised Web-Mercator ``(x, y)`` in [0, 1] (y grows southwards).

    Parameters
    ----------
    lon, lat : float or ndarray, shape (n,)
        Degrees; latitudes are clamped to +-:data:`MAX_LAT`.

    Returns
    -------
    x, y : ndarray of float64
        ``x = (lon + 180) / 360``, ``y = 1/2 - ln(tan(pi/4 + lat/2)) / (2 pi)`` (the
        spherical Web Mercator of EPSG:3857 tiles, scaled to the unit square).
    """
    lon_a = np.asarray(lon, dtype=np.float64)
    lat_a = np.clip(np.asarray(lat, dtype=np.float64), -MAX_LAT, MAX_LAT)
    x = (lon_a + 180.0) / 360.0
    y = 0.5 - np.log(np.tan(np.pi / 4 + np.radians(lat_a) / 2)) / (2 * np.pi)
    return x, y


def cell_of(
    lon: NDArray[np.float64] | float, lat: NDArray[np.float64] | float, zoom: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Column and row of the ``CELL_PX`` cell holding each point at ``zoom``.

    Columns grow eastwards from -180 degrees, rows southwards from +:data:`MAX_LAT`;
    a cell holds its west and north edges. ``2 ** (zoom + CELL_SHIFT)`` cells per axis.
    """
    level = zoom + CELL_SHIFT
    side = 1 << level
    x, y = mercator_xy(lon, lat)
    ix = np.clip(np.floor(x * side), 0, side - 1).astype(np.int64)
    iy = np.clip(np.floor(y * side), 0, side - 1).astype(np.int64)
    return ix, iy


def cell_bounds(ix0: int, iy0: int, ix1: int, iy1: int, zoom: int) -> tuple[float, float, float, float]:
    """``(west, south, east, north)`` in WGS-84 degrees of the cells ``ix0..ix1`` x ``iy0..iy1``."""
    side = 1 << (zoom + CELL_SHIFT)

    def lat_of(row: int) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / side))))

    return (ix0 / side * 360.0 - 180.0, lat_of(iy1 + 1), (ix1 + 1) / side * 360.0 - 180.0, lat_of(iy0))


@dataclass(frozen=True, slots=True)
class Level:
    """The non-empty cells of one zoom, sorted by ``key = kind << 2L | row << L | column``.

    ``L`` is ``zoom + CELL_SHIFT``. ``lon``/``lat`` are the mean WGS-84 position of the
    cell's facilities (float32: ~1 m); ``first`` is the base row of one of them.
    """

    keys: NDArray[np.int64]
    count: NDArray[np.int32]
    lon: NDArray[np.float32]
    lat: NDArray[np.float32]
    first: NDArray[np.int64]

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays, bytes."""
        return sum(a.nbytes for a in (self.keys, self.count, self.lon, self.lat, self.first))


def _key(
    kind: NDArray[np.int64], iy: NDArray[np.int64], ix: NDArray[np.int64], level: int
) -> NDArray[np.int64]:
    return (kind << (2 * level)) | (iy << level) | ix


@dataclass(frozen=True, slots=True)
class Pyramid:
    """Cell counts per zoom (:data:`MIN_ZOOM` .. :data:`PYRAMID_MAX_ZOOM`) of one index base.

    Built by :func:`build_pyramid`; see the module docstring. ``kinds`` is the base's
    kind table (the codes in the keys).
    """

    kinds: tuple[str, ...]
    levels: dict[int, Level]
    size: int

    @property
    def nbytes(self) -> int:
        """Memory held by all levels, bytes."""
        return sum(lv.nbytes for lv in self.levels.values())

    def window(
        self, zoom: int, cells: tuple[int, int, int, int], codes: Sequence[int]
    ) -> tuple[
        NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]
    ]:
        """The non-empty cells of ``zoom`` in a rectangle, for the kind codes given.

        Parameters
        ----------
        zoom : int
            :data:`MIN_ZOOM` .. :data:`PYRAMID_MAX_ZOOM`.
        cells : (ix0, iy0, ix1, iy1)
            Inclusive cell rectangle (see :func:`covering_cells`).
        codes : sequence of int
            Kind codes (positions in :attr:`kinds`).

        Returns
        -------
        keys, count, lon, lat, first : ndarray, shape (m,)
            Sorted keys, counts, mean WGS-84 position (degrees) and one member row of
            each cell: one binary search per (kind, row of cells), so the cost grows with
            the rectangle, not with the number of facilities.
        """
        lv = self.levels[zoom]
        ix0, iy0, ix1, iy1 = cells
        level_bits = zoom + CELL_SHIFT
        if not codes or not len(lv.keys):
            empty_i = np.empty(0, dtype=np.int64)
            return empty_i, empty_i, np.empty(0), np.empty(0), empty_i
        rows_y = np.arange(iy0, iy1 + 1, dtype=np.int64)
        kc = np.repeat(np.asarray(codes, dtype=np.int64), len(rows_y))
        ry = np.tile(rows_y, len(codes))
        lo = np.searchsorted(lv.keys, _key(kc, ry, np.full_like(ry, ix0), level_bits), "left")
        hi = np.searchsorted(lv.keys, _key(kc, ry, np.full_like(ry, ix1), level_bits), "right")
        lengths = hi - lo
        total = int(lengths.sum())
        starts = np.repeat(lo - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
        sel = starts + np.arange(total, dtype=np.int64)
        return (
            lv.keys[sel],
            lv.count[sel].astype(np.int64),
            lv.lon[sel].astype(np.float64),
            lv.lat[sel].astype(np.float64),
            lv.first[sel],
        )


def build_pyramid(cols: BaseColumns, statuses: Collection[str] = VISIBLE_STATUSES) -> Pyramid:
    """Count the base rows with one of ``statuses`` in every cell of every zoom.

    Parameters
    ----------
    cols : BaseColumns
        The base (:meth:`FacilityIndex.base_columns`): WGS-84 degrees, kind codes, status bits.
    statuses : collection of str
        The statuses counted (default: what the city map shows).

    Returns
    -------
    Pyramid
        ``size`` is the number of rows counted.
    """
    rows = np.flatnonzero((cols.status & status_mask(statuses)) != 0).astype(np.int64)
    lon = cols.lon[rows]
    lat = cols.lat[rows]
    kind = cols.kind[rows].astype(np.int64)
    ix, iy = cell_of(lon, lat, PYRAMID_MAX_ZOOM)
    levels: dict[int, Level] = {}
    # The finest level from the facilities, each coarser level from the one below.
    keys = _key(kind, iy, ix, _FINE)
    count = np.ones(len(rows), dtype=np.int64)
    slon, slat, first = lon, lat, rows
    for zoom in range(PYRAMID_MAX_ZOOM, MIN_ZOOM - 1, -1):
        level = zoom + CELL_SHIFT
        uniq, at, inv = np.unique(keys, return_index=True, return_inverse=True)
        inv = inv.reshape(-1)
        n = len(uniq)
        count = np.bincount(inv, weights=count, minlength=n).astype(np.int64)
        slon = np.bincount(inv, weights=slon, minlength=n).astype(np.float64)
        slat = np.bincount(inv, weights=slat, minlength=n).astype(np.float64)
        first = first[at]
        safe = np.maximum(count, 1)
        levels[zoom] = Level(
            keys=uniq.astype(np.int64),
            count=count.astype(np.int32),
            lon=(slon / safe).astype(np.float32),
            lat=(slat / safe).astype(np.float32),
            first=first.astype(np.int64),
        )
        # Parents: one level up, column and row halved.
        k = uniq >> (2 * level)
        cy = (uniq >> level) & ((1 << level) - 1)
        cx = uniq & ((1 << level) - 1)
        keys = _key(k, cy >> 1, cx >> 1, level - 1)
    return Pyramid(kinds=tuple(cols.kinds), levels=levels, size=len(rows))


@dataclass(frozen=True, slots=True)
class Cluster:
    """Two or more facilities of one kind in one cell: mean WGS-84 position and count."""

    lon: float
    lat: float
    count: int
    kind: str


@dataclass(frozen=True, slots=True)
class Member:
    """One facility on its own: its handle in the index, WGS-84 position and kind."""

    handle: int
    lon: float
    lat: float
    kind: str


@dataclass(frozen=True, slots=True)
class Viewport:
    """What the map shows of a bbox at one zoom, as arrays.

    Attributes
    ----------
    zoom : int
    cells : (int, int, int, int)
        ``(ix0, iy0, ix1, iy1)``: the cells covered (of ``zoom``, see :func:`cell_of`).
    covered : (float, float, float, float)
        ``(west, south, east, north)``, WGS-84 degrees: the requested bbox grown to whole
        cells. Every visible facility in it is in exactly one cluster or member.
    revision : int
        The index revision answered.
    kinds : tuple of str
        Kind names: the ``*_kind`` arrays hold positions in it.
    cluster_lon, cluster_lat : ndarray of float64, shape (c,)
        Mean WGS-84 position of each cluster's facilities (float32 precision, ~1 m).
    cluster_count : ndarray of int64, shape (c,)
        At least 2.
    cluster_kind : ndarray of int64, shape (c,)
    member_handle : ndarray of int64, shape (m,)
        Handles in the index answered (see :class:`~locator.core.index.FacilityIndex`).
    member_lon, member_lat : ndarray of float64, shape (m,)
        Exact WGS-84 positions.
    member_kind : ndarray of int64, shape (m,)
    """

    zoom: int
    cells: tuple[int, int, int, int]
    covered: tuple[float, float, float, float]
    revision: int
    kinds: tuple[str, ...]
    cluster_lon: NDArray[np.float64]
    cluster_lat: NDArray[np.float64]
    cluster_count: NDArray[np.int64]
    cluster_kind: NDArray[np.int64]
    member_handle: NDArray[np.int64]
    member_lon: NDArray[np.float64]
    member_lat: NDArray[np.float64]
    member_kind: NDArray[np.int64]

    @property
    def clusters(self) -> list[Cluster]:
        """The clusters as objects."""
        return [
            Cluster(x, y, c, self.kinds[k])
            for x, y, c, k in zip(
                self.cluster_lon.tolist(),
                self.cluster_lat.tolist(),
                self.cluster_count.tolist(),
                self.cluster_kind.tolist(),
                strict=True,
            )
        ]

    @property
    def members(self) -> list[Member]:
        """The single facilities as objects."""
        return [
            Member(h, x, y, self.kinds[k])
            for h, x, y, k in zip(
                self.member_handle.tolist(),
                self.member_lon.tolist(),
                self.member_lat.tolist(),
                self.member_kind.tolist(),
                strict=True,
            )
        ]


class TooManyCellsError(ValueError):
    """The bbox covers more than :data:`MAX_CELLS` cells at the requested zoom."""


def covering_cells(bbox: Sequence[float], zoom: int) -> tuple[int, int, int, int]:
    """The cells ``(ix0, iy0, ix1, iy1)`` of ``zoom`` that cover a WGS-84 ``(w, s, e, n)`` bbox.

    Raises
    ------
    TooManyCellsError
        Above :data:`MAX_CELLS` cells.
    ValueError
        If ``w > e`` or ``s > n`` or the zoom is out of range.
    """
    w, s, e, n = (float(v) for v in bbox)
    if not (w <= e and s <= n):
        raise ValueError("bbox must be west <= east and south <= north")
    if not MIN_ZOOM <= zoom <= MAX_ZOOM:
        raise ValueError(f"zoom must be between {MIN_ZOOM} and {MAX_ZOOM}")
    ix, iy = cell_of(np.array([w, e]), np.array([n, s]), zoom)
    ix0, ix1 = int(ix[0]), int(ix[1])
    iy0, iy1 = int(iy[0]), int(iy[1])
    if (ix1 - ix0 + 1) * (iy1 - iy0 + 1) > MAX_CELLS:
        raise TooManyCellsError(f"the bbox covers more than {MAX_CELLS} cells at zoom {zoom}")
    return ix0, iy0, ix1, iy1


def pyramid_of(index: FacilityIndex) -> Pyramid:
    """The pyramid of the index's base (built on first use, then kept with the base)."""
    return index.base_derived(DERIVED_NAME, build_pyramid)


def viewport(
    index: FacilityIndex, bbox: Sequence[float], zoom: int, kinds: Collection[str] | None = None
) -> Viewport:
    """Clusters and single facilities of the city map in a WGS-84 bbox at ``zoom``.

    Parameters
    ----------
    index : FacilityIndex
        The current index (base plus overlay); its pyramid is built on first use.
    bbox : (west, south, east, north)
        WGS-84 degrees; grown to whole cells of ``zoom`` (see :attr:`Viewport.covered`).
    zoom : int
        :data:`MIN_ZOOM` .. :data:`MAX_ZOOM`. Up to :data:`MAX_CLUSTER_ZOOM`: a cluster
        per cell of two or more facilities of a kind, a member per cell of one. Above:
        every facility as a member.
    kinds : collection of str, optional
        Only these kinds (default: all).

    Returns
    -------
    Viewport
        Exactly the index's facilities of :data:`VISIBLE_STATUSES` in the covered cells.

    Raises
    ------
    TooManyCellsError, ValueError
        See :func:`covering_cells`.
    """
    cells = covering_cells(bbox, zoom)
    ix0, iy0, ix1, iy1 = cells
    covered = cell_bounds(ix0, iy0, ix1, iy1, zoom)
    wanted = None if kinds is None else frozenset(kinds)
    if zoom > MAX_CLUSTER_ZOOM:
        return _members_in(index, cells, covered, zoom, wanted)
    if zoom > PYRAMID_MAX_ZOOM:
        return _cells_of_members(_members_in(index, cells, covered, zoom, wanted))
    pyramid = pyramid_of(index)
    level_bits = zoom + CELL_SHIFT
    kinds_table = list(pyramid.kinds)
    ov = index.overlay_columns()
    for name in ov.kinds:
        if name not in kinds_table:
            kinds_table.append(name)
    codes = [c for c, name in enumerate(kinds_table) if wanted is None or name in wanted]
    base_codes = [c for c in codes if c < len(pyramid.kinds)]

    keys, count, lon, lat, first = pyramid.window(zoom, cells, base_codes)
    slon = lon * count
    slat = lat * count

    # The overlay: its masked base rows leave their cells, its facilities join theirs.
    visible = status_mask(VISIBLE_STATUSES)
    d_keys: list[NDArray[np.int64]] = []
    d_count: list[NDArray[np.int64]] = []
    d_lon: list[NDArray[np.float64]] = []
    d_lat: list[NDArray[np.float64]] = []
    joined_keys = np.empty(0, dtype=np.int64)
    joined_handles = np.empty(0, dtype=np.int64)
    masked = index.masked_rows
    if len(masked):
        cols = index.base_columns()
        m = masked[(cols.status[masked] & visible) != 0]
        m = m[np.isin(cols.kind[m].astype(np.int64), np.asarray(base_codes, dtype=np.int64))]
        if len(m):
            mk, mlon, mlat, _ = _in_cells(
                cols.lon[m], cols.lat[m], cols.kind[m].astype(np.int64), cells, zoom
            )
            d_keys.append(mk)
            d_count.append(np.full(len(mk), -1, dtype=np.int64))
            d_lon.append(-mlon)
            d_lat.append(-mlat)
    if len(ov.handles):
        code_of = np.asarray([kinds_table.index(name) for name in ov.kinds], dtype=np.int64)
        okind = code_of[ov.kind]
        ok = ((ov.status & visible) != 0) & np.isin(okind, np.asarray(codes, dtype=np.int64))
        if ok.any():
            pick = np.flatnonzero(ok)
            ok_keys, olon, olat, inside = _in_cells(ov.lon[pick], ov.lat[pick], okind[pick], cells, zoom)
            d_keys.append(ok_keys)
            d_count.append(np.ones(len(ok_keys), dtype=np.int64))
            d_lon.append(olon)
            d_lat.append(olat)
            order = np.argsort(ok_keys, kind="stable")
            joined_keys, joined_handles = ok_keys[order], ov.handles[pick[inside]][order]
    changed = np.zeros(len(keys), dtype=bool)
    if d_keys:
        dk = np.concatenate(d_keys)
        all_keys = np.concatenate([keys, dk])
        uniq, inv = np.unique(all_keys, return_inverse=True)
        inv = inv.reshape(-1)
        n = len(uniq)
        count = (
            np.bincount(inv, weights=np.concatenate([count, *d_count]), minlength=n).round().astype(np.int64)
        )
        slon = np.bincount(inv, weights=np.concatenate([slon, *d_lon]), minlength=n).astype(np.float64)
        slat = np.bincount(inv, weights=np.concatenate([slat, *d_lat]), minlength=n).astype(np.float64)
        base_first = np.full(n, -1, dtype=np.int64)
        base_first[inv[: len(keys)]] = first
        keys, first = uniq, base_first
        changed = np.isin(keys, dk)

    # A cell of one is that facility: its base row if the overlay left the cell alone, else
    # the overlay facility that joined it, else the one base row it did not mask.
    mask_bits = (1 << level_bits) - 1
    lone = np.flatnonzero(count == 1)
    handles = first[lone]
    redo = np.flatnonzero(changed[lone])
    if len(redo):
        want_keys = keys[lone[redo]]
        pos = np.searchsorted(joined_keys, want_keys)
        pos_ok = np.minimum(pos, max(len(joined_keys) - 1, 0))
        hit = (pos < len(joined_keys)) & (joined_keys[pos_ok] == want_keys) if len(joined_keys) else pos < 0
        handles[redo[hit]] = joined_handles[pos_ok[hit]]
        for i in redo[~hit].tolist():
            handles[i] = _lone_base_row(index, int(keys[lone[i]]), level_bits, mask_bits, zoom)
    many = np.flatnonzero(count > 1)
    cnt = count[many]
    m_lon, m_lat = _positions(index, handles)
    return Viewport(
        zoom=zoom,
        cells=cells,
        covered=covered,
        revision=index.revision,
        kinds=tuple(kinds_table),
        cluster_lon=slon[many] / cnt,
        cluster_lat=slat[many] / cnt,
        cluster_count=cnt,
        cluster_kind=keys[many] >> (2 * level_bits),
        member_handle=handles,
        member_lon=m_lon,
        member_lat=m_lat,
        member_kind=keys[lone] >> (2 * level_bits),
    )


def _positions(
    index: FacilityIndex, handles: NDArray[np.int64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """WGS-84 ``(lon, lat)`` of handles (base rows and overlay facilities), vectorised."""
    cols = index.base_columns()
    n = len(cols.lon)
    lon = np.empty(len(handles))
    lat = np.empty(len(handles))
    in_base = handles < n
    lon[in_base] = cols.lon[handles[in_base]]
    lat[in_base] = cols.lat[handles[in_base]]
    if not in_base.all():
        ov = index.overlay_columns()
        at = handles[~in_base] - n
        lon[~in_base] = ov.lon[at]
        lat[~in_base] = ov.lat[at]
    return lon, lat


def _in_cells(
    lon: NDArray[np.float64],
    lat: NDArray[np.float64],
    kind: NDArray[np.int64],
    cells: tuple[int, int, int, int],
    zoom: int,
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """Keys, lon and lat of the points inside the cell rectangle, and which points those are."""
    ix0, iy0, ix1, iy1 = cells
    ix, iy = cell_of(lon, lat, zoom)
    inside = (ix >= ix0) & (ix <= ix1) & (iy >= iy0) & (iy <= iy1)
    keys = _key(kind[inside], iy[inside], ix[inside], zoom + CELL_SHIFT)
    return keys, lon[inside], lat[inside], inside


def _lone_base_row(index: FacilityIndex, key: int, level_bits: int, mask_bits: int, zoom: int) -> int:
    """The one base row the overlay left in a cell it changed (a binary search of its latitude band)."""
    ix, iy = key & mask_bits, (key >> level_bits) & mask_bits
    code = key >> (2 * level_bits)
    w, s, e, n = cell_bounds(ix, iy, ix, iy, zoom)
    cols = index.base_columns()
    rows = index.base_rows_in_box(w, s, e, n)
    rows = rows[(cols.kind[rows] == code) & ((cols.status[rows] & status_mask(VISIBLE_STATUSES)) != 0)]
    cx, cy = cell_of(cols.lon[rows], cols.lat[rows], zoom)
    rows = rows[(cx == ix) & (cy == iy)]
    if len(rows) != 1:
        raise AssertionError("a cell counted one facility but holds another number")  # pragma: no cover
    return int(rows[0])


def _cells_of_members(view: Viewport) -> Viewport:
    """``view`` (every facility a member) grouped by cell and kind: clusters and lone members.

    Above :data:`PYRAMID_MAX_ZOOM`: the same cells and rules as the pyramid's levels, counted
    from the facilities in view (``numpy.unique`` and ``bincount``); exact, the overlay
    included, since ``view`` is.
    """
    level_bits = view.zoom + CELL_SHIFT
    ix, iy = cell_of(view.member_lon, view.member_lat, view.zoom)
    keys = _key(view.member_kind, iy, ix, level_bits)
    uniq, at, inv = np.unique(keys, return_index=True, return_inverse=True)
    inv = inv.reshape(-1)
    n = len(uniq)
    count = np.bincount(inv, minlength=n).astype(np.int64)
    slon = np.bincount(inv, weights=view.member_lon, minlength=n)
    slat = np.bincount(inv, weights=view.member_lat, minlength=n)
    many = np.flatnonzero(count > 1)
    lone = at[count == 1]
    lone = lone[np.lexsort((view.member_handle[lone], view.member_kind[lone]))]
    return Viewport(
        zoom=view.zoom,
        cells=view.cells,
        covered=view.covered,
        revision=view.revision,
        kinds=view.kinds,
        cluster_lon=slon[many] / count[many],
        cluster_lat=slat[many] / count[many],
        cluster_count=count[many],
        cluster_kind=uniq[many] >> (2 * level_bits),
        member_handle=view.member_handle[lone],
        member_lon=view.member_lon[lone],
        member_lat=view.member_lat[lone],
        member_kind=view.member_kind[lone],
    )


def _members_in(
    index: FacilityIndex,
    cells: tuple[int, int, int, int],
    covered: tuple[float, float, float, float],
    zoom: int,
    kinds: frozenset[str] | None,
) -> Viewport:
    """Every visible facility in the cells, one member each (kind order, then handle)."""
    w, s, e, n = covered
    visible = status_mask(VISIBLE_STATUSES)
    cols = index.base_columns()
    ov = index.overlay_columns()
    kinds_table = list(cols.kinds) + [k for k in ov.kinds if k not in cols.kinds]
    codes = np.asarray(
        [c for c, name in enumerate(kinds_table) if kinds is None or name in kinds], dtype=np.int64
    )
    rows = index.base_rows_in_box(w, s, e, n)
    base_kind = cols.kind[rows].astype(np.int64)
    keep = ((cols.status[rows] & visible) != 0) & np.isin(base_kind, codes)
    rows, base_kind = rows[keep], base_kind[keep]
    handles = [rows]
    kind = [base_kind]
    lon = [cols.lon[rows]]
    lat = [cols.lat[rows]]
    if len(ov.handles):
        okind = np.asarray([kinds_table.index(k) for k in ov.kinds], dtype=np.int64)[ov.kind]
        sel = (
            ((ov.status & visible) != 0)
            & np.isin(okind, codes)
            & (ov.lon >= w)
            & (ov.lon <= e)
            & (ov.lat >= s)
            & (ov.lat <= n)
        )
        handles.append(ov.handles[sel])
        kind.append(okind[sel])
        lon.append(ov.lon[sel])
        lat.append(ov.lat[sel])
    h, k = np.concatenate(handles), np.concatenate(kind)
    x, y = np.concatenate(lon), np.concatenate(lat)
    ix, iy = cell_of(x, y, zoom)
    ix0, iy0, ix1, iy1 = cells
    inside = (ix >= ix0) & (ix <= ix1) & (iy >= iy0) & (iy <= iy1)
    order = np.lexsort((h[inside], k[inside]))
    empty_f = np.empty(0)
    return Viewport(
        zoom=zoom,
        cells=cells,
        covered=covered,
        revision=index.revision,
        kinds=tuple(kinds_table),
        cluster_lon=empty_f,
        cluster_lat=empty_f,
        cluster_count=np.empty(0, dtype=np.int64),
        cluster_kind=np.empty(0, dtype=np.int64),
        member_handle=h[inside][order],
        member_lon=x[inside][order],
        member_lat=y[inside][order],
        member_kind=k[inside][order],
    )
