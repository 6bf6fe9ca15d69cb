"""Datums and geodesics."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from locator.core import geo
from locator.core.geo import Datum

from .conftest import DATA

beijing_lon = st.floats(115.4, 117.6)
beijing_lat = st.floats(39.4, 41.1)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(beijing_lon, beijing_lat)
def test_gcj02_round_trip_below_1_cm(lon: float, lat: float) -> None:
    back = geo.gcj02_to_wgs84(*geo.wgs84_to_gcj02(lon, lat))
    assert geo.geodesic_distance_m(lon, lat, *back) < 0.01


@settings(max_examples=300, deadline=None, derandomize=True)
@given(beijing_lon, beijing_lat)
def test_bd09_round_trip_below_1_cm(lon: float, lat: float) -> None:
    back = geo.bd09_to_wgs84(*geo.wgs84_to_bd09(lon, lat))
    assert geo.geodesic_distance_m(lon, lat, *back) < 0.01


@pytest.mark.parametrize(
    ("lon", "lat"),
    [(116.3376, 39.9925), (116.3975, 39.9087), (116.6, 40.3), (115.97, 40.45)],
)
def test_offsets_in_beijing_are_the_known_size(lon: float, lat: float) -> None:
    # GCJ-02 is ~500-600 m off in Beijing and not a constant shift; BD-09 ~1.1-1.4 km.
    gcj = geo.wgs84_to_gcj02(lon, lat)
    bd = geo.wgs84_to_bd09(lon, lat)
    assert 450 < geo.geodesic_distance_m(lon, lat, *gcj) < 650
    assert 900 < geo.geodesic_distance_m(lon, lat, *bd) < 1500


def test_gcj02_offset_is_not_constant() -> None:
    a = geo.wgs84_to_gcj02(116.3, 39.9)
    b = geo.wgs84_to_gcj02(116.6, 40.3)
    assert abs((a[0] - 116.3) - (b[0] - 116.6)) > 1e-5


def test_no_offset_outside_china() -> None:
    assert geo.wgs84_to_gcj02(2.35, 48.85) == (2.35, 48.85)
    assert geo.gcj02_to_wgs84(2.35, 48.85) == (2.35, 48.85)


def test_duchang_gcj02_columns_land_on_their_wgs84_geometry() -> None:
    data = json.loads((DATA / "union_stations_duchang_real.geojson").read_text(encoding="utf-8"))
    assert len(data["features"]) == 24
    for feat in data["features"]:
        p = feat["properties"]
        lon, lat = geo.gcj02_to_wgs84(p["gcj02_lon"], p["gcj02_lat"])
        glon, glat = feat["geometry"]["coordinates"]
        assert geo.geodesic_distance_m(lon, lat, glon, glat) < 0.05, p["id"]


def test_datum_round_trip_through_to_and_from() -> None:
    for datum in Datum:
        lon, lat = geo.from_wgs84(116.4, 39.9, datum)
        back = geo.to_wgs84(lon, lat, datum)
        assert geo.geodesic_distance_m(116.4, 39.9, *back) < 0.01


@pytest.mark.parametrize(
    ("text", "datum"), [("WGS84", Datum.WGS84), ("gcj-02", Datum.GCJ02), ("bd_09", Datum.BD09)]
)
def test_datum_parse(text: str, datum: Datum) -> None:
    assert Datum.parse(text) is datum


def test_datum_parse_rejects_unknown() -> None:
    with pytest.raises(ValueError, match="unknown datum"):
        Datum.parse("mars")


def test_degree_lengths_at_40n_are_not_equal() -> None:
    # Why an index over raw degrees is wrong: 1° lon ≈ 85 km, 1° lat ≈ 111 km at 40°N.
    lon_deg = geo.geodesic_distance_m(116.0, 40.0, 117.0, 40.0)
    lat_deg = geo.geodesic_distance_m(116.0, 39.5, 116.0, 40.5)
    assert 85_000 < lon_deg < 86_000
    assert 110_000 < lat_deg < 112_000


def test_geodesic_inverse_matches_known_value_and_bearing() -> None:
    dist, bearing = geo.geodesic_inverse(116.0, 40.0, 116.0, 41.0)
    assert math.isclose(dist[0], 111_044.26, abs_tol=0.01)  # meridian arc 40°N-41°N
    assert bearing[0] == pytest.approx(0.0, abs=1e-9)
    _, east = geo.geodesic_inverse(116.0, 40.0, 116.1, 40.0)
    assert 89 < east[0] < 90


def test_to_leaflet_swaps_order() -> None:
    assert geo.to_leaflet(116.3, 39.9) == [39.9, 116.3]
