"""The rider pages: ``/`` (find nearest), ``/nearest`` (list, then map), ``/map`` (city).

Views parse the request and render; the rules live in :mod:`locator.core.riders`,
:mod:`locator.core.hours` and :mod:`locator.services.facilities`, the words in :mod:`.present`.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from locator.core.clusters import MAX_CLUSTER_ZOOM
from locator.core.domain import AMENITIES, FEEDBACK_REASONS, KINDS, STATUSES, NearestHit
from locator.core.geo import from_wgs84, geodesic_inverse, to_wgs84
from locator.core.hours import CALENDAR_YEARS
from locator.core.riders import closer_worth_noting, need_toggles, ranked_nearest
from locator.errors import Msg, StoreUnavailableError, ValidationError
from locator.formats import maps
from locator.http import present
from locator.http.feedback import client_of_request, submit_feedback
from locator.http.i18n import locale
from locator.http.limits import feedback_limit
from locator.http.models import TRUE_WORDS, CheckinBody, FeedbackBody, MapViewParams
from locator.http.params import ParsedNearest, parse_nearest
from locator.http.sameorigin import anonymous_write
from locator.http.state import (
    asset_url,
    city_map_service,
    district_outlines,
    feedback_service,
    live,
    place_index,
    service,
    stale_after,
    tile_provider,
)
from locator.http.urls import link

bp = Blueprint("web", __name__)

#: Parameters that may repeat in a page's query string (checkbox groups).
_LIST_PARAMS = ("kind", "amenity")


def page_args(args: MultiDict[str, str] | None = None) -> dict[str, str]:
    """A page's query string as the API's flat parameters.

    Checkbox groups arrive as repeated ``kind``/``amenity`` values and are joined with
    commas; ``open_now`` comes from a hidden ``false`` followed by a checkbox ``true``,
    so its *last* value wins. ``open_now`` defaults to true on pages.
    """
    args = request.args if args is None else args
    out: dict[str, str] = {}
    for key in args:
        values = [v.strip() for v in args.getlist(key)]
        if key in _LIST_PARAMS:
            out[key] = ",".join(v for part in values for v in part.split(",") if v)
        elif key == "open_now":
            out[key] = values[-1]
        else:
            out[key] = values[0]
    out.setdefault("open_now", "true")
    for marker in ("fb", "fb_id", "ci", "ci_id"):
        out.pop(marker, None)
    return out


def thanks() -> dict[str, str] | None:
    """The "thank you" to show after a feedback form posted without JavaScript."""
    verdict, fid = request.args.get("fb", ""), request.args.get("fb_id", "")
    return {"verdict": verdict, "id": fid} if verdict in {"confirm", "problem"} and fid else None


def safe_next(url: str) -> str | None:
    """``url`` if it is a path on this site (no scheme, no host), without fb markers."""
    if not url.startswith("/") or url.startswith("//") or "\\" in url:
        return None
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        return None
    markers = {"fb", "fb_id", "ci", "ci_id"}
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in markers]
    return parts.path + ("?" + urlencode(query) if query else "")


def selected(args: dict[str, str], name: str) -> list[str]:
    """The comma-separated values of ``args[name]`` as a list."""
    return [v for v in args.get(name, "").split(",") if v]


def filter_state(args: dict[str, str]) -> dict[str, Any]:
    """What the filter form shows: kind, the toggles for it, and what is on."""
    kinds = [k for k in selected(args, "kind") if k in KINDS]
    kind = kinds[0] if len(kinds) == 1 else None
    toggles = need_toggles(kind)
    on = [a for a in selected(args, "amenity") if a in AMENITIES]
    return {
        "kind": kind,
        "toggles": [(a, AMENITIES[a].get(locale())) for a in toggles],
        "extra_on": [a for a in on if a not in toggles],
        "amenities_on": set(on),
        "open_now": args.get("open_now", "true").strip().lower() in TRUE_WORDS,
    }


def kind_tabs(endpoint: str, args: dict[str, str]) -> list[dict[str, Any]]:
    """Links for the kind tabs: "All" then each kind, keeping the other parameters.

    Amenities that the new kind does not offer as a toggle are dropped so that a tab
    never opens an empty list by surprise.
    """
    current = filter_state(args)["kind"]
    tabs = []
    for key, label in [(None, present.all_kinds_label()), *((k, v.get(locale())) for k, v in KINDS.items())]:
        new = {k: v for k, v in args.items() if k not in {"kind", "amenity", "area"}}
        if key is not None:
            new["kind"] = key
        keep = [a for a in selected(args, "amenity") if a in need_toggles(key)]
        if keep:
            new["amenity"] = ",".join(keep)
        url = url_for(endpoint) + "?" + urlencode(new)
        tabs.append({"key": key, "label": label, "url": url, "current": key == current})
    return tabs


def _areas() -> dict[str, Any]:
    svc = service()
    return {
        "districts": sorted(svc.districts.areas, key=lambda a: a.code),
        "subdistricts": sorted(svc.subdistricts.areas, key=lambda a: (a.parent_code or "", a.name)),
    }


@bp.get("/")
def index() -> str:
    """The start page: kind tabs, need toggles, "open now", one big button, fallbacks."""
    args = page_args()
    args.setdefault("kind", "warm_station")
    filters = filter_state(args)
    needs = [label for key, label in filters["toggles"] if key in filters["amenities_on"]]
    summary = " · ".join(([present.open_now_label()] if filters["open_now"] else []) + needs)
    return render_template(
        "index.html",
        args=args,
        tabs=kind_tabs("web.index", args),
        filters=filters,
        needs_summary=summary,
        kinds=KINDS,
        **_areas(),
    )


def _rider_nearest(parsed: ParsedNearest) -> list[Any]:
    svc = service()
    demoted = live().demoted(parsed.at)
    return ranked_nearest(
        svc.index,
        parsed.query,
        parsed.at,
        stale_after=stale_after(),
        demoted=demoted,
        may_be_demoted=demoted.possible,
    )


def ci_marker() -> dict[str, str] | None:
    """The "thank you" to show after a check-in form posted without JavaScript."""
    door, fid = request.args.get("ci", ""), request.args.get("ci_id", "")
    return {"door": door, "id": fid} if door and fid else None


def filter_summary(parsed: ParsedNearest) -> str:
    """The filters in one line: "warm station · open now · toilet, drinking water"."""
    loc = locale()
    kinds = parsed.query.kinds
    parts = [", ".join(KINDS[k].get(loc) for k in sorted(kinds)) if kinds else present.all_kinds_label()]
    if parsed.query.open_at is not None:
        parts.append(present.open_now_label())
    needs = [AMENITIES[a].get(loc) for a in AMENITIES if a in parsed.query.amenities]
    if needs:
        parts.append("、".join(needs) if loc == "zh" else ", ".join(needs))
    return " · ".join(parts)


def closer_one(parsed: ParsedNearest, hits: list[Any], origin: tuple[float, float]) -> dict[str, str] | None:
    """The honest "open now": a closer station not in the list, when the first open one is far.

    Only with "open now": the nearest station of any state (same kinds and needs, open or
    temporarily closed) is looked up; :func:`locator.core.riders.closer_worth_noting` decides.
    """
    if parsed.query.open_at is None:
        return None
    any_query = dataclasses.replace(
        parsed.query, k=1, open_at=None, statuses=frozenset({"open", "temporarily_closed"})
    )
    near = service().nearest(any_query)
    first = hits[0] if hits else None
    if not near or any(h.facility.id == near[0].facility.id for h in hits):
        return None
    if not closer_worth_noting(near[0], first):
        return None
    f = near[0].facility
    status = live().status(f, parsed.at)
    url = url_for("web.facility", facility_id=f.id, lon=f"{origin[0]:.6f}", lat=f"{origin[1]:.6f}")
    return {"text": present.closer_note(near[0], status, parsed.at), "url": url}


def marker_details(results: list[dict[str, Any]]) -> dict[str, maps.MarkerDetails]:
    """The list's own words for the map's popups (hours, live status, the go button)."""
    modes = dict(present.nav_modes())
    apps = present.nav_apps()
    out = {}
    for r in results:
        f, go = r["f"], r["go"]
        out[f.id] = maps.MarkerDetails(
            hours=r["hours_text"],
            hours_class=r["hours_class"],
            live=" · ".join(x for x in (r["live_line"], r["live_note"]) if x),
            go_url=go.primary.url,
            go_label=present.go_label(apps[go.primary.app], modes[go.primary.mode]),
            page_url=url_for("web.facility", facility_id=f.id, lon=r["origin_lon"], lat=r["origin_lat"]),
        )
    return out


@bp.get("/nearest")
def nearest() -> str | Response:
    """Results as a list first, then a map. ``area=`` searches from an area's centre.

    Without a position (no JavaScript, or location denied) the page asks where the
    rider is instead of failing.
    """
    args = page_args()
    area_code = args.pop("area", "").strip()
    if area_code and not (args.get("lon") or args.get("lat")):
        svc = service()
        area = svc.districts.by_code(area_code) or svc.subdistricts.by_code(area_code)
        if area is None:
            raise ValidationError(Msg("unknown area"), param="area")
        pt = area.geometry.representative_point()
        args["lon"], args["lat"] = f"{pt.x:.6f}", f"{pt.y:.6f}"
        args.pop("datum", None)
        args.setdefault("from", area.name)
        return redirect(url_for("web.nearest") + "?" + urlencode(args))
    if not args.get("lon") and not args.get("lat"):
        return render_template(
            "where.html",
            args=args,
            filters=filter_state(args),
            kinds=KINDS,
            **_areas(),
        )
    now = datetime.now(UTC)
    parsed = parse_nearest(args, now)
    hits = _rider_nearest(parsed)
    loc = locale()
    origin = (parsed.query.lon, parsed.query.lat)
    place = args.get("from", "")
    live_svc = live()
    results = present.results_view(
        hits,
        parsed.at,
        origin,
        nav_origin=origin if place else None,  # a chosen place; else the app's own position
        live_of=lambda f: live_svc.status(f, parsed.at),
        locale=loc,
    )
    map_parts = maps.nearest_map(
        origin, hits, tile_provider(), asset_url=asset_url, locale=loc, details=marker_details(results)
    )
    summary = filter_summary(parsed)
    return render_template(
        "nearest.html",
        results=results,
        parsed=parsed,
        args=args,
        place=place,
        summary=summary,
        closer=closer_one(parsed, hits, origin),
        tabs=kind_tabs("web.nearest", args),
        filters=filter_state(args),
        kinds=KINDS,
        amenities=AMENITIES,
        map_parts=map_parts,
        nav_modes=present.nav_modes(),
        nav_apps=present.nav_apps(),
        saved_at=present.saved_at_text(now),
        saved_search=present.saved_search(args, summary, place, now),
        lite_url=url_for("web.lite") + "?" + urlencode(args),
        next_url=url_for("web.nearest") + "?" + urlencode(args),
        share_url=link("web.nearest") + "?" + urlencode(args),
        thanks=thanks(),
        ci=ci_marker(),
    )


@bp.get("/lite")
def lite() -> str:
    """Text-only results for the weakest networks: no JavaScript, no map, no images.

    Same parameters as ``/nearest``; without a position it offers the place search and
    the district list. Budget: 15 KB on the wire, HTML + CSS, gzip (tested).
    """
    args = page_args()
    area_code = args.pop("area", "").strip()
    if area_code and not (args.get("lon") or args.get("lat")):
        svc = service()
        area = svc.districts.by_code(area_code) or svc.subdistricts.by_code(area_code)
        if area is None:
            raise ValidationError(Msg("unknown area"), param="area")
        pt = area.geometry.representative_point()
        args["lon"], args["lat"], args["from"] = f"{pt.x:.6f}", f"{pt.y:.6f}", area.name
    results: list[dict[str, Any]] = []
    parsed = None
    closer = None
    now = datetime.now(UTC)
    if args.get("lon") or args.get("lat"):
        parsed = parse_nearest(args, now)
        hits = _rider_nearest(parsed)
        origin = (parsed.query.lon, parsed.query.lat)
        live_svc = live()
        at = parsed.at
        results = present.results_view(
            hits,
            at,
            origin,
            nav_origin=origin if args.get("from") else None,
            live_of=lambda f: live_svc.status(f, at),
            locale=locale(),
        )
        closer = closer_one(parsed, hits, origin)
    full = {k: v for k, v in args.items() if k != "lang"}
    return render_template(
        "lite.html",
        args=args,
        parsed=parsed,
        results=results,
        place=args.get("from", ""),
        filters=filter_state(args),
        kinds=KINDS,
        nav_modes=present.nav_modes(),
        nav_apps=present.nav_apps(),
        saved_at=present.saved_at_text(now),
        full_url=url_for("web.nearest") + "?" + urlencode(full),
        next_url=url_for("web.lite") + "?" + urlencode(args),
        thanks=thanks(),
        ci=ci_marker(),
        closer=closer,
        saved_search=None
        if parsed is None
        else present.saved_search(args, filter_summary(parsed), args.get("from", ""), now),
        **(_areas() if parsed is None else {}),
    )


@bp.get("/places")
def places() -> str:
    """Place search that works without JavaScript: a list of places to search from.

    The rider's filters (kind, amenity, open_now) ride along in the links; ``lite=1``
    links to the lite page instead of the full one.
    """
    args = page_args()
    q = args.get("q", "").strip()
    lite = args.get("lite") == "1"
    matches = place_index().search(q, limit=20) if q else []
    keep = {k: v for k, v in args.items() if k in {"kind", "amenity", "open_now", "lang"}}
    endpoint = "web.lite" if lite else "web.nearest"
    loc = locale()
    rows = []
    for m in matches:
        p = m.place
        label = p.name if loc == "zh" or not p.name_en else f"{p.name} ({p.name_en})"
        where = {"lon": f"{p.lon:.6f}", "lat": f"{p.lat:.6f}", "from": p.name}
        url = url_for(endpoint) + "?" + urlencode({**keep, **where})
        rows.append({"place": p, "label": label, "kind": present.place_kind(p.kind), "url": url})
    lite_url = url_for("web.places") + "?" + urlencode({**args, "lite": "1"})
    return render_template(
        "places.html", q=q, rows=rows, args=args, filters=filter_state(args), lite=lite, lite_url=lite_url
    )


@bp.get("/facility/<facility_id>")
def facility(facility_id: str) -> str:
    """One facility: facts, hours and live status in words, freshness, the go button.

    ``lon``/``lat`` is where the rider searched from (for the distance and the way back);
    routes start there only with ``start=place`` (a chosen place), else at the app's own
    position.
    """
    f = service().get(facility_id)
    args = page_args()
    origin = None
    now = datetime.now(UTC)
    hit = None
    if args.get("lon") or args.get("lat"):
        parsed = parse_nearest({"lon": args.get("lon", ""), "lat": args.get("lat", "")}, now)
        origin = (parsed.query.lon, parsed.query.lat)
        dist, bearing = geodesic_inverse([origin[0]], [origin[1]], [f.lon], [f.lat])
        hit = NearestHit(f, float(dist[0]), float(bearing[0]) % 360.0, 1)
    try:
        problems = feedback_service().recent_problems(f.id, now)
        reports_unavailable = False
    except StoreUnavailableError:  # the page itself comes from the index: keep serving it
        problems, reports_unavailable = [], True
    here: dict[str, Any] = {k: v for k, v in args.items() if k in {"lon", "lat", "start"}}
    loc = locale()
    r = present.facility_view(
        f,
        now,
        hit=hit,
        origin=origin,
        nav_origin=origin if args.get("start") == "place" else None,
        live=live().status(f, now),
        locale=loc,
    )
    return render_template(
        "facility.html",
        r=r,
        problems=[(FEEDBACK_REASONS[p.reason].get(loc), max(0, (now - p.at).days)) for p in problems],
        reports_unavailable=reports_unavailable,
        reasons=[(k, v.get(loc)) for k, v in FEEDBACK_REASONS.items()],
        next_url=url_for("web.facility", facility_id=f.id, **here),
        thanks=thanks(),
        ci=ci_marker(),
        kinds=KINDS,
        amenities=AMENITIES,
        statuses=STATUSES,
        nav_modes=present.nav_modes(),
        nav_apps=present.nav_apps(),
        holiday_years=CALENDAR_YEARS,
    )


@bp.post("/facility/<facility_id>/feedback")
@feedback_limit
@anonymous_write
def facility_feedback(facility_id: str) -> Response:
    """The feedback forms without JavaScript: store, then go back with a thank-you (303)."""
    result = submit_feedback(facility_id, FeedbackBody.parse(request.form), locale())
    fid = result.feedback.facility_id
    back = safe_next(request.form.get("next", "")) or url_for("web.facility", facility_id=fid)
    sep = "&" if "?" in back else "?"
    target = f"{back}{sep}{urlencode({'fb': result.feedback.verdict, 'fb_id': fid})}#f-{fid}"
    return redirect(target, code=303)


@bp.post("/facility/<facility_id>/checkin")
@feedback_limit
@anonymous_write
def facility_checkin(facility_id: str) -> Response:
    """A rider's check-in without JavaScript: store, then go back with a thank-you (303)."""
    door = CheckinBody.parse(request.form).door
    now = datetime.now(UTC)
    done = live().checkin(facility_id, door, client=client_of_request(now), now=now)
    fid = done.event.facility_id
    back = safe_next(request.form.get("next", "")) or url_for("web.facility", facility_id=fid)
    sep = "&" if "?" in back else "?"
    return redirect(f"{back}{sep}{urlencode({'ci': door, 'ci_id': fid})}#f-{fid}", code=303)


