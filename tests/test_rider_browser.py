"""The rider's path in a real headless Chromium (Debian's), phone-sized, zh-CN and English.

Every test checks that the page logs no console error and contacts no host but
127.0.0.1 (tiles are off: LOCATOR_TILES=none). Screenshots go to tests/artifacts/.
The marker assertions need the real locator/formats/maps.py (Folium, ``div.locator-marker``).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask

from locator.core.geo import geodesic_distance_m

from .conftest import ARTIFACTS, PHONE, LiveServer, PageWatch, make_app, wait_for_js
from .test_navigation import decode

pytestmark = pytest.mark.browser

WUDAOKOU_Q = "lon=116.3376&lat=39.9925"


@pytest.fixture
def server(tmp_path: Path, demo_db: Path) -> Iterator[LiveServer]:
    path = tmp_path / "demo.sqlite3"
    shutil.copy(demo_db, path)
    app: Flask = make_app(path, LOCATOR_TILES="none")
    srv = LiveServer(app)
    yield srv
    srv.stop()
    app.extensions["locator"].store.close()


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def clean(watch: PageWatch, context) -> None:  # type: ignore[no-untyped-def]
    assert watch.console_errors == []
    assert watch.foreign_requests() == []
    assert getattr(context, "blocked", []) == []


def result_ids(page) -> list[str]:  # type: ignore[no-untyped-def]
    return page.locator("#results li.result").evaluate_all("els => els.map(e => e.dataset.facilityId)")


def test_tap_find_nearest_shows_list_and_markers(phone, server: LiveServer) -> None:
    page = phone.new_page()
    watch = PageWatch(page)
    page.goto(server.url + "/")
    shot(page, "rider-home-zh")
    page.tap("#find-nearest")
    page.wait_for_url("**/nearest?**")
    assert "lon=116.337600" in page.url and "lat=39.992500" in page.url
    items = page.locator("#results li.result")
    assert items.count() == 10
    first = items.first
    assert first.locator(".name").is_visible() and first.locator(".hours").inner_text().strip()
    assert first.locator(".fresh").inner_text().strip()
    assert first.locator("a.nav-link").count() == 8
    # the list comes before the map, and the map shows one marker per result
    page.wait_for_selector(".leaflet-container .locator-marker", state="attached")
    marker_ids = page.locator(".leaflet-marker-pane .locator-marker").evaluate_all(
        "els => els.map(e => e.dataset.facilityId)"
    )
    assert sorted(marker_ids) == sorted(result_ids(page))
    shot(page, "rider-results-zh")
    clean(watch, phone)


def test_results_map_fits_every_marker_and_a_tap_opens_the_lists_words(phone, server: LiveServer) -> None:
    """The numbered markers are drawn by static/js/results-map.js from the page's data."""
    page = phone.new_page()
    watch = PageWatch(page)
    page.goto(server.url + f"/nearest?{WUDAOKOU_Q}&kind=warm_station")
    page.wait_for_selector(".leaflet-marker-pane .locator-marker", state="attached")
    map_var = "window[document.querySelector('.folium-map').id]"
    wait_for_js(page, f"!{map_var}._animatingZoom")
    # The view was fitted to the rider and every result: each marker is inside the map's bounds.
    outside = page.evaluate(
        f"""() => {{
          const map = {map_var}, box = map.getBounds(), out = [];
          map.eachLayer(l => {{
            if (l instanceof L.Marker && !box.contains(l.getLatLng())) out.push(l.getLatLng());
          }});
          return out;
        }}"""
    )
    assert outside == []
    # ... and fitted tightly: the markers span at least a third of the map's width or height
    # (Leaflet picks whole zoom levels, so a fitted span is between about 1/2 and 1 of it).
    fill = page.evaluate(
        f"""() => {{
          const map = {map_var}, size = map.getSize(), xs = [], ys = [];
          map.eachLayer(l => {{
            if (!(l instanceof L.Marker)) return;
            const p = map.latLngToContainerPoint(l.getLatLng());
            xs.push(p.x);
            ys.push(p.y);
          }});
          const span = v => Math.max(...v) - Math.min(...v);
          return Math.max(span(xs) / size.x, span(ys) / size.y);
        }}"""
    )
    assert fill > 1 / 3, fill
    ranks = page.locator(".leaflet-marker-pane .locator-marker").evaluate_all(
        "els => els.map(e => +e.dataset.rank)"
    )
    assert sorted(ranks) == list(range(1, len(result_ids(page)) + 1))
    assert page.locator(".leaflet-marker-pane .locator-origin").count() == 1
    first = page.locator("#results li.result").first
    name = first.locator(".name").inner_text()
    page.locator('.leaflet-marker-pane .locator-marker[data-rank="1"]').scroll_into_view_if_needed()
    page.locator('.leaflet-marker-pane .locator-marker[data-rank="1"]').tap()
    popup = page.locator(".leaflet-popup-content .locator-popup")
    popup.wait_for()
    popup_name = popup.locator(".locator-popup-name").inner_text().strip()
    assert popup_name.startswith("1. ") and popup_name[3:] in name  # the list adds its rank and demo badge
    assert popup.locator("a.locator-popup-go").get_attribute("data-facility-id") == result_ids(page)[0]
    assert (
        popup.locator(".locator-popup-hours").inner_text().strip()
        == first.locator(".hours").inner_text().strip()
    )
    assert popup.locator("a.locator-popup-go").get_attribute("href", timeout=2000).startswith("https://")
    clean(watch, phone)


