"""HTTP caching (ETag, Cache-Control, 304) and the partner sync endpoints (change feed, export)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from locator.core.geo import Datum
from locator.core.hours import TZ
from locator.http import caching as headers
from locator.services.facilities import LocatorService

NEAREST = "/api/v1/nearest?lon=116.3376&lat=39.9925&kind=warm_station&limit=5"


def svc(app: Flask) -> LocatorService:
    s: LocatorService = app.extensions["locator"]
    return s


# --- caching -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "cache_control"),
    [
        (NEAREST, "public, max-age=60"),
        ("/api/v1/facilities?limit=5", "public, max-age=60"),
        ("/api/v1/export.geojson", "public, max-age=60"),
        ("/ogc/collections/facilities/items?limit=5", "public, max-age=60"),
        ("/ogc/conformance", "public, max-age=3600"),
        ("/api/openapi.json", "public, max-age=3600"),
    ],
)
def test_public_gets_are_cacheable_and_revalidate_to_304(
    demo_client: FlaskClient, url: str, cache_control: str
) -> None:
    first = demo_client.get(url)
    assert first.status_code == 200
    assert first.headers["Cache-Control"] == cache_control
    etag = first.headers["ETag"]
    assert etag
    again = demo_client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == etag
    assert again.headers["Cache-Control"] == cache_control
    stale = demo_client.get(url, headers={"If-None-Match": '"something-else"'})
    assert stale.status_code == 200
    if url != NEAREST:  # nearest echoes the exact instant of the query
        assert stale.data == first.data


def test_facility_etag_follows_the_data(demo_app: Flask) -> None:
    client = demo_app.test_client()
    fid = client.get(NEAREST).get_json()["features"][0]["id"]
    first = client.get(f"/api/v1/facilities/{fid}")
    etag = first.headers["ETag"]
    assert client.get(f"/api/v1/facilities/{fid}", headers={"If-None-Match": etag}).status_code == 304
    f = svc(demo_app).get(fid)
    svc(demo_app).update(fid, {"phone": "010-12345678"}, expected_version=f.version)
    changed = client.get(f"/api/v1/facilities/{fid}", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.get_json()["properties"]["phone"] == "010-12345678"
    assert changed.headers["ETag"] != etag


def test_nearest_etag_is_weak_and_keyed_on_revision_query_and_minute(
    demo_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = demo_app.test_client()
    minute = [29_000_000]
    monkeypatch.setattr(headers, "current_minute", lambda: minute[0])
    first = client.get(NEAREST)
    etag = first.headers["ETag"]
    assert etag.startswith('W/"')
    # Same query, same minute, same data: not modified, whatever the parameter order.
    reordered = "/api/v1/nearest?limit=5&kind=warm_station&lat=39.9925&lon=116.3376"
    assert client.get(reordered, headers={"If-None-Match": etag}).status_code == 304
    # The conditional answer does not run the query at all.
    calls = []
    real = svc(demo_app).nearest
    monkeypatch.setattr(svc(demo_app), "nearest", lambda q: calls.append(q) or real(q))
    assert client.get(NEAREST, headers={"If-None-Match": etag}).status_code == 304
    assert calls == []
    # Another point, another minute, or a write to the store: a fresh answer.
    assert (
        client.get(NEAREST.replace("39.9925", "39.9926"), headers={"If-None-Match": etag}).status_code == 200
    )
    minute[0] += 1
    r = client.get(NEAREST, headers={"If-None-Match": etag})
    assert r.status_code == 200 and r.headers["ETag"] != etag
    etag2 = r.headers["ETag"]
    svc(demo_app).create(
        {"kind": "warm_station", "name": "New", "lon": 116.3377, "lat": 39.9925}, Datum.WGS84
    )
    r = client.get(NEAREST, headers={"If-None-Match": etag2})
    assert r.status_code == 200 and r.get_json()["features"][0]["properties"]["name"] == "New"


def test_nearest_with_an_explicit_instant_does_not_expire_by_the_minute(
    demo_client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = NEAREST + "&open_now=true&at=2026-11-24T10:00:00%2B08:00"
    etag = demo_client.get(url).headers["ETag"]
    monkeypatch.setattr(headers, "current_minute", lambda: 1)
    assert demo_client.get(url, headers={"If-None-Match": etag}).status_code == 304


def test_errors_are_not_cached(demo_client: FlaskClient) -> None:
    r = demo_client.get("/api/v1/nearest?lon=x&lat=1")
    assert r.status_code == 400 and "ETag" not in r.headers and "Cache-Control" not in r.headers


# --- change feed ------------------------------------------------------------------------


def add(app: Flask, name: str, lon: float = 116.40, lat: float = 39.90, kind: str = "warm_station") -> str:
    return svc(app).create({"kind": kind, "name": name, "lon": lon, "lat": lat}, Datum.WGS84).id


def feed(client: FlaskClient, query: str) -> dict:  # type: ignore[type-arg]
    r = client.get("/api/v1/facilities?" + query)
    assert r.status_code == 200, r.data
    assert r.mimetype == "application/geo+json"
    return r.get_json()  # type: ignore[no-any-return]


def follow(client: FlaskClient, body: dict) -> list[dict]:  # type: ignore[type-arg]
    pages = [body]
    while body["next_cursor"]:
        nxt = [link["href"] for link in body["links"] if link["rel"] == "next"][0]
        parts = urlsplit(nxt)
        r = client.get(parts.path + "?" + parts.query)
        body = r.get_json()
        pages.append(body)
    return pages


def test_modified_since_returns_later_changes_in_order_with_removed(app: Flask) -> None:
    client = app.test_client()
    early = [add(app, f"early {i}", 116.40 + i / 1000) for i in range(3)]
    cut = svc(app).store.get(early[-1]).updated_at
    assert cut is not None
    later = [add(app, f"later {i}", 116.41 + i / 1000) for i in range(3)]
    f = svc(app).store.get(early[0])
    svc(app).update(early[0], {"status": "removed"}, expected_version=f.version)
    body = feed(client, "modified_since=" + cut.isoformat().replace("+00:00", "Z"))
    ids = [x["id"] for x in body["features"]]
    assert ids == [*later, early[0]]  # oldest change first; the removal is a change
    assert body["features"][-1]["properties"]["status"] == "removed"
    assert body["numberMatched"] == 4 and body["numberReturned"] == 4 and body["next_cursor"] is None
    everything = feed(client, "")
    assert len(everything["features"]) == 6
    # A naive instant is Asia/Shanghai time.
    local = cut.astimezone(TZ).replace(tzinfo=None).isoformat()
    assert [x["id"] for x in feed(client, "modified_since=" + local)["features"]] == ids
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert feed(client, "modified_since=" + future)["features"] == []


def test_paging_by_cursor_is_complete_and_stable_under_concurrent_edits(app: Flask) -> None:
    client = app.test_client()
    ids = [add(app, f"f{i}", 116.40 + i / 1000) for i in range(7)]
    pages = follow(client, feed(client, "limit=2"))
    assert [len(p["features"]) for p in pages] == [2, 2, 2, 1]
    assert [x["id"] for p in pages for x in p["features"]] == ids
    assert {p["numberMatched"] for p in pages} == {7}
    # Edit facilities while a client pages: one already delivered, one not yet.
    first = feed(client, "limit=2")
    for fid in (ids[0], ids[4]):
        f = svc(app).store.get(fid)
        svc(app).update(fid, {"phone": "010-1"}, expected_version=f.version)
    rest = follow(client, first)
    delivered = [x["id"] for p in rest for x in p["features"]]
    assert set(delivered) == set(ids)  # nothing skipped
    assert delivered[-2:] == [ids[0], ids[4]]  # edited ones come again, last
    assert rest[-1]["features"][-1]["properties"]["version"] == 2


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("modified_since=yesterday", "modified_since"),
        ("modified_since=2026-13-01T00:00:00Z", "modified_since"),
        ("cursor=not-a-cursor", "cursor"),
        ("cursor=WyJ4IiwiYSJd", "cursor"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=many", "limit"),
    ],
)
def test_bad_feed_queries_are_400(client: FlaskClient, query: str, param: str) -> None:
    r = client.get("/api/v1/facilities?" + query)
    assert r.status_code == 400 and r.mimetype == "application/problem+json"
    assert r.get_json()["param"] == param


def test_next_link_keeps_the_query(app: Flask) -> None:
    client = app.test_client()
    for i in range(3):
        add(app, f"f{i}", 116.40 + i / 1000)
    body = feed(client, "limit=1&modified_since=2000-01-01T00:00:00Z")
    nxt = [link["href"] for link in body["links"] if link["rel"] == "next"][0]
    q = parse_qs(urlsplit(nxt).query)
    assert q["limit"] == ["1"] and q["modified_since"] == ["2000-01-01T00:00:00Z"] and q["cursor"]


# --- export ----------------------------------------------------------------------------


def test_export_has_every_facility_and_licence_metadata(demo_app: Flask) -> None:
    client = demo_app.test_client()
    store = svc(demo_app).store
    victim = store.all()[0]
    svc(demo_app).update(victim.id, {"status": "removed"}, expected_version=victim.version)
    r = client.get("/api/v1/export.geojson")
    assert r.status_code == 200 and r.mimetype == "application/geo+json"
    assert "warm-station-locator.geojson" in r.headers["Content-Disposition"]
    body = r.get_json()
    assert body["licence"]["id"] == "ODbL-1.0" and body["licence"]["url"].startswith(
        "https://opendatacommons.org/"
    )
    assert "OpenStreetMap contributors" in body["attribution"]
    assert "DEMO" in body["disclaimer"] and "示例" in body["disclaimer"]
    assert body["demo_count"] == store.count() == body["numberReturned"] == len(body["features"])
    statuses = {f["id"]: f["properties"]["status"] for f in body["features"]}
    assert statuses[victim.id] == "removed"
    assert [f["id"] for f in body["features"]] == sorted(statuses)
    assert body["revision"] == store.revision()
    assert client.get("/api/v1/export.geojson?format=csv").status_code == 400


def test_export_of_real_data_has_no_demo_disclaimer(app: Flask) -> None:
    svc(app).create(
        {"kind": "union_home", "name": "Real", "lon": 116.4, "lat": 39.9, "demo": False}, Datum.WGS84
    )
    body = app.test_client().get("/api/v1/export.geojson").get_json()
    assert body["demo_count"] == 0 and body["disclaimer"] is None and body["numberReturned"] == 1
