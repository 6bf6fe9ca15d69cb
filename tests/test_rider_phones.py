"""Issue 13's "Done when", in a real headless Chromium on three phone profiles (zh-CN).

* **Results first**: after "find the nearest", result #1's name, distance, open state and
  go button are inside the first screen at default text, its name with large text; the
  filters are a collapsed one-line summary; on ``/`` the main button is inside the first
  screen with large text. Element bounding boxes against the viewport.
* **Tap targets**: a script walks every link, button, input, select, summary and map
  marker of ``/``, ``/nearest``, ``/lite``, ``/facility/<id>``, ``/embed/map`` and ``/map`` (every
  ``<details>`` opened first) and asserts each is at least 44 x 44 CSS px.
* **axe-core** (vendored in tests/vendor/axe-core from npm, injected by Playwright, no CDN):
  no serious or critical violation on the rider pages.

Screenshots of the results' first screen per phone go to tests/artifacts/.
The profiles are Playwright's device descriptors (viewport, scale, touch) for
"iPhone SE (3rd gen)", "iPhone 13" and "Pixel 7", with Chromium's own user agent.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from .conftest import ARTIFACTS, LiveServer, PageWatch, make_app, wait_for_js

pytestmark = pytest.mark.browser

WUDAOKOU = {"longitude": 116.3376, "latitude": 39.9925}  # WGS-84
WUDAOKOU_Q = "lon=116.3376&lat=39.9925"
FACILITY = "demo-cb-aoi-000021"
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"

PROFILES: dict[str, dict[str, Any]] = {
    "iphone-se": {"viewport": {"width": 375, "height": 667}, "device_scale_factor": 2},
    "iphone-13": {"viewport": {"width": 390, "height": 664}, "device_scale_factor": 3},
    "pixel-7": {"viewport": {"width": 412, "height": 839}, "device_scale_factor": 2.625},
}
RIDER_PAGES = (
    "/",
    f"/nearest?{WUDAOKOU_Q}&kind=warm_station",
    f"/lite?{WUDAOKOU_Q}&kind=warm_station",
    f"/facility/{FACILITY}",
    f"/embed/map?{WUDAOKOU_Q}",
    "/map",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, demo_db: Path) -> Iterator[LiveServer]:
    path = tmp_path_factory.mktemp("phones") / "demo.sqlite3"
    shutil.copy(demo_db, path)
    app: Flask = make_app(path, LOCATOR_TILES="none")
    srv = LiveServer(app)
    yield srv
    srv.stop()
    app.extensions["locator"].store.close()


def new_context(chromium, name: str, server: LiveServer, large_text: bool = False, **extra):  # type: ignore[no-untyped-def]
    """A zh-CN phone context of profile ``name``; only 127.0.0.1 is reachable."""
    context = chromium.new_context(
        **PROFILES[name],
        **extra,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        geolocation=WUDAOKOU,
        permissions=["geolocation"],
    )
    context.route(
        "**/*",
        lambda route: route.continue_() if route.request.url.startswith(server.url) else route.abort(),
    )
    if large_text:  # the site's own large-text setting (root font 125 %), as its header link sets it
        context.add_cookies([{"name": "text", "value": "large", "url": server.url}])
    return context


def box(page, selector: str) -> dict[str, float]:  # type: ignore[no-untyped-def]
    found = page.locator(selector).first.bounding_box()
    assert found is not None, f"{selector} is not rendered"
    return found


def on_first_screen(page, selector: str) -> None:  # type: ignore[no-untyped-def]
    b = box(page, selector)
    vw, vh = page.viewport_size["width"], page.viewport_size["height"]
    assert b["y"] >= 0 and b["y"] + b["height"] <= vh, (selector, b, vh)
    assert b["x"] >= 0 and b["x"] + b["width"] <= vw, (selector, b, vw)


def wait_for_markers(page) -> None:  # type: ignore[no-untyped-def]
    """On a page with a map, wait until its markers are drawn (the map loads after the list)."""
    if page.locator(".folium-map, .leaflet-container").count():
        wait_for_js(page, "document.querySelectorAll('.leaflet-marker-icon').length > 0")


def find_nearest(page, server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    """The rider's way in: open ``/``, tap the main button, land on the results."""
    page.goto(server.url + "/")
    page.tap("#find-nearest")
    page.wait_for_url("**/nearest?**")
    page.wait_for_selector("#results li.result")


# --- results first ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PROFILES)
def test_result_one_is_on_the_first_screen_at_default_text(chromium, server: LiveServer, name: str) -> None:
    context = new_context(chromium, name, server)
    page = context.new_page()
    watch = PageWatch(page)
    page.goto(server.url + "/")
    on_first_screen(page, "#find-nearest")
    find_nearest(page, server)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"results-first-screen-{name}.png"))  # the viewport only
    assert page.evaluate("window.scrollY") == 0
    first = "#results li.result:first-child"
    for part in (".name a", ".distance", ".hours", "a.go"):
        on_first_screen(page, f"{first} {part}")
    # the filters are collapsed to a one-line summary ("warm station · open now · … — change")
    assert page.evaluate("document.querySelector('details.more-filters').open") is False
    text = box(page, "details.more-filters .filter-summary")
    line = float(
        page.evaluate("parseFloat(getComputedStyle(document.querySelector('.filter-summary')).lineHeight)")
    )
    assert text["height"] <= 1.5 * line, text  # one line
    change = box(page, "details.more-filters .change")
    assert abs(change["y"] - text["y"]) < line, (change, text)  # "change" on the same line
    on_first_screen(page, "details.more-filters .change")
    assert watch.console_errors == []
    context.close()


