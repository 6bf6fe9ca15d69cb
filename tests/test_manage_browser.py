"""The management pages in a real headless Chromium (Debian's), offline from the world."""

from __future__ import annotations

import re
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask

from locator.core.geo import geodesic_distance_m
from locator.services.management import ManagementService

from .conftest import ARTIFACTS, LiveServer, PageWatch, wait_for_js
from .manage_support import HAIDIAN, PASSWORD, demo_copy, make_user, manage_demo_app

pytestmark = pytest.mark.browser

DESKTOP = {"viewport": {"width": 1280, "height": 900}, "locale": "en-GB", "timezone_id": "Asia/Shanghai"}


@pytest.fixture
def app(tmp_path: Path, demo_db: Path) -> Iterator[Flask]:
    application = demo_copy(tmp_path, demo_db, LOCATOR_TILES="none")
    yield application
    application.extensions["locator"].store.close()


@pytest.fixture
def server(app: Flask) -> Iterator[LiveServer]:
    s = LiveServer(app)
    yield s
    s.stop()


@pytest.fixture
def context(chromium):  # type: ignore[no-untyped-def]
    ctx = chromium.new_context(**DESKTOP)
    blocked: list[str] = []

    def _route(route) -> None:  # type: ignore[no-untyped-def]
        from urllib.parse import urlsplit

        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    ctx.route("**/*", _route)
    ctx.blocked = blocked
    yield ctx
    ctx.close()


def mg(app: Flask) -> ManagementService:
    svc: ManagementService = app.extensions["locator.manage"]
    return svc


def log_in(page, server: LiveServer, name: str, next_path: str = "/manage") -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{server.url}/login?next={next_path}")
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"**{next_path}")


def test_log_in_place_a_pin_by_clicking_save_and_see_the_history(
    app: Flask, server: LiveServer, context
) -> None:  # type: ignore[no-untyped-def]
    make_user(app, "hd", "district_manager", districts=[HAIDIAN])
    page = context.new_page()
    watch = PageWatch(page)
    log_in(page, server, "hd", "/manage/new")
    page.wait_for_selector("#pin-map[data-ready='1']")
    page.fill("#name", "浏览器新建的驿站")
    # Saving without a pin is refused by the server.
    page.click("#save")
    assert "place the pin" in page.inner_text("#form-error")
    page.wait_for_selector("#pin-map[data-ready='1']")
    # Tap the map (scrolled into view, as a person would): a pin appears; it must be
    # confirmed before saving.
    page.locator("#pin-map").scroll_into_view_if_needed()
    box = page.locator("#pin-map").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.4)
    page.wait_for_selector(".leaflet-marker-icon.editor-pin")
    assert page.input_value("#pin-lon") and page.input_value("#pin-lat")
    assert page.is_enabled("#pin-confirmed") and not page.is_checked("#pin-confirmed")
    page.click("#save")
    assert "confirm the pin" in page.inner_text("#form-error")
    page.wait_for_selector("#pin-map[data-ready='1']")
    page.wait_for_selector(".leaflet-marker-icon.editor-pin")  # the placed pin is kept
    page.check("#pin-confirmed")
    page.fill("#reason", "新站点")
    page.click("#save")
    page.wait_for_url(re.compile(r".*/manage/f/[^/]+/edit$"))
    fid = page.url.split("/")[-2]
    stored = mg(app).store.get(fid)
    assert stored.name == "浏览器新建的驿站" and stored.district_adcode == HAIDIAN
    page.click("#history-link")
    page.wait_for_url(f"**/manage/f/{fid}/history")
    entry = page.locator("#history li.entry").first
    words = entry.inner_text()
    assert "Created" in words and "Name: 浏览器新建的驿站" in words and "hd" in words and "新站点" in words
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "manage-history.png"), full_page=True)
    # The two refused saves answer 400 (the browser logs that); nothing else may fail.
    assert [e for e in watch.console_errors if "status of 400" not in e] == []
    assert watch.foreign_requests() == []


# A 1x1 transparent PNG for tile requests (the page stays offline from the world).
EMPTY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e5270ede0000000049454e44ae426082"
)


