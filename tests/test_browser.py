"""Pages in a real headless Chromium (Debian's), phone-sized, offline from the world."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask import Flask

from .conftest import ARTIFACTS, LiveServer, PageWatch, make_app

pytestmark = pytest.mark.browser


def _server(tmp_path: Path, demo_db: Path, **config: object) -> Iterator[LiveServer]:
    path = tmp_path / "demo.sqlite3"
    shutil.copy(demo_db, path)
    app: Flask = make_app(path, **config)
    server = LiveServer(app)
    yield server
    server.stop()
    app.extensions["locator"].store.close()


@pytest.fixture
def no_tiles_server(tmp_path: Path, demo_db: Path) -> Iterator[LiveServer]:
    yield from _server(tmp_path, demo_db, LOCATOR_TILES="none")


@pytest.fixture
def osm_server(tmp_path: Path, demo_db: Path) -> Iterator[LiveServer]:
    yield from _server(tmp_path, demo_db, LOCATOR_TILES="osm")


def test_nearest_shows_list_and_markers_without_errors(phone, no_tiles_server: LiveServer) -> None:
    page = phone.new_page()
    watch = PageWatch(page)
    page.goto(no_tiles_server.url + "/nearest?lon=116.3376&lat=39.9925&kind=warm_station")
    items = page.locator("#results li.result")
    assert items.count() == 10
    assert items.first.locator(".name").is_visible()
    page.wait_for_selector(".leaflet-container .locator-marker", state="attached")
    markers = page.locator(".leaflet-marker-pane .locator-marker")
    assert markers.count() >= 10
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "nearest-phone.png"), full_page=True)
    assert watch.console_errors == []
    assert watch.foreign_requests() == []
    assert phone.blocked == []


def test_home_button_uses_geolocation_and_lands_on_results(phone, no_tiles_server: LiveServer) -> None:
    page = phone.new_page()
    watch = PageWatch(page)
    page.goto(no_tiles_server.url + "/")
    page.tap("#find-nearest")
    page.wait_for_url("**/nearest?**")
    assert "lon=116.337600" in page.url and "lat=39.992500" in page.url
    assert page.locator("#results li.result").count() > 0
    assert watch.console_errors == []
    assert watch.foreign_requests() == []


def test_only_the_tile_server_is_contacted(phone, osm_server: LiveServer) -> None:
    page = phone.new_page()
    page.goto(osm_server.url + "/nearest?lon=116.3376&lat=39.9925")
    page.wait_for_selector(".leaflet-container .locator-marker", state="attached")
    page.wait_for_timeout(300)
    hosts = {urlsplit(u).hostname for u in phone.blocked}
    assert hosts <= {"tile.openstreetmap.org"}, hosts


def test_city_map_renders_clusters(phone, no_tiles_server: LiveServer) -> None:
    page = phone.new_page()
    watch = PageWatch(page)
    page.goto(no_tiles_server.url + "/map")
    page.wait_for_selector(".marker-cluster", state="attached", timeout=15000)
    assert page.locator(".marker-cluster").count() > 0
    page.screenshot(path=str(ARTIFACTS / "map-phone.png"))
    assert watch.console_errors == []
    assert watch.foreign_requests() == []


HOSTILE = "<img src=x onerror=alert(1)>{{7*7}}"


@pytest.fixture
def hostile_server(tmp_path: Path, demo_db: Path) -> Iterator[LiveServer]:
    """The demo layer (no tiles) plus a facility whose name and address are markup."""
    from locator.core.geo import Datum

    path = tmp_path / "demo.sqlite3"
    shutil.copy(demo_db, path)
    app: Flask = make_app(path, LOCATOR_TILES="none")
    app.extensions["locator"].create(
        {
            "id": "hostile-1",
            "kind": "nursing_room",
            "name": HOSTILE,
            "address": HOSTILE,
            "lon": 116.35010,
            "lat": 40.01020,
        },
        Datum.WGS84,
    )
    server = LiveServer(app)
    yield server
    server.stop()
    app.extensions["locator"].store.close()


def _map_state(page, what: str):  # type: ignore[no-untyped-def]
    return page.evaluate(f"document.querySelector('.folium-map').dataset.{what} || ''")


def _wait_ready(page, zoom: int) -> None:  # type: ignore[no-untyped-def]
    for _ in range(150):
        if _map_state(page, "state") == "ready" and _map_state(page, "zoom") == str(zoom):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"the map did not load zoom {zoom}: {_map_state(page, 'state')}")


def test_city_map_clusters_zoom_to_markers_and_popups(phone, hostile_server: LiveServer) -> None:
    page = phone.new_page()
    watch = PageWatch(page)
    page.goto(hostile_server.url + "/map")
    page.wait_for_selector(".marker-cluster", state="attached", timeout=15000)
    start = int(page.evaluate("window.locatorCityMap.map.getZoom()"))
    _wait_ready(page, start)
    # per-kind clusters, in their kinds' colours, with counts
    fills = page.evaluate(
        "Array.from(document.querySelectorAll('.marker-cluster svg circle:nth-child(2)'))"
        ".map(c => c.getAttribute('fill'))"
    )
    assert {"#c2410c", "#1864ab", "#a61e4d"} <= set(fills)
    counts = page.evaluate(
        "Array.from(document.querySelectorAll('.marker-cluster text')).map(t => t.textContent)"
    )
    assert all(c.rstrip("kM").replace(".", "").isdigit() for c in counts) and counts
    # district outlines are drawn (canvas renderer: a path in the overlay pane's canvas)
    assert page.locator(".leaflet-overlay-pane canvas").count() == 1
    # tapping a cluster zooms in
    page.locator(".folium-map").scroll_into_view_if_needed()
    pick = """(() => { const box = document.querySelector('.folium-map').getBoundingClientRect();
        for (const el of document.querySelectorAll(SEL)) { const r = el.getBoundingClientRect();
          if (r.top > box.top + 70 && r.bottom < box.bottom - 40 && r.left > box.left + 60 &&
              r.right < box.right - 60) { return [r.left + r.width / 2, r.top + r.height / 2]; } }
        return null; })()"""
    at = page.evaluate(pick.replace("SEL", "'.marker-cluster'"))
    assert at is not None
    page.mouse.click(at[0], at[1])
    _wait_ready(page, start + 2)
    # zoomed in far enough, facilities come one by one, with their kinds
    page.evaluate("window.locatorCityMap.map.setView([40.01020, 116.35010], 18, {animate: false})")
    _wait_ready(page, 18)
    assert page.locator(".marker-cluster").count() == 0
    markers = page.locator(".locator-marker[data-facility-id]")
    assert markers.count() >= 1
    hostile = page.locator('.locator-marker[data-facility-id="hostile-1"]')
    assert hostile.count() == 1 and hostile.get_attribute("data-kind") == "nursing_room"
    # a tap fetches the popup; the hostile text shows as text, never as markup
    box = hostile.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    name = page.locator(".leaflet-popup-content .locator-popup-name")
    name.wait_for(timeout=5000)
    assert name.inner_text() == HOSTILE
    assert page.locator(".leaflet-popup-content img").count() == 0
    assert page.locator(".leaflet-popup-content .locator-popup-address").inner_text() == HOSTILE
    link = page.locator(".leaflet-popup-content a.locator-popup-link").first.get_attribute("href")
    assert link == "/nearest?lon=116.350100&lat=40.010200"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "city-map-popup-phone.png"))
    assert watch.console_errors == []
    assert watch.foreign_requests() == []
    assert phone.blocked == []
    # every request the map made for data was small and named a bounded viewport
    data = [u for u in watch.requests if "/api/v1/map/" in u]
    assert any("/clusters?" in u for u in data) and any("/facilities/hostile-1" in u for u in data)
