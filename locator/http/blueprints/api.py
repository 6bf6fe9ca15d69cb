"""The public JSON API (``/api/v1``): parse, call the service, serialise."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, json, request

from locator.formats.serialize import (
    facility_etag,
    facility_feature,
    nearest_collection_json,
    places_collection,
)
from locator.http.auth import csrf
from locator.http.caching import answering_index
from locator.http.feedback import client_of_request, submit_feedback
from locator.http.limits import feedback_limit
from locator.http.models import (
    CheckinBody,
    DoorEventBody,
    DoorHeaders,
    FacilityParams,
    FacilityPath,
    FeedbackBody,
    NearestParams,
    PlacesParams,
)
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
from locator.http.schemas import (
    CheckinReceipt,
    DoorEventReceipt,
    Facility,
    FeedbackReceipt,
    NearestCollection,
    PlaceCollection,
)
from locator.http.state import live, place_index, service
from locator.services.live import LiveWrite

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
    live_svc = live()
    body = nearest_collection_json(
        idx,
        rows,
        parsed.echo,
        parsed.datum,
        parsed.at,
        live=live_svc.of(parsed.at),
        live_tracked=live_svc.tracks,
    )
    return geojson_bytes(body)


@bp.get("/facilities/<facility_id>")
@operation(
    "One facility",
    tags=("facilities",),
    description='The ETag is `W/"<id>-v<version>;<crc32>"`: the version is what the `If-Match` of '
    "the management API's writes compares; the checksum of the body makes `If-None-Match` "
    "revalidate only while `open_now` and the `live` door status are unchanged.",
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
    now = datetime.now(UTC)
    resp = geojson_response(facility_feature(f, datum, at=now, live=live().of(now)))
    resp.headers["ETag"] = facility_etag(f, resp.get_data())
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


_RATE_HEADERS = (
    ("Retry-After", "RetryAfter"),
    ("X-RateLimit-Limit", "RateLimitLimit"),
    ("X-RateLimit-Remaining", "RateLimitRemaining"),
    ("X-RateLimit-Reset", "RateLimitReset"),
)


def _json(body: Mapping[str, Any], status: int) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json")


def checkin_receipt(done: LiveWrite) -> dict[str, Any]:
    """The answer to a stored check-in."""
    e = done.event
    return {
        "id": e.id,
        "facility_id": e.facility_id,
        "door": e.state,
        "at": e.at.isoformat(),
        "live": done.status.as_json(),
    }


@bp.post("/facilities/<facility_id>/checkins")
@operation(
    "Rider check-in at the door: open, locked, or scan/registration required",
    tags=("riders",),
    description="Anonymous, like feedback: no account and no CSRF token; browsers may only post from this "
    "site. One vote per client (a daily pseudonym of its address) per facility per hour: a second vote "
    "within the hour is a 429 with `Retry-After` and is not counted. Votes count for 2 hours: two "
    "different riders saying `locked` rank the station below every open one on the rider pages; one "
    "is shown as a warning. See docs/riders.md.",
    path=FacilityPath,
    body=CheckinBody,
    body_media=(JSON, FORM, MULTIPART),
    responses={
        201: Reply("Stored; the facility's live status right after.", CheckinReceipt, (JSON,)),
        **public_errors(not_found="No such facility."),
        403: problem(
            "A cross-site POST (`Sec-Fetch-Site`, `Origin` or `Referer` names another site; `param` says "
            "which), or an API key used from an origin its partner did not register."
        ),
        413: problem("The request body is too large."),
        429: problem(
            "This client already voted on this facility within the hour, or sent too much feedback "
            "(`LOCATOR_FEEDBACK_RATE_LIMIT`, one budget with feedback). Nothing was counted.",
            headers=(("Retry-After", "RetryAfter"),),
        ),
    },
)
@feedback_limit
@anonymous_write
def facility_checkin(facility_id: str) -> Response:
    """A rider's check-in (JSON or form): 201 with the live status; 400/403/404/429."""
    door = body(CheckinBody).door
    now = datetime.now(UTC)
    done = live().checkin(facility_id, door, client=client_of_request(now), now=now)
    return _json(checkin_receipt(done), 201)


@bp.post("/facilities/<facility_id>/door")
@operation(
    "Door device event (signed)",
    tags=("riders",),
    description="For smart locks and QR door controllers: one key per device (`flask --app app locator "
    "door-key add FACILITY_ID --name NAME` prints the key id and the secret once). Send the key id in "
    '`X-Door-Key`, Unix seconds in `X-Door-Timestamp` and the hex HMAC-SHA256 of `timestamp + "\\n" + '
    "raw body` under the secret in `X-Door-Signature`. Send the state on every change and at least every "
    "10 minutes: a device state older than 20 minutes is ignored. A bad signature, a timestamp more than "
    "5 minutes off, an unknown or revoked key, or a request already received is a 401; a key of another "
    "facility a 403. Nothing is stored then.",
    path=FacilityPath,
    headers=DoorHeaders,
    body=DoorEventBody,
    security=({"DoorKey": []},),
    responses={
        201: Reply("Stored; the facility's live status right after.", DoorEventReceipt, (JSON,)),
        400: problem('The body is not `{"state": "open" | "closed"}` (checked after the signature).'),
        401: problem(
            "Missing or malformed header, timestamp outside the 5-minute window, unknown or revoked key, "
            "bad signature, or a replay (`param` names the header).",
            headers=(("WWW-Authenticate", "WWWAuthenticate"),),
        ),
        403: problem("The key belongs to another facility."),
        404: problem("No such facility."),
        413: problem("The request body is too large."),
        503: problem("The database cannot be reached."),
    },
)
@csrf.exempt
def facility_door(facility_id: str) -> Response:
    """A signed door-device event: 201 with the live status; 400/401/403/404 (nothing stored)."""
    now = datetime.now(UTC)
    svc = live()
    service().get(facility_id)  # 404 first: an unknown facility is not a device's problem
    raw = request.get_data(cache=True)
    key = svc.authenticate_door(
        facility_id,
        key_id=request.headers.get("X-Door-Key"),
        timestamp=request.headers.get("X-Door-Timestamp"),
        signature=request.headers.get("X-Door-Signature"),
        body=raw,
        now=now,
    )
    state = body(DoorEventBody).state
    done = svc.door_event(key, state, signature=request.headers.get("X-Door-Signature", ""), now=now)
    e = done.event
    receipt = {
        "id": e.id,
        "facility_id": e.facility_id,
        "key": e.actor,
        "state": e.state,
        "at": e.at.isoformat(),
        "live": done.status.as_json(),
    }
    return _json(receipt, 201)


facility_door.signed_write = True  # CSRF-exempt: HMAC-signed instead
