"""Work lists: the rider-report queue per scope, the stale list, "verified today"."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from locator.core.domain import Facility
from locator.core.history import parse_reason
from locator.errors import ConflictError, ForbiddenError, NotFoundError, ValidationError
from locator.services.management import ManagementService
from locator.stores.contract import User

from .conftest import add_problem_report
from .manage_support import CHAOYANG, HAIDIAN, accounts, login, make_user, manage_demo_app, page_csrf

HD = User("hd", "district_manager", "x", districts=frozenset({HAIDIAN}))
ADMIN = User("root", "admin", "x")


# --- service and pages ---------------------------------------------------------------------------


@pytest.fixture
def app(demo_app_factory: Callable[..., Flask], tmp_path: Path) -> Iterator[Flask]:
    application = manage_demo_app(demo_app_factory)
    make_user(application, "hd", "district_manager", districts=[HAIDIAN])
    yield application
    application.extensions["locator"].store.close()


@pytest.fixture
def mg(app: Flask) -> ManagementService:
    svc: ManagementService = app.extensions["locator.manage"]
    return svc


def pick(mg: ManagementService, adcode: str, n: int = 1) -> list[Facility]:
    return [f for f in mg.locator.index.facilities() if f.district_adcode == adcode and f.status == "open"][
        :n
    ]


def test_the_queue_follows_the_scope(mg: ManagementService) -> None:
    (h1, h2), (c1,) = pick(mg, HAIDIAN, 2), pick(mg, CHAOYANG)
    r1 = add_problem_report(mg.store, h1.id, "closed")
    r2 = add_problem_report(mg.store, c1.id, "gone")
    r3 = add_problem_report(mg.store, h2.id, "moved")
    gone = add_problem_report(mg.store, "deleted-id", "gone")
    assert [r.id for r, _ in mg.reports(HD)] == [r1.id, r3.id]
    sm = User("sm", "station_manager", "x", facilities=frozenset({h2.id}))
    assert [r.id for r, _ in mg.reports(sm)] == [r3.id]
    assert [r.id for r, _ in mg.reports(ADMIN)] == [r1.id, r2.id, r3.id, gone.id]
    assert mg.open_report_counts(HD) == {h1.id: 1, h2.id: 1}


def test_resolving_applies_the_action_and_records_it(mg: ManagementService) -> None:
    (f,) = pick(mg, HAIDIAN)
    report = add_problem_report(mg.store, f.id, "closed", "门锁着")
    until = (datetime.now(UTC) + timedelta(days=5)).date()
    done = mg.resolve_report(
        HD, report.id, "resolved", "temporarily_closed", until=until.isoformat(), note="打电话确认"
    )
    assert (done.status, done.action, done.resolved_by) == ("resolved", "temporarily_closed", "hd")
    stored = mg.store.get(f.id)
    assert (stored.status, stored.status_until, stored.status_reason) == (
        "temporarily_closed",
        until,
        "打电话确认",
    )
    assert mg.reports(HD) == []
    with pytest.raises(ConflictError):
        mg.resolve_report(HD, report.id, "resolved", "open")
    assert mg.store.get(f.id) == stored  # nothing applied twice


def test_verified_and_dismissed(mg: ManagementService) -> None:
    (f,) = pick(mg, HAIDIAN)
    a = add_problem_report(mg.store, f.id, "missing_service")
    b = add_problem_report(mg.store, f.id, "other", "spam")
    mg.resolve_report(HD, a.id, "resolved", "verified")
    last = mg.store.history(f.id)[-1]
    reason = parse_reason(last.reason)
    assert set(last.changes) == {"verified_at"} and (reason.code, reason.params["report"]) == ("report", a.id)
    version = mg.store.get(f.id).version
    with pytest.raises(ValidationError):
        mg.resolve_report(HD, b.id, "dismissed", "removed")
    mg.resolve_report(HD, b.id, "dismissed")
    assert mg.store.get(f.id).version == version
    assert mg.store.get_report(b.id).status == "dismissed"


def test_report_refusals_change_nothing(mg: ManagementService) -> None:
    (h,), (c,) = pick(mg, HAIDIAN), pick(mg, CHAOYANG)
    rc = add_problem_report(mg.store, c.id, "gone")
    with pytest.raises(ForbiddenError):
        mg.resolve_report(HD, rc.id, "resolved", "removed", note="x")
    assert mg.store.get(c.id).status == "open" and mg.store.get_report(rc.id).status == "open"
    rh = add_problem_report(mg.store, h.id, "gone")
    with pytest.raises(ValidationError):  # removal needs a reason
        mg.resolve_report(HD, rh.id, "resolved", "removed")
    with pytest.raises(ValidationError):
        mg.resolve_report(HD, rh.id, "resolved", "paint it")
    with pytest.raises(ValidationError):
        mg.resolve_report(HD, rh.id, "maybe", "none")
    assert mg.store.get(h.id).status == "open" and mg.store.get_report(rh.id).status == "open"
    gone = add_problem_report(mg.store, "deleted-id", "gone")
    with pytest.raises(NotFoundError):
        mg.resolve_report(HD, gone.id, "dismissed")
    assert mg.resolve_report(ADMIN, gone.id, "dismissed").status == "dismissed"


@pytest.fixture
def hd(app: Flask) -> FlaskClient:
    client = app.test_client()
    login(client, "hd")
    return client


def test_reports_page_and_resolve_form(mg: ManagementService, hd: FlaskClient) -> None:
    (f,) = pick(mg, HAIDIAN)
    report = add_problem_report(mg.store, f.id, "gone", "拆了")
    html = hd.get("/manage/reports").get_data(as_text=True)
    assert f'data-report-id="{report.id}"' in html and "拆了" in html
    # No trap (issue 13): nothing destructive is pre-selected, whatever the rider's reason.
    assert re.search(r'<option value="" selected disabled>', html)
    assert not re.search(r'<option value="(removed|temporarily_closed)"[^>]*selected', html)
    resp = hd.post(
        f"/manage/reports/{report.id}/resolve",
        data={"csrf_token": page_csrf(hd), "resolution": "resolved"},
    )
    assert resp.status_code == 303 and "请选择您的处理方式" in hd.get(resp.headers["Location"]).get_data(
        as_text=True
    )
    assert mg.store.get_report(report.id).status == "open" and mg.store.get(f.id).status == "open"
    assert (
        hd.post(f"/manage/reports/{report.id}/resolve", data={"action": "removed"}).status_code == 400
    )  # no CSRF
    resp = hd.post(
        f"/manage/reports/{report.id}/resolve",
        data={"csrf_token": page_csrf(hd), "resolution": "resolved", "action": "removed"},
    )
    assert "removed" in hd.get(resp.headers["Location"]).get_data(as_text=True)  # the flash says why not
    assert mg.store.get_report(report.id).status == "open"
    resp = hd.post(
        f"/manage/reports/{report.id}/resolve",
        data={
            "csrf_token": page_csrf(hd),
            "resolution": "resolved",
            "action": "removed",
            "note": "现场已拆除",
        },
    )
    assert resp.status_code == 303
    assert mg.store.get(f.id).status == "removed"
    html = hd.get("/manage/reports").get_data(as_text=True)
    assert "没有待处理的反馈。" in html and "现场已拆除" in html
    # The facility list filter "with open rider reports".
    other = pick(mg, HAIDIAN, 3)[2]
    add_problem_report(mg.store, other.id, "moved")
    listed = hd.get("/manage?reports=1").get_data(as_text=True)
    assert re.findall(r'<tr data-facility-id="([^"]+)"', listed) == [other.id]


def test_stale_list_and_verified_today(mg: ManagementService, hd: FlaskClient) -> None:
    html = hd.get("/manage/stale").get_data(as_text=True)
    ids = re.findall(r'<tr data-facility-id="([^"]+)"', html)
    assert ids and ids == [f.id for f in mg.stale(HD)][: len(ids)]
    dates = [mg.store.get(i).verified_at for i in ids]
    assert dates == sorted(dates)
    resp = hd.post(f"/manage/f/{ids[0]}/verify", data={"csrf_token": page_csrf(hd), "next": "/manage/stale"})
    assert resp.headers["Location"] == "/manage/stale"
    assert ids[0] not in hd.get("/manage/stale").get_data(as_text=True)


def test_reports_over_the_api(app: Flask, mg: ManagementService) -> None:
    (f,) = pick(mg, HAIDIAN)
    report = add_problem_report(mg.store, f.id, "closed", "locked at noon")
    _, secret = accounts(app).create_token("hd")
    auth = {"Authorization": f"Bearer {secret}"}
    client = app.test_client()
    body = client.get("/api/v1/manage/reports", headers=auth).get_json()
    assert [r["id"] for r in body["reports"]] == [report.id]
    assert body["reports"][0]["facility"]["name"] == f.name
    bad = client.post(
        f"/api/v1/manage/reports/{report.id}/resolve",
        headers=auth,
        json={"resolution": "resolved", "action": 3},
    )
    assert bad.status_code == 400 and bad.get_json()["param"] == "action"
    ok = client.post(
        f"/api/v1/manage/reports/{report.id}/resolve",
        headers=auth,
        json={"resolution": "resolved", "action": "temporarily_closed", "note": "back Monday"},
    )
    assert ok.status_code == 200 and ok.get_json()["status"] == "resolved"
    assert ok.get_json()["facility"]["status"] == "temporarily_closed"
    again = client.post(
        f"/api/v1/manage/reports/{report.id}/resolve", headers=auth, json={"resolution": "dismissed"}
    )
    assert again.status_code == 409 and again.mimetype == "application/problem+json"
    handled = client.get("/api/v1/manage/reports?handled=true", headers=auth).get_json()["reports"]
    assert handled[0]["action"] == "temporarily_closed" and handled[0]["resolved_by"] == "hd"


def test_a_riders_problem_report_reaches_the_managers_queue(app: Flask, mg: ManagementService) -> None:
    """End to end: rider feedback (public API) -> manager's queue -> resolved -> riders see it."""
    f = next(x for x in mg.locator.index.facilities() if x.district_adcode == HAIDIAN and x.status == "open")
    rider = app.test_client()
    sent = rider.post(
        f"/api/v1/facilities/{f.id}/feedback",
        json={"verdict": "problem", "reason": "closed", "comment": "锁门了 <b>"},
    )
    assert sent.status_code == 201
    page = rider.get(f"/facility/{f.id}?lang=en").get_data(as_text=True)
    assert '<div class="problems" role="note">' in page and "Closed or locked" in page
    _, secret = accounts(app).create_token("hd")
    auth = {"Authorization": f"Bearer {secret}"}
    manager = app.test_client()
    queue = manager.get("/api/v1/manage/reports", headers=auth).get_json()["reports"]
    assert [(r["id"], r["facility_id"], r["reason"], r["text"]) for r in queue] == [
        (sent.get_json()["id"], f.id, "closed", "锁门了 <b>")
    ]
    ok = manager.post(
        f"/api/v1/manage/reports/{queue[0]['id']}/resolve",
        headers=auth,
        json={"resolution": "resolved", "action": "temporarily_closed", "note": "called them"},
    )
    assert ok.status_code == 200 and mg.store.get(f.id).status == "temporarily_closed"
    assert manager.get("/api/v1/manage/reports", headers=auth).get_json()["reports"] == []
    page = rider.get(f"/facility/{f.id}?lang=en").get_data(as_text=True)
    # handled: riders no longer see it as an open problem (the block stays, hidden and
    # empty, for the report form's script to fill at once)
    assert '<div class="problems" role="note" hidden>' in page
    assert re.search(r'<ul id="recent-reports"[^>]*></ul>', page)
