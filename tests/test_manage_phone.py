"""Issue 14 "Done when": a district manager works from the door, on a phone, in Chinese.

Real headless Chromium (Debian's) with the Pixel 7 and iPhone SE (3rd gen, 375 × 667)
profiles of Playwright's device list, zh-CN, touch, mocked geolocation; offline from the
world (OSM tile requests get an empty PNG, or are refused where a test wants the tiles to
fail). Screenshots go to tests/artifacts/manage-phone-*.png (docs/managers.md lists them).

* :func:`test_done_when_a_district_manager_works_from_the_door` — create a station with
  "use my location" (8 m accuracy), set the hours with the editor (工作日 08:00–18:00, 周六
  09:00–12:00, 节假日休息 → ``Mo-Fr 08:00-18:00; Sa 09:00-12:00; PH off``), set "closed
  until", move the pin from GPS again, read the history in Chinese words with the move's
  distance, upload a bulk file with a misspelt amenity and see the suggestion — on both
  stores and both phones.
* :func:`test_every_control_is_44px_and_no_page_scrolls_sideways` — the script that measures
  every link, button, input, select, summary and map control of every manager page on
  both phones (at least 44 CSS px tall; a checkbox or radio with its label) and checks that
  no page is wider than the 375 px screen.
* :func:`test_desktop_keeps_the_table_and_a_phone_gets_cards` (1366 × 900 against Pixel 7).
* :func:`test_a_poor_gps_fix_needs_confirmation_and_failed_tiles_are_announced`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from locator.core.geo import WGS84_GEOD, geodesic_distance_m
from locator.core.hours import TZ
from locator.services.management import ManagementService

from .conftest import ARTIFACTS, LiveServer, PageWatch, add_problem_report, wait_for_js
from .manage_support import HAIDIAN, PASSWORD, demo_copy, make_user, manage_demo_app

pytestmark = pytest.mark.browser

#: Playwright's device descriptors (playwright 1.65), driven with Chromium.
PROFILES: dict[str, dict[str, Any]] = {
    "pixel7": {
        "viewport": {"width": 412, "height": 839},
        "screen": {"width": 412, "height": 915},
        "device_scale_factor": 2.625,
        "is_mobile": True,
        "has_touch": True,
        "user_agent": "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Mobile Safari/537.36",
    },
    "iphone_se": {
        "viewport": {"width": 375, "height": 667},
        "screen": {"width": 375, "height": 667},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
        "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
    },
}
#: Where the manager stands: by Wudaokou, 海淀区 (WGS-84, as a phone's GPS gives it).
DOOR = (116.33555, 39.99318)

# A 1x1 transparent PNG for tile requests.
EMPTY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e5270ede0000000049454e44ae426082"
)

#: Every control of a page shorter than 44 CSS px (a checkbox or radio is measured with its
#: label, its real tap target). <details> are opened first so their content is measured too;
#: elements not rendered, and the skip link parked off-screen, are left out.
SMALL_CONTROLS_JS = """() => {
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  const sel = 'a[href], button, input:not([type=hidden]), select, textarea, summary, [role=button],' +
              ' .leaflet-marker-icon.leaflet-interactive, .leaflet-control a';
  const out = [];
  for (const el of document.querySelectorAll(sel)) {
    const box = el.matches('input[type=checkbox], input[type=radio]') ? (el.closest('label') || el) : el;
    const r = box.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    if (r.right <= 0 || r.bottom + window.scrollY <= 0) continue;
    if (getComputedStyle(el).visibility === 'hidden') continue;
    if (r.height < 43.5) {
      out.push([el.tagName.toLowerCase(), el.id || '', String(el.className || ''),
                (el.textContent || el.value || el.name || '').trim().slice(0, 40),
                Math.round(r.height * 10) / 10]);
    }
  }
  return out;
}"""
#: How much wider than the screen the page is (0 when it does not scroll sideways).
OVERFLOW_JS = "() => document.documentElement.scrollWidth - window.innerWidth"


def mg(app: Flask) -> ManagementService:
    svc: ManagementService = app.extensions["locator.manage"]
    return svc


def phone_context(chromium, profile: str, *, tiles: str = "png", accuracy: float = 8.0):  # type: ignore[no-untyped-def]
    """A zh-CN phone context at the door; tiles answered with an empty PNG, or refused."""
    ctx = chromium.new_context(
        **PROFILES[profile],
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        geolocation={"longitude": DOOR[0], "latitude": DOOR[1], "accuracy": accuracy},
        permissions=["geolocation"],
    )

    def _route(route) -> None:  # type: ignore[no-untyped-def]
        from urllib.parse import urlsplit

        host = urlsplit(route.request.url).hostname or ""
        if host == "127.0.0.1":
            route.continue_()
        elif tiles == "png" and host.endswith("tile.openstreetmap.org"):
            route.fulfill(status=200, content_type="image/png", body=EMPTY_PNG)
        else:
            route.abort()

    ctx.route("**/*", _route)
    return ctx


def log_in(page, server: LiveServer, name: str, next_path: str = "/manage") -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{server.url}/login?next={next_path}")
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"**{next_path}")


def shot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"manage-phone-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def save_with_duplicates_acknowledged(page) -> None:  # type: ignore[no-untyped-def]
    """Save; when likely duplicates nearby are listed, acknowledge them and save again.

    Each click waits for the page it navigates to, so the check for the acknowledgement box
    reads the answer to this save, never the page the click left.
    """
    with page.expect_navigation():
        page.click("#save")
    if page.locator("#ack-warnings").count():
        page.check("#ack-warnings")
        with page.expect_navigation():
            page.click("#save")


def expect_success_flash(page, app: Flask, fid: str) -> None:  # type: ignore[no-untyped-def]
    """Wait for the "saved" notice; if it never shows, fail saying what the page and store show.

    (It failed twice in full suite runs: Flask-Login's session protection let the service
    worker's update check, sent with Chromium's own User-Agent, overwrite the POST's session
    and its notice; see ``test_sessions.py``. The message says what a new cause would need.)
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    try:
        page.wait_for_selector(".flash.success")
    except PlaywrightTimeoutError:
        flashes = page.eval_on_selector_all(
            ".flash", "els => els.map(e => e.className + ': ' + e.textContent)"
        )
        form_version = page.eval_on_selector_all("input[name=version]", "els => els.map(e => e.value)")
        raise AssertionError(
            f"no success notice at {page.url}; notices {flashes}; form version {form_version}, "
            f"stored version {mg(app).store.get(fid).version}"
        ) from None


