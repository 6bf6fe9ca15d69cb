"""The OpenAPI 3.1 document: valid, complete, and true of the real responses."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Blueprint, Flask
from flask.testing import FlaskClient
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate
from pydantic import Field
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from locator.core.domain import AMENITIES, KINDS, STATUSES
from locator.core.geo import Datum
from locator.http import models
from locator.http import openapi as openapi_doc
from locator.http.models import QueryModel
from locator.http.operations import BEARER, Reply, operation, query

from .conftest import make_app
from .manage_support import CHAOYANG, HAIDIAN, accounts, demo_copy, login, make_user, page_csrf

SPEC_URI = "urn:locator:openapi"
JSON = "application/json"
DOCUMENTED_BLUEPRINTS = {"api", "sync", "ogc", "apidocs", "embed"}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture
def spec(client: FlaskClient) -> dict[str, Any]:
    r = client.get("/api/openapi.json")
    assert r.status_code == 200 and r.mimetype == "application/json"
    body: dict[str, Any] = r.get_json()
    return body


def deref(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        path = node["$ref"].removeprefix("#/").split("/")
        target: Any = spec
        for part in path:
            target = target[part]
        node = target
    return node


def validate_instance(spec: dict[str, Any], schema: dict[str, Any], instance: Any) -> None:
    """Validate ``instance`` against a schema of the document (its ``$ref``s resolved)."""
    registry = Registry().with_resource(
        SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT202012)
    )
    if "$ref" in schema:
        schema = {"$ref": SPEC_URI + schema["$ref"]}
    validator = OAS31Validator(schema, registry=registry, format_checker=OAS31Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]


def check(spec: dict[str, Any], path: str, status: int, response: Any, method: str = "get") -> None:
    """Validate a real response against the document: status, media type, body and headers.

    Every header the document lists for the response must be present (``Cache-Control``
    and ``ETag`` only on 200 answers to GET: the caching hook adds them there).
    """
    assert response.status_code == status, (path, status, response.status_code, response.get_data()[:300])
    op = spec["paths"][path][method]
    documented = deref(spec, op["responses"][str(status)])
    for name in documented.get("headers", {}):
        if name in {"Cache-Control", "ETag"} and (method != "get" or status != 200):
            continue
        assert name in response.headers, (path, status, name)
    if "content" not in documented:
        assert not response.get_data(), (path, status)
        return
    media = response.mimetype
    assert media in documented["content"], (path, status, media, list(documented["content"]))
    validate_instance(spec, documented["content"][media]["schema"], response.get_json())


def check_request(spec: dict[str, Any], path: str, method: str, body: Any, media: str = JSON) -> Any:
    """Validate a request body we are about to send against the document; return it."""
    documented = spec["paths"][path][method]["requestBody"]["content"]
    assert media in documented, (path, method, media)
    validate_instance(spec, documented[media]["schema"], body)
    return body


def test_document_is_valid_openapi_31(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.1")
    validate(spec)  # raises on any violation of the OpenAPI 3.1 schema


def app_operations(app: Flask) -> set[tuple[str, str]]:
    """``(path, method)`` of every route under ``/api/`` and of the documented blueprints.

    The url_map is the truth; HEAD and OPTIONS (answered by Flask) are left out.
    """
    ops = set()
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.split(".", 1)[0]
        if blueprint not in DOCUMENTED_BLUEPRINTS and not rule.rule.startswith("/api/"):
            continue
        path = re.sub(r"<(?:[a-z]+(?:\([^)]*\))?:)?([a-z_]+)>", r"{\1}", rule.rule)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            ops.add((path, method.lower()))
    return ops


def test_every_public_route_is_documented(app: Flask, spec: dict[str, Any]) -> None:
    ops = app_operations(app)
    assert {m for _, m in ops} == {"get", "post", "patch", "delete"}  # the audit sees every verb
    assert ("/api/v1/facilities/{facility_id}/feedback", "post") in ops
    assert ("/api/v1/manage/reports/{report_id}/resolve", "post") in ops
    missing = {(p, m) for p, m in ops if m not in spec["paths"].get(p, {})}
    assert not missing, sorted(missing)
    # ...and the document describes no operation the app does not have.
    documented = {(p, m) for p, item in spec["paths"].items() for m in item if m in HTTP_METHODS}
    assert documented - ops == set()
    for name in (
        "/api/v1/nearest",
        "/api/v1/facilities",
        "/api/v1/export.geojson",
        "/ogc/collections/{collection_id}/items",
    ):
        assert name in spec["paths"]


def test_document_is_generated_from_the_operations(tmp_path: Path) -> None:
    # Replaces the test of the hand-written document's MANAGEMENT_PATHS merge: the document is
    # now generated from the operations the views declare, so a new route is documented by
    # declaring it, with the limits of its model.
    app = make_app(tmp_path / "g.sqlite3")
    doc = openapi_doc.build_openapi(app)
    (tag,) = [t for t in doc["tags"] if t["name"] == "management"]
    assert "Reserved" not in tag["description"] and "Bearer" in tag["description"]
    # Public reads and management writes share path items.
    assert doc["paths"]["/api/v1/facilities"]["get"]["tags"] == ["sync"]
    assert doc["paths"]["/api/v1/facilities"]["post"]["tags"] == ["management"]
    assert set(doc["paths"]["/api/v1/facilities/{facility_id}"]) == {"get", "patch", "delete"}

    class PingParams(QueryModel):
        n: int = Field(3, ge=1, le=7, description="How many pings.")

    extra = Blueprint("extra", __name__)

    @extra.get("/api/v1/manage/ping")
    @operation("Ping", tags=("management",), query=PingParams, security=BEARER, responses={200: Reply("ok")})
    def ping() -> str:
        return str(query(PingParams).n)

    app.register_blueprint(extra)
    doc = openapi_doc.build_openapi(app)
    op = doc["paths"]["/api/v1/manage/ping"]["get"]
    (param,) = op["parameters"]
    assert param == {
        "name": "n",
        "in": "query",
        "required": False,
        "description": "How many pings.",
        "schema": {"type": "integer", "minimum": 1, "maximum": 7, "default": 3},
    }
    assert (
        op["security"] == [{"BearerAuth": []}] and "patch" in doc["paths"]["/api/v1/facilities/{facility_id}"]
    )
    validate(doc)
    client = app.test_client()
    assert client.get("/api/v1/manage/ping?n=5").get_data(as_text=True) == "5"
    bad = client.get("/api/v1/manage/ping?n=8")
    assert bad.status_code == 400 and bad.get_json()["detail"] == "n must be between 1 and 7"
    # One (path, method) documented twice is a programming error, not a silent replacement.
    twice = Blueprint("twice", __name__)
    twice.add_url_rule("/api/v1/facilities", "feed_again", view_func=ping)
    app2 = make_app(tmp_path / "h.sqlite3")
    app2.register_blueprint(twice)
    with pytest.raises(ValueError, match="/api/v1/facilities"):
        openapi_doc.build_openapi(app2)
    for a in (app, app2):
        a.extensions["locator"].store.close()


def test_limits_and_enums_are_the_code_s(spec: dict[str, Any]) -> None:
    """The document's limits and enums are those the code validates with."""
    params = {p["name"]: p for p in spec["paths"]["/api/v1/nearest"]["get"]["parameters"]}
    assert params["limit"]["schema"]["maximum"] == models.LIMIT_MAX
    assert params["radius_m"]["schema"]["maximum"] == models.RADIUS_MAX_M
    assert params["lon"]["required"] and params["lon"]["schema"]["minimum"] == -180
    assert params["kind"]["style"] == "form" and params["kind"]["explode"] is False
    schemas = spec["components"]["schemas"]
    assert schemas["Datum"]["enum"] == [d.value for d in Datum]  # once, referred to everywhere
    assert schemas["Kind"]["enum"] == list(KINDS) and schemas["Amenity"]["enum"] == list(AMENITIES)
    assert schemas["Status"]["enum"] == list(STATUSES)
    text = json.dumps(spec)
    assert text.count('"gcj02"') == 1, "the datum list is written once"
    feed = {p["name"]: p for p in spec["paths"]["/api/v1/facilities"]["get"]["parameters"]}
    assert feed["limit"]["schema"]["maximum"] == models.FEED_LIMIT_MAX
    # Every status an operation can answer is documented: 428 and 412 on conditional writes,
    # 413 on bodies, 400 everywhere a parameter is read.
    patch = spec["paths"]["/api/v1/facilities/{facility_id}"]["patch"]["responses"]
    assert {"400", "401", "403", "404", "412", "413", "428", "503"} <= set(patch)
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if op.get("requestBody"):
                assert "413" in op["responses"], (path, method)
            if op["parameters"] and any(p["in"] == "query" for p in op["parameters"]):
                assert "400" in op["responses"], (path, method)


