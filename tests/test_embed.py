"""The embed without a browser: framing headers, no cookies, parameters, escaping, snippets."""

from __future__ import annotations

import html
import re

import pytest
from flask import Flask, session
from flask.testing import FlaskClient

from locator.core.geo import Datum
from locator.formats.embed import snippet
from locator.http.blueprints.embed import CITY_CENTRE
from locator.services.facilities import LocatorService
from locator.services.partners import PartnerService

ORIGIN = "http://127.0.0.1:8081"
HOSTILE = "<img src=x onerror=alert(1)>"


def partners(app: Flask) -> PartnerService:
    p: PartnerService = app.extensions["locator.partners"]
    return p


def csp(r) -> str:  # type: ignore[no-untyped-def]
    """The ``frame-ancestors`` directive of the response's policy."""
    return next(d.strip() for d in r.headers["Content-Security-Policy"].split(";") if "frame-ancestors" in d)


def test_embed_may_be_framed_only_by_the_partners_origins(demo_app: Flask) -> None:
    partners(demo_app).add("acme", [ORIGIN, "https://acme.example"])
    client = demo_app.test_client()
    r = client.get("/embed/map?partner=acme")
    assert r.status_code == 200
    assert csp(r) == "frame-ancestors 'self' http://127.0.0.1:8081 https://acme.example"
    assert "X-Frame-Options" not in r.headers
    bare = client.get("/embed/map")
    assert bare.status_code == 200 and csp(bare) == "frame-ancestors 'self'"


@pytest.mark.parametrize("name", ["nobody", "gone"])
def test_unknown_or_revoked_partner_is_a_404_nobody_may_frame(demo_app: Flask, name: str) -> None:
    partners(demo_app).add("gone", [ORIGIN])
    partners(demo_app).revoke("gone")
    r = demo_app.test_client().get(f"/embed/map?partner={name}")
    assert r.status_code == 404 and r.mimetype == "text/html"
    assert csp(r) == "frame-ancestors 'none'" and r.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/nearest?lon=116.3376&lat=39.9925",
        "/map",
        "/embed",
        "/api/v1/nearest?lon=116.3&lat=39.9",
        "/ogc/",
        "/ogc/collections?f=html",
        "/api/docs",
        "/api/openapi.json",
        "/static/css/app.css",
        "/no-such-page",
    ],
)
def test_every_other_response_refuses_framing(demo_client: FlaskClient, url: str) -> None:
    r = demo_client.get(url)
    assert csp(r) == "frame-ancestors 'none'", url
    assert r.headers["X-Frame-Options"] == "DENY"


def test_an_existing_policy_is_extended_not_replaced(demo_app: Flask) -> None:
    @demo_app.after_request
    def _policy(resp):  # type: ignore[no-untyped-def]  # runs before ours (registered later)
        resp.headers["Content-Security-Policy"] = "default-src 'self'"
        return resp

    r = demo_app.test_client().get("/")
    assert r.headers["Content-Security-Policy"] == "default-src 'self'; frame-ancestors 'none'"


def test_embed_sets_no_cookie_even_when_the_session_is_touched(demo_app: Flask) -> None:
    @demo_app.before_request
    def _touch() -> None:
        session["seen"] = True

    client = demo_app.test_client()
    assert "Set-Cookie" in client.get("/").headers  # the hook does set a cookie elsewhere
    client = demo_app.test_client()
    r = client.get("/embed/map?lon=116.3376&lat=39.9925")
    assert r.status_code == 200
    assert "Set-Cookie" not in r.headers
    assert client.get_cookie("session") is None


