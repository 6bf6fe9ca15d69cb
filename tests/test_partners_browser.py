"""Partners in a real headless Chromium: the embed framed from other origins, CORS, API docs.

A tiny second web server on another 127.0.0.1 port stands for a partner's site.
"""

from __future__ import annotations

import re
import shutil
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from flask import Flask

from .conftest import ARTIFACTS, LiveServer, PageWatch, make_app

pytestmark = pytest.mark.browser

WUDAOKOU = (116.3376, 39.9925)  # the phone fixture's geolocation
#: No tile server: tests stay offline without console errors from blocked tiles.
TILES = "none"


class OriginServer:
    """Serves one HTML page at every path, from ``http://127.0.0.1:<port>``."""

    def __init__(self, body: str, port: int = 0) -> None:
        payload = body.encode("utf-8")

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.origin = self.url
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def port_or_free(preferred: int) -> int:
    """``preferred`` if nothing listens there, else a free port."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
        except OSError:
            s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def partner_page(snippet: str) -> str:
    return (
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><title>骑手之家 · Partner</title>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'></head>"
        f"<body><h1>Partner site</h1>{snippet}</body></html>"
    )


@pytest.fixture
def locator_app(tmp_path: Path, demo_db: Path) -> Iterator[Flask]:
    path = tmp_path / "demo.sqlite3"
    shutil.copy(demo_db, path)
    app = make_app(path, LOCATOR_TILES=TILES)
    yield app
    app.extensions["locator"].store.close()


@pytest.fixture
def locator_server(locator_app: Flask) -> Iterator[LiveServer]:
    server = LiveServer(locator_app)
    yield server
    server.stop()


def register(app: Flask, server: LiveServer, origin: str) -> tuple[str, str]:
    """Register partner 'acme' for ``origin`` with the CLI; return (key, snippet)."""
    runner = app.test_cli_runner()
    added = runner.invoke(args=["locator", "partner", "add", "acme", "--origin", origin])
    assert added.exit_code == 0, added.output
    key = re.findall(r"wsl_[A-Za-z0-9_-]{43}", added.output)[0]
    made = runner.invoke(args=["locator", "partner", "snippet", "acme", "--base-url", server.url])
    assert made.exit_code == 0
    return key, made.output.strip()


def embed_frame(page):  # type: ignore[no-untyped-def]
    handle = page.wait_for_selector("iframe")
    frame = handle.content_frame()
    assert frame is not None
    return frame


def test_snippet_works_on_the_registered_origin_and_is_refused_elsewhere(
    phone, locator_app: Flask, locator_server: LiveServer
) -> None:  # type: ignore[no-untyped-def]
    # Done when: register a partner for http://127.0.0.1:8081, paste the generated snippet
    # into a page served there, the embedded map works; the same snippet elsewhere is refused.
    port = port_or_free(8081)
    partner_origin = f"http://127.0.0.1:{port}"
    _, snippet = register(locator_app, locator_server, partner_origin)
    assert snippet.startswith(f'<iframe src="{locator_server.url}/embed/map?partner=acme"')
    good = OriginServer(partner_page(snippet), port)
    evil = OriginServer(partner_page(snippet))
    try:
        page = phone.new_page()
        watch = PageWatch(page)
        page.goto(good.url)
        frame = embed_frame(page)
        frame.wait_for_selector("#results li.result")
        assert frame.url.startswith(locator_server.url + "/embed/map?partner=acme")
        assert frame.locator("#results li.result").count() == 5
        assert frame.locator(".embed-foot a[href='https://www.openstreetmap.org/copyright']").count() == 1
        full_site = frame.locator(".full-site").evaluate("a => a.href")  # the link is site-relative
        assert full_site.startswith(locator_server.url + "/nearest?")
        # "Find nearest" inside the frame: geolocation is delegated by allow="geolocation".
        frame.locator("#find-nearest").click()
        frame.wait_for_url("**lat=39.9925**")
        frame.wait_for_selector("#results li.result")
        shown = [
            frame.locator("#results li.result").nth(i).get_attribute("data-facility-id") for i in range(5)
        ]
        api = requests.get(
            locator_server.url + "/api/v1/nearest",
            params={"lon": f"{WUDAOKOU[0]:.4f}", "lat": f"{WUDAOKOU[1]:.4f}", "open_now": "true", "limit": 5},
            timeout=10,
        ).json()
        assert shown == [f["id"] for f in api["features"]]
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "embed-on-partner-page.png"), full_page=True)
        assert watch.console_errors == []
        assert watch.foreign_requests() == []

        refused = phone.new_page()
        refused_watch = PageWatch(refused)
        messages: list[str] = []
        refused.on("console", lambda m: messages.append(m.text))
        refused.goto(evil.url)
        blocked = embed_frame(refused)
        for _ in range(100):  # Chromium reports the refusal asynchronously; allow a loaded machine 10 s
            if any("frame-ancestors" in m for m in messages):
                break
            refused.wait_for_timeout(100)
        assert blocked.url.startswith("chrome-error://")
        assert blocked.query_selector("#results") is None
        assert any("frame-ancestors" in m for m in messages), messages
        assert (
            locator_server.url + "/embed/map?partner=acme" in refused_watch.requests
        )  # it was asked, and refused
    finally:
        good.stop()
        evil.stop()


def test_embedded_map_shows_markers_at_the_requested_zoom(
    phone, locator_app: Flask, locator_server: LiveServer
) -> None:  # type: ignore[no-untyped-def]
    port = port_or_free(0)
    partners = locator_app.extensions["locator.partners"]
    partners.add("acme", [f"http://127.0.0.1:{port}"])
    from locator.formats.embed import snippet

    html = snippet(locator_server.url, "acme", kind="warm_station", lon=WUDAOKOU[0], lat=WUDAOKOU[1], zoom=14)
    site = OriginServer(partner_page(html), port)
    try:
        page = phone.new_page()
        watch = PageWatch(page)
        page.goto(site.url)
        frame = embed_frame(page)
        frame.wait_for_selector(".leaflet-container .locator-marker", state="attached")
        page.wait_for_load_state("load")
        assert frame.locator(".leaflet-marker-pane .locator-marker").count() == 5
        zoom = frame.evaluate(
            "() => Object.keys(window).map(k => window[k]).filter(v => v instanceof L.Map)[0].getZoom()"
        )
        assert zoom == 14
        assert frame.locator(".leaflet-control-attribution").count() == 1
        assert watch.console_errors == []
    finally:
        site.stop()


def test_cors_lets_only_the_partners_page_read_the_api(
    phone, locator_app: Flask, locator_server: LiveServer
) -> None:  # type: ignore[no-untyped-def]
    port = port_or_free(0)
    key, _ = register(locator_app, locator_server, f"http://127.0.0.1:{port}")
    good = OriginServer(partner_page(""), port)
    evil = OriginServer(partner_page(""))
    script = """async ([url, key]) => {
        try {
            const r = await fetch(url, key ? {headers: {"X-API-Key": key}} : {});
            const body = await r.json();
            return r.status + ":" + body.features.length;
        } catch (e) { return "blocked"; }
    }"""
    url = locator_server.url + "/api/v1/nearest?lon=116.3376&lat=39.9925&limit=3"
    try:
        page = phone.new_page()
        page.goto(good.url)
        assert page.evaluate(script, [url, key]) == "200:3"  # preflighted (custom header)
        assert page.evaluate(script, [url, None]) == "200:3"
        other = phone.new_page()
        other.goto(evil.url)
        assert other.evaluate(script, [url, key]) == "blocked"
        assert other.evaluate(script, [url, None]) == "blocked"
    finally:
        good.stop()
        evil.stop()


def test_api_docs_render_offline(phone, locator_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    page = phone.new_page()
    watch = PageWatch(page)
    page.goto(locator_server.url + "/api/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=15000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/api/v1/nearest" in p for p in paths)
    assert any("/ogc/collections/{collection_id}/items" in p.replace("\u200b", "") for p in paths)
    assert watch.console_errors == []
    assert watch.foreign_requests() == []
    assert phone.blocked == []


def test_embed_docs_page_previews_the_embed(phone, locator_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    page = phone.new_page()
    page.goto(locator_server.url + "/embed?kind=warm_station")
    frame = embed_frame(page)
    frame.wait_for_selector("#results li.result")
    assert frame.locator("#results li.result").count() == 5
    assert 'allow="geolocation"' in page.locator("#snippet").inner_text()
