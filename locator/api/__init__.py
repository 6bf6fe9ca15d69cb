"""The public JSON API (``/api/v1``): parse, call the service, serialise."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, json, request

from locator.errors import ValidationError
from locator.feedback import FeedbackService, client_pseudonym
from locator.limits import feedback_limit
from locator.places import PLACE_KINDS, PlaceIndex, area_places, load_subway
from locator.queries import parse_datum, parse_int, parse_list, parse_nearest
from locator.sameorigin import anonymous_write
from locator.serialize import facility_etag, facility_feature, nearest_collection, places_collection
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


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def feedback_service() -> FeedbackService:
    """The app's :class:`FeedbackService`."""
    fs: FeedbackService = current_app.extensions["locator.feedback"]
    return fs


def submit_feedback(facility_id: str, data: Any, locale: str) -> Any:
    """Parse a feedback submission (JSON object or form) and hand it to the service.

    Shared by the API and the HTML form (both :func:`locator.sameorigin.anonymous_write`).
    """
    if not hasattr(data, "get"):
        raise ValidationError("the body must be a JSON object or a form", param="body")
    fields = {}
    for name in ("verdict", "reason", "comment"):
        value = data.get(name, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise ValidationError(f"{name} must be text", param=name)
        fields[name] = value
    now = datetime.now(UTC)
    client = client_pseudonym(current_app.config["SECRET_KEY"], request.remote_addr or "", now.date())
    return feedback_service().submit(
        facility_id,
        fields["verdict"].strip(),
        now=now,
        reason=fields["reason"],
        comment=fields["comment"],
        client=client,
        locale=locale,
    )


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
    locale = (request.accept_languages.best_match(["zh", "en"]) or "zh")
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
