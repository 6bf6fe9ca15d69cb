"""The city map's data: what one viewport shows, and one facility's popup. No Flask here.

The map page is a shell (:func:`locator.formats.maps.city_map`); its script asks for the
viewport it shows (:meth:`CityMapService.viewport`) and for a facility's details when a
marker is tapped (:meth:`CityMapService.facility`). Clusters come from the grid pyramid of
:mod:`locator.core.clusters`, built once per index base (in the index keeper's background
thread, see :meth:`~locator.services.index_keeper.IndexKeeper.add_warmer`) and adjusted for
the index's overlay per request, so every answer reflects the index the request reads.

Datums: the map's tiles have a datum (WGS-84 for OpenStreetMap, GCJ-02 for AMap). The
viewport's bbox comes in that datum and positions go back in it; the facilities and the
grid stay WGS-84 (see :mod:`locator.core.geo`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np

from locator.core import clusters
from locator.core.domain import Facility
from locator.core.geo import Datum, from_wgs84_arrays, to_wgs84
from locator.core.index import FacilityIndex
from locator.errors import Msg, NotFoundError, ValidationError
from locator.services.facilities import LocatorService

#: Decimal places of cluster positions (1e-5 degrees is about 1 m).
CLUSTER_DECIMALS = 5
#: Decimal places of single facilities' positions (1e-6 degrees is about 0.1 m).
POINT_DECIMALS = 6


@dataclass(frozen=True, slots=True)
class MapView:
    """A viewport's answer, positions in the requested datum.

    Attributes
    ----------
    revision : int
        The index revision answered.
    zoom : int
    datum : Datum
        Of every position below.
    covered : (float, float, float, float)
        ``(west, south, east, north)``, WGS-84 degrees: the cells answered (the bbox
        grown to whole cells); every visible facility in it is counted exactly once.
    kinds : tuple of str
        Kind names, indexed by the ``kind`` numbers of ``clusters`` and ``facilities``.
    clusters : list of (lon, lat, count, kind)
        Two or more facilities of one kind in one cell: their mean position and count.
    facilities : list of (lon, lat, id, kind)
        Facilities on their own.
    """

    revision: int
    zoom: int
    datum: Datum
    covered: tuple[float, float, float, float]
    kinds: tuple[str, ...]
    clusters: list[tuple[float, float, int, int]]
    facilities: list[tuple[float, float, str, int]]


def wgs84_bbox(bbox: Sequence[float], datum: Datum) -> tuple[float, float, float, float]:
    """A ``(west, south, east, north)`` bbox in ``datum`` as the WGS-84 bbox of its corners.

    The datum offsets change by well under a metre across a city-sized bbox, so the
    envelope of the four converted corners holds every point of the original.
    """
    w, s, e, n = (float(v) for v in bbox)
    if datum is Datum.WGS84:
        return w, s, e, n
    corners = [to_wgs84(x, y, datum) for x, y in ((w, s), (w, n), (e, s), (e, n))]
    xs = [c[0] for c in corners]
    ys = [c[1] for c in corners]
    return min(xs), min(ys), max(xs), max(ys)


class CityMapService:
    """Viewport answers and popups for the city map, over one :class:`LocatorService`.

    Parameters
    ----------
    locator : LocatorService
        Its index is read per call; the pyramid of each new base is built by the index
        keeper's background thread (registered here).
    warm_also : callable, optional
        Something else to prepare once in that thread (e.g. the district outlines).
    """

    def __init__(self, locator: LocatorService, warm_also: Callable[[], object] | None = None) -> None:
        self.locator = locator
        self._warm_also = warm_also
        locator.keeper.add_warmer(self._warm)

    def _warm(self, index: FacilityIndex) -> None:
        clusters.pyramid_of(index)
        if self._warm_also is not None:
            warm, self._warm_also = self._warm_also, None
            warm()

    def viewport(
        self,
        bbox: Sequence[float],
        zoom: int,
        *,
        kinds: Collection[str] | None = None,
        datum: Datum = Datum.WGS84,
    ) -> MapView:
        """Clusters and single facilities of a bbox at a zoom level.

        Parameters
        ----------
        bbox : (west, south, east, north)
            Degrees in ``datum``.
        zoom : int
            :data:`~locator.core.clusters.MIN_ZOOM` ..
            :data:`~locator.core.clusters.MAX_ZOOM`; clusters up to
            :data:`~locator.core.clusters.MAX_CLUSTER_ZOOM`, single facilities above.
        kinds : collection of str, optional
            Only these kinds (default: all).
        datum : Datum
            Of ``bbox`` and of the positions returned (the map tiles' datum).

        Returns
        -------
        MapView

        Raises
        ------
        ValidationError
            ``param="bbox"`` when it covers more than
            :data:`~locator.core.clusters.MAX_CELLS` cells at ``zoom``.
        """
        index = self.locator.index
        box = wgs84_bbox(bbox, datum)
        try:
            view = clusters.viewport(index, box, zoom, kinds)
        except clusters.TooManyCellsError:
            raise ValidationError(
                Msg(
                    "bbox is too large for zoom %(zoom)s: at most %(cells)s cells of %(px)s px",
                    zoom=zoom,
                    cells=clusters.MAX_CELLS,
                    px=clusters.CELL_PX,
                ),
                param="bbox",
            ) from None
        clon, clat = from_wgs84_arrays(view.cluster_lon, view.cluster_lat, datum)
        out_clusters = list(
            zip(
                np.round(clon, CLUSTER_DECIMALS).tolist(),
                np.round(clat, CLUSTER_DECIMALS).tolist(),
                view.cluster_count.tolist(),
                view.cluster_kind.tolist(),
                strict=True,
            )
        )
        mlon, mlat = from_wgs84_arrays(view.member_lon, view.member_lat, datum)
        out_points = list(
            zip(
                [round(v, POINT_DECIMALS) for v in mlon.tolist()],  # as the GeoJSON answers round
                [round(v, POINT_DECIMALS) for v in mlat.tolist()],
                [index.facility_id(h) for h in view.member_handle.tolist()],
                view.member_kind.tolist(),
                strict=True,
            )
        )
        return MapView(
            revision=view.revision,
            zoom=zoom,
            datum=datum,
            covered=view.covered,
            kinds=view.kinds,
            clusters=out_clusters,
            facilities=out_points,
        )

    def totals(self) -> dict[str, int]:
        """How many facilities of each kind the map shows (every status but removed).

        From the pyramid's coarsest level and the overlay: no scan of the facilities.
        """
        view = clusters.viewport(self.locator.index, (-180.0, -90.0, 180.0, 90.0), clusters.MIN_ZOOM)
        n = len(view.kinds)
        per_kind = np.bincount(view.cluster_kind, weights=view.cluster_count, minlength=n) + np.bincount(
            view.member_kind, minlength=n
        )
        return {name: int(c) for name, c in zip(view.kinds, per_kind.tolist(), strict=True) if c}

    def facility(self, facility_id: str) -> Facility:
        """The facility a marker stands for, if the map shows it.

        Raises
        ------
        NotFoundError
            For an unknown id, or a removed facility.
        """
        f = self.locator.index.get(facility_id)
        if f is None or f.status not in clusters.VISIBLE_STATUSES:
            raise NotFoundError(Msg("no facility with id %(id)r", id=facility_id), param="facility_id")
        return f
