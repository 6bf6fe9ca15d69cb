"""The management pages (``/manage``): parse forms, call the management service, render.

Every rule (scopes, versions, validation) is enforced by
:class:`locator.services.management.ManagementService`; these views only translate forms into
calls and results into pages. Every state-changing form carries the CSRF token.

Location input
--------------
A facility's location comes from exactly one of:

* the **map pin**: hidden ``lon``/``lat`` in the datum of the map's tiles, declared in
  the hidden ``map_datum`` field (``gcj02`` for AMap tiles, ``wgs84`` for OSM);
* **typed or pasted coordinates** (``coords``, e.g. ``116.3376, 39.9925``) with their
  datum chosen in ``coords_datum`` (AMap/Tencent pickers give GCJ-02, Baidu BD-09).

Either way the pin must be confirmed (``pin_confirmed=1``): a new facility whose pin
was never placed and confirmed cannot be saved, and an edit leaves the location alone
unless a moved pin is confirmed. The service converts to WGS-84 before storing.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from babel.dates import format_skeleton
from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_login import login_required, login_user
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from locator.core.domain import (
    ACCESS,
    AMENITIES,
    FEEDBACK_REASONS,
    HOST_TYPES,
    KINDS,
    STATUSES,
    VOCABULARIES,
    Facility,
)
from locator.core.geo import Datum, from_wgs84, to_wgs84, valid_lonlat
from locator.core.hours import TZ
from locator.core.hours_editor import (
    APPOINTMENT,
    DAY_WORDS,
    EDITOR_DAYS,
    MAX_ROWS,
    RowInput,
    WeekHours,
    compose,
    decompose,
    describe_value,
    same_hours,
    week_from_rows,
)
from locator.core.hours_preview import preview_hours
from locator.errors import (
    ConflictError,
    ForbiddenError,
    ImportRejectedError,
    LocatorError,
    Msg,
    NotFoundError,
    ValidationError,
    VersionConflictError,
)
from locator.formats.bulk import (
    bulk_columns,
    export_csv,
    export_geojson,
    export_xlsx,
    read_upload,
    template_csv,
    template_xlsx,
)
from locator.http.auth import LoginUser, safe_next, session_user
from locator.http.i18n import gettext as _
from locator.http.i18n import locale, translated
from locator.http.models import REPORT_ID_MAX, form_int
from locator.http.present import live_words
from locator.http.state import accounts, live, login_throttle, management, tile_provider
from locator.services.live import next_time_of_day
from locator.services.management import Conflict, FacilityFilter, NearbyWarning, jsonable
from locator.stores.contract import DoorKey, User

bp = Blueprint("manage", __name__, url_prefix="/manage")

ROLE_LABELS = {
    "admin": _l("Administrator"),
    "district_manager": _l("District manager"),
    "station_manager": _l("Station manager"),
}
DATUM_LABELS = {
    "wgs84": _l("WGS-84 (GPS, OpenStreetMap)"),
    "gcj02": _l("GCJ-02 (AMap 高德, Tencent 腾讯)"),
    "bd09": _l("BD-09 (Baidu 百度)"),
}
#: Labels of the fields shown in the history and the conflict table (the key is shown too:
#: it is the column name of the bulk files).
FIELD_LABELS = {
    "kind": _l("Kind"),
    "name": _l("Name"),
    "address": _l("Address"),
    "lon": _l("Longitude"),
    "lat": _l("Latitude"),
    "amenities": _l("Amenities"),
    "opening_hours": _l("Opening hours"),
    "host_type": _l("Host"),
    "phone": _l("Phone"),
    "access": _l("How riders get in"),
    "status": _l("Status"),
    "status_until": _l("Closed until"),
    "status_reason": _l("Status reason"),
    "district_adcode": _l("District code"),
    "district_name": _l("District"),
    "subdistrict": _l("Subdistrict"),
    "verified_at": _l("Last verified"),
    "source": _l("Source"),
    "demo": _l("Demo data"),
}
HISTORY_ACTION_LABELS = {
    "create": _l("created"),
    "update": _l("updated"),
    "delete": _l("deleted"),
    "import": _l("imported"),
}
DUPLICATE_REASON_LABELS = {
    "same_kind": _l("same kind within 30 m"),
    "similar_name": _l("similar name within 200 m"),
}
#: The hours editor's day chips (one character in Chinese: 一 … 日, 节假日).
DAY_CHIPS = {
    "mo": _l("Mo"),
    "tu": _l("Tu"),
    "we": _l("We"),
    "th": _l("Th"),
    "fr": _l("Fr"),
    "sa": _l("Sa"),
    "su": _l("Su"),
    "ph": _l("Holidays"),
}
FORM_FIELDS = ("kind", "name", "address", "amenities", "opening_hours", "phone", "host_type", "access")
PAGE_SIZE = 100
#: Centre of the editing map before a pin is placed (Tiananmen, WGS-84).
BEIJING_CENTRE = (116.3975, 39.9087)


def account() -> User:
    """The logged-in account (views are ``@login_required``)."""
    user = session_user()
    assert user is not None
    return user


def map_tiles() -> dict[str, Any]:
    """The editing map's tile layer: URL template, attribution, datum, subdomains, max zoom."""
    t = tile_provider()
    return {
        "url": t.url,
        "attribution": t.attribution,
        "datum": Datum(t.datum).value,
        "subdomains": t.subdomains,
        "max_zoom": t.max_zoom,
    }


@bp.context_processor
def _manage_globals() -> dict[str, object]:
    return {
        "account": session_user(),
        "role_labels": ROLE_LABELS,
        "kinds": KINDS,
        "statuses": STATUSES,
        "amenities": AMENITIES,
        "host_types": HOST_TYPES,
        "access_labels": ACCESS,
        "datum_labels": DATUM_LABELS,
        "field_labels": FIELD_LABELS,
        "action_names": HISTORY_ACTION_LABELS,
        "duplicate_reasons": DUPLICATE_REASON_LABELS,
        "display_value": display_value,
        "day_chips": DAY_CHIPS,
        "bulk_columns": bulk_columns(),
        "day_words": {k.lower(): v for k, v in DAY_WORDS.items()},
        "day_label": day_label,
        "locale": locale(),
        "stale_days": int(current_app.config.get("LOCATOR_STALE_DAYS", 90)),
    }