def test_embed_content(demo_app: Flask) -> None:
    partners(demo_app).add("acme", [ORIGIN])
    r = demo_app.test_client().get(
        "/embed/map?partner=acme&kind=nursing_room&lon=116.3376&lat=39.9925&zoom=14"
    )
    page = r.get_data(as_text=True)
    items = re.findall(r'<li class="result" data-facility-id="([^"]+)"', page)
    assert len(items) == 5
    svc: LocatorService = demo_app.extensions["locator"]
    for fid in items:
        assert svc.get(fid).kind == "nursing_room"
    assert 'class="bar"' not in page and "demo-banner" not in page  # no site chrome
    assert 'id="find-nearest"' in page
    assert "https://www.openstreetmap.org/copyright" in page and "ODbL" in page
    assert "示例 / demo" in page
    full = html.unescape(re.search(r'class="full-site" href="([^"]+)"', page).group(1))  # type: ignore[union-attr]
    assert full.startswith("/nearest?") and "kind=nursing_room" in full  # never from Host
    assert "lon=116.3376" in full and "lat=39.9925" in full
    assert '<input type="hidden" name="partner" value="acme">' in page
    assert '<input type="hidden" name="zoom" value="14">' in page
    # The map opens at the zoom asked for, centred on the position, with nothing to fit.
    assert '"zoom": 14,' in page and "center: [39.9925, 116.3376]" in page and '"fit":null' in page


def test_embed_without_a_position_searches_from_the_centre(demo_client: FlaskClient) -> None:
    page = demo_client.get("/embed/map?lang=en").get_data(as_text=True)
    assert "Showing places near the city centre" in page
    assert f'"origin":{{"at":[{CITY_CENTRE[1]},{CITY_CENTRE[0]}]' in page  # the origin marker, [lat, lon]
    assert len(re.findall(r'<li class="result"', page)) == 5
    zh = demo_client.get("/embed/map?lang=zh").get_data(as_text=True)
    assert "查找最近" in zh and "市中心" in zh


def test_embed_escapes_data(app: Flask) -> None:
    svc: LocatorService = app.extensions["locator"]
    svc.create(
        {
            "kind": "warm_station",
            "name": HOSTILE,
            "address": "<script>x()</script>",
            "lon": CITY_CENTRE[0],
            "lat": CITY_CENTRE[1],
        },
        Datum.WGS84,
    )
    page = app.test_client().get("/embed/map?open_now=false").get_data(as_text=True)
    assert HOSTILE not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<script>x()" not in page


@pytest.mark.parametrize(
    "query",
    [
        "zoom=25",
        "zoom=x",
        "lon=116.3",
        "lat=39.9",
        "lon=abc&lat=39.9",
        "kind=cafe",
        "amenity=spa",
        "partner=Bad_Name",
        "lon=200&lat=39.9",
    ],
)
def test_bad_embed_parameters_get_a_friendly_page(demo_client: FlaskClient, query: str) -> None:
    r = demo_client.get("/embed/map?" + query)
    assert r.status_code in {400, 404}
    assert r.mimetype == "text/html"


def test_snippet_is_escaped_and_carries_geolocation() -> None:
    s = snippet('https://x.example/"><script>alert(1)</script>', "acme", kind="warm_station")
    assert "<script>" not in s and "&#34;&gt;&lt;script&gt;" in s
    assert 'allow="geolocation"' in s
    assert s.startswith('<iframe src="https://x.example/&#34;&gt;')


def test_embed_docs_page_generates_the_snippet(demo_app: Flask) -> None:
    partners(demo_app).add("acme", [ORIGIN])
    client = demo_app.test_client()
    page = client.get("/embed?partner=acme&kind=warm_station&lang=en").get_data(as_text=True)
    code = html.unescape(re.search(r'<code id="snippet">(.*?)</code>', page, re.S).group(1))  # type: ignore[union-attr]
    assert code == snippet("https://LOCATOR_PUBLIC_URL", "acme", kind="warm_station", lang="en")
    assert "LOCATOR_PUBLIC_URL" in page and "localhost" not in code
    assert ORIGIN in page and "no active partner" not in page
    unknown = client.get("/embed?partner=someone&lang=en").get_data(as_text=True)
    assert "There is no active partner with this name" in unknown
    assert client.get("/embed?partner=Not%20A%20Name").status_code == 400


def test_public_url_setting_is_used_in_snippets(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from .conftest import make_app

    app = make_app(tmp_path / "u.sqlite3", LOCATOR_PUBLIC_URL="https://map.example.cn/")
    page = app.test_client().get("/embed?partner=acme").get_data(as_text=True)
    assert "https://map.example.cn/embed/map?partner=acme" in html.unescape(page)
    app.extensions["locator"].store.close()
