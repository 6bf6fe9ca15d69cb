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
from locator.errors import NotFoundError, ValidationError
from locator.formats.serialize import facility_feature
from locator.http.i18n import locale
from locator.http.params import parse_instant, parse_int, parse_list
from locator.http.state import service
from locator.http.urls import link
from locator.services.publishing import extent, feature_page
from locator.stores.contract import ListFilter

bp = Blueprint("ogc", __name__, url_prefix="/ogc")

GEOJSON = "application/geo+json"
JSON = "application/json"
HTML = "text/html"
OPENAPI = "application/vnd.oai.openapi+json;version=3.1"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
)
ITEMS_LIMIT_DEFAULT = 10
ITEMS_LIMIT_MAX = 1000
OFFSET_MAX = 10**9
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
        raise NotFoundError(f"no collection {collection_id!r}", param="collectionId")
    return found


def negotiate() -> str:
    """``json`` or ``html`` from ``f``, else from ``Accept`` (JSON by default).

    Raises
    ------
    ValidationError
        For an unknown ``f``.
    """
    f = request.args.get("f")
    if f is not None:
        value = f.strip().lower()
        if value in {"json", "geojson"}:
            return "json"
        if value == "html":
            return "html"
        raise ValidationError("f must be json or html", param="f")
    best = request.accept_mimetypes.best_match([JSON, GEOJSON, HTML], default=JSON)
    return "html" if best == HTML else "json"


def _check_params(allowed: set[str]) -> None:
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise ValidationError(
            f"unknown parameter {unknown[0]!r}; this resource takes {', '.join(sorted(allowed))}",
            param=unknown[0],
        )


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


@bp.get("", endpoint="landing")
@bp.get("/", endpoint="landing_slash")
def landing() -> Response:
    """The landing page: what this is and where everything is."""
    _check_params({"f", "lang"})
    fmt = negotiate()
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
def conformance() -> Response:
    """The conformance classes implemented."""
    _check_params({"f", "lang"})
    fmt = negotiate()
    body = {"conformsTo": list(CONFORMANCE), "links": _self_links("ogc.conformance", fmt, JSON)}
    return _respond(body, fmt, JSON, "conformance")


@bp.get("/collections", endpoint="collections_list")
def collections_list() -> Response:
    """Every collection."""
    _check_params({"f", "lang"})
    fmt = negotiate()
    body = {
        "links": _self_links("ogc.collections_list", fmt, JSON),
        "collections": [_collection_json(c) for c in collections().values()],
    }
    return _respond(body, fmt, JSON, "collections")


@bp.get("/collections/<collection_id>")
def collection(collection_id: str) -> Response:
    """One collection's description."""
    c = _collection(collection_id)
    _check_params({"f", "lang"})
    fmt = negotiate()
    return _respond(_collection_json(c), fmt, JSON, "collection")


def parse_bbox(args: Mapping[str, str]) -> tuple[float, float, float, float] | None:
    """``bbox`` as ``(min_lon, min_lat, max_lon, max_lat)`` in WGS-84 degrees, or None.

    Raises
    ------
    ValidationError
        Not 4 finite numbers, out of range, min > max, or a ``bbox-crs`` other than CRS84.
    """
    for name in ("bbox-crs", "crs"):  # Part 2 parameters, accepted when they name CRS84
        crs = args.get(name)
        if crs is not None and crs.strip() not in {CRS84, f"<{CRS84}>"}:
            raise ValidationError(f"{name} must be {CRS84}", param=name)
    raw = args.get("bbox")
    if raw is None:
        return None
    parts = [p.strip() for p in raw.split(",")]
    if len(parts) == 6:
        raise ValidationError("3-D bbox (6 numbers) is not supported; give 4 numbers", param="bbox")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ValidationError("bbox must be 4 numbers: minLon,minLat,maxLon,maxLat", param="bbox") from None
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise ValidationError("bbox must be 4 finite numbers: minLon,minLat,maxLon,maxLat", param="bbox")
    x0, y0, x1, y1 = values
    if not (-180 <= x0 <= 180 and -180 <= x1 <= 180 and -90 <= y0 <= 90 and -90 <= y1 <= 90):
        raise ValidationError("bbox is out of range (longitude ±180, latitude ±90)", param="bbox")
    if y0 > y1:
        raise ValidationError("bbox: minLat is greater than maxLat", param="bbox")
    if x0 > x1:
        raise ValidationError(
            "bbox crossing the antimeridian (minLon > maxLon) is not supported", param="bbox"
        )
    return x0, y0, x1, y1


