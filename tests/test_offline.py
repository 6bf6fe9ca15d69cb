"""Offline shortlist: manifest and service worker as served (the browser side is in test_rider_browser)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from locator.http.blueprints.offline import in_shell

ROOT = Path(__file__).resolve().parent.parent


def test_service_worker_is_served_at_the_root_with_scope_headers(client) -> None:
    r = client.get("/sw.js")
    assert r.status_code == 200 and r.mimetype == "text/javascript"
    assert r.headers["Service-Worker-Allowed"] == "/"
    assert r.headers["Cache-Control"] == "no-cache"
    body = r.get_data(as_text=True)
    shell = json.loads(re.search(r"var SHELL_URLS = (\[.*?\]);", body).group(1))
    statics = sorted(
        "/static/" + p.relative_to(ROOT / "static").as_posix()
        for p in (ROOT / "static").rglob("*")
        if p.is_file() and in_shell(p.relative_to(ROOT / "static").as_posix())
    )
    assert shell[:2] == ["/", "/offline"] and sorted(shell[2:]) == statics
    for needed in ("/static/js/app.js", "/static/css/app.css", "/static/vendor/leaflet/leaflet.js"):
        assert needed in shell
    for unneeded in ("swagger-ui", "manage", "api-docs", "LICENSE", "README", "embed"):
        assert not [url for url in shell if unneeded in url], unneeded
    size = 0
    for url in shell:
        r = client.get(url)
        assert r.status_code == 200, url
        size += len(r.get_data())
    assert size < 600_000, size  # what a rider's phone downloads once, uncompressed
    assert "/api/" in body  # the API is never cached (explicitly skipped)


def test_shell_version_follows_the_static_files(tmp_path: Path) -> None:
    from .conftest import make_app

    app = make_app(tmp_path / "a.sqlite3")
    v1 = re.search(r'var VERSION = "(\w+)"', app.test_client().get("/sw.js").get_data(as_text=True)).group(1)
    app2 = make_app(tmp_path / "b.sqlite3")
    v2 = re.search(r'var VERSION = "(\w+)"', app2.test_client().get("/sw.js").get_data(as_text=True)).group(1)
    assert v1 == v2 and len(v1) == 12


def test_manifest(client) -> None:
    r = client.get("/manifest.webmanifest?lang=en")
    assert r.mimetype == "application/manifest+json"
    m = r.get_json()
    assert m["name"] == "Warm station locator" and m["lang"] == "en"
    assert m["start_url"] == "/" and m["scope"] == "/" and m["display"] == "standalone"
    assert all(client.get(i["src"]).status_code == 200 for i in m["icons"])
    zh = client.get("/manifest.webmanifest?lang=zh").get_json()
    assert zh["name"] == "暖心驿站查找" and zh["lang"] == "zh-CN"


def test_pages_link_the_manifest_and_register_the_worker(demo_client) -> None:
    html = demo_client.get("/nearest?lon=116.3376&lat=39.9925").get_data(as_text=True)
    assert '<link rel="manifest" href="/manifest.webmanifest?lang=zh">' in html
    assert 'src="/static/js/app.js"' in html and 'data-sw="/sw.js"' in html
    assert 'data-offline="0"' in html and 'data-save-results="1"' in html
    # the note that the worker reveals offline, with the time the list was made
    assert re.search(r'<p class="offline-note" role="status">当前离线：此列表保存于\d\d:\d\d', html)
    lite = demo_client.get("/lite?lon=116.3376&lat=39.9925").get_data(as_text=True)
    assert 'data-offline="0"' in lite and re.search(r'class="o" role="status">当前离线', lite)


def test_the_offline_page_has_a_place_for_the_last_saved_search(client) -> None:
    html = client.get("/offline").get_data(as_text=True)
    assert "<!--last-saved-->" in html and "此搜索未保存" in html
    body = client.get("/sw.js").get_data(as_text=True)
    assert 'var OFFLINE = "/offline";' in body and "var MATCH_M = 250;" in body


def test_results_pages_describe_their_search_for_the_worker(demo_client) -> None:
    html = demo_client.get(
        "/nearest?lon=116.3376&lat=39.9925&kind=nursing_room&amenity=fridge,toilet&from=五道口"
    ).get_data(as_text=True)
    raw = re.search(r'<meta name="locator-search" content="([^"]*)">', html).group(1)
    info = json.loads(raw.replace("&#34;", '"'))
    assert (
        info["kind"] == "nursing_room" and info["amenity"] == "fridge,toilet" and info["open_now"] == "true"
    )
    assert info["place"] == "五道口" and re.fullmatch(r"\d\d:\d\d", info["time"])
    assert "母婴关爱室" in info["label"] and "冰箱" in info["label"]
    lite = demo_client.get("/lite?lon=116.3376&lat=39.9925").get_data(as_text=True)
    assert '<meta name="locator-search"' in lite
