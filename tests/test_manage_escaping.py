"""A facility named ``<img src=x onerror=alert(1)>`` shows as text on every manage page."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from locator.core.domain import Facility
from locator.services.management import ManagementService
from locator.stores.contract import User

from .conftest import add_problem_report
from .manage_support import HAIDIAN, HOSTILE, login, make_user, manage_demo_app, page_csrf

ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"
HD = User("hd", "district_manager", "x", districts=frozenset({HAIDIAN}))


@pytest.fixture
def app(demo_app_factory: Callable[..., Flask], tmp_path: Path) -> Iterator[Flask]:
    application = manage_demo_app(demo_app_factory, LOCATOR_UPLOAD_DIR=str(tmp_path / "up"))
    make_user(application, "hd", "district_manager", districts=[HAIDIAN])
    make_user(application, "root", "admin")
    yield application
    application.extensions["locator"].store.close()


@pytest.fixture
def setup(app: Flask) -> tuple[FlaskClient, Facility]:
    mg: ManagementService = app.extensions["locator.manage"]
    base = next(
        f for f in mg.locator.index.facilities() if f.district_adcode == HAIDIAN and f.kind == "warm_station"
    )
    f = mg.update(
        HD,
        base.id,
        {
            "name": HOSTILE,
            "address": HOSTILE,
            "phone": "010-1",
            "opening_hours": f'Mo-Su 08:00-20:00 "{HOSTILE}"',
        },
        base.version,
        reason=HOSTILE,
    )
    mg.store.update(f.replace(verified_at=None), f.version)  # stale, for the stale list
    mg.locator.refresh(force=True)
    add_problem_report(mg.store, f.id, "other", HOSTILE)
    client = app.test_client()
    login(client, "hd")
    return client, mg.store.get(f.id)


def assert_escaped(html: str) -> None:
    assert HOSTILE not in html
    assert ESCAPED in html or "\\u003cimg src=x onerror=alert(1)\\u003e" in html


@pytest.mark.parametrize(
    "path",
    [
        "/manage",
        "/manage?q=onerror",
        "/manage?reports=1",
        "/manage/f/{id}/edit",
        "/manage/f/{id}/history",
        "/manage/stale",
        "/manage/reports",
        "/manage/preview/nearby?lon={lon}&lat={lat}&datum=wgs84&kind=warm_station&name=x",
        "/manage/preview/hours?value=Mo-Su%2008:00-20:00%20%22%3Cimg%20src=x%20onerror=alert(1)%3E%22",
    ],
)
def test_pages_escape_the_hostile_name(setup, path: str) -> None:  # type: ignore[no-untyped-def]
    client, f = setup
    resp = client.get(path.format(id=f.id, lon=f.lon, lat=f.lat))
    assert resp.status_code == 200
    assert_escaped(resp.get_data(as_text=True))


def test_duplicate_warning_on_the_form_escapes(setup) -> None:  # type: ignore[no-untyped-def]
    client, f = setup
    resp = client.post(
        "/manage/new",
        data={
            "csrf_token": page_csrf(client),
            "kind": "warm_station",
            "name": HOSTILE,
            "address": HOSTILE,
            "lon": f"{f.lon:.7f}",
            "lat": f"{f.lat + 0.0001:.7f}",
            "map_datum": "wgs84",
            "pin_confirmed": "1",
        },
    )
    assert resp.status_code == 200 and "附近可能有重复的站点" in resp.get_data(as_text=True)
    assert_escaped(resp.get_data(as_text=True))


def test_conflict_page_escapes(app: Flask, setup) -> None:  # type: ignore[no-untyped-def]
    client, f = setup
    root = app.test_client()
    login(root, "root")
    mg: ManagementService = app.extensions["locator.manage"]
    mg.update(User("root", "admin", "x"), f.id, {"phone": "010-2"}, f.version)
    resp = client.post(
        f"/manage/f/{f.id}/edit",
        data={
            "csrf_token": page_csrf(client),
            "version": str(f.version),
            "kind": f.kind,
            "name": HOSTILE + "!",
            "address": HOSTILE,
            "opening_hours": f.opening_hours,
            "phone": f.phone,
        },
    )
    assert resp.status_code == 409
    assert_escaped(resp.get_data(as_text=True))


def test_invalid_form_and_errors_escape(setup) -> None:  # type: ignore[no-untyped-def]
    client, f = setup
    resp = client.post(
        "/manage/new",
        data={"csrf_token": page_csrf(client), "kind": "warm_station", "name": HOSTILE, "address": HOSTILE},
    )
    assert resp.status_code == 400
    assert_escaped(resp.get_data(as_text=True))
    bad_hours = client.post(
        f"/manage/f/{f.id}/edit",
        data={
            "csrf_token": page_csrf(client),
            "version": str(f.version),
            "kind": f.kind,
            "name": f.name,
            "opening_hours": HOSTILE,
        },
    )
    assert bad_hours.status_code == 400
    assert_escaped(bad_hours.get_data(as_text=True))


def test_bulk_report_escapes(setup) -> None:  # type: ignore[no-untyped-def]
    client, f = setup
    csv_text = (
        "id,name,kind,lon,lat,address\n"
        f'{f.id},"{HOSTILE}",warm_station,,,"{HOSTILE}"\n'
        f',"{HOSTILE}",warm_station,{f.lon},{f.lat + 0.0001},x\n'
        f',"{HOSTILE}",{HOSTILE},{f.lon},{f.lat},x\n'
    )
    resp = client.post(
        "/manage/bulk/dry-run",
        data={
            "csrf_token": page_csrf(client),
            "datum": "wgs84",
            "file": (io.BytesIO(csv_text.encode()), "x.csv"),
        },
        content_type="multipart/form-data",
    )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "有错误" in html
    assert_escaped(html)


def test_login_page_escapes_the_echoed_user_name(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    resp = client.post("/login", data={"csrf_token": token, "username": HOSTILE, "password": "x"})
    assert_escaped(resp.get_data(as_text=True))


def test_export_keeps_the_name_as_data(setup) -> None:  # type: ignore[no-untyped-def]
    client, f = setup
    body = client.get("/manage/export.geojson").get_json()
    assert any(feat["properties"]["name"] == HOSTILE for feat in body["features"])
