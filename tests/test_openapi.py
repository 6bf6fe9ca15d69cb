"""The OpenAPI 3.1 document: valid, complete, and true of the real responses."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from locator.public import openapi_doc

from .conftest import make_app

SPEC_URI = "urn:locator:openapi"
JSON = "application/json"
DOCUMENTED_BLUEPRINTS = {"api", "sync", "ogc", "apidocs", "embed"}


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


def test_every_public_route_is_documented(app: Flask, spec: dict[str, Any]) -> None:
    routes = set()
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.split(".", 1)[0]
        if blueprint in DOCUMENTED_BLUEPRINTS and "GET" in (rule.methods or ()):
            routes.add(re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule))
    assert routes  # the app has public routes
    missing = routes - set(spec["paths"])
    assert not missing
    for name in (
        "/api/v1/nearest",
        "/api/v1/facilities",
        "/api/v1/export.geojson",
        "/ogc/collections/{collection_id}/items",
    ):
        assert name in spec["paths"]


def test_management_section_is_reserved_and_merged(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = openapi_doc.build_openapi()
    assert "management" in {t["name"] for t in doc["tags"]}
    extra = {
        "/api/v1/manage/ping": {
            "get": {"tags": ["management"], "summary": "x", "responses": {"200": {"description": "ok"}}}
        }
    }
    monkeypatch.setattr(openapi_doc, "MANAGEMENT_PATHS", extra)
    doc = openapi_doc.build_openapi()
    assert doc["paths"]["/api/v1/manage/ping"] == extra["/api/v1/manage/ping"]
    validate(doc)


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
