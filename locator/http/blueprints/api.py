"""The public JSON API (``/api/v1``): parse, call the service, serialise."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, json, request

from locator.formats.serialize import (
    facility_etag,
    facility_feature,
    nearest_collection_json,
    places_collection,
)
from locator.http.caching import answering_index
from locator.http.feedback import submit_feedback
from locator.http.limits import feedback_limit
from locator.http.models import FacilityParams, FacilityPath, FeedbackBody, NearestParams, PlacesParams
from locator.http.operations import (
    FORM,
    GEOJSON,
    JSON,
    MULTIPART,
    Reply,
    body,
    ok,
    operation,
    problem,
    public_errors,
    public_get,
    query,
)
from locator.http.params import nearest_query
from locator.http.responses import geojson_bytes, geojson_response
from locator.http.sameorigin import anonymous_write
from locator.http.schemas import Facility, FeedbackReceipt, NearestCollection, PlaceCollection
from locator.http.state import place_index, service

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@bp.get("/nearest")
@operation(
    "Nearest facilities by geodesic distance",
    tags=("facilities",),
    description="Exact k nearest on the WGS-84 ellipsoid. The answer is cacheable for 60 s per query URL.",
    query=NearestParams,
    responses=public_get(ok(NearestCollection, "Facilities in ascending distance.", GEOJSON)),
)
def nearest() -> Response:
    """K nearest facilities in geodesic metres (see README for parameters).

    Answered from the index the request's ETag was made from, written straight from its
    columns and pre-encoded properties (:func:`nearest_collection_json`).
    """
    parsed = nearest_query(query(NearestParams), datetime.now(UTC))
    idx = answering_index()
    rows = idx.nearest_rows(parsed.query)
    return geojson_bytes(nearest_collection_json(idx, rows, parsed.echo, parsed.datum, parsed.at))


@bp.get("/facilities/<facility_id>")
@operation(
    "One facility",
    tags=("facilities",),
    description='The ETag is `W/"<id>-v<version>"`: the `If-Match` of the management API\'s writes.',
    path=FacilityPath,
    query=FacilityParams,
    responses=public_get(
        Reply(
            "The facility, with its version as a weak ETag.",
            Facility,
            (GEOJSON,),
            (("ETag", "FacilityETag"), ("Cache-Control", "CacheControl")),
        ),
        not_found="No such facility.",
    ),
)
def facility(facility_id: str) -> Response:
    """One facility as a GeoJSON Feature."""
    datum = query(FacilityParams).datum
    f = service().get(facility_id)
    resp = geojson_response(facility_feature(f, datum, at=datetime.now(UTC)))
    resp.headers["ETag"] = facility_etag(f)
    return resp


@bp.get("/places")
@operation(
    "Place search (where am I?)",
    tags=("riders",),
    description="Offline search over districts, subdistricts, subway stations and entrances "
    "(© OpenStreetMap contributors, ODbL) and facility names and addresses. Each hit is a point to "
    "search `/api/v1/nearest` from.",
    query=PlacesParams,
    responses=public_get(ok(PlaceCollection, "Matches, best first.", GEOJSON)),
)
def places() -> Response:
    """Place search: districts, subdistricts, subway stations/entrances, facilities."""
    params = query(PlacesParams)
    matches = place_index().search(params.q, limit=params.limit, kinds=params.kind)
    return geojson_response(places_collection(matches, params.q, params.datum))


@bp.post("/facilities/<facility_id>/feedback")
@operation(
    "Rider feedback: still correct, or a problem",
    tags=("riders",),
    description="Anonymous: no account and no CSRF token. Browsers may only post from this site "
    "(`Sec-Fetch-Site`/`Origin`/`Referer` are checked); clients that send none of these headers (apps, "
    "scripts) are accepted. Rate-limited per client. Two `confirm` answers from different clients "
    "within 30 days, with no problem reported, verify the facility; a `problem` goes to the managers' "
    "report queue.",
    path=FacilityPath,
    body=FeedbackBody,
    body_media=(JSON, FORM, MULTIPART),
    responses={
        201: Reply("Stored.", FeedbackReceipt, (JSON,)),
        **public_errors(not_found="No such facility."),
        403: problem(
            "A cross-site POST (`Sec-Fetch-Site`, `Origin` or `Referer` names another site; `param` says "
            "which), or an API key used from an origin its partner did not register."
        ),
        413: problem("The request body is too large."),
        429: problem(
            "Too much feedback from this client (`LOCATOR_FEEDBACK_RATE_LIMIT`, default 10 per minute and "
            "100 per day, one budget for the API and the HTML forms).",
            headers=(
                ("Retry-After", "RetryAfter"),
                ("X-RateLimit-Limit", "RateLimitLimit"),
                ("X-RateLimit-Remaining", "RateLimitRemaining"),
                ("X-RateLimit-Reset", "RateLimitReset"),
            ),
        ),
    },
)
@feedback_limit
@anonymous_write
def facility_feedback(facility_id: str) -> Response:
    """Anonymous rider feedback: ``verdict`` confirm|problem, ``reason``, ``comment``.

    JSON object or form body. 201 with the stored report and whether it verified the
    facility; 400/403/404/429 as problem+json.
    """
    locale = request.accept_languages.best_match(["zh", "en"]) or "zh"
    result = submit_feedback(facility_id, body(FeedbackBody), locale)
    fb = result.feedback
    receipt = {
        "id": fb.id,
        "facility_id": fb.facility_id,
        "verdict": fb.verdict,
        "reason": fb.reason,
        "at": fb.at.isoformat(),
        "verified": result.verified,
        "verified_at": _iso(result.facility.verified_at),
    }
    return Response(json.dumps(receipt, ensure_ascii=False), status=201, mimetype="application/json")
