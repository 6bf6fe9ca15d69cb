"""Links that open a phone's map app with walking or cycling directions to a facility.

Every app gets its destination in the datum it expects, so the route ends at the door
and not 300-600 m away (see :mod:`locator.core.geo` for the datums). Facilities are stored in
WGS-84; each builder converts as needed and says which datum its URL carries.

=============  ===========================================  =========================
App            URL (walking / cycling)                      Datum in the URL
=============  ===========================================  =========================
AMap (高德)     ``https://uri.amap.com/navigation``          WGS-84, declared with
               ``mode=walk`` / ``mode=ride``                ``coordinate=wgs84``
Baidu (百度)    ``https://api.map.baidu.com/direction``      WGS-84, declared with
               ``mode=walking`` / ``mode=riding``           ``coord_type=wgs84``
Tencent (腾讯)  ``https://apis.map.qq.com/uri/v1/routeplan`` GCJ-02 (the only datum
               ``type=walk`` / ``type=bike``                the URI API accepts)
Apple Maps     ``https://maps.apple.com/?daddr=…&dirflg=w`` GCJ-02 (see below)
               / ``https://maps.apple.com/directions?…``
               ``&mode=cycling``
=============  ===========================================  =========================

Sources
-------
* AMap URI API ("调起高德地图 - 路线规划"):
  https://lbs.amap.com/api/uri-api/guide/travel/route — ``from``/``to`` are
  ``lon,lat,name``; ``mode`` is ``car|bus|walk|ride``; ``coordinate`` is ``gaode``
  (GCJ-02, the default) or ``wgs84``; ``callnative=1`` opens the app when installed;
  ``src`` names the caller.
* Baidu Maps URI API, web ("Web端 - 路线规划"):
  https://lbsyun.baidu.com/faq/api?title=webapi/uri/web — ``origin``/``destination``
  are ``latlng:lat,lng|name:…``; ``mode`` is ``transit|driving|walking|riding``;
  ``coord_type`` is ``bd09ll`` (default), ``gcj02`` or ``wgs84``; ``src`` (required) is
  ``webapp.<company>.<app>``; ``output=html``.
* Tencent Maps URI API ("路线规划"): https://lbs.qq.com/webApi/uriV1/uriGuide/uriWebRoute
  — ``fromcoord``/``tocoord`` are ``lat,lng`` in Tencent's (GCJ-02) coordinates;
  ``type`` is ``bus|drive|walk|bike``; ``referer`` (required) names the caller. Without
  ``from``/``fromcoord`` the app starts at the current position.
* Apple Maps: "Map Links" (https://developer.apple.com/library/archive/featuredarticles/
  iPhoneURLScheme_Reference/MapLinks/MapLinks.html) — ``saddr``/``daddr`` are
  ``lat,lon``, ``dirflg=w`` is walking; it has no cycling flag. Cycling uses the
  unified Maps URLs of iOS 18.4+ ("Adopting unified Maps URLs",
  https://developer.apple.com/documentation/mapkit/unified-map-urls):
  ``/directions?source=…&destination=…&mode=cycling``.

  **Datum choice for Apple Maps: GCJ-02.** Apple documents no datum for these URLs.
  In mainland China Apple Maps shows AutoNavi (高德) map data, which is drawn in
  GCJ-02, and MapKit works in that datum there (``MKMapView`` reports the user's
  position in GCJ-02 while Core Location reports WGS-84; developer reports, e.g.
  https://blog.markmiao.com/2020/11/28/map "苹果系统地图 … 在国内使用的是高德数据，
  所以返回的经纬度是火星坐标系的"). A WGS-84 point given to Apple Maps in Beijing
  therefore lands ~500 m off, so we shift it to GCJ-02 first. Outside mainland China
  the GCJ-02 formula is the identity (:func:`locator.core.geo.out_of_china`), so the same
  code is right there too.

Coordinates are written with 6 decimals (1e-6 degree is about 0.1 m), the most AMap
accepts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote, urlencode

from locator.core.geo import Datum, from_wgs84

#: Apps, in display order (keys are stable identifiers used by templates and tests).
APPS: Final = ("amap", "baidu", "tencent", "apple")
#: Travel modes offered to riders: on foot and by (e-)bike.
MODES: Final = ("walk", "cycle")

#: Who we are, for the ``src``/``referer`` parameters the APIs ask for.
SOURCE_NAME: Final = "warm-station-locator"
BAIDU_SRC: Final = "webapp.warmstation.locator"

#: The datum each app's URL carries.
APP_DATUM: Final[dict[str, Datum]] = {
    "amap": Datum.WGS84,
    "baidu": Datum.WGS84,
    "tencent": Datum.GCJ02,
    "apple": Datum.GCJ02,
}

_DECIMALS: Final = 6
_RESERVED: Final = re.compile(r"[|:,;\x00-\x1f]")

LonLat = tuple[float, float]


@dataclass(frozen=True, slots=True)
class NavLink:
    """One navigation link.

    Attributes
    ----------
    app : str
        One of :data:`APPS`.
    mode : str
        One of :data:`MODES`.
    url : str
        The link (``https://``), destination in :attr:`datum`.
    datum : Datum
        The datum of the coordinates in ``url``.
    """

    app: str
    mode: str
    url: str
    datum: Datum


def _fmt(value: float) -> str:
    return f"{value:.{_DECIMALS}f}"


def _label(name: str) -> str:
    """A place name safe inside the apps' ``lon,lat,name`` / ``latlng:…|name:…`` syntax."""
    return _RESERVED.sub(" ", name).strip() or "-"


def _query(params: dict[str, str]) -> str:
    return urlencode(params, quote_via=quote, safe=",")


def amap_url(dest: LonLat, name: str, mode: str, origin: LonLat | None = None) -> str:
    """AMap route link, WGS-84 declared with ``coordinate=wgs84``.

    Parameters
    ----------
    dest, origin : (lon, lat)
        WGS-84 degrees. Without ``origin`` the app starts at the phone's position.
    name : str
        Destination name shown in the app.
    mode : {"walk", "cycle"}

    Returns
    -------
    str
        ``https://uri.amap.com/navigation?…`` (source: module docstring).
    """
    params = {}
    if origin is not None:
        params["from"] = f"{_fmt(origin[0])},{_fmt(origin[1])},{_label('起点')}"
    params |= {
        "to": f"{_fmt(dest[0])},{_fmt(dest[1])},{_label(name)}",
        "mode": {"walk": "walk", "cycle": "ride"}[mode],
        "coordinate": "wgs84",
        "callnative": "1",
        "src": SOURCE_NAME,
    }
    return "https://uri.amap.com/navigation?" + _query(params)


def baidu_url(dest: LonLat, name: str, mode: str, origin: LonLat | None = None) -> str:
    """Baidu route link, WGS-84 declared with ``coord_type=wgs84``.

    Parameters
    ----------
    dest, origin : (lon, lat)
        WGS-84 degrees (written ``lat,lng`` as Baidu wants).
    name : str
    mode : {"walk", "cycle"}

    Returns
    -------
    str
        ``https://api.map.baidu.com/direction?…`` (source: module docstring).
    """
    params = {}
    if origin is not None:
        params["origin"] = f"latlng:{_fmt(origin[1])},{_fmt(origin[0])}|name:{_label('起点')}"
    params |= {
        "destination": f"latlng:{_fmt(dest[1])},{_fmt(dest[0])}|name:{_label(name)}",
        "mode": {"walk": "walking", "cycle": "riding"}[mode],
        "coord_type": "wgs84",
        "region": "北京",
        "output": "html",
        "src": BAIDU_SRC,
    }
    return "https://api.map.baidu.com/direction?" + _query(params)


def tencent_url(dest: LonLat, name: str, mode: str, origin: LonLat | None = None) -> str:
    """Tencent route link with GCJ-02 coordinates (converted from WGS-84 here).

    Parameters
    ----------
    dest, origin : (lon, lat)
        WGS-84 degrees.
    name : str
    mode : {"walk", "cycle"}

    Returns
    -------
    str
        ``https://apis.map.qq.com/uri/v1/routeplan?…`` (source: module docstring).
    """
    params = {"type": {"walk": "walk", "cycle": "bike"}[mode]}
    if origin is not None:
        olon, olat = from_wgs84(origin[0], origin[1], Datum.GCJ02)
        params |= {"from": "起点", "fromcoord": f"{_fmt(olat)},{_fmt(olon)}"}
    dlon, dlat = from_wgs84(dest[0], dest[1], Datum.GCJ02)
    params |= {"to": _label(name), "tocoord": f"{_fmt(dlat)},{_fmt(dlon)}", "referer": SOURCE_NAME}
    return "https://apis.map.qq.com/uri/v1/routeplan?" + _query(params)


def apple_url(dest: LonLat, name: str, mode: str, origin: LonLat | None = None) -> str:
    """Apple Maps directions link with GCJ-02 coordinates (see the module docstring).

    Parameters
    ----------
    dest, origin : (lon, lat)
        WGS-84 degrees.
    name : str
        Not sent: Apple's ``daddr`` with a name would be geocoded as an address.
    mode : {"walk", "cycle"}
        Walking uses the classic ``daddr``/``dirflg=w`` link (every iOS version);
        cycling uses the unified ``/directions`` URL (iOS 18.4+), the only one with a
        cycling mode.

    Returns
    -------
    str
    """
    dlon, dlat = from_wgs84(dest[0], dest[1], Datum.GCJ02)
    dest_txt = f"{_fmt(dlat)},{_fmt(dlon)}"
    src_txt = None
    if origin is not None:
        olon, olat = from_wgs84(origin[0], origin[1], Datum.GCJ02)
        src_txt = f"{_fmt(olat)},{_fmt(olon)}"
    if mode == "walk":
        params = {"saddr": src_txt} if src_txt else {}
        params |= {"daddr": dest_txt, "dirflg": "w"}
        return "https://maps.apple.com/?" + _query(params)
    params = {"source": src_txt} if src_txt else {}
    params |= {"destination": dest_txt, "mode": "cycling"}
    return "https://maps.apple.com/directions?" + _query(params)


_BUILDERS: Final = {"amap": amap_url, "baidu": baidu_url, "tencent": tencent_url, "apple": apple_url}


def navigation_links(dest: LonLat, name: str, origin: LonLat | None = None) -> list[NavLink]:
    """Walking and cycling links for every app, in :data:`MODES` x :data:`APPS` order.

    Parameters
    ----------
    dest : (lon, lat)
        The facility, WGS-84 degrees.
    name : str
        The facility's name (any text; reserved characters are blanked).
    origin : (lon, lat), optional
        Where the route starts, WGS-84 degrees (the point the rider searched from);
        None lets each app start at the phone's own position.

    Returns
    -------
    list of NavLink
        Eight links; each URL carries coordinates in ``APP_DATUM[app]``.

    Examples
    --------
    >>> links = navigation_links((116.3376, 39.9925), "五道口")
    >>> [(link.app, link.datum.value) for link in links if link.mode == "walk"]
    [('amap', 'wgs84'), ('baidu', 'wgs84'), ('tencent', 'gcj02'), ('apple', 'gcj02')]
    """
    return [
        NavLink(app, mode, _BUILDERS[app](dest, name, mode, origin), APP_DATUM[app])
        for mode in MODES
        for app in APPS
    ]