def parse_limit(args: Mapping[str, str]) -> int:
    """``limit``: default 10; values above 1000 are served as 1000.

    Raises
    ------
    ValidationError
        Not an integer, or below 1.
    """
    raw = (args.get("limit") or "").strip()
    if not raw:
        return ITEMS_LIMIT_DEFAULT
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError("limit must be an integer from 1 to 1000", param="limit") from None
    if value < 1:
        raise ValidationError("limit must be an integer from 1 to 1000", param="limit")
    return min(value, ITEMS_LIMIT_MAX)


def parse_datetime(args: Mapping[str, str]) -> datetime | None:
    """``datetime`` as the "changed since" instant for the store, or None.

    Raises
    ------
    ValidationError
        For intervals with an end, single instants, or bad timestamps.
    """
    raw = (args.get("datetime") or "").strip()
    if raw in {"", "..", "../.."}:
        return None
    start, sep, end = raw.partition("/")
    if not sep or end not in {"", ".."} or start in {"", ".."}:
        raise ValidationError(
            "datetime: only open-ended intervals 'start/..' are supported (features changed at or "
            "after start, by updated_at)",
            param="datetime",
        )
    at = parse_instant({"datetime": start}, "datetime", datetime.now(UTC))
    # The store keeps updated_at > since; the interval's start is inclusive.
    return at - timedelta(microseconds=1)


def parse_districts(args: Mapping[str, str]) -> frozenset[str] | None:
    """``district`` as a set of adcodes; each item is an adcode or a district name.

    Raises
    ------
    ValidationError
        For an unknown district.
    """
    raw = (args.get("district") or "").strip()
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
            raise ValidationError(f"unknown district {item!r} (give an adcode or a name)", param="district")
        out.add(code)
    return frozenset(out) or None


def _feature(f: Facility) -> dict[str, Any]:
    return facility_feature(f)


@bp.get("/collections/<collection_id>/items")
def items(collection_id: str) -> Response:
    """Features of a collection, filtered and paged (see the module docstring)."""
    c = _collection(collection_id)
    allowed = {
        "f",
        "lang",
        "bbox",
        "bbox-crs",
        "crs",
        "limit",
        "offset",
        "datetime",
        "status",
        "amenity",
        "district",
    }
    if c.kinds is None:
        allowed.add("kind")
    _check_params(allowed)
    fmt = negotiate()
    args = request.args
    kinds = c.kinds if c.kinds is not None else parse_list(args, "kind", KINDS)
    flt = ListFilter(
        bbox=parse_bbox(args),
        kinds=kinds,
        statuses=parse_list(args, "status", STATUSES) or DEFAULT_STATUSES,
        amenities=parse_list(args, "amenity", AMENITIES) or frozenset(),
        district_adcodes=parse_districts(args),
        modified_since=parse_datetime(args),
    )
    limit = parse_limit(args)
    offset = parse_int(args, "offset", 0, 0, OFFSET_MAX)
    page = feature_page(service().store, flt, limit, offset)
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
        "features": [_feature(f) for f in page.facilities],
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
def item(collection_id: str, feature_id: str) -> Response:
    """One feature of a collection."""
    c = _collection(collection_id)
    _check_params({"f", "lang", "crs"})
    parse_bbox({"crs": request.args["crs"]} if "crs" in request.args else {})
    fmt = negotiate()
    f = service().store.get(feature_id)
    if c.kinds is not None and f.kind not in c.kinds:
        raise NotFoundError(f"no feature {feature_id!r} in collection {c.id!r}", param="featureId")
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
