"""The 双15 coverage planner: hand-made layout with known answers, exact geodesics, CLI bad input.

The hand-made layout: a 5 x 5 grid of demand points 500 m apart (rows go north, columns
east, built with geodesic steps from an origin in Dongcheng), radius 600 m, so a station
on a grid point reaches that point and its four neighbours (500 m) but no diagonal
(~707 m). Three warm stations:

* A at (0, 0), ``24/7``: covers (0,0), (0,1), (1,0);
* B at (2, 2), ``Mo-Su 08:00-18:00``: covers (2,2), (1,2), (3,2), (2,1), (2,3);
* C at (4, 4), ``Mo-Su 18:00-02:00``: covers (4,4), (3,4), (4,3).

Every point weighs 1 except (4, 0), which weighs 2 (total 26). So at 12:00 A and B are
open (8 covered), at 22:00 A and C (6), at 03:00 only A (3).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from flask import Flask
from pyproj import Geod

from locator.core import coverage as cov
from locator.core.areas import load_districts
from locator.core.domain import Facility
from locator.core.geo import Datum, from_wgs84
from locator.core.hours import TZ
from locator.core.walking import DETOUR_FACTOR, WALK_SPEED_M_S, reach_m, walk_minutes
from locator.formats import coverage as outputs
from locator.formats import maps
from locator.services.planning import DEMAND_FILE, PlanningService

from .conftest import make_app, require_shared_data

GEOD = Geod(ellps="WGS84")
ORIGIN = (116.40, 39.90)
STEP_M = 500.0
R = 600.0
DAY = date(2026, 12, 1)  # a Tuesday
REPO = Path(__file__).resolve().parents[1]


def at(hour: int, minute: int = 0, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ)


def grid_point(i: int, j: int) -> tuple[float, float]:
    """Row i (north), column j (east), by geodesic steps of 500 m from ORIGIN."""
    lon, lat, _ = GEOD.fwd(ORIGIN[0], ORIGIN[1], 0.0, STEP_M * i)
    if j:
        lon, lat, _ = GEOD.fwd(lon, lat, 90.0, STEP_M * j)
    return float(lon), float(lat)


GRID = [(i, j) for i in range(5) for j in range(5)]


def grid_demand() -> cov.PointSet:
    pts = [grid_point(i, j) for i, j in GRID]
    weights = [2.0 if (i, j) == (4, 0) else 1.0 for i, j in GRID]
    return cov.PointSet.of([p[0] for p in pts], [p[1] for p in pts], weights, "test")


def stations() -> list[Facility]:
    def f(fid: str, cell: tuple[int, int], hours: str, **kw: object) -> Facility:
        lon, lat = grid_point(*cell)
        return Facility(fid, "warm_station", f"Station {fid}", lon, lat, opening_hours=hours, **kw)  # type: ignore[arg-type]

    return [f("A", (0, 0), "24/7"), f("B", (2, 2), "Mo-Su 08:00-18:00"), f("C", (4, 4), "Mo-Su 18:00-02:00")]


def covered_cells(mask: np.ndarray) -> set[tuple[int, int]]:
    return {GRID[k] for k in np.flatnonzero(mask)}


def fac_arrays(fs: list[Facility]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([f.lon for f in fs]), np.array([f.lat for f in fs])


# --- the hand-made layout ------------------------------------------------------------


def test_the_grid_is_what_the_docstring_says() -> None:
    d = grid_demand()
    k = GRID.index
    _, _, east = GEOD.inv(d.lon[k((2, 2))], d.lat[k((2, 2))], d.lon[k((2, 3))], d.lat[k((2, 3))])
    _, _, north = GEOD.inv(d.lon[k((2, 2))], d.lat[k((2, 2))], d.lon[k((3, 2))], d.lat[k((3, 2))])
    _, _, diag = GEOD.inv(d.lon[k((2, 2))], d.lat[k((2, 2))], d.lon[k((3, 3))], d.lat[k((3, 3))])
    assert abs(east - 500) < 0.01 and abs(north - 500) < 0.5 and 690 < diag < 720


def test_open_schedule_hours_closures_and_unknown_hours() -> None:
    a, b, c = stations()
    sched = cov.OpenSchedule([a, b, c])
    assert sched.mask(at(12)).tolist() == [True, True, False]
    assert sched.mask(at(22)).tolist() == [True, False, True]
    assert sched.mask(at(1)).tolist() == [True, False, True]  # Monday's 18:00-02:00 runs on
    assert sched.mask(at(2)).tolist() == [True, False, False]  # 02:00 is closing time
    # A manager's closure until the 3rd: closed on the 2nd, open again on the 3rd.
    closed = b.replace(status="temporarily_closed", status_until=date(2026, 12, 3))
    assert cov.open_mask([closed], at(12, day=date(2026, 12, 2))).tolist() == [False]
    assert cov.open_mask([closed], at(12, day=date(2026, 12, 3))).tolist() == [True]
    # Closed without an end date: closed; removed: never open; unknown hours: not open.
    assert cov.open_mask([b.replace(status="temporarily_closed")], at(12)).tolist() == [False]
    assert cov.open_mask([a.replace(status="removed")], at(12)).tolist() == [False]
    assert cov.open_mask([a.replace(opening_hours="")], at(12)).tolist() == [False]


def test_live_status_hook_overrides_hours_and_status() -> None:
    a, b, c = stations()

    def live(f: Facility, when: datetime) -> bool | None:
        return {"A": False, "C": True}.get(f.id)

    assert cov.open_mask([a, b, c], at(12), live=live).tolist() == [False, True, True]


def test_coverage_at_noon_and_at_night_equals_the_hand_count() -> None:
    d = grid_demand()
    lon, lat = fac_arrays(stations())
    sched = cov.OpenSchedule(stations())
    rows = cov.covered_at(d, lon, lat, [sched.mask(at(12)), sched.mask(at(22)), sched.mask(at(3))], R)
    a_cells = {(0, 0), (0, 1), (1, 0)}
    b_cells = {(2, 2), (1, 2), (3, 2), (2, 1), (2, 3)}
    c_cells = {(4, 4), (3, 4), (4, 3)}
    assert covered_cells(rows[0]) == a_cells | b_cells
    assert covered_cells(rows[1]) == a_cells | c_cells
    assert covered_cells(rows[2]) == a_cells
    assert [float(d.weight[r].sum()) for r in rows] == [8.0, 6.0, 3.0]


def test_hour_profile_equals_the_hand_count() -> None:
    d = grid_demand()
    lon, lat = fac_arrays(stations())
    sched = cov.OpenSchedule(stations())
    hours = cov.day_hours(at(15, 27))
    assert [h.hour for h in hours] == list(range(24)) and all(h.date() == DAY for h in hours)
    rows = cov.covered_at(d, lon, lat, [sched.mask(h) for h in hours], R)
    got = [float(d.weight[r].sum()) for r in rows]
    expected = [6.0] * 2 + [3.0] * 6 + [8.0] * 10 + [6.0] * 6
    assert got == expected


def test_week_hours_start_on_monday() -> None:
    week = cov.week_hours(at(15))
    assert len(week) == 168
    assert week[0] == datetime(2026, 11, 30, 0, 0, tzinfo=TZ) and week[0].weekday() == 0
    assert week[-1] == datetime(2026, 12, 6, 23, 0, tzinfo=TZ)


def candidates() -> cov.PointSet:
    far = GEOD.fwd(ORIGIN[0], ORIGIN[1], 225.0, 10_000)[:2]
    cells = [(0, 4), (4, 0), (4, 4), (1, 3)]
    pts = [grid_point(*c) for c in cells] + [far]
    return cov.PointSet.of([p[0] for p in pts], [p[1] for p in pts], name=["c0", "c1", "c2", "c3", "c4"])


def test_greedy_picks_equal_the_hand_computed_ones() -> None:
    d = grid_demand()
    lon, lat = fac_arrays(stations())
    noon = cov.OpenSchedule(stations()).mask(at(12))
    gap = ~cov.covered_at(d, lon, lat, [noon], R)[0]
    cands = candidates()
    reach = cov.reach_matrix(cands.lon, cands.lat, d.lon[gap], d.lat[gap], R)
    # c1 reaches (4,0) of weight 2 plus (3,0), (4,1): 4. Then c0 and c2 tie at 3 (lower
    # index first); c3's (0,3) and (1,4) are then taken, leaving (1,3): 1. c4 adds nothing.
    assert cov.greedy_sites(reach, d.weight[gap], 3) == [(1, 4.0), (0, 3.0), (2, 3.0)]
    assert cov.greedy_sites(reach, d.weight[gap], 10) == [(1, 4.0), (0, 3.0), (2, 3.0), (3, 1.0)]


def plain_greedy(reach: np.ndarray, weight: np.ndarray, k: int) -> list[tuple[int, float]]:
    left = weight.astype(float).copy()
    picks = []
    for _ in range(k):
        gains = reach.astype(float) @ left
        best = int(np.argmax(gains))  # the first maximum: the lowest index
        if gains[best] <= 0:
            break
        picks.append((best, float(gains[best])))
        left[reach[best]] = 0
    return picks


def test_lazy_greedy_equals_plain_greedy_on_random_layouts() -> None:
    rng = np.random.default_rng(16)
    for _ in range(20):
        reach = rng.random((60, 200)) < 0.05
        reach[::7] = False  # sites that reach nobody, the last one included
        reach[-1] = False
        weight = rng.integers(0, 4, 200).astype(float)
        from scipy.sparse import csr_matrix

        assert cov.greedy_sites(csr_matrix(reach), weight, 15) == plain_greedy(reach, weight, 15)


def test_removal_cost_is_the_weight_only_that_station_covers() -> None:
    d = grid_demand()
    a, b, c = stations()
    # D at (0, 1), 24/7: shares (0,0) and (0,1) with A; alone it covers (0,2) and (1,1).
    lon_d, lat_d = grid_point(0, 1)
    fs = [a, b, c, Facility("D", "warm_station", "D", lon_d, lat_d, opening_hours="24/7")]
    lon, lat = fac_arrays(fs)
    cost = cov.removal_cost(d, lon, lat, cov.OpenSchedule(fs).mask(at(12)), R)
    assert cost.tolist() == [1.0, 5.0, 0.0, 2.0]  # A alone: (1,0); B: its 5; C: closed


def test_walking_constants_and_conversions() -> None:
    assert (WALK_SPEED_M_S, DETOUR_FACTOR) == (1.2, 1.3)
    assert walk_minutes(1000) == pytest.approx(1000 * 1.3 / 1.2 / 60)
    assert reach_m(walk_minutes(777.0)) == pytest.approx(777.0)


# --- exact geodesics: against a brute-force pyproj check ------------------------------


def brute_force(q_lon, q_lat, s_lon, s_lat, radius: float) -> np.ndarray:
    n, m = len(q_lon), len(s_lon)
    _, _, dist = GEOD.inv(np.repeat(q_lon, m), np.repeat(q_lat, m), np.tile(s_lon, n), np.tile(s_lat, n))
    return np.asarray(dist).reshape(n, m) <= radius


def sample(seed: int) -> tuple[np.ndarray, ...]:
    """Sites in central Beijing; demand points at random, plus some within 5 m of the radius
    of a site, and some at R +- 1 mm (the shell where the bounds cannot decide)."""
    rng = np.random.default_rng(seed)
    s_lon = 116.30 + rng.random(150) * 0.2
    s_lat = 39.85 + rng.random(150) * 0.15
    q_lon = list(116.29 + rng.random(1500) * 0.22)
    q_lat = list(39.84 + rng.random(1500) * 0.17)
    for k in range(300):
        s = k % 150
        dist = 1000.0 + (rng.random() - 0.5) * 10 if k % 3 else 1000.0 + (0.001 if k % 2 else -0.001)
        lon, lat, _ = GEOD.fwd(s_lon[s], s_lat[s], rng.random() * 360, dist)
        q_lon.append(lon)
        q_lat.append(lat)
    return np.array(q_lon), np.array(q_lat), s_lon, s_lat


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_within_reach_equals_brute_force_geodesics(seed: int) -> None:
    q_lon, q_lat, s_lon, s_lat = sample(seed)
    truth = brute_force(q_lon, q_lat, s_lon, s_lat, 1000.0)
    count, one = cov.within_reach(q_lon, q_lat, s_lon, s_lat, 1000.0, cap=2)
    assert count.tolist() == np.minimum(truth.sum(axis=1), 2).tolist()
    solo = count == 1
    assert (truth[np.flatnonzero(solo), one[solo]]).all()  # the one site it names is the one
    assert (one[count == 0] == -1).all()
    count1, _ = cov.within_reach(q_lon, q_lat, s_lon, s_lat, 1000.0, cap=1)
    assert count1.tolist() == truth.any(axis=1).astype(int).tolist()


@pytest.mark.parametrize("seed", [4, 5])
def test_reach_matrix_equals_brute_force_geodesics(seed: int) -> None:
    q_lon, q_lat, s_lon, s_lat = sample(seed)
    truth = brute_force(q_lon, q_lat, s_lon, s_lat, 1000.0)
    got = cov.reach_matrix(s_lon, s_lat, q_lon, q_lat, 1000.0, chunk=37).toarray()
    assert (got == truth.T).all()
    assert truth.sum() > 100  # the sample does test something


def test_reach_is_exact_near_the_boundary() -> None:
    s_lon, s_lat = np.array([116.4]), np.array([39.9])
    for az in (0.0, 45.0, 90.0, 180.0, 300.0):
        inside = GEOD.fwd(116.4, 39.9, az, 999.999)[:2]
        outside = GEOD.fwd(116.4, 39.9, az, 1000.001)[:2]
        q_lon, q_lat = np.array([inside[0], outside[0]]), np.array([inside[1], outside[1]])
        count, _ = cov.within_reach(q_lon, q_lat, s_lon, s_lat, 1000.0)
        assert count.tolist() == [1, 0]
        assert cov.reach_matrix(s_lon, s_lat, q_lon, q_lat, 1000.0).toarray().tolist() == [[True, False]]


def test_locate_points_agrees_with_area_index() -> None:
    districts = load_districts()
    rng = np.random.default_rng(7)
    lon = 115.5 + rng.random(400) * 2.0
    lat = 39.5 + rng.random(400) * 1.4
    got = cov.locate_points(districts.areas, lon, lat)
    for i in range(len(lon)):
        area = districts.locate(float(lon[i]), float(lat[i]))
        assert (districts.areas[got[i]].code if got[i] >= 0 else None) == (area.code if area else None)


def test_point_set_rejects_bad_values() -> None:
    with pytest.raises(Exception, match="invalid coordinates"):
        cov.PointSet.of([116.4, float("nan")], [39.9, 39.9])
    with pytest.raises(Exception, match="negative or invalid weight"):
        cov.PointSet.of([116.4], [39.9], [-1.0])


# --- the demand layer -----------------------------------------------------------------


def test_shipped_demand_layer_rows_and_weights() -> None:
    lines = DEMAND_FILE.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "lon,lat,category" and len(lines) == 48_966 + 1
    cats = {line.rsplit(",", 1)[1] for line in lines[1:]}
    assert cats <= {
        "commercial",
        "industrial",
        "residential",
        "public",
        "transport",
        "bus_stop",
        "unclassified",
    }


def test_demand_layer_is_reproducible(tmp_path: Path) -> None:
    shared = require_shared_data()
    out = tmp_path / "demand.csv"
    subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "build_demand_layer.py"),
            "--shared",
            str(shared),
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    assert out.read_bytes() == DEMAND_FILE.read_bytes()


# --- outputs --------------------------------------------------------------------------

HOSTILE = "<img src=x onerror=alert(1)>{{ 7*7 }}`${x}`"


def hand_report(**changes: object) -> cov.CoverageReport:
    d = grid_demand()
    report = cov.CoverageReport(
        kind="warm_station",
        radius_m=R,
        walk_minutes=walk_minutes(R),
        at=at(12),
        districts=(),
        demand_source="grid",
        points=25,
        covered_points=8,
        total_weight=26.0,
        covered_weight=8.0,
        facilities_total=3,
        facilities_open=2,
        hours=tuple(cov.HourCoverage(h, 2, 8.0, 26.0) for h in cov.day_hours(at(12))),
        week=(),
        areas=(
            cov.AreaCoverage("subdistrict", "bj-twp-001", HOSTILE, "", "110101", "东城区", 25, 26.0, 8.0),
        ),
        sites=(cov.SitePick(1, d.lon[20], d.lat[20], 4.0, 12.0, HOSTILE, "candidate"),),
        candidates_source="x.csv",
        least_needed=(cov.StationImportance("A", HOSTILE, d.lon[0], d.lat[0], 3.0),),
        uncovered=cov.PointSet.of(d.lon[:2], d.lat[:2], [1, 1], "test", [HOSTILE, ""]),
        demo=False,
    )
    return dataclasses.replace(report, **changes)  # type: ignore[arg-type]


def test_summary_has_the_fields_the_issue_asks_for() -> None:
    s = outputs.summary(hand_report())
    assert s["total_weight"] == 26.0 and s["covered_weight"] == 8.0 and s["covered_share"] == round(8 / 26, 4)
    assert s["sites"] == [
        {
            "rank": 1,
            "lon": round(float(grid_demand().lon[20]), 7),
            "lat": round(float(grid_demand().lat[20]), 7),
            "gain": 4.0,
            "covered_share_after": round(12 / 26, 4),
            "name": HOSTILE,
            "category": "candidate",
        }
    ]
    assert len(s["hourly"]) == 24 and "not counts of riders" in s["weights"]
    json.dumps(s)


def test_coverage_map_escapes_every_data_string() -> None:
    from locator.core.areas import load_subdistricts

    report = hand_report()
    sub = next(a for a in load_subdistricts().areas if a.code == "bj-twp-001")
    areas = outputs.areas_collection(report, [sub], tolerance=3e-4, decimals=4)
    parts = maps.coverage_map(report, areas, maps.TILE_PROVIDERS["none"], asset_url=lambda p: "/static/" + p)
    page = parts.header + parts.html + parts.script
    assert "<img" not in page and "{{ 7*7 }}" not in page and "${x}" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "plan-area plan-share-1" in parts.script  # 8/26 = 31 %: the second class
    assert "http" not in parts.header  # no CDN


def test_coverage_map_shifts_to_the_tiles_datum() -> None:
    report = hand_report(uncovered=cov.PointSet.of([116.4], [39.9]), sites=())
    empty = {"type": "FeatureCollection", "features": []}
    parts = maps.coverage_map(report, empty, maps.TILE_PROVIDERS["amap"], asset_url=lambda p: p)
    glon, glat = from_wgs84(116.4, 39.9, Datum.GCJ02)
    assert f"[{round(glat, 6)},{round(glon, 6)}," in parts.script


def test_hour_chart_is_plain_svg_with_24_bars() -> None:
    svg = outputs.hour_chart_svg(
        hand_report().hours,
        title=HOSTILE,
        description="d",
        bar_label=lambda h: f"{h.at:%H:%M} {HOSTILE}",
        axis_label="share",
        highlight=12,
    )
    assert svg.count('<rect class="bar') == 24 and svg.count('class="bar current"') == 1
    assert "<img" not in svg and "<script" not in svg


# --- the CLI: hand layout end to end, and bad input ------------------------------------


@pytest.fixture
def grid_app(tmp_path: Path):  # type: ignore[no-untyped-def]
    app = make_app(tmp_path / "grid.sqlite3")
    svc = app.extensions["locator"]
    records = [
        (
            i,
            {
                "id": f.id,
                "kind": f.kind,
                "name": f.name,
                "lon": f.lon,
                "lat": f.lat,
                "opening_hours": f.opening_hours,
            },
        )
        for i, f in enumerate(stations(), start=1)
    ]
    svc.import_records(records, Datum.WGS84)
    yield app
    svc.store.close()


def write_points_csv(path: Path, cells: list[tuple[int, int]], weights: list[float] | None = None) -> Path:
    lines = ["lon,lat,weight,name"]
    for k, cell in enumerate(cells):
        lon, lat = grid_point(*cell)
        lines.append(f"{lon:.9f},{lat:.9f},{(weights or [1.0] * len(cells))[k]},p{cell[0]}{cell[1]}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(app: Flask, *args: str):  # type: ignore[no-untyped-def]
    """``flask locator coverage ARGS``; the result has ``stdout`` and ``stderr`` apart."""
    return app.test_cli_runner().invoke(args=["locator", "coverage", *args])


def others(folder: Path, *expected: str) -> list[str]:
    """Files in ``folder`` besides ``expected`` and the store's own files (SQLite, index snapshots)."""
    return sorted(
        n
        for n in os.listdir(folder)
        if n not in expected and not n.startswith("grid.sqlite3") and n != "index"
    )


