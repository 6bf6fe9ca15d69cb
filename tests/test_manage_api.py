"""The management API: tokens or session + CSRF, ETag/If-Match, scopes, problem+json."""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from locator.core.domain import Facility
from locator.core.geo import Datum, from_wgs84, geodesic_distance_m
from locator.services.management import ManagementService

from .conftest import LiveServer
from .manage_support import CHAOYANG, HAIDIAN, HOSTILE, accounts, login, make_user, manage_demo_app, page_csrf

PROBLEM = "application/problem+json"


@pytest.fixture
def app(demo_app_factory: Callable[..., Flask], tmp_path: Path) -> Iterator[Flask]:
    application = manage_demo_app(demo_app_factory)
    make_user(application, "root", "admin")
    make_user(application, "hd", "district_manager", districts=[HAIDIAN])
    yield application
    application.extensions["locator"].store.close()


def mg(app: Flask) -> ManagementService:
    svc: ManagementService = app.extensions["locator.manage"]
    return svc


def token_for(app: Flask, name: str) -> dict[str, str]:
    _, secret = accounts(app).create_token(name)
    return {"Authorization": f"Bearer {secret}"}


def first_in(app: Flask, adcode: str) -> Facility:
    return next(
        f
        for f in mg(app).locator.index.facilities()
        if f.district_adcode == adcode and f.status == "open" and f.kind == "warm_station"
    )


def etag(client: FlaskClient, fid: str) -> str:
    resp = client.get(f"/api/v1/facilities/{fid}")
    assert resp.status_code == 200
    return resp.headers["ETag"]


def state(app: Flask, fid: str) -> tuple[Facility, int]:
    store = mg(app).store
    return store.get(fid), len(store.history(fid))


# --- authentication -------------------------------------------------------------------


def test_me_with_a_token(app: Flask) -> None:
    resp = app.test_client().get("/api/v1/me", headers=token_for(app, "hd"))
    assert resp.status_code == 200
    assert resp.get_json() == {
        "name": "hd",
        "role": "district_manager",
        "districts": [HAIDIAN],
        "facilities": [],
    }


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wsl_not-a-token"},
        {"Authorization": "Basic aGQ6eA=="},
        {"Authorization": "Bearer"},
    ],
)
def test_missing_or_bad_credentials_get_401_problem(app: Flask, headers: dict[str, str]) -> None:
    f = first_in(app, HAIDIAN)
    client = app.test_client()
    for method, path in [
        ("GET", "/api/v1/me"),
        ("PATCH", f"/api/v1/facilities/{f.id}"),
        ("POST", "/api/v1/facilities"),
        ("GET", f"/api/v1/facilities/{f.id}/history"),
    ]:
        resp = client.open(path, method=method, headers=headers, json={"name": "x"})
        assert resp.status_code == 401, (method, path)
        assert resp.mimetype == PROBLEM
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_bearer_request_ignores_the_session_cookie(app: Flask) -> None:
    f = first_in(app, HAIDIAN)
    client = app.test_client()
    login(client, "hd")
    csrf = page_csrf(client)
    resp = client.patch(
        f"/api/v1/facilities/{f.id}",
        headers={"Authorization": "Bearer wsl_wrong", "X-CSRFToken": csrf, "If-Match": etag(client, f.id)},
        json={"name": "x"},
    )
    assert resp.status_code == 401


def test_session_writes_need_the_csrf_header(app: Flask) -> None:
    f = first_in(app, HAIDIAN)
    client = app.test_client()
    login(client, "hd")
    before = state(app, f.id)
    tag = etag(client, f.id)
    resp = client.patch(f"/api/v1/facilities/{f.id}", headers={"If-Match": tag}, json={"name": "no csrf"})
    assert resp.status_code == 400 and resp.mimetype == PROBLEM and "CSRF" in resp.get_json()["detail"]
    resp = client.post(f"/api/v1/facilities/{f.id}/verify")
    assert resp.status_code == 400
    resp = client.patch(
        f"/api/v1/facilities/{f.id}", headers={"If-Match": tag, "X-CSRFToken": "forged"}, json={"name": "x"}
    )
    assert resp.status_code == 400
    assert state(app, f.id) == before
    resp = client.patch(
        f"/api/v1/facilities/{f.id}",
        headers={"If-Match": tag, "X-CSRFToken": page_csrf(client)},
        json={"name": "with csrf"},
    )
    assert resp.status_code == 200 and resp.get_json()["properties"]["name"] == "with csrf"
    # Reads need no CSRF token.
    assert client.get(f"/api/v1/facilities/{f.id}/history").status_code == 200