def test_filters_change_the_results(phone, server: LiveServer) -> None:
    page = phone.new_page()
    watch = PageWatch(page)
    page.goto(server.url + f"/nearest?{WUDAOKOU_Q}&kind=warm_station")
    before = result_ids(page)
    page.locator("details.more-filters > summary").tap()
    with page.expect_navigation():
        page.locator("label.toggle", has=page.locator("input[value=food_heating]")).tap()
    assert "amenity=food_heating" in page.url
    after = result_ids(page)
    assert after and after != before
    for item in page.locator("#results li.result").all():
        assert "可加热饭菜" in item.locator(".amenities").inner_text()
    assert page.locator("input[value=food_heating]").is_checked()
    # results first: the filters are collapsed again, their summary names the need
    assert page.evaluate("document.querySelector('details.more-filters').open") is False
    assert "可加热饭菜" in page.locator(".filter-summary").inner_text()
    # another kind tab keeps the position and the open-now filter
    page.locator("details.more-filters > summary").tap()
    with page.expect_navigation():
        page.get_by_role("link", name="母婴关爱室").tap()
    qs = parse_qs(urlsplit(page.url).query)
    assert qs["kind"] == ["nursing_room"] and qs["lon"] == ["116.3376"]
    assert page.locator("input[value=breastfeeding_room]").count() == 1
    clean(watch, phone)


def test_a_navigation_link_lands_on_the_facility(phone, server: LiveServer) -> None:
    page = phone.new_page()
    watch = PageWatch(page)
    for query, start in ((WUDAOKOU_Q, None), (f"{WUDAOKOU_Q}&from=五道口", (116.3376, 39.9925))):
        page.goto(server.url + f"/nearest?{query}")
        first = page.locator("#results li.result").first
        fid = first.get_attribute("data-facility-id")
        api = page.request.get(server.url + f"/api/v1/facilities/{fid}").json()
        lon, lat = api["geometry"]["coordinates"]
        assert first.locator("a.go").count() == 1  # one go button; the other apps one tap away
        links = first.locator("a.go, a.nav-link").all()
        assert len(links) >= 5
        for link in links:
            app, mode, dest, origin = decode(link.get_attribute("href"))
            assert (app, mode) == (link.get_attribute("data-app"), link.get_attribute("data-mode"))
            assert geodesic_distance_m(*dest, lon, lat) < 5
            assert link.get_attribute("target") == "_blank"  # never replaces the results page
            if start is None:  # the app starts at the phone's own position
                assert origin is None, link.get_attribute("href")
            else:  # a chosen place: the route starts there
                assert origin is not None and geodesic_distance_m(*origin, *start) < 5
    clean(watch, phone)