def test_cli_on_the_hand_layout_gives_the_hand_answers(grid_app: Flask, tmp_path: Path) -> None:
    demand = write_points_csv(tmp_path / "demand.csv", GRID, [2.0 if c == (4, 0) else 1.0 for c in GRID])
    cands = tmp_path / "cands.csv"
    far = GEOD.fwd(ORIGIN[0], ORIGIN[1], 225.0, 10_000)[:2]
    rows = [grid_point(*c) for c in [(0, 4), (4, 0), (4, 4), (1, 3)]] + [far]
    cands.write_text("lon,lat\n" + "".join(f"{a:.9f},{b:.9f}\n" for a, b in rows), encoding="utf-8")
    out = tmp_path / "out.geojson"
    result = run(
        grid_app,
        "--radius-m", "600", "--at", "2026-12-01T12:00", "--demand", str(demand), "--datum", "wgs84",
        "--sites", "3", "--candidates", str(cands), "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["total_weight"] == 26.0 and summary["covered_weight"] == 8.0
    assert summary["covered_share"] == round(8 / 26, 4)
    assert [h["covered_weight"] for h in summary["hourly"]] == [6.0] * 2 + [3.0] * 6 + [8.0] * 10 + [6.0] * 6
    assert [s["gain"] for s in summary["sites"]] == [4.0, 3.0, 3.0]
    assert [(s["lon"], s["lat"]) for s in summary["sites"]] == [
        (round(rows[k][0], 7), round(rows[k][1], 7)) for k in (1, 0, 2)
    ]
    doc = json.loads(out.read_text(encoding="utf-8"))
    layers = [f["properties"]["layer"] for f in doc["features"]]
    assert layers.count("uncovered") == 17 and layers.count("site") == 3
    assert doc["summary"]["covered_weight"] == 8.0
    assert oct(out.stat().st_mode & 0o777) != "0o600"


def test_cli_csv_and_html_outputs(grid_app: Flask, tmp_path: Path) -> None:
    demand = write_points_csv(tmp_path / "demand.csv", GRID)
    for name in ("out.csv", "out.html"):
        result = run(grid_app, "--radius-m", "600", "--at", "2026-12-01T22:00", "--demand", str(demand),
                     "--datum", "wgs84", "--out", str(tmp_path / name))  # fmt: skip
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout.strip().splitlines()[-1])["covered_weight"] == 6.0
    text = (tmp_path / "out.csv").read_text(encoding="utf-8").splitlines()
    assert text[0].startswith("record,code,name") and text[1].startswith("total,")
    html = (tmp_path / "out.html").read_text(encoding="utf-8")
    assert "L.geoJson(" in html and "data:text/javascript;base64," in html
    assert "cdn" not in html.lower() and "https://cdnjs" not in html