# --- ETag / If-Match -------------------------------------------------------------------


def test_get_returns_a_version_etag(app: Flask) -> None:
    f = first_in(app, HAIDIAN)
    resp = app.test_client().get(f"/api/v1/facilities/{f.id}")
    assert re.fullmatch(rf'W/"{re.escape(f.id)}-v{f.version};[0-9a-f]{{8}}"', resp.headers["ETag"])
    assert resp.get_json()["properties"]["version"] == f.version


def test_patch_needs_if_match(app: Flask) -> None:
    f = first_in(app, HAIDIAN)
    client = app.test_client()
    auth = token_for(app, "hd")
    before = state(app, f.id)
    resp = client.patch(f"/api/v1/facilities/{f.id}", headers=auth, json={"name": "x"})
    assert resp.status_code == 428 and resp.mimetype == PROBLEM
    assert resp.get_json()["param"] == "If-Match"
    resp = client.patch(f"/api/v1/facilities/{f.id}", headers={**auth, "If-Match": "*"}, json={"name": "x"})
    assert resp.status_code == 428
    assert state(app, f.id) == before


def test_stale_if_match_gets_412_with_the_current_etag(app: Flask) -> None:
    f = first_in(app, HAIDIAN)
    client = app.test_client()
    auth = token_for(app, "hd")
    old = etag(client, f.id)
    ok = client.patch(f"/api/v1/facilities/{f.id}", headers={**auth, "If-Match": old}, json={"name": "first"})
    assert ok.status_code == 200
    new = ok.headers["ETag"]
    # The write's answer names the new version; the public GET adds its body's checksum.
    assert new == f'W/"{f.id}-v{f.version + 1}"' and etag(client, f.id).startswith(new[:-1] + ";")
    before = state(app, f.id)
    stale = client.patch(
        f"/api/v1/facilities/{f.id}", headers={**auth, "If-Match": old}, json={"name": "second"}
    )
    assert stale.status_code == 412 and stale.mimetype == PROBLEM
    assert stale.get_json()["current_version"] == f.version + 1
    assert stale.headers["ETag"] == new
    other = first_in(app, CHAOYANG)
    wrong_id = client.patch(
        f"/api/v1/facilities/{f.id}",
        headers={**auth, "If-Match": f'W/"{other.id}-v{f.version + 1}"'},
        json={"name": "x"},
    )
    assert wrong_id.status_code == 412
    assert state(app, f.id) == before
    # Strong and weak forms of the current tag both match; so does a list holding it.
    strong = new.removeprefix("W/")
    ok2 = client.patch(
        f"/api/v1/facilities/{f.id}", headers={**auth, "If-Match": f"{old}, {strong}"}, json={"name": "third"}
    )
    assert ok2.status_code == 200


def test_patch_moves_a_facility_with_a_declared_datum(app: Flask) -> None:
    f = first_in(app, HAIDIAN)
    client = app.test_client()
    auth = {**token_for(app, "hd"), "If-Match": etag(client, f.id)}
    target = (f.lon + 0.002, f.lat + 0.001)
    glon, glat = from_wgs84(*target, Datum.GCJ02)
    no_datum = client.patch(f"/api/v1/facilities/{f.id}", headers=auth, json={"lon": glon, "lat": glat})
    assert no_datum.status_code == 400 and no_datum.get_json()["param"] == "datum"
    resp = client.patch(
        f"/api/v1/facilities/{f.id}",
        headers=auth,
        json={"lon": glon, "lat": glat, "datum": "gcj02", "reason": "moved door"},
    )
    assert resp.status_code == 200
    lon, lat = resp.get_json()["geometry"]["coordinates"]
    assert geodesic_distance_m(lon, lat, *target) < 0.05
    near = client.get(f"/api/v1/nearest?lon={target[0]}&lat={target[1]}&limit=1").get_json()
    assert near["features"][0]["id"] == f.id and near["features"][0]["properties"]["distance_m"] < 0.05
    hist = client.get(f"/api/v1/facilities/{f.id}/history", headers=token_for(app, "hd")).get_json()
    last = hist["entries"][-1]
    assert last["actor"] == "hd" and last["reason"] == "moved door" and set(last["changes"]) >= {"lon", "lat"}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"id": "other"}, "id"),
        ({"kind": "spa"}, "kind"),
        ({"amenities": ["jacuzzi"]}, "amenities"),
        ({"phone": "call me"}, "phone"),
        ({"name": ""}, "name"),
        ({}, "body"),
        ({"lon": "east", "lat": 40, "datum": "wgs84"}, "lon"),
        ({"lon": 116.3, "lat": 39.9, "datum": "mars"}, "datum"),
        ({"reason": 5, "name": "x"}, "reason"),
    ],
)
def test_bad_patch_bodies_get_400_naming_the_field(app: Flask, body: dict, param: str) -> None:
    f = first_in(app, HAIDIAN)
    client = app.test_client()
    before = state(app, f.id)
    resp = client.patch(
        f"/api/v1/facilities/{f.id}",
        headers={**token_for(app, "hd"), "If-Match": etag(client, f.id)},
        json=body,
    )
    assert resp.status_code == 400 and resp.mimetype == PROBLEM
    assert resp.get_json()["param"] == param
    assert state(app, f.id) == before


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'"text"', b"\xff\xfe"])
def test_non_object_bodies_get_400(app: Flask, raw: bytes) -> None:
    client = app.test_client()
    resp = client.post(
        "/api/v1/facilities", headers=token_for(app, "hd"), data=raw, content_type="application/json"
    )
    assert resp.status_code == 400 and resp.get_json()["param"] == "body"


