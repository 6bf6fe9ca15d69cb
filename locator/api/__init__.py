"""The public JSON API (``/api/v1``): parse, call the service, serialise."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, json, request

from locator.errors import ValidationError
from locator.places import PLACE_KINDS, PlaceIndex, area_places, load_subway
from locator.queries import parse_datum, parse_int, parse_list, parse_nearest
from locator.serialize import facility_feature, nearest_collection, places_collection
from locator.services import LocatorService

bp = Blueprint("api", __name__, url_prefix="/api/v1")

GEOJSON = "application/geo+json"


def service() -> LocatorService:
    """The app's :class:`LocatorService`."""
    svc: LocatorService = current_app.extensions["locator"]
    return svc


_places_lock = threading.Lock()


def place_index() -> PlaceIndex:
    """The app's place search, built on first use and kept in step with the facilities."""
    idx: PlaceIndex | None = current_app.extensions.get("locator.places")
    if idx is None:
        with _places_lock:
            idx = current_app.extensions.get("locator.places")
            if idx is None:
                svc = service()
                idx = PlaceIndex([*area_places(svc.districts, svc.subdistricts), *load_subway()])
                current_app.extensions["locator.places"] = idx
    fidx = service().index
    if idx.revision != fidx.revision:
        idx.set_facilities(fidx.facilities(), fidx.revision)
    return idx


def geojson_response(body: object, status: int = 200) -> Response:
    """A GeoJSON response (``application/geo+json``, UTF-8, non-ASCII kept)."""
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=GEOJSON)


@bp.get("/nearest")
def nearest() -> Response:
    """K nearest facilities in geodesic metres (see README for parameters)."""
    parsed = parse_nearest(request.args, datetime.now(UTC))
    hits = service().nearest(parsed.query)
    return geojson_response(nearest_collection(hits, parsed.echo, parsed.datum, parsed.at))


@bp.get("/facilities/<facility_id>")
def facility(facility_id: str) -> Response:
    """One facility as a GeoJSON Feature."""
    datum = parse_datum(request.args)
    f = service().get(facility_id)
    return geojson_response(facility_feature(f, datum, at=datetime.now(UTC)))


@bp.get("/places")
def places() -> Response:
    """Place search: districts, subdistricts, subway stations/entrances, facilities.

    ``q`` (required, 1-100 characters), ``kind`` (comma-separated place kinds),
    ``limit`` (1-50, default 10), ``datum`` of the output points (default wgs84).
    """
    q = request.args.get("q", "")
    if not q.strip():
        raise ValidationError("q is required", param="q")
    limit = parse_int(request.args, "limit", 10, 1, 50)
    kinds = parse_list(request.args, "kind", dict.fromkeys(PLACE_KINDS))
    datum = parse_datum(request.args)
    matches = place_index().search(q, limit=limit, kinds=kinds)
    return geojson_response(places_collection(matches, q.strip(), datum))
