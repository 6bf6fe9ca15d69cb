"""Lite mode: text-only results, no JavaScript, <= 15 KB on the wire (HTML + CSS, gzip)."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest
from flask import Flask

from locator.core.geo import Datum
from locator.services.facilities import LocatorService

ROOT = Path(__file__).resolve().parent.parent
BUDGET = 15 * 1024
WUDAOKOU = "lon=116.3376&lat=39.9925"


def _css_href(html: str) -> str:
    hrefs = re.findall(r'<link rel="stylesheet" href="([^"]+)"', html)
    assert hrefs == ["/static/css/lite.css"], hrefs
    return hrefs[0]


@pytest.mark.parametrize(
    "qs",
    [
        f"{WUDAOKOU}&open_now=false",
        f"{WUDAOKOU}&open_now=false&lang=en",
        f"{WUDAOKOU}&open_now=false&limit=50",  # the longest list the page allows
        "",  # no position: place search and the district list
        "area=110108",
    ],
)
def test_lite_page_fits_the_budget_gzip_level_6(demo_client, qs: str) -> None:
    r = demo_client.get("/lite?" + qs)
    assert r.status_code == 200
    html = r.get_data()
    css = demo_client.get(_css_href(html.decode())).get_data()
    wire = len(gzip.compress(html, 6)) + len(gzip.compress(css, 6))
    assert wire <= BUDGET, f"{wire} bytes > {BUDGET}"


def test_lite_page_is_sent_compressed(demo_client) -> None:
    # A real request that accepts gzip gets gzip (Flask-Compress), within the budget.
    r = demo_client.get(f"/lite?{WUDAOKOU}&open_now=false", headers={"Accept-Encoding": "gzip"})
    assert r.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in r.headers["Vary"]
    html = gzip.decompress(r.get_data())
    css = demo_client.get(_css_href(html.decode()), headers={"Accept-Encoding": "gzip"})
    assert css.headers["Content-Encoding"] == "gzip"
    assert len(r.get_data()) + len(css.get_data()) <= BUDGET
    assert b'<ol id="results">' in html


def test_lite_page_is_text_only(demo_client) -> None:
    html = demo_client.get(f"/lite?{WUDAOKOU}").get_data(as_text=True)
    assert "<script" not in html and "<img" not in html and "<iframe" not in html
    assert html.count("data-facility-id=") == 10
    assert "uri.amap.com/navigation?" in html and "apis.map.qq.com" in html
    assert "示例" in html  # the demo mark


def test_lite_page_without_position_offers_search_and_districts(demo_client) -> None:
    html = demo_client.get("/lite").get_data(as_text=True)
    assert 'action="/places"' in html and 'name="lite" value="1"' in html
    assert 'name="area"' in html and "海淀区" in html
    r = demo_client.get("/places?q=五道口&lite=1")
    assert "/lite?" in r.get_data(as_text=True)
    area = demo_client.get("/lite?area=110108").get_data(as_text=True)
    assert area.count("data-facility-id=") == 10 and "海淀区" in area


def test_every_results_page_links_to_lite(demo_client) -> None:
    html = demo_client.get(f"/nearest?{WUDAOKOU}&kind=union_home").get_data(as_text=True)
    link = re.search(r'<p class="lite-link"><a href="([^"]+)"', html)
    assert link and link.group(1).startswith("/lite?") and "kind=union_home" in link.group(1)
    places = demo_client.get("/places?q=海淀").get_data(as_text=True)
    assert re.search(r'<p class="lite-link"><a href="/places\?[^"]*lite=1', places)


def test_lite_escapes_names(app: Flask) -> None:
    svc: LocatorService = app.extensions["locator"]
    svc.create(
        {
            "kind": "warm_station",
            "name": "<b>x</b>",
            "address": "<script>y</script>",
            "lon": 116.4,
            "lat": 39.9,
        },
        Datum.WGS84,
    )
    html = app.test_client().get("/lite?lon=116.4&lat=39.9&open_now=false").get_data(as_text=True)
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html and "<script>y" not in html