def display_value(name: str, value: Any) -> str:
    """A stored value of field ``name`` in words: labels for keys, ``、``-joined lists."""
    loc = locale()
    registry = VOCABULARIES.get(name)
    if isinstance(value, bool):
        return str(_("yes") if value else _("no"))
    if isinstance(value, list | tuple | set | frozenset):
        parts = [registry[v].get(loc) if registry and v in registry else str(v) for v in value]
        return ("、" if loc.startswith("zh") else ", ").join(parts)
    if registry and value in registry:
        return registry[value].get(loc)
    return str(value)


def day_label(day: date) -> str:
    """A short localized day, e.g. ``12月1日周二`` or ``Tue, Dec 1``."""
    return format_skeleton("MMMEd", day, locale=locale())


# --- form parsing -------------------------------------------------------------------------


def form_record(form: MultiDict[str, str]) -> dict[str, Any]:
    """The facility fields of a submitted form (strings stripped, amenities a list).

    Raises
    ------
    ValidationError
        The hours editor's rows do not make opening hours (see :func:`form_hours`).
    """
    rec: dict[str, Any] = {k: (form.get(k) or "").strip() for k in FORM_FIELDS if k != "amenities"}
    rec["amenities"] = sorted({a for a in form.getlist("amenities") if a})
    rec["opening_hours"] = form_hours(form)
    return rec


# --- the opening-hours editor -------------------------------------------------------------
#
# The editor's fields: ``hours_mode`` (``editor`` or ``raw``); per row ``i`` (0 …
# MAX_ROWS-1) ``h{i}_days`` (checkboxes ``mo`` … ``su``, ``ph``), ``h{i}_start`` and
# ``h{i}_end`` (``HH:MM``, paired by position, several per row), ``h{i}_allday`` and
# ``h{i}_closed``; and ``h_ph_closed``, ``h_appointment``. In ``raw`` mode (or when a
# client sends no ``hours_mode``) the ``opening_hours`` field is taken as it is.


def form_hours_rows(form: MultiDict[str, str]) -> tuple[list[RowInput], bool, bool]:
    """The editor rows of a submitted form, and its flags (closed on public holidays, by appointment)."""
    rows = [
        RowInput(
            days=form.getlist(f"h{i}_days"),
            starts=form.getlist(f"h{i}_start"),
            ends=form.getlist(f"h{i}_end"),
            all_day=form.get(f"h{i}_allday") == "1",
            closed=form.get(f"h{i}_closed") == "1",
        )
        for i in range(MAX_ROWS)
    ]
    return rows, form.get("h_ph_closed") == "1", form.get("h_appointment") == "1"


def form_hours(form: MultiDict[str, str]) -> str:
    """The ``opening_hours`` a form asks for: composed from the editor's rows, or the raw field.

    Raises
    ------
    ValidationError
        ``param="opening_hours"``, naming the editor row at fault.
    """
    if form.get("hours_mode") == "editor":
        rows, ph_closed, appointment = form_hours_rows(form)
        return compose(week_from_rows(rows, ph_closed=ph_closed, appointment=appointment))
    return (form.get("opening_hours") or "").strip()


def hours_editor(values: dict[str, Any], form: MultiDict[str, str] | None) -> dict[str, Any]:
    """What the hours editor shows: its mode, rows (plus a spare one) and flags.

    From a submitted form, the rows as submitted (so a refused save loses nothing);
    otherwise the stored value read back (:func:`~locator.core.hours_editor.decompose`),
    or the raw mode when the editor cannot express it.
    """
    rows: list[dict[str, Any]] = []
    if form is not None and form.get("hours_mode") in {"editor", "raw"}:
        submitted, ph_closed, appointment = form_hours_rows(form)
        mode = str(form.get("hours_mode"))
        for r in submitted:
            spans = [(a, b) for a, b in zip(r.starts, r.ends, strict=False) if a or b]
            if r.days or spans or r.all_day or r.closed:
                days = {d.lower() for d in r.days}
                rows.append({"days": days, "spans": spans, "all_day": r.all_day, "closed": r.closed})
        expressible = True
    else:
        week = decompose(values.get("opening_hours") or "")
        expressible = week is not None
        week = week or WeekHours()
        mode = "editor" if expressible else "raw"
        ph_closed, appointment = week.ph_closed, week.appointment
        for rule in week.rules:
            rows.append(
                {
                    "days": {d.lower() for d in rule.days},
                    "spans": [(s.start, s.end_input) for s in rule.spans],
                    "all_day": rule.all_day,
                    "closed": rule.closed,
                }
            )
    if len(rows) < MAX_ROWS:
        rows.append({"days": set(), "spans": [], "all_day": False, "closed": False})
    for row in rows:
        row["spans"] = [*row["spans"], ("", "")]
    return {
        "mode": mode,
        "rows": rows,
        "ph_closed": ph_closed,
        "appointment": appointment,
        "expressible": expressible,
        "days": [d.lower() for d in EDITOR_DAYS],
        "max_rows": MAX_ROWS,
    }


def hours_preview_context(value: str, error: LocatorError | None = None) -> dict[str, Any]:
    """The preview fragment's context: the week evaluated and in words, and an editor error."""
    return {
        "hours": preview_hours(value, datetime.now(UTC)),
        "hours_words": describe_value(value) if value else None,
        "hours_error": error.detail if error is not None else None,
        "appointment_comment": APPOINTMENT,
    }


_PAIR_SPLIT = re.compile(r"[,，;；\s]+")