# --- create / status / verify / restore / delete --------------------------------------


def test_create_declares_its_datum(app: Flask) -> None:
    inside = first_in(app, HAIDIAN)
    client = app.test_client()
    auth = token_for(app, "hd")
    body = {"kind": "warm_station", "name": "新驿站", "lon": inside.lon + 0.01, "lat": inside.lat}
    missing = client.post("/api/v1/facilities", headers=auth, json=body)
    assert missing.status_code == 400 and missing.get_json()["param"] == "datum"
    bd = from_wgs84(inside.lon + 0.01, inside.lat, Datum.BD09)
    resp = client.post(
        "/api/v1/facilities", headers=auth, json={**body, "lon": bd[0], "lat": bd[1], "datum": "bd09"}
    )
    assert resp.status_code == 201, resp.get_json()
    feat = resp.get_json()
    fid = feat["id"]
    assert resp.headers["Location"] == f"/api/v1/facilities/{fid}"
    assert resp.headers["ETag"] == f'W/"{fid}-v1"'
    assert geodesic_distance_m(*feat["geometry"]["coordinates"], inside.lon + 0.01, inside.lat) < 0.05
    assert feat["properties"]["district"]["adcode"] == HAIDIAN
    assert feat["properties"]["subdistrict"]
    assert feat["warnings"] == [] or all("distance_m" in w for w in feat["warnings"])


def test_create_warns_about_a_likely_duplicate(app: Flask) -> None:
    f = first_in(app, HAIDIAN)
    resp = app.test_client().post(
        "/api/v1/facilities",
        headers=token_for(app, "hd"),
        json={"kind": f.kind, "name": f.name, "lon": f.lon, "lat": f.lat + 0.0001, "datum": "wgs84"},
    )
    assert resp.status_code == 201
    (w,) = [w for w in resp.get_json()["warnings"] if w["facility_id"] == f.id]
    assert w["reasons"] == ["same_kind", "similar_name"] and 10 < w["distance_m"] < 12


def test_status_verify_and_history_over_the_api(app: Flask) -> None:
    f = first_in(app, HAIDIAN)
    client = app.test_client()
    auth = token_for(app, "hd")
    until = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    resp = client.post(
        f"/api/v1/facilities/{f.id}/status",
        headers=auth,
        json={"status": "temporarily_closed", "until": until, "reason": "暖气维修"},
    )
    assert resp.status_code == 200
    props = resp.get_json()["properties"]
    assert (props["status"], props["status_until"], props["status_reason"]) == (
        "temporarily_closed",
        until,
        "暖气维修",
    )
    near = client.get(f"/api/v1/nearest?lon={f.lon}&lat={f.lat}&limit=1").get_json()["features"]
    assert near[0]["id"] != f.id  # closed facilities are not offered
    no_reason = client.post(f"/api/v1/facilities/{f.id}/status", headers=auth, json={"status": "removed"})
    assert no_reason.status_code == 400 and no_reason.get_json()["param"] == "reason"
    stale = client.post(
        f"/api/v1/facilities/{f.id}/verify", headers={**auth, "If-Match": f'W/"{f.id}-v{f.version}"'}
    )
    assert stale.status_code == 412
    verified = client.post(f"/api/v1/facilities/{f.id}/verify", headers=auth)
    assert verified.status_code == 200 and verified.get_json()["properties"]["verified_at"]
    reopened = client.post(f"/api/v1/facilities/{f.id}/status", headers=auth, json={"status": "open"})
    assert reopened.get_json()["properties"]["status"] == "open"
    entries = client.get(f"/api/v1/facilities/{f.id}/history", headers=auth).get_json()["entries"]
    assert [e["action"] for e in entries][-3:] == ["update", "update", "update"]
    assert entries[-3]["changes"]["status"] == ["open", "temporarily_closed"]
    assert entries[-2]["changes"].keys() == {"verified_at"}
    assert all(e["actor"] == "hd" for e in entries[-3:])


