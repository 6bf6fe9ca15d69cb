"""Tests for locator.formats.maps: escaping, no CDN, datum shift, marker counts, size, assets."""

from __future__ import annotations

import copy
import json
import math
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from markupsafe import Markup

from locator.core.domain import KINDS, Facility, NearestHit
from locator.core.geo import Datum, from_wgs84, to_leaflet
from locator.formats import maps
from locator.formats.maps import (
    ASSETS,
    COORD_DECIMALS,
    DATA_ATTRIBUTION,
    DATA_ATTRIBUTION_ZH,
    OUTLINE_DECIMALS,
    TILE_PROVIDERS,
    MapParts,
    MarkerDetails,
    TileProvider,
    escape_text,
    nearest_map,
    overview_map,
)

pytestmark = pytest.mark.filterwarnings("error")

STATIC = Path(__file__).resolve().parent.parent / "static"

EVIL_NAME = "<img src=x onerror=alert(1)>"
EVIL_ADDRESS = '"><script>alert(2)</script>'
#: Would render "sstiprobe" if branca's Jinja pass evaluated data.
JINJA_NAME = "{{ 'ssti' ~ 'probe' }}"
#: Would break out of a JS template literal if not escaped.
TEMPLATE_LITERAL_NAME = "`${alert(3)}` \\`"

ORIGIN = (116.3376, 39.9905)
DISTRICTS: dict[str, Any] = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"name": EVIL_NAME},
            "geometry": {
                "type": "Polygon",
                "coordinates": [
                    [[116.30, 39.97], [116.37, 39.97], [116.37, 40.01], [116.30, 40.01], [116.30, 39.97]]
                ],
            },
        }
    ],
}


