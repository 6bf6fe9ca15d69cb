"""Administrative areas: districts and subdistricts by point-in-polygon, and the service area.

Polygons are WGS-84 (lon/lat degrees) GeoJSON shipped in ``geodata/`` (see its README
for sources). Point-in-polygon uses :class:`shapely.STRtree` for candidates and
``covers`` (boundary points count as inside) for the exact test.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

from locator.errors import Msg, ValidationError

GEODATA = Path(__file__).resolve().parents[2] / "geodata"
DISTRICTS_FILE = GEODATA / "beijing_districts.geojson"
SUBDISTRICTS_FILE = GEODATA / "beijing_subdistricts_2010s.geojson"
CITY_BOUNDARY_FILE = GEODATA / "beijing_city_boundary.geojson"


@dataclass(frozen=True, slots=True)
class Area:
    """One administrative area: ``code`` (adcode or id), ``name``, ``name_en``, parent."""

    code: str
    name: str
    name_en: str
    parent_code: str | None
    geometry: BaseGeometry


def read_geojson(path: Path) -> dict[str, Any]:
    """Read a GeoJSON file.

    Raises
    ------
    ValidationError
        If the file is missing or not GeoJSON.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise ValidationError(
            Msg("cannot read GeoJSON %(path)s: %(why)s", path=str(path), why=str(exc)), param="path"
        ) from None
    kinds = {"FeatureCollection", "Feature", "Polygon", "MultiPolygon"}
    if not isinstance(data, dict) or data.get("type") not in kinds:
        raise ValidationError(Msg("%(path)s is not a GeoJSON object", path=str(path)), param="path")
    return data


def _geometries(data: dict[str, Any]) -> list[tuple[dict[str, Any], BaseGeometry]]:
    if data["type"] == "FeatureCollection":
        feats = data.get("features", [])
    elif data["type"] == "Feature":
        feats = [data]
    else:
        feats = [{"type": "Feature", "properties": {}, "geometry": data}]
    return [(f.get("properties") or {}, shape(f["geometry"])) for f in feats if f.get("geometry")]


class AreaIndex:
    """Point-in-polygon lookup over a set of areas.

    Parameters
    ----------
    areas : list of Area
        Polygons in WGS-84 lon/lat.
    """

    def __init__(self, areas: list[Area]) -> None:
        self.areas = areas
        self._tree = shapely.STRtree([a.geometry for a in areas])
        for a in areas:
            shapely.prepare(a.geometry)

    def locate(self, lon: float, lat: float) -> Area | None:
        """The area covering WGS-84 point ``(lon, lat)``; the first by code on overlaps."""
        pt = Point(lon, lat)
        hits = [self.areas[i] for i in self._tree.query(pt, predicate="intersects")]
        hits = [a for a in hits if a.geometry.covers(pt)]
        return min(hits, key=lambda a: a.code) if hits else None

    def locate_many(self, lons: Sequence[float], lats: Sequence[float]) -> list[Area | None]:
        """:meth:`locate` for many WGS-84 points at once (one vectorised tree query).

        Parameters
        ----------
        lons, lats : sequence of float
            Degrees, the same length.

        Returns
        -------
        list of Area or None
            One per point, as :meth:`locate` would answer.
        """
        found: list[Area | None] = [None] * len(lons)
        if not len(lons):
            return found
        points = shapely.points(np.asarray(lons, dtype=float), np.asarray(lats, dtype=float))
        # "covered_by": the point is covered by the area (boundary points count, as in locate)
        where, which = self._tree.query(points, predicate="covered_by")
        for i, j in zip(where.tolist(), which.tolist(), strict=True):
            area, best = self.areas[j], found[i]
            if best is None or area.code < best.code:
                found[i] = area
        return found

    def by_code(self, code: str) -> Area | None:
        """The area with this code, or None."""
        return next((a for a in self.areas if a.code == code), None)


@functools.lru_cache(maxsize=8)
def load_districts(path: Path = DISTRICTS_FILE) -> AreaIndex:
    """Beijing's 16 districts (code = 6-digit adcode); read once per process and path."""
    return AreaIndex(
        [
            Area(str(p["adcode"]), p["name"], p.get("name_en", ""), None, g)
            for p, g in _geometries(read_geojson(path))
        ]
    )


@functools.lru_cache(maxsize=8)
def load_subdistricts(path: Path = SUBDISTRICTS_FILE) -> AreaIndex:
    """Beijing's township-level units (街道/乡镇; code = our id, parent = district adcode).

    Read once per process and path (an :class:`AreaIndex` is never modified).
    """
    return AreaIndex(
        [
            Area(str(p["id"]), p["name"], "", str(p.get("district_adcode") or "") or None, g)
            for p, g in _geometries(read_geojson(path))
        ]
    )


@functools.lru_cache(maxsize=4)
def districts_geojson(path: Path = DISTRICTS_FILE) -> dict[str, Any]:
    """The district boundaries as GeoJSON, read once per process (treat as read-only)."""
    return read_geojson(path)


class ServiceArea:
    """The polygon facilities must lie in (``None`` polygon: anywhere on Earth).

    Parameters
    ----------
    geometry : shapely geometry or None
        WGS-84 lon/lat polygon(s).
    """

    def __init__(self, geometry: BaseGeometry | None) -> None:
        self.geometry = geometry
        if geometry is not None:
            shapely.prepare(geometry)

    @classmethod
    @functools.lru_cache(maxsize=4)  # noqa: B019 - a handful of shipped files, read once per process
    def from_file(cls, path: Path) -> ServiceArea:
        """Union of every polygon in a GeoJSON file (read once per process and path).

        Raises
        ------
        ValidationError
            If the file holds no polygon.
        """
        geoms = [g for _, g in _geometries(read_geojson(path)) if g.geom_type in {"Polygon", "MultiPolygon"}]
        if not geoms:
            raise ValidationError(
                Msg("%(path)s holds no polygon", path=str(path)), param="LOCATOR_SERVICE_AREA"
            )
        return cls(shapely.union_all(geoms))

    def contains(self, lon: float, lat: float) -> bool:
        """True when the WGS-84 point is inside (or on the edge of) the service area."""
        return self.geometry is None or bool(self.geometry.covers(Point(lon, lat)))

    def contains_many(self, lons: Sequence[float], lats: Sequence[float]) -> list[bool]:
        """:meth:`contains` for many WGS-84 points (degrees) at once (vectorised ``covers``)."""
        if self.geometry is None or not len(lons):
            return [True] * len(lons)
        points = shapely.points(np.asarray(lons, dtype=float), np.asarray(lats, dtype=float))
        inside: list[bool] = shapely.covers(self.geometry, points).tolist()
        return inside