def test_lite_page_renders_without_javascript(chromium, server: LiveServer) -> None:
    context = chromium.new_context(**PHONE, java_script_enabled=False)
    page = context.new_page()
    watch = PageWatch(page)
    page.goto(server.url + f"/lite?{WUDAOKOU_Q}")
    assert page.locator("#results > li").count() == 10
    assert page.locator("#results > li").first.locator("h2").inner_text().strip()
    # filters work without JavaScript (plain GET form)
    page.locator("select[name=kind]").select_option("nursing_room")
    with page.expect_navigation():
        page.locator("#lite-filters button[type=submit]").click()
    assert "kind=nursing_room" in page.url and page.locator("#results > li").count() > 0
    shot(page, "rider-lite-nojs-zh")
    clean(watch, context)
    context.close()


def test_offline_after_one_search_shows_the_saved_shortlist(phone, server: LiveServer) -> None:
    page = phone.new_page()
    watch = PageWatch(page)
    page.goto(server.url + f"/nearest?{WUDAOKOU_Q}&kind=warm_station")
    online_ids = result_ids(page)
    assert not page.locator(".offline-note").is_visible()
    page.wait_for_selector('html[data-saved="1"]', state="attached", timeout=15000)
    phone.set_offline(True)
    try:
        page.reload()
        assert page.get_attribute("html", "data-offline") == "1"
        assert result_ids(page) == online_ids
        note = page.locator(".offline-note")
        assert note.is_visible() and re.search(r"保存于\d\d:\d\d，信息可能已过时", note.inner_text())
        shot(page, "rider-offline-zh")
        # the same question from within 250 m (about 85 m east) is answered with the list
        page.goto(server.url + "/nearest?lon=116.3386&lat=39.9925&kind=warm_station")
        assert result_ids(page) == online_ids and page.locator(".offline-note").is_visible()
        # a station of the list: its own page, saved with the list
        page.goto(server.url + f"/facility/{online_ids[0]}")
        assert page.locator("h1").inner_text().strip() and not page.locator(".offline-page").count()
        # the start page still opens
        page.goto(server.url + "/")
        assert page.locator("#find-nearest").is_visible()
    finally:
        phone.set_offline(False)
    clean(watch, phone)


@pytest.mark.parametrize(
    "other",
    [
        f"/nearest?{WUDAOKOU_Q}&kind=nursing_room",  # another kind
        f"/nearest?{WUDAOKOU_Q}&kind=warm_station&amenity=toilet",  # other needs
        "/nearest?lon=116.40&lat=39.90&kind=warm_station",  # another place (8 km away)
        "/facility/demo-osm-node-0",  # a station not in the saved list
        "/map",
    ],
)
def test_offline_a_different_request_gets_the_offline_page(phone, server: LiveServer, other: str) -> None:
    page = phone.new_page()
    page.goto(server.url + f"/nearest?{WUDAOKOU_Q}&kind=warm_station")
    page.wait_for_selector('html[data-saved="1"]', state="attached", timeout=15000)
    phone.set_offline(True)
    try:
        page.goto(server.url + other)
        assert page.locator(".offline-page").is_visible(), page.content()[:500]
        assert result_ids(page) == []  # never another search's list
        assert "此搜索未保存在手机上" in page.locator(".offline-page").inner_text()
        last = page.locator("#last-saved a")
        assert "kind=warm_station" in (last.get_attribute("href") or "")
        assert "户外劳动者暖心驿站" in last.inner_text()
        if other == "/map":
            shot(page, "rider-offline-mismatch-zh")
        with page.expect_navigation():
            last.tap()
        assert len(result_ids(page)) == 10 and page.locator(".offline-note").is_visible()
    finally:
        phone.set_offline(False)


def test_english_path(chromium, server: LiveServer) -> None:
    context = chromium.new_context(**{**PHONE, "locale": "en-US"})
    page = context.new_page()
    watch = PageWatch(page)
    page.goto(server.url + "/")
    assert page.locator("#find-nearest").inner_text() == "Find the nearest open one"
    page.tap("#find-nearest")
    page.wait_for_url("**/nearest?**")
    assert page.locator("h1").inner_text() == "Nearest to you"
    assert page.locator("#results li.result").count() == 10
    hours = page.locator("#results li.result .hours").first.inner_text()
    assert re.match(r"(Open|Closes|Closed|Hours)", hours), hours
    go = page.locator("#results li.result a.go").first.inner_text()
    assert re.match(r"Go\s*·\s*AMap\s*·\s*(Walk|Cycle)", go), go
    shot(page, "rider-results-en")
    # the visible switch goes back to Chinese
    with page.expect_navigation():
        page.get_by_role("link", name="中文").tap()
    assert page.locator("h1").inner_text() == "离您最近"
    clean(watch, context)
    context.close()


