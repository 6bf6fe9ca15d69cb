"""The /plan pages on both stores: who may see what, bad input, downloads, languages."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import shapely
from flask import Flask
from flask.testing import FlaskClient

from locator.core.areas import load_districts
from locator.services.planning import parse_instant

from .manage_support import CHAOYANG, HAIDIAN, demo_copy, login, make_user, manage_demo_app
from .test_languages import data_words, untranslated

NIGHT = "at=2026-12-01T22:00"


def with_users(app: Flask) -> Flask:
    make_user(app, "root", "admin")
    make_user(app, "hd", "district_manager", districts=[HAIDIAN])
    fid = next(f.id for f in app.extensions["locator"].index.facilities() if f.district_adcode == HAIDIAN)
    make_user(app, "st", "station_manager", facilities=[fid])
    return app


@pytest.fixture
def planner(demo_app_factory: Callable[..., Flask]) -> Flask:
    """The demo layer (both stores) with an admin, a Haidian manager and a station manager."""
    return with_users(manage_demo_app(demo_app_factory, LOCATOR_TILES="none"))


@pytest.fixture
def sqlite_planner(tmp_path: Path, demo_db: Path) -> Iterator[Flask]:
    """The same on SQLite only, for what does not touch the store (parameters, words)."""
    app = with_users(demo_copy(tmp_path, demo_db, LOCATOR_TILES="none"))
    yield app
    app.extensions["locator"].store.close()


def client_for(app: Flask, name: str) -> FlaskClient:
    c = app.test_client()
    assert login(c, name).status_code == 303
    return c


def test_admin_sees_numbers_map_chart_gaps_sites_and_downloads(planner: Flask) -> None:
    c = client_for(planner, "root")
    resp = c.get(f"/plan?{NIGHT}&sites=5&lang=en")
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    assert resp.headers["Cache-Control"] == "private, no-store"
    html = resp.get_data(as_text=True)
    ps = planner.extensions["locator.planning"]
    report = ps.report(ps.check("warm_station", 1000, parse_instant("2026-12-01T22:00"), sites=5))
    m = re.search(r'id="plan-share" data-share="([0-9.]+)"', html)
    assert m and float(m.group(1)) == pytest.approx(report.covered_share, abs=1e-4)
    assert (
        'class="folium-map locator-map"' in html and "L.geoJson(" in html and "plan-area plan-share-" in html
    )
    assert html.count('<rect class="bar') == 24
    assert html.count('<tr data-rank="') == len(report.sites) == 5
    gaps = re.findall(r'<tr data-gap="([^"]+)">', html)
    assert gaps == [a.code for a in report.gaps("subdistrict", 10)]
    assert 'href="/plan/coverage.geojson?' in html and 'href="/plan/coverage.csv?' in html
    assert "not counts of riders" in html


def test_downloads_are_the_same_question_as_files(planner: Flask) -> None:
    c = client_for(planner, "root")
    geo = c.get(f"/plan/coverage.geojson?{NIGHT}&sites=3")
    assert geo.status_code == 200 and geo.mimetype == "application/geo+json"
    assert (
        geo.headers["Content-Disposition"]
        == 'attachment; filename="coverage-warm_station-20261201-2200.geojson"'
    )
    doc = json.loads(geo.get_data(as_text=True))
    layers = {f["properties"]["layer"] for f in doc["features"]}
    assert layers == {"area", "uncovered", "site"} and len(doc["summary"]["sites"]) == 3
    uncovered = [f for f in doc["features"] if f["properties"]["layer"] == "uncovered"]
    assert len(uncovered) == doc["summary"]["demand_points"] - doc["summary"]["covered_points"]
    table = c.get(f"/plan/coverage.csv?{NIGHT}&sites=3")
    assert table.status_code == 200 and table.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(table.get_data(as_text=True))))
    total = next(r for r in rows if r["record"] == "total")
    assert float(total["covered_share"]) == doc["summary"]["covered_share"]
    assert len([r for r in rows if r["record"] == "hour"]) == 24
    assert len([r for r in rows if r["record"] == "site"]) == 3


def test_district_manager_sees_only_their_districts(planner: Flask) -> None:
    c = client_for(planner, "hd")
    resp = c.get(f"/plan?{NIGHT}")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    options = re.findall(r'<option value="(\d{6})"', html)
    assert options == [HAIDIAN]
    doc = json.loads(c.get(f"/plan/coverage.geojson?{NIGHT}").get_data(as_text=True))
    assert doc["summary"]["districts"] == [HAIDIAN]
    areas = [f for f in doc["features"] if f["properties"]["layer"] == "area"]
    assert areas and all(f["properties"]["district_code"] == HAIDIAN for f in areas)
    # The demand counted is exactly the shipped demand inside Haidian's polygon (an
    # independent point-in-polygon: shapely.covers on the district, not the STRtree query).
    demand = planner.extensions["locator.planning"].default_demand()
    haidian = load_districts().by_code(HAIDIAN)
    inside = shapely.covers(haidian.geometry, shapely.points(demand.lon, demand.lat))
    assert doc["summary"]["demand_points"] == int(np.count_nonzero(inside)) > 1000
    for f in (f for f in doc["features"] if f["properties"]["layer"] == "uncovered"):
        assert haidian.geometry.covers(shapely.Point(f["geometry"]["coordinates"]))
    # Another district: refused, page and file alike.
    assert c.get(f"/plan?{NIGHT}&district={CHAOYANG}").status_code == 403
    assert c.get(f"/plan/coverage.csv?{NIGHT}&district={CHAOYANG}").status_code == 403
    assert c.get(f"/plan?{NIGHT}&district={HAIDIAN}").status_code == 200


def test_admin_may_pick_any_district(planner: Flask) -> None:
    c = client_for(planner, "root")
    doc = json.loads(c.get(f"/plan/coverage.geojson?{NIGHT}&district={CHAOYANG}").get_data(as_text=True))
    assert doc["summary"]["districts"] == [CHAOYANG]


def test_station_managers_and_strangers_are_kept_out(planner: Flask) -> None:
    c = client_for(planner, "st")
    assert c.get("/plan").status_code == 403
    assert c.get(f"/plan/coverage.geojson?{NIGHT}").status_code == 403
    assert "/plan" not in c.get("/manage").get_data(as_text=True).split('<section class="manage">')[0]
    anon = planner.test_client()
    resp = anon.get("/plan")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert anon.get("/plan/coverage.csv").status_code == 302


BAD_QUERIES = [
    ("radius_m=49", "radius_m"),
    ("radius_m=5001", "radius_m"),
    ("radius_m=abc", "radius_m"),
    ("sites=501", "sites"),
    ("sites=-1", "sites"),
    ("kind=hospital", "kind"),
    ("at=yesterday", "at"),
    ("sites=5&candidates=skyscrapers", "candidates"),
    ("district=999999", "district"),
]


def test_bad_input_gives_400_naming_the_parameter(sqlite_planner: Flask) -> None:
    c = client_for(sqlite_planner, "root")
    for query, param in BAD_QUERIES:
        page = c.get(f"/plan?{query}&lang=en")
        assert page.status_code == 400 and page.mimetype == "text/html", query
        html = page.get_data(as_text=True)
        assert 'id="plan-error"' in html and f"<code>{param}</code>" in html, query
        assert 'id="plan-form"' in html  # the form is there to correct it
        assert c.get(f"/plan/coverage.csv?{query}").status_code == 400, query
        problem = c.get(f"/plan/coverage.geojson?{query}", headers={"Accept": "application/json"})
        assert problem.status_code == 400 and problem.get_json()["param"] == param, query
    # Nothing was computed for any of them.
    assert sqlite_planner.extensions["locator.planning"]._cache == {}


def test_chinese_page_has_no_untranslated_english(sqlite_planner: Flask) -> None:
    planner = sqlite_planner
    c = client_for(planner, "root")
    resp = c.get(f"/plan?{NIGHT}&sites=5&week=1", headers={"Accept": "text/html"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "覆盖规划" in html
    week = html.split('id="week-chart"')[1].split("</svg>")[0]
    assert week.count('<rect class="bar') == 168 and "周一" in week  # the week starts on Monday
    assert html.count('<tr data-code="') >= 5  # the district table (the demand spans 5+ districts)
    ps = planner.extensions["locator.planning"]
    report = ps.report(ps.check("warm_station", 1000, parse_instant("2026-12-01T22:00"), sites=5, week=True))
    fid = next(iter(planner.extensions["locator"].index.facilities())).id
    allowed = data_words(planner, fid)
    for s in report.sites:  # candidate names (OSM subway entrances) are data
        allowed |= set(re.findall(r"[A-Za-z]{3,}", s.name))
    assert untranslated(html, allowed) == set()
    english = c.get(f"/plan?{NIGHT}&lang=en").get_data(as_text=True)
    assert "Coverage planner" in english and "覆盖规划" not in english


def test_manage_nav_links_to_the_planner_for_admins_and_district_managers(planner: Flask) -> None:
    for name, shown in (("root", True), ("hd", True), ("st", False)):
        nav = (
            client_for(planner, name)
            .get("/manage")
            .get_data(as_text=True)
            .split('<section class="manage">')[0]
        )
        assert ('href="/plan"' in nav) is shown, name