def errors_besides(watch: PageWatch, *allowed: str) -> list[str]:
    return [e for e in watch.console_errors if not any(a in e for a in allowed)]


# --- the walk through -------------------------------------------------------------------------


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_done_when_a_district_manager_works_from_the_door(  # type: ignore[no-untyped-def]
    demo_app_factory: Callable[..., Flask], chromium, profile: str, request: pytest.FixtureRequest
) -> None:
    store_name = request.node.callspec.params["demo_app_factory"]
    app = manage_demo_app(demo_app_factory, LOCATOR_TILES="osm")
    make_user(app, "haidian-union", "district_manager", districts=[HAIDIAN])
    server = LiveServer(app)
    ctx = phone_context(chromium, profile)
    name = f"{profile}-{store_name}"
    try:
        page = ctx.new_page()
        watch = PageWatch(page)
        log_in(page, server, "haidian-union", "/manage/new")
        page.wait_for_selector("#pin-map[data-ready='1']")

        # 1. The station, its pin from where the manager stands (8 m accuracy).
        page.select_option("#kind", "warm_station")
        page.fill("#name", "五道口银行网点暖心驿站")
        page.click("#locate")
        wait_for_js(page, "document.getElementById('pin-lon').value !== ''")
        assert "±8 米" in page.inner_text("#gps-status")
        assert page.input_value("#pin-source") == "gps" and page.input_value("#pin-accuracy") == "8"
        pin_lon, pin_lat = float(page.input_value("#pin-lon")), float(page.input_value("#pin-lat"))
        assert geodesic_distance_m(pin_lon, pin_lat, *DOOR) < 0.05  # OSM tiles: the map is WGS-84
        # Still asked to confirm it is at the entrance.
        assert page.is_enabled("#pin-confirmed") and not page.is_checked("#pin-confirmed")
        assert "入口" in page.inner_text("#pin-status")
        page.check("#pin-confirmed")

        # 2. Hours with the editor: 工作日 08:00–18:00, 周六 09:00–12:00, 节假日休息.
        row0 = "#hours-editor .hours-row[data-row='0']"
        page.click(f"{row0} .shortcut[data-days='mo,tu,we,th,fr']")
        assert page.get_attribute(f"{row0} .shortcut[data-days='mo,tu,we,th,fr']", "aria-pressed") == "true"
        page.fill(f"{row0} input[name=h0_start]", "08:00")
        page.fill(f"{row0} input[name=h0_end]", "18:00")
        page.click("#hours-add-row")
        row1 = "#hours-editor .hours-row[data-row='1']"
        page.click(f"{row1} label.chip:has(input[value='sa'])")
        page.fill(f"{row1} input[name=h1_start]", "09:00")
        page.fill(f"{row1} input[name=h1_end]", "12:00")
        page.check("#h-ph-closed")
        words = "周一至周五 08:00–18:00；周六 09:00–12:00；法定节假日休息"
        wait_for_js(page, f"(document.getElementById('hours-words') || {{}}).textContent === {words!r}")
        osm = "Mo-Fr 08:00-18:00; Sa 09:00-12:00; PH off"
        wait_for_js(page, f"document.getElementById('opening_hours').value === {osm!r}")
        assert page.inner_text("#hours-osm") == osm
        assert page.locator("#hours-week li").count() == 7
        shot(page, f"{name}-new")
        page.fill("#reason", "新设站点")
        save_with_duplicates_acknowledged(page)
        page.wait_for_url(re.compile(r".*/manage/f/[^/]+/edit$"))
        fid = page.url.split("/")[-2]
        stored = mg(app).store.get(fid)
        assert stored.opening_hours == osm and stored.district_adcode == HAIDIAN
        assert geodesic_distance_m(stored.lon, stored.lat, *DOOR) < 0.05
        # The editor reads the stored value back.
        assert page.is_checked(f"{row0} input[value='fr']") and page.is_checked("#h-ph-closed")
        assert page.input_value(f"{row1} input[name=h1_start]") == "09:00"
        shot(page, f"{name}-edit")

        # 3. "Closed until" a day, with the reason.
        until = (datetime.now(UTC).astimezone(TZ) + timedelta(days=3)).date()
        page.check("#status-form input[name=status][value=temporarily_closed]")
        page.fill("#until", until.isoformat())
        page.fill("#status-reason", "暖气维修")
        page.click("#status-form button[type=submit]")
        page.wait_for_selector(".flash.success")
        stored = mg(app).store.get(fid)
        assert (stored.status, stored.status_until, stored.status_reason) == (
            "temporarily_closed",
            until,
            "暖气维修",
        )

        # 4. The entrance is 23 m to the north-east: the pin from GPS again.
        lon2, lat2, _ = WGS84_GEOD.fwd(DOOR[0], DOOR[1], 45.0, 23.0)
        ctx.set_geolocation({"longitude": lon2, "latitude": lat2, "accuracy": 6})
        page.wait_for_selector("#pin-map[data-ready='1']")
        page.click("#locate")
        wait_for_js(page, f"Math.abs(parseFloat(document.getElementById('pin-lat').value) - {lat2}) < 1e-6")
        page.check("#pin-confirmed")
        page.fill("#reason", "入口在东北侧")
        save_with_duplicates_acknowledged(page)
        expect_success_flash(page, app, fid)
        moved = mg(app).store.get(fid)
        metres = geodesic_distance_m(stored.lon, stored.lat, moved.lon, moved.lat)
        assert 22.5 < metres < 23.5, metres

        # 5. The history in Chinese words, with the move's distance.
        page.click("#history-link")
        page.wait_for_url(f"**/manage/f/{fid}/history")
        history = page.inner_text("#history")
        assert f"图钉向东北移动了 {metres:.0f} 米" in history
        assert f"状态改为暂停开放（暖气维修），至 {until.strftime('%m-%d')}" in history
        assert "开放时间：周一至周五 08:00–18:00；周六 09:00–12:00；法定节假日休息" in history
        assert "新建" in history and "原因：新设站点" in history and "原因：入口在东北侧" in history
        assert not re.search(r"temporarily_closed|opening_hours|status|verified|restore|lon|lat\b", history)
        assert page.evaluate(OVERFLOW_JS) <= 0
        shot(page, f"{name}-history")

        # 6. A bulk file with a misspelt amenity: the closest key is suggested.
        page.goto(f"{server.url}/manage/bulk")
        csv_text = (
            "kind,name,lon,lat,amenities\r\n"
            f"nursing_room,五道口母婴室,{DOOR[0] + 0.003:.6f},{DOOR[1]:.6f},breastfeeding;fridge\r\n"
        )
        page.set_input_files(
            "#file", files=[{"name": "母婴室.csv", "mimeType": "text/csv", "buffer": csv_text.encode()}]
        )
        page.select_option("#datum", "wgs84")
        page.click("#upload-form button[type=submit]")
        page.wait_for_selector("#plan-rows")
        row_error = page.inner_text("#plan-rows tr[data-row='1'] .row-error")
        assert "breastfeeding" in row_error and "您是不是想写 breastfeeding_room（哺乳间）" in row_error
        assert page.locator("#apply-form").count() == 0  # nothing to apply while a row is wrong
        assert page.evaluate(OVERFLOW_JS) <= 0
        shot(page, f"{name}-bulk")
        assert errors_besides(watch, "status of 400") == []
        assert watch.foreign_requests() == [] or all(
            "tile.openstreetmap.org" in u for u in watch.foreign_requests()
        )
    finally:
        ctx.close()
        server.stop()


