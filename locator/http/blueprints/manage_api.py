"""The management API (``/api/v1``, JSON): parse, call :class:`ManagementService`, serialise.

Authentication is a bearer token (``Authorization: Bearer wsl_…``) or the session
cookie of a logged-in manager; session-authenticated writes must send the session's
CSRF token in ``X-CSRFToken`` (:func:`locator.http.auth.api_user` checks it — this blueprint
is exempt from Flask-WTF's automatic check for that reason, so **every write view here
must call** ``api_user(write=True)`` **first**). Errors are ``application/problem+json``.

Concurrency: ``PATCH``, ``DELETE`` and ``…/restore`` need ``If-Match`` with the ETag of
``GET /api/v1/facilities/<id>`` (``W/"<id>-v<version>;<crc32>"``, the version compared); a
stale one gets ``412``, a missing one ``428``. ``…/status`` and ``…/verify`` accept it optionally.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, request, url_for

from locator.core.domain import Facility
from locator.core.geo import Datum
from locator.errors import Msg, PreconditionRequiredError, ValidationError, VersionConflictError
from locator.formats.serialize import facility_etag, facility_feature, history_entry
from locator.http.auth import api_user, csrf
from locator.http.models import (
    REPORT_ID_MAX,
    DeleteParams,
    FacilityCreate,
    FacilityPatch,
    FacilityPath,
    IfMatch,
    IfMatchOptional,
    LiveOverrideBody,
    ManageFacilitiesParams,
    ReportPath,
    ReportResolution,
    ReportsParams,
    RestoreRequest,
    StatusChange,
    VerifyRequest,
    known_facility_id,
)
from locator.http.operations import BEARER, GEOJSON, JSON, Reply, body, manage_responses, operation, query
from locator.http.responses import geojson_response
from locator.http.schemas import (
    Account,
    FacilityWithWarnings,
    History,
    LiveOverrideReceipt,
    ManagedFacilities,
    RiderReport,
    RiderReports,
)
from locator.http.schemas import Facility as FacilityDoc
from locator.http.state import live, management
from locator.services.live import next_time_of_day
from locator.services.management import FacilityFilter, NearbyWarning
from locator.stores.contract import Report

bp = Blueprint("manage_api", __name__, url_prefix="/api/v1")


csrf.exempt(bp)

#: ``W/"<id>-v<version>"`` (management answers) or ``W/"<id>-v<version>;<crc32>"`` (the public
#: GET, see :func:`locator.formats.serialize.facility_etag`): only the version is compared.
_ETAG_RE = re.compile(r'^(?:W/)?"(?P<id>[^"]+)-v(?P<version>[0-9]{1,12})(?:;[0-9a-f]{8})?"$')


# --- parsing --------------------------------------------------------------------------


def if_match_version(facility_id: str, *, required: bool) -> int | None:
    """The facility version named by ``If-Match``.

    Returns
    -------
    int or None
        None when the header is absent and not required; ``-1`` when no tag names this
        facility (the write then fails with 412).

    Raises
    ------
    PreconditionRequiredError
        If required and absent, or ``*`` (which would overwrite other people's edits).
    """
    header = (request.headers.get("If-Match") or "").strip()
    if not header:
        if required:
            raise PreconditionRequiredError(
                Msg("send If-Match with the ETag of GET /api/v1/facilities/<id>"), param="If-Match"
            )
        return None
    if header == "*":
        raise PreconditionRequiredError(
            Msg("If-Match: * is not accepted; send the facility's ETag"), param="If-Match"
        )
    versions = []
    for tag in header.split(","):
        m = _ETAG_RE.match(tag.strip())
        if m and m["id"] == facility_id:
            versions.append(int(m["version"]))
    if not versions:
        return -1
    if len(versions) > 1:
        current = management().store.get(facility_id).version
        return current if current in versions else versions[0]
    return versions[0]


# --- responses ------------------------------------------------------------------------


def warning_json(w: NearbyWarning) -> dict[str, Any]:
    """A likely-duplicate warning as JSON."""
    return {
        "facility_id": w.facility.id,
        "name": w.facility.name,
        "kind": w.facility.kind,
        "distance_m": round(w.distance_m, 1),
        "reasons": list(w.reasons),
    }


def facility_response(f: Facility, status: int = 200, **members: Any) -> Response:
    """A facility Feature with its ETag (extra top-level members allowed)."""
    body = facility_feature(f, Datum.WGS84, at=datetime.now(UTC))
    body.update(members)
    resp = geojson_response(body, status)
    resp.headers["ETag"] = facility_etag(f)
    return resp


def _with_current_etag(exc: VersionConflictError, facility_id: str) -> VersionConflictError:
    exc.headers = {"ETag": f'W/"{facility_id}-v{exc.current_version}"'}
    return exc


# --- endpoints ------------------------------------------------------------------------

_FACILITY_OK = (("ETag", "FacilityETag"),)


def _facility_reply(description: str, model: Any = FacilityDoc, *, created: bool = False) -> Reply:
    headers = _FACILITY_OK + ((("Location", "Location"),) if created else ())
    return Reply(description, model, (GEOJSON,), headers)


@bp.get("/me")
@operation(
    "The account and its scope",
    tags=("management",),
    security=BEARER,
    responses=manage_responses(200, Reply("The account.", Account, (JSON,)), write=False),
)
def me() -> Response:
    """The authenticated account and its scope."""
    user = api_user(write=False)
    body = {
        "name": user.name,
        "role": user.role,
        "districts": sorted(user.districts),
        "facilities": sorted(user.facilities),
    }
    return Response(json.dumps(body, ensure_ascii=False), mimetype="application/json")


@bp.get("/manage/facilities")
@operation(
    "The caller's facilities",
    tags=("management",),
    security=BEARER,
    query=ManageFacilitiesParams,
    responses=manage_responses(
        200,
        Reply("Facilities in the caller's scope, by name then id (WGS-84).", ManagedFacilities, (GEOJSON,)),
        write=False,
    ),
)
def scope_facilities() -> Response:
    """The caller's facilities as a FeatureCollection (filters: q, kind, status, district, stale)."""
    user = api_user(write=False)
    params = query(ManageFacilitiesParams)
    districts = frozenset(v.strip() for v in (params.district or "").split(",") if v.strip())
    flt = FacilityFilter(
        text=params.q,
        kinds=params.kind or frozenset(),
        statuses=params.status or frozenset(),
        districts=districts,
        stale=params.stale,
        with_reports=params.reports,
    )
    items = management().facilities(user, flt)
    body = {
        "type": "FeatureCollection",
        "numberMatched": len(items),
        "numberReturned": len(items),
        "features": [facility_feature(f) for f in items],
    }
    return geojson_response(body)


@bp.post("/facilities")
@operation(
    "Create a facility",
    tags=("management",),
    description="Admins anywhere in the service area, district managers inside their districts; station "
    "managers may not create. The body declares the `datum` of `lon`/`lat`.",
    security=BEARER,
    body=FacilityCreate,
    responses=manage_responses(
        201,
        _facility_reply(
            "Created (WGS-84), with likely duplicates in `warnings`.", FacilityWithWarnings, created=True
        ),
        write=True,
        forbidden=True,
        conflict="A facility with this id exists.",
    ),
)
def create_facility() -> Response:
    """Create a facility; the body declares the ``datum`` of ``lon``/``lat``."""
    user = api_user(write=True)
    new = body(FacilityCreate)
    mg = management()
    stored = mg.create(user, new.given("datum", "reason"), new.datum, reason=new.reason)
    warnings = mg.nearby_warnings(stored.lon, stored.lat, stored.kind, stored.name, exclude_id=stored.id)
    resp = facility_response(stored, 201, warnings=[warning_json(w) for w in warnings])
    resp.headers["Location"] = url_for("api.facility", facility_id=stored.id)
    return resp


@bp.patch("/facilities/<facility_id>")
@operation(
    "Change some fields of a facility",
    tags=("management",),
    description="Needs `If-Match`. A district manager may not move a facility out of their districts.",
    security=BEARER,
    path=FacilityPath,
    headers=IfMatch,
    body=FacilityPatch,
    responses=manage_responses(
        200,
        _facility_reply("The facility after the change, with `warnings`.", FacilityWithWarnings),
        write=True,
        forbidden=True,
        not_found=True,
        stale=True,
        precondition=True,
    ),
)
def patch_facility(facility_id: str) -> Response:
    """Change some fields of a facility; needs ``If-Match``."""
    user = api_user(write=True)
    version = if_match_version(known_facility_id(facility_id), required=True)
    assert version is not None
    patch = body(FacilityPatch)
    changes = patch.given("datum", "reason")
    if not changes:
        raise ValidationError(Msg("nothing to change"), param="body")
    mg = management()
    try:
        stored = mg.update(user, facility_id, changes, version, patch.datum, reason=patch.reason)
    except VersionConflictError as exc:
        raise _with_current_etag(exc, facility_id) from None
    warnings = mg.nearby_warnings(stored.lon, stored.lat, stored.kind, stored.name, exclude_id=stored.id)
    return facility_response(stored, warnings=[warning_json(w) for w in warnings])


@bp.post("/facilities/<facility_id>/status")
@operation(
    "Open, temporarily close or remove a facility",
    tags=("management",),
    security=BEARER,
    path=FacilityPath,
    headers=IfMatchOptional,
    body=StatusChange,
    responses=manage_responses(
        200,
        _facility_reply("The facility."),
        write=True,
        forbidden=True,
        not_found=True,
        stale=True,
        precondition=True,
    ),
)
def set_status(facility_id: str) -> Response:
    """``{"status": "open"|"temporarily_closed"|"removed", "until": "YYYY-MM-DD", "reason": …}``."""
    user = api_user(write=True)
    version = if_match_version(known_facility_id(facility_id), required=False)
    change = body(StatusChange)
    try:
        stored = management().set_status(
            user,
            facility_id,
            change.status,
            until=change.until,
            reason=change.reason,
            expected_version=version,
        )
    except VersionConflictError as exc:
        raise _with_current_etag(exc, facility_id) from None
    return facility_response(stored)


@bp.post("/facilities/<facility_id>/verify")
@operation(
    "Mark a facility verified now",
    tags=("management",),
    security=BEARER,
    path=FacilityPath,
    headers=IfMatchOptional,
    body=VerifyRequest,
    body_required=False,
    responses=manage_responses(
        200,
        _facility_reply("The facility, `verified_at` now."),
        write=True,
        forbidden=True,
        not_found=True,
        stale=True,
        precondition=True,
    ),
)
def verify(facility_id: str) -> Response:
    """Mark the facility verified now (optional body ``{"reason": …}``)."""
    user = api_user(write=True)
    version = if_match_version(known_facility_id(facility_id), required=False)
    request_body = body(VerifyRequest)
    try:
        stored = management().verify(user, facility_id, expected_version=version, reason=request_body.reason)
    except VersionConflictError as exc:
        raise _with_current_etag(exc, facility_id) from None
    return facility_response(stored)


@bp.post("/facilities/<facility_id>/restore")
@operation(
    "Restore a facility to a history entry",
    tags=("management",),
    description="A new change back to the state right after entry `seq` (verification time excepted); "
    "scope-checked like any edit, nothing is erased. Needs `If-Match`.",
    security=BEARER,
    path=FacilityPath,
    headers=IfMatch,
    body=RestoreRequest,
    responses=manage_responses(
        200,
        _facility_reply("The facility after the restore."),
        write=True,
        forbidden=True,
        not_found=True,
        stale=True,
        precondition=True,
    ),
)
def restore(facility_id: str) -> Response:
    """``{"seq": <history entry>, "reason": …}``: a new change back to that state; needs ``If-Match``."""
    user = api_user(write=True)
    version = if_match_version(known_facility_id(facility_id), required=True)
    assert version is not None
    back = body(RestoreRequest)
    try:
        stored = management().restore(user, facility_id, back.seq, version, reason=back.reason)
    except VersionConflictError as exc:
        raise _with_current_etag(exc, facility_id) from None
    return facility_response(stored)


@bp.delete("/facilities/<facility_id>")
@operation(
    "Delete a facility for good (admins)",
    tags=("management",),
    description="Needs `If-Match`. Others set the status to `removed` instead.",
    security=BEARER,
    path=FacilityPath,
    headers=IfMatch,
    query=DeleteParams,
    responses=manage_responses(
        204,
        Reply("Deleted (the history keeps a `delete` entry)."),
        write=False,
        forbidden=True,
        not_found=True,
        stale=True,
        precondition=True,
    ),
)
def delete_facility(facility_id: str) -> Response:
    """Delete for good (admins only); needs ``If-Match``."""
    user = api_user(write=True)
    management().check_can_delete(user)  # 403 before 428: a manager need not find an ETag first
    version = if_match_version(known_facility_id(facility_id), required=True)
    assert version is not None
    reason = query(DeleteParams).reason
    try:
        management().delete(user, facility_id, version, reason=reason)
    except VersionConflictError as exc:
        raise _with_current_etag(exc, facility_id) from None
    return Response(status=204)


@bp.get("/facilities/<facility_id>/history")
@operation(
    "A facility's history",
    tags=("management",),
    description="Append-only. Admins also see the history of deleted facilities.",
    security=BEARER,
    path=FacilityPath,
    responses=manage_responses(
        200,
        Reply("Every change, oldest first.", History, (JSON,)),
        write=False,
        forbidden=True,
        not_found=True,
    ),
)
def history(facility_id: str) -> Response:
    """The facility's append-only history, oldest first."""
    user = api_user(write=False)
    entries = management().history(user, known_facility_id(facility_id))
    body = {"facility_id": facility_id, "entries": [history_entry(e) for e in entries]}
    return Response(json.dumps(body, ensure_ascii=False), mimetype="application/json")


def report_json(report: Report, f: Facility | None) -> dict[str, Any]:
    """A rider report as JSON (with the facility's id, name and status when it still exists)."""
    return {
        "id": report.id,
        "facility_id": report.facility_id,
        "facility": None if f is None else {"name": f.name, "status": f.status, "version": f.version},
        "reason": report.reason,
        "text": report.text,
        "created_at": report.created_at.isoformat(),
        "status": report.status,
        "resolved_at": report.resolved_at.isoformat() if report.resolved_at else None,
        "resolved_by": report.resolved_by or None,
        "action": report.action or None,
        "note": report.note,
    }


@bp.get("/manage/reports")
@operation(
    "Rider reports about the caller's facilities",
    tags=("management",),
    security=BEARER,
    query=ReportsParams,
    responses=manage_responses(
        200,
        Reply("Open reports oldest first, or handled ones newest first.", RiderReports, (JSON,)),
        write=False,
    ),
)
def list_reports() -> Response:
    """Rider reports about the caller's facilities: open (default) or ``?handled=true``."""
    user = api_user(write=False)
    items = management().reports(user, handled=query(ReportsParams).handled)
    body = {"reports": [report_json(r, f) for r, f in items]}
    return Response(json.dumps(body, ensure_ascii=False), mimetype="application/json")


@bp.post(f"/manage/reports/<int(max={REPORT_ID_MAX}):report_id>/resolve")
@operation(
    "Resolve or dismiss a rider report",
    tags=("management",),
    security=BEARER,
    path=ReportPath,
    body=ReportResolution,
    responses=manage_responses(
        200,
        Reply("The report, closed.", RiderReport, (JSON,)),
        write=True,
        forbidden=True,
        not_found=True,
        conflict="The report was already handled.",
    ),
)
def resolve_report(report_id: int) -> Response:
    """``{"resolution": "resolved"|"dismissed", "action": …, "until": …, "note": …}``."""
    user = api_user(write=True)
    resolution = body(ReportResolution)
    report = management().resolve_report(
        user,
        report_id,
        resolution.resolution,
        resolution.action or "none",
        until=resolution.until,
        note=resolution.note or "",
    )
    f = management().locator.index.get(report.facility_id)
    return Response(json.dumps(report_json(report, f), ensure_ascii=False), mimetype="application/json")


@bp.post("/facilities/<facility_id>/live")
@operation(
    "One-tap live status: open now, closed now until HH:MM, or back to normal",
    tags=("management",),
    description="A manager's override of the live door status (docs/riders.md): `open` lasts until "
    "`until` or 4 hours, `closed` until `until` (required); both end by themselves within 24 hours. "
    "Riders see it at once on every page and in `properties.live`. Not a status change: the facility, "
    "its version and its history are untouched (use …/status for closures of days).",
    security=BEARER,
    path=FacilityPath,
    body=LiveOverrideBody,
    responses=manage_responses(
        201,
        Reply("Stored; the facility's live status right after.", LiveOverrideReceipt, (JSON,)),
        write=True,
        forbidden=True,
        not_found=True,
    ),
)
def set_live(facility_id: str) -> Response:
    """``{"state": "open"|"closed"|"cleared", "until": "HH:MM", "reason": …}``."""
    user = api_user(write=True)
    f = management().get(user, known_facility_id(facility_id))
    change = body(LiveOverrideBody)
    now = datetime.now(UTC)
    until = next_time_of_day(change.until, now) if change.until else None
    done = live().set_override(
        f.id, change.state, actor=user.name, now=now, until=until, reason=change.reason
    )
    e = done.event
    receipt = {
        "id": e.id,
        "facility_id": e.facility_id,
        "state": e.state,
        "at": e.at.isoformat(),
        "until": None if e.until is None else e.until.isoformat(),
        "reason": e.reason,
        "live": done.status.as_json(),
    }
    return Response(json.dumps(receipt, ensure_ascii=False), status=201, mimetype="application/json")