def test_management_operations_use_bearer_auth(app: Flask, spec: dict[str, Any]) -> None:
    scheme = spec["components"]["securitySchemes"]["BearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert "X-CSRFToken" in scheme["description"]  # the session alternative is described
    manage_ops = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("manage_api."):
            path = re.sub(r"<(?:[a-z]+(?:\([^)]*\))?:)?([a-z_]+)>", r"{\1}", rule.rule)
            manage_ops |= {(path, m.lower()) for m in (rule.methods or set()) - {"HEAD", "OPTIONS"}}
    assert len(manage_ops) == 12
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method not in HTTP_METHODS:
                continue
            if (path, method) in manage_ops:
                assert op["tags"] == ["management"], (path, method)
                assert op["security"] == [{"BearerAuth": []}], (path, method)
                assert {"401", "503"} <= set(op["responses"]), (path, method)
                if method != "get":
                    assert "400" in op["responses"], (path, method)  # bad body or missing CSRF
            else:
                assert "management" not in op["tags"], (path, method)
                assert op.get("security", spec["security"]) != [{"BearerAuth": []}], (path, method)
    for path, method in manage_ops:
        op = spec["paths"][path][method]
        params = {deref(spec, p)["name"] for p in op["parameters"]}
        if method in {"patch", "delete"} or path.endswith("/restore"):
            assert "If-Match" in params and {"412", "428"} <= set(op["responses"]), (path, method)
            (if_match,) = [deref(spec, p) for p in op["parameters"] if deref(spec, p)["name"] == "If-Match"]
            assert if_match["required"] is True


def test_api_key_scheme_is_documented(spec: dict[str, Any]) -> None:
    scheme = spec["components"]["securitySchemes"]["ApiKey"]
    assert scheme == {**scheme, "type": "apiKey", "in": "header", "name": "X-API-Key"}
    nearest = spec["paths"]["/api/v1/nearest"]["get"]["responses"]
    assert {"400", "401", "403", "429", "304"} <= set(nearest)


def test_real_json_api_responses_match_the_schemas(demo_client: FlaskClient, spec: dict[str, Any]) -> None:
    r = demo_client.get("/api/v1/nearest?lon=116.3376&lat=39.9925&kind=warm_station&limit=5&open_now=true")
    assert r.status_code == 200 and len(r.get_json()["features"]) == 5
    check(spec, "/api/v1/nearest", 200, r)
    fid = r.get_json()["features"][0]["id"]
    check(spec, "/api/v1/facilities/{facility_id}", 200, demo_client.get(f"/api/v1/facilities/{fid}"))
    check(spec, "/api/v1/facilities", 200, demo_client.get("/api/v1/facilities?limit=50"))
    check(spec, "/api/v1/export.geojson", 200, demo_client.get("/api/v1/export.geojson"))
    check(spec, "/api/v1/nearest", 400, demo_client.get("/api/v1/nearest?lon=1000&lat=39"))
    check(
        spec,
        "/api/v1/nearest",
        401,
        demo_client.get("/api/v1/nearest?lon=116&lat=39", headers={"X-API-Key": "x"}),
    )
    check(spec, "/api/v1/facilities/{facility_id}", 404, demo_client.get("/api/v1/facilities/nope"))


def test_real_rider_responses_match_the_schemas(demo_client: FlaskClient, spec: dict[str, Any]) -> None:
    places = "/api/v1/places"
    r = demo_client.get("/api/v1/places?q=五道口&limit=5")
    assert r.get_json()["numberReturned"] > 0
    check(spec, places, 200, r)
    r = demo_client.get("/api/v1/places?q=Haidian&kind=district,subdistrict&datum=gcj02")
    assert r.get_json()["coordinate_datum"] == "gcj02" and r.get_json()["features"]
    check(spec, places, 200, r)
    check(spec, places, 400, demo_client.get("/api/v1/places"))
    check(spec, places, 400, demo_client.get("/api/v1/places?q=x&kind=planet"))

    feedback = "/api/v1/facilities/{facility_id}/feedback"
    fid = demo_client.get("/api/v1/nearest?lon=116.3376&lat=39.9925&limit=1").get_json()["features"][0]["id"]
    url = f"/api/v1/facilities/{fid}/feedback"
    body = check_request(spec, feedback, "post", {"verdict": "confirm"})
    check(spec, feedback, 201, demo_client.post(url, json=body), "post")
    form = check_request(
        spec,
        feedback,
        "post",
        {"verdict": "problem", "reason": "closed", "comment": "门锁着"},
        "application/x-www-form-urlencoded",
    )
    r = demo_client.post(url, data=form)
    assert r.get_json()["reason"] == "closed"
    check(spec, feedback, 201, r, "post")
    check(spec, feedback, 400, demo_client.post(url, json={"verdict": "problem"}), "post")
    check(spec, feedback, 400, demo_client.post(url, json=["confirm"]), "post")
    cross = demo_client.post(url, json=body, headers={"Origin": "https://elsewhere.example"})
    check(spec, feedback, 403, cross, "post")
    check(spec, feedback, 404, demo_client.post("/api/v1/facilities/nope/feedback", json=body), "post")


@pytest.mark.parametrize(
    "body",
    [{"verdict": "problem"}, {"verdict": "confirm", "reason": "closed"}, {"verdict": "maybe"}, {}],
)
def test_feedback_schema_refuses_what_the_api_refuses(spec: dict[str, Any], body: dict[str, Any]) -> None:
    with pytest.raises(AssertionError):
        check_request(spec, "/api/v1/facilities/{facility_id}/feedback", "post", body)


def test_a_wrong_response_is_caught(demo_client: FlaskClient, spec: dict[str, Any]) -> None:
    # The check above can fail: a nearest answer is not a change feed.
    r = demo_client.get("/api/v1/nearest?lon=116.3376&lat=39.9925")
    with pytest.raises(AssertionError):
        check(spec, "/api/v1/facilities", 200, r)


def test_real_ogc_responses_match_the_schemas(demo_client: FlaskClient, spec: dict[str, Any]) -> None:
    check(spec, "/ogc/", 200, demo_client.get("/ogc/"))
    check(spec, "/ogc", 200, demo_client.get("/ogc"))
    check(spec, "/ogc/conformance", 200, demo_client.get("/ogc/conformance"))
    check(spec, "/ogc/collections", 200, demo_client.get("/ogc/collections"))
    check(spec, "/ogc/collections/{collection_id}", 200, demo_client.get("/ogc/collections/union_home"))
    items = demo_client.get("/ogc/collections/facilities/items?limit=20&bbox=116.2,39.8,116.5,40.1")
    assert items.get_json()["numberReturned"] == 20
    check(spec, "/ogc/collections/{collection_id}/items", 200, items)
    fid = items.get_json()["features"][0]["id"]
    check(
        spec,
        "/ogc/collections/{collection_id}/items/{feature_id}",
        200,
        demo_client.get(f"/ogc/collections/facilities/items/{fid}"),
    )
    check(
        spec,
        "/ogc/collections/{collection_id}/items",
        400,
        demo_client.get("/ogc/collections/facilities/items?limit=0"),
    )
    check(spec, "/ogc/collections/{collection_id}", 404, demo_client.get("/ogc/collections/nope"))


def test_429_matches_the_schema(tmp_path: Path, spec: dict[str, Any]) -> None:
    app = make_app(tmp_path / "l.sqlite3", LOCATOR_RATELIMIT_KEYLESS="1 per minute")
    client = app.test_client()
    client.get("/api/v1/nearest?lon=116&lat=39")
    r = client.get("/api/v1/nearest?lon=116&lat=39")
    assert r.status_code == 429
    check(spec, "/api/v1/nearest", 429, r)
    documented = deref(spec, spec["paths"]["/api/v1/nearest"]["get"]["responses"]["429"])
    assert set(documented["headers"]) <= set(r.headers.keys())
    app.extensions["locator"].store.close()


def test_feedback_429_matches_the_schema(tmp_path: Path, spec: dict[str, Any]) -> None:
    app = make_app(tmp_path / "l.sqlite3", LOCATOR_FEEDBACK_RATE_LIMIT="1 per minute")
    client = app.test_client()
    path = "/api/v1/facilities/{facility_id}/feedback"
    client.post("/api/v1/facilities/nope/feedback", json={"verdict": "confirm"})
    r = client.post("/api/v1/facilities/nope/feedback", json={"verdict": "confirm"})
    check(spec, path, 429, r, "post")
    app.extensions["locator"].store.close()


# --- management API: real answers against the document ---------------------------------------


@pytest.fixture
def manage_app(tmp_path: Path, demo_db: Path) -> Iterator[Flask]:
    """A demo-layer SQLite copy with a Haidian district manager and an admin."""
    application = demo_copy(tmp_path, demo_db)
    make_user(application, "hd", "district_manager", districts=[HAIDIAN])
    make_user(application, "root", "admin")
    yield application
    application.extensions["locator"].store.close()


def bearer(app: Flask, name: str) -> dict[str, str]:
    _, secret = accounts(app).create_token(name)
    return {"Authorization": f"Bearer {secret}"}


def test_real_management_responses_match_the_schemas(manage_app: Flask, spec: dict[str, Any]) -> None:
    client = manage_app.test_client()
    hd, root = bearer(manage_app, "hd"), bearer(manage_app, "root")
    seen: set[tuple[str, str]] = set()

    def ok(path: str, status: int, response: Any, method: str = "get") -> Any:
        check(spec, path, status, response, method)
        if status < 300:
            seen.add((path, method))
        return response

    one = "/api/v1/facilities/{facility_id}"
    me = ok("/api/v1/me", 200, client.get("/api/v1/me", headers=hd)).get_json()
    assert me["districts"] == [HAIDIAN]
    ok("/api/v1/me", 401, client.get("/api/v1/me"))
    ok("/api/v1/me", 401, client.get("/api/v1/me", headers={"Authorization": "Bearer wsl_nope"}))
    listing = ok(
        "/api/v1/manage/facilities",
        200,
        client.get("/api/v1/manage/facilities?kind=warm_station&status=open&stale=false", headers=hd),
    ).get_json()
    ok("/api/v1/manage/facilities", 400, client.get("/api/v1/manage/facilities?kind=spa", headers=hd))
    fid = listing["features"][0]["id"]
    url = f"/api/v1/facilities/{fid}"
    theirs = next(
        f["id"]
        for f in client.get("/api/v1/manage/facilities?kind=warm_station", headers=root).get_json()[
            "features"
        ]
        if f["properties"]["district"]["adcode"] == CHAOYANG
    )

    # PATCH: 200 with a new ETag, then the same If-Match is stale (412), none is 428.
    tag = client.get(url).headers["ETag"]
    validate_instance(spec, spec["components"]["headers"]["FacilityETag"]["schema"], tag)
    body = check_request(
        spec, one, "patch", {"name": "示例·改名驿站", "phone": "010-62345678", "reason": "sign"}
    )
    changed = ok(one, 200, client.patch(url, headers={**hd, "If-Match": tag}, json=body), "patch")
    assert changed.get_json()["properties"]["name"] == "示例·改名驿站"
    new_tag = changed.headers["ETag"]
    assert new_tag != tag
    stale = ok(one, 412, client.patch(url, headers={**hd, "If-Match": tag}, json=body), "patch")
    assert stale.headers["ETag"] == new_tag and stale.get_json()["current_version"] == 2
    ok(one, 428, client.patch(url, headers=hd, json=body), "patch")
    ok(one, 401, client.patch(url, headers={"If-Match": new_tag}, json=body), "patch")
    ok(one, 400, client.patch(url, headers={**hd, "If-Match": new_tag}, json={"colour": "red"}), "patch")
    with pytest.raises(AssertionError):  # the document refuses it too
        check_request(spec, one, "patch", {"colour": "red"})
    f = client.get(url).get_json()
    lon, lat = f["geometry"]["coordinates"]
    move = check_request(spec, one, "patch", {"lon": lon + 0.0005, "lat": lat, "datum": "gcj02"})
    ok(one, 200, client.patch(url, headers={**hd, "If-Match": new_tag}, json=move), "patch")
    other = f"/api/v1/facilities/{theirs}"
    their_tag = client.get(other).headers["ETag"]
    ok(one, 403, client.patch(other, headers={**hd, "If-Match": their_tag}, json=body), "patch")
    ok(
        one,
        404,
        client.patch("/api/v1/facilities/nope", headers={**hd, "If-Match": 'W/"nope-v1"'}, json=body),
        "patch",
    )

    # The session alternative: a write needs X-CSRFToken.
    session = manage_app.test_client()
    login(session, "hd")
    current = session.get(url).headers["ETag"]
    ok(one, 400, session.patch(url, headers={"If-Match": current}, json={"phone": "010-1"}), "patch")
    with_csrf = {"If-Match": current, "X-CSRFToken": page_csrf(session)}
    ok(one, 200, session.patch(url, headers=with_csrf, json={"phone": "010-62345679"}), "patch")

    # Status, verify, history, restore.
    status = "/api/v1/facilities/{facility_id}/status"
    until = (datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=3)).isoformat()
    closing = check_request(
        spec, status, "post", {"status": "temporarily_closed", "until": until, "reason": "维修"}
    )
    ok(status, 200, client.post(f"{url}/status", headers=hd, json=closing), "post")
    ok(status, 400, client.post(f"{url}/status", headers=hd, json={"status": "removed"}), "post")
    ok(status, 403, client.post(f"{other}/status", headers=hd, json={"status": "open"}), "post")
    verify = "/api/v1/facilities/{facility_id}/verify"
    ok(verify, 200, client.post(f"{url}/verify", headers=hd), "post")
    ok(verify, 412, client.post(f"{url}/verify", headers={**hd, "If-Match": tag}), "post")
    history = "/api/v1/facilities/{facility_id}/history"
    entries = ok(history, 200, client.get(f"{url}/history", headers=hd)).get_json()["entries"]
    assert [e["actor"] for e in entries][-3:] == ["hd", "hd", "hd"]
    ok(history, 403, client.get(f"{other}/history", headers=hd))
    ok(history, 404, client.get("/api/v1/facilities/nope/history", headers=hd))
    restore = "/api/v1/facilities/{facility_id}/restore"
    back = check_request(spec, restore, "post", {"seq": entries[0]["seq"], "reason": "undo"})
    current = client.get(url).headers["ETag"]
    restored = ok(
        restore, 200, client.post(f"{url}/restore", headers={**hd, "If-Match": current}, json=back), "post"
    )
    assert restored.get_json()["properties"]["status"] == "open"
    ok(restore, 428, client.post(f"{url}/restore", headers=hd, json=back), "post")
    ok(
        restore,
        404,
        client.post(
            f"{url}/restore", headers={**hd, "If-Match": restored.headers["ETag"]}, json={"seq": 10**9}
        ),
        "post",
    )

    # Live override: "closed now until HH:MM" and back.
    live = "/api/v1/facilities/{facility_id}/live"
    closing_now = check_request(spec, live, "post", {"state": "closed", "until": "23:59", "reason": "停电"})
    stored = ok(live, 201, client.post(f"{url}/live", headers=hd, json=closing_now), "post").get_json()
    assert stored["live"]["state"] == "closed_by_manager"
    check(spec, one, 200, client.get(url))  # the facility, with its live block
    ok(live, 400, client.post(f"{url}/live", headers=hd, json={"state": "closed"}), "post")
    ok(live, 403, client.post(f"{other}/live", headers=hd, json={"state": "open"}), "post")
    ok(live, 404, client.post("/api/v1/facilities/nope/live", headers=hd, json={"state": "open"}), "post")
    ok(live, 201, client.post(f"{url}/live", headers=hd, json={"state": "cleared"}), "post")

    # Create: 201 with Location and ETag; a taken id is 409; no datum is 400.
    new = check_request(
        spec,
        "/api/v1/facilities",
        "post",
        {
            "kind": "warm_station",
            "name": "示例·新驿站",
            "lon": lon + 0.003,
            "lat": lat,
            "datum": "wgs84",
            "amenities": ["heating"],
            "opening_hours": "Mo-Su 08:00-20:00",
            "reason": "new",
        },
    )
    created = ok("/api/v1/facilities", 201, client.post("/api/v1/facilities", headers=hd, json=new), "post")
    assert created.headers["Location"] == f"/api/v1/facilities/{created.get_json()['id']}"
    taken = {**new, "id": fid}
    ok("/api/v1/facilities", 409, client.post("/api/v1/facilities", headers=hd, json=taken), "post")
    no_datum = {k: v for k, v in new.items() if k != "datum"}
    ok("/api/v1/facilities", 400, client.post("/api/v1/facilities", headers=hd, json=no_datum), "post")

    # Rider reports: a problem from a rider is in the queue, resolved once.
    client.post(f"{url}/feedback", json={"verdict": "problem", "reason": "closed", "comment": "锁门"})
    reports = ok("/api/v1/manage/reports", 200, client.get("/api/v1/manage/reports", headers=hd)).get_json()
    (report,) = [r for r in reports["reports"] if r["facility_id"] == fid]
    resolve = "/api/v1/manage/reports/{report_id}/resolve"
    done = check_request(
        spec, resolve, "post", {"resolution": "resolved", "action": "verified", "note": "ok"}
    )
    rurl = f"/api/v1/manage/reports/{report['id']}/resolve"
    assert (
        ok(resolve, 200, client.post(rurl, headers=hd, json=done), "post").get_json()["status"] == "resolved"
    )
    ok(resolve, 409, client.post(rurl, headers=hd, json=done), "post")
    ok(resolve, 404, client.post("/api/v1/manage/reports/999999/resolve", headers=hd, json=done), "post")
    ok("/api/v1/manage/reports", 200, client.get("/api/v1/manage/reports?handled=true", headers=hd))

    # Delete: admins only, with If-Match.
    cid = created.get_json()["id"]
    ctag = client.get(f"/api/v1/facilities/{cid}").headers["ETag"]
    curl = f"/api/v1/facilities/{cid}"
    ok(one, 403, client.delete(curl, headers={**hd, "If-Match": ctag}), "delete")
    ok(one, 428, client.delete(curl, headers=root), "delete")
    ok(one, 204, client.delete(f"{curl}?reason=duplicate", headers={**root, "If-Match": ctag}), "delete")

    documented = {
        (p, m)
        for p, item in spec["paths"].items()
        for m, op in item.items()
        if op.get("tags") == ["management"]
    }
    assert documented <= seen, sorted(documented - seen)