def test_done_when_haidian_manager_drags_a_pin(  # type: ignore[no-untyped-def]
    demo_app_factory: Callable[..., Flask], chromium
) -> None:
    """Issue 5 "Done when", as a new user would do it.

    A district manager for 海淀区 (110108) is created with the CLI, logs in, moves a Haidian
    facility by dragging its pin; another worker (a second app on the same store) shows the
    move on /nearest within a second, and the history has it; a Chaoyang facility is
    refused; a stale If-Match gets 412.
    """
    editor_app = manage_demo_app(demo_app_factory, LOCATOR_TILES="none")
    # A second "worker" on the same store (SQLite file or PostGIS database) serves riders.
    rider_app = manage_demo_app(demo_app_factory, LOCATOR_TILES="osm")
    result = editor_app.test_cli_runner().invoke(
        args=[
            "locator",
            "create-user",
            "haidian-union",
            "--role",
            "district_manager",
            "--district",
            HAIDIAN,
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    editor, rider = LiveServer(editor_app), LiveServer(rider_app)
    ctx = chromium.new_context(**DESKTOP)

    def _route(route) -> None:  # type: ignore[no-untyped-def]
        from urllib.parse import urlsplit

        host = urlsplit(route.request.url).hostname
        if host == "127.0.0.1":
            route.continue_()
        elif host and host.endswith("tile.openstreetmap.org"):
            route.fulfill(status=200, content_type="image/png", body=EMPTY_PNG)
        else:
            route.abort()

    ctx.route("**/*", _route)
    try:
        mgr = mg(editor_app)
        f = next(
            x
            for x in mgr.locator.index.facilities()
            if x.district_adcode == HAIDIAN and x.status == "open" and x.kind == "warm_station"
        )
        chaoyang = next(x for x in mgr.locator.index.facilities() if x.district_adcode == "110105")
        page = ctx.new_page()
        watch = PageWatch(page)
        log_in(page, editor, "haidian-union", f"/manage/f/{f.id}/edit")
        page.wait_for_selector("#pin-map[data-ready='1']")
        pin = page.locator(".leaflet-marker-icon.editor-pin")
        page.locator("#pin-map").scroll_into_view_if_needed()  # below the fold since "use my location"
        box = pin.bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] - 4
        page.mouse.move(x, y)
        page.mouse.down()
        for i in range(1, 11):
            page.mouse.move(x + 8 * i, y - 3 * i)
        page.mouse.up()
        wait_for_js(page, "document.getElementById('pin-lon').value !== ''")
        new_lon, new_lat = float(page.input_value("#pin-lon")), float(page.input_value("#pin-lat"))
        moved_m = geodesic_distance_m(f.lon, f.lat, new_lon, new_lat)
        assert moved_m > 5, moved_m
        page.check("#pin-confirmed")
        page.fill("#reason", "入口在东侧")
        with page.expect_navigation():  # the check below reads the answer, not the page left
            page.click("#save")
        if page.locator("#ack-warnings").count():  # a neighbour close by: acknowledge and save
            page.wait_for_selector("#pin-map[data-ready='1']")
            page.check("#ack-warnings")
            with page.expect_navigation():
                page.click("#save")
        page.wait_for_selector(".flash.success")
        saved_at = time.monotonic()
        stored = mgr.store.get(f.id)
        assert geodesic_distance_m(stored.lon, stored.lat, new_lon, new_lat) < 0.01
        assert stored.version == f.version + 1

        # Another worker's /nearest shows the move within a second (polled over HTTP, then
        # looked at in the browser).
        query = f"lon={new_lon:.7f}&lat={new_lat:.7f}&kind=warm_station&open_now=false&lang=en"
        nearest = f"{rider.url}/nearest?{query}"
        # The rider ranking puts verified facilities first within 250 m bands, so the moved
        # facility need not be first: find its entry and its distance.
        its_hit = re.compile(
            r'<li class="result[^"]*"[^>]*data-facility-id="'
            + re.escape(f.id)
            + r'"[^>]*>.*?<span class="distance">([^<]+)<',
            re.S,
        )
        seen_after = None
        while time.monotonic() - saved_at < 5:
            with urllib.request.urlopen(nearest, timeout=5) as resp:  # noqa: S310 - 127.0.0.1
                m = its_hit.search(resp.read().decode("utf-8"))
            if m and m.group(1) == "0 m":
                seen_after = time.monotonic() - saved_at
                break
            time.sleep(0.05)
        assert seen_after is not None and seen_after < 1.0, seen_after
        rider_page = ctx.new_page()
        rider_page.goto(nearest)
        entry = rider_page.locator(f'#results li.result[data-facility-id="{f.id}"]')
        assert entry.locator(".distance").inner_text() == "0 m"

        # The history has it.
        page.click("#history-link")
        entry = page.locator("#history li.entry").first
        text = entry.inner_text()
        assert "haidian-union" in text and "入口在东侧" in text
        said = re.search(r"Pin moved (\d+) m to the [a-z-]+", text)  # in words, not lon/lat
        assert said and abs(int(said.group(1)) - moved_m) <= 1, (text, moved_m)

        # A Chaoyang facility is refused.
        resp = page.goto(f"{editor.url}/manage/f/{chaoyang.id}/edit")
        assert resp.status == 403 and "outside your district" in page.inner_text("main")

        # A stale If-Match gets 412 (session + CSRF header, as the page's own scripts would).
        page.goto(f"{editor.url}/manage")
        status = page.evaluate(
            """async ([id, etag]) => {
                const token = document.querySelector('meta[name=csrf-token]').content;
                const r = await fetch('/api/v1/facilities/' + id, {
                    method: 'PATCH',
                    headers: {'If-Match': etag, 'X-CSRFToken': token, 'Content-Type': 'application/json'},
                    body: JSON.stringify({name: 'stale'})});
                return [r.status, r.headers.get('Content-Type'), (await r.json()).current_version];
            }""",
            [f.id, f'W/"{f.id}-v{f.version}"'],
        )
        assert status == [412, "application/problem+json", f.version + 1]
        assert mgr.store.get(f.id).name == f.name
        ARTIFACTS.mkdir(exist_ok=True)
        rider_page.screenshot(path=str(ARTIFACTS / "manage-done-when-nearest.png"), full_page=True)
        assert [
            e for e in watch.console_errors if "status of 403" not in e and "status of 412" not in e
        ] == []
        assert watch.foreign_requests() == []
    finally:
        ctx.close()
        editor.stop()
        rider.stop()