def parse_coord_pair(text: str) -> tuple[float, float]:
    """Parse typed or pasted coordinates into ``(lon, lat)``.

    Accepts ``lon, lat`` (AMap and Baidu pickers) and ``lat, lon`` (Tencent's picker)
    when the order is unambiguous (exactly one number beyond ±90 is the longitude);
    otherwise longitude first.

    >>> parse_coord_pair("116.3376, 39.9925")
    (116.3376, 39.9925)
    >>> parse_coord_pair("39.9925,116.3376")
    (116.3376, 39.9925)

    Raises
    ------
    ValidationError
        Unless two finite numbers in range are given (``param="coords"``).
    """
    parts = [p for p in _PAIR_SPLIT.split(text.strip()) if p]
    try:
        a, b = (float(p) for p in parts)
    except ValueError:
        raise ValidationError(Msg("type two numbers: longitude, latitude"), param="coords") from None
    if abs(a) <= 90 < abs(b):
        a, b = b, a
    if not valid_lonlat(a, b):
        raise ValidationError(Msg("coordinates out of range"), param="coords")
    return a, b


def form_location(form: MultiDict[str, str], *, required: bool) -> tuple[float, float, Datum] | None:
    """The location a form asks for, in its declared datum (see the module docstring).

    Returns
    -------
    (lon, lat, datum) or None
        None when the location is left unchanged (edits only).

    Raises
    ------
    ValidationError
        A missing/unconfirmed pin, bad coordinates, or a missing datum.
    """
    confirmed = form.get("pin_confirmed") == "1"
    coords = (form.get("coords") or "").strip()
    if coords:
        lon, lat = parse_coord_pair(coords)
        raw_datum = (form.get("coords_datum") or "").strip()
        if not raw_datum:
            raise ValidationError(Msg("choose the datum of the typed coordinates"), param="coords_datum")
        try:
            datum = Datum.parse(raw_datum)
        except ValueError:
            raise ValidationError(Msg("unknown datum"), param="coords_datum") from None
    elif form.get("lon") and form.get("lat"):
        try:
            lon, lat = float(form["lon"]), float(form["lat"])
            datum = Datum.parse(form.get("map_datum") or "")
        except ValueError:
            raise ValidationError(
                Msg("the pin position is not valid; place it again"), param="location"
            ) from None
        if not valid_lonlat(lon, lat):
            raise ValidationError(Msg("the pin position is not valid; place it again"), param="location")
    elif required:
        raise ValidationError(Msg("place the pin on the map (tap the map) and confirm it"), param="location")
    else:
        return None
    if not confirmed:
        raise ValidationError(Msg("confirm the pin position before saving"), param="pin_confirmed")
    if not coords and form.get("pin_source") == "gps":
        check_gps_fix(form)
    return lon, lat, datum


#: A pin placed from a GPS fix less accurate than this (metres, the accuracy radius the
#: browser reports) needs the manager's explicit confirmation.
GPS_ACCURACY_LIMIT_M = 50.0


def check_gps_fix(form: MultiDict[str, str]) -> None:
    """Refuse a pin taken from a GPS fix worse than :data:`GPS_ACCURACY_LIMIT_M`, unless confirmed.

    The page's "use my location" (``static/js/manage-map.js``) sends ``pin_source=gps``,
    the fix's ``pin_accuracy_m`` and, once the manager accepted a poor fix,
    ``pin_accuracy_ok=1``; dragging the pin afterwards makes it a map pin again.

    Raises
    ------
    ValidationError
        ``param="pin_accuracy_ok"``.
    """
    try:
        accuracy = float(form.get("pin_accuracy_m") or "nan")
    except ValueError:
        accuracy = float("nan")
    if not accuracy <= GPS_ACCURACY_LIMIT_M and form.get("pin_accuracy_ok") != "1":
        raise ValidationError(
            Msg(
                "the GPS position is only accurate to %(m)s m (worse than %(limit)s m): "
                "confirm that you want it, or drag the pin to the entrance",
                m="?" if accuracy != accuracy else f"{accuracy:.0f}",
                limit=f"{GPS_ACCURACY_LIMIT_M:.0f}",
            ),
            param="pin_accuracy_ok",
        )


def form_values(form: MultiDict[str, str] | None, f: Facility | None = None) -> dict[str, Any]:
    """Values to fill the form with: the submitted form, else the facility, else blanks."""
    if form is not None:
        try:
            values: dict[str, Any] = form_record(form)
        except ValidationError:  # the editor's rows are shown as submitted, with the error
            values = {k: (form.get(k) or "").strip() for k in FORM_FIELDS if k != "amenities"}
            values["amenities"] = sorted({a for a in form.getlist("amenities") if a})
        for key in (
            "lon",
            "lat",
            "coords",
            "coords_datum",
            "pin_confirmed",
            "pin_source",
            "pin_accuracy_m",
            "pin_accuracy_ok",
            "reason",
            "version",
        ):
            values[key] = form.get(key, "")
        return values
    if f is not None:
        return {
            "kind": f.kind,
            "name": f.name,
            "address": f.address,
            "amenities": sorted(f.amenities),
            "opening_hours": f.opening_hours,
            "phone": f.phone,
            "host_type": f.host_type,
            "access": f.access,
            "version": str(f.version),
        }
    return {"kind": "warm_station", "amenities": []}


def editor_map(f: Facility | None, values: dict[str, Any], user: User) -> dict[str, Any]:
    """Configuration of the pin map: tiles, centre and pin in the map's datum."""
    tiles = map_tiles()
    datum = Datum(tiles["datum"])
    pin: list[float] | None = None
    moved = False
    try:
        if values.get("lon") and values.get("lat"):
            pin = [float(values["lat"]), float(values["lon"])]
            moved = True
    except ValueError:
        pin = None
    if pin is None and f is not None:
        lon, lat = from_wgs84(f.lon, f.lat, datum)
        pin = [lat, lon]
    if pin is not None:
        centre, zoom = pin, 17
    else:
        clon, clat = BEIJING_CENTRE
        districts = sorted(user.districts)
        area = management().locator.districts.by_code(districts[0]) if districts else None
        if area is not None:
            pt = area.geometry.representative_point()
            clon, clat = pt.x, pt.y
        lon, lat = from_wgs84(clon, clat, datum)
        centre, zoom = [lat, lon], 13 if area is not None else 11
    return {"tiles": tiles, "datum": datum.value, "centre": centre, "zoom": zoom, "pin": pin, "moved": moved}


