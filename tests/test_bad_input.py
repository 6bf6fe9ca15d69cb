"""Every bad input is a 4xx, never a 500, and writes nothing (issue #11, "Every bad input a 4xx").

* each JSON field of each write route, fed a value of a wrong JSON type: a 400
  problem+json naming the field, on both stores, with the facility unchanged;
* a non-string ``kind`` in create and edit;
* a report id of 2^63 and more (API and HTML): a 404;
* a GeoJSON feature with ``"geometry": null`` (the CLI import and the bulk upload): a row
  error, not a traceback or a 500;
* ``?stale=on`` and the one boolean vocabulary.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from locator.http.models import FALSE_WORDS, TRUE_WORDS

from .manage_support import HAIDIAN, accounts, login, make_user, manage_demo_app, page_csrf

PROBLEM = "application/problem+json"

#: One value of each JSON type.
SAMPLES: dict[str, Any] = {
    "string": "text",
    "number": 12.5,
    "integer": 7,
    "boolean": True,
    "array": ["x"],
    "object": {"a": 1},
    "null": None,
}


def json_types(spec: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    """The JSON types a (document) schema accepts; a ``$ref`` to a choice is a string."""
    if "$ref" in schema:
        target = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        return {"string"} if "enum" in target else json_types(spec, target)
    found: set[str] = set()
    for key in ("anyOf", "oneOf"):
        for branch in schema.get(key, ()):
            found |= json_types(spec, branch)
    kind = schema.get("type")
    if isinstance(kind, str):
        found.add(kind)
    elif isinstance(kind, list):
        found |= set(kind)
    if "const" in schema:
        found.add({str: "string", bool: "boolean"}.get(type(schema["const"]), "string"))
    if "number" in found:
        found.add("integer")  # an integer is a number
    return found


def wrong_values(spec: dict[str, Any], schema: dict[str, Any]) -> list[Any]:
    """Values of every JSON type the schema does not accept."""
    accepted = json_types(spec, schema)
    assert accepted, schema
    return [v for t, v in SAMPLES.items() if t not in accepted]


@pytest.fixture
def app(demo_app_factory: Callable[..., Flask]) -> Iterator[Flask]:
    application = manage_demo_app(
        demo_app_factory,
        LOCATOR_RATELIMIT_KEYLESS="100000 per minute",
        LOCATOR_FEEDBACK_RATE_LIMIT="100000 per minute",
    )
    make_user(application, "hd", "district_manager", districts=[HAIDIAN])
    make_user(application, "root", "admin")
    yield application


def bearer(app: Flask, name: str = "root") -> dict[str, str]:
    return {"Authorization": f"Bearer {accounts(app).create_token(name)[1]}"}


def a_haidian_facility(app: Flask) -> str:
    index = app.extensions["locator"].index
    return next(f.id for f in index.facilities() if f.district_adcode == HAIDIAN and f.status == "open")


#: Write routes: (method, path template, a valid body, needs If-Match).
WRITE_ROUTES = [
    ("post", "/api/v1/facilities/{facility_id}/feedback", {"verdict": "confirm"}, False),
    (
        "post",
        "/api/v1/facilities",
        {"kind": "warm_station", "name": "示例·新站", "lon": 116.3376, "lat": 39.9925, "datum": "wgs84"},
        False,
    ),
    ("patch", "/api/v1/facilities/{facility_id}", {"name": "示例·改名"}, True),
    ("post", "/api/v1/facilities/{facility_id}/status", {"status": "open"}, False),
    ("post", "/api/v1/facilities/{facility_id}/verify", {"reason": "checked"}, False),
    ("post", "/api/v1/facilities/{facility_id}/restore", {"seq": 1}, True),
    ("post", "/api/v1/manage/reports/{report_id}/resolve", {"resolution": "dismissed"}, False),
]


class TestEveryJsonFieldOfEveryWriteRoute:
    """Each JSON field of each write route, fed each wrong type: 400 naming it, nothing written."""

    @pytest.mark.parametrize(("method", "template", "valid", "if_match"), WRITE_ROUTES)
    def test_wrong_types_are_400_naming_the_field(
        self, app: Flask, method: str, template: str, valid: dict[str, Any], if_match: bool
    ) -> None:
        client = app.test_client()
        spec = client.get("/api/openapi.json").get_json()
        operation = spec["paths"][template][method]
        (media,) = [m for m in operation["requestBody"]["content"] if m == "application/json"]
        ref = operation["requestBody"]["content"][media]["schema"]["$ref"]
        body_schema = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
        fid = a_haidian_facility(app)
        url = template.format(facility_id=fid, report_id=1)
        store = app.extensions["locator"].store
        before = store.get(fid)
        revision = store.revision()
        auth = bearer(app)
        tried = 0
        for field, schema in body_schema["properties"].items():
            for value in wrong_values(spec, schema):
                headers = dict(auth)
                if if_match:
                    headers["If-Match"] = client.get(f"/api/v1/facilities/{fid}").headers["ETag"]
                resp = client.open(url, method=method.upper(), json={**valid, field: value}, headers=headers)
                assert resp.status_code == 400, (url, field, value, resp.status_code, resp.get_data()[:300])
                assert resp.mimetype == PROBLEM
                assert resp.get_json()["param"] == field, (url, field, value, resp.get_json())
                tried += 1
        assert tried >= len(body_schema["properties"])  # every field got at least one wrong type
        assert store.get(fid) == before and store.revision() == revision

    def test_wrong_item_types_in_lists(self, app: Flask) -> None:
        client = app.test_client()
        fid = a_haidian_facility(app)
        headers = {**bearer(app), "If-Match": client.get(f"/api/v1/facilities/{fid}").headers["ETag"]}
        for amenities in ([1, 2], [["toilet"]], [None], ["toilet", {"a": 1}]):
            resp = client.patch(f"/api/v1/facilities/{fid}", json={"amenities": amenities}, headers=headers)
            assert resp.status_code == 400 and resp.get_json()["param"] == "amenities", amenities


@pytest.mark.parametrize("kind", [["warm_station"], {"k": "warm_station"}, 3, True, None])
def test_a_non_string_kind_is_400_in_create_and_edit(app: Flask, kind: Any) -> None:
    client = app.test_client()
    auth = bearer(app, "hd")
    store = app.extensions["locator"].store
    count = store.count()
    new = {"kind": kind, "name": "示例·新站", "lon": 116.3376, "lat": 39.9925, "datum": "wgs84"}
    created = client.post("/api/v1/facilities", json=new, headers=auth)
    assert created.status_code == 400 and created.get_json()["param"] == "kind", created.get_json()
    assert store.count() == count
    fid = a_haidian_facility(app)
    before = store.get(fid)
    tag = client.get(f"/api/v1/facilities/{fid}").headers["ETag"]
    edited = client.patch(f"/api/v1/facilities/{fid}", json={"kind": kind}, headers={**auth, "If-Match": tag})
    assert edited.status_code == 400 and edited.get_json()["param"] == "kind", edited.get_json()
    assert store.get(fid) == before


@pytest.mark.parametrize("report_id", [2**63 - 1, 2**63, 2**64, 10**30])
def test_a_huge_report_id_is_404_on_the_api_and_the_page(app: Flask, report_id: int) -> None:
    client = app.test_client()
    api = client.post(
        f"/api/v1/manage/reports/{report_id}/resolve", json={"resolution": "dismissed"}, headers=bearer(app)
    )
    assert api.status_code == 404 and api.mimetype == PROBLEM, api.get_data()[:300]
    page = app.test_client()
    login(page, "root")
    html = page.post(
        f"/manage/reports/{report_id}/resolve",
        data={"csrf_token": page_csrf(page, "/manage/reports"), "resolution": "dismissed"},
    )
    # 2^63 - 1 is a valid id that names no report: the page says so (303 back with a message);
    # larger ids name no route: a 404 page.
    assert html.status_code in {303, 404}, html.status_code
    if report_id >= 2**63:
        assert html.status_code == 404 and html.mimetype == "text/html"


@pytest.mark.parametrize("field", ["version", "seq"])
def test_a_huge_form_number_is_400_on_the_pages(app: Flask, field: str) -> None:
    fid = a_haidian_facility(app)
    page = app.test_client()
    login(page, "root")
    form = {"csrf_token": page_csrf(page), "seq": "1", "version": "1", field: str(2**70)}
    resp = page.post(f"/manage/f/{fid}/restore", data=form)
    assert resp.status_code == 400, resp.status_code


NULL_GEOMETRY = {
    "type": "FeatureCollection",
    "features": [
        {"type": "Feature", "geometry": None, "properties": {"kind": "warm_station", "name": "示例·无位置"}},
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [116.3376, 39.9925]},
            "properties": {"kind": "warm_station", "name": "示例·有位置"},
        },
    ],
}


def test_geometry_null_in_the_cli_import_is_a_row_error(app: Flask, tmp_path: Path) -> None:
    path = tmp_path / "null.geojson"
    path.write_text(json.dumps(NULL_GEOMETRY, ensure_ascii=False), encoding="utf-8")
    store = app.extensions["locator"].store
    count = store.count()
    result = app.test_cli_runner().invoke(args=["locator", "import", str(path), "--datum", "wgs84"])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert "row 1:" in result.output and "row 2:" not in result.output
    assert store.count() == count  # all or nothing


def test_geometry_null_in_a_bulk_upload_is_a_row_error(app: Flask) -> None:
    client = app.test_client()
    login(client, "hd")
    resp = client.post(
        "/manage/bulk/dry-run",
        data={
            "csrf_token": page_csrf(client, "/manage/bulk"),
            "datum": "wgs84",
            "file": (io.BytesIO(json.dumps(NULL_GEOMETRY).encode()), "null.geojson"),
        },
        content_type="multipart/form-data",
    )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200, html[:500]
    assert "有错误1个" in html and 'name="upload"' not in html  # the bad row, and no apply


def test_stale_on_is_true(app: Flask) -> None:
    client = app.test_client()
    auth = bearer(app)
    everything = client.get("/api/v1/manage/facilities", headers=auth).get_json()["numberMatched"]
    counts = {}
    for word in sorted(TRUE_WORDS | FALSE_WORDS | {"ON", "Off", "Yes"}):
        r = client.get(f"/api/v1/manage/facilities?stale={word}", headers=auth)
        assert r.status_code == 200, word
        counts[word] = r.get_json()["numberMatched"]
    stale = counts["on"]
    assert stale < everything  # the demo layer has verified facilities too
    assert {counts[w] for w in TRUE_WORDS | {"ON", "Yes"}} == {stale}
    assert {counts[w] for w in FALSE_WORDS | {"Off"}} == {everything}
    bad = client.get("/api/v1/manage/facilities?stale=maybe", headers=auth)
    assert bad.status_code == 400 and bad.get_json()["param"] == "stale"


@pytest.mark.parametrize(
    ("url", "param"),
    [
        ("/api/v1/nearest?lon=116.3&lat=39.9&open_now=si", "open_now"),
        ("/api/v1/manage/reports?handled=2", "handled"),
        ("/api/v1/manage/facilities?reports=y", "reports"),
        ("/embed/map?open_now=nope", "open_now"),
    ],
)
def test_one_boolean_vocabulary_everywhere(app: Flask, url: str, param: str) -> None:
    client: FlaskClient = app.test_client()
    r = client.get(url, headers={**bearer(app), "Accept": "application/json"})
    assert r.status_code == 400 and r.get_json()["param"] == param
    ok = client.get(url.rsplit("=", 1)[0] + "=on", headers=bearer(app))
    assert ok.status_code == 200