def test_ogc_errors_follow_the_negotiated_encoding_as_documented(
    demo_client: FlaskClient, spec: dict[str, Any]
) -> None:
    """The finding "OGC errors in HTML when f=html": the document now says so, and it is so."""
    items = "/ogc/collections/{collection_id}/items"
    documented = deref(spec, spec["paths"][items]["get"]["responses"]["400"])
    assert set(documented["content"]) == {"application/problem+json", "text/html"}
    as_json = demo_client.get("/ogc/collections/facilities/items?limit=0")
    check(spec, items, 400, as_json)
    assert as_json.mimetype == "application/problem+json" and as_json.get_json()["param"] == "limit"
    as_html = demo_client.get("/ogc/collections/facilities/items?limit=0&f=html")
    assert as_html.status_code == 400 and as_html.mimetype == "text/html"
    browser = demo_client.get("/ogc/collections/nope", headers={"Accept": "text/html"})
    assert browser.status_code == 404 and browser.mimetype in documented["content"]
    # The public JSON API never answers an error in HTML.
    api = demo_client.get("/api/v1/nearest?lon=x&lat=1&f=html", headers={"Accept": "text/html"})
    assert api.status_code == 400 and api.mimetype == "application/problem+json"


def test_a_failed_precondition_on_a_get_is_a_documented_412(
    demo_client: FlaskClient, spec: dict[str, Any]
) -> None:
    """A GET whose If-Match fails (the caching hook): a 412 problem, not the representation."""
    for path, url in (
        ("/api/v1/facilities", "/api/v1/facilities?limit=1"),
        ("/ogc/conformance", "/ogc/conformance"),
        ("/api/v1/nearest", "/api/v1/nearest?lon=116.3376&lat=39.9925&limit=1"),
    ):
        r = demo_client.get(url, headers={"If-Match": '"not-this-one"'})
        check(spec, path, 412, r)
        assert r.mimetype == "application/problem+json" and r.get_json()["status"] == 412
        assert "features" not in r.get_json() and r.headers["ETag"]
        current = demo_client.get(url).headers["ETag"]
        if not current.startswith("W/"):  # a strong ETag matches If-Match (a weak one never does)
            assert demo_client.get(url, headers={"If-Match": current}).status_code == 200
