"""The coverage planner in a real headless Chromium (Debian's), on both stores, offline from the world."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

import pytest
from flask import Flask

from .conftest import ARTIFACTS, PHONE, LiveServer, PageWatch, wait_for_js
from .manage_support import HAIDIAN, PASSWORD, make_user, manage_demo_app
from .test_rider_phones import SMALL_TARGETS_JS

pytestmark = pytest.mark.browser

DESKTOP = {"viewport": {"width": 1280, "height": 900}, "locale": "en-GB", "timezone_id": "Asia/Shanghai"}


# A viewport point (x, y in CSS pixels) where a coloured subdistrict is what the pointer would hit.
HOVERABLE_AREA_POINT = """() => {
  const map = document.querySelector('.plan-map .leaflet-container').getBoundingClientRect();
  for (const el of document.querySelectorAll('path.plan-area:not(.plan-share--1)')) {
    const r = el.getBoundingClientRect();
    for (const fx of [0.5, 0.3, 0.7]) {
      for (const fy of [0.5, 0.3, 0.7]) {
        const x = r.left + r.width * fx, y = r.top + r.height * fy;
        if (x < map.left + 2 || x > map.right - 2 || y < map.top + 2 || y > map.bottom - 2) continue;
        if (x < 0 || y < 0 || x >= innerWidth || y >= innerHeight) continue;
        if (document.elementFromPoint(x, y) === el) return [x, y];
      }
    }
  }
  return null;
}"""


def offline_context(chromium, **options):  # type: ignore[no-untyped-def]
    ctx = chromium.new_context(**options)
    ctx.blocked = []

    def _route(route) -> None:  # type: ignore[no-untyped-def]
        from urllib.parse import urlsplit

        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            ctx.blocked.append(route.request.url)
            route.abort()

    ctx.route("**/*", _route)
    return ctx


def log_in(page, server: LiveServer, name: str, next_path: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{server.url}/login?next={quote(next_path, safe='/')}")
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"**{next_path.split('?')[0]}*")


def test_plan_page_renders_the_choropleth_chart_and_sites_without_errors(  # type: ignore[no-untyped-def]
    demo_app_factory: Callable[..., Flask], chromium
) -> None:
    app = manage_demo_app(demo_app_factory, LOCATOR_TILES="none")
    make_user(app, "root", "admin")
    server = LiveServer(app)
    ctx = offline_context(chromium, **DESKTOP)
    try:
        page = ctx.new_page()
        watch = PageWatch(page)
        log_in(page, server, "root", "/plan")
        # The first visit answers for "now"; ask for a December night with 5 sites by the form.
        page.select_option("#plan-kind", "warm_station")
        page.fill("#plan-radius", "1000")
        page.fill("#plan-at", "2026-12-01T22:00")
        page.fill("#plan-sites", "5")
        page.click("#plan-run")
        page.wait_for_url("**/plan?*sites=5*")
        page.wait_for_selector("path.plan-area", state="attached")
        areas = page.locator("path.plan-area").count()
        coloured = page.locator("path.plan-area:not(.plan-share--1)").count()
        assert areas >= 300 and 10 < coloured < areas  # demand only covers urban Beijing
        assert page.locator(".leaflet-control-layers").count() == 1
        assert page.locator(".plan-legend li").count() == 6
        # Five numbered sites, in gain order, on the map and in the table.
        page.wait_for_selector(".plan-site")
        ranks = page.eval_on_selector_all(".plan-site", "els => els.map(e => Number(e.dataset.rank))")
        gains = page.eval_on_selector_all(".plan-site", "els => els.map(e => Number(e.dataset.gain))")
        assert sorted(ranks) == [1, 2, 3, 4, 5]
        by_rank = [g for _, g in sorted(zip(ranks, gains, strict=True))]
        assert by_rank == sorted(by_rank, reverse=True) and by_rank[0] > 0
        assert page.locator("#plan-sites-table tbody tr").count() == 5
        # Uncovered demand is clustered (Leaflet.markercluster badges).
        assert page.locator(".plan-gap-cluster").count() > 0
        # The hour chart: 24 bars, the asked hour marked, heights follow the shares.
        assert page.locator("svg.hour-chart rect.bar").count() == 24
        assert page.get_attribute("svg.hour-chart rect.bar.current", "data-hour") == "22:00"
        share = float(page.get_attribute("#plan-share", "data-share"))
        assert float(page.get_attribute("svg.hour-chart rect.bar.current", "data-share")) == pytest.approx(
            share, abs=1e-4
        )
        # Hovering a subdistrict shows its name and share. The pointer goes to a point where a
        # coloured area is the topmost element (not the first area's box centre, which may lie
        # outside the map or under a cluster badge or a neighbouring area).
        page.locator(".plan-map").scroll_into_view_if_needed()
        point = page.evaluate(HOVERABLE_AREA_POINT)
        assert point is not None, "no coloured subdistrict is the topmost element at any sampled point"
        page.mouse.move(point[0], point[1])
        page.wait_for_selector(".leaflet-tooltip")
        assert "covered" in page.inner_text(".leaflet-tooltip")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "plan-admin.png"), full_page=True)
        assert watch.console_errors == []
        assert watch.foreign_requests() == [] and ctx.blocked == []
    finally:
        ctx.close()
        server.stop()


def test_plan_on_a_phone_for_a_district_manager(demo_app_factory: Callable[..., Flask], chromium) -> None:  # type: ignore[no-untyped-def]
    app = manage_demo_app(demo_app_factory, LOCATOR_TILES="none")
    make_user(app, "hd", "district_manager", districts=[HAIDIAN])
    server = LiveServer(app)
    phone = {k: v for k, v in PHONE.items() if k not in {"geolocation", "permissions"}}
    ctx = offline_context(chromium, **phone)
    try:
        page = ctx.new_page()
        watch = PageWatch(page)
        log_in(page, server, "hd", "/plan?at=2026-12-01T12:00&sites=0")
        page.wait_for_selector("path.plan-area", state="attached")
        assert page.input_value("#plan-sites") == "0" and page.locator("#plan-sites-table").count() == 0
        # Only Haidian's subdistricts are drawn, and only Haidian can be picked.
        options = page.eval_on_selector_all("#plan-district option", "os => os.map(o => o.value)")
        assert options == ["", HAIDIAN]
        assert 20 < page.locator("path.plan-area").count() < 40
        assert "覆盖规划" in page.inner_text("h1")
        # Every control of the form is labelled and at least 44 px tall.
        for sel in ("#plan-kind", "#plan-radius", "#plan-at", "#plan-district", "#plan-sites", "#plan-run"):
            box = page.locator(sel).bounding_box()
            assert box["height"] >= 44, sel
            if sel != "#plan-run":
                assert page.locator(f"label[for='{sel[1:]}']").count() == 1, sel
        for box in page.eval_on_selector_all(
            ".plan-candidates label.check", "ls => ls.map(l => l.getBoundingClientRect().height)"
        ):
            assert box >= 44
        # With sites and gap clusters drawn, every tap target (form, map buttons, layer rows,
        # cluster badges, site markers) is at least 44 x 44 px.
        page.goto(f"{server.url}/plan?at=2026-12-01T22:00&sites=5")
        page.wait_for_selector(".plan-site", state="attached")
        page.wait_for_selector(".plan-gap-cluster", state="attached")
        wait_for_js(page, "!window[document.querySelector('.folium-map').id]._animatingZoom")
        small = page.evaluate(SMALL_TARGETS_JS)
        assert small == [], small
        page.locator(".plan-map").screenshot(path=str(ARTIFACTS / "plan-phone-map.png"))
        page.screenshot(path=str(ARTIFACTS / "plan-phone.png"), full_page=True)
        assert watch.console_errors == [] and ctx.blocked == []
    finally:
        ctx.close()
        server.stop()
