"""The /manage pages without a browser: forms with real CSRF tokens, scopes, pins, datums, history."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict

from locator.core.domain import Facility
from locator.core.geo import Datum, from_wgs84, geodesic_distance_m
from locator.services.management import ManagementService

from .manage_support import CHAOYANG, HAIDIAN, login, make_user, manage_demo_app, page_csrf


@pytest.fixture
def app(demo_app_factory: Callable[..., Flask], tmp_path: Path) -> Iterator[Flask]:
    application = manage_demo_app(demo_app_factory)
    make_user(application, "root", "admin")
    make_user(application, "hd", "district_manager", districts=[HAIDIAN])
    yield application
    application.extensions["locator"].store.close()


@pytest.fixture
def hd(app: Flask) -> FlaskClient:
    client = app.test_client()
    assert login(client, "hd").status_code == 303
    return client


def mg(app: Flask) -> ManagementService:
    svc: ManagementService = app.extensions["locator.manage"]
    return svc


def first_in(app: Flask, adcode: str, kind: str = "warm_station") -> Facility:
    return next(
        f
        for f in mg(app).locator.index.facilities()
        if f.district_adcode == adcode and f.status == "open" and f.kind == kind
    )


def form_error(html: str) -> str:
    m = re.search(r'id="form-error">([^<]*)<', html)
    return m.group(1) if m else ""


def new_form(client: FlaskClient, **fields: str) -> dict[str, str]:
    return {
        "csrf_token": page_csrf(client, "/manage/new"),
        "kind": "warm_station",
        "name": "测试驿站",
        **fields,
    }


def edit_form(client: FlaskClient, f: Facility, **fields: str) -> dict[str, str]:
    html = client.get(f"/manage/f/{f.id}/edit").get_data(as_text=True)
    version = re.search(r'name="version" value="(\d+)"', html).group(1)
    base = {
        "csrf_token": page_csrf(client, f"/manage/f/{f.id}/edit"),
        "version": version,
        "kind": f.kind,
        "name": f.name,
        "address": f.address,
        "opening_hours": f.opening_hours,
        "phone": f.phone,
        "host_type": f.host_type,
        "access": f.access,
    }
    base.update(fields)
    return base


def post_edit(client: FlaskClient, f: Facility, amenities: list[str] | None = None, **fields: str):  # type: ignore[no-untyped-def]
    data = MultiDict(edit_form(client, f, **fields))
    for a in sorted(f.amenities) if amenities is None else amenities:
        data.add("amenities", a)
    return client.post(f"/manage/f/{f.id}/edit", data=data)


# --- access ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/manage", "/manage/new", "/manage/preview/hours?value=24/7"])
def test_pages_need_a_login(app: Flask, path: str) -> None:
    resp = app.test_client().get(path)
    assert resp.status_code == 302 and "/login?next=" in resp.headers["Location"]


def test_list_shows_only_the_scope(app: Flask, hd: FlaskClient) -> None:
    html = hd.get("/manage").get_data(as_text=True)
    ids = set(re.findall(r'<tr data-facility-id="([^"]+)"', html))
    haidian = {f.id for f in mg(app).locator.index.facilities() if f.district_adcode == HAIDIAN}
    assert ids and ids <= haidian
    assert first_in(app, CHAOYANG).id not in html
    total = int(re.search(r"共(\d+)个站点", html).group(1))
    assert total == len(haidian)


def test_list_filters(app: Flask, hd: FlaskClient) -> None:
    html = hd.get("/manage?kind=nursing_room&stale=1").get_data(as_text=True)
    ids = re.findall(r'<tr data-facility-id="([^"]+)"', html)
    assert ids
    for fid in ids:
        f = mg(app).store.get(fid)
        assert f.kind == "nursing_room" and mg(app).is_stale(f)
    f = first_in(app, HAIDIAN)
    html = hd.get(f"/manage?q={f.id}").get_data(as_text=True)
    assert re.findall(r'<tr data-facility-id="([^"]+)"', html) == [f.id]


def test_another_districts_facility_is_refused(app: Flask, hd: FlaskClient) -> None:
    f = first_in(app, CHAOYANG)
    before = (mg(app).store.get(f.id), len(mg(app).store.history(f.id)))
    assert hd.get(f"/manage/f/{f.id}/edit").status_code == 403
    assert hd.get(f"/manage/f/{f.id}/history").status_code == 403
    token = page_csrf(hd)
    for path, data in [
        (f"/manage/f/{f.id}/edit", {"version": str(f.version), "name": "mine", "kind": f.kind}),
        (f"/manage/f/{f.id}/status", {"version": str(f.version), "status": "removed", "reason": "x"}),
        (f"/manage/f/{f.id}/verify", {}),
        (f"/manage/f/{f.id}/restore", {"seq": "1", "version": str(f.version)}),
    ]:
        resp = hd.post(path, data={"csrf_token": token, **data})
        assert resp.status_code == 403, path
        assert "不在您负责的辖区内" in resp.get_data(as_text=True)  # "…outside your district", in zh
    assert (mg(app).store.get(f.id), len(mg(app).store.history(f.id))) == before


def test_station_manager_cannot_open_the_create_form(app: Flask) -> None:
    f = first_in(app, HAIDIAN)
    make_user(app, "sm", "station_manager", facilities=[f.id])
    client = app.test_client()
    login(client, "sm")
    assert client.get("/manage/new").status_code == 403
    html = client.get("/manage").get_data(as_text=True)
    assert re.findall(r'<tr data-facility-id="([^"]+)"', html) == [f.id]
    assert "Add a facility" not in html


@pytest.mark.parametrize(
    "path_fmt",
    ["/manage/f/{id}/edit", "/manage/f/{id}/status", "/manage/f/{id}/verify", "/manage/new", "/logout"],
)
def test_forms_without_csrf_token_are_refused(app: Flask, hd: FlaskClient, path_fmt: str) -> None:
    f = first_in(app, HAIDIAN)
    before = (mg(app).store.get(f.id), mg(app).store.count())
    resp = hd.post(
        path_fmt.format(id=f.id),
        data={"version": str(f.version), "name": "x", "kind": f.kind, "status": "removed", "reason": "x"},
    )
    assert resp.status_code == 400
    assert (mg(app).store.get(f.id), mg(app).store.count()) == before


# --- creating: the pin must be placed and confirmed ------------------------------------------------


def test_a_new_facility_needs_a_placed_and_confirmed_pin(app: Flask, hd: FlaskClient) -> None:
    n = mg(app).store.count()
    resp = hd.post("/manage/new", data=new_form(hd))
    assert resp.status_code == 400 and "放置地图标记" in form_error(resp.get_data(as_text=True))
    inside = first_in(app, HAIDIAN)
    pin = {"lon": f"{inside.lon + 0.003:.7f}", "lat": f"{inside.lat:.7f}", "map_datum": "wgs84"}
    resp = hd.post("/manage/new", data=new_form(hd, **pin))
    assert resp.status_code == 400 and "确认地图标记" in form_error(resp.get_data(as_text=True))
    assert mg(app).store.count() == n
    resp = hd.post("/manage/new", data=new_form(hd, **pin, pin_confirmed="1", reason="新建"))
    assert resp.status_code == 303
    fid = resp.headers["Location"].split("/")[3]
    f = mg(app).store.get(fid)
    assert (f.lon, f.lat) == (round(inside.lon + 0.003, 7), round(inside.lat, 7))
    assert f.district_adcode == HAIDIAN and f.subdistrict
    assert mg(app).store.history(fid)[0].reason == "新建"


def test_typed_gcj02_coordinates_are_stored_as_wgs84(app: Flask, hd: FlaskClient) -> None:
    inside = first_in(app, HAIDIAN)
    want = (inside.lon + 0.004, inside.lat + 0.002)
    glon, glat = from_wgs84(*want, Datum.GCJ02)
    typed = f"{glat:.7f}，{glon:.7f}"  # Tencent's picker order and a full-width comma
    no_datum = hd.post("/manage/new", data=new_form(hd, coords=typed, pin_confirmed="1"))
    assert no_datum.status_code == 400 and "坐标系" in form_error(no_datum.get_data(as_text=True))
    resp = hd.post("/manage/new", data=new_form(hd, coords=typed, coords_datum="gcj02", pin_confirmed="1"))
    assert resp.status_code == 303
    f = mg(app).store.get(resp.headers["Location"].split("/")[3])
    assert geodesic_distance_m(f.lon, f.lat, *want) < 0.05


def test_amap_tiles_make_the_map_gcj02_and_pins_are_converted_back(
    demo_app_factory: Callable[..., Flask],
) -> None:
    app = manage_demo_app(demo_app_factory, LOCATOR_TILES="amap")
    make_user(app, "hd", "district_manager", districts=[HAIDIAN])
    client = app.test_client()
    login(client, "hd")
    f = first_in(app, HAIDIAN)
    html = client.get(f"/manage/f/{f.id}/edit").get_data(as_text=True)
    assert 'name="map_datum" id="pin-datum" value="gcj02"' in html and "GCJ-02" in html
    glon, glat = from_wgs84(f.lon, f.lat, Datum.GCJ02)
    assert f'"pin": [{glat}, {glon}]' in html.replace("\\u0027", "'")
    # Drag 50 m east on the GCJ-02 map: the stored WGS-84 point moves 50 m east, not 500.
    target = (f.lon + 50 / 85_000, f.lat)
    tlon, tlat = from_wgs84(*target, Datum.GCJ02)
    resp = post_edit(client, f, lon=f"{tlon:.7f}", lat=f"{tlat:.7f}", map_datum="gcj02", pin_confirmed="1")
    assert resp.status_code == 303, form_error(resp.get_data(as_text=True))
    stored = mg(app).store.get(f.id)
    assert geodesic_distance_m(stored.lon, stored.lat, *target) < 0.05
    app.extensions["locator"].store.close()


def test_likely_duplicates_warn_with_distance_then_save_when_acknowledged(
    app: Flask, hd: FlaskClient
) -> None:
    f = first_in(app, HAIDIAN)
    pin = {"lon": f"{f.lon:.7f}", "lat": f"{f.lat + 0.0002:.7f}", "map_datum": "wgs84", "pin_confirmed": "1"}
    n = mg(app).store.count()
    resp = hd.post("/manage/new", data=new_form(hd, **pin, kind=f.kind, name="另一个"))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "附近可能有重复的站点" in html
    assert re.search(r"— 2[23] m:\s*30米内有同类站点", html)
    assert 'name="ack_warnings"' in html and mg(app).store.count() == n
    resp = hd.post("/manage/new", data=new_form(hd, **pin, kind=f.kind, name="另一个", ack_warnings="1"))
    assert resp.status_code == 303 and mg(app).store.count() == n + 1


def test_opening_hours_are_validated_with_a_plain_words_preview(app: Flask, hd: FlaskClient) -> None:
    f = first_in(app, HAIDIAN)
    resp = post_edit(hd, f, opening_hours="Mo-Fr 8-6pm")
    assert resp.status_code == 400 and "开放时间" in form_error(resp.get_data(as_text=True))
    assert mg(app).store.get(f.id).opening_hours == f.opening_hours
    preview = hd.get("/manage/preview/hours?value=Mo-Fr 08:00-18:00; Sa 09:00-12:00; PH off").get_data(
        as_text=True
    )
    assert "08:00–18:00" in preview and "09:00–12:00" in preview and "不开放" in preview
    assert "全天开放" in hd.get("/manage/preview/hours?value=24/7").get_data(as_text=True)
    bad = hd.get("/manage/preview/hours?value=sometimes").get_data(as_text=True)
    assert "开放时间写法有误，第 1 个字符处（“sometimes”）：无法识别" in bad
    assert "Failed to parse" not in bad and "expected" not in bad


# --- editing ----------------------------------------------------------------------------------------


def test_edit_changes_only_what_changed_and_keeps_the_location(app: Flask, hd: FlaskClient) -> None:
    f = first_in(app, HAIDIAN)
    resp = post_edit(hd, f, name="改过的名字", phone="010-62345678", reason="电话更新")
    assert resp.status_code == 303
    stored = mg(app).store.get(f.id)
    assert (stored.name, stored.phone, stored.lon, stored.lat) == ("改过的名字", "010-62345678", f.lon, f.lat)
    last = mg(app).store.history(f.id)[-1]
    assert set(last.changes) == {"name", "phone"} and last.actor == "hd" and last.reason == "电话更新"
    again = post_edit(hd, stored)
    assert again.status_code == 303
    assert mg(app).store.get(f.id).version == stored.version  # nothing changed, nothing written
    assert "没有任何修改" in hd.get(again.headers["Location"]).get_data(as_text=True)


def test_access_is_edited_on_the_form_and_shown_in_words(app: Flask, hd: FlaskClient) -> None:
    f = first_in(app, HAIDIAN)
    form = hd.get(f"/manage/f/{f.id}/edit").get_data(as_text=True)
    assert '<select id="access" name="access">' in form and "进入方式" in form
    resp = post_edit(hd, f, access="scan_to_enter", reason="门口需扫码")
    assert resp.status_code == 303
    stored = mg(app).store.get(f.id)
    assert stored.access == "scan_to_enter"
    assert set(mg(app).store.history(f.id)[-1].changes) == {"access"}
    page = hd.get(f"/manage/f/{f.id}/edit").get_data(as_text=True)
    assert '<option value="scan_to_enter" selected>' in page
    bad = post_edit(hd, stored, access="teleport")
    assert bad.status_code in (400, 422) and mg(app).store.get(f.id).access == "scan_to_enter"


def test_moving_out_of_the_district_is_refused_on_the_page(app: Flask, hd: FlaskClient) -> None:
    f = first_in(app, HAIDIAN)
    out = first_in(app, CHAOYANG)
    before = mg(app).store.get(f.id)
    resp = post_edit(hd, f, lon=f"{out.lon:.7f}", lat=f"{out.lat:.7f}", map_datum="wgs84", pin_confirmed="1")
    assert resp.status_code == 403 and "移出您负责的辖区" in resp.get_data(as_text=True)
    assert mg(app).store.get(f.id) == before


def test_an_unconfirmed_moved_pin_is_not_saved(app: Flask, hd: FlaskClient) -> None:
    f = first_in(app, HAIDIAN)
    resp = post_edit(hd, f, lon=f"{f.lon + 0.001:.7f}", lat=f"{f.lat:.7f}", map_datum="wgs84")
    assert resp.status_code == 400 and "确认地图标记" in form_error(resp.get_data(as_text=True))
    assert mg(app).store.get(f.id).lon == f.lon


def test_status_and_verify_forms(app: Flask, hd: FlaskClient) -> None:
    f = first_in(app, HAIDIAN)
    token = page_csrf(hd)
    resp = hd.post(
        f"/manage/f/{f.id}/status",
        data={
            "csrf_token": token,
            "version": str(f.version),
            "status": "temporarily_closed",
            "reason": "装修",
        },
    )
    assert resp.status_code == 303
    assert mg(app).store.get(f.id).status == "temporarily_closed"
    stale = hd.post(
        f"/manage/f/{f.id}/status", data={"csrf_token": token, "version": str(f.version), "status": "open"}
    )
    assert "其他人刚刚修改了此站点" in hd.get(stale.headers["Location"]).get_data(as_text=True)
    assert mg(app).store.get(f.id).status == "temporarily_closed"
    resp = hd.post(f"/manage/f/{f.id}/verify", data={"csrf_token": token, "next": "/manage?stale=1"})
    assert resp.status_code == 303 and resp.headers["Location"] == "/manage?stale=1"
    assert not mg(app).is_stale(mg(app).store.get(f.id))
    evil = hd.post(f"/manage/f/{f.id}/verify", data={"csrf_token": token, "next": "//evil.example/"})
    assert evil.headers["Location"] == f"/manage/f/{f.id}/edit"


# --- history ----------------------------------------------------------------------------------------


def test_history_page_and_restore(app: Flask, hd: FlaskClient) -> None:
    f = first_in(app, HAIDIAN)
    post_edit(hd, f, name="第一次改名", reason="试试")
    html = hd.get(f"/manage/f/{f.id}/history").get_data(as_text=True)
    assert "第一次改名" in html and "试试" in html and ">hd<" in html
    seqs = re.findall(r'name="seq" value="(\d+)"', html)
    assert len(seqs) == 1  # the oldest entry can be restored; the newest is the current state
    version = re.search(r'name="version" value="(\d+)"', html).group(1)
    resp = hd.post(
        f"/manage/f/{f.id}/restore", data={"csrf_token": page_csrf(hd), "seq": seqs[0], "version": version}
    )
    assert resp.status_code == 303
    stored = mg(app).store.get(f.id)
    assert stored.name == f.name and stored.version == f.version + 2
    html = hd.get(f"/manage/f/{f.id}/history").get_data(as_text=True)
    assert f"恢复到第 {seqs[0]} 条记录后的状态" in html and "名称：第一次改名 →" in html
    stale = hd.post(
        f"/manage/f/{f.id}/restore", data={"csrf_token": page_csrf(hd), "seq": seqs[0], "version": version}
    )
    assert "未恢复任何内容" in hd.get(stale.headers["Location"]).get_data(as_text=True)
    assert mg(app).store.get(f.id).version == stored.version


# --- no lost edits ---------------------------------------------------------------------------


def _form_fields(html: str, form_id: str = "facility-form") -> MultiDict:
    """The values a browser would submit from a form (inputs, checked boxes, selected options)."""
    start = html.index(f'id="{form_id}"')
    body = html[start : html.index("</form>", start)]
    data: MultiDict = MultiDict()
    for tag in re.findall(r"<input[^>]*>", body):
        name = re.search(r'name="([^"]+)"', tag)
        if not name:
            continue
        kind = re.search(r'type="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if kind and kind.group(1) in {"checkbox", "radio"} and " checked" not in tag:
            continue
        data.add(name.group(1), html_unescape(value.group(1)) if value else "")
    for sel in re.finditer(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', body, re.S):
        opt = re.search(r'<option value="([^"]*)"[^>]*selected', sel.group(2))
        data.add(sel.group(1), html_unescape(opt.group(1)) if opt else "")
    return data


def html_unescape(s: str) -> str:
    import html

    return html.unescape(s)


def test_second_save_is_refused_with_both_versions_and_a_way_to_reapply(app: Flask, hd: FlaskClient) -> None:
    f = first_in(app, HAIDIAN)
    root = app.test_client()
    login(root, "root")
    mine = _form_fields(hd.get(f"/manage/f/{f.id}/edit").get_data(as_text=True))  # hd opens the form
    theirs = post_edit(root, f, phone="010-88888888", reason="root fixes the phone")  # root saves first
    assert theirs.status_code == 303
    after_root = mg(app).store.get(f.id)
    mine["name"] = "hd 的新名字"
    mine["reason"] = "hd renames"
    refused = hd.post(f"/manage/f/{f.id}/edit", data=mine)
    assert refused.status_code == 409
    assert mg(app).store.get(f.id) == after_root  # nothing of hd's was written
    html = refused.get_data(as_text=True)
    assert "其他人已先保存了此站点" in html
    rows = dict(re.findall(r'<tr class="[^"]*" data-field="([^"]+)">(.*?)</tr>', html, re.S))
    assert set(rows) == {"name", "phone"}
    assert "hd 的新名字" in rows["name"] and "010-88888888" in rows["phone"]
    merged = _form_fields(html)
    assert merged["version"] == str(after_root.version)
    assert merged["name"] == "hd 的新名字" and merged["phone"] == "010-88888888"
    resp = hd.post(f"/manage/f/{f.id}/edit", data=merged)
    assert resp.status_code == 303
    final = mg(app).store.get(f.id)
    assert (final.name, final.phone, final.version) == ("hd 的新名字", "010-88888888", after_root.version + 1)
    history = mg(app).store.history(f.id)
    assert [e.actor for e in history[-2:]] == ["root", "hd"]
    assert set(history[-1].changes) == {"name"}  # only hd's change; root's phone stays


def test_conflict_marks_fields_both_changed_and_carries_a_moved_pin(app: Flask, hd: FlaskClient) -> None:
    f = first_in(app, HAIDIAN)
    root = app.test_client()
    login(root, "root")
    mine = _form_fields(hd.get(f"/manage/f/{f.id}/edit").get_data(as_text=True))
    post_edit(root, f, name="root 的名字")
    mine["name"] = "hd 的名字"
    for key, value in {"lon": f"{f.lon + 0.0004:.7f}", "lat": f"{f.lat:.7f}", "pin_confirmed": "1"}.items():
        mine[key] = value  # replaces (MultiDict.update would append)
    refused = hd.post(f"/manage/f/{f.id}/edit", data=mine)
    assert refused.status_code == 409
    html = refused.get_data(as_text=True)
    assert re.search(r'<tr class="both" data-field="name">', html)
    assert re.search(r'data-field="lon"', html)
    merged = _form_fields(html)
    assert merged["pin_confirmed"] == "1" and merged["lon"] == f"{f.lon + 0.0004:.7f}"
    merged["ack_warnings"] = "1"
    assert hd.post(f"/manage/f/{f.id}/edit", data=merged).status_code == 303
    final = mg(app).store.get(f.id)
    assert final.name == "hd 的名字" and abs(final.lon - (f.lon + 0.0004)) < 1e-9
