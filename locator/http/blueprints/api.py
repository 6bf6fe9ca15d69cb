"""The public JSON API (``/api/v1``): parse, call the service, serialise."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, json, request

from locator.core.places import PLACE_KINDS
from locator.errors import ValidationError
from locator.formats.serialize import facility_etag, facility_feature, nearest_collection, places_collection
from locator.http.feedback import submit_feedback
from locator.http.limits import feedback_limit
from locator.http.params import parse_datum, parse_int, parse_list, parse_nearest
from locator.http.responses import geojson_response
from locator.http.sameorigin import anonymous_write
from locator.http.state import place_index, service

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


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


@bp.post("/facilities/<facility_id>/feedback")
@feedback_limit
@anonymous_write
def facility_feedback(facility_id: str) -> Response:
    """Anonymous rider feedback: ``verdict`` confirm|problem, ``reason``, ``comment``.

    JSON object or form body. 201 with the stored report and whether it verified the
    facility; 400/403/404/429 as problem+json.
    """
    data = request.get_json(silent=True) if request.is_json else request.form
    if data is None:
        raise ValidationError("the body must be a JSON object", param="body")
    locale = request.accept_languages.best_match(["zh", "en"]) or "zh"
    result = submit_feedback(facility_id, data, locale)
    fb = result.feedback
    body = {
        "id": fb.id,
        "facility_id": fb.facility_id,
        "verdict": fb.verdict,
        "reason": fb.reason,
        "at": fb.at.isoformat(),
        "verified": result.verified,
        "verified_at": _iso(result.facility.verified_at),
    }
    return Response(json.dumps(body, ensure_ascii=False), status=201, mimetype="application/json")