def test_cli_walk_minutes_reach(grid_app: Flask, tmp_path: Path) -> None:
    demand = write_points_csv(tmp_path / "demand.csv", GRID)
    result = run(grid_app, "--walk-min", "10", "--at", "2026-12-01T12:00", "--demand", str(demand),
                 "--datum", "wgs84", "--out", str(tmp_path / "o.csv"))  # fmt: skip
    assert result.exit_code == 0, result.output
    s = json.loads(result.stdout.strip().splitlines()[-1])
    assert s["radius_m"] == round(reach_m(10), 3) and s["walk_minutes_estimate"] == 10.0


BAD_INPUT = [
    (["--kind", "hospital"], "--kind"),
    (["--radius-m", "49"], "--radius-m"),
    (["--radius-m", "5001"], "--radius-m"),
    (["--sites", "0"], "--sites"),
    (["--sites", "501"], "--sites"),
    (["--at", "tomorrow"], "--at"),
    (["--district", "999999"], "unknown district"),
    (["--walk-min", "100"], "--walk-min"),
    (["--radius-m", "500", "--walk-min", "5"], "not both"),
]


@pytest.mark.parametrize(("args", "named"), BAD_INPUT)
def test_cli_bad_input_exits_2_naming_the_problem_and_writes_nothing(
    grid_app: Flask, tmp_path: Path, args: list[str], named: str
) -> None:
    out = tmp_path / "out.geojson"
    result = run(grid_app, *args, "--out", str(out))
    assert result.exit_code == 2, result.output
    assert named in result.stderr
    assert not out.exists() and others(tmp_path) == []