def test_restore_over_the_api(app: Flask) -> None:
    f = first_in(app, HAIDIAN)
    client = app.test_client()
    auth = token_for(app, "hd")
    first = client.get(f"/api/v1/facilities/{f.id}/history", headers=auth).get_json()["entries"][0]["seq"]
    changed = client.patch(
        f"/api/v1/facilities/{f.id}",
        headers={**auth, "If-Match": etag(client, f.id)},
        json={"name": "临时名"},
    )
    no_match = client.post(f"/api/v1/facilities/{f.id}/restore", headers=auth, json={"seq": first})
    assert no_match.status_code == 428
    resp = client.post(
        f"/api/v1/facilities/{f.id}/restore",
        headers={**auth, "If-Match": changed.headers["ETag"]},
        json={"seq": first, "reason": "wrong rename"},
    )
    assert resp.status_code == 200 and resp.get_json()["properties"]["name"] == f.name
    bad = client.post(
        f"/api/v1/facilities/{f.id}/restore",
        headers={**auth, "If-Match": resp.headers["ETag"]},
        json={"seq": "1"},
    )
    assert bad.status_code == 400


def test_delete_is_for_admins(app: Flask) -> None:
    f = first_in(app, HAIDIAN)
    client = app.test_client()
    tag = etag(client, f.id)
    hd = token_for(app, "hd")
    refused = client.delete(f"/api/v1/facilities/{f.id}", headers={**hd, "If-Match": tag})
    assert refused.status_code == 403 and refused.mimetype == PROBLEM
    # The role is checked first: no need to fetch an ETag to learn that deleting is not allowed.
    assert client.delete(f"/api/v1/facilities/{f.id}", headers=hd).status_code == 403
    root = token_for(app, "root")
    assert client.delete(f"/api/v1/facilities/{f.id}", headers=root).status_code == 428
    assert client.delete(f"/api/v1/facilities/{f.id}", headers={**root, "If-Match": tag}).status_code == 204
    assert client.get(f"/api/v1/facilities/{f.id}").status_code == 404
    hist = client.get(f"/api/v1/facilities/{f.id}/history", headers=root).get_json()["entries"]
    assert hist[-1]["action"] == "delete" and hist[-1]["actor"] == "root"


def test_patch_follows_the_status_rules(app: Flask) -> None:
    f = first_in(app, HAIDIAN)
    client = app.test_client()
    hd = token_for(app, "hd")
    before = state(app, f.id)
    for body, param in (
        ({"status": "removed"}, "reason"),
        ({"status": "removed", "status_reason": "  "}, "reason"),
        ({"status": "temporarily_closed", "status_until": "2000-01-01"}, "until"),
        ({"status": "open", "status_until": "2030-01-01"}, "until"),
        ({"status_until": "2030-01-01"}, "until"),  # the facility is open
        ({"status": "shut"}, "status"),
        ({"status": ["open"]}, "status"),
    ):
        resp = client.patch(
            f"/api/v1/facilities/{f.id}", json=body, headers={**hd, "If-Match": etag(client, f.id)}
        )
        assert resp.status_code == 400 and resp.get_json()["param"] == param, (body, resp.get_json())
    assert state(app, f.id) == before
    ok = client.patch(
        f"/api/v1/facilities/{f.id}",
        json={"status": "removed", "status_reason": "拆除", "status_until": None},
        headers={**hd, "If-Match": etag(client, f.id)},
    )
    assert ok.status_code == 200 and ok.get_json()["properties"]["status"] == "removed"
    reopened = client.patch(
        f"/api/v1/facilities/{f.id}", json={"status": "open"}, headers={**hd, "If-Match": ok.headers["ETag"]}
    )
    props = reopened.get_json()["properties"]
    assert reopened.status_code == 200 and (props["status"], props["status_reason"]) == ("open", "")


