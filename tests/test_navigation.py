"""Navigation links: every generated link, decoded as its app would, lands within 5 m of the door."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from locator.core.geo import Datum, geodesic_distance_m, to_wgs84
from locator.core.navigation import APP_DATUM, APPS, MODES, navigation_links

WUDAOKOU = (116.3376, 39.9925)
TOLERANCE_M = 5.0


def _params(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    assert parts.scheme == "https"
    return {k: v[0] for k, v in parse_qs(parts.query, strict_parsing=True).items()}


def decode(url: str) -> tuple[str, str, tuple[float, float], tuple[float, float] | None]:
    """(app, mode, destination, origin) in WGS-84, read the way each app documents its URL."""
    host = urlsplit(url).hostname
    p = _params(url)

    def lonlat(text: str) -> tuple[float, float]:
        lon, lat = text.split(",")[:2]
        return float(lon), float(lat)

    def latlon(text: str) -> tuple[float, float]:
        lat, lon = text.split(",")[:2]
        return float(lon), float(lat)

    if host == "uri.amap.com":
        datum = Datum.WGS84 if p["coordinate"] == "wgs84" else Datum.GCJ02  # "gaode" is GCJ-02
        mode = {"walk": "walk", "ride": "cycle"}[p["mode"]]
        dest, origin = lonlat(p["to"]), (lonlat(p["from"]) if "from" in p else None)
        app = "amap"
    elif host == "api.map.baidu.com":
        datums = {"wgs84": Datum.WGS84, "gcj02": Datum.GCJ02, "bd09ll": Datum.BD09}
        datum = datums[p.get("coord_type", "bd09ll")]
        mode = {"walking": "walk", "riding": "cycle"}[p["mode"]]
        assert p["src"].startswith("webapp.")

        def baidu(text: str) -> tuple[float, float]:
            fields = dict(f.split(":", 1) for f in text.split("|"))
            return latlon(fields["latlng"])

        dest, origin = baidu(p["destination"]), (baidu(p["origin"]) if "origin" in p else None)
        app = "baidu"
    elif host == "apis.map.qq.com":
        datum = Datum.GCJ02  # Tencent's URI API takes only its own (GCJ-02) coordinates
        mode = {"walk": "walk", "bike": "cycle"}[p["type"]]
        assert p["referer"]
        dest, origin = latlon(p["tocoord"]), (latlon(p["fromcoord"]) if "fromcoord" in p else None)
        app = "tencent"
    elif host == "maps.apple.com":
        datum = Datum.GCJ02  # our documented choice for Apple Maps in mainland China
        if urlsplit(url).path == "/directions":
            mode = {"walking": "walk", "cycling": "cycle"}[p["mode"]]
            dest, origin = latlon(p["destination"]), (latlon(p["source"]) if "source" in p else None)
        else:
            mode = {"w": "walk"}[p["dirflg"]]
            dest, origin = latlon(p["daddr"]), (latlon(p["saddr"]) if "saddr" in p else None)
        app = "apple"
    else:  # pragma: no cover - a new app must be taught to this decoder
        raise AssertionError(f"unknown navigation host {host}")
    back = to_wgs84(*dest, datum)
    return app, mode, back, (to_wgs84(*origin, datum) if origin else None)


def _check(dest: tuple[float, float], origin: tuple[float, float] | None, name: str = "驿站") -> None:
    links = navigation_links(dest, name, origin)
    seen = set()
    for link in links:
        app, mode, got, got_origin = decode(link.url)
        assert (app, mode) == (link.app, link.mode)
        assert link.datum is APP_DATUM[app]
        assert geodesic_distance_m(*got, *dest) < TOLERANCE_M, (link.url, got, dest)
        if origin is None:
            assert got_origin is None
        else:
            assert got_origin is not None and geodesic_distance_m(*got_origin, *origin) < TOLERANCE_M
        seen.add((app, mode))
    assert seen == {(a, m) for a in APPS for m in MODES}


def test_every_link_decodes_to_the_facility_within_5_m() -> None:
    _check(WUDAOKOU, None)
    _check(WUDAOKOU, (116.3400, 39.9900))


@settings(max_examples=300, deadline=None)
@given(
    lon=st.floats(115.42, 117.51),
    lat=st.floats(39.44, 41.06),
    olon=st.floats(115.42, 117.51),
    olat=st.floats(39.44, 41.06),
    with_origin=st.booleans(),
    name=st.text(max_size=30),
)
def test_links_round_trip_anywhere_in_beijing(lon, lat, olon, olat, with_origin, name) -> None:
    _check((lon, lat), (olon, olat) if with_origin else None, name)


def test_gcj02_apps_really_are_shifted() -> None:
    # Without the shift, Tencent/Apple would put the pin ~500 m off in Beijing.
    links = {(link.app, link.mode): link.url for link in navigation_links(WUDAOKOU, "x")}
    p = _params(links[("tencent", "walk")])
    lat, lon = map(float, p["tocoord"].split(","))
    assert 300 < geodesic_distance_m(lon, lat, *WUDAOKOU) < 700


@pytest.mark.parametrize("name", ["a|b:c,d", "<script>", "名字 with spaces", ""])
def test_names_cannot_break_the_link_syntax(name: str) -> None:
    _check(WUDAOKOU, (116.34, 39.99), name)
