"""Rider feedback: the store contract, the verification rule, the API and the forms."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask

from locator.config import ConfigError, load_config
from locator.core.domain import NearestQuery
from locator.core.geo import Datum
from locator.errors import NotFoundError, ValidationError
from locator.services.facilities import LocatorService
from locator.services.feedback import CONFIRMATION_WINDOW, FEEDBACK_ACTOR, FeedbackService, client_pseudonym
from locator.stores.contract import Actor, ReportStore

from .conftest import make_app

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


# --- the verification rule --------------------------------------------------------------


@pytest.fixture
def fsvc(app: Flask) -> FeedbackService:
    svc: LocatorService = app.extensions["locator"]
    svc.create(
        {
            "kind": "warm_station",
            "name": "A",
            "lon": 116.4,
            "lat": 39.9,
            "id": "a",
            "verified_at": (T0 - timedelta(days=100)).isoformat(),
        },
        Datum.WGS84,
    )
    return FeedbackService(svc)


def test_two_different_clients_verify(fsvc: FeedbackService) -> None:
    r1 = fsvc.submit("a", "confirm", now=T0, client="c1")
    assert not r1.verified and r1.facility.verified_at == T0 - timedelta(days=100)
    r2 = fsvc.submit("a", "confirm", now=T0 + timedelta(minutes=5), client="c2")
    assert r2.verified and r2.facility.verified_at == T0 + timedelta(minutes=5)
    # the index answers with the new date, and the history says who did it
    hit = fsvc.locator.nearest(NearestQuery(116.4, 39.9, k=1))[0]
    assert hit.facility.verified_at == T0 + timedelta(minutes=5)
    last = fsvc.locator.store.history("a")[-1]
    assert last.actor == FEEDBACK_ACTOR and list(last.changes) == ["verified_at"]


def test_one_client_twice_is_not_enough(fsvc: FeedbackService) -> None:
    fsvc.submit("a", "confirm", now=T0, client="c1")
    assert not fsvc.submit("a", "confirm", now=T0 + timedelta(minutes=1), client="c1").verified


def test_a_problem_report_holds_verification_back(fsvc: FeedbackService) -> None:
    fsvc.submit("a", "confirm", now=T0, client="c1")
    p = fsvc.submit("a", "problem", now=T0 + timedelta(minutes=1), reason="closed", client="c3")
    assert not p.verified and p.facility.verified_at == T0 - timedelta(days=100)
    assert not fsvc.submit("a", "confirm", now=T0 + timedelta(minutes=2), client="c2").verified
    # ...until the problem is older than the window
    later = T0 + CONFIRMATION_WINDOW + timedelta(days=1)
    fsvc.submit("a", "confirm", now=later, client="c1")
    assert fsvc.submit("a", "confirm", now=later + timedelta(minutes=1), client="c2").verified


def test_a_handled_problem_no_longer_holds_verification_back(fsvc: FeedbackService) -> None:
    p = fsvc.submit("a", "problem", now=T0, reason="closed", client="c3")
    assert [x.id for x in fsvc.recent_problems("a", T0)] == [p.feedback.id]
    store = fsvc.locator.store
    assert isinstance(store, ReportStore)
    store.resolve_report(p.feedback.id, "dismissed", "none", Actor("hd", "it was open"))
    assert fsvc.recent_problems("a", T0) == []
    fsvc.submit("a", "confirm", now=T0 + timedelta(minutes=1), client="c1")
    assert fsvc.submit("a", "confirm", now=T0 + timedelta(minutes=2), client="c2").verified


def test_old_confirmations_and_those_before_the_last_verification_do_not_count(fsvc: FeedbackService) -> None:
    fsvc.submit("a", "confirm", now=T0, client="c1")
    assert not fsvc.submit(
        "a", "confirm", now=T0 + CONFIRMATION_WINDOW + timedelta(seconds=1), client="c2"
    ).verified
    fsvc.submit("a", "confirm", now=T0 + timedelta(days=31), client="c3")  # verifies with c2
    assert fsvc.locator.get("a").verified_at == T0 + timedelta(days=31)
    # after a verification, two new clients are needed again
    assert not fsvc.submit("a", "confirm", now=T0 + timedelta(days=32), client="c4").verified


def test_feedback_validation(fsvc: FeedbackService) -> None:
    with pytest.raises(NotFoundError):
        fsvc.submit("nope", "confirm", now=T0)
    for kwargs, param in [
        ({"verdict": "maybe"}, "verdict"),
        ({"verdict": "problem"}, "reason"),
        ({"verdict": "problem", "reason": "ghosts"}, "reason"),
        ({"verdict": "confirm", "reason": "closed"}, "reason"),
        ({"verdict": "problem", "reason": "other", "comment": "x" * 501}, "comment"),
    ]:
        verdict = kwargs.pop("verdict")
        with pytest.raises(ValidationError) as exc:
            fsvc.submit("a", verdict, now=T0, **kwargs)
        assert exc.value.param == param
    ok = fsvc.submit("a", "problem", now=T0, reason="other", comment=" bell\x07 broken \n ")
    assert ok.feedback.comment == "bell broken"


def test_client_pseudonym_rotates_daily_and_hides_the_address() -> None:
    d = T0.date()
    a = client_pseudonym("s" * 32, "10.1.2.3", d)
    assert a == client_pseudonym("s" * 32, "10.1.2.3", d)
    assert a != client_pseudonym("s" * 32, "10.1.2.4", d)
    assert a != client_pseudonym("s" * 32, "10.1.2.3", d + timedelta(days=1))
    assert "10.1.2.3" not in a and re.fullmatch(r"[0-9a-f]{16}", a)


# --- HTTP: API and forms ---------------------------------------------------------------


@pytest.fixture
def fapp(tmp_path: Path) -> Iterator[Flask]:
    application = make_app(tmp_path / "f.sqlite3", LOCATOR_FEEDBACK_RATE_LIMIT="5 per minute")
    svc: LocatorService = application.extensions["locator"]
    svc.create(
        {"kind": "warm_station", "name": "A", "lon": 116.4, "lat": 39.9, "id": "a", "opening_hours": "24/7"},
        Datum.WGS84,
    )
    yield application
    svc.store.close()


def test_api_feedback_json_and_form(fapp: Flask) -> None:
    c = fapp.test_client()
    r = c.post("/api/v1/facilities/a/feedback", json={"verdict": "confirm"})
    assert r.status_code == 201 and r.mimetype == "application/json"
    body = r.get_json()
    assert body["verdict"] == "confirm" and body["facility_id"] == "a" and body["verified"] is False
    r = c.post(
        "/api/v1/facilities/a/feedback", json={"verdict": "confirm"}, environ_base={"REMOTE_ADDR": "10.9.9.9"}
    )
    assert r.get_json()["verified"] is True
    r = c.post(
        "/api/v1/facilities/a/feedback", data={"verdict": "problem", "reason": "moved", "comment": "对面"}
    )
    assert r.status_code == 201 and r.get_json()["reason"] == "moved"
    stored = fapp.extensions["locator"].store.list_feedback("a")
    assert [x.verdict for x in stored] == ["problem", "confirm", "confirm"]
    assert stored[0].comment == "对面" and "10.9.9.9" not in {x.client for x in stored}


@pytest.mark.parametrize(
    ("kwargs", "status", "param"),
    [
        ({"json": {"verdict": "maybe"}}, 400, "verdict"),
        ({"json": {"verdict": "problem"}}, 400, "reason"),
        ({"json": {"verdict": "problem", "reason": "closed", "comment": 5}}, 400, "comment"),
        ({"json": ["confirm"]}, 400, "body"),
        ({"data": "{not json", "content_type": "application/json"}, 400, "body"),
        ({"json": {"verdict": "confirm"}, "headers": {"Origin": "https://evil.example"}}, 403, "Origin"),
        ({"json": {"verdict": "confirm"}, "headers": {"Origin": "null"}}, 403, "Origin"),
        (
            {"json": {"verdict": "confirm"}, "headers": {"Sec-Fetch-Site": "cross-site"}},
            403,
            "Sec-Fetch-Site",
        ),
        ({"json": {"verdict": "confirm"}, "headers": {"Referer": "https://evil.example/x"}}, 403, "Referer"),
    ],
)
def test_api_feedback_errors(fapp: Flask, kwargs: dict, status: int, param: str) -> None:
    r = fapp.test_client().post("/api/v1/facilities/a/feedback", **kwargs)
    assert r.status_code == status and r.mimetype == "application/problem+json"
    assert r.get_json()["param"] == param


def test_api_feedback_same_origin_headers_are_accepted(fapp: Flask) -> None:
    c = fapp.test_client()
    headers = {
        "Origin": "http://localhost",
        "Sec-Fetch-Site": "same-origin",
        "Referer": "http://localhost/nearest",
    }
    assert (
        c.post("/api/v1/facilities/a/feedback", json={"verdict": "confirm"}, headers=headers).status_code
        == 201
    )
    r = c.post("/api/v1/facilities/nope/feedback", json={"verdict": "confirm"})
    assert r.status_code == 404 and r.mimetype == "application/problem+json"
    assert c.get("/api/v1/facilities/a/feedback").status_code == 405


def test_feedback_is_rate_limited_per_client(fapp: Flask) -> None:
    c = fapp.test_client()
    for _ in range(5):
        assert c.post("/api/v1/facilities/a/feedback", json={"verdict": "confirm"}).status_code == 201
    r = c.post("/api/v1/facilities/a/feedback", json={"verdict": "confirm"})
    assert r.status_code == 429 and r.mimetype == "application/problem+json"
    assert r.get_json()["status"] == 429 and int(r.headers["Retry-After"]) > 0
    # the HTML form shares the budget and answers with a friendly page
    page = c.post("/facility/a/feedback", data={"verdict": "confirm"}, headers={"Accept": "text/html"})
    assert (
        page.status_code == 429
        and page.mimetype == "text/html"
        and "请稍后再试" in page.get_data(as_text=True)
    )
    # another client is not affected
    other = c.post(
        "/api/v1/facilities/a/feedback", json={"verdict": "confirm"}, environ_base={"REMOTE_ADDR": "10.0.0.7"}
    )
    assert other.status_code == 201
    assert len(fapp.extensions["locator"].store.list_feedback("a")) == 6


def test_form_posts_back_to_the_results_with_thanks(fapp: Flask) -> None:
    c = fapp.test_client()
    nxt = "/nearest?lon=116.4&lat=39.9"
    r = c.post("/facility/a/feedback", data={"verdict": "confirm", "next": nxt})
    assert r.status_code == 303
    assert r.headers["Location"] == nxt + "&fb=confirm&fb_id=a#f-a"
    html = c.get(r.headers["Location"]).get_data(as_text=True)
    assert re.search(
        r'<p class="fb-status" role="status" aria-live="polite">谢谢！您的确认已保存。</p>', html
    )
    # a foreign or odd "next" is never followed
    for bad in ("//evil.example/x", "https://evil.example/", "javascript:alert(1)", "/\\evil.example"):
        r = c.post(
            "/facility/a/feedback",
            data={"verdict": "confirm", "next": bad},
            environ_base={"REMOTE_ADDR": "10.0.0.8"},
        )
        assert r.headers["Location"].startswith("/facility/a?fb=confirm"), bad


def test_facility_page_has_report_form_and_shows_recent_problems(fapp: Flask) -> None:
    c = fapp.test_client()
    html = c.get("/facility/a").get_data(as_text=True)
    assert re.findall(r'name="reason" value="(\w+)"', html) == [
        "closed",
        "gone",
        "moved",
        "missing_service",
        "other",
    ]
    assert 'id="report"' in html and 'action="/facility/a/feedback"' in html
    c.post(
        "/facility/a/feedback",
        data={"verdict": "problem", "reason": "closed", "comment": "<script>x</script>"},
    )
    html = c.get("/facility/a?lang=en").get_data(as_text=True)
    assert "Recent reports from riders" in html and "Closed or locked · today" in html
    assert "<script>x</script>" not in html


def test_lite_page_has_one_tap_yes_without_javascript(fapp: Flask) -> None:
    c = fapp.test_client()
    html = c.get("/lite?lon=116.4&lat=39.9").get_data(as_text=True)
    m = re.search(
        r'<form method="post" action="(/facility/a/feedback)"><input type="hidden" name="verdict" '
        r'value="confirm"><input type="hidden" name="next" value="([^"]+)">',
        html,
    )
    assert m
    r = c.post(m.group(1), data={"verdict": "confirm", "next": m.group(2).replace("&amp;", "&")})
    assert r.status_code == 303 and r.headers["Location"].startswith("/lite?")
    assert "谢谢！" in c.get(r.headers["Location"]).get_data(as_text=True)


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"LOCATOR_FEEDBACK_RATE_LIMIT": "lots"}, "LOCATOR_FEEDBACK_RATE_LIMIT"),
        ({"LOCATOR_RATELIMIT_STORAGE_URI": "mongodb://x"}, "LOCATOR_RATELIMIT_STORAGE_URI"),
    ],
)
def test_bad_rate_limit_config_fails_at_start(tmp_path: Path, env: dict, name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_config(tmp_path, env)


def test_refused_cross_site_posts_do_not_use_up_the_riders_budget(fapp: Flask) -> None:
    c = fapp.test_client()
    evil = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    for _ in range(8):  # more than the 5 per minute the fixture allows
        assert (
            c.post("/api/v1/facilities/a/feedback", json={"verdict": "confirm"}, headers=evil).status_code
            == 403
        )
    for _ in range(5):
        assert c.post("/api/v1/facilities/a/feedback", json={"verdict": "confirm"}).status_code == 201
    assert c.post("/api/v1/facilities/a/feedback", json={"verdict": "confirm"}).status_code == 429