class RecordingAssetUrl:
    """An ``asset_url`` that records every path it is asked for."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def __call__(self, path: str) -> str:
        self.paths.append(path)
        return f"/static/{path}"


def facility(
    i: int,
    *,
    kind: str | None = None,
    name: str | None = None,
    address: str = "海淀区成府路",
    lon: float | None = None,
    lat: float | None = None,
) -> Facility:
    kinds = list(KINDS)
    return Facility(
        id=f"fac-{i}",
        kind=kind or kinds[i % len(kinds)],
        name=name or f"测试站点 {i}",
        lon=116.3376 + 0.001 * (i % 17) if lon is None else lon,
        lat=39.9925 + 0.0007 * (i % 13) if lat is None else lat,
        address=address,
        demo=True,
    )


def hits_for(facilities: list[Facility]) -> list[NearestHit]:
    return [NearestHit(f, 100.0 * (i + 1), 45.0, i + 1) for i, f in enumerate(facilities)]


def evil_facilities() -> list[Facility]:
    return [
        facility(0, name=EVIL_NAME, address=EVIL_ADDRESS),
        facility(1, name=JINJA_NAME, address=JINJA_NAME),
        facility(2, name=TEMPLATE_LITERAL_NAME, address=TEMPLATE_LITERAL_NAME),
        facility(3),
    ]


def text_of(parts: MapParts) -> str:
    return str(parts.header) + str(parts.html) + str(parts.script)


def results_data(parts: MapParts) -> dict[str, Any]:
    """The answer a results map hands to ``static/js/results-map.js`` (see ``maps.nearest_map``)."""
    m = re.search(r"window\.locatorResults\(\w+, (\{.*\})\);", str(parts.script))
    assert m, "no window.locatorResults(map, data) call in the map script"
    data: dict[str, Any] = json.loads(m.group(1))
    return data


def unescape_js(text: str) -> str:
    """Undo JSON/JS string escapes that would hide a URL from a regex."""
    text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
    return text.replace("\\/", "/")


def leaflet_pair_re(lon: float, lat: float, decimals: int = COORD_DECIMALS) -> re.Pattern[str]:
    """Regex for a Leaflet ``[lat, lon`` pair as rendered (any JSON spacing)."""
    lat_r, lon_r = to_leaflet(round(lon, decimals), round(lat, decimals))
    return re.compile(rf"\[\s*{re.escape(repr(lat_r))}\s*,\s*{re.escape(repr(lon_r))}\s*[,\]]")


def geojson_pair_re(lon: float, lat: float, decimals: int) -> re.Pattern[str]:
    """Regex for a GeoJSON ``[lon, lat]`` position as rendered."""
    lon_r, lat_r = round(lon, decimals), round(lat, decimals)
    return re.compile(rf"\[\s*{re.escape(repr(lon_r))}\s*,\s*{re.escape(repr(lat_r))}\s*\]")


def render_both(tiles: TileProvider, asset_url: RecordingAssetUrl | None = None) -> list[MapParts]:
    url = asset_url or RecordingAssetUrl()
    facilities = evil_facilities()
    return [
        nearest_map(ORIGIN, hits_for(facilities), tiles, asset_url=url),
        overview_map(facilities, DISTRICTS, tiles, asset_url=url),
    ]


# --- (a) escaping -------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["osm", "amap", "none"])
def test_data_strings_only_appear_escaped(provider: str) -> None:
    for parts in render_both(TILE_PROVIDERS[provider]):
        text = text_of(parts)
        assert EVIL_NAME not in text
        assert EVIL_ADDRESS not in text
        assert "<script>alert(2)" not in text
        assert "<img" not in text
        assert "&lt;img" in text
        # branca re-parses rendered output as Jinja: data must not be evaluated.
        assert "sstiprobe" not in text
        assert "&#123;&#123; &#39;ssti&#39;" in text
        # No way out of a JS template literal / string.
        assert "${alert" not in text
        assert "`${" not in text
        assert "&#96;&#36;&#123;alert(3)&#125;&#96;" in text


def test_nearest_popup_has_escaped_address_and_tooltip_escaped_name() -> None:
    hits = hits_for(evil_facilities())
    parts = nearest_map(ORIGIN, hits, TILE_PROVIDERS["osm"], asset_url=RecordingAssetUrl())
    script = str(parts.script)
    assert "&#34;&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in script
    tooltips = [h["tooltip"] for h in results_data(parts)["hits"]]
    assert any("&lt;img src=x onerror=alert(1)&gt;" in t for t in tooltips)
    assert not any("<img" in h["tooltip"] + h["popup"] + h["html"] for h in results_data(parts)["hits"])


def test_parts_are_markup_for_our_templates() -> None:
    for parts in render_both(TILE_PROVIDERS["osm"]):
        assert all(isinstance(p, Markup) for p in (parts.header, parts.html, parts.script))
        assert parts.script.startswith("<script>") and parts.script.endswith("</script>")
        assert parts.script.count("<script") == 1
        assert 'class="folium-map' in parts.html
        assert "<meta" not in parts.header  # our base template owns the meta tags
        assert "html, body" not in parts.header


def test_escape_text() -> None:
    assert escape_text("<a href='x'>\"&") == "&lt;a href=&#39;x&#39;&gt;&#34;&amp;"
    assert escape_text("`${x}`\\") == "&#96;&#36;&#123;x&#125;&#96;&#92;"
    assert escape_text(Markup("<b>")) == "&lt;b&gt;"
    assert escape_text("暖心驿站") == "暖心驿站"


# --- (b) no CDN, only the tile URL --------------------------------------------------


@pytest.mark.parametrize("provider", ["osm", "amap", "none"])
def test_only_tile_url_is_absolute(provider: str) -> None:
    tiles = TILE_PROVIDERS[provider]
    asset_url = RecordingAssetUrl()
    for parts in render_both(tiles, asset_url):
        text = unescape_js(text_of(parts))
        urls = set(re.findall(r"https?://[^\s\"'<>`\\]+", text))
        assert urls == ({tiles.url} if tiles.url else set())
        assert not re.search(r"(?:src|href)\s*=\s*[\"']?//", text)
        lowered = text.lower()
        for banned in (
            "jquery",
            "bootstrap",
            "font-awesome",
            "fontawesome",
            "awesome-markers",
            "awesomemarkers",
            "glyphicon",
            "jsdelivr",
            "cdnjs",
            "unpkg",
        ):
            assert banned not in lowered
        assert "$(" not in str(parts.script)
        served = {f"/static/{p}" for p in asset_url.paths}
        for link in re.findall(r"(?:src|href)=\"([^\"]+)\"", str(parts.header)):
            assert link in served


def test_attribution_credits_our_data_even_without_tiles() -> None:
    for provider in ("osm", "amap", "none"):
        for parts in render_both(TILE_PROVIDERS[provider]):  # Chinese pages: Chinese credits
            assert "addAttribution" in parts.script
            assert DATA_ATTRIBUTION_ZH in parts.script and DATA_ATTRIBUTION not in parts.script
        english = nearest_map(
            ORIGIN, [], TILE_PROVIDERS[provider], asset_url=RecordingAssetUrl(), locale="en"
        )
        assert DATA_ATTRIBUTION in english.script


def test_chinese_maps_have_a_metric_scale_and_a_tile_failure_notice() -> None:
    zh = nearest_map(ORIGIN, [], TILE_PROVIDERS["osm"], asset_url=RecordingAssetUrl(), locale="zh")
    assert 'L.control.scale({"imperial": false})' in zh.script
    assert "© OpenStreetMap 贡献者" in zh.script and "OpenStreetMap contributors" not in zh.script
    assert "tileerror" in zh.script and "底图加载失败" in zh.script
    en = nearest_map(ORIGIN, [], TILE_PROVIDERS["osm"], asset_url=RecordingAssetUrl(), locale="en")
    assert "L.control.scale({})" in en.script and "did not load" in en.script
    none = nearest_map(ORIGIN, [], TILE_PROVIDERS["none"], asset_url=RecordingAssetUrl(), locale="zh")
    assert "tileerror" not in none.script  # no tiles, nothing to fail


def test_result_markers_are_numbered_like_the_list_with_words_in_the_popup() -> None:
    facilities = evil_facilities()
    hits = hits_for(facilities)
    details = {
        h.facility.id: MarkerDetails(
            hours="<b>Open until 20:00</b>",
            hours_class="open_until",
            live="1 rider reported locked, 20 min ago",
            go_url="https://uri.amap.com/navigation?to=1,2,x&mode=walk",
            go_label="Go · AMap · Walk",
            page_url="/facility/x",
        )
        for h in hits
    }
    parts = nearest_map(ORIGIN, hits, TILE_PROVIDERS["osm"], asset_url=RecordingAssetUrl(), details=details)
    text = str(parts.script)
    drawn = re.findall(r"\\u003e(\d+)\\u003c/text\\u003e", text)  # the number drawn on each marker
    assert drawn == [str(h.rank) for h in hits]
    assert results_data(parts)["icon"]["iconSize"] == [44, 44]
    assert [h["z"] for h in results_data(parts)["hits"]] == sorted(
        (h["z"] for h in results_data(parts)["hits"]), reverse=True
    )
    assert "&lt;b&gt;Open until 20:00&lt;/b&gt;" in text and "<b>Open" not in text
    assert "1 rider reported locked, 20 min ago" in text and "locator-popup-go" in text
    none = nearest_map(ORIGIN, [], TILE_PROVIDERS["none"], asset_url=RecordingAssetUrl())
    assert "L.tileLayer" not in none.script


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)//{z}", "//tiles.example/{z}/{x}/{y}.png", "https://t.example/{{ 7*7 }}/{z}"],
)
def test_tile_provider_url_is_checked(url: str) -> None:
    with pytest.raises(ValueError):
        TileProvider("bad", url, "x", Datum.WGS84)


# --- (c) datum of displayed coordinates ---------------------------------------------


def test_amap_markers_are_gcj02() -> None:
    facilities = [facility(i) for i in range(5)]
    parts = nearest_map(ORIGIN, hits_for(facilities), TILE_PROVIDERS["amap"], asset_url=RecordingAssetUrl())
    script = str(parts.script)
    for lon, lat in [ORIGIN, *((f.lon, f.lat) for f in facilities)]:
        glon, glat = from_wgs84(lon, lat, Datum.GCJ02)
        assert leaflet_pair_re(glon, glat).search(script), (lon, lat)
        assert not leaflet_pair_re(lon, lat).search(script), (lon, lat)


def test_osm_markers_are_wgs84() -> None:
    facilities = [facility(i) for i in range(5)]
    parts = nearest_map(ORIGIN, hits_for(facilities), TILE_PROVIDERS["osm"], asset_url=RecordingAssetUrl())
    script = str(parts.script)
    for lon, lat in [ORIGIN, *((f.lon, f.lat) for f in facilities)]:
        assert leaflet_pair_re(lon, lat).search(script), (lon, lat)
        glon, glat = from_wgs84(lon, lat, Datum.GCJ02)
        assert not leaflet_pair_re(glon, glat).search(script), (lon, lat)


@pytest.mark.parametrize("provider", ["osm", "amap"])
def test_overview_points_and_outlines_follow_the_tile_datum(provider: str) -> None:
    tiles = TILE_PROVIDERS[provider]
    facilities = [facility(i) for i in range(6)]
    script = str(overview_map(facilities, DISTRICTS, tiles, asset_url=RecordingAssetUrl()).script)
    for f in facilities:
        dlon, dlat = from_wgs84(f.lon, f.lat, tiles.datum)
        assert leaflet_pair_re(dlon, dlat).search(script)
        if tiles.datum is Datum.GCJ02:
            assert not leaflet_pair_re(f.lon, f.lat).search(script)
            # the /nearest link keeps WGS-84 (lon, lat)
            assert f",{round(f.lon, COORD_DECIMALS)!r},{round(f.lat, COORD_DECIMALS)!r}]" in script
    for lon, lat in DISTRICTS["features"][0]["geometry"]["coordinates"][0]:
        dlon, dlat = from_wgs84(lon, lat, tiles.datum)
        assert geojson_pair_re(dlon, dlat, OUTLINE_DECIMALS).search(script)
        if tiles.datum is Datum.GCJ02:
            assert not geojson_pair_re(lon, lat, OUTLINE_DECIMALS).search(script)


# --- (d) one marker per hit ---------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 7])
def test_one_marker_per_hit(n: int) -> None:
    facilities = [facility(i) for i in range(n)]
    parts = nearest_map(ORIGIN, hits_for(facilities), TILE_PROVIDERS["osm"], asset_url=RecordingAssetUrl())
    text = text_of(parts)
    assert text.count("locator-marker") == n
    assert len(re.findall(r"data-facility-id=", unescape_js(text))) == n
    for f in facilities:
        assert f'data-facility-id=\\"{f.id}\\"' in text
    assert text.count("locator-origin") == 1
    data = results_data(parts)
    assert len(data["hits"]) == n and data["origin"] is not None
    # The view fits the origin and every hit: [[south, west], [north, east]] in [lat, lon].
    lats = [data["origin"]["at"][0], *(h["at"][0] for h in data["hits"])]
    lons = [data["origin"]["at"][1], *(h["at"][1] for h in data["hits"])]
    assert data["fit"] == [[min(lats), min(lons)], [max(lats), max(lons)]]


def test_nearest_without_origin_or_hits_still_renders() -> None:
    parts = nearest_map(None, [], TILE_PROVIDERS["osm"], asset_url=RecordingAssetUrl())
    assert "L.map(" in parts.script
    assert "locator-origin" not in parts.script
    assert results_data(parts) == {**results_data(parts), "origin": None, "hits": [], "fit": None}


def test_labels_follow_locale() -> None:
    f = facility(0, kind="warm_station")
    zh = nearest_map(ORIGIN, hits_for([f]), TILE_PROVIDERS["osm"], asset_url=RecordingAssetUrl(), locale="zh")
    en = nearest_map(ORIGIN, hits_for([f]), TILE_PROVIDERS["osm"], asset_url=RecordingAssetUrl(), locale="en")
    assert KINDS["warm_station"].zh in zh.script
    assert escape_text(KINDS["warm_station"].en) in en.script
    assert "100 m" in en.script
    assert "100 米" in zh.script


def test_invalid_coordinates_are_rejected() -> None:
    bad = facility(0, lon=math.nan)
    with pytest.raises(ValueError):
        nearest_map(ORIGIN, hits_for([bad]), TILE_PROVIDERS["osm"], asset_url=RecordingAssetUrl())
    with pytest.raises(ValueError):
        overview_map([bad], None, TILE_PROVIDERS["osm"], asset_url=RecordingAssetUrl())
    with pytest.raises(ValueError):
        overview_map([], {"type": "Polygon"}, TILE_PROVIDERS["osm"], asset_url=RecordingAssetUrl())


# --- (e) 10,000 facilities ----------------------------------------------------------


@pytest.mark.parametrize("provider", ["osm", "amap"])
def test_overview_of_ten_thousand_facilities_is_compact(provider: str) -> None:
    rnd = random.Random(42)
    kinds = list(KINDS)
    facilities = [
        Facility(
            id=f"s{i:05d}",
            kind=kinds[i % len(kinds)],
            name=f"北京市海淀区测试暖心驿站 {i}",
            lon=116.3376 + rnd.uniform(-0.4, 0.4),
            lat=39.9925 + rnd.uniform(-0.3, 0.3),
            demo=True,
        )
        for i in range(10_000)
    ]
    parts = overview_map(facilities, DISTRICTS, TILE_PROVIDERS[provider], asset_url=RecordingAssetUrl())
    size = sum(len(str(p).encode("utf-8")) for p in (parts.header, parts.html, parts.script))
    assert size < 3_000_000
    script = str(parts.script)
    assert len(re.findall(r'"s\d{5}"', script)) == 10_000
    assert script.count("L.markerClusterGroup(") == len(KINDS)
    assert "L.control.layers(" in script
    assert "marker-cluster" in script  # cluster icons keep markercluster's class


def test_district_outlines_are_converted_once_per_object_and_datum(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[Datum] = []
    convert = maps._outline_geojson

    def counting(districts: dict[str, Any], datum: Datum) -> tuple[dict[str, Any], list[list[float]]]:
        calls.append(datum)
        return convert(districts, datum)

    monkeypatch.setattr(maps, "_outline_geojson", counting)
    districts = copy.deepcopy(DISTRICTS)
    url = RecordingAssetUrl()
    first = overview_map([], districts, TILE_PROVIDERS["amap"], asset_url=url)
    again = overview_map([], districts, TILE_PROVIDERS["amap"], asset_url=url)
    overview_map([], districts, TILE_PROVIDERS["osm"], asset_url=url)
    overview_map([], copy.deepcopy(districts), TILE_PROVIDERS["amap"], asset_url=url)
    assert calls == [Datum.GCJ02, Datum.WGS84, Datum.GCJ02]
    outline = re.compile(r"_add\((\{.*?\})\);", re.DOTALL)
    assert outline.findall(first.script)
    assert outline.findall(first.script) == outline.findall(again.script)


# --- (f) assets ---------------------------------------------------------------------


def test_every_asset_requested_exists_under_static() -> None:
    asset_url = RecordingAssetUrl()
    render_both(TILE_PROVIDERS["osm"], asset_url)
    assert asset_url.paths
    assert set(asset_url.paths) == set(ASSETS.values())
    for path in asset_url.paths:
        assert (STATIC / path).is_file(), path


def test_vendored_packages_keep_their_licences() -> None:
    readme = (STATIC / "vendor" / "README.md").read_text(encoding="utf-8")
    for package in ("leaflet", "leaflet.markercluster"):
        assert (STATIC / "vendor" / package / "LICENSE").is_file()
    for needle in ("1.9.4", "1.5.3", "sha512-", "BSD-2-Clause", "MIT"):
        assert needle in readme


# --- (g) the city map's shell and outlines ---------------------------------------------------

CITY_URLS = {
    "clusters": "/api/v1/map/clusters",
    "facility": "/api/v1/map/facilities/__id__",
    "districts": "/api/v1/map/districts",
    "nearest": "/nearest",
    "facility_page": "/facility/__id__",
}


@pytest.mark.parametrize("provider", ["osm", "amap", "none"])
def test_city_map_is_a_shell_without_cdn(provider: str) -> None:
    tiles = TILE_PROVIDERS[provider]
    url = RecordingAssetUrl()
    parts = maps.city_map(
        DISTRICTS, tiles, asset_url=url, urls=CITY_URLS, counts={"warm_station": 12345, "union_home": 2}
    )
    text = unescape_js(text_of(parts))
    assert set(re.findall(r"https?://[^\s\"'<>`\\]+", text)) == ({tiles.url} if tiles.url else set())
    assert "markercluster" not in text.lower() and "$(" not in str(parts.script)
    served = {f"/static/{p}" for p in url.paths}
    for link in re.findall(r"(?:src|href)=\"([^\"]+)\"", str(parts.header)):
        assert link in served and (STATIC / link.removeprefix("/static/")).is_file()
    assert parts.script.count("<script") == 1 and "window.locatorCityMap" in parts.script
    assert "(12,345)" in text and "(2)" in text and "(0)" in text  # every kind has its layer
    assert f'"datum":"{tiles.datum.value}"' in str(parts.script)
    assert '"animate":false' in str(parts.script).replace(" ", "")  # no opening animation
    # the view fits the districts, in the tiles' datum
    w, s = from_wgs84(116.30, 39.97, tiles.datum)
    assert leaflet_pair_re(w, s, OUTLINE_DECIMALS).search(str(parts.script))
    assert DATA_ATTRIBUTION_ZH in parts.script  # the default locale is zh


def test_city_map_opens_a_shared_view_without_fitting() -> None:
    parts = maps.city_map(
        DISTRICTS,
        TILE_PROVIDERS["osm"],
        asset_url=RecordingAssetUrl(),
        urls=CITY_URLS,
        counts={},
        view=[39.9925, 116.3376, 15],
    )
    assert "fitBounds" not in parts.script
    assert re.search(r"center:\s*\[39\.9925,\s*116\.3376\]", str(parts.script))
    assert re.search(r'"zoom":\s*15', str(parts.script))
    # every shared view is put into one kept shell: its own centre and zoom, nothing else differs
    other = maps.city_map(
        DISTRICTS,
        TILE_PROVIDERS["osm"],
        asset_url=RecordingAssetUrl(),
        urls=CITY_URLS,
        counts={},
        view=[40.01, 116.41, 12.5],
    )
    assert re.search(r"center:\s*\[40\.01,\s*116\.41\]", str(other.script))
    assert re.search(r'"zoom":\s*12\.5,', str(other.script)) and "39.9925" not in other.script
    strip = re.compile(r"center:\s*\[[^\]]*\]|\"zoom\":\s*[0-9.]+")
    assert strip.sub("", str(other.script)) == strip.sub("", str(parts.script))
    with pytest.raises(ValueError):
        maps.city_map(
            DISTRICTS,
            TILE_PROVIDERS["osm"],
            asset_url=RecordingAssetUrl(),
            urls=CITY_URLS,
            counts={},
            view=[95, 116, 12],
        )


def test_district_lines_follow_the_datum_are_simplified_by_level_and_cached() -> None:
    districts = copy.deepcopy(DISTRICTS)
    osm = maps.district_lines(districts, Datum.WGS84, 3)
    assert maps.district_lines(districts, Datum.WGS84, 3) is osm
    gcj = maps.district_lines(districts, Datum.GCJ02, 3)
    (flat,) = osm["lines"]
    xy = np.cumsum(np.asarray(flat).reshape(-1, 2), axis=0) * osm["quantum"]
    corners = {(round(x, 5), round(y, 5)) for x, y in xy.tolist()}
    assert corners == {(116.30, 39.97), (116.37, 39.97), (116.37, 40.01), (116.30, 40.01)}
    (gflat,) = gcj["lines"]
    gxy = np.cumsum(np.asarray(gflat).reshape(-1, 2), axis=0) * gcj["quantum"]
    want = from_wgs84(float(xy[0][0]), float(xy[0][1]), Datum.GCJ02)
    assert abs(gxy[0][0] - want[0]) < 1e-5 and abs(gxy[0][1] - want[1]) < 1e-5
    assert [maps.outline_level(z) for z in (3, 8, 9, 10, 11, 12, 13, 19)] == [0, 0, 1, 1, 2, 2, 3, 3]
    with pytest.raises(ValueError):
        maps.district_lines({"type": "Polygon"}, Datum.WGS84, 0)