#: Cookie that keeps the large-text setting.
TEXT_COOKIE = "text"


@bp.get("/prefs/text")
def text_size() -> Response:
    """Switch large text on (``size=large``) or off (``size=normal``), then go back.

    A plain link, so it works without JavaScript; kept for a year in a cookie.
    """
    size = request.args.get("size", "")
    if size not in {"large", "normal"}:
        raise ValidationError(Msg("size must be large or normal"), param="size")
    back = safe_next(request.args.get("next", "")) or url_for("web.index")
    resp = redirect(back, code=303)
    if size == "large":
        resp.set_cookie(TEXT_COOKIE, "large", max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
    else:
        resp.delete_cookie(TEXT_COOKIE)
    return resp


def map_view(args: dict[str, str], tiles: maps.TileProvider) -> list[float] | None:
    """The view a permalink asks for, as ``[lat, lon, zoom]`` in the tiles' datum.

    ``lon``/``lat`` are in ``datum`` (default WGS-84, the map's share button writes the
    tiles' datum), ``zoom`` in [3, 19]. None when the URL names no view.
    """
    if not (args.get("lon") or args.get("lat") or args.get("zoom")):
        return None
    view = MapViewParams.parse(args)
    wlon, wlat = to_wgs84(view.lon, view.lat, view.datum)
    dlon, dlat = from_wgs84(wlon, wlat, tiles.datum)
    return [round(dlat, 6), round(dlon, 6), round(view.zoom, 2)]


@bp.get("/map")
def city_map() -> str:
    """Every facility of the city the map shows, clustered per kind, with district outlines.

    A shell whose size does not grow with the data: ``static/js/city-map.js`` fetches the
    viewport's clusters, popups and outlines from ``/api/v1/map/…``. ``?lon=&lat=&zoom=
    [&datum=]`` reopens a shared view (see :func:`map_view`).
    """
    args = page_args()
    tiles = tile_provider()
    view = map_view(args, tiles)
    counts = city_map_service().totals()
    parts = maps.city_map(
        district_outlines(),
        tiles,
        asset_url=asset_url,
        urls={
            "clusters": url_for("mapdata.clusters"),
            "facility": url_for("mapdata.facility", facility_id="__id__"),
            "districts": url_for("mapdata.districts"),
            "nearest": url_for("web.nearest"),
            "facility_page": url_for("web.facility", facility_id="__id__"),
        },
        counts=counts,
        locale=locale(),
        view=view,
        max_cluster_zoom=MAX_CLUSTER_ZOOM,
    )
    return render_template(
        "map.html", map_parts=parts, count=sum(counts.values()), view=view, tiles_datum=tiles.datum.value
    )


@bp.app_context_processor
def _template_globals() -> dict[str, object]:
    def lang_url(code: str) -> str:
        args = request.args.to_dict(flat=False)
        args["lang"] = [code]
        return request.path + "?" + urlencode(args, doseq=True)

    def text_url() -> str:
        size = "normal" if large else "large"
        here = request.full_path.rstrip("?") if request.query_string else request.path
        return url_for("web.text_size", size=size, next=here)

    large = request.cookies.get(TEXT_COOKIE) == "large"
    return {"locale": locale(), "lang_url": lang_url, "large_text": large, "text_url": text_url}
