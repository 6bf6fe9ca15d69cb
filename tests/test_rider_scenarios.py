"""Issue 13's scenarios, end to end over HTTP, on both stores (SQLite and PostGIS).

Each runs on a store holding only the stations it creates (24/7 warm stations a few
hundred metres apart at Wudaokou), so the order of the list is known:

* a door device's heartbeat makes a station ``confirmed_open`` within one request, and
  the list says so;
* one rider "locked" vote is shown without hiding the station; two independent votes
  demote it below every open one and the list (full and lite) says why;
* a manager's closure ("closed until 12-20 (reason)", and the live "closed now until
  HH:MM") is shown as such in the API, the list, the lite list, the facility page and the
  embed, never as "opens at";
* a make-up working Saturday (调休, 14 February 2026) opens a "Mo-Fr" station; an
  ordinary Saturday does not.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from locator.core.geo import Datum
from locator.services.facilities import LocatorService
from locator.services.live import LiveService, door_signature
from locator.services.management import ManagementService

from .conftest import make_pg_app
from .manage_support import FAST_ARGON2, accounts, make_user, manage_app

HERE = {"lon": "116.3376", "lat": "39.9925"}  # Wudaokou, WGS-84
Q = "lon=116.3376&lat=39.9925&kind=warm_station"


@pytest.fixture(params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    """An app over an empty store, once per backend."""
    if request.param == "sqlite":
        application = manage_app(tmp_path / "s.sqlite3")
    else:
        application = make_pg_app(request.getfixturevalue("postgis_url"), ARGON2_PARAMETERS=FAST_ARGON2)
    yield application
    application.extensions["locator"].store.close()


def stations(app: Flask, hours: str = "24/7") -> list[str]:
    """Three warm stations north of Wudaokou at about 40 m, 300 m and 600 m; their ids."""
    svc: LocatorService = app.extensions["locator"]
    ids = []
    for name, dlat in (("甲站", 0.00036), ("乙站", 0.0027), ("丙站", 0.0054)):
        rec = {"kind": "warm_station", "name": name, "lon": 116.3376, "lat": 39.9925 + dlat}
        ids.append(svc.create({**rec, "opening_hours": hours}, Datum.WGS84).id)
    return ids


def api_order(client: FlaskClient, **params: str) -> list[tuple[str, str]]:
    body = client.get("/api/v1/nearest", query_string={**HERE, "limit": "3", **params}).get_json()
    return [(f["id"], f["properties"]["live"]["state"]) for f in body["features"]]


def list_item(html: str, fid: str) -> str:
    """The ``<li>`` of facility ``fid`` in a results page."""
    m = re.search(rf'<li [^>]*data-facility-id="{fid}".*?</li>', html, re.S)
    assert m, f"{fid} is not in the list"
    return m.group(0)


def page_order(html: str) -> list[str]:
    return re.findall(r'<li [^>]*data-facility-id="([^"]+)"', html)


def test_a_device_heartbeat_confirms_open_within_one_request(app: Flask) -> None:
    a, _, _ = stations(app)
    client = app.test_client()
    assert api_order(client)[0] == (a, "scheduled_open")
    live: LiveService = app.extensions["locator.live"]
    key, secret = live.create_door_key(a, "front door")
    body, stamp = b'{"state": "open"}', str(int(time.time()))
    headers = {
        "X-Door-Key": key.id,
        "X-Door-Timestamp": stamp,
        "X-Door-Signature": door_signature(secret, stamp, body),
        "Content-Type": "application/json",
    }
    assert client.post(f"/api/v1/facilities/{a}/door", data=body, headers=headers).status_code == 201
    # the very next request sees it: API and list
    assert api_order(client)[0] == (a, "confirmed_open")
    item = list_item(client.get(f"/nearest?{Q}").get_data(as_text=True), a)
    assert "门开着 · 门禁设备" in item and "live-confirmed-open" in item


def test_two_locked_votes_demote_a_station_and_the_list_says_why(app: Flask) -> None:
    a, b, c = stations(app)
    client = app.test_client()
    assert api_order(client) == [(a, "scheduled_open"), (b, "scheduled_open"), (c, "scheduled_open")]
    vote = {"door": "locked"}
    assert client.post(f"/api/v1/facilities/{a}/checkins", json=vote).status_code == 201
    # one report: shown, nothing hidden or moved
    assert [fid for fid, _ in api_order(client)] == [a, b, c]
    html = client.get(f"/nearest?{Q}").get_data(as_text=True)
    assert page_order(html) == [a, b, c]
    assert "1 位骑手报告锁门" in list_item(html, a) and "demoted" not in list_item(html, a)
    # the same rider again counts nothing; another rider makes two independent reports
    assert client.post(f"/api/v1/facilities/{a}/checkins", json=vote).status_code == 429
    other = {"REMOTE_ADDR": "10.1.2.3"}
    assert client.post(f"/api/v1/facilities/{a}/checkins", json=vote, environ_base=other).status_code == 201
    # the JSON API keeps pure distance order (docs/riders.md) and says why in the live block
    assert api_order(client) == [(a, "reported_locked"), (b, "scheduled_open"), (c, "scheduled_open")]
    html = client.get(f"/nearest?{Q}").get_data(as_text=True)
    assert page_order(html) == [b, c, a]
    item = list_item(html, a)
    assert 'class="result demoted"' in item or "demoted" in item.split(">", 1)[0]
    assert "2 位骑手报告锁门" in item and "已排到后面" in item
    lite = client.get(f"/lite?{Q}").get_data(as_text=True)
    assert page_order(lite) == [b, c, a] and "2 位骑手报告锁门" in list_item(lite, a)


def test_a_manager_closure_is_shown_as_such_everywhere(app: Flask) -> None:
    a, b, c = stations(app)
    user = make_user(app, "root", "admin")
    mg: ManagementService = app.extensions["locator.manage"]
    mg.set_status(user, a, "temporarily_closed", until=date(2026, 12, 20), reason="暖气维修")
    client = app.test_client()
    props = client.get(f"/api/v1/facilities/{a}").get_json()["properties"]
    assert props["live"]["state"] == "closed_by_manager" and props["live"]["source"] == "manager"
    words = "关闭至 12-20（暖气维修）"
    # A closed station leaves the lists; the list says why the closer one is missing.
    html = client.get(f"/nearest?{Q}").get_data(as_text=True)
    assert page_order(html) == [b, c]
    note = re.search(r'<p class="closer" role="note">(.*?)</p>', html, re.S)
    assert note and "甲站" in note.group(1) and words in note.group(1), note
    lite = client.get(f"/lite?{Q}").get_data(as_text=True)
    assert page_order(lite) == [b, c] and words in lite
    page = client.get(f"/facility/{a}").get_data(as_text=True)
    assert words in page
    for html in (note.group(1), lite, page):
        assert not re.search(r"\d\d:\d\d开门", html)  # never "opens at"
    # The live "closed now until HH:MM": the station stays listed (open_now off), marked so.
    _, token = accounts(app).create_token("root")
    resp = client.post(
        f"/api/v1/facilities/{b}/live",
        json={"state": "closed", "until": "23:59", "reason": "停电"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status_code == 201
    assert dict(api_order(client, open_now="false"))[b] == "closed_by_manager"
    closed_now = re.compile(r"关闭至 (\d\d-\d\d )?23:59（停电）")
    for path in (f"/nearest?{Q}&open_now=false", f"/lite?{Q}&open_now=false"):
        item = list_item(client.get(path).get_data(as_text=True), b)
        assert closed_now.search(item) and not re.search(r"\d\d:\d\d开门", item), (path, item)
    assert closed_now.search(client.get(f"/facility/{b}").get_data(as_text=True))
    embed = client.get(f"/embed/map?{Q}&open_now=false").get_data(as_text=True)
    assert closed_now.search(embed)
    # "open now": the rider's list puts the closed-now station last, with its words; the JSON
    # API keeps distance order and its schedule-based open_now, the live block saying why.
    html = client.get(f"/nearest?{Q}").get_data(as_text=True)
    assert page_order(html) == [c, b] and closed_now.search(list_item(html, b))
    assert api_order(client, open_now="true") == [(b, "closed_by_manager"), (c, "scheduled_open")]


@pytest.mark.parametrize(
    ("at", "open_"),
    [
        ("2026-02-14T10:00:00+08:00", True),  # Saturday, a 调休 make-up working day (Spring Festival)
        ("2026-02-07T10:00:00+08:00", False),  # an ordinary Saturday
        ("2026-02-17T10:00:00+08:00", False),  # Tuesday in the Spring Festival week: a day off (PH off)
    ],
)
def test_a_makeup_saturday_opens_a_mo_fr_station(app: Flask, at: str, open_: bool) -> None:
    a, _, _ = stations(app, hours="Mo-Fr 09:00-17:00; PH off")
    client = app.test_client()
    found = client.get("/api/v1/nearest", query_string={**HERE, "open_now": "true", "at": at}).get_json()
    assert (a in [f["id"] for f in found["features"]]) is open_
    html = client.get(f"/nearest?{Q}&open_now=false&at={at.replace('+', '%2B')}").get_data(as_text=True)
    hours = re.search(r'<p class="hours ([a-z_]+)">', list_item(html, a))
    assert hours is not None and (hours.group(1) in {"open_24h", "open_until", "closing_soon"}) is open_, (
        hours
    )