def test_place_search_suggests_and_opens_results(phone, server: LiveServer) -> None:
    page = phone.new_page()
    watch = PageWatch(page)
    page.goto(server.url + "/")
    page.locator("#place-q").fill("五道口")
    first = page.locator("#place-suggestions a").first
    first.wait_for()
    assert "五道口" in first.inner_text()
    with page.expect_navigation():
        first.tap()
    assert page.locator("h1").inner_text() == "离五道口最近"
    assert page.locator("#results li.result").count() == 10
    clean(watch, phone)


def test_tap_targets_are_at_least_44_px(phone, server: LiveServer) -> None:
    page = phone.new_page()
    for url in ("/", f"/nearest?{WUDAOKOU_Q}", "/facility/demo-cb-aoi-000021", "/places?q=五道口"):
        response = page.goto(server.url + url)
        assert response is not None and response.status == 200, url
        small = page.evaluate(
            """() => Array.from(document.querySelectorAll(
                 'main a, main button, main select, main input:not([type=hidden]), header a'))
               .map(el => (el.type === 'checkbox' || el.type === 'radio') ? el.closest('label') || el : el)
               .filter(el => el.offsetParent !== null && !el.closest('.leaflet-container'))
               .map(el => [el.outerHTML.slice(0, 80), el.getBoundingClientRect().height])
               .filter(([_, h]) => h < 44)"""
        )
        assert small == [], (url, small)


def test_feedback_in_one_tap_and_a_problem_report(phone, server: LiveServer) -> None:
    page = phone.new_page()
    watch = PageWatch(page)
    page.goto(server.url + f"/nearest?{WUDAOKOU_Q}")
    first = page.locator("#results li.result").first
    fid = first.get_attribute("data-facility-id")
    url_before = page.url
    first.locator("form.fb-yes button[type=submit]").tap()
    status = first.locator(".fb-status")
    status.wait_for()
    assert status.inner_text() == "谢谢！您的确认已保存。" and page.url == url_before
    # report a problem from the facility page
    with page.expect_navigation():
        first.locator("a.fb-report").tap()
    page.locator("label.toggle", has=page.locator("input[value=moved]")).tap()
    page.locator("#comment").fill("搬到马路对面了")
    page.locator("#report button[type=submit]").tap()
    page.locator("#report .fb-status").wait_for()
    assert "报告已保存" in page.locator("#report .fb-status").inner_text()
    stored = server.app.extensions["locator"].store.list_feedback(fid)
    assert [(x.verdict, x.reason, x.comment) for x in stored] == [
        ("problem", "moved", "搬到马路对面了"),
        ("confirm", "", ""),
    ]
    clean(watch, phone)


def test_a_checkin_shows_in_the_entry_at_once_and_counts_once(phone, server: LiveServer) -> None:
    page = phone.new_page()
    watch = PageWatch(page)
    page.goto(server.url + f"/nearest?{WUDAOKOU_Q}&kind=warm_station")
    first = page.locator("#results li.result").first
    fid = first.get_attribute("data-facility-id")
    first.locator("form.checkin button[value=locked]").tap()
    status = first.locator(".ci-status")
    wait_for_js(page, f"!!document.querySelector('#f-{fid} .ci-status').textContent.trim()")
    assert status.inner_text() == "谢谢！您刚刚报告了门锁着。"
    box = status.bounding_box()
    assert box is not None and 0 <= box["y"] and box["y"] + box["height"] <= page.viewport_size["height"]
    assert "谢谢！您刚刚报告了门锁着。" in first.locator("p.live").inner_text()  # the entry, at once
    # the same rider again within the hour: said so, counted once
    first.locator("form.checkin button[value=locked]").tap()
    wait_for_js(page, f"document.querySelector('#f-{fid} .ci-status').textContent.includes('一小时内')")
    api = page.request.get(server.url + f"/api/v1/facilities/{fid}").json()
    assert api["properties"]["live"]["reports"] == 1
    # a reload shows the stored report in the list's words, the station not hidden
    page.reload()
    assert fid in result_ids(page)
    assert "1 位骑手报告锁门，刚刚" in page.locator(f"#f-{fid}").inner_text()
    assert watch.console_errors == [] or all("429" in e for e in watch.console_errors)
    assert watch.foreign_requests() == []


