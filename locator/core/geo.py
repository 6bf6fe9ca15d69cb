"""Geodesy for the locator: geodesic metres on WGS-84 and China's three datums.

Every coordinate pair in this module is ``(lon, lat)`` in decimal degrees. The only
place where the order flips to Leaflet's ``[lat, lon]`` is :func:`to_leaflet`.

Datums
------
* **WGS-84** (EPSG:4326): GNSS/phones, OpenStreetMap. The only datum we store.
* **GCJ-02** ("Mars coordinates"): AMap, Tencent, WeChat. An obfuscated offset of
  WGS-84 of 300–600 m in mainland China that varies with position.
* **BD-09**: Baidu, a further distortion of GCJ-02 (~1.3 km from WGS-84 in Beijing).

The forward formulas are the public-domain ones used by eviltransform, prcoords and
coordtransform (Krasovsky ellipsoid constants ``a = 6378245.0``,
``ee = 0.00669342162296594323``; BD-09 from GCJ-02 with ``x_pi = pi * 3000 / 180``).
Inverses are solved by fixed-point iteration on the forward formula until the residual
is below 1e-10 degrees (~1 cm is 9e-8 degrees), which converges in a few steps because
the offsets vary slowly with position.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pyproj import Geod

from locator.errors import Msg

#: The WGS-84 ellipsoid as pyproj computes geodesics on it (Karney 2013).
WGS84_GEOD: Final = Geod(ellps="WGS84")

_A_WGS84: Final = 6378137.0
_F_WGS84: Final = 1 / 298.257223563
_E2_WGS84: Final = _F_WGS84 * (2 - _F_WGS84)
#: Smallest radius of curvature on WGS-84 (meridional, at the equator), metres.
#: For points mapped to the unit sphere by geodetic lat/lon, the ellipsoidal geodesic
#: distance ``s`` and the central angle ``theta`` satisfy
#: ``R_MIN_M * theta <= s <= R_MAX_M * theta``, because the ellipsoid's line element
#: ``ds^2 = M^2 dphi^2 + N^2 cos^2(phi) dlambda^2`` has ``M, N`` in ``[R_MIN_M, R_MAX_M]``.
R_MIN_M: Final = _A_WGS84 * (1 - _E2_WGS84)
#: Largest radius of curvature on WGS-84 (at the poles), metres.
R_MAX_M: Final = _A_WGS84 / math.sqrt(1 - _E2_WGS84)


class Datum(StrEnum):
    """A horizontal datum a coordinate may be given in."""

    WGS84 = "wgs84"
    GCJ02 = "gcj02"
    BD09 = "bd09"

    @classmethod
    def parse(cls, value: str) -> Datum:
        """Return the datum named ``value`` (case-insensitive; ``-``/``_`` ignored).

        Raises
        ------
        ValueError
            If ``value`` names no known datum.
        """
        key = value.strip().lower().replace("-", "").replace("_", "")
        for datum in cls:
            if datum.value == key:
                return datum
        raise ValueError(Msg("unknown datum %(value)r; expected one of wgs84, gcj02, bd09", value=value))


# --- GCJ-02 ---------------------------------------------------------------------

_KRASOVSKY_A: Final = 6378245.0
_KRASOVSKY_EE: Final = 0.00669342162296594323
_X_PI: Final = math.pi * 3000.0 / 180.0


def out_of_china(lon: float, lat: float) -> bool:
    """Return True where GCJ-02 applies no offset (outside the mainland's bbox).

    Parameters
    ----------
    lon, lat : float
        WGS-84 degrees.

    Notes
    -----
    The rectangle 72.004–137.8347 °E, 0.8293–55.8271 °N is the one the public
    implementations use; inside it the offset is always applied.
    """
    return not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _delta_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _delta_lon(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """Convert a WGS-84 point to GCJ-02.

    Parameters
    ----------
    lon, lat : float
        WGS-84 degrees.

    Returns
    -------
    (lon, lat) : tuple of float
        GCJ-02 degrees; unchanged outside China (see :func:`out_of_china`).

    Examples
    --------
    >>> lon, lat = wgs84_to_gcj02(116.3376, 39.9925)
    >>> round(lon - 116.3376, 5), round(lat - 39.9925, 5)
    (0.00617, 0.00133)
    """
    if out_of_china(lon, lat):
        return lon, lat
    dlat = _delta_lat(lon - 105.0, lat - 35.0)
    dlon = _delta_lon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = 1 - _KRASOVSKY_EE * math.sin(radlat) ** 2
    sqrtmagic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_KRASOVSKY_A * (1 - _KRASOVSKY_EE)) / (magic * sqrtmagic) * math.pi)
    dlon = (dlon * 180.0) / (_KRASOVSKY_A / sqrtmagic * math.cos(radlat) * math.pi)
    return lon + dlon, lat + dlat


def gcj02_to_bd09(lon: float, lat: float) -> tuple[float, float]:
    """Convert a GCJ-02 point to BD-09 (Baidu's published forward formula).

    Parameters
    ----------
    lon, lat : float
        GCJ-02 degrees.

    Returns
    -------
    (lon, lat) : tuple of float
        BD-09 degrees.
    """
    z = math.hypot(lon, lat) + 0.00002 * math.sin(lat * _X_PI)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * _X_PI)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


def _invert(forward, lon: float, lat: float, tol_deg: float = 1e-10) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Solve ``forward(p) == (lon, lat)`` for ``p`` by fixed-point iteration."""
    x, y = lon, lat
    for _ in range(50):
        fx, fy = forward(x, y)
        dx, dy = lon - fx, lat - fy
        x, y = x + dx, y + dy
        if abs(dx) < tol_deg and abs(dy) < tol_deg:
            break
    return x, y


def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """Convert a GCJ-02 point to WGS-84 by iterating the forward formula.

    Parameters
    ----------
    lon, lat : float
        GCJ-02 degrees.

    Returns
    -------
    (lon, lat) : tuple of float
        WGS-84 degrees; the round trip through :func:`wgs84_to_gcj02` is exact to
        < 1e-9 degrees (< 1 mm).
    """
    return _invert(wgs84_to_gcj02, lon, lat)


def bd09_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """Convert a BD-09 point to GCJ-02 by iterating :func:`gcj02_to_bd09` (< 1 mm)."""
    return _invert(gcj02_to_bd09, lon, lat)


def wgs84_to_bd09(lon: float, lat: float) -> tuple[float, float]:
    """Convert a WGS-84 point to BD-09 (via GCJ-02)."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """Convert a BD-09 point to WGS-84 (via GCJ-02), each step iterated to < 1 mm."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def to_wgs84(lon: float, lat: float, datum: Datum) -> tuple[float, float]:
    """Convert a point given in ``datum`` to WGS-84.

    Parameters
    ----------
    lon, lat : float
        Degrees in ``datum``.
    datum : Datum
        The datum the point was given in.

    Returns
    -------
    (lon, lat) : tuple of float
        WGS-84 degrees.
    """
    if datum is Datum.GCJ02:
        return gcj02_to_wgs84(lon, lat)
    if datum is Datum.BD09:
        return bd09_to_wgs84(lon, lat)
    return lon, lat


def from_wgs84(lon: float, lat: float, datum: Datum) -> tuple[float, float]:
    """Convert a WGS-84 point to ``datum`` (the inverse of :func:`to_wgs84`)."""
    if datum is Datum.GCJ02:
        return wgs84_to_gcj02(lon, lat)
    if datum is Datum.BD09:
        return wgs84_to_bd09(lon, lat)
    return lon, lat


def from_wgs84_arrays(
    lon: NDArray[np.float64], lat: NDArray[np.float64], datum: Datum
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """:func:`from_wgs84` of many points at once (the same formulas, vectorised).

    Parameters
    ----------
    lon, lat : ndarray of float64, shape (n,)
        WGS-84 degrees.
    datum : Datum

    Returns
    -------
    (lon, lat) : ndarray of float64, shape (n,)
        Degrees in ``datum``; equal to :func:`from_wgs84` point by point (to ~1e-12
        degrees of floating-point rounding).
    """
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    if datum is Datum.WGS84 or not len(lon):
        return lon, lat
    inside = (lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271)
    x, y = lon - 105.0, lat - 35.0
    pi = np.pi
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    dlat += (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat += (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    dlon += (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlon += (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * pi
    magic = 1 - _KRASOVSKY_EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_KRASOVSKY_A * (1 - _KRASOVSKY_EE)) / (magic * sqrtmagic) * pi)
    dlon = (dlon * 180.0) / (_KRASOVSKY_A / sqrtmagic * np.cos(radlat) * pi)
    glon = np.where(inside, lon + dlon, lon)
    glat = np.where(inside, lat + dlat, lat)
    if datum is Datum.GCJ02:
        return glon, glat
    z = np.hypot(glon, glat) + 0.00002 * np.sin(glat * _X_PI)
    theta = np.arctan2(glat, glon) + 0.000003 * np.cos(glon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


# --- geodesics -------------------------------------------------------------------


def geodesic_inverse(
    lon1: ArrayLike, lat1: ArrayLike, lon2: ArrayLike, lat2: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Geodesic distance and initial bearing on the WGS-84 ellipsoid.

    Parameters
    ----------
    lon1, lat1, lon2, lat2 : float or array_like of shape (n,)
        WGS-84 degrees; arrays broadcast against each other.

    Returns
    -------
    distance_m : ndarray of shape (n,)
        Ellipsoidal geodesic distance in metres (Karney's algorithm via
        :class:`pyproj.Geod`, accurate to ~15 nm).
    bearing_deg : ndarray of shape (n,)
        Initial azimuth from point 1 to point 2 in degrees clockwise from true north,
        in ``[0, 360)``.
    """
    lo1, la1, lo2, la2 = np.broadcast_arrays(
        np.asarray(lon1, dtype=float),
        np.asarray(lat1, dtype=float),
        np.asarray(lon2, dtype=float),
        np.asarray(lat2, dtype=float),
    )
    az, _, dist = WGS84_GEOD.inv(lo1.ravel(), la1.ravel(), lo2.ravel(), la2.ravel())
    return np.asarray(dist, dtype=float), np.mod(np.asarray(az, dtype=float), 360.0)


def geodesic_distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Ellipsoidal geodesic distance in metres between two WGS-84 points."""
    return float(geodesic_inverse(lon1, lat1, lon2, lat2)[0][0])


def unit_vectors(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.float64]:
    """Map WGS-84 geodetic lon/lat to 3-D unit vectors.

    Parameters
    ----------
    lon, lat : array_like of shape (n,)
        Degrees.

    Returns
    -------
    ndarray of shape (n, 3)
        Points on the unit sphere. The Euclidean (chord) distance between two of them
        orders pairs exactly as the central angle does; see :data:`R_MIN_M` for how the
        central angle bounds the ellipsoidal geodesic distance.
    """
    lon_r = np.radians(np.asarray(lon, dtype=float))
    lat_r = np.radians(np.asarray(lat, dtype=float))
    cos_lat = np.cos(lat_r)
    return np.column_stack((cos_lat * np.cos(lon_r), cos_lat * np.sin(lon_r), np.sin(lat_r)))


def chord_for_angle(theta_rad: float) -> float:
    """Chord length on the unit sphere for a central angle in radians (capped at pi)."""
    return 2.0 * math.sin(min(theta_rad, math.pi) / 2.0)


def angle_for_chord(chord: float) -> float:
    """Central angle in radians for a chord length on the unit sphere."""
    return 2.0 * math.asin(min(chord / 2.0, 1.0))


def valid_lonlat(lon: float, lat: float) -> bool:
    """True when ``lon`` is in [-180, 180] and ``lat`` in [-90, 90] (finite degrees)."""
    return math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90


def to_leaflet(lon: float, lat: float) -> list[float]:
    """Return ``[lat, lon]``, the order Leaflet and Folium take; the only such switch."""
    return [lat, lon]
