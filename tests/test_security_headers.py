"""Security headers on every page type (locator.http.security)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from .conftest import make_app
from .manage_support import login, make_user, manage_app

FACILITY = "demo-osm-node-5448567458"
WUDAOKOU = "lon=116.3376&lat=39.9925"

#: One URL per kind of response the app serves to anonymous clients.
ANONYMOUS = [
    "/",
    f"/nearest?{WUDAOKOU}",
    f"/lite?{WUDAOKOU}",
    "/map",
    f"/facility/{FACILITY}",
    "/places?q=五道口",
    f"/embed/map?{WUDAOKOU}",
    "/embed",
    f"/api/v1/nearest?{WUDAOKOU}",
    f"/api/v1/facilities/{FACILITY}",
    "/api/v1/nearest?lon=oops&lat=1",  # a problem document
    "/api/openapi.json",
    "/api/docs",
    "/ogc",
    "/ogc/collections?f=html",
    "/sw.js",
    "/manifest.webmanifest",
    "/static/css/app.css",
    "/login",
    "/no-such-page",
]


def directives(resp) -> dict[str, str]:  # type: ignore[no-untyped-def]
    policy = resp.headers["Content-Security-Policy"]
    out = {}
    for part in policy.split(";"):
        name, _, value = part.strip().partition(" ")
        out[name] = value
    return out


@pytest.mark.parametrize("url", ANONYMOUS)
def test_every_response_carries_the_security_headers(demo_client: FlaskClient, url: str) -> None:
    r = demo_client.get(url)
    assert r.status_code in {200, 400, 404}, url
    csp = directives(r)
    script = csp["script-src"].split()
    assert script[0] == "'self'"
    assert "'unsafe-inline'" not in script and "'unsafe-eval'" not in script
    assert all(s.startswith("'nonce-") for s in script[1:]), script
    assert csp["object-src"] == "'none'" and csp["base-uri"] == "'self'"
    assert "frame-ancestors" in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "Strict-Transport-Security" not in r.headers  # plain HTTP by default


def test_a_map_page_allows_exactly_its_own_inline_script(demo_client: FlaskClient) -> None:
    r = demo_client.get(f"/nearest?{WUDAOKOU}")
    nonce = directives(r)["script-src"].split()[1][len("'nonce-") : -1]
    html = r.get_data(as_text=True)
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", html)
    assert inline, "the map script is inline"
    assert all(f'nonce="{nonce}"' in attrs for attrs in inline)
    assert (
        demo_client.get(f"/nearest?{WUDAOKOU}").headers["Content-Security-Policy"]
        != r.headers["Content-Security-Policy"]
    )  # a fresh nonce per response


def test_pages_without_inline_script_get_no_nonce(demo_client: FlaskClient) -> None:
    assert directives(demo_client.get("/"))["script-src"] == "'self'"


def test_images_only_from_the_configured_tile_server(tmp_path: Path, demo_db: Path) -> None:
    shutil.copy(demo_db, tmp_path / "d.sqlite3")
    app = make_app(tmp_path / "d.sqlite3", LOCATOR_TILES="amap")
    try:
        img = directives(app.test_client().get("/map"))["img-src"].split()
        assert img == ["'self'", "data:", "blob:", "https://*.is.autonavi.com"]
    finally:
        app.extensions["locator"].store.close()


def test_hsts_only_behind_https(tmp_path: Path, demo_db: Path) -> None:
    shutil.copy(demo_db, tmp_path / "d.sqlite3")
    app = make_app(tmp_path / "d.sqlite3", LOCATOR_HTTPS="true")
    try:
        r = app.test_client().get("/")
        assert r.headers["Strict-Transport-Security"] == "max-age=31536000"
    finally:
        app.extensions["locator"].store.close()


@pytest.fixture
def manager(tmp_path: Path, demo_db: Path) -> Flask:
    shutil.copy(demo_db, tmp_path / "d.sqlite3")
    app = manage_app(tmp_path / "d.sqlite3")
    make_user(app, "hd", "admin")
    yield app
    app.extensions["locator"].store.close()


@pytest.mark.parametrize(
    "url",
    ["/manage", "/manage/reports", "/manage/stale", "/manage/bulk", f"/manage/f/{FACILITY}/history", "/"],
)
def test_authenticated_pages_are_private_and_never_stored(manager: Flask, url: str) -> None:
    client = manager.test_client()
    assert login(client, "hd").status_code == 303
    r = client.get(url)
    assert r.status_code == 200, url
    assert r.headers["Cache-Control"] == "private, no-store", url


def test_anonymous_rider_pages_stay_cacheable_by_their_own_rules(demo_client: FlaskClient) -> None:
    assert "private" not in demo_client.get(f"/api/v1/nearest?{WUDAOKOU}").headers["Cache-Control"]
    assert demo_client.get("/").headers.get("Cache-Control") is None