# --- sizes and widths of every manager page ----------------------------------------------------


@pytest.fixture
def app(tmp_path: Path, demo_db: Path) -> Iterator[Flask]:
    application = demo_copy(tmp_path, demo_db, LOCATOR_TILES="osm")
    make_user(application, "hd", "district_manager", districts=[HAIDIAN])
    make_user(application, "root", "admin")
    yield application
    application.extensions["locator"].store.close()


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_control_is_44px_and_no_page_scrolls_sideways(app: Flask, chromium, profile: str) -> None:  # type: ignore[no-untyped-def]
    m = mg(app)
    hd = app.extensions["locator.accounts"].store.get_user("hd")
    f, g, h = [
        x
        for x in m.locator.index.facilities()
        if x.district_adcode == HAIDIAN and x.status == "open" and x.kind == "warm_station"
    ][:3]
    # Pages with something on them: an edited facility (history), open and handled reports.
    m.update(hd, f.id, {"opening_hours": "Mo-Fr 08:00-18:00; PH off", "name": f.name + "（改）"}, f.version)
    m.set_status(hd, f.id, "temporarily_closed", reason="暖气维修")
    add_problem_report(m.store, g.id, "closed", "门锁着，敲门没人应。" * 3)
    handled = add_problem_report(m.store, h.id, "missing_service", "没有热水")
    m.resolve_report(hd, handled.id, "resolved", "verified", note="已有热水")

    server = LiveServer(app)
    ctx = phone_context(chromium, profile)
    problems: dict[str, Any] = {}
    try:
        page = ctx.new_page()
        watch = PageWatch(page)

        def check(label: str) -> None:
            page.wait_for_load_state()
            small = page.evaluate(SMALL_CONTROLS_JS)
            wide = page.evaluate(OVERFLOW_JS)
            if small:
                problems[f"{label}: controls under 44 px"] = small
            if wide > 0:
                problems[f"{label}: wider than the screen by {wide} px"] = wide
            shot(page, f"{profile}-{label}")

        page.goto(f"{server.url}/login")
        check("login")
        log_in(page, server, "hd")
        check("list")
        page.goto(f"{server.url}/manage/new")
        page.wait_for_selector("#pin-map[data-ready='1']")
        check("new")
        page.goto(f"{server.url}/manage/f/{f.id}/edit")
        page.wait_for_selector(".leaflet-marker-icon.editor-pin")
        check("edit")
        page.goto(f"{server.url}/manage/f/{f.id}/history")
        check("history")
        page.goto(f"{server.url}/manage/reports")
        check("reports")
        page.goto(f"{server.url}/manage/stale")
        check("stale")
        page.goto(f"{server.url}/manage/bulk")
        check("bulk")
        page.set_input_files(
            "#file",
            files=[
                {
                    "name": "stations.csv",
                    "mimeType": "text/csv",
                    "buffer": (
                        "id,kind,name,lon,lat,amenities\r\n"
                        f"{f.id},,,,,toilet\r\n"
                        f",warm_station,一个名字很长很长很长很长很长很长很长的新站点,"
                        f"{f.lon + 0.001},{f.lat},toilet;heatng\r\n"
                    ).encode(),
                }
            ],
        )
        page.select_option("#datum", "wgs84")
        page.click("#upload-form button[type=submit]")
        page.wait_for_selector("#plan-rows")
        check("bulk-dry-run")
        page.goto(f"{server.url}/manage/account")
        check("account")
        # The "someone saved first" page: the facility changes while the form is open.
        page.goto(f"{server.url}/manage/f/{h.id}/edit")
        page.wait_for_selector("#pin-map[data-ready='1']")
        latest = m.store.get(h.id)
        m.update(hd, h.id, {"phone": "010-88888888"}, latest.version)
        page.fill("#name", latest.name + "（新名）")
        page.click("#save")
        page.wait_for_selector("#conflict")
        check("conflict")
        page.goto(f"{server.url}/manage")
        page.click("#more-nav summary")
        page.click("#more-nav button.link")  # log out
        page.wait_for_url("**/login")
        log_in(page, server, "root")
        page.goto(f"{server.url}/manage/users")
        check("users")
        assert problems == {}, "\n".join(f"{k}: {v}" for k, v in problems.items())
        assert errors_besides(watch, "status of 409") == []
    finally:
        ctx.close()
        server.stop()


