"""OGC API – Features, Part 1: Core, with GeoJSON and HTML encodings, under ``/ogc``.

So that GIS tools read the data with standard clients (QGIS, GDAL/OGR ``OAPIF:``,
OWSLib): landing page ``/ogc/``, ``/ogc/conformance``, ``/ogc/collections`` (one
collection per facility kind plus ``facilities`` for all), ``/ogc/collections/{id}``,
``/ogc/collections/{id}/items`` and ``/ogc/collections/{id}/items/{featureId}``.

Items
-----
* ``bbox=minLon,minLat,maxLon,maxLat`` (WGS-84 / CRS84, edges inclusive; ``bbox-crs``
  and ``crs``, from Part 2, may only name CRS84 — GDAL sends them). A 6-number (3-D)
  box or one crossing the antimeridian is a 400. GeoJSON answers carry
  ``Content-Crs: <…CRS84>``.
* ``limit`` 1–1000, default 10; a larger value is served as 1000 (as the standard
  recommends), a non-integer or a value below 1 is a 400. ``offset`` >= 0.
* ``datetime`` filters on ``updated_at``: ``start/..`` (or ``start/``) keeps facilities
  changed at or after ``start``; ``..`` keeps all. Intervals with an end and single
  instants are a 400 (the store filters on "changed since" only).
* Property filters: ``status`` (comma-separated; default ``open,temporarily_closed`` —
  removed facilities only when asked for), ``amenity`` (comma-separated, all required),
  ``district`` (adcode such as ``110108`` or name such as ``海淀区``, comma-separated),
  and ``kind`` on the ``facilities`` collection. Any other parameter is a 400.
* Responses carry ``numberMatched``, ``numberReturned`` and ``self``/``alternate``/
  ``collection``/``next``/``prev`` links; features are in id order. Items are read
  from the store.

Encodings: ``f=json`` (``application/geo+json`` for features, ``application/json``
otherwise) or ``f=html``; without ``f``, the ``Accept`` header decides and JSON is the
default (``*/*`` gets JSON; a browser gets HTML).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, json, render_template, request

from locator.core.domain import AMENITIES, KINDS, STATUSES, Facility, Label
from locator.errors import Msg, NotFoundError, ValidationError
from locator.formats.serialize import facility_feature
from locator.http.i18n import locale
from locator.http.models import (
    CRS84,
    OGC_LIMIT_MAX,
    CollectionPath,
    FeaturePath,
    OgcItemParams,
    OgcItemsParams,
    OgcParams,
    known_facility_id,
    parse_instant,
)
from locator.http.operations import ok, operation, public_get, query
from locator.http.schemas import Collection as CollectionDoc
from locator.http.schemas import Collections, ConfClasses, FeatureCollection, LandingPage
from locator.http.schemas import Facility as FacilityDoc
from locator.http.state import live, service
from locator.http.urls import link
from locator.services.publishing import extent, feature_page
from locator.stores.contract import ListFilter

bp = Blueprint("ogc", __name__, url_prefix="/ogc")

GEOJSON = "application/geo+json"
JSON = "application/json"
HTML = "text/html"
OPENAPI = "application/vnd.oai.openapi+json;version=3.1"
CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
)
DEFAULT_STATUSES = frozenset({"open", "temporarily_closed"})


@dataclass(frozen=True, slots=True)
class Collection:
    """One feature collection: its id, the kinds it holds (None: all), title, description."""

    id: str
    kinds: frozenset[str] | None
    title: Label
    description: Label


def collections() -> dict[str, Collection]:
    """The collections in display order: ``facilities`` first, then one per kind."""
    out = {
        "facilities": Collection(
            "facilities",
            None,
            Label("全部站点", "All facilities"),
            Label(
                "户外劳动者暖心驿站、职工之家和母婴关爱室（含示例数据）",
                "Warm stations, union homes and nursing rooms (demo data included)",
            ),
        )
    }
    for key, label in KINDS.items():
        out[key] = Collection(
            key,
            frozenset({key}),
            label,
            Label(f"{label.zh}（含示例数据）", f"{label.en} (demo data included)"),
        )
    return out


def _collection(collection_id: str) -> Collection:
    found = collections().get(collection_id)
    if found is None:
        raise NotFoundError(Msg("no collection %(id)r", id=collection_id), param="collectionId")
    return found


def negotiate(params: OgcParams) -> str:
    """``json`` or ``html`` from ``f`` (already validated), else from ``Accept`` (JSON by default)."""
    if params.f is not None:
        return params.f
    best = request.accept_mimetypes.best_match([JSON, GEOJSON, HTML], default=JSON)
    return "html" if best == HTML else "json"


def _link(href: str, rel: str, type_: str, title: str | None = None) -> dict[str, str]:
    out = {"href": href, "rel": rel, "type": type_}
    if title:
        out["title"] = title
    return out


def _url(endpoint: str, args: Mapping[str, str] | None = None, **values: Any) -> str:
    base = link(endpoint, **values)
    return base + ("?" + urlencode(dict(args)) if args else "")


def _self_links(
    endpoint: str, fmt: str, json_type: str, args: Mapping[str, str] | None = None, **values: Any
) -> list[dict[str, str]]:
    kept = {k: v for k, v in (args or {}).items() if k != "f"}
    as_json = _link(
        _url(endpoint, {**kept, "f": "json"}, **values), "self", json_type, "This document as JSON"
    )
    as_html = _link(_url(endpoint, {**kept, "f": "html"}, **values), "self", HTML, "This document as HTML")
    if fmt == "html":
        as_json["rel"] = "alternate"
        return [as_html, as_json]
    as_html["rel"] = "alternate"
    return [as_json, as_html]


def _respond(body: dict[str, Any], fmt: str, json_type: str, page: str, **context: Any) -> Response:
    if fmt == "html":
        html = render_template("ogc.html", page=page, body=body, **context)
        return Response(html, mimetype=HTML)
    resp = Response(json.dumps(body, ensure_ascii=False), mimetype=json_type)
    if json_type == GEOJSON:
        resp.headers["Content-Crs"] = f"<{CRS84}>"
    return resp


def _collection_json(c: Collection) -> dict[str, Any]:
    loc = locale()
    box = extent(service().index, None if c.kinds is None else next(iter(c.kinds)))
    body: dict[str, Any] = {
        "id": c.id,
        "title": c.title.get(loc),
        "description": c.description.get(loc),
        "itemType": "feature",
        "crs": [CRS84],
        "storageCrs": CRS84,
        "links": [
            _link(
                _url("ogc.collection", {"f": "json"}, collection_id=c.id), "self", JSON, "Collection as JSON"
            ),
            _link(
                _url("ogc.collection", {"f": "html"}, collection_id=c.id),
                "alternate",
                HTML,
                "Collection as HTML",
            ),
            _link(_url("ogc.items", {"f": "json"}, collection_id=c.id), "items", GEOJSON, "Items as GeoJSON"),
            _link(_url("ogc.items", {"f": "html"}, collection_id=c.id), "items", HTML, "Items as HTML"),
        ],
    }
    if box is not None:
        body["extent"] = {"spatial": {"bbox": [[round(v, 7) for v in box]], "crs": CRS84}}
    return body


_NOT_FOUND = "No such collection or feature."


@bp.get("", endpoint="landing")
@bp.get("/", endpoint="landing_slash")
@operation(
    "OGC API landing page",
    tags=("ogc",),
    query=OgcParams,
    responses=public_get(ok(LandingPage, "Landing page.", JSON, html=True), html=True),
)
def landing() -> Response:
    """The landing page: what this is and where everything is."""
    fmt = negotiate(query(OgcParams))
    body = {
        "title": "Warm-station locator — OGC API – Features",
        "description": (
            "北京户外劳动者暖心驿站、职工之家、母婴关爱室（示例数据） / Beijing warm stations, union "
            "homes and nursing rooms for outdoor workers (DEMO data: not real stations)."
        ),
        "links": [
            *_self_links("ogc.landing_slash", fmt, JSON),
            _link(link("apidocs.openapi"), "service-desc", OPENAPI, "OpenAPI 3.1 document"),
            _link(link("apidocs.docs"), "service-doc", HTML, "API documentation"),
            _link(_url("ogc.conformance", {"f": "json"}), "conformance", JSON, "Conformance classes"),
            _link(_url("ogc.collections_list", {"f": "json"}), "data", JSON, "Collections"),
        ],
    }
    return _respond(body, fmt, JSON, "landing")


@bp.get("/conformance")
@operation(
    "Conformance classes",
    tags=("ogc",),
    query=OgcParams,
    responses=public_get(ok(ConfClasses, "Conformance.", JSON, html=True), html=True),
)
def conformance() -> Response:
    """The conformance classes implemented."""
    fmt = negotiate(query(OgcParams))
    body = {"conformsTo": list(CONFORMANCE), "links": _self_links("ogc.conformance", fmt, JSON)}
    return _respond(body, fmt, JSON, "conformance")


@bp.get("/collections", endpoint="collections_list")
@operation(
    "Feature collections",
    tags=("ogc",),
    query=OgcParams,
    responses=public_get(ok(Collections, "Collections.", JSON, html=True), html=True),
)
def collections_list() -> Response:
    """Every collection."""
    fmt = negotiate(query(OgcParams))
    body = {
        "links": _self_links("ogc.collections_list", fmt, JSON),
        "collections": [_collection_json(c) for c in collections().values()],
    }
    return _respond(body, fmt, JSON, "collections")


@bp.get("/collections/<collection_id>")
@operation(
    "One collection",
    tags=("ogc",),
    path=CollectionPath,
    query=OgcParams,
    responses=public_get(ok(CollectionDoc, "Collection.", JSON, html=True), html=True, not_found=_NOT_FOUND),
)
def collection(collection_id: str) -> Response:
    """One collection's description."""
    c = _collection(collection_id)
    fmt = negotiate(query(OgcParams))
    return _respond(_collection_json(c), fmt, JSON, "collection")


