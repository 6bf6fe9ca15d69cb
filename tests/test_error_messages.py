"""Error details: translated on pages (``Msg`` + the ``tr`` filter), English on the JSON API."""

from __future__ import annotations

import html
import io
import json
import pickle
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict

from locator.core.domain import Facility
from locator.errors import Msg, ValidationError
from locator.http.i18n import translated
from locator.services.management import ManagementService

from .manage_support import CHAOYANG, HAIDIAN, accounts, login, make_user, manage_demo_app, page_csrf

EN = {"Accept-Language": "en"}


@pytest.fixture
def app(demo_app_factory: Callable[..., Flask], tmp_path: Path) -> Iterator[Flask]:
    application = manage_demo_app(demo_app_factory)
    make_user(application, "hd", "district_manager", districts=[HAIDIAN])
    yield application
    application.extensions["locator"].store.close()


def mg(app: Flask) -> ManagementService:
    svc: ManagementService = app.extensions["locator.manage"]
    return svc


def client_for(app: Flask, name: str = "hd") -> FlaskClient:
    client = app.test_client()
    assert login(client, name).status_code == 303
    return client


def first_in(app: Flask, adcode: str) -> Facility:
    return next(
        f
        for f in mg(app).locator.index.facilities()
        if f.district_adcode == adcode and f.status == "open" and f.kind == "warm_station"
    )


def text(resp) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(resp.get_data(as_text=True))


def form_error(resp) -> str:  # type: ignore[no-untyped-def]
    m = re.search(r'id="form-error">([^<]*)<', resp.get_data(as_text=True))
    return html.unescape(m.group(1)) if m else ""


def move_form(client: FlaskClient, f: Facility, to: Facility) -> MultiDict[str, str]:
    page = client.get(f"/manage/f/{f.id}/edit").get_data(as_text=True)
    version = re.search(r'name="version" value="(\d+)"', page).group(1)  # type: ignore[union-attr]
    data = MultiDict(
        {
            "csrf_token": page_csrf(client, f"/manage/f/{f.id}/edit"),
            "version": version,
            "kind": f.kind,
            "name": f.name,
            "address": f.address,
            "opening_hours": f.opening_hours,
            "phone": f.phone,
            "host_type": f.host_type,
            "lon": f"{to.lon:.7f}",
            "lat": f"{to.lat:.7f}",
            "map_datum": "wgs84",
            "pin_confirmed": "1",
        }
    )
    for a in sorted(f.amenities):
        data.add("amenities", a)
    return data


# --- Msg itself ------------------------------------------------------------------------------------


def test_a_msg_is_its_english_text() -> None:
    m = Msg("%(name)s must be a number", name="lon")
    assert m == "lon must be a number" and isinstance(m, str)
    assert (m.template, m.values) == ("%(name)s must be a number", {"name": "lon"})
    assert json.dumps({"detail": m}) == '{"detail": "lon must be a number"}'
    assert str(ValidationError(m)) == "lon must be a number"
    again = pickle.loads(pickle.dumps(m))
    assert (again, again.template, again.values) == (m, m.template, m.values)


def test_a_msg_without_values_is_not_percent_formatted() -> None:
    assert Msg("100% sure") == "100% sure"
    assert Msg("%(id)r changed", id="x") == "'x' changed"


def test_outside_a_request_a_msg_stays_english() -> None:
    m = Msg("this change would move facility %(id)r out of your %(scope)s", id="a", scope=Msg("district"))
    assert translated(m) == "this change would move facility 'a' out of your district"
    assert translated(m) == m and translated("plain") == "plain" and translated(None) is None


def test_in_a_request_a_msg_and_its_msg_values_are_translated(app: Flask) -> None:
    m = Msg("this change would move facility %(id)r out of your %(scope)s", id="a", scope=Msg("district"))
    with app.test_request_context("/?lang=zh"):
        assert translated(m) == "此修改会把站点 'a' 移出您负责的辖区"
        assert translated(Msg("say why the facility is removed")) == "请说明站点撤销的原因"
        assert translated(Msg("not in the catalogue")) == "not in the catalogue"
    with app.test_request_context("/?lang=en"):
        assert translated(m) == m


# --- manage pages: zh by default, English on request ------------------------------------------------


