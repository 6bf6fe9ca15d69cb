"""OGC API – Features (Part 1 Core, GeoJSON, HTML) against a live server, read by real clients.

OWSLib (``owslib.ogcapi.features.Features``) and GDAL's OAPIF driver (through pyogrio) are
the clients; the expected answers are computed independently from the demo layer.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from locator.services.facilities import LocatorService

from .conftest import LiveServer, make_app

# Around Wudaokou / Zhongguancun (WGS-84).
BBOX = (116.30, 39.97, 116.36, 40.01)
CONFORMANCE_CORE = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"


@pytest.fixture
def ogc_app(tmp_path: Path, demo_db: Path) -> Iterator[Flask]:
    path = tmp_path / "demo.sqlite3"
    shutil.copy(demo_db, path)
    # GIS clients page in many small requests: a generous keyless allowance for the tests.
    app = make_app(path, LOCATOR_RATELIMIT_KEYLESS="100000 per minute")
    yield app
    app.extensions["locator"].store.close()


@pytest.fixture
def ogc_server(ogc_app: Flask) -> Iterator[LiveServer]:
    server = LiveServer(ogc_app)
    yield server
    server.stop()


@pytest.fixture
def ogc_client(ogc_app: Flask) -> FlaskClient:
    return ogc_app.test_client()


def expected_ids(app: Flask, bbox=None, kinds=None, statuses=("open", "temporarily_closed")) -> list[str]:  # type: ignore[no-untyped-def]
    svc: LocatorService = app.extensions["locator"]
    out = []
    for f in svc.store.all():
        if bbox and not (bbox[0] <= f.lon <= bbox[2] and bbox[1] <= f.lat <= bbox[3]):
            continue
        if kinds and f.kind not in kinds:
            continue
        if f.status not in statuses:
            continue
        out.append(f.id)
    return sorted(out)


def test_owslib_lists_collections_and_conformance(ogc_server: LiveServer) -> None:
    from owslib.ogcapi.features import Features

    api = Features(ogc_server.url + "/ogc")
    assert sorted(api.feature_collections()) == ["facilities", "nursing_room", "union_home", "warm_station"]
    assert CONFORMANCE_CORE in api.conformance()["conformsTo"]
    coll = api.collection("warm_station")
    assert coll["itemType"] == "feature"
    x0, y0, x1, y1 = coll["extent"]["spatial"]["bbox"][0]
    assert 115.4 < x0 < x1 < 117.6 and 39.4 < y0 < y1 < 41.1  # Beijing
    rels = {link["rel"] for link in api.links}
    assert {"self", "conformance", "data", "service-desc", "service-doc"} <= rels


def test_owslib_reads_items_in_a_bbox_and_pages_via_next(ogc_server: LiveServer, ogc_app: Flask) -> None:
    from owslib.ogcapi.features import Features

    api = Features(ogc_server.url + "/ogc")
    want = expected_ids(ogc_app, BBOX, {"warm_station"})
    assert 25 < len(want) < 1000  # enough for several pages
    first = api.collection_items("warm_station", bbox=list(BBOX), limit=10)
    assert first["numberMatched"] == len(want)
    assert first["numberReturned"] == 10 == len(first["features"])
    seen = [f["id"] for f in first["features"]]
    page, pages, url = first, 1, ogc_server.url + "/ogc/collections/warm_station/items"
    while True:
        nxt = [link["href"] for link in page["links"] if link["rel"] == "next"]
        if not nxt:
            break
        url = urljoin(url, nxt[0])  # links are site-relative unless LOCATOR_PUBLIC_URL is set (RFC 3986)
        r = requests.get(url, timeout=10)
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/geo+json")
        page = r.json()
        seen += [f["id"] for f in page["features"]]
        pages += 1
    assert seen == want  # every item once, in id order
    assert pages == -(-len(want) // 10)
    for f in first["features"]:
        lon, lat = f["geometry"]["coordinates"]
        assert BBOX[0] <= lon <= BBOX[2] and BBOX[1] <= lat <= BBOX[3]
        assert f["properties"]["kind"] == "warm_station"
    one = api.collection_item("warm_station", want[0])
    assert one["id"] == want[0] and one["type"] == "Feature"


GDAL_READ = """
import json, sys
import pyogrio
source, bbox = sys.argv[1], tuple(float(v) for v in sys.argv[2].split(","))
layers = sorted(name for name, _ in pyogrio.list_layers(source))
df = pyogrio.read_dataframe(source, layer="warm_station", bbox=bbox)
print(json.dumps({"layers": layers, "ids": sorted(df["id"]), "crs": str(df.crs)}))
"""


def test_gdal_reads_the_api_as_a_vector_source(ogc_server: LiveServer, ogc_app: Flask) -> None:
    # GDAL's OAPIF driver, as QGIS and ogrinfo use it; in a subprocess so a stuck read
    # fails the test instead of hanging it.
    pyogrio = pytest.importorskip("pyogrio")
    assert "OAPIF" in pyogrio.list_drivers()
    source = f"OAPIF:{ogc_server.url}/ogc"
    run = subprocess.run(
        [sys.executable, "-c", GDAL_READ, source, ",".join(map(str, BBOX))],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["layers"] == ["facilities", "nursing_room", "union_home", "warm_station"]
    assert out["ids"] == expected_ids(ogc_app, BBOX, {"warm_station"})
    assert "4326" in out["crs"] or "CRS84" in out["crs"]


def test_media_types_and_negotiation(ogc_client: FlaskClient) -> None:
    r = ogc_client.get("/ogc/")
    assert r.mimetype == "application/json"
    r = ogc_client.get("/ogc", headers={"Accept": "*/*"})
    assert r.status_code == 200 and r.mimetype == "application/json"
    r = ogc_client.get("/ogc/collections/facilities/items")
    assert r.mimetype == "application/geo+json"
    assert r.headers["Content-Crs"] == "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    r = ogc_client.get("/ogc/collections/facilities/items", headers={"Accept": browser})
    assert r.mimetype == "text/html"
    assert r.headers["Vary"] and "Accept" in r.headers["Vary"]
    r = ogc_client.get("/ogc/collections/facilities/items?f=json", headers={"Accept": browser})
    assert r.mimetype == "application/geo+json"
    r = ogc_client.get("/ogc/conformance?f=html")
    assert r.mimetype == "text/html" and CONFORMANCE_CORE.encode() in r.data
    r = ogc_client.get("/ogc/collections/warm_station/items?f=html&limit=3&lang=en")
    html = r.get_data(as_text=True)
    assert html.count('data-feature-id="') == 3 and 'rel="next"' in html


def test_numbers_links_and_offset(ogc_client: FlaskClient, ogc_app: Flask) -> None:
    all_ids = expected_ids(ogc_app)
    body = ogc_client.get("/ogc/collections/facilities/items?offset=20&limit=7").get_json()
    assert body["numberMatched"] == len(all_ids)
    assert [f["id"] for f in body["features"]] == all_ids[20:27]
    rels = {link["rel"]: link["href"] for link in body["links"]}
    assert "offset=27" in rels["next"] and "offset=13" in rels["prev"]
    assert {"self", "alternate", "collection"} <= set(rels)
    last = ogc_client.get(f"/ogc/collections/facilities/items?offset={len(all_ids) - 2}&limit=7").get_json()
    assert last["numberReturned"] == 2 and "next" not in {link["rel"] for link in last["links"]}
    empty = ogc_client.get(f"/ogc/collections/facilities/items?offset={len(all_ids) + 5}").get_json()
    assert empty["features"] == [] and empty["numberMatched"] == len(all_ids)


def test_limit_default_and_maximum(ogc_client: FlaskClient) -> None:
    assert ogc_client.get("/ogc/collections/facilities/items").get_json()["numberReturned"] == 10
    big = ogc_client.get("/ogc/collections/facilities/items?limit=5000").get_json()
    assert big["numberReturned"] == 1000  # served as the maximum, as OGC recommends
    assert any("limit=1000" in link["href"] for link in big["links"] if link["rel"] == "next")


def test_property_filters(ogc_client: FlaskClient, ogc_app: Flask) -> None:
    svc: LocatorService = ogc_app.extensions["locator"]
    every = svc.store.all()
    body = ogc_client.get(
        "/ogc/collections/facilities/items?kind=nursing_room&district=110108&limit=1000"
    ).get_json()
    want = sorted(
        f.id
        for f in every
        if f.kind == "nursing_room" and f.district_adcode == "110108" and f.status != "removed"
    )
    assert [f["id"] for f in body["features"]] == want and want
    by_name = ogc_client.get("/ogc/collections/nursing_room/items?district=海淀区&limit=1000").get_json()
    assert [f["id"] for f in by_name["features"]] == want
    body = ogc_client.get("/ogc/collections/facilities/items?amenity=wifi,toilet&limit=1000").get_json()
    assert body["numberMatched"] == sum(
        1 for f in every if {"wifi", "toilet"} <= f.amenities and f.status != "removed"
    )
    closed = ogc_client.get(
        "/ogc/collections/facilities/items?status=temporarily_closed&limit=1000"
    ).get_json()
    assert {f["properties"]["status"] for f in closed["features"]} <= {"temporarily_closed"}
    assert closed["numberMatched"] == sum(1 for f in every if f.status == "temporarily_closed")


def test_removed_facilities_only_when_asked(ogc_client: FlaskClient, ogc_app: Flask) -> None:
    svc: LocatorService = ogc_app.extensions["locator"]
    victim = expected_ids(ogc_app)[0]
    f = svc.store.get(victim)
    svc.update(victim, {"status": "removed"}, expected_version=f.version)
    default = ogc_client.get("/ogc/collections/facilities/items?limit=1000").get_json()
    assert victim not in {x["id"] for x in default["features"]}
    removed = ogc_client.get("/ogc/collections/facilities/items?status=removed").get_json()
    assert [x["id"] for x in removed["features"]] == [victim]
    # The single item is always readable, with its status.
    item = ogc_client.get(f"/ogc/collections/facilities/items/{victim}").get_json()
    assert item["properties"]["status"] == "removed"


def test_datetime_changed_since(ogc_client: FlaskClient, ogc_app: Flask) -> None:
    svc: LocatorService = ogc_app.extensions["locator"]
    ids = expected_ids(ogc_app)
    f = svc.store.get(ids[3])
    changed = svc.update(f.id, {"name": "改过的名字"}, expected_version=f.version)
    assert changed.updated_at is not None
    stamp = changed.updated_at.isoformat().replace("+00:00", "Z")
    body = ogc_client.get(f"/ogc/collections/facilities/items?datetime={stamp}/..").get_json()
    assert [x["id"] for x in body["features"]] == [f.id]  # start is inclusive
    assert ogc_client.get("/ogc/collections/facilities/items?datetime=../..").get_json()[
        "numberMatched"
    ] == len(ids)


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("bbox=1,2,3", "bbox"),
        ("bbox=a,b,c,d", "bbox"),
        ("bbox=116,39,116.5", "bbox"),
        ("bbox=116.5,39,116,40", "bbox"),
        ("bbox=116,40,116.5,39", "bbox"),
        ("bbox=116,39,0,116.5,40,10", "bbox"),
        ("bbox=116,39,181,40", "bbox"),
        ("bbox=nan,39,116,40", "bbox"),
        ("bbox=116,39,116.5,40&bbox-crs=EPSG:4326", "bbox-crs"),
        ("crs=http://www.opengis.net/def/crs/EPSG/0/3857", "crs"),
        ("limit=0", "limit"),
        ("limit=-5", "limit"),
        ("limit=ten", "limit"),
        ("limit=2.5", "limit"),
        ("offset=-1", "offset"),
        ("offset=x", "offset"),
        ("status=gone", "status"),
        ("amenity=jacuzzi", "amenity"),
        ("district=999999", "district"),
        ("kind=cafe", "kind"),
        ("datetime=2026-01-01T00:00:00Z", "datetime"),
        ("datetime=../2026-01-01T00:00:00Z", "datetime"),
        ("datetime=2026-01-01T00:00:00Z/2026-02-01T00:00:00Z", "datetime"),
        ("datetime=yesterday/..", "datetime"),
        ("f=xml", "f"),
        ("colour=red", "colour"),
    ],
)
def test_bad_item_queries_are_400_problems(ogc_client: FlaskClient, query: str, param: str) -> None:
    r = ogc_client.get(f"/ogc/collections/facilities/items?{query}")
    assert r.status_code == 400
    assert r.mimetype == "application/problem+json"
    assert r.get_json()["param"] == param


def test_kind_is_not_a_parameter_of_a_kind_collection(ogc_client: FlaskClient) -> None:
    r = ogc_client.get("/ogc/collections/warm_station/items?kind=union_home")
    assert r.status_code == 400 and r.get_json()["param"] == "kind"


def test_not_found(ogc_client: FlaskClient, ogc_app: Flask) -> None:
    r = ogc_client.get("/ogc/collections/cafes")
    assert r.status_code == 404 and r.mimetype == "application/problem+json"
    assert ogc_client.get("/ogc/collections/cafes/items").status_code == 404
    assert ogc_client.get("/ogc/collections/facilities/items/no-such-id").status_code == 404
    nursing = expected_ids(ogc_app, kinds={"nursing_room"})[0]
    assert ogc_client.get(f"/ogc/collections/nursing_room/items/{nursing}").status_code == 200
    assert ogc_client.get(f"/ogc/collections/warm_station/items/{nursing}").status_code == 404
    page = ogc_client.get("/ogc/collections/cafes?f=html")
    assert page.status_code == 404 and page.mimetype == "text/html"


def test_html_escapes_data(ogc_client: FlaskClient, ogc_app: Flask) -> None:
    svc: LocatorService = ogc_app.extensions["locator"]
    fid = expected_ids(ogc_app)[0]
    f = svc.store.get(fid)
    svc.update(
        fid,
        {"name": "<img src=x onerror=alert(1)>", "address": "<script>x()</script>"},
        expected_version=f.version,
    )
    for url in (
        f"/ogc/collections/facilities/items/{fid}?f=html",
        "/ogc/collections/facilities/items?f=html",
    ):
        html = ogc_client.get(url).get_data(as_text=True)
        assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
        assert "<script>x()" not in html