def parse_bbox(raw: str | None) -> tuple[float, float, float, float] | None:
    """``bbox`` as ``(min_lon, min_lat, max_lon, max_lat)`` in WGS-84 degrees, or None.

    Raises
    ------
    ValidationError
        Not 4 finite numbers, out of range, or min > max.
    """
    if raw is None:
        return None
    parts = [p.strip() for p in raw.split(",")]
    if len(parts) == 6:
        raise ValidationError(Msg("3-D bbox (6 numbers) is not supported; give 4 numbers"), param="bbox")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ValidationError(
            Msg("bbox must be 4 numbers: minLon,minLat,maxLon,maxLat"), param="bbox"
        ) from None
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise ValidationError(Msg("bbox must be 4 finite numbers: minLon,minLat,maxLon,maxLat"), param="bbox")
    x0, y0, x1, y1 = values
    if not (-180 <= x0 <= 180 and -180 <= x1 <= 180 and -90 <= y0 <= 90 and -90 <= y1 <= 90):
        raise ValidationError(Msg("bbox is out of range (longitude ±180, latitude ±90)"), param="bbox")
    if y0 > y1:
        raise ValidationError(Msg("bbox: minLat is greater than maxLat"), param="bbox")
    if x0 > x1:
        raise ValidationError(
            Msg("bbox crossing the antimeridian (minLon > maxLon) is not supported"), param="bbox"
        )
    return x0, y0, x1, y1