def test_cli_candidate_file_with_bad_rows_exits_2_listing_them(grid_app: Flask, tmp_path: Path) -> None:
    cands = tmp_path / "c.csv"
    cands.write_text(
        "lon,lat,weight\n116.40,39.90,1\nabc,39.9,1\n100.0,20.0,1\n116.41,39.91,-3\n116.42,,1\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.csv"
    out.write_text("previous answer", encoding="utf-8")
    result = run(grid_app, "--sites", "2", "--candidates", str(cands), "--datum", "gcj02", "--out", str(out))
    assert result.exit_code == 2
    err = result.stderr
    for expected in ("4 invalid row(s)", "row 2: lon", "row 3: location", "row 4: weight", "row 5: lat"):
        assert expected in err
    assert out.read_text(encoding="utf-8") == "previous answer"


@pytest.mark.parametrize(
    ("extra", "named"),
    [([], "--datum"), (["--datum", "mars"], "--datum")],
)
def test_cli_candidate_file_needs_a_known_datum(
    grid_app: Flask, tmp_path: Path, extra: list[str], named: str
) -> None:
    cands = write_points_csv(tmp_path / "c.csv", [(0, 4)])
    result = run(
        grid_app, "--sites", "1", "--candidates", str(cands), *extra, "--out", str(tmp_path / "o.csv")
    )
    assert result.exit_code == 2 and named in result.stderr
    assert not (tmp_path / "o.csv").exists()


def test_cli_rejects_a_projected_geojson(grid_app: Flask, tmp_path: Path) -> None:
    doc = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}},
        "features": [
            {
                "type": "Feature",
                "properties": {},
                "geometry": {"type": "Point", "coordinates": [1.29e7, 4.85e6]},
            }
        ],
    }
    cands = tmp_path / "c.geojson"
    cands.write_text(json.dumps(doc), encoding="utf-8")
    result = run(
        grid_app,
        "--sites",
        "1",
        "--candidates",
        str(cands),
        "--datum",
        "wgs84",
        "--out",
        str(tmp_path / "o.csv"),
    )
    assert result.exit_code == 2 and "EPSG:4326" in result.stderr


