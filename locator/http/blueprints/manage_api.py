"""The management API (``/api/v1``, JSON): parse, call :class:`ManagementService`, serialise.

Authentication is a bearer token (``Authorization: Bearer wsl_…``) or the session
cookie of a logged-in manager; session-authenticated writes must send the session's
CSRF token in ``X-CSRFToken`` (:func:`locator.http.auth.api_user` checks it — this blueprint
is exempt from Flask-WTF's automatic check for that reason, so **every write view here
must call** ``api_user(write=True)`` **first**). Errors are ``application/problem+json``.

Concurrency: ``PATCH``, ``DELETE`` and ``…/restore`` need ``If-Match`` with the ETag of
``GET /api/v1/facilities/<id>`` (``W/"<id>-v<version>"``); a stale one gets ``412``, a
missing one ``428``. ``…/status`` and ``…/verify`` accept it optionally.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, request, url_for

from locator.core.domain import KINDS, STATUSES, Facility
from locator.core.geo import Datum
from locator.errors import (
    PreconditionRequiredError,
    ValidationError,
    VersionConflictError,
)
from locator.formats.serialize import facility_etag, facility_feature, history_entry
from locator.http.auth import api_user, csrf
from locator.http.responses import geojson_response
from locator.http.state import management
from locator.services.management import CREATE_FIELDS, FacilityFilter, NearbyWarning
from locator.stores.contract import Report

bp = Blueprint("manage_api", __name__, url_prefix="/api/v1")


csrf.exempt(bp)

_ETAG_RE = re.compile(r'^(?:W/)?"(?P<id>[^"]+)-v(?P<version>[0-9]{1,12})"$')


# --- parsing --------------------------------------------------------------------------


def json_body() -> dict[str, Any]:
    """The request body as a JSON object (an empty body is ``{}``).

    Raises
    ------
    ValidationError
        If the body is not a JSON object (``param="body"``).
    """
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ValidationError("the body must be a JSON object", param="body") from None
    if not isinstance(data, dict):
        raise ValidationError("the body must be a JSON object", param="body")
    return data


def body_datum(body: dict[str, Any], *, required: bool) -> Datum | None:
    """The body's ``datum`` (wgs84, gcj02 or bd09).

    Raises
    ------
    ValidationError
        If missing (when required) or unknown.
    """
    raw = body.get("datum")
    if raw is None or raw == "":
        if required:
            raise ValidationError("datum is required: wgs84, gcj02 or bd09", param="datum")
        return None
    try:
        return Datum.parse(str(raw))
    except ValueError:
        raise ValidationError("datum must be wgs84, gcj02 or bd09", param="datum") from None


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
                "send If-Match with the ETag of GET /api/v1/facilities/<id>", param="If-Match"
            )
        return None
    if header == "*":
        raise PreconditionRequiredError(
            "If-Match: * is not accepted; send the facility's ETag", param="If-Match"
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


def _reason(body: dict[str, Any]) -> str:
    reason = body.get("reason", "")
    if not isinstance(reason, str):
        raise ValidationError("reason must be a string", param="reason")
    return reason


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


@bp.get("/me")
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
def scope_facilities() -> Response:
    """The caller's facilities as a FeatureCollection (filters: q, kind, status, district, stale)."""
    user = api_user(write=False)
    args = request.args

    def _set(name: str, allowed: Any = None) -> frozenset[str]:
        values = frozenset(v.strip() for v in args.get(name, "").split(",") if v.strip())
        if allowed is not None and not values <= set(allowed):
            raise ValidationError(f"unknown {name}: {', '.join(sorted(values - set(allowed)))}", param=name)
        return values

    flt = FacilityFilter(
        text=args.get("q", ""),
        kinds=_set("kind", KINDS),
        statuses=_set("status", STATUSES),
        districts=_set("district"),
        stale=args.get("stale", "").lower() in {"1", "true", "yes"},
        with_reports=args.get("reports", "").lower() in {"1", "true", "yes"},
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
def create_facility() -> Response:
    """Create a facility; the body declares the ``datum`` of ``lon``/``lat``."""
    user = api_user(write=True)
    body = json_body()
    datum = body_datum(body, required=True)
    assert datum is not None
    record = {k: v for k, v in body.items() if k not in {"datum", "reason"}}
    unknown = sorted(set(record) - CREATE_FIELDS)
    if unknown:
        raise ValidationError(f"field cannot be set here: {', '.join(unknown)}", param=unknown[0])
    mg = management()
    stored = mg.create(user, record, datum, reason=_reason(body))
    warnings = mg.nearby_warnings(stored.lon, stored.lat, stored.kind, stored.name, exclude_id=stored.id)
    resp = facility_response(stored, 201, warnings=[warning_json(w) for w in warnings])
    resp.headers["Location"] = url_for("api.facility", facility_id=stored.id)
    return resp


@bp.patch("/facilities/<facility_id>")
def patch_facility(facility_id: str) -> Response:
    """Change some fields of a facility; needs ``If-Match``."""
    user = api_user(write=True)
    version = if_match_version(facility_id, required=True)
    assert version is not None
    body = json_body()
    datum = body_datum(body, required=False)
    changes = {k: v for k, v in body.items() if k not in {"datum", "reason"}}
    if not changes:
        raise ValidationError("nothing to change", param="body")
    mg = management()
    try:
        stored = mg.update(user, facility_id, changes, version, datum, reason=_reason(body))
    except VersionConflictError as exc:
        raise _with_current_etag(exc, facility_id) from None
    warnings = mg.nearby_warnings(stored.lon, stored.lat, stored.kind, stored.name, exclude_id=stored.id)
    return facility_response(stored, warnings=[warning_json(w) for w in warnings])


@bp.post("/facilities/<facility_id>/status")
def set_status(facility_id: str) -> Response:
    """``{"status": "open"|"temporarily_closed"|"removed", "until": "YYYY-MM-DD", "reason": …}``."""
    user = api_user(write=True)
    version = if_match_version(facility_id, required=False)
    body = json_body()
    status = body.get("status")
    if not isinstance(status, str):
        raise ValidationError("status is required", param="status")
    until = body.get("until")
    if until is not None and not isinstance(until, str):
        raise ValidationError("until must be a date (YYYY-MM-DD)", param="until")
    try:
        stored = management().set_status(
            user, facility_id, status, until=until, reason=_reason(body), expected_version=version
        )
    except VersionConflictError as exc:
        raise _with_current_etag(exc, facility_id) from None
    return facility_response(stored)


@bp.post("/facilities/<facility_id>/verify")
def verify(facility_id: str) -> Response:
    """Mark the facility verified now (optional body ``{"reason": …}``)."""
    user = api_user(write=True)
    version = if_match_version(facility_id, required=False)
    body = json_body()
    try:
        stored = management().verify(user, facility_id, expected_version=version, reason=_reason(body))
    except VersionConflictError as exc:
        raise _with_current_etag(exc, facility_id) from None
    return facility_response(stored)


@bp.post("/facilities/<facility_id>/restore")
def restore(facility_id: str) -> Response:
    """``{"seq": <history entry>, "reason": …}``: a new change back to that state; needs ``If-Match``."""
    user = api_user(write=True)
    version = if_match_version(facility_id, required=True)
    assert version is not None
    body = json_body()
    seq = body.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise ValidationError("seq must be the integer of a history entry", param="seq")
    try:
        stored = management().restore(user, facility_id, seq, version, reason=_reason(body))
    except VersionConflictError as exc:
        raise _with_current_etag(exc, facility_id) from None
    return facility_response(stored)


@bp.delete("/facilities/<facility_id>")
def delete_facility(facility_id: str) -> Response:
    """Delete for good (admins only); needs ``If-Match``."""
    user = api_user(write=True)
    management().check_can_delete(user)  # 403 before 428: a manager need not find an ETag first
    version = if_match_version(facility_id, required=True)
    assert version is not None
    reason = request.args.get("reason", "")
    try:
        management().delete(user, facility_id, version, reason=reason)
    except VersionConflictError as exc:
        raise _with_current_etag(exc, facility_id) from None
    return Response(status=204)


@bp.get("/facilities/<facility_id>/history")
def history(facility_id: str) -> Response:
    """The facility's append-only history, oldest first."""
    user = api_user(write=False)
    entries = management().history(user, facility_id)
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
def list_reports() -> Response:
    """Rider reports about the caller's facilities: open (default) or ``?handled=true``."""
    user = api_user(write=False)
    handled = request.args.get("handled", "").lower() in {"1", "true", "yes"}
    items = management().reports(user, handled=handled)
    body = {"reports": [report_json(r, f) for r, f in items]}
    return Response(json.dumps(body, ensure_ascii=False), mimetype="application/json")


@bp.post("/manage/reports/<int:report_id>/resolve")
def resolve_report(report_id: int) -> Response:
    """``{"resolution": "resolved"|"dismissed", "action": …, "until": …, "note": …}``."""
    user = api_user(write=True)
    body = json_body()
    values = {k: body.get(k) for k in ("resolution", "action", "until", "note")}
    for key, value in values.items():
        if value is not None and not isinstance(value, str):
            raise ValidationError(f"{key} must be a string", param=key)
    report = management().resolve_report(
        user,
        report_id,
        values["resolution"] or "",
        values["action"] or "none",
        until=values["until"],
        note=values["note"] or "",
    )
    f = management().locator.index.get(report.facility_id)
    return Response(json.dumps(report_json(report, f), ensure_ascii=False), mimetype="application/json")
