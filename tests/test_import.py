"""Import through the CLI: formats, datums, all-or-nothing, row-by-row errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import geopandas as gpd
import pytest
from flask import Flask
from shapely.geometry import Point

from locator.core.domain import NearestQuery
from locator.services.facilities import LocatorService

from .conftest import DATA, make_app


def duchang_features() -> list[dict]:
    return json.loads((DATA / "union_stations_duchang_real.geojson").read_text(encoding="utf-8"))["features"]


@pytest.fixture
def anywhere_app(tmp_path: Path) -> Flask:
    # Duchang is in Jiangxi, outside the Beijing service area.
    app = make_app(tmp_path / "any.sqlite3", LOCATOR_SERVICE_AREA="none")
    yield app
    app.extensions["locator"].store.close()


def test_duchang_gcj02_csv_import_then_nearest_finds_each_station(
    anywhere_app: Flask, tmp_path: Path
) -> None:
    path = tmp_path / "duchang_gcj02.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "kind", "name", "address", "host_type", "lon", "lat"])
        for f in duchang_features():
            p = f["properties"]
            w.writerow(
                [
                    p["id"],
                    "warm_station",
                    p["name"],
                    p["address"],
                    p["host_type"],
                    p["gcj02_lon"],
                    p["gcj02_lat"],
                ]
            )
    result = anywhere_app.test_cli_runner().invoke(args=["locator", "import", str(path), "--datum", "gcj02"])
    assert result.exit_code == 0, result.output
    assert "Imported 24" in result.output
    svc: LocatorService = anywhere_app.extensions["locator"]
    for f in duchang_features():
        lon, lat = f["geometry"]["coordinates"]  # the WGS-84 truth
        hits = svc.nearest(NearestQuery(lon, lat, k=1))
        assert hits[0].facility.id == f["properties"]["id"]
        assert hits[0].distance_m < 1.0


def test_duchang_geojson_wgs84_import_ignores_extra_columns(anywhere_app: Flask, tmp_path: Path) -> None:
    feats = duchang_features()
    for f in feats:
        f["properties"]["kind"] = "warm_station"
    path = tmp_path / "duchang.geojson"
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": feats}, ensure_ascii=False), encoding="utf-8"
    )
    result = anywhere_app.test_cli_runner().invoke(args=["locator", "import", str(path), "--datum", "wgs84"])
    assert result.exit_code == 0, result.output
    svc: LocatorService = anywhere_app.extensions["locator"]
    stored = svc.store.get(feats[0]["properties"]["id"])
    assert stored.host_type == feats[0]["properties"]["host_type"]
    assert stored.lon == pytest.approx(feats[0]["geometry"]["coordinates"][0])


def test_geopackage_import(app: Flask, tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame(
        {
            "id": ["gp-1", "gp-2"],
            "kind": ["union_home", "nursing_room"],
            "name": ["职工之家 A", "母婴室 B"],
            "amenities": ["rest;wifi", "breastfeeding_room"],
            "opening_hours": ["Mo-Fr 09:00-17:00", "24/7"],
        },
        geometry=[Point(116.40, 39.90), Point(116.41, 39.91)],
        crs="EPSG:4326",
    )
    path = tmp_path / "f.gpkg"
    gdf.to_file(path, driver="GPKG")
    result = app.test_cli_runner().invoke(args=["locator", "import", str(path), "--datum", "wgs84"])
    assert result.exit_code == 0, result.output
    svc: LocatorService = app.extensions["locator"]
    a = svc.store.get("gp-1")
    assert a.amenities == {"rest", "wifi"}
    assert a.district_name == "东城区" or a.district_adcode is not None
    assert svc.store.get("gp-2").opening_hours == "24/7"


def test_bad_rows_are_each_reported_and_nothing_is_stored(app: Flask, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    rows = [
        ["id", "kind", "name", "lon", "lat", "amenities", "opening_hours"],
        ["ok-1", "warm_station", "Good one", "116.40", "39.90", "toilet", "24/7"],  # row 1: fine
        ["bad-2", "warm_station", "No coords", "", "", "", ""],  # row 2
        ["bad-3", "warm_station", "Shanghai", "121.47", "31.23", "", ""],  # row 3: outside
        ["bad-4", "hotel", "Wrong kind", "116.40", "39.90", "", ""],  # row 4
        ["bad-5", "warm_station", "Sauna", "116.40", "39.90", "sauna", ""],  # row 5
        ["bad-6", "warm_station", "Bad hours", "116.40", "39.90", "", "whenever"],  # row 6
        ["ok-1", "warm_station", "Duplicate", "116.41", "39.91", "", ""],  # row 7
        ["bad-8", "warm_station", "Not a number", "east", "39.90", "", ""],  # row 8
        ["bad-9", "warm_station", "", "116.40", "39.90", "", ""],  # row 9: no name
    ]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    svc: LocatorService = app.extensions["locator"]
    before = svc.store.revision()
    result = app.test_cli_runner().invoke(args=["locator", "import", str(path), "--datum", "wgs84"])
    assert result.exit_code == 1
    out = result.output
    assert "nothing was imported" in out
    expected = {
        2: "lon is missing",
        3: "outside the service area",
        4: "unknown kind",
        5: "unknown amenity",
        6: "invalid opening_hours",
        7: "duplicate id",
        8: "lon must be a number",
        9: "name is missing",
    }
    for row, reason in expected.items():
        assert f"row {row}:" in out and reason in out, (row, out)
    assert "row 1:" not in out
    assert svc.store.count() == 0
    assert svc.store.revision() == before


def test_import_requires_a_datum(app: Flask, tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("kind,name,lon,lat\nwarm_station,A,116.4,39.9\n", encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["locator", "import", str(path)])
    assert result.exit_code == 2
    assert "--datum" in result.output


def test_unsupported_file_type(app: Flask, tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_text("hello", encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["locator", "import", str(path), "--datum", "wgs84"])
    assert result.exit_code == 1
    assert "unsupported file type" in result.output


def test_generated_ids_and_minimal_columns(app: Flask, tmp_path: Path) -> None:
    path = tmp_path / "min.csv"
    path.write_text("kind,name,lon,lat\nwarm_station,Minimal,116.4,39.9\n", encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["locator", "import", str(path), "--datum", "wgs84"])
    assert result.exit_code == 0, result.output
    svc: LocatorService = app.extensions["locator"]
    (f,) = svc.store.all()
    assert f.id.startswith("f-") and f.name == "Minimal" and f.version == 1 and f.demo is False


def test_load_demo_if_empty_and_init_db_idempotent(app: Flask) -> None:
    runner = app.test_cli_runner()
    assert runner.invoke(args=["locator", "init-db"]).exit_code == 0
    assert runner.invoke(args=["locator", "init-db"]).exit_code == 0
    first = runner.invoke(args=["locator", "load-demo", "--if-empty"])
    assert first.exit_code == 0 and "Loaded" in first.output
    svc: LocatorService = app.extensions["locator"]
    n = svc.store.count()
    assert n > 2000
    assert all(f.demo for f in svc.store.list(limit=50))
    second = runner.invoke(args=["locator", "load-demo", "--if-empty"])
    assert "not loaded" in second.output
    assert svc.store.count() == n


def test_export_round_trip(demo_app: Flask, tmp_path: Path) -> None:
    out = tmp_path / "export.geojson"
    result = demo_app.test_cli_runner().invoke(args=["locator", "export", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert len(data["features"]) == demo_app.extensions["locator"].store.count()


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".geojson"])
def test_cli_export_writes_the_format_its_suffix_names(demo_app: Flask, tmp_path: Path, suffix: str) -> None:
    """``export all.csv`` is a CSV (it used to be GeoJSON); XLSX keeps lon/lat as numbers."""
    import csv
    import io

    from openpyxl import load_workbook

    out = tmp_path / f"all{suffix}"
    result = demo_app.test_cli_runner().invoke(args=["locator", "export", str(out)])
    assert result.exit_code == 0, result.output
    n = demo_app.extensions["locator"].store.count()
    raw = out.read_bytes()
    if suffix == ".csv":
        rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
        assert len(rows) == n and float(rows[0]["lon"]) > 115
    elif suffix == ".xlsx":
        ws = load_workbook(io.BytesIO(raw), read_only=True).worksheets[0]
        header, first = list(ws.iter_rows(max_row=2, values_only=True))
        lon, lat, version = (first[header.index(k)] for k in ("lon", "lat", "version"))
        assert isinstance(lon, float) and isinstance(lat, float) and isinstance(version, int)
        assert first[header.index("name")].startswith("示例")
    else:
        assert len(json.loads(raw)["features"]) == n
    assert not list(tmp_path.glob(".*.tmp"))


def test_cli_export_refuses_an_unknown_suffix(demo_app: Flask, tmp_path: Path) -> None:
    result = demo_app.test_cli_runner().invoke(args=["locator", "export", str(tmp_path / "all.txt")])
    assert result.exit_code == 2
    assert ".geojson, .json, .csv or .xlsx" in result.output
    assert not (tmp_path / "all.txt").exists()
