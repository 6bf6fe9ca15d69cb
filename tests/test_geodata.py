"""Tests of the shipped geodata: the demo facility layer and the copied source layers."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from pyproj import Geod, Transformer
from shapely.geometry import shape

from locator.core.domain import (
    AMENITIES,
    BA_KE,
    HOST_TYPES,
    KINDS,
    Facility,
    validate_facility,
)
from locator.core.geo import gcj02_to_wgs84

from .conftest import SHARED_DATA, require_shared_data

REPO = Path(__file__).resolve().parents[1]
GEODATA = REPO / "geodata"
DEMO = GEODATA / "beijing_demo_facilities.geojson"
NAMED = Path(__file__).resolve().parent / "data" / "beijing_demo_named.geojson"
DUCHANG = REPO / "tests" / "data" / "union_stations_duchang_real.geojson"

PROPERTY_NAMES = {
    "id",
    "kind",
    "name",
    "address",
    "amenities",
    "opening_hours",
    "host_type",
    "phone",
    "status",
    "verified_at",
    "source",
    "demo",
}
COPIED = {
    "beijing_city_boundary.geojson": 1,
    "beijing_districts.geojson": 16,
    "beijing_subdistricts_2010s.geojson": 331,
    "beijing_subway_osm.geojson": 1412,
}
NURSING_HOSTS = {"shopping_mall", "hospital", "subway_station", "office_building"}
GEOD = Geod(ellps="WGS84")


@cache
def load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


def demo_features() -> list[dict[str, Any]]:
    return load(DEMO)["features"]


def lonlats(features: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    coords = np.array([f["geometry"]["coordinates"] for f in features], dtype=float)
    return coords[:, 0], coords[:, 1]


def to_facility(feature: dict[str, Any]) -> Facility:
    p = feature["properties"]
    lon, lat = feature["geometry"]["coordinates"]
    return Facility(
        id=p["id"],
        kind=p["kind"],
        name=p["name"],
        lon=lon,
        lat=lat,
        address=p["address"],
        amenities=frozenset(p["amenities"]),
        opening_hours=p["opening_hours"],
        host_type=p["host_type"],
        phone=p["phone"],
        status=p["status"],
        verified_at=datetime.fromisoformat(p["verified_at"]),
        source=p["source"],
        demo=p["demo"],
    )


# --- the demo layer -----------------------------------------------------------------


def test_demo_layer_is_a_feature_collection_marked_as_demo() -> None:
    doc = load(DEMO)
    assert doc["type"] == "FeatureCollection"
    assert doc["demo"] is True
    assert "crs" not in doc  # RFC 7946
    assert "示例" in doc["description"] and "NOT real" in doc["description"]
    assert "OpenStreetMap" in doc["attribution"] and "ODbL" in doc["license"]
    assert DEMO.stat().st_size < 20_000_000


def test_demo_feature_count_and_shape() -> None:
    features = demo_features()
    assert len(features) == 25_470  # Beijing's real number of facilities
    for f in features:
        assert f["type"] == "Feature"
        assert f["geometry"]["type"] == "Point"
        assert set(f["properties"]) == PROPERTY_NAMES, f["properties"].get("id")
        for value in f["geometry"]["coordinates"]:
            assert round(value, 7) == value


def test_every_demo_feature_is_a_valid_facility() -> None:
    for f in demo_features():
        facility = validate_facility(to_facility(f))
        assert facility.demo is True
        assert facility.name.startswith("示例·")
        assert "示例" in facility.address
        assert facility.phone == ""
        assert facility.host_type in HOST_TYPES
        assert facility.verified_at is not None
        assert facility.verified_at.utcoffset() == timedelta(hours=8)
        assert facility.source.startswith("demo: built by scripts/build_demo_layer.py from ")


def test_demo_ids_are_unique_and_sorted() -> None:
    ids = [f["properties"]["id"] for f in demo_features()]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert all(i.startswith("demo-") for i in ids)


def test_demo_true_on_every_feature() -> None:
    assert all(f["properties"]["demo"] is True for f in demo_features())


def test_demo_points_inside_city_boundary() -> None:
    city = shapely.union_all(
        [shape(f["geometry"]) for f in load(GEODATA / "beijing_city_boundary.geojson")["features"]]
    )
    lon, lat = lonlats(demo_features())
    inside = shapely.contains_xy(city, lon, lat)
    assert inside.all(), [
        f["properties"]["id"] for f, ok in zip(demo_features(), inside, strict=True) if not ok
    ]


def test_demo_kinds_and_district_coverage() -> None:
    features = demo_features()
    kinds = Counter(f["properties"]["kind"] for f in features)
    assert set(kinds) == set(KINDS)
    n = len(features)
    assert kinds == {"warm_station": 9650, "union_home": 13800, "nursing_room": 2020}

    districts = load(GEODATA / "beijing_districts.geojson")["features"]
    tree = shapely.STRtree([shape(d["geometry"]) for d in districts])
    lon, lat = lonlats(features)
    point_idx, district_idx = tree.query(shapely.points(lon, lat), predicate="within")
    assert len(set(point_idx.tolist())) == n  # every point is in some district
    covered = {districts[i]["properties"]["adcode"] for i in district_idx.tolist()}
    assert len(covered) >= 14


def test_demo_same_kind_points_at_least_30_m_apart() -> None:
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32650", always_xy=True)
    features = demo_features()
    for kind in KINDS:
        group = [f for f in features if f["properties"]["kind"] == kind]
        lon, lat = lonlats(group)
        x, y = to_utm.transform(lon, lat)
        pts = shapely.points(x, y)
        # 40 m in UTM is a safe superset of 30 m geodesic (scale error < 0.1 %).
        left, right = shapely.STRtree(pts).query(pts, predicate="dwithin", distance=40.0)
        keep = left < right
        left, right = left[keep], right[keep]
        if not len(left):
            continue
        _, _, dist = GEOD.inv(lon[left], lat[left], lon[right], lat[right])
        too_close = [
            (group[i]["properties"]["id"], group[j]["properties"]["id"], d)
            for i, j, d in zip(left, right, dist, strict=True)
            if d < 30.0
        ]
        assert not too_close, too_close[:5]


def test_demo_amenities_follow_the_kind() -> None:
    order = list(AMENITIES)
    for f in demo_features():
        p = f["properties"]
        amenities = p["amenities"]
        assert amenities == sorted(amenities, key=order.index), p["id"]
        if p["kind"] == "warm_station":
            assert len(set(amenities) & set(BA_KE)) >= 4, p["id"]
        elif p["kind"] == "nursing_room":
            assert {"breastfeeding_room", "diaper_changing"} <= set(amenities), p["id"]
            assert p["host_type"] in NURSING_HOSTS, p["id"]


def test_demo_status_hours_and_verification_mix() -> None:
    props = [f["properties"] for f in demo_features()]
    n = len(props)
    statuses = Counter(p["status"] for p in props)
    assert set(statuses) == {"open", "temporarily_closed"}
    assert 0.01 <= statuses["temporarily_closed"] / n <= 0.06
    assert sum(p["opening_hours"] == "" for p in props) / n < 0.06
    hours = {p["opening_hours"] for p in props}
    assert "24/7" in hours and "Mo-Su 18:00-02:00" in hours
    verified = [datetime.fromisoformat(p["verified_at"]) for p in props]
    assert min(verified).date().isoformat() >= "2026-05-01"
    assert max(verified).date().isoformat() <= "2026-11-15"
    stale_before = datetime.fromisoformat("2026-11-22T00:00:00+08:00") - timedelta(days=90)
    stale = sum(v < stale_before for v in verified) / n
    assert 0.12 <= stale <= 0.22


@pytest.mark.parametrize(
    ("options", "expected"),
    [([], DEMO), (["--named-only"], NAMED)],
    ids=["shipped", "tests-named-only"],
)
def test_demo_layer_is_reproducible(tmp_path: Path, options: list[str], expected: Path) -> None:
    shared = require_shared_data()
    out = tmp_path / "demo.geojson"
    subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "build_demo_layer.py"),
            "--shared",
            str(shared),
            "--out",
            str(out),
            *options,
        ],
        check=True,
        capture_output=True,
    )
    assert out.read_bytes() == expected.read_bytes()


def test_the_tests_layer_is_the_named_part_of_the_shipped_layer() -> None:
    shipped = {f["properties"]["id"]: f for f in demo_features()}
    named = load(NAMED)["features"]
    assert len(named) == 3908
    assert all(shipped[f["properties"]["id"]] == f for f in named)


# --- copied source layers -------------------------------------------------------------


@pytest.mark.parametrize(("name", "rows"), sorted(COPIED.items()))
def test_copied_layers_present(name: str, rows: int) -> None:
    doc = load(GEODATA / name)
    assert doc["type"] == "FeatureCollection"
    assert len(doc["features"]) == rows
    if SHARED_DATA.is_dir():  # the copy is unchanged (where the source is at hand)
        assert (GEODATA / name).read_bytes() == (SHARED_DATA / name).read_bytes()


def test_big_aoi_csv_not_shipped() -> None:
    assert not (GEODATA / "beijing_aoi_points_citybench.csv").exists()


# --- Duchang fixture (real GCJ-02 data) -------------------------------------------------


def test_duchang_gcj02_converts_to_stored_wgs84() -> None:
    features = load(DUCHANG)["features"]
    assert len(features) == 24
    for f in features:
        p = f["properties"]
        assert p["source_datum"] == "GCJ-02"
        lon, lat = gcj02_to_wgs84(p["gcj02_lon"], p["gcj02_lat"])
        ref_lon, ref_lat = f["geometry"]["coordinates"]
        _, _, dist = GEOD.inv(lon, lat, ref_lon, ref_lat)
        assert dist < 0.05, (p["id"], dist)
