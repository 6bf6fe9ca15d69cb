"""Rider pages without a browser: needs-first filters, hours in words, freshness, ranking."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from flask import Flask

from locator.core.domain import NearestQuery
from locator.core.geo import Datum
from locator.core.riders import NEED_TOGGLES, freshness, ranked_nearest
from locator.services.facilities import LocatorService

from .conftest import make_app

WUDAOKOU = "lon=116.3376&lat=39.9925"


def ids_in_order(html: str) -> list[str]:
    return re.findall(r'<li class="result[^"]*" id="f-[^"]+" data-facility-id="([^"]+)"', html)


def test_home_has_kind_tabs_need_toggles_and_open_now_on(demo_client) -> None:
    html = demo_client.get("/").get_data(as_text=True)
    tabs = re.findall(r'<nav class="tabs".*?</nav>', html, re.S)[0]
    assert tabs.count("<a ") == 4 and tabs.count('aria-current="page"') == 1
    toggles = re.findall(r'name="amenity" value="([a-z_]+)"', html)
    assert toggles == list(NEED_TOGGLES["warm_station"])
    assert re.search(r'name="open_now" value="true" id="open-now" checked', html)
    nursing = demo_client.get("/?kind=nursing_room").get_data(as_text=True)
    assert re.findall(r'name="amenity" value="([a-z_]+)"', nursing) == list(NEED_TOGGLES["nursing_room"])


def test_toggles_filter_the_results(demo_app: Flask) -> None:
    c = demo_app.test_client()
    base = f"/nearest?{WUDAOKOU}&kind=warm_station&open_now=false&open_now=true"
    plain = ids_in_order(c.get(base).get_data(as_text=True))
    picky = ids_in_order(c.get(base + "&amenity=toilet&amenity=food_heating").get_data(as_text=True))
    assert len(picky) == 10 and plain != picky
    svc: LocatorService = demo_app.extensions["locator"]
    for fid in picky:
        assert {"toilet", "food_heating"} <= svc.get(fid).amenities


def test_open_now_toggle_off_includes_closed_places(demo_client) -> None:
    # 03:00 on a Monday: most places are closed, so "open now" changes the list.
    at = "&at=2026-11-23T03:00:00%2B08:00"
    on = demo_client.get(f"/nearest?{WUDAOKOU}{at}&open_now=false&open_now=true").get_data(as_text=True)
    off = demo_client.get(f"/nearest?{WUDAOKOU}{at}&open_now=false").get_data(as_text=True)
    assert ids_in_order(on) != ids_in_order(off)
    assert "已关门" in off and "已关门" not in on
    assert re.search(r'id="open-now" checked', on) and not re.search(r'id="open-now" checked', off)


def test_results_use_the_rider_ranking(demo_app: Flask) -> None:
    svc: LocatorService = demo_app.extensions["locator"]
    html = demo_app.test_client().get(f"/nearest?{WUDAOKOU}&open_now=false").get_data(as_text=True)
    now = datetime.now(UTC)
    want = ranked_nearest(svc.index, NearestQuery(116.3376, 39.9925, k=10), now)
    assert ids_in_order(html) == [h.facility.id for h in want]


def test_hours_in_words_and_freshness_are_shown(app: Flask) -> None:
    svc: LocatorService = app.extensions["locator"]
    now = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # the page's at= instant; freshness is as of then
    svc.create(
        {
            "kind": "warm_station",
            "name": "Night",
            "lon": 116.40,
            "lat": 39.90,
            "opening_hours": "Mo-Su 18:00-02:00",
            "verified_at": (now - timedelta(days=3)).isoformat(),
        },
        Datum.WGS84,
    )
    svc.create(
        {
            "kind": "warm_station",
            "name": "Old",
            "lon": 116.4001,
            "lat": 39.90,
            "opening_hours": "24/7",
            "verified_at": (now - timedelta(days=200)).isoformat(),
        },
        Datum.WGS84,
    )
    c = app.test_client()
    html = c.get(
        "/nearest?lon=116.40&lat=39.90&open_now=false&at=2026-11-23T23:00:00%2B08:00&lang=en",
    ).get_data(as_text=True)
    assert "Open until 02:00 (past midnight)" in html
    assert "Open 24 h" in html
    assert "Verified 3 days ago" in html
    assert "Not verified for 200 days" in html and "Check before you go" in html
    zh = c.get("/nearest?lon=116.40&lat=39.90&open_now=false&at=2026-11-23T23:00:00%2B08:00&lang=zh")
    zh = zh.get_data(as_text=True)
    assert "营业至次日02:00" in zh and "24小时开放" in zh


def test_stale_period_is_the_managers_setting(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # LOCATOR_STALE_DAYS drives both the managers' stale list and the riders' marks/ranking.
    app = make_app(tmp_path / "s.sqlite3", LOCATOR_STALE_DAYS="10")
    svc: LocatorService = app.extensions["locator"]
    now = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    near = {"kind": "warm_station", "lat": 39.90, "opening_hours": "24/7"}
    svc.create(
        {**near, "name": "A", "lon": 116.40, "verified_at": (now - timedelta(days=20)).isoformat()},
        Datum.WGS84,
    )
    svc.create(
        {**near, "name": "B", "lon": 116.4005, "verified_at": (now - timedelta(days=5)).isoformat()},
        Datum.WGS84,
    )
    html = (
        app.test_client()
        .get("/nearest?lon=116.40&lat=39.90&open_now=false&at=2026-11-23T23:00:00%2B08:00&lang=en")
        .get_data(as_text=True)
    )
    names = re.findall(r'<a href="/facility/[^"]+">([^<]+)</a>', html)
    assert names[:2] == ["B", "A"]  # same 250 m band: the fresh one first, though 43 m farther
    assert "Not verified for 20 days" in html and "Verified 5 days ago" in html
    app.extensions["locator"].store.close()


def test_public_holiday_note(app: Flask) -> None:
    svc: LocatorService = app.extensions["locator"]
    svc.create(
        {
            "kind": "warm_station",
            "name": "Bank",
            "lon": 116.40,
            "lat": 39.90,
            "opening_hours": "Mo-Fr 08:30-17:30; PH off",
        },
        Datum.WGS84,
    )
    html = (
        app.test_client()
        .get("/nearest?lon=116.40&lat=39.90&open_now=false&at=2026-10-01T10:00:00%2B08:00&lang=en")
        .get_data(as_text=True)
    )
    # National Day week (1-7 Oct 2026, the State Council notice): back on Thursday 8 October
    assert "Closed · opens Thursday at 08:30" in html
    assert "Public holiday today" in html


def test_nearest_without_a_position_asks_where(demo_client) -> None:
    r = demo_client.get("/nearest?kind=nursing_room&amenity=fridge")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert 'name="area"' in html and "您在哪里" in html
    assert 'name="kind" value="nursing_room"' in html and 'name="amenity" value="fridge"' in html


def test_facility_page(demo_app: Flask) -> None:
    svc: LocatorService = demo_app.extensions["locator"]
    f = svc.nearest(NearestQuery(116.3376, 39.9925, k=1))[0].facility
    html = demo_app.test_client().get(f"/facility/{f.id}?{WUDAOKOU}").get_data(as_text=True)
    assert f.name in html and "uri.amap.com/navigation?" in html and "apis.map.qq.com" in html
    fr = freshness(f, datetime.now(UTC))
    assert ("已" in html) if fr.stale else ("核实" in html)
    r = demo_app.test_client().get("/facility/nope", headers={"Accept": "text/html"})
    assert r.status_code == 404 and r.mimetype == "text/html"


def test_large_text_setting_works_without_javascript(demo_client) -> None:
    html = demo_client.get(f"/nearest?{WUDAOKOU}").get_data(as_text=True)
    link = re.search(r'<a href="([^"]+)" class="text-size">大字号</a>', html)
    assert link and 'class="large-text"' not in html
    r = demo_client.get(link.group(1).replace("&amp;", "&"))
    assert r.status_code == 303 and r.headers["Location"].startswith(f"/nearest?{WUDAOKOU}")
    assert "text=large" in r.headers["Set-Cookie"]
    html = demo_client.get(r.headers["Location"]).get_data(as_text=True)
    assert 'class="large-text"' in html and 'class="text-size">标准字号</a>' in html
    assert 'class="lg"' in demo_client.get("/lite").get_data(as_text=True)
    back = re.search(r'<a href="([^"]+)" class="text-size">', html).group(1).replace("&amp;", "&")
    demo_client.get(back)
    assert 'class="large-text"' not in demo_client.get("/").get_data(as_text=True)
    assert demo_client.get("/prefs/text?size=huge").status_code == 400
    assert demo_client.get("/prefs/text?size=large&next=//evil.example").headers["Location"] == "/"


def test_map_permalink_view_is_parsed_and_converted(tmp_path, demo_db) -> None:
    import html as htmlmod
    import json as jsonmod

    from locator.core.geo import Datum, from_wgs84

    from .conftest import make_app

    def view(app, qs: str):  # type: ignore[no-untyped-def]
        r = app.test_client().get("/map?" + qs)
        assert r.status_code == 200, r.get_data(as_text=True)[:300]
        m = re.search(r'data-view="([^"]+)"', r.get_data(as_text=True))
        return None if m is None else jsonmod.loads(htmlmod.unescape(m.group(1)))

    wgs = make_app(tmp_path / "a.sqlite3", LOCATOR_TILES="osm")
    assert view(wgs, "") is None
    assert view(wgs, "lon=116.4&lat=39.9&zoom=14") == [39.9, 116.4, 14]
    glon, glat = from_wgs84(116.4, 39.9, Datum.GCJ02)
    back = view(wgs, f"lon={glon}&lat={glat}&zoom=12&datum=gcj02")
    assert back[2] == 12 and abs(back[0] - 39.9) < 1e-6 and abs(back[1] - 116.4) < 1e-6
    gcj = make_app(
        tmp_path / "b.sqlite3",
        LOCATOR_TILES="custom",
        LOCATOR_TILE_URL="https://tiles.example/{z}/{x}/{y}.png",
        LOCATOR_TILE_DATUM="gcj02",
    )
    shifted = view(gcj, "lon=116.4&lat=39.9&zoom=14")
    assert shifted == [round(glat, 6), round(glon, 6), 14]
    c = wgs.test_client()
    for bad in ("lon=116.4&lat=39.9", "lon=116.4&lat=39.9&zoom=30", "lon=abc&lat=39.9&zoom=3", "zoom=5"):
        assert c.get("/map?" + bad, headers={"Accept": "text/html"}).status_code == 400, bad
    for app in (wgs, gcj):
        app.extensions["locator"].store.close()


def test_nearest_page_offers_its_permalink(demo_client) -> None:
    html = demo_client.get(f"/nearest?{WUDAOKOU}&kind=union_home").get_data(as_text=True)
    m = re.search(r'<input type="text" id="share-url" readonly value="([^"]+)">', html)
    assert m and m.group(1).replace("&amp;", "&").startswith(f"/nearest?{WUDAOKOU}")
    assert "kind=union_home" in m.group(1)
