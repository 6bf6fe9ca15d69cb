"""The managers' live controls on /manage, on both stores: one tap "open now", "closed now
until HH:MM", back to the hours, scopes, and the door-device keys (secret shown once)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from locator.core.domain import Facility
from locator.core.hours import TZ
from locator.services.live import LiveService

from .manage_support import CHAOYANG, HAIDIAN, login, make_user, manage_demo_app, page_csrf
from .test_live_api import signed


@pytest.fixture
def app(demo_app_factory: Callable[..., Flask]) -> Iterator[Flask]:
    application = manage_demo_app(demo_app_factory)
    make_user(application, "hd", "district_manager", districts=[HAIDIAN])
    make_user(application, "cy", "district_manager", districts=[CHAOYANG])
    yield application


def client_of(app: Flask, name: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, name).status_code == 303
    return client


def haidian_station(app: Flask) -> Facility:
    return next(
        f
        for f in app.extensions["locator"].index.facilities()
        if f.district_adcode == HAIDIAN and f.status == "open" and f.kind == "warm_station"
    )


def live_block(app: Flask, fid: str) -> dict[str, object]:
    block: dict[str, object] = (
        app.test_client().get(f"/api/v1/facilities/{fid}").get_json()["properties"]["live"]
    )
    return block


def post_live(client: FlaskClient, fid: str, **form: str) -> str:
    edit = f"/manage/f/{fid}/edit"
    resp = client.post(f"/manage/f/{fid}/live", data={"csrf_token": page_csrf(client, edit), **form})
    assert resp.status_code == 303, resp.status_code
    return client.get(edit, headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)


def live_now(html: str) -> str:
    m = re.search(r'id="live-now">(.*?)</p>', html, re.S)
    assert m, "no live status on the page"
    return m.group(1)


def test_one_tap_open_closed_until_and_back_reach_riders(app: Flask) -> None:
    hd = client_of(app, "hd")
    f = haidian_station(app)
    assert live_block(app, f.id)["source"] in {"schedule", None}

    page = post_live(hd, f.id, state="open")
    assert live_block(app, f.id)["state"] == "confirmed_open"
    assert live_block(app, f.id)["source"] == "manager"
    assert "站点确认现在开放" in live_now(page), live_now(page)

    until = (datetime.now(TZ) + timedelta(hours=2)).strftime("%H:%M")
    page = post_live(hd, f.id, state="closed", until=until, reason="暖气维修")
    assert live_block(app, f.id)["state"] == "closed_by_manager"
    assert "暖气维修" in live_now(page) and until in live_now(page)
    lite = app.test_client().get("/lite", query_string={"lon": f.lon, "lat": f.lat, "kind": "warm_station"})
    assert "暖气维修" in lite.get_data(as_text=True)  # riders read the same words
    listing = hd.get("/manage", query_string={"q": f.name}, headers={"Accept-Language": "zh-CN"})
    assert "暖气维修" in listing.get_data(as_text=True)  # the card says it too

    page = post_live(hd, f.id, state="cleared")
    assert live_block(app, f.id)["source"] == "schedule"
    assert "营业时间" in live_now(page)


def test_a_closure_needs_a_time_of_day_and_nothing_is_stored_without_one(app: Flask) -> None:
    hd = client_of(app, "hd")
    f = haidian_station(app)
    before = live_block(app, f.id)
    for bad in ({"until": "25:99"}, {"until": ""}, {"until": "noon"}):
        page = post_live(hd, f.id, state="closed", reason="x", **bad)
        assert "门口状态未更改" in page
        assert live_block(app, f.id) == before
    post_live(hd, f.id, state="ajar")
    assert live_block(app, f.id) == before


def test_a_manager_cannot_touch_a_station_outside_their_districts(app: Flask) -> None:
    cy = client_of(app, "cy")
    f = haidian_station(app)
    before = live_block(app, f.id)
    token = page_csrf(cy, "/manage")
    resp = cy.post(f"/manage/f/{f.id}/live", data={"csrf_token": token, "state": "open"})
    assert resp.status_code == 403
    resp = cy.post(f"/manage/f/{f.id}/door-keys", data={"csrf_token": token, "name": "lock"})
    assert resp.status_code == 403
    assert live_block(app, f.id) == before
    svc: LiveService = app.extensions["locator.live"]
    assert svc.door_keys(f.id) == []


def test_a_door_key_is_shown_once_then_listed_heard_and_revoked(app: Flask) -> None:
    hd = client_of(app, "hd")
    f = haidian_station(app)
    edit = f"/manage/f/{f.id}/edit"
    resp = hd.post(
        f"/manage/f/{f.id}/door-keys", data={"csrf_token": page_csrf(hd, edit), "name": "正门门锁"}
    )
    assert resp.status_code == 200
    assert "no-store" in resp.headers["Cache-Control"]
    html = resp.get_data(as_text=True)
    key_id = re.search(r'id="new-key-id">([^<]+)<', html).group(1)  # type: ignore[union-attr]
    secret = re.search(r'id="new-key-secret">([^<]+)<', html).group(1)  # type: ignore[union-attr]

    again = hd.get(edit).get_data(as_text=True)
    assert secret not in again and key_id in again  # listed, the secret never again

    body = b'{"state": "open"}'
    rider = app.test_client()
    ok = rider.post(f"/api/v1/facilities/{f.id}/door", data=body, headers=signed(secret, key_id, body))
    assert ok.status_code == 201
    assert live_block(app, f.id)["source"] == "device"
    assert "尚未上报" not in hd.get(edit, headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)

    resp = hd.post(f"/manage/f/{f.id}/door-keys/{key_id}/revoke", data={"csrf_token": page_csrf(hd, edit)})
    assert resp.status_code == 303
    refused = rider.post(f"/api/v1/facilities/{f.id}/door", data=body, headers=signed(secret, key_id, body))
    assert refused.status_code in {401, 403}
    missing = hd.post(
        f"/manage/f/{f.id}/door-keys/dk_0000000000000000/revoke", data={"csrf_token": page_csrf(hd, edit)}
    )
    assert missing.status_code == 404


def test_a_door_key_needs_a_name(app: Flask) -> None:
    hd = client_of(app, "hd")
    f = haidian_station(app)
    edit = f"/manage/f/{f.id}/edit"
    resp = hd.post(f"/manage/f/{f.id}/door-keys", data={"csrf_token": page_csrf(hd, edit), "name": "  "})
    assert resp.status_code == 303
    svc: LiveService = app.extensions["locator.live"]
    assert svc.door_keys(f.id) == []