def test_create_refuses_fields_it_cannot_set(app: Flask) -> None:
    client = app.test_client()
    hd = token_for(app, "hd")
    base = {"kind": "warm_station", "name": "新驿站", "lon": 116.3376, "lat": 39.9925, "datum": "wgs84"}
    count = mg(app).store.count()
    for extra in ({"bogus": 1}, {"verified_at": "2026-01-01T00:00:00Z"}, {"demo": True}, {"version": 7}):
        resp = client.post("/api/v1/facilities", json={**base, **extra}, headers=hd)
        assert resp.status_code == 400 and resp.get_json()["param"] == next(iter(extra)), resp.get_json()
    resp = client.post("/api/v1/facilities", json={**base, "status": "removed"}, headers=hd)
    assert resp.status_code == 400 and resp.get_json()["param"] == "reason"
    assert mg(app).store.count() == count
    assert client.post("/api/v1/facilities", json=base, headers=hd).status_code == 201


def test_management_answers_are_private(app: Flask) -> None:
    client = app.test_client()
    hd = token_for(app, "hd")
    f = first_in(app, HAIDIAN)
    for path in ("/api/v1/me", "/api/v1/manage/facilities", f"/api/v1/facilities/{f.id}/history"):
        resp = client.get(path, headers=hd)
        assert resp.status_code == 200 and resp.headers["Cache-Control"] == "private, no-store", path
    assert client.get("/api/v1/me").headers["Cache-Control"] == "private, no-store"  # 401 too


# --- scope refusals ---------------------------------------------------------------------


def test_every_scope_refusal_is_403_and_changes_nothing(app: Flask) -> None:
    chaoyang = first_in(app, CHAOYANG)
    haidian = first_in(app, HAIDIAN)
    make_user(app, "sm", "station_manager", facilities=[haidian.id])
    client = app.test_client()
    hd, sm = token_for(app, "hd"), token_for(app, "sm")
    n = mg(app).store.count()
    before = {fid: state(app, fid) for fid in (chaoyang.id, haidian.id)}
    tag = etag(client, chaoyang.id)
    h_tag = etag(client, haidian.id)
    first_seq = mg(app).store.history(chaoyang.id)[0].seq
    attempts = [
        (hd, "PATCH", f"/api/v1/facilities/{chaoyang.id}", {"name": "x"}, tag),
        (hd, "POST", f"/api/v1/facilities/{chaoyang.id}/status", {"status": "removed", "reason": "x"}, None),
        (hd, "POST", f"/api/v1/facilities/{chaoyang.id}/verify", {}, None),
        (hd, "POST", f"/api/v1/facilities/{chaoyang.id}/restore", {"seq": first_seq}, tag),
        (hd, "DELETE", f"/api/v1/facilities/{chaoyang.id}", None, tag),
        (hd, "GET", f"/api/v1/facilities/{chaoyang.id}/history", None, None),
        (
            hd,
            "PATCH",
            f"/api/v1/facilities/{haidian.id}",
            {"lon": chaoyang.lon, "lat": chaoyang.lat, "datum": "wgs84"},
            h_tag,
        ),
        (
            hd,
            "POST",
            "/api/v1/facilities",
            {
                "kind": "warm_station",
                "name": "x",
                "lon": chaoyang.lon,
                "lat": chaoyang.lat + 0.001,
                "datum": "wgs84",
            },
            None,
        ),
        (sm, "PATCH", f"/api/v1/facilities/{chaoyang.id}", {"name": "x"}, tag),
        (sm, "POST", f"/api/v1/facilities/{chaoyang.id}/verify", {}, None),
        (
            sm,
            "POST",
            "/api/v1/facilities",
            {"kind": "warm_station", "name": "x", "lon": haidian.lon, "lat": haidian.lat, "datum": "wgs84"},
            None,
        ),
        (sm, "DELETE", f"/api/v1/facilities/{haidian.id}", None, h_tag),
    ]
    for auth, method, path, body, if_match in attempts:
        headers = dict(auth)
        if if_match:
            headers["If-Match"] = if_match
        resp = client.open(path, method=method, headers=headers, json=body)
        assert resp.status_code == 403, (method, path, resp.get_json())
        assert resp.mimetype == PROBLEM
    assert mg(app).store.count() == n
    assert {fid: state(app, fid) for fid in before} == before
    # The station manager may work on their own facility.
    assert client.post(f"/api/v1/facilities/{haidian.id}/verify", headers=sm).status_code == 200