def parse_datetime(raw: str | None) -> datetime | None:
    """``datetime`` as the "changed since" instant for the store, or None.

    Raises
    ------
    ValidationError
        For intervals with an end, single instants, or bad timestamps.
    """
    raw = (raw or "").strip()
    if raw in {"", "..", "../.."}:
        return None
    start, sep, end = raw.partition("/")
    if not sep or end not in {"", ".."} or start in {"", ".."}:
        raise ValidationError(
            Msg(
                "datetime: only open-ended intervals 'start/..' are supported (features changed at or "
                "after start, by updated_at)"
            ),
            param="datetime",
        )
    try:
        at = parse_instant(start)
        # The store keeps updated_at > since; the interval's start is inclusive.
        return at - timedelta(microseconds=1)
    except (ValueError, OverflowError):
        raise ValidationError(
            Msg("%(name)s must be an ISO 8601 instant", name="datetime"), param="datetime"
        ) from None


def parse_districts(raw: str | None) -> frozenset[str] | None:
    """``district`` as a set of adcodes; each item is an adcode or a district name.

    Raises
    ------
    ValidationError
        For an unknown district.
    """
    raw = (raw or "").strip()
    if not raw:
        return None
    areas = service().districts.areas
    by_name = {a.name: a.code for a in areas} | {a.name_en.lower(): a.code for a in areas if a.name_en}
    codes = {a.code for a in areas}
    out: set[str] = set()
    for item in (p.strip() for p in raw.split(",")):
        if not item:
            continue
        code = item if item in codes else by_name.get(item, by_name.get(item.lower()))
        if code is None:
            raise ValidationError(
                Msg("unknown district %(value)r (give an adcode or a name)", value=item), param="district"
            )
        out.add(code)
    return frozenset(out) or None