@pytest.mark.parametrize("name", PROFILES)
def test_large_text_keeps_the_main_button_and_result_one_on_the_first_screen(
    chromium, server: LiveServer, name: str
) -> None:
    context = new_context(chromium, name, server, large_text=True)
    page = context.new_page()
    page.goto(server.url + "/")
    assert page.evaluate("getComputedStyle(document.documentElement).fontSize") == "20px"
    on_first_screen(page, "#find-nearest")
    find_nearest(page, server)
    on_first_screen(page, "#results li.result:first-child .name a")
    page.screenshot(path=str(ARTIFACTS / f"results-first-screen-{name}-large-text.png"))
    context.close()


# --- tap targets --------------------------------------------------------------------------------

#: Every tap target of the page with a box under 44 x 44 CSS px: links, buttons, inputs
#: (a checkbox or radio counts by its label), selects, summaries and Leaflet markers,
#: clusters and controls. Every <details> is opened first so that nothing escapes.
#: Skipped: elements not rendered, and visually-hidden ones (the skip link, 1 px boxes).
SMALL_TARGETS_JS = """() => {
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  const sel = 'a[href], button, input:not([type=hidden]), select, textarea, summary, '
            + '.leaflet-marker-icon, .leaflet-control a, .leaflet-control button';
  const seen = new Set();
  const out = [];
  for (let el of document.querySelectorAll(sel)) {
    if ((el.type === 'checkbox' || el.type === 'radio') && el.closest('label')) el = el.closest('label');
    if (seen.has(el)) continue;
    seen.add(el);
    const r = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    if (r.width === 0 || r.height === 0 || style.visibility === 'hidden') continue;
    if (r.width <= 1 || r.height <= 1 || r.bottom + window.scrollY <= 0 || r.right <= 0) continue;
    if (el.closest('[aria-hidden=true]') && !el.classList.contains('leaflet-marker-icon')) continue;
    // 44 CSS px, less a sub-pixel rounding of layout (a 44 px marker at a fractional offset
    // can measure 43.99998)
    if (r.width < 43.99 || r.height < 43.99)
      out.push([el.outerHTML.slice(0, 90), Math.round(r.width), Math.round(r.height)]);
  }
  return out;
}"""


@pytest.mark.parametrize("name", ["iphone-se", "pixel-7"])
@pytest.mark.parametrize("path", RIDER_PAGES)
def test_every_tap_target_is_at_least_44_px(chromium, server: LiveServer, name: str, path: str) -> None:
    context = new_context(chromium, name, server)
    page = context.new_page()
    response = page.goto(server.url + path)
    assert response is not None and response.status == 200
    wait_for_markers(page)
    counted = page.evaluate(
        "document.querySelectorAll('a[href], button, input:not([type=hidden]), select, summary').length"
    )
    assert counted > 3  # the walk sees the page's controls
    small = page.evaluate(SMALL_TARGETS_JS)
    assert small == [], (path, small)
    context.close()


# --- axe-core -----------------------------------------------------------------------------------


def axe_violations(page) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Run the vendored axe-core in the page; its serious and critical violations."""
    # The context bypasses CSP so that the test may add this one script; the page's own
    # scripts are the same as under the enforced policy.
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        """async () => {
             const r = await axe.run(document, {resultTypes: ['violations']});
             return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                            nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
           }"""
    )
    return [v for v in result if v["impact"] in {"serious", "critical"}]


@pytest.mark.parametrize("path", RIDER_PAGES)
def test_axe_finds_no_serious_or_critical_violation(chromium, server: LiveServer, path: str) -> None:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing (vendored from npm axe-core, see tests/vendor/axe-core/README.md)")
    context = new_context(chromium, "iphone-13", server, bypass_csp=True)
    page = context.new_page()
    page.goto(server.url + path)
    wait_for_markers(page)
    found = axe_violations(page)
    assert found == [], json.dumps(found, ensure_ascii=False, indent=1)
    context.close()


def test_the_checks_themselves_can_fail(chromium) -> None:
    """The walker and axe see a small button, a bare image and an unlabelled input."""
    context = chromium.new_context(**PROFILES["iphone-se"], bypass_csp=True)
    page = context.new_page()
    page.set_content(
        '<html lang="en"><title>t</title><main><button style="height:20px">x</button>'
        '<img src="data:,"><input type="text"></main></html>'
    )
    small = page.evaluate(SMALL_TARGETS_JS)
    assert [s[0][:7] for s in small] == ["<button", "<input "]
    found = {v["id"] for v in axe_violations(page)}
    assert {"image-alt", "label"} <= found
    context.close()