def test_scope_listing(app: Flask) -> None:
    client = app.test_client()
    body = client.get("/api/v1/manage/facilities?kind=nursing_room", headers=token_for(app, "hd")).get_json()
    assert body["numberMatched"] > 0
    assert {f["properties"]["district"]["adcode"] for f in body["features"]} == {HAIDIAN}
    assert {f["properties"]["kind"] for f in body["features"]} == {"nursing_room"}
    bad = client.get("/api/v1/manage/facilities?kind=spa", headers=token_for(app, "hd"))
    assert bad.status_code == 400 and bad.get_json()["param"] == "kind"


def test_hostile_text_round_trips_as_data(app: Flask) -> None:
    f = first_in(app, HAIDIAN)
    client = app.test_client()
    resp = client.patch(
        f"/api/v1/facilities/{f.id}",
        headers={**token_for(app, "hd"), "If-Match": etag(client, f.id)},
        json={"name": HOSTILE, "address": HOSTILE},
    )
    assert resp.status_code == 200
    assert json.loads(resp.get_data())["properties"]["name"] == HOSTILE


# --- concurrency: two clients, one wins, nothing is lost ----------------------------------


def test_concurrent_patches_exactly_one_wins(app: Flask) -> None:
    f = first_in(app, HAIDIAN)
    server = LiveServer(app)
    try:
        tag = app.test_client().get(f"/api/v1/facilities/{f.id}").headers["ETag"]
        tokens = [token_for(app, "hd"), token_for(app, "root")]
        history_before = len(mg(app).store.history(f.id))
        barrier = threading.Barrier(2)
        results: dict[int, tuple[int, dict]] = {}

        def patch(i: int) -> None:
            body = json.dumps({"name": f"editor {i}", "phone": f"010-{i}000"}).encode()
            req = urllib.request.Request(
                f"{server.url}/api/v1/facilities/{f.id}",
                data=body,
                method="PATCH",
                headers={**tokens[i], "If-Match": tag, "Content-Type": "application/json"},
            )
            barrier.wait()
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - 127.0.0.1
                    results[i] = (resp.status, json.loads(resp.read()))
            except urllib.error.HTTPError as exc:
                results[i] = (exc.code, json.loads(exc.read()))

        threads = [threading.Thread(target=patch, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(15)
        statuses = sorted(code for code, _ in results.values())
        assert statuses == [200, 412], results
        winner = next(i for i, (code, _) in results.items() if code == 200)
        loser = 1 - winner
        assert results[loser][1]["current_version"] == f.version + 1
        stored = mg(app).store.get(f.id)
        assert (stored.name, stored.phone, stored.version) == (
            f"editor {winner}",
            f"010-{winner}000",
            f.version + 1,
        )
        history = mg(app).store.history(f.id)
        assert len(history) == history_before + 1
        assert history[-1].changes["name"] == [f.name, f"editor {winner}"]
        assert history[-1].actor == ["hd", "root"][winner]
        # The loser re-reads and re-applies on top: both edits survive.
        fresh = app.test_client().get(f"/api/v1/facilities/{f.id}")
        again = app.test_client().patch(
            f"/api/v1/facilities/{f.id}",
            headers={**tokens[loser], "If-Match": fresh.headers["ETag"]},
            json={"phone": f"010-{loser}000"},
        )
        assert again.status_code == 200
        final = mg(app).store.get(f.id)
        assert (final.name, final.phone) == (f"editor {winner}", f"010-{loser}000")
    finally:
        server.stop()


def test_managers_are_not_limited_as_keyless_callers(demo_app_factory: Callable[..., Flask]) -> None:
    app = manage_demo_app(demo_app_factory, LOCATOR_RATELIMIT_KEYLESS="3 per minute")
    make_user(app, "hd", "district_manager", districts=[HAIDIAN])
    f = first_in(app, HAIDIAN)
    client = app.test_client()
    hd = token_for(app, "hd")
    for _ in range(6):  # e.g. reading ETags between edits
        assert client.get(f"/api/v1/facilities/{f.id}", headers=hd).status_code == 200
    statuses = [client.get(f"/api/v1/facilities/{f.id}").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    bad = {"Authorization": "Bearer not-a-token"}
    assert client.get(f"/api/v1/facilities/{f.id}", headers=bad).status_code == 429
