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