def _changes(base: Facility, rec: dict[str, Any]) -> dict[str, Any]:
    """The form fields that differ from the stored facility.

    Opening hours the editor writes differently but that mean the same (``08:00-20:00``
    read back as ``Mo-Su 08:00-20:00``) are not a change.
    """
    out = {}
    for key, value in rec.items():
        stored = jsonable(getattr(base, key))
        if stored == value or (key == "opening_hours" and same_hours(stored, value)):
            continue
        out[key] = value
    return out


def _warnings(
    lon: float, lat: float, kind: str, name: str, exclude_id: str | None = None
) -> list[NearbyWarning]:
    if kind not in KINDS:
        return []
    return management().nearby_warnings(lon, lat, kind, name, exclude_id=exclude_id)


# --- list ---------------------------------------------------------------------------------


@bp.get("")
@login_required
def facilities() -> str:
    """The manager's facilities with search and filters."""
    user = account()
    mg = management()
    args = request.args
    flt = FacilityFilter(
        text=args.get("q", "")[:200],
        kinds=frozenset(k for k in args.getlist("kind") if k in KINDS),
        statuses=frozenset(s for s in args.getlist("status") if s in STATUSES),
        districts=frozenset(d for d in args.getlist("district") if d),
        stale=args.get("stale") == "1",
        with_reports=args.get("reports") == "1",
    )
    items = mg.facilities(user, flt)
    try:
        page = max(1, int(args.get("page", "1")))
    except ValueError:
        page = 1
    shown = items[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    if user.role == "admin":
        districts = sorted(mg.locator.districts.areas, key=lambda a: a.code)
    else:
        districts = sorted(
            (a for a in mg.locator.districts.areas if a.code in user.districts), key=lambda a: a.code
        )
    return render_template(
        "manage/facilities.html",
        items=shown,
        total=len(items),
        page=page,
        pages=max(1, -(-len(items) // PAGE_SIZE)),
        flt=flt,
        districts=districts,
        reports=mg.open_report_counts(user),
        stale_ids={f.id for f in shown if mg.is_stale(f)},
        can_create=mg.can_create(user),
        live_lines=_live_lines(shown),
    )


def _live_lines(items: list[Facility]) -> dict[str, str]:
    """The live door status in words per facility (only where riders see more than the hours)."""
    now = datetime.now(UTC)
    svc = live()
    lines = {}
    for f in items:
        words = live_words(svc.status(f, now), now)
        if words.line:
            lines[f.id] = words.line
    return lines


# --- create / edit ----------------------------------------------------------------------------


def _render_form(
    f: Facility | None,
    values: dict[str, Any],
    *,
    error: LocatorError | None = None,
    warnings: list[NearbyWarning] | None = None,
    conflict: Conflict | None = None,
    based_on: int | None = None,
    status: int = 200,
    form: MultiDict[str, str] | None = None,
    new_key: tuple[DoorKey, str] | None = None,
) -> tuple[str, int]:
    user = account()
    hours_error = error if error is not None and error.param == "opening_hours" else None
    now = datetime.now(UTC)
    live_line = live_words(live().status(f, now), now) if f is not None else None
    door_keys = live().door_keys(f.id) if f is not None else []
    return (
        render_template(
            "manage/facility_form.html",
            f=f,
            values=values,
            error=error,
            warnings=warnings or [],
            editor=editor_map(f, values, user),
            hours_editor=hours_editor(values, form),
            **hours_preview_context(values.get("opening_hours", ""), hours_error),
            gps_limit_m=GPS_ACCURACY_LIMIT_M,
            stale=f is not None and management().is_stale(f),
            conflict=conflict,
            conflict_rows=conflict_rows(conflict) if conflict else [],
            based_on=based_on,
            live_line=live_line,
            door_keys=door_keys,
            new_key=new_key,
            tz=TZ,
        ),
        status,
    )


def _preview_form(f: Facility | None, form: MultiDict[str, str], values: dict[str, Any]) -> tuple[str, int]:
    """“Preview the hours” without JavaScript: the form again, as submitted, with the week in words.

    Nothing is saved; an editor error is shown beside the editor.
    """
    try:
        form_hours(form)
    except ValidationError as exc:
        return _render_form(f, values, error=exc, status=200, form=form)
    return _render_form(f, values, form=form)


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new_facility() -> tuple[str, int] | Response:
    """Create a facility: fields, a confirmed pin (or typed coordinates with a datum)."""
    user = account()
    mg = management()
    if not mg.can_create(user):
        raise ForbiddenError(Msg("station managers cannot create facilities"))
    if request.method == "GET":
        return _render_form(None, form_values(None))
    form = request.form
    values = form_values(form)
    try:
        if form.get("preview") == "hours":
            return _preview_form(None, form, values)
        rec = form_record(form)
        loc = form_location(form, required=True)
        assert loc is not None
        if form.get("ack_warnings") != "1":
            built = mg.prepare_create(user, {**rec, "lon": loc[0], "lat": loc[1]}, loc[2])
            found = _warnings(built.lon, built.lat, built.kind, built.name)
            if found:
                return _render_form(None, values, warnings=found, form=form)
        stored = mg.create(user, {**rec, "lon": loc[0], "lat": loc[1]}, loc[2], reason=form.get("reason", ""))
    except ValidationError as exc:
        return _render_form(None, values, error=exc, status=400, form=form)
    except ForbiddenError as exc:
        return _render_form(None, values, error=exc, status=403, form=form)
    flash(_("Created “%(name)s”.", name=stored.name), "success")
    return redirect(url_for("manage.edit_facility", facility_id=stored.id), code=303)


@bp.route("/f/<facility_id>/edit", methods=["GET", "POST"])
@login_required
def edit_facility(facility_id: str) -> tuple[str, int] | Response:
    """Edit a facility; a stale version shows both versions (see :func:`_conflict_page`)."""
    user = account()
    mg = management()
    base = mg.get(user, facility_id)
    if request.method == "GET":
        return _render_form(base, form_values(None, base))
    form = request.form
    values = form_values(form)
    try:
        version = form_int(form.get("version"))
    except ValueError:
        raise ValidationError(Msg("the form lacks its version; reload the page"), param="version") from None
    try:
        if form.get("preview") == "hours":
            return _preview_form(base, form, values)
        rec = form_record(form)
        loc = form_location(form, required=False)
        datum = loc[2] if loc is not None else None
        if version != base.version:
            return _conflict_page(user, base.id, version, rec, loc)
        changes = _changes(base, rec)
        if loc is not None:
            changes.update(lon=loc[0], lat=loc[1])
        if not changes:
            flash(_("Nothing changed."), "info")
            return redirect(url_for("manage.edit_facility", facility_id=facility_id), code=303)
        if form.get("ack_warnings") != "1" and ({"name", "kind"} & changes.keys() or loc is not None):
            built = mg.prepare_update(user, facility_id, changes, datum)
            found = _warnings(built.lon, built.lat, built.kind, built.name, base.id)
            if found:
                return _render_form(base, values, warnings=found, form=form)
        stored = mg.update(user, facility_id, changes, version, datum, reason=form.get("reason", ""))
    except VersionConflictError:  # someone saved between our read and our write
        return _conflict_page(user, base.id, version, rec, loc)
    except ValidationError as exc:
        return _render_form(base, values, error=exc, status=400, form=form)
    except ForbiddenError as exc:
        return _render_form(base, values, error=exc, status=403, form=form)
    flash(_("Saved “%(name)s” (version %(v)s).", name=stored.name, v=stored.version), "success")
    return redirect(url_for("manage.edit_facility", facility_id=facility_id), code=303)


def conflict_rows(conflict: Conflict) -> list[dict[str, Any]]:
    """One row per field either side changed: base, theirs (now stored), mine."""
    now = conflict.current
    rows = []
    for name in (*FORM_FIELDS, "lon", "lat", "status", "status_until", "status_reason", "verified_at"):
        if name not in conflict.mine and name not in conflict.theirs:
            continue
        rows.append(
            {
                "field": name,
                "base": conflict.base.get(name),
                "theirs": jsonable(getattr(now, name)),
                "mine": conflict.mine.get(name),
                "by_them": name in conflict.theirs,
                "by_me": name in conflict.mine,
                "both": name in conflict.overlapping,
            }
        )
    return rows


def _conflict_page(
    user: User,
    facility_id: str,
    based_on: int,
    rec: dict[str, Any],
    loc: tuple[float, float, Datum] | None,
) -> tuple[str, int]:
    """Someone saved first: show both versions and the editor with *my* changes re-applied on *theirs*.

    Only the fields this editor changed (compared with the version they started from,
    rebuilt from the history) are carried over, so re-applying never reverts the other
    person's edit of a field this editor did not touch.
    """
    mg = management()
    mine = dict(rec)
    if loc is not None:
        mine["lon"], mine["lat"] = to_wgs84(*loc)
    conflict = mg.conflict(user, facility_id, based_on, mine)
    current = conflict.current
    merged = form_values(None, current)
    for key, value in conflict.mine.items():
        if key not in ("lon", "lat"):
            merged[key] = value
    if "lon" in conflict.mine or "lat" in conflict.mine:
        datum = Datum(map_tiles()["datum"])
        mlon, mlat = from_wgs84(mine["lon"], mine["lat"], datum)
        merged.update(lon=f"{mlon:.7f}", lat=f"{mlat:.7f}", pin_confirmed="1")
    merged["reason"] = request.form.get("reason", "")
    return _render_form(current, merged, conflict=conflict, based_on=based_on, status=409)


# --- status, verification ----------------------------------------------------------------------


def _back(facility_id: str) -> str:
    return safe_next(request.form.get("next"), url_for("manage.edit_facility", facility_id=facility_id))


@bp.post("/f/<facility_id>/status")
@login_required
def set_status(facility_id: str) -> Response:
    """Open, temporarily close (until a date) or remove; a stale version is refused."""
    user = account()
    form = request.form
    version: int | None
    try:
        version = form_int(form.get("version"))
    except ValueError:
        version = None
    try:
        stored = management().set_status(
            user,
            facility_id,
            form.get("status", ""),
            until=form.get("until") or None,
            reason=form.get("reason", ""),
            expected_version=version,
        )
    except VersionConflictError:
        flash(_("Someone else changed this facility meanwhile; check it and try again."), "warning")
        return redirect(_back(facility_id), code=303)
    except ValidationError as exc:
        flash(_("Status not changed: %(why)s", why=translated(exc.detail)), "error")
        return redirect(_back(facility_id), code=303)
    flash(
        _("Status of “%(name)s”: %(s)s.", name=stored.name, s=STATUSES[stored.status].get(locale())),
        "success",
    )
    return redirect(_back(facility_id), code=303)


@bp.post("/f/<facility_id>/verify")
@login_required
def verify(facility_id: str) -> Response:
    """“Verified today”: one tap."""
    stored = management().verify(account(), facility_id)
    flash(_("“%(name)s” verified today.", name=stored.name), "success")
    return redirect(_back(facility_id), code=303)


@bp.post("/f/<facility_id>/live")
@login_required
def set_live(facility_id: str) -> Response:
    """One tap at the door: ``open`` now, ``closed`` now until ``HH:MM`` (with a reason), or ``cleared``."""
    user = account()
    f = management().get(user, facility_id)  # the manager's scope
    form = request.form
    state = form.get("state", "")
    now = datetime.now(UTC)
    try:
        until = next_time_of_day(form["until"], now) if form.get("until") else None
        done = live().set_override(
            f.id, state, actor=user.name, now=now, until=until, reason=form.get("reason", "")
        )
    except ValidationError as exc:
        flash(_("Door status not changed: %(why)s", why=translated(exc.detail)), "error")
        return redirect(_back(facility_id), code=303)
    words = live_words(done.status, now).line or _("Riders see the opening hours again.")
    flash(_("“%(name)s”: %(what)s", name=f.name, what=words), "success")
    return redirect(_back(facility_id), code=303)


@bp.post("/f/<facility_id>/door-keys")
@login_required
def create_door_key(facility_id: str) -> tuple[str, int] | Response:
    """A key for a door device; its secret is shown on this answer only (never stored, never again)."""
    user = account()
    f = management().get(user, facility_id)
    try:
        made = live().create_door_key(f.id, request.form.get("name", ""))
    except ValidationError as exc:
        flash(_("No key made: %(why)s", why=translated(exc.detail)), "error")
        return redirect(url_for("manage.edit_facility", facility_id=f.id) + "#door-devices", code=303)
    return _render_form(f, form_values(None, f), new_key=made)


@bp.post("/f/<facility_id>/door-keys/<key_id>/revoke")
@login_required
def revoke_door_key(facility_id: str, key_id: str) -> Response:
    """Revoke one of this facility's door keys at once."""
    user = account()
    f = management().get(user, facility_id)
    svc = live()
    if key_id not in {k.id for k in svc.door_keys(f.id)}:
        raise NotFoundError(Msg("no door key %(id)s for this facility", id=key_id))
    key = svc.revoke_door_key(key_id)
    flash(_("Door key “%(name)s” revoked: the device can no longer report.", name=key.name), "success")
    return redirect(url_for("manage.edit_facility", facility_id=f.id) + "#door-devices", code=303)


# --- small helpers for the editor's JavaScript (GET, same origin) -------------------------------


@bp.get("/preview/hours")
@login_required
def hours_fragment() -> str:
    """The hours preview (an HTML fragment) of ``?value=``, or of the editor's fields.

    With ``hours_mode=editor`` and the editor's fields (see :func:`form_hours`) the value
    is composed first; the fragment then carries it in ``data-value`` of
    ``#hours-composed`` for the page's script to put in the raw field.
    """
    args = request.args
    error: ValidationError | None = None
    try:
        value = form_hours(args) if args.get("hours_mode") == "editor" else args.get("value", "")[:500]
    except ValidationError as exc:
        value, error = "", exc
    return render_template(
        "manage/_hours_preview.html", composed=value, **hours_preview_context(value, error)
    )


@bp.get("/preview/nearby")
@login_required
def nearby_fragment() -> str:
    """Likely duplicates near ``?lon&lat&datum`` for ``kind``/``name`` (an HTML fragment)."""
    args = request.args
    try:
        lon, lat = float(args.get("lon", "")), float(args.get("lat", ""))
        datum = Datum.parse(args.get("datum", "wgs84"))
    except ValueError:
        return ""
    if not valid_lonlat(lon, lat):
        return ""
    wlon, wlat = to_wgs84(lon, lat, datum)
    found = _warnings(wlon, wlat, args.get("kind", ""), args.get("name", ""), args.get("id") or None)
    return render_template("manage/_nearby.html", warnings=found)


@bp.get("/convert")
@login_required
def convert() -> Response:
    """Convert typed ``coords`` from datum ``from`` to ``to`` (JSON ``{lon, lat}``) for the pin."""
    args = request.args
    try:
        lon, lat = parse_coord_pair(args.get("coords", ""))
        src, dst = Datum.parse(args.get("from", "")), Datum.parse(args.get("to", ""))
    except (ValidationError, ValueError) as exc:
        detail = translated(exc.detail if isinstance(exc, ValidationError) else exc.args[0])
        return Response(json.dumps({"error": detail}), status=400, mimetype="application/json")
    wlon, wlat = to_wgs84(lon, lat, src)
    out = from_wgs84(wlon, wlat, dst)
    return Response(
        json.dumps({"lon": round(out[0], 7), "lat": round(out[1], 7), "input": [lon, lat]}),
        mimetype="application/json",
    )


# --- history ----------------------------------------------------------------------------------


@bp.get("/f/<facility_id>/history")
@login_required
def history(facility_id: str) -> str:
    """Who changed what, when and why, in words (:meth:`ManagementService.history_words`).

    “Restore this version” on each entry but the newest.
    """
    user = account()
    mg = management()
    items = mg.history_words(user, facility_id)
    try:
        current: Facility | None = mg.store.get(facility_id)
    except LocatorError:
        current = None
    return render_template(
        "manage/history.html", facility_id=facility_id, current=current, items=items, tz=TZ
    )


@bp.post("/f/<facility_id>/restore")
@login_required
def restore(facility_id: str) -> Response:
    """Restore the state after one history entry, as a new change."""
    user = account()
    form = request.form
    try:
        seq, version = form_int(form.get("seq")), form_int(form.get("version"))
    except ValueError:
        raise ValidationError(Msg("the form lacks seq or version; reload the page"), param="seq") from None
    try:
        stored = management().restore(user, facility_id, seq, version, reason=form.get("reason", ""))
    except VersionConflictError:
        flash(
            _("Someone else changed this facility meanwhile; nothing was restored. Check the history again."),
            "warning",
        )
        return redirect(url_for("manage.history", facility_id=facility_id), code=303)
    flash(_("Restored entry #%(seq)s as version %(v)s.", seq=seq, v=stored.version), "success")
    return redirect(url_for("manage.history", facility_id=facility_id), code=303)


# --- bulk upload and export -------------------------------------------------------------------

_UPLOAD_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
UPLOAD_TTL = timedelta(hours=1)


def upload_dir() -> Path:
    """Where uploads wait between the dry run and apply (``LOCATOR_UPLOAD_DIR``)."""
    configured = current_app.config.get("LOCATOR_UPLOAD_DIR")
    path = Path(configured) if configured else Path(current_app.instance_path) / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _clean_uploads(path: Path) -> None:
    cutoff = time.time() - UPLOAD_TTL.total_seconds()
    for item in path.glob("*"):
        try:
            if item.stat().st_mtime < cutoff:
                item.unlink()
        except OSError:
            pass


def _pending(token: str, user: User) -> tuple[dict[str, Any], bytes]:
    """A stored upload of ``user`` by its token.

    Raises
    ------
    ValidationError
        If there is no such upload (or it expired, or belongs to someone else).
    """
    base = upload_dir()
    meta_path = base / f"{token}.json"
    if not _UPLOAD_TOKEN.match(token) or not meta_path.is_file():
        raise ValidationError(Msg("this upload expired; upload the file again"), param="upload")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("user") != user.name or time.time() - meta.get("created", 0) > UPLOAD_TTL.total_seconds():
        raise ValidationError(Msg("this upload expired; upload the file again"), param="upload")
    return meta, (base / f"{token}.data").read_bytes()


@bp.get("/bulk")
@login_required
def bulk() -> str:
    """Upload (with a declared datum) and export."""
    return render_template("manage/bulk.html", plan=None, error=None, upload=None, meta=None)


@bp.get("/bulk/template.<fmt>")
@login_required
def bulk_template(fmt: str) -> Response:
    """A template to fill in: CSV (header and an example row) or XLSX (plus every allowed value)."""
    if fmt not in {"csv", "xlsx"}:
        raise NotFoundError(Msg("templates: csv, xlsx"), param="format")
    body, mimetype = (
        (template_csv(), _EXPORTS["csv"][0]) if fmt == "csv" else (template_xlsx(), _EXPORTS["xlsx"][0])
    )
    resp = Response(body, mimetype=mimetype)
    resp.headers["Content-Disposition"] = f'attachment; filename="facilities-template.{fmt}"'
    return resp


@bp.post("/bulk/dry-run")
@login_required
def bulk_dry_run() -> tuple[str, int]:
    """Read the upload and report, row by row, what applying it would do; store nothing."""
    user = account()
    limit = int(current_app.config["LOCATOR_MAX_UPLOAD_BYTES"])  # the body cap (http.bodies) too
    too_large = Msg("the file is larger than %(mb)s MB", mb=round(limit / 2**20, 1))
    upload = request.files.get("file")
    raw_datum = request.form.get("datum", "")
    try:
        if upload is None or not upload.filename:
            raise ValidationError(Msg("choose a file"), param="file")
        if not raw_datum:
            raise ValidationError(Msg("declare the datum of the file's coordinates"), param="datum")
        try:
            datum = Datum.parse(raw_datum)
        except ValueError:
            raise ValidationError(Msg("unknown datum"), param="datum") from None
        data = upload.read(limit + 1)
        if len(data) > limit:
            raise ValidationError(too_large, param="file")
        records = read_upload(upload.filename, data)
        if not records:
            raise ValidationError(Msg("the file holds no rows"), param="file")
        plan = management().plan_import(user, records, datum)
    except ValidationError as exc:
        return render_template("manage/bulk.html", plan=None, error=exc, upload=None, meta=None), 400
    token = None
    meta = {
        "user": user.name,
        "datum": datum.value,
        "filename": Path(upload.filename).name[:200],
        "created": time.time(),
        "versions": plan.seen,
    }
    if plan.ok and plan.to_write:
        base = upload_dir()
        _clean_uploads(base)
        token = secrets.token_urlsafe(24)
        (base / f"{token}.data").write_bytes(data)
        (base / f"{token}.json").write_text(json.dumps(meta), encoding="utf-8")
    return render_template("manage/bulk.html", plan=plan, error=None, upload=token, meta=meta), 200


@bp.post("/bulk/apply")
@login_required
def bulk_apply() -> tuple[str, int] | Response:
    """Apply a dry-run upload: all rows or none."""
    user = account()
    token = request.form.get("upload", "")
    meta, data = _pending(token, user)
    try:
        records = read_upload(meta["filename"], data)
        plan = management().apply_import(
            user,
            records,
            Datum.parse(meta["datum"]),
            dry_run_versions=meta["versions"],
            reason=request.form.get("reason", ""),
            file=meta["filename"],
        )
    except (ImportRejectedError, VersionConflictError, ValidationError) as exc:
        return render_template("manage/bulk.html", plan=None, error=exc, upload=None, meta=meta), exc.status
    for suffix in (".data", ".json"):
        (upload_dir() / f"{token}{suffix}").unlink(missing_ok=True)
    flash(
        _(
            "Applied %(file)s: %(new)s new, %(upd)s updated, %(same)s unchanged.",
            file=meta["filename"],
            new=plan.count("new"),
            upd=plan.count("update"),
            same=plan.count("unchanged"),
        ),
        "success",
    )
    return redirect(url_for("manage.facilities"), code=303)


_EXPORTS = {
    "csv": ("text/csv; charset=utf-8", export_csv),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", export_xlsx),
    "geojson": ("application/geo+json", export_geojson),
}


@bp.get("/export.<fmt>")
@login_required
def export(fmt: str) -> Response:
    """The manager's scope as CSV, XLSX or GeoJSON (WGS-84)."""
    if fmt not in _EXPORTS:
        raise NotFoundError(Msg("export formats: csv, xlsx, geojson"), param="format")
    mimetype, writer = _EXPORTS[fmt]
    user = account()
    body = writer(management().facilities(user))
    stamp = datetime.now(UTC).astimezone(TZ).strftime("%Y%m%d-%H%M")
    resp = Response(body, mimetype=mimetype)
    resp.headers["Content-Disposition"] = f'attachment; filename="facilities-{user.name}-{stamp}-wgs84.{fmt}"'
    resp.headers["Cache-Control"] = "no-store"
    return resp


# --- work lists ---------------------------------------------------------------------------------

REPORT_STATUS_LABELS = {
    "open": _l("open"),
    "resolved": _l("resolved"),
    "dismissed": _l("dismissed"),
}
REPORT_ACTION_LABELS = {
    "none": _l("No change needed"),
    "verified": _l("Checked: it is right (verified today)"),
    "temporarily_closed": _l("Mark temporarily closed"),
    "removed": _l("Mark removed"),
    "open": _l("Mark open again"),
}


@bp.get("/reports")
@login_required
def reports() -> str:
    """Rider reports about the manager's facilities: the open queue and the recently handled."""
    user = account()
    mg = management()
    return render_template(
        "manage/reports.html",
        queue=mg.reports(user),
        handled=mg.reports(user, handled=True, limit=30),
        reason_labels={k: v.get(locale()) for k, v in FEEDBACK_REASONS.items()},
        action_labels=REPORT_ACTION_LABELS,
        status_labels=REPORT_STATUS_LABELS,
        tz=TZ,
    )


@bp.post(f"/reports/<int(max={REPORT_ID_MAX}):report_id>/resolve")
@login_required
def resolve_report(report_id: int) -> Response:
    """Resolve (with the action taken) or dismiss one report."""
    form = request.form
    resolution = "dismissed" if form.get("resolution") == "dismissed" else "resolved"
    if resolution == "resolved" and not form.get("action"):
        # Nothing is pre-selected (issue 13: no stray tap closes a station): say what was done.
        flash(_("Report #%(id)s not handled: %(why)s", id=report_id, why=_("choose what you did")), "error")
        return redirect(url_for("manage.reports"), code=303)
    try:
        report = management().resolve_report(
            account(),
            report_id,
            resolution,
            form.get("action", "none") if resolution == "resolved" else "none",
            until=form.get("until") or None,
            note=form.get("note", ""),
        )
    except (ValidationError, ConflictError) as exc:
        flash(_("Report #%(id)s not handled: %(why)s", id=report_id, why=translated(exc.detail)), "error")
        return redirect(url_for("manage.reports"), code=303)
    label = REPORT_ACTION_LABELS.get(report.action, report.action)
    status = REPORT_STATUS_LABELS.get(report.status, report.status)
    flash(_("Report #%(id)s %(s)s (%(a)s).", id=report.id, s=status, a=label), "success")
    return redirect(url_for("manage.reports"), code=303)


@bp.get("/stale")
@login_required
def stale() -> str:
    """Facilities not verified for the stale period, least recently verified first."""
    mg = management()
    items = mg.stale(account())
    return render_template("manage/stale.html", items=items[:500], total=len(items), days=mg.stale_days)


# --- accounts: one's own password, and the administrator's list -------------------------------


@bp.route("/account", methods=["GET", "POST"])
@login_required
def my_account() -> tuple[str, int] | Response:
    """Change one's own password (current + new, twice); the user's *other* sessions end.

    A wrong current password counts against the login throttle (per address and per user
    name), so this form cannot be used to guess passwords faster than the login form.
    """
    user = account()
    if request.method == "GET":
        return render_template("manage/account.html", error=None), 200
    form = request.form
    throttle = login_throttle()
    keys = throttle.keys(request.remote_addr or "unknown", user.name)
    throttle.check(*keys)
    try:
        if (form.get("password") or "") != (form.get("password2") or ""):
            raise ValidationError(Msg("the two new passwords differ"), param="password2")
        updated = accounts().change_own_password(
            user, form.get("current_password") or "", form.get("password") or ""
        )
    except ValidationError as exc:
        if exc.param == "current_password":
            throttle.failed(*keys)
        return render_template("manage/account.html", error=exc), 400
    # The new password hash changed the session fingerprint: every session of this user
    # ended. Log this one in again, so that only the *other* sessions end.
    session.clear()
    login_user(LoginUser(updated))
    session.permanent = True
    flash(_("Password changed. Your other sessions (other phones and computers) were logged out."), "success")
    return redirect(url_for("manage.my_account"), code=303)


@bp.get("/users")
@login_required
def users() -> str:
    """Administrators: every account, with deactivate/reactivate, reset password, end sessions."""
    user = account()
    if user.role != "admin":
        raise ForbiddenError(Msg("only administrators manage accounts"))
    areas = {a.code: a.name for a in management().locator.districts.areas}
    return render_template("manage/users.html", users=accounts().list_users(), areas=areas, tz=TZ)


@bp.post("/users/<name>/<any(deactivate, activate, 'end-sessions', 'reset-password'):action>")
@login_required
def user_action(name: str, action: str) -> Response:
    """One administrator action on another account; each ends that user's sessions but reactivation."""
    admin = account()
    svc = accounts()
    try:
        if action == "reset-password":
            if (request.form.get("password") or "") != (request.form.get("password2") or ""):
                raise ValidationError(Msg("the two new passwords differ"), param="password2")
            svc.reset_password(admin, name, request.form.get("password") or "")
            done = _("New password set for %(name)s; their sessions were ended.", name=name)
        elif action == "end-sessions":
            svc.end_sessions_by(admin, name)
            done = _("Every session of %(name)s was ended.", name=name)
        else:
            svc.set_active_by(admin, name, action == "activate")
            if action == "activate":
                done = _("%(name)s can log in again.", name=name)
            else:
                done = _("%(name)s is deactivated: logged out everywhere, tokens stopped.", name=name)
    except ValidationError as exc:
        flash(_("%(name)s: %(why)s", name=name, why=translated(exc.detail)), "error")
        return redirect(url_for("manage.users") + f"#user-{name}", code=303)
    flash(done, "success")
    return redirect(url_for("manage.users") + f"#user-{name}", code=303)