#: The facility list's layout: how the table, its header and its rows are drawn.
LIST_LAYOUT_JS = """() => {
  const table = document.getElementById('facility-table');
  const head = table.tHead.getBoundingClientRect();
  const rows = [...table.tBodies[0].rows].slice(0, 20);
  const ths = [...table.tHead.rows[0].cells].filter(c => c.textContent.trim());
  return {
    table: getComputedStyle(table).display,
    row: getComputedStyle(rows[0]).display,
    head_height: head.height,
    tallest_row: Math.max(...rows.map(r => r.getBoundingClientRect().height)),
    tallest_th: Math.max(...ths.map(c => c.getBoundingClientRect().height)),
    shown_cells: [...rows[0].cells].filter(c => c.getBoundingClientRect().height > 0)
                   .map(c => c.className),
    primary: rows[0].querySelector('button.verify').getBoundingClientRect().height,
    wide: document.documentElement.scrollWidth - window.innerWidth,
  };
}"""


def test_desktop_keeps_the_table_and_a_phone_gets_cards(app: Flask, chromium) -> None:  # type: ignore[no-untyped-def]
    """1366 × 900: the 7-column table, one line of headers, short rows; a phone: cards."""
    server = LiveServer(app)
    desktop = chromium.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    phone = phone_context(chromium, "pixel7")
    try:
        layouts = {}
        for label, ctx in (("desktop", desktop), ("pixel7", phone)):
            page = ctx.new_page()
            log_in(page, server, "hd")
            layouts[label] = page.evaluate(LIST_LAYOUT_JS)
            if label == "desktop":
                shot(page, "desktop-list")
        table, cards = layouts["desktop"], layouts["pixel7"]
        assert (table["table"], table["row"]) == ("table", "table-row"), table
        assert table["head_height"] > 20 and table["tallest_th"] < 60, table  # not a letter per line
        assert table["tallest_row"] < 120, table
        assert len(table["shown_cells"]) == 7 and table["wide"] <= 0, table
        assert (cards["table"], cards["row"]) == ("block", "block"), cards
        assert cards["head_height"] <= 1, cards  # the header is there for screen readers only
        shown = " ".join(cards["shown_cells"])
        assert "name-cell" in shown and "status-cell" in shown and "actions" in shown, cards
        assert "kind-cell" not in shown and "area-cell" not in shown, cards
        assert cards["primary"] >= 44 and cards["wide"] <= 0, cards
    finally:
        desktop.close()
        phone.close()
        server.stop()