def test_cli_failure_while_writing_leaves_the_old_file_and_no_temporary(
    grid_app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    demand = write_points_csv(tmp_path / "demand.csv", GRID)
    out = tmp_path / "out.csv"
    out.write_text("previous answer", encoding="utf-8")

    def broken(report: object) -> str:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(outputs, "report_csv", broken)
    result = run(grid_app, "--demand", str(demand), "--datum", "wgs84", "--out", str(out))
    assert result.exit_code != 0
    assert out.read_text(encoding="utf-8") == "previous answer"
    assert others(tmp_path, "demand.csv", "out.csv") == []


def test_planning_service_reads_gcj02_points(grid_app: Flask, tmp_path: Path) -> None:
    lon, lat = from_wgs84(116.40, 39.90, Datum.GCJ02)
    path = tmp_path / "p.csv"
    path.write_text(f"lon,lat,weight\n{lon},{lat},2.5\n", encoding="utf-8")
    ps = PlanningService(grid_app.extensions["locator"])
    pts = ps.read_points(path, Datum.GCJ02)
    assert abs(pts.lon[0] - 116.40) < 1e-7 and abs(pts.lat[0] - 39.90) < 1e-7 and pts.weight[0] == 2.5


def test_default_demand_is_aoi_points_and_subway(grid_app: Flask) -> None:
    ps = PlanningService(grid_app.extensions["locator"])
    d = ps.default_demand()
    assert len(d) == 48_966 + 1_412
    assert set(np.unique(d.category)) >= {"subway_station", "subway_entrance", "residential"}
    assert d.weight.min() > 0


def test_hourly_profile_in_report_matches_at_and_timedelta(grid_app: Flask, tmp_path: Path) -> None:
    ps = PlanningService(grid_app.extensions["locator"])
    demand = ps.read_points(write_points_csv(tmp_path / "d.csv", GRID), Datum.WGS84)
    q = ps.check("warm_station", R, at(22), week=True)
    report = ps.report(q, demand=demand, demand_source="grid")
    assert report.covered_weight == 6.0 and report.facilities_open == 2
    assert len(report.week) == 168 and report.week[0].at == at(0) - timedelta(days=1)
    assert [h.covered_weight for h in report.hours][22] == 6.0
    assert [s.facility_id for s in report.least_needed] == ["A", "C"]  # A alone: 3, C alone: 3, by id
