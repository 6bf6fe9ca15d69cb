"""The public JSON API (``/api/v1``): parse, call the service, serialise."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, json, request

from locator.queries import parse_datum, parse_nearest
from locator.serialize import facility_etag, facility_feature, nearest_collection
from locator.services import LocatorService

bp = Blueprint("api", __name__, url_prefix="/api/v1")

GEOJSON = "application/geo+json"


def service() -> LocatorService:
    """The app's :class:`LocatorService`."""
    svc: LocatorService = current_app.extensions["locator"]
    return svc


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
    resp = geojson_response(facility_feature(f, datum, at=datetime.now(UTC)))
    resp.headers["ETag"] = facility_etag(f)
    return resp