# --- GPS accuracy and failing tiles -----------------------------------------------------------


def test_a_poor_gps_fix_needs_confirmation_and_failed_tiles_are_announced(app: Flask, chromium) -> None:  # type: ignore[no-untyped-def]
    server = LiveServer(app)
    ctx = phone_context(chromium, "iphone_se", tiles="fail", accuracy=120)
    try:
        page = ctx.new_page()
        log_in(page, server, "hd", "/manage/new")
        page.wait_for_selector("#pin-map[data-ready='1']")
        # The tiles fail: the map says so, and the pin still works.
        wait_for_js(page, "!document.getElementById('tiles-note').hidden")
        assert "底图没有加载出来" in page.inner_text("#tiles-note")
        # A fix of ±120 m is not used without the manager's word.
        page.fill("#name", "精度测试驿站")
        page.click("#locate")
        page.wait_for_selector("#gps-poor:not([hidden])")
        assert "±120 米" in page.inner_text("#gps-poor-text") and "50 米" in page.inner_text("#gps-poor-text")
        assert page.input_value("#pin-lon") == "" and page.locator(".editor-pin").count() == 0
        shot(page, "iphone_se-gps-poor")
        page.click("#gps-accept")
        wait_for_js(page, "document.getElementById('pin-lon').value !== ''")
        assert page.input_value("#pin-accuracy-ok") == "1" and page.input_value("#pin-accuracy") == "120"
        assert not page.is_checked("#pin-confirmed")  # still to be confirmed at the entrance
        page.check("#pin-confirmed")
        save_with_duplicates_acknowledged(page)
        page.wait_for_url(re.compile(r".*/manage/f/[^/]+/edit$"))
        stored = mg(app).store.get(page.url.split("/")[-2])
        assert stored.name == "精度测试驿站" and geodesic_distance_m(stored.lon, stored.lat, *DOOR) < 0.05
    finally:
        ctx.close()
        server.stop()


def test_the_server_refuses_a_poor_gps_pin_that_was_not_confirmed(app: Flask) -> None:
    from .manage_support import login, page_csrf

    client = app.test_client()
    assert login(client, "hd").status_code == 303
    form = {
        "csrf_token": page_csrf(client, "/manage/new"),
        "kind": "warm_station",
        "name": "精度测试驿站",
        "lon": f"{DOOR[0]}",
        "lat": f"{DOOR[1]}",
        "map_datum": "wgs84",
        "pin_confirmed": "1",
        "pin_source": "gps",
        "pin_accuracy_m": "120",
        "ack_warnings": "1",
    }
    before = mg(app).store.count()
    resp = client.post("/manage/new", data=form)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400 and "GPS 位置精度只有 120 米（超过 50 米）" in html
    assert mg(app).store.count() == before
    resp = client.post("/manage/new", data={**form, "pin_accuracy_ok": "1"})
    assert resp.status_code == 303 and mg(app).store.count() == before + 1
    good = {k: v for k, v in form.items() if k != "pin_accuracy_ok"}
    assert (
        client.post("/manage/new", data={**good, "pin_accuracy_m": "8", "name": "好精度"}).status_code == 303
    )
