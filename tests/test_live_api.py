"""Live door status over HTTP, on both stores: the signed door API, rider check-ins, manager
overrides, the ``live`` block in the API, and the door-key commands."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from locator.core.live import LiveEvent
from locator.services.live import LiveService, door_signature

from .manage_support import accounts, make_user, manage_demo_app

WUDAOKOU = {"lon": "116.3376", "lat": "39.9925"}


@pytest.fixture
def app(demo_app_factory: Callable[..., Flask]) -> Iterator[Flask]:
    application = manage_demo_app(demo_app_factory)
    yield application


def live_of(app: Flask) -> LiveService:
    svc: LiveService = app.extensions["locator.live"]
    return svc


def first_id(client: FlaskClient, **params: str) -> str:
    body = client.get("/api/v1/nearest", query_string={**WUDAOKOU, "limit": "1", **params}).get_json()
    fid: str = body["features"][0]["id"]
    return fid


def signed(secret: str, key_id: str, body: bytes, ts: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if ts is None else ts)
    return {
        "X-Door-Key": key_id,
        "X-Door-Timestamp": stamp,
        "X-Door-Signature": door_signature(secret, stamp, body),
        "Content-Type": "application/json",
    }


def test_a_device_heartbeat_makes_a_station_confirmed_open_within_one_request(app: Flask) -> None:
    client = app.test_client()
    fid = first_id(client)
    before = client.get(f"/api/v1/facilities/{fid}").get_json()["properties"]["live"]
    assert before["state"] in {"scheduled_open", "scheduled_closed", "unknown"}
    key, secret = live_of(app).create_door_key(fid, "front door")
    body = b'{"state": "open"}'
    resp = client.post(f"/api/v1/facilities/{fid}/door", data=body, headers=signed(secret, key.id, body))
    assert resp.status_code == 201, resp.get_json()
    receipt = resp.get_json()
    assert receipt["live"]["state"] == "confirmed_open" and receipt["key"] == key.id
    live = client.get(f"/api/v1/facilities/{fid}").get_json()["properties"]["live"]
    assert live == {"state": "confirmed_open", "since": receipt["at"], "source": "device", "reports": 0}
    near = client.get("/api/v1/nearest", query_string={**WUDAOKOU, "limit": "1"}).get_json()
    assert near["features"][0]["properties"]["live"]["state"] == "confirmed_open"
    assert live_of(app).store.get_door_key(key.id).last_seen_at is not None


@pytest.mark.parametrize(
    "tamper",
    [
        "no-key",
        "no-signature",
        "bad-signature",
        "stale",
        "future",
        "unknown-key",
        "revoked",
        "replay",
        "junk-ts",
    ],
)
def test_bad_door_requests_are_401_and_store_nothing(app: Flask, tamper: str) -> None:
    client = app.test_client()
    fid = first_id(client)
    svc = live_of(app)
    key, secret = svc.create_door_key(fid, "lock")
    body = b'{"state":"closed"}'
    headers = signed(secret, key.id, body)
    if tamper == "no-key":
        del headers["X-Door-Key"]
    elif tamper == "no-signature":
        del headers["X-Door-Signature"]
    elif tamper == "bad-signature":
        headers["X-Door-Signature"] = door_signature("not-the-secret", headers["X-Door-Timestamp"], body)
    elif tamper == "stale":
        headers = signed(secret, key.id, body, int(time.time()) - 301)
    elif tamper == "future":
        headers = signed(secret, key.id, body, int(time.time()) + 301)
    elif tamper == "unknown-key":
        headers["X-Door-Key"] = "dk_0000000000000000"
    elif tamper == "revoked":
        svc.revoke_door_key(key.id)
    elif tamper == "junk-ts":
        headers["X-Door-Timestamp"] = "12:00"
    elif tamper == "replay":
        first = client.post(f"/api/v1/facilities/{fid}/door", data=body, headers=headers)
        assert first.status_code == 201
    revision = svc.store.live_revision()
    resp = client.post(f"/api/v1/facilities/{fid}/door", data=body, headers=headers)
    assert resp.status_code == 401, (tamper, resp.get_json())
    assert resp.mimetype == "application/problem+json" and resp.get_json()["param"].startswith("X-Door-")
    assert "WWW-Authenticate" in resp.headers
    assert svc.store.live_revision() == revision  # nothing stored
    assert len(svc.store.list_live_events(fid, source="device")) == (1 if tamper == "replay" else 0)


def test_a_key_of_another_facility_is_403_and_a_bad_body_400(app: Flask) -> None:
    client = app.test_client()
    a = first_id(client)
    b = first_id(client, kind="union_home")
    svc = live_of(app)
    key, secret = svc.create_door_key(a, "lock")
    body = b'{"state":"open"}'
    resp = client.post(f"/api/v1/facilities/{b}/door", data=body, headers=signed(secret, key.id, body))
    assert resp.status_code == 403 and resp.get_json()["param"] == "X-Door-Key"
    bad = b'{"state":"ajar"}'
    resp = client.post(f"/api/v1/facilities/{a}/door", data=bad, headers=signed(secret, key.id, bad))
    assert resp.status_code == 400 and resp.get_json()["param"] == "state"
    assert (
        client.post(
            "/api/v1/facilities/nope/door", data=body, headers=signed(secret, key.id, body)
        ).status_code
        == 404
    )
    assert svc.store.list_live_events(a) == [] and svc.store.list_live_events(b) == []


def test_rider_checkins_one_per_client_per_hour_and_429_counts_nothing(app: Flask) -> None:
    client = app.test_client()
    fid = first_id(client)
    svc = live_of(app)
    resp = client.post(f"/api/v1/facilities/{fid}/checkins", json={"door": "locked"})
    assert resp.status_code == 201
    assert resp.get_json()["live"] == {
        "state": "reported_locked",
        "since": resp.get_json()["at"],
        "source": "riders",
        "reports": 1,
    }
    again = client.post(f"/api/v1/facilities/{fid}/checkins", json={"door": "locked"})
    assert again.status_code == 429 and again.mimetype == "application/problem+json"
    assert 3500 <= int(again.headers["Retry-After"]) <= 3601
    flood = [
        client.post(f"/api/v1/facilities/{fid}/checkins", json={"door": "open"}).status_code
        for _ in range(12)
    ]
    assert set(flood) == {429}
    assert [(e.state, e.source) for e in svc.store.list_live_events(fid)] == [("locked", "rider")]
    # another rider (another address) is counted: two independent reports
    other = client.post(
        f"/api/v1/facilities/{fid}/checkins",
        json={"door": "locked"},
        environ_base={"REMOTE_ADDR": "10.0.0.9"},
    )
    assert other.status_code == 201 and other.get_json()["live"]["reports"] == 2
    fresh = {"REMOTE_ADDR": "10.0.0.11"}  # the flood used up the first address's feedback budget
    bad = client.post(f"/api/v1/facilities/{fid}/checkins", json={"door": "ajar"}, environ_base=fresh)
    assert bad.status_code == 400 and bad.get_json()["param"] == "door"
    assert (
        client.post("/api/v1/facilities/nope/checkins", json={"door": "open"}, environ_base=fresh).status_code
        == 404
    )
    evil = client.post(
        f"/api/v1/facilities/{fid}/checkins",
        json={"door": "open"},
        headers={"Origin": "https://evil.example"},
        environ_base={"REMOTE_ADDR": "10.0.0.10"},
    )
    assert evil.status_code == 403
    assert len(svc.store.list_live_events(fid)) == 2


def test_the_checkin_form_works_without_javascript(app: Flask) -> None:
    client = app.test_client()
    fid = first_id(client)
    resp = client.post(f"/facility/{fid}/checkin", data={"door": "scan_required", "next": f"/facility/{fid}"})
    assert resp.status_code == 303
    assert resp.headers["Location"].startswith(f"/facility/{fid}?ci=scan_required&ci_id=")
    assert [e.state for e in live_of(app).store.list_live_events(fid)] == ["scan_required"]
    again = client.post(f"/facility/{fid}/checkin", data={"door": "open"}, headers={"Accept": "text/html"})
    assert again.status_code == 429 and again.mimetype == "text/html"


def test_a_manager_override_via_the_api(app: Flask) -> None:
    make_user(app, "root", "admin")
    _, token = accounts(app).create_token("root")
    auth = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    fid = first_id(client)
    resp = client.post(
        f"/api/v1/facilities/{fid}/live",
        json={"state": "closed", "until": "23:59", "reason": "暖气维修"},
        headers=auth,
    )
    assert resp.status_code == 201, resp.get_json()
    receipt = resp.get_json()
    assert receipt["live"]["state"] == "closed_by_manager" and receipt["reason"] == "暖气维修"
    until = datetime.fromisoformat(receipt["until"])
    assert timedelta(0) < until - datetime.now(UTC) <= timedelta(hours=24)
    props = client.get(f"/api/v1/facilities/{fid}").get_json()["properties"]
    assert props["live"]["state"] == "closed_by_manager" and props["live"]["source"] == "manager"
    assert (
        client.post(f"/api/v1/facilities/{fid}/live", json={"state": "closed"}, headers=auth).status_code
        == 400
    )
    assert client.post(f"/api/v1/facilities/{fid}/live", json={"state": "cleared"}).status_code == 401
    resp = client.post(f"/api/v1/facilities/{fid}/live", json={"state": "cleared"}, headers=auth)
    assert resp.status_code == 201 and resp.get_json()["live"]["source"] != "manager"


def test_a_station_manager_may_not_override_another_facility(app: Flask) -> None:
    client = app.test_client()
    fid = first_id(client)
    make_user(app, "sm", "station_manager", facilities=["some-other-id"])
    _, token = accounts(app).create_token("sm")
    resp = client.post(
        f"/api/v1/facilities/{fid}/live", json={"state": "open"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status_code == 403
    assert live_of(app).store.list_live_events(fid) == []


def test_another_worker_sees_a_live_event_through_its_own_map(
    app: Flask, demo_app_factory: Callable[..., Flask]
) -> None:
    """A second app on the same store (another worker) learns of the event without a request querying."""
    other = demo_app_factory(LOCATOR_INDEX_CHECK_S=0.02)
    client = app.test_client()
    fid = first_id(client)
    live_of(app).checkin(fid, "locked", client="c1", now=datetime.now(UTC))
    live_of(app).checkin(fid, "locked", client="c2", now=datetime.now(UTC))
    theirs = live_of(other)
    theirs.inputs(fid)  # starts the watcher
    deadline = time.monotonic() + 5
    while theirs.inputs(fid) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    body = other.test_client().get(f"/api/v1/facilities/{fid}").get_json()
    assert body["properties"]["live"]["reports"] == 2


def test_door_key_commands(app: Flask) -> None:
    runner = app.test_cli_runner()
    fid = first_id(app.test_client())
    out = runner.invoke(args=["locator", "door-key", "add", fid, "--name", "QR gate"])
    assert out.exit_code == 0, out.output
    lines = dict(line.split(":", 1) for line in out.output.splitlines()[:2])
    key_id, secret = lines["key id"].strip(), lines["secret"].strip()
    assert key_id.startswith("dk_") and len(secret) == 64
    assert secret not in json.dumps([k.salt for k in live_of(app).door_keys()])  # never stored
    listed = runner.invoke(args=["locator", "door-key", "list", fid])
    assert key_id in listed.output and "active" in listed.output and "no event yet" in listed.output
    body = b'{"state":"open"}'
    client = app.test_client()
    assert (
        client.post(
            f"/api/v1/facilities/{fid}/door", data=body, headers=signed(secret, key_id, body)
        ).status_code
        == 201
    )
    assert "last event" in runner.invoke(args=["locator", "door-key", "list"]).output
    revoked = runner.invoke(args=["locator", "door-key", "revoke", key_id])
    assert revoked.exit_code == 0 and "REVOKED" in revoked.output
    assert (
        client.post(
            f"/api/v1/facilities/{fid}/door", data=body, headers=signed(secret, key_id, body)
        ).status_code
        == 401
    )
    assert runner.invoke(args=["locator", "door-key", "add", "nope", "--name", "x"]).exit_code == 1
    assert runner.invoke(args=["locator", "door-key", "revoke", "dk_nope"]).exit_code == 1


def test_the_secret_depends_on_the_app_secret(app: Flask) -> None:
    fid = first_id(app.test_client())
    svc = live_of(app)
    key, secret = svc.create_door_key(fid, "lock")
    moved = LiveService(svc.locator, "another-secret-key-0123456789")
    body = b'{"state":"open"}'
    headers = signed(secret, key.id, body)
    with pytest.raises(Exception) as exc:
        moved.authenticate_door(
            fid,
            key_id=key.id,
            timestamp=headers["X-Door-Timestamp"],
            signature=headers["X-Door-Signature"],
            body=body,
            now=datetime.now(UTC),
        )
    assert getattr(exc.value, "status", None) == 401


def test_events_older_than_the_horizon_are_not_loaded(app: Flask) -> None:
    fid = first_id(app.test_client())
    svc = live_of(app)
    old = datetime.now(UTC) - timedelta(hours=30)
    svc.store.add_live_event(LiveEvent(fid, "rider", "locked", old, actor="c"))
    svc.load()
    assert svc.inputs(fid) is None


def test_a_conditional_nearest_request_sees_a_new_live_event(app: Flask) -> None:
    """The nearest ETag follows the live revision: no 304 with a stale ``live`` block."""
    client = app.test_client()
    q = {**WUDAOKOU, "limit": "1"}
    first = client.get("/api/v1/nearest", query_string=q)
    etag, fid = first.headers["ETag"], first.get_json()["features"][0]["id"]
    assert client.get("/api/v1/nearest", query_string=q, headers={"If-None-Match": etag}).status_code == 304
    assert client.post(f"/api/v1/facilities/{fid}/checkins", json={"door": "locked"}).status_code == 201
    again = client.get("/api/v1/nearest", query_string=q, headers={"If-None-Match": etag})
    assert again.status_code == 200 and again.headers["ETag"] != etag
    assert again.get_json()["features"][0]["properties"]["live"]["state"] == "reported_locked"


def test_a_conditional_facility_request_sees_a_new_live_event_and_its_etag_still_writes(app: Flask) -> None:
    """``GET /api/v1/facilities/<id>`` revalidates on its body, not the version alone.

    The version does not change when riders report the door locked; a 304 by version would
    leave a cache saying "open". The same tag still works as the management API's If-Match.
    """
    client = app.test_client()
    fid = first_id(client)
    url = f"/api/v1/facilities/{fid}"
    before = client.get(url)
    etag = before.headers["ETag"]
    assert etag.startswith(f'W/"{fid}-v{before.get_json()["properties"]["version"]};')
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert client.post(f"{url}/checkins", json={"door": "locked"}).status_code == 201
    after = client.get(url, headers={"If-None-Match": etag})
    assert after.status_code == 200 and after.headers["ETag"] != etag
    assert after.get_json()["properties"]["live"]["state"] == "reported_locked"
    # The version did not change, so either tag is a current If-Match for a write.
    make_user(app, "root", "admin")
    _, secret = accounts(app).create_token("root")
    auth = {"Authorization": f"Bearer {secret}"}
    patch = client.patch(url, json={"phone": "010-87654321"}, headers={**auth, "If-Match": etag})
    assert patch.status_code == 200, patch.get_json()
    stale = client.patch(url, json={"phone": "010-1"}, headers={**auth, "If-Match": after.headers["ETag"]})
    assert stale.status_code == 412


def test_ogc_items_carry_the_live_block(app: Flask) -> None:
    client = app.test_client()
    fid = first_id(client)
    item = f"/ogc/collections/facilities/items/{fid}?f=json"
    before = client.get(item)
    assert before.get_json()["properties"]["live"]["source"] in {"schedule", "riders", "manager", "device"}
    assert client.post(f"/api/v1/facilities/{fid}/checkins", json={"door": "locked"}).status_code == 201
    after = client.get(item, headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200  # the body (and its ETag) follow the live status
    assert after.get_json()["properties"]["live"] == {
        "state": "reported_locked",
        "since": after.get_json()["properties"]["live"]["since"],
        "source": "riders",
        "reports": 1,
    }
    lon, lat = after.get_json()["geometry"]["coordinates"]
    bbox = f"{lon - 0.001},{lat - 0.001},{lon + 0.001},{lat + 0.001}"
    page = client.get(f"/ogc/collections/facilities/items?f=json&bbox={bbox}").get_json()
    (feature,) = [f for f in page["features"] if f["id"] == fid]
    assert feature["properties"]["live"]["state"] == "reported_locked"
    assert all("live" in f["properties"] and "open_now" in f["properties"] for f in page["features"])
