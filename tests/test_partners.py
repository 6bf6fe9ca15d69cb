"""Partners end to end through the app: CLI, keys, quotas and rates (429), CORS."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from locator.errors import ValidationError
from locator.services.partners import PartnerService, hash_key, normalize_origin, parse_quota

from .conftest import make_app

KEY_RE = re.compile(r"wsl_[A-Za-z0-9_-]{43}")
NEAREST = "/api/v1/nearest?lon=116.3376&lat=39.9925"
ORIGIN = "http://127.0.0.1:8081"
OTHER = "http://127.0.0.1:9099"


@pytest.fixture
def limited_app(tmp_path: Path) -> Iterator[Flask]:
    """Small allowances so that limits are reached in a few requests."""
    app = make_app(
        tmp_path / "p.sqlite3",
        LOCATOR_RATELIMIT_KEYLESS="3 per minute",
        LOCATOR_RATELIMIT_BURST="1000 per minute",
    )
    yield app
    app.extensions["locator"].store.close()


def partners(app: Flask) -> PartnerService:
    svc: PartnerService = app.extensions["locator.partners"]
    return svc


def problem(r) -> dict:  # type: ignore[no-untyped-def]
    assert r.mimetype == "application/problem+json", (r.status_code, r.data[:200])
    body = r.get_json()
    assert body["status"] == r.status_code
    return body


# --- rules ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("http://127.0.0.1:8081", "http://127.0.0.1:8081"),
        ("http://127.0.0.1:8081/", "http://127.0.0.1:8081"),
        ("HTTPS://Union.Example.CN:443", "https://union.example.cn"),
        ("http://localhost:80", "http://localhost"),
        ("https://a-b.example.com:8443", "https://a-b.example.com:8443"),
    ],
)
def test_origins_are_normalised(raw: str, canonical: str) -> None:
    assert normalize_origin(raw) == canonical


@pytest.mark.parametrize(
    "raw",
    [
        "127.0.0.1:8081",
        "ftp://example.com",
        "http://example.com/app",
        "http://example.com/?a=1",
        "http://example.com#x",
        "http://user:pw@example.com",
        "http://exa mple.com",
        "http://999.1.1.1",
        "http://example.com:99999",
        "*",
        "",
        "null",
        "http://-bad.example",
    ],
)
def test_bad_origins_are_refused(raw: str) -> None:
    with pytest.raises(ValidationError) as exc:
        normalize_origin(raw)
    assert exc.value.param == "origin"


def test_quota_syntax() -> None:
    assert parse_quota("5000/day") == 5000
    assert parse_quota("5000 per day") == 5000
    assert parse_quota("7") == 7
    for bad in ("0", "-1", "ten", "5/hour", "1.5", ""):
        with pytest.raises(ValidationError):
            parse_quota(bad)


# --- CLI --------------------------------------------------------------------------


def test_cli_add_prints_the_key_once_and_stores_only_its_hash(app: Flask, tmp_path: Path) -> None:
    runner = app.test_cli_runner()
    r = runner.invoke(
        args=[
            "locator",
            "partner",
            "add",
            "acme",
            "--origin",
            ORIGIN + "/",
            "--origin",
            "https://acme.example",
            "--quota",
            "500/day",
        ]
    )
    assert r.exit_code == 0, r.output
    keys = KEY_RE.findall(r.output)
    assert len(keys) == 1
    key = keys[0]
    assert 'allow="geolocation"' in r.output and "/embed/map?partner=acme" in r.output
    p = partners(app).get("acme")
    assert p.origins == (ORIGIN, "https://acme.example")
    assert p.daily_quota == 500
    assert p.key_hash == hash_key(key) and key.startswith(p.key_prefix)
    db = (tmp_path / "test.sqlite3").read_bytes() + (tmp_path / "test.sqlite3-wal").read_bytes()
    assert key.encode() not in db
    assert hash_key(key).encode() in db
    listing = runner.invoke(args=["locator", "partner", "list"])
    assert listing.exit_code == 0
    assert "acme" in listing.output and p.key_prefix in listing.output and key not in listing.output
    assert "500/day" in listing.output and ORIGIN in listing.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Bad_Name", "--origin", ORIGIN], "partner name"),
        (["acme", "--origin", "http://acme.example/shop"], "no path"),
        (["acme", "--origin", "acme.example"], "http:// or https://"),
        (["acme", "--origin", ORIGIN, "--quota", "lots"], "quota"),
    ],
)
def test_cli_add_refuses_bad_input(app: Flask, args: list[str], message: str) -> None:
    r = app.test_cli_runner().invoke(args=["locator", "partner", "add", *args])
    assert r.exit_code == 1
    assert message in r.output
    assert partners(app).all() == []


def test_cli_add_requires_an_origin_and_refuses_duplicates(app: Flask) -> None:
    runner = app.test_cli_runner()
    assert runner.invoke(args=["locator", "partner", "add", "acme"]).exit_code == 2
    assert runner.invoke(args=["locator", "partner", "add", "acme", "--origin", ORIGIN]).exit_code == 0
    again = runner.invoke(args=["locator", "partner", "add", "acme", "--origin", ORIGIN])
    assert again.exit_code == 1 and "exists" in again.output


def test_cli_rotate_revoke_and_snippet(app: Flask) -> None:
    runner = app.test_cli_runner()
    first = KEY_RE.findall(
        runner.invoke(args=["locator", "partner", "add", "acme", "--origin", ORIGIN]).output
    )[0]
    r = runner.invoke(args=["locator", "partner", "rotate-key", "acme"])
    assert r.exit_code == 0
    second = KEY_RE.findall(r.output)[0]
    assert second != first
    client = app.test_client()
    assert client.get(NEAREST, headers={"X-API-Key": first}).status_code == 401
    assert client.get(NEAREST, headers={"X-API-Key": second}).status_code == 200
    s = runner.invoke(
        args=[
            "locator",
            "partner",
            "snippet",
            "acme",
            "--base-url",
            "https://map.example",
            "--kind",
            "warm_station",
            "--lon",
            "116.33761234",
            "--lat",
            "39.99251",
            "--zoom",
            "14",
        ]
    )
    assert s.exit_code == 0
    assert s.output.strip() == (
        '<iframe src="https://map.example/embed/map?partner=acme&amp;kind=warm_station&amp;lon=116.3376'
        '&amp;lat=39.9925&amp;zoom=14" title="暖心驿站地图 · Warm stations map" width="100%" height="480" '
        'style="border:0;max-width:100%" loading="lazy" allow="geolocation" '
        'referrerpolicy="strict-origin-when-cross-origin"></iframe>'
    )
    r = runner.invoke(args=["locator", "partner", "revoke", "acme"])
    assert r.exit_code == 0 and "Revoked acme" in r.output
    assert client.get(NEAREST, headers={"X-API-Key": second}).status_code == 401
    assert "REVOKED" in runner.invoke(args=["locator", "partner", "list"]).output
    assert runner.invoke(args=["locator", "partner", "rotate-key", "acme"]).exit_code == 1
    assert runner.invoke(args=["locator", "partner", "revoke", "nobody"]).exit_code == 1


# --- keys -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["", "nonsense", "wsl_" + "A" * 43, "Bearer wsl_abc", "wsl_" + "x" * 300],
)
def test_bad_keys_are_401_problems(client: FlaskClient, key: str) -> None:
    r = client.get(NEAREST, headers={"X-API-Key": key})
    assert r.status_code == 401
    body = problem(r)
    assert body["param"] == "X-API-Key"
    assert "X-RateLimit-Remaining" not in r.headers


def test_keys_apply_to_every_public_api_but_not_to_pages(app: Flask) -> None:
    _, key = partners(app).add("acme", [ORIGIN])
    client = app.test_client()
    for url in (
        NEAREST,
        "/api/v1/facilities",
        "/api/v1/export.geojson",
        "/ogc/collections",
        "/ogc/collections/facilities/items",
    ):
        assert client.get(url, headers={"X-API-Key": key}).status_code == 200, url
        assert client.get(url, headers={"X-API-Key": key + "x"}).status_code == 401, url
    # Pages and docs ignore the header.
    assert client.get("/api/openapi.json", headers={"X-API-Key": "junk"}).status_code == 200
    assert client.get("/", headers={"X-API-Key": "junk"}).status_code == 200


def test_a_key_used_from_another_origin_is_403(app: Flask) -> None:
    _, key = partners(app).add("acme", [ORIGIN])
    client = app.test_client()
    assert client.get(NEAREST, headers={"X-API-Key": key, "Origin": ORIGIN}).status_code == 200
    r = client.get(NEAREST, headers={"X-API-Key": key, "Origin": OTHER})
    assert r.status_code == 403
    assert problem(r)["param"] == "Origin"
    # Server-to-server calls send no Origin.
    assert client.get(NEAREST, headers={"X-API-Key": key}).status_code == 200


# --- quotas and rates ---------------------------------------------------------------


def test_keyless_callers_get_the_per_ip_allowance_then_429(limited_app: Flask) -> None:
    client = limited_app.test_client()
    seen = [client.get(NEAREST) for _ in range(3)]
    assert [r.status_code for r in seen] == [200, 200, 200]
    assert [r.headers["X-RateLimit-Remaining"] for r in seen] == ["2", "1", "0"]
    assert seen[0].headers["X-RateLimit-Limit"] == "3"
    r = client.get("/ogc/collections")  # one counter over the whole public API
    assert r.status_code == 429
    body = problem(r)
    assert "keyless" in body["detail"] and "X-API-Key" in body["detail"]
    assert 0 < int(r.headers["Retry-After"]) <= 60
    # Another client IP has its own allowance.
    other = client.get(NEAREST, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert other.status_code == 200
    # Pages are not API calls.
    assert client.get("/").status_code == 200
    assert client.get("/api/openapi.json").status_code == 200


def test_keyed_callers_get_their_daily_quota_then_429(limited_app: Flask) -> None:
    _, key = partners(limited_app).add("acme", [ORIGIN], daily_quota=5)
    _, other_key = partners(limited_app).add("other", ["https://other.example"], daily_quota=5)
    client = limited_app.test_client()
    for _ in range(4):  # exhaust the keyless allowance first: keys are counted apart
        client.get(NEAREST)
    assert client.get(NEAREST).status_code == 429
    codes = [
        client.get(url, headers={"X-API-Key": key}).status_code
        for url in (NEAREST, NEAREST, "/api/v1/facilities", "/ogc/", NEAREST)
    ]
    assert codes == [200] * 5
    r = client.get(NEAREST, headers={"X-API-Key": key})
    assert r.status_code == 429
    body = problem(r)
    assert "acme" in body["detail"] and "5 per day" in body["detail"]
    assert r.headers["X-RateLimit-Limit"] == "5"
    assert 86_000 < int(r.headers["Retry-After"]) <= 86_400
    # Each partner has its own quota.
    assert client.get(NEAREST, headers={"X-API-Key": other_key}).status_code == 200


def test_keyed_burst_rate(tmp_path: Path) -> None:
    app = make_app(tmp_path / "b.sqlite3", LOCATOR_RATELIMIT_BURST="2 per minute")
    _, key = partners(app).add("acme", [ORIGIN], daily_quota=1000)
    client = app.test_client()
    assert [client.get(NEAREST, headers={"X-API-Key": key}).status_code for _ in range(3)] == [200, 200, 429]
    r = client.get(NEAREST, headers={"X-API-Key": key})
    assert r.status_code == 429 and 0 < int(r.headers["Retry-After"]) <= 60
    app.extensions["locator"].store.close()


def test_preflight_is_not_counted(limited_app: Flask) -> None:
    partners(limited_app).add("acme", [ORIGIN])
    client = limited_app.test_client()
    pre = {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "x-api-key",
    }
    for _ in range(5):
        assert client.options(NEAREST, headers=pre).status_code == 200
    assert client.get(NEAREST).status_code == 200


# --- CORS -------------------------------------------------------------------------


def test_cors_only_for_registered_origins(app: Flask) -> None:
    _, key = partners(app).add("acme", [ORIGIN])
    partners(app).add("gone", ["https://gone.example"])
    partners(app).revoke("gone")
    client = app.test_client()
    ok = client.get(NEAREST, headers={"Origin": ORIGIN})
    assert ok.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Origin" in ok.headers["Vary"]
    exposed = {h.strip().lower() for h in ok.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"etag", "retry-after", "x-ratelimit-remaining"} <= exposed
    assert "Access-Control-Allow-Credentials" not in ok.headers
    keyed = client.get("/ogc/collections", headers={"Origin": ORIGIN, "X-API-Key": key})
    assert keyed.headers["Access-Control-Allow-Origin"] == ORIGIN
    for origin in (OTHER, "https://gone.example", "null", "http://127.0.0.1:8081.evil.example"):
        r = client.get(NEAREST, headers={"Origin": origin})
        assert r.status_code == 200
        assert "Access-Control-Allow-Origin" not in r.headers, origin
        assert "Origin" in r.headers["Vary"]
    # Errors from the API are readable by the partner's page too.
    bad = client.get("/api/v1/nearest?lon=x&lat=1", headers={"Origin": ORIGIN})
    assert bad.status_code == 400 and bad.headers["Access-Control-Allow-Origin"] == ORIGIN
    # Pages are not CORS-enabled, even for partners.
    assert "Access-Control-Allow-Origin" not in client.get("/", headers={"Origin": ORIGIN}).headers


def test_cors_preflight_allows_the_key_header(app: Flask) -> None:
    partners(app).add("acme", [ORIGIN])
    client = app.test_client()
    headers = {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "x-api-key, if-none-match",
    }
    r = client.options("/ogc/collections/facilities/items", headers=headers)
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert {h.strip().lower() for h in r.headers["Access-Control-Allow-Headers"].split(",")} == {
        "x-api-key",
        "if-none-match",
    }
    assert "GET" in r.headers["Access-Control-Allow-Methods"]
    refused = client.options(NEAREST, headers={**headers, "Origin": OTHER})
    assert "Access-Control-Allow-Origin" not in refused.headers


def test_partner_changes_take_effect_without_a_restart(tmp_path: Path) -> None:
    # Two app instances stand for the web worker and the CLI process on one store.
    db = tmp_path / "shared.sqlite3"
    web, cli = make_app(db), make_app(db)
    client = web.test_client()
    assert "Access-Control-Allow-Origin" not in client.get(NEAREST, headers={"Origin": ORIGIN}).headers
    _, key = partners(cli).add("acme", [ORIGIN])
    assert client.get(NEAREST, headers={"Origin": ORIGIN}).headers["Access-Control-Allow-Origin"] == ORIGIN
    assert client.get(NEAREST, headers={"X-API-Key": key}).status_code == 200
    partners(cli).revoke("acme")
    assert client.get(NEAREST, headers={"X-API-Key": key}).status_code == 401
    assert "Access-Control-Allow-Origin" not in client.get(NEAREST, headers={"Origin": ORIGIN}).headers
    for a in (web, cli):
        a.extensions["locator"].store.close()


def test_retry_after_only_on_429(limited_app: Flask) -> None:
    client = limited_app.test_client()
    ok = client.get(NEAREST)
    assert ok.status_code == 200 and "Retry-After" not in ok.headers
    assert ok.headers["X-RateLimit-Remaining"] == "2"
    for _ in range(2):
        client.get(NEAREST)
    assert "Retry-After" in client.get(NEAREST).headers


def test_keyed_answers_report_the_daily_quota(limited_app: Flask) -> None:
    _, key = partners(limited_app).add("acme", [ORIGIN], daily_quota=50)
    client = limited_app.test_client()
    first = client.get(NEAREST, headers={"X-API-Key": key})
    second = client.get("/ogc/collections", headers={"X-API-Key": key})
    assert (first.headers["X-Quota-Limit"], first.headers["X-Quota-Remaining"]) == ("50", "49")
    assert (second.headers["X-Quota-Limit"], second.headers["X-Quota-Remaining"]) == ("50", "48")
    assert int(second.headers["X-Quota-Reset"]) > int(second.headers["X-RateLimit-Reset"]) - 1
    assert "X-Quota-Limit" not in client.get(NEAREST).headers  # keyless: no quota
