"""App factory, configuration, multi-worker index sync, and the pages without a browser."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from flask import Flask

from locator.config import ConfigError, load_config
from locator.core.domain import NearestQuery
from locator.core.geo import Datum
from locator.services.facilities import LocatorService

from .conftest import make_app

HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LOCATOR_DATABASE_URL": "mysql://x"}, "LOCATOR_DATABASE_URL"),
        ({"LOCATOR_SERVICE_AREA": "/no/such/file.geojson"}, "LOCATOR_SERVICE_AREA"),
        ({"LOCATOR_TILES": "google"}, "LOCATOR_TILES"),
        ({"LOCATOR_TILES": "custom", "LOCATOR_TILE_URL": "ftp://x"}, "LOCATOR_TILE_URL"),
        ({"LOCATOR_TILES": "custom", "LOCATOR_TILE_URL": "https://t/{z}/{x}/{y}.png"}, "LOCATOR_TILE_DATUM"),
        ({"LOCATOR_INDEX_CHECK_S": "soon"}, "LOCATOR_INDEX_CHECK_S"),
        ({"LOCATOR_DB_POOL_MIN": "5", "LOCATOR_DB_POOL_MAX": "2"}, "LOCATOR_DB_POOL_MAX"),
        ({"LOCATOR_SECRET_KEY": "short"}, "LOCATOR_SECRET_KEY"),
    ],
)
def test_bad_configuration_fails_at_start_naming_the_variable(
    tmp_path: Path, env: dict, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path, env)


def test_secret_key_is_generated_once_and_private(tmp_path: Path) -> None:
    a = load_config(tmp_path, {})["SECRET_KEY"]
    b = load_config(tmp_path, {})["SECRET_KEY"]
    assert a == b and len(a) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def _within_1s(check):  # type: ignore[no-untyped-def]
    """Poll ``check()`` until it returns something truthy, for at most one second."""
    deadline = time.monotonic() + 1.0
    while True:
        got = check()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.005)


def test_two_workers_on_one_store_stay_in_step(tmp_path: Path) -> None:
    # Two app instances stand for two gunicorn workers sharing one SQLite file: each
    # follows the store in a background thread, so the other's write shows within 1 s.
    db = tmp_path / "shared.sqlite3"
    a, b = make_app(db), make_app(db)
    svc_a: LocatorService = a.extensions["locator"]
    svc_b: LocatorService = b.extensions["locator"]
    assert b.test_client().get("/api/v1/nearest?lon=116.4&lat=39.9").get_json()["features"] == []
    created = svc_a.create(
        {"kind": "warm_station", "name": "New", "lon": 116.4001, "lat": 39.9001}, Datum.WGS84
    )
    # The writer sees its own write at once; the other worker within a second.
    assert [h.facility.id for h in svc_a.nearest(NearestQuery(116.4, 39.9, k=1))] == [created.id]

    def ids_b() -> list[str]:
        feats = b.test_client().get("/api/v1/nearest?lon=116.4&lat=39.9").get_json()["features"]
        return [f["id"] for f in feats]

    assert _within_1s(ids_b) == [created.id]
    moved = svc_a.update(created.id, {"lon": 116.5, "lat": 40.0}, expected_version=1)
    assert moved.version == 2
    hit = _within_1s(
        lambda: [h for h in svc_b.nearest(NearestQuery(116.5, 40.0, k=1)) if h.distance_m < 0.01]
    )
    assert hit and hit[0].facility.id == created.id and hit[0].facility == moved
    svc_a.store.delete(created.id, expected_version=2)
    assert _within_1s(lambda: svc_b.nearest(NearestQuery(116.5, 40.0, k=1)) == [])
    for app in (a, b):
        app.extensions["locator"].close()


def test_create_assigns_district_and_subdistrict_and_converts_datum(app: Flask) -> None:
    svc: LocatorService = app.extensions["locator"]
    from locator.core.geo import wgs84_to_gcj02

    glon, glat = wgs84_to_gcj02(116.3376, 39.9925)
    f = svc.create({"kind": "warm_station", "name": "Wudaokou", "lon": glon, "lat": glat}, Datum.GCJ02)
    assert f.lon == pytest.approx(116.3376, abs=1e-7) and f.lat == pytest.approx(39.9925, abs=1e-7)
    assert (f.district_adcode, f.district_name) == ("110108", "海淀区")
    assert f.subdistrict


def test_home_page_has_the_big_button_and_area_fallback(demo_client) -> None:
    html = demo_client.get("/").get_data(as_text=True)
    assert 'id="find-nearest"' in html
    assert "海淀区" in html and 'name="area"' in html
    assert "示例 / demo" in html


def test_nearest_page_lists_results_before_the_map(demo_client) -> None:
    r = demo_client.get("/nearest?lon=116.3376&lat=39.9925&kind=warm_station")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert html.count('<li class="result') == 10
    assert html.index('id="results"') < html.index('class="map"')
    assert "uri.amap.com/navigation?" in html and "coordinate=wgs84" in html
    assert "示例 / demo" in html


def test_nearest_page_from_an_area(demo_client) -> None:
    r = demo_client.get("/nearest?area=110108&kind=warm_station")
    assert r.status_code == 302
    assert "lon=" in r.headers["Location"] and "lat=" in r.headers["Location"]
    assert demo_client.get(r.headers["Location"]).status_code == 200


def test_bad_page_input_is_a_friendly_400(demo_client) -> None:
    r = demo_client.get("/nearest?lon=abc&lat=39.9", headers={"Accept": "text/html"})
    assert r.status_code == 400
    assert r.mimetype == "text/html"
    assert "lon" in r.get_data(as_text=True)
    r = demo_client.get("/nearest?area=999999", headers={"Accept": "text/html"})
    assert r.status_code == 400


def test_unknown_page_is_a_friendly_404(demo_client) -> None:
    r = demo_client.get("/no-such-page", headers={"Accept": "text/html"})
    assert r.status_code == 404 and r.mimetype == "text/html"


def test_hostile_name_is_escaped_in_the_list(app: Flask) -> None:
    svc: LocatorService = app.extensions["locator"]
    svc.create(
        {
            "kind": "warm_station",
            "name": HOSTILE,
            "address": '"><script>alert(2)</script>',
            "lon": 116.4,
            "lat": 39.9,
            "opening_hours": "24/7",
        },
        Datum.WGS84,
    )
    html = app.test_client().get("/nearest?lon=116.4&lat=39.9").get_data(as_text=True)
    assert HOSTILE not in html
    assert "<script>alert(2)" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_english_by_accept_language_and_switch(demo_client) -> None:
    en = demo_client.get("/", headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    assert "Find the nearest open one" in en
    zh = demo_client.get("/").get_data(as_text=True)
    assert "查找最近" in zh
    assert "Find the nearest open one" in demo_client.get("/?lang=en").get_data(as_text=True)


def test_city_map_page(demo_client) -> None:
    r = demo_client.get("/map")
    assert r.status_code == 200
