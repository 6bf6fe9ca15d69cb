"""The management pages in a real headless Chromium (Debian's), offline from the world."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from locator.management import ManagementService

from .conftest import ARTIFACTS, LiveServer, PageWatch
from .manage_support import HAIDIAN, PASSWORD, demo_copy, make_user

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
    # Tap the map: a pin appears; it must be confirmed before saving.
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
    assert "create" in entry.inner_text() and "hd" in entry.inner_text() and "新站点" in entry.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "manage-history.png"), full_page=True)
    # The two refused saves answer 400 (the browser logs that); nothing else may fail.
    assert [e for e in watch.console_errors if "status of 400" not in e] == []
    assert watch.foreign_requests() == []