def _feature(f: Facility, now: datetime | None = None) -> dict[str, Any]:
    """One feature with ``open_now`` and the ``live`` door status at ``now`` (default: now).

    The live status comes from the worker's in-memory map (no query per feature); the
    body-hash ETag of these responses follows it.
    """
    at = datetime.now(UTC) if now is None else now
    return facility_feature(f, at=at, live=live().of(at))


@bp.get("/collections/<collection_id>/items")
@operation(
    "Features of a collection",
    tags=("ogc",),
    description="`kind` is accepted on the `facilities` collection only; other parameters are a 400.",
    path=CollectionPath,
    query=OgcItemsParams,
    responses=public_get(
        ok(FeatureCollection, "Features, id order.", GEOJSON, html=True),
        html=True,
        not_found=_NOT_FOUND,
    ),
)
def items(collection_id: str) -> Response:
    """Features of a collection, filtered and paged (see the module docstring)."""
    c = _collection(collection_id)
    params = query(OgcItemsParams)
    if c.kinds is not None and params.kind is not None:
        raise ValidationError(Msg("unknown parameter %(name)s", name="kind"), param="kind")
    fmt = negotiate(params)
    args = request.args
    flt = ListFilter(
        bbox=parse_bbox(params.bbox),
        kinds=c.kinds if c.kinds is not None else params.kind,
        statuses=params.status or DEFAULT_STATUSES,
        amenities=params.amenity or frozenset(),
        district_adcodes=parse_districts(params.district),
        modified_since=parse_datetime(params.datetime_),
    )
    limit = min(params.limit, OGC_LIMIT_MAX)
    offset = params.offset
    svc = service()
    page = feature_page(svc.store, flt, limit, offset, index=svc.index)
    now = datetime.now(UTC)
    kept = {k: v for k, v in args.items() if k != "f"}
    json_type = GEOJSON
    links = _self_links("ogc.items", fmt, json_type, kept, collection_id=c.id)
    links.append(
        _link(_url("ogc.collection", {"f": "json"}, collection_id=c.id), "collection", JSON, "The collection")
    )
    paging_type, paging_f = (HTML, "html") if fmt == "html" else (GEOJSON, "json")
    if offset + len(page.facilities) < page.matched:
        nxt = {**kept, "offset": str(offset + limit), "limit": str(limit), "f": paging_f}
        links.append(_link(_url("ogc.items", nxt, collection_id=c.id), "next", paging_type, "Next page"))
    if offset > 0:
        prev = {**kept, "offset": str(max(0, offset - limit)), "limit": str(limit), "f": paging_f}
        links.append(_link(_url("ogc.items", prev, collection_id=c.id), "prev", paging_type, "Previous page"))
    body = {
        "type": "FeatureCollection",
        "numberMatched": page.matched,
        "numberReturned": len(page.facilities),
        "links": links,
        "features": [_feature(f, now) for f in page.facilities],
    }
    return _respond(
        body,
        fmt,
        json_type,
        "items",
        collection=_collection_json(c),
        offset=offset,
        kinds=KINDS,
        statuses=STATUSES,
    )


@bp.get("/collections/<collection_id>/items/<feature_id>")
@operation(
    "One feature",
    tags=("ogc",),
    path=FeaturePath,
    query=OgcItemParams,
    responses=public_get(
        ok(FacilityDoc, "The feature.", GEOJSON, html=True), html=True, not_found=_NOT_FOUND
    ),
)
def item(collection_id: str, feature_id: str) -> Response:
    """One feature of a collection."""
    c = _collection(collection_id)
    fmt = negotiate(query(OgcItemParams))
    f = service().store.get(known_facility_id(feature_id, "featureId"))
    if c.kinds is not None and f.kind not in c.kinds:
        raise NotFoundError(
            Msg("no feature %(id)r in collection %(collection)r", id=feature_id, collection=c.id),
            param="featureId",
        )
    body = _feature(f)
    body["links"] = [
        *_self_links("ogc.item", fmt, GEOJSON, collection_id=c.id, feature_id=f.id),
        _link(
            _url("ogc.collection", {"f": "json"}, collection_id=c.id), "collection", JSON, "The collection"
        ),
    ]
    return _respond(
        body,
        fmt,
        GEOJSON,
        "item",
        collection=_collection_json(c),
        kinds=KINDS,
        amenities=AMENITIES,
        statuses=STATUSES,
    )