def test_moving_a_facility_out_of_the_district_is_refused_in_the_page_language(app: Flask) -> None:
    f, out = first_in(app, HAIDIAN), first_in(app, CHAOYANG)
    before = mg(app).store.get(f.id)
    zh = client_for(app)
    resp = zh.post(f"/manage/f/{f.id}/edit", data=move_form(zh, f, out))
    assert resp.status_code == 403
    assert form_error(resp) == f"此修改会把站点 '{f.id}' 移出您负责的辖区"
    assert "out of your district" not in text(resp)
    en = client_for(app)
    resp = en.post(f"/manage/f/{f.id}/edit", data=move_form(en, f, out), headers=EN)
    assert resp.status_code == 403
    assert form_error(resp) == f"this change would move facility '{f.id}' out of your district"
    assert mg(app).store.get(f.id) == before


def test_a_new_facility_without_a_pin_is_explained_in_the_page_language(app: Flask) -> None:
    client = client_for(app)
    form = {"csrf_token": page_csrf(client, "/manage/new"), "kind": "warm_station", "name": "测试驿站"}
    resp = client.post("/manage/new", data=form)
    assert resp.status_code == 400 and form_error(resp) == "请在地图上放置地图标记（点击地图）并确认"
    resp = client.post("/manage/new?lang=en", data=form)
    assert resp.status_code == 400
    assert form_error(resp) == "place the pin on the map (tap the map) and confirm it"


def test_a_flashed_detail_is_translated(app: Flask) -> None:
    f = first_in(app, HAIDIAN)
    client = client_for(app)
    data = {"csrf_token": page_csrf(client), "version": str(f.version), "status": "removed", "reason": ""}
    resp = client.post(f"/manage/f/{f.id}/status", data=data)
    assert resp.status_code == 303
    assert "状态未修改：请说明站点撤销的原因" in text(client.get(resp.headers["Location"]))
    assert mg(app).store.get(f.id).status == "open"


def test_the_error_page_shows_a_msg_detail_translated(app: Flask) -> None:
    other = first_in(app, CHAOYANG)
    client = client_for(app)
    resp = client.post(f"/manage/f/{other.id}/verify", data={"csrf_token": page_csrf(client)})
    assert resp.status_code == 403
    page = text(resp)
    assert f"您无权对站点 '{other.id}' 执行“修改”：它不在您负责的辖区内" in page
    assert "outside your district" not in page
    assert "Forms on this site can only be sent from this site." not in page
    resp = client.post(
        f"/manage/f/{other.id}/verify?lang=en", data={"csrf_token": page_csrf(client)}, headers=EN
    )
    assert resp.status_code == 403 and "it is outside your district" in text(resp)


def test_bulk_row_errors_are_translated(app: Flask) -> None:
    other = first_in(app, CHAOYANG)
    client = client_for(app)
    body = f"id,name\n{other.id},抢过来\n".encode()
    data = {
        "csrf_token": page_csrf(client, "/manage/bulk"),
        "datum": "wgs84",
        "file": (io.BytesIO(body), "x.csv"),
    }
    resp = client.post("/manage/bulk/dry-run", data=data, content_type="multipart/form-data")
    assert f"您无权对站点 '{other.id}' 执行“更新”：它不在您负责的辖区内" in text(resp)


def test_login_failure_in_both_languages(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    form = {"csrf_token": token, "username": "hd", "password": "wrong password!"}
    assert "用户名不存在或密码错误。" in text(client.post("/login", data=form))
    assert "Unknown user name or wrong password." in text(client.post("/login?lang=en", data=form))


# --- the JSON API keeps English details -------------------------------------------------------------


def test_the_api_keeps_english_details_whatever_the_language(app: Flask) -> None:
    f, out = first_in(app, HAIDIAN), first_in(app, CHAOYANG)
    client = app.test_client()
    _, secret = accounts(app).create_token("hd")
    etag = client.get(f"/api/v1/facilities/{f.id}").headers["ETag"]
    resp = client.patch(
        f"/api/v1/facilities/{f.id}?lang=zh",
        headers={"Authorization": f"Bearer {secret}", "If-Match": etag, "Accept-Language": "zh-CN"},
        json={"lon": out.lon, "lat": out.lat, "datum": "wgs84"},
    )
    assert resp.status_code == 403 and resp.mimetype == "application/problem+json"
    assert resp.get_json()["detail"] == f"this change would move facility '{f.id}' out of your district"
    resp = client.get("/api/v1/nearest?lon=x&lat=39.9", headers={"Accept-Language": "zh-CN"})
    assert resp.status_code == 400 and resp.get_json()["detail"] == "lon must be a number"