def test_feedback_form_works_without_javascript(chromium, server: LiveServer) -> None:
    context = chromium.new_context(**PHONE, java_script_enabled=False)
    page = context.new_page()
    watch = PageWatch(page)
    page.goto(server.url + f"/nearest?{WUDAOKOU_Q}")
    first = page.locator("#results li.result").first
    with page.expect_navigation():
        first.locator("form.fb-yes button[type=submit]").click()
    assert "fb=confirm" in page.url and page.url.startswith(server.url + "/nearest?")
    assert (
        page.locator("#results li.result").first.locator(".fb-status").inner_text()
        == "谢谢！您的确认已保存。"
    )
    clean(watch, context)
    context.close()


def test_map_permalink_reopens_the_same_view(chromium, server: LiveServer) -> None:
    context = chromium.new_context(**PHONE)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    watch = PageWatch(page)
    page.goto(server.url + "/map")
    page.wait_for_selector(".marker-cluster", state="attached", timeout=15000)
    map_var = "window[document.querySelector('.folium-map').id]"
    # Move the map as a rider would: after its opening zoom animation (a view set during
    # it is undone when it ends, on a slow machine too).
    wait_for_js(page, f"!{map_var}._animatingZoom")
    page.evaluate(f"{map_var}.setView([39.9925, 116.3376], 15, {{animate: false}})")
    wait_for_js(page, "location.search.includes('zoom=15')")
    shared = page.locator("#share-url").input_value()
    assert shared == page.url and "lon=116.33" in shared and "lat=39.99" in shared
    page.locator("#share-button").tap()
    page.locator(".share-status").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == shared
    # a fresh page from the link shows the same centre and zoom
    other = context.new_page()
    other.goto(shared)
    other.wait_for_selector(".marker-cluster", state="attached", timeout=15000)
    # the shared view is applied once the map's own opening animation has finished
    wait_for_js(other, f"{map_var}.getZoom() === 15", 15000)
    centre = other.evaluate(
        f"(() => {{ const m = {map_var}; const c = m.getCenter(); return [c.lng, c.lat, m.getZoom()]; }})()"
    )
    assert centre[2] == 15 and geodesic_distance_m(centre[0], centre[1], 116.3376, 39.9925) < 5
    shot(other, "rider-map-permalink")
    clean(watch, context)
    context.close()


def test_large_text_and_keyboard_path(phone, server: LiveServer) -> None:
    page = phone.new_page()
    watch = PageWatch(page)
    page.goto(server.url + f"/nearest?{WUDAOKOU_Q}")
    assert page.evaluate("getComputedStyle(document.documentElement).fontSize") == "16px"
    with page.expect_navigation():
        page.locator("a.text-size").tap()
    assert page.evaluate("getComputedStyle(document.documentElement).fontSize") == "20px"
    assert page.locator("#results li.result").count() == 10
    shot(page, "rider-results-large-text")
    # keyboard: the first Tab reaches the skip link, which jumps to the content
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    for _ in range(80):
        page.keyboard.press("Tab")
        if page.evaluate("!!document.activeElement.closest('#results li.result .name')"):
            break
    else:
        pytest.fail("the first result's name is not reachable by keyboard")
    # every control in the page has an accessible name
    unnamed = page.evaluate(
        """() => Array.from(document.querySelectorAll(
             'main a, main button, main input, main select, main textarea'))
           .filter(el => el.type !== 'hidden' && !el.closest('.leaflet-container'))
           .filter(el => !((el.labels && el.labels.length) || el.getAttribute('aria-label') ||
                           el.getAttribute('aria-labelledby') || (el.textContent || '').trim()))
           .map(el => el.outerHTML.slice(0, 80))"""
    )
    assert unnamed == []
    page.goto(server.url + "/")
    assert page.evaluate("getComputedStyle(document.documentElement).fontSize") == "20px"  # remembered
    clean(watch, phone)
