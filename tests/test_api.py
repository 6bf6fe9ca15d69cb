"""The public JSON API: nearest and facility, including every kind of bad input."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from locator.core import geo

WUDAOKOU = (116.3376, 39.9925)


def test_wudaokou_five_warm_stations_ascending(demo_client: FlaskClient) -> None:
    r = demo_client.get("/api/v1/nearest?lon=116.3376&lat=39.9925&kind=warm_station&limit=5")
    assert r.status_code == 200
    assert r.mimetype == "application/geo+json"
    body = r.get_json()
    assert body["type"] == "FeatureCollection"
    feats = body["features"]
    assert len(feats) == 5
    dists = [f["properties"]["distance_m"] for f in feats]
    assert dists == sorted(dists)
    assert [f["properties"]["rank"] for f in feats] == [1, 2, 3, 4, 5]
    for f in feats:
        assert f["properties"]["kind"] == "warm_station"
        assert f["properties"]["demo"] is True
        lon, lat = f["geometry"]["coordinates"]
        # distance_m is the geodesic distance from the query point, to the millimetre
        assert geo.geodesic_distance_m(*WUDAOKOU, lon, lat) == pytest.approx(
            f["properties"]["distance_m"], abs=0.01
        )
        assert 0 <= f["properties"]["bearing_deg"] < 360
        assert f["properties"]["district"]["adcode"] == "110108"
    assert body["query"]["limit"] == 5
    assert body["query"]["kind"] == ["warm_station"]


def test_nearest_default_only_open_status(demo_client: FlaskClient) -> None:
    body = demo_client.get("/api/v1/nearest?lon=116.40&lat=39.90&limit=50").get_json()
    assert len(body["features"]) == 50
    assert {f["properties"]["status"] for f in body["features"]} == {"open"}


def test_amenity_filter_requires_all(demo_client: FlaskClient) -> None:
    body = demo_client.get("/api/v1/nearest?lon=116.40&lat=39.90&amenity=toilet,wifi&limit=20").get_json()
    assert body["features"]
    for f in body["features"]:
        assert {"toilet", "wifi"} <= set(f["properties"]["amenities"])


def test_open_now_at_an_instant(demo_client: FlaskClient) -> None:
    # 03:00 on a Tuesday in Beijing: only 24/7 or overnight places may answer.
    url = "/api/v1/nearest?lon=116.40&lat=39.90&open_now=true&at=2026-11-24T03:00:00%2B08:00&limit=20"
    body = demo_client.get(url).get_json()
    assert body["features"]
    assert all(f["properties"]["open_now"] is True for f in body["features"])
    assert body["query"]["at"] == "2026-11-24T03:00:00+08:00"
    closed = demo_client.get(url.replace("open_now=true", "open_now=false")).get_json()
    assert any(f["properties"]["open_now"] is not True for f in closed["features"])


def test_radius_limits_answers(demo_client: FlaskClient) -> None:
    body = demo_client.get("/api/v1/nearest?lon=116.3376&lat=39.9925&radius_m=300&limit=50").get_json()
    assert body["features"]
    assert all(f["properties"]["distance_m"] <= 300 for f in body["features"])


def test_gcj02_input_and_output(demo_client: FlaskClient) -> None:
    wgs = demo_client.get("/api/v1/nearest?lon=116.3376&lat=39.9925&limit=3").get_json()
    glon, glat = geo.wgs84_to_gcj02(*WUDAOKOU)
    gcj = demo_client.get(f"/api/v1/nearest?lon={glon}&lat={glat}&datum=gcj02&limit=3").get_json()
    assert [f["id"] for f in gcj["features"]] == [f["id"] for f in wgs["features"]]
    assert gcj["coordinate_datum"] == "gcj02"
    for a, b in zip(wgs["features"], gcj["features"], strict=True):
        assert a["properties"]["distance_m"] == pytest.approx(b["properties"]["distance_m"], abs=0.01)
        back = geo.gcj02_to_wgs84(*b["geometry"]["coordinates"])
        assert geo.geodesic_distance_m(*back, *a["geometry"]["coordinates"]) < 0.05


def test_bd09_input(demo_client: FlaskClient) -> None:
    wgs = demo_client.get("/api/v1/nearest?lon=116.3376&lat=39.9925&limit=3").get_json()
    blon, blat = geo.wgs84_to_bd09(*WUDAOKOU)
    bd = demo_client.get(f"/api/v1/nearest?lon={blon}&lat={blat}&datum=bd09&limit=3").get_json()
    assert [f["id"] for f in bd["features"]] == [f["id"] for f in wgs["features"]]


def test_facility_by_id(demo_client: FlaskClient) -> None:
    first = demo_client.get("/api/v1/nearest?lon=116.3376&lat=39.9925&limit=1").get_json()["features"][0]
    r = demo_client.get(f"/api/v1/facilities/{first['id']}")
    assert r.status_code == 200
    assert r.mimetype == "application/geo+json"
    assert r.get_json()["geometry"] == first["geometry"]


def test_unknown_facility_is_404_problem(demo_client: FlaskClient) -> None:
    r = demo_client.get("/api/v1/facilities/no-such-id")
    assert r.status_code == 404
    assert r.mimetype == "application/problem+json"
    assert r.get_json()["status"] == 404


BAD = [
    # (query string, parameter named in the problem)
    ("lat=39.9", "lon"),  # missing lon
    ("lon=116.3", "lat"),  # missing lat
    ("lon=&lat=39.9", "lon"),  # empty
    ("lon=abc&lat=39.9", "lon"),  # non-numeric
    ("lon=116.3&lat=abc", "lat"),
    ("lon=NaN&lat=39.9", "lon"),  # NaN
    ("lon=116.3&lat=nan", "lat"),
    ("lon=inf&lat=39.9", "lon"),  # infinity
    ("lon=116.3&lat=-Infinity", "lat"),
    ("lon=181&lat=39.9", "lon"),  # out of range
    ("lon=-180.0001&lat=39.9", "lon"),
    ("lon=116.3&lat=90.5", "lat"),
    ("lon=116.3&lat=39.9&kind=hotel", "kind"),  # unknown kind
    ("lon=116.3&lat=39.9&kind=warm_station,<script>", "kind"),
    ("lon=116.3&lat=39.9&amenity=sauna", "amenity"),  # unknown amenity
    ("lon=116.3&lat=39.9&datum=mars", "datum"),  # unknown datum
    ("lon=116.3&lat=39.9&limit=0", "limit"),  # limit out of range
    ("lon=116.3&lat=39.9&limit=51", "limit"),
    ("lon=116.3&lat=39.9&limit=1000000000", "limit"),
    ("lon=116.3&lat=39.9&limit=ten", "limit"),
    ("lon=116.3&lat=39.9&limit=2.5", "limit"),
    ("lon=116.3&lat=39.9&radius_m=-5", "radius_m"),  # radius out of range
    ("lon=116.3&lat=39.9&radius_m=0", "radius_m"),
    ("lon=116.3&lat=39.9&radius_m=1e9", "radius_m"),
    ("lon=116.3&lat=39.9&radius_m=NaN", "radius_m"),
    ("lon=116.3&lat=39.9&open_now=maybe", "open_now"),  # bad boolean
    ("lon=116.3&lat=39.9&at=yesterday", "at"),  # bad time
    ("lon=116.3&lat=39.9&at=2026-13-01T00:00", "at"),
    ("lon=1e400&lat=39.9", "lon"),
    ("lon=0x10&lat=39.9", "lon"),
]


@pytest.mark.parametrize(("qs", "param"), BAD)
def test_bad_input_is_400_problem_naming_the_parameter(demo_client: FlaskClient, qs: str, param: str) -> None:
    r = demo_client.get("/api/v1/nearest?" + qs)
    assert r.status_code == 400, r.get_data(as_text=True)
    assert r.mimetype == "application/problem+json"
    body = r.get_json()
    assert body["status"] == 400
    assert body["param"] == param
    assert body["title"]
    assert body["detail"]


def test_unknown_api_path_is_problem_json(demo_client: FlaskClient) -> None:
    r = demo_client.get("/api/v1/nope")
    assert r.status_code == 404
    assert r.mimetype == "application/problem+json"


def test_wrong_method_is_405_problem(demo_client: FlaskClient) -> None:
    r = demo_client.post("/api/v1/nearest?lon=116.3&lat=39.9")
    assert r.status_code == 405
    assert r.mimetype == "application/problem+json"
    assert "GET" in r.headers["Allow"]


def test_empty_store_answers_empty_collection(client: FlaskClient) -> None:
    body = client.get("/api/v1/nearest?lon=116.3&lat=39.9").get_json()
    assert body["features"] == []


def test_a_bearing_just_under_360_rounds_to_0_not_360(demo_client) -> None:  # type: ignore[no-untyped-def]
    """Found by schemathesis: 359.97° rounded to 0.1° is 0.0 (bearings are in [0, 360))."""
    r = demo_client.get("/api/v1/nearest?datum=bd09&lon=116.3376&lat=-67.74142370720978&limit=50")
    assert r.status_code == 200
    bearings = [f["properties"]["bearing_deg"] for f in r.get_json()["features"]]
    assert all(0 <= b < 360 for b in bearings), bearings
