"""Place search without an online geocoder: districts, subdistricts, subway, facilities."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from shapely.geometry import Point

from locator.core.areas import load_districts, load_subdistricts
from locator.core.geo import Datum, geodesic_distance_m, to_wgs84
from locator.core.places import PlaceIndex, area_places, load_subway, normalize, query_keys
from locator.services.facilities import LocatorService

HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def index() -> PlaceIndex:
    return PlaceIndex([*area_places(load_districts(), load_subdistricts()), *load_subway()])


def top(index: PlaceIndex, q: str, n: int = 1) -> list[tuple[str, str]]:
    return [(m.place.kind, m.place.name) for m in index.search(q, limit=n)]


@pytest.mark.parametrize(
    ("q", "kind", "name"),
    [
        ("五道口", "subway_station", "五道口"),
        ("五道口站", "subway_station", "五道口"),  # 站 suffix
        ("五道口地铁站", "subway_station", "五道口"),
        ("Wudaokou", "subway_station", "五道口"),  # pinyin / English from OSM name:en
        ("ｗｕｄａｏｋｏｕ", "subway_station", "五道口"),  # full-width
        ("五道口A口", "subway_entrance", "五道口 A口"),
        ("五道口 a", "subway_entrance", "五道口 A口"),  # 口 suffix optional, case and space folded
        ("五道口Ａ", "subway_entrance", "五道口 A口"),
        ("haidian", "district", "海淀区"),  # district pinyin
        ("Haidian District", "district", "海淀区"),
        ("海淀区", "district", "海淀区"),
        ("海淀", "district", "海淀区"),  # without 区
        ("学院路", "subdistrict", "学院路街道"),  # without 街道
        ("学院路街道", "subdistrict", "学院路街道"),
        ("中关村", "subway_station", "中关村"),  # the whole name beats 中关村街道 without 街道
        ("中关村街道", "subdistrict", "中关村街道"),
        ("北京南站", "subway_station", "北京南站"),
        ("西直", "subway_station", "西直门"),  # prefix
    ],
)
def test_search_finds_the_place(index: PlaceIndex, q: str, kind: str, name: str) -> None:
    assert top(index, q) == [(kind, name)]


def test_substring_and_limit(index: PlaceIndex) -> None:
    hits = index.search("直门", limit=5)
    assert len(hits) == 5 and all("直门" in m.place.name for m in hits)
    assert [m.score for m in hits] == sorted((m.score for m in hits), reverse=True)


def test_no_match_and_bad_queries(index: PlaceIndex) -> None:
    assert index.search("<script>") == []
    from locator.errors import ValidationError

    for bad in ("", "   ", "·-·", "x" * 101):
        with pytest.raises(ValidationError):
            index.search(bad)


def test_area_points_lie_inside_their_area() -> None:
    districts, subs = load_districts(), load_subdistricts()
    shapes = {a.code: a.geometry for a in [*districts.areas, *subs.areas]}
    for p in area_places(districts, subs):
        assert shapes[p.id].covers(Point(p.lon, p.lat)), p


def test_normalize_and_query_keys() -> None:
    assert normalize("ＡＢＣ　１２３") == "abc123"
    assert query_keys("东直门站") == ["东直门站", "东直门"]


def test_facilities_by_name_and_address(demo_app: Flask) -> None:
    c = demo_app.test_client()
    feats = c.get("/api/v1/places?q=颐和园&kind=facility").get_json()["features"]
    assert feats and all("颐和园" in f["properties"]["name"] for f in feats)
    svc: LocatorService = demo_app.extensions["locator"]
    f = svc.index.facilities()[0]
    # An address fragment alone (the street part after the subdistrict) finds it.
    frag = f.address.split()[-1][:6]
    hits = c.get("/api/v1/places", query_string={"q": frag, "kind": "facility", "limit": 50}).get_json()
    assert f.id in {h["properties"]["id"] for h in hits["features"]}


def test_api_places(demo_client) -> None:
    r = demo_client.get("/api/v1/places?q=五道口&limit=3")
    assert r.status_code == 200 and r.mimetype == "application/geo+json"
    body = r.get_json()
    assert body["type"] == "FeatureCollection" and body["numberReturned"] == 3
    first = body["features"][0]
    assert first["properties"]["kind"] == "subway_station" and first["properties"]["name_en"] == "Wudaokou"
    lon, lat = first["geometry"]["coordinates"]
    assert geodesic_distance_m(lon, lat, 116.3376, 39.9925) < 800
    gcj = demo_client.get("/api/v1/places?q=五道口&limit=1&datum=gcj02").get_json()
    assert gcj["coordinate_datum"] == "gcj02"
    back = to_wgs84(*gcj["features"][0]["geometry"]["coordinates"], Datum.GCJ02)
    assert geodesic_distance_m(*back, lon, lat) < 0.05


@pytest.mark.parametrize(
    ("qs", "param"),
    [
        ("", "q"),
        ("q=", "q"),
        ("q=%20%20", "q"),
        ("q=" + "x" * 101, "q"),
        ("q=a&limit=0", "limit"),
        ("q=a&limit=51", "limit"),
        ("q=a&kind=planet", "kind"),
        ("q=a&datum=utm", "datum"),
    ],
)
def test_api_places_bad_input_is_400(demo_client, qs: str, param: str) -> None:
    r = demo_client.get("/api/v1/places?" + qs)
    assert r.status_code == 400 and r.mimetype == "application/problem+json"
    assert r.get_json()["param"] == param


def test_search_page_works_without_javascript(demo_client) -> None:
    r = demo_client.get("/places?q=五道口&kind=nursing_room&amenity=fridge&open_now=false")
    html = r.get_data(as_text=True)
    links = re.findall(r'<li class="place"><a href="([^"]+)"', html)
    assert links, html
    url = links[0].replace("&amp;", "&")
    qs = parse_qs(urlsplit(url).query)
    assert urlsplit(url).path == "/nearest" and qs["from"] == ["五道口"]
    assert qs["kind"] == ["nursing_room"] and qs["amenity"] == ["fridge"] and qs["open_now"] == ["false"]
    assert demo_client.get(url).status_code == 200
    # the search box is on the start page, as a plain GET form
    home = demo_client.get("/").get_data(as_text=True)
    assert re.search(r'<form class="place-search" action="/places" method="get"', home)


def test_search_page_escapes_names(app: Flask) -> None:
    svc: LocatorService = app.extensions["locator"]
    svc.create({"kind": "warm_station", "name": HOSTILE, "lon": 116.4, "lat": 39.9}, Datum.WGS84)
    html = app.test_client().get("/places?q=img").get_data(as_text=True)
    assert HOSTILE not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
