"""CSRF is enforced on every state-changing route (no global disable in tests)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask

from locator.services.management import ManagementService

from .conftest import add_problem_report
from .manage_support import HAIDIAN, login, make_user, manage_demo_app

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture
def app(demo_app_factory: Callable[..., Flask], tmp_path: Path) -> Iterator[Flask]:
    application = manage_demo_app(demo_app_factory, LOCATOR_UPLOAD_DIR=str(tmp_path / "up"))
    make_user(application, "root", "admin")
    yield application
    application.extensions["locator"].store.close()


def test_no_write_route_accepts_a_session_without_its_csrf_token(app: Flask) -> None:
    mg: ManagementService = app.extensions["locator.manage"]
    f = next(x for x in mg.locator.index.facilities() if x.district_adcode == HAIDIAN)
    report = add_problem_report(mg.store, f.id, "gone")
    values = {
        "facility_id": f.id,
        "report_id": report.id,
        "fmt": "csv",
        "name": "root",
        "action": "end-sessions",
        "key_id": "dk_0000000000000000",
    }
    client = app.test_client()
    assert login(client, "root").status_code == 303
    revision, count = mg.store.revision(), mg.store.count()
    checked: list[tuple[str, str]] = []
    anonymous: list[tuple[str, str]] = []
    signed: list[tuple[str, str]] = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) & WRITE_METHODS):
            if rule.endpoint == "auth.login":
                continue  # logging in needs no session; it has its own test (400 without token)
            path = rule.build({k: v for k, v in values.items() if k in rule.arguments})[1]
            if getattr(app.view_functions[rule.endpoint], "signed_write", False):
                # Door devices: no session, no token; the request's HMAC signature is the check.
                resp = client.open(path, method=method, json={"state": "open"})
                assert resp.status_code == 401, (method, rule.rule, resp.status_code)
                signed.append((method, rule.rule))
                continue
            if getattr(app.view_functions[rule.endpoint], "anonymous_write", False):
                # Anonymous rider feedback: no token, but a cross-site browser POST is refused.
                evil = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
                resp = client.open(
                    path, method=method, data={"verdict": "confirm", "door": "open"}, headers=evil
                )
                assert resp.status_code == 403, (method, rule.rule, resp.status_code)
                anonymous.append((method, rule.rule))
                continue
            body = {
                "name": "csrf?",
                "status": "removed",
                "reason": "x",
                "resolution": "dismissed",
                "version": str(f.version),
                "seq": "1",
            }
            headers = {"If-Match": f'W/"{f.id}-v{f.version}"'}
            if rule.rule.startswith("/api/"):
                resp = client.open(path, method=method, json=body, headers=headers)
            else:
                resp = client.open(path, method=method, data=body, headers=headers)
            assert resp.status_code == 400, (method, rule.rule, resp.status_code)
            assert "CSRF" in resp.get_data(as_text=True), (method, rule.rule)
            checked.append((method, rule.rule))
    assert len(checked) >= 15, checked
    assert sorted(anonymous) == [
        ("POST", "/api/v1/facilities/<facility_id>/checkins"),
        ("POST", "/api/v1/facilities/<facility_id>/feedback"),
        ("POST", "/facility/<facility_id>/checkin"),
        ("POST", "/facility/<facility_id>/feedback"),
    ]
    assert signed == [("POST", "/api/v1/facilities/<facility_id>/door")]
    assert mg.store.list_live_events(f.id) == []
    assert [fb.id for fb in mg.store.list_feedback()] == [report.id]  # the report itself, nothing more
    assert (mg.store.revision(), mg.store.count()) == (revision, count)
    assert mg.store.get_report(report.id).status == "open"
    assert client.get("/manage").status_code == 200  # still logged in: logout needed a token too
