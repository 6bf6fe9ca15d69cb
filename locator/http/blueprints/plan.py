"""The coverage planner's pages (``/plan``): parse the question, call the planning service, render.

Who may see what is decided by :meth:`locator.services.planning.PlanningService.scope`:
administrators plan for the whole city or any district, district managers for their own
districts only (another district is a 403), station managers not at all (403). A bad
parameter (unknown kind, radius outside 50–5,000 m, K outside 1–500, a bad instant)
gives the page again with the problem named and status 400; the downloads answer 400
with the error page (or problem+json when JSON is preferred).

``GET /plan`` — the form, the numbers, the choropleth map of subdistricts, the hour-of-day
chart (server-side SVG), the worst gaps, the suggested sites and the least-needed
stations. ``GET /plan/coverage.geojson`` and ``/plan/coverage.csv`` — the same question
as files (:mod:`locator.formats.coverage`). Every answer depends on the account, so it is
sent ``Cache-Control: private, no-store``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from babel.dates import format_skeleton
from flask import Blueprint, Response, current_app, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from werkzeug.datastructures import MultiDict

from locator.core.coverage import DEFAULT_RADIUS_M, RADIUS_MAX_M, RADIUS_MIN_M, SITES_MAX, CoverageReport
from locator.core.domain import KINDS
from locator.core.hours import TZ
from locator.core.walking import DETOUR_FACTOR, WALK_SPEED_M_S
from locator.errors import Msg, ValidationError
from locator.formats import coverage as outputs
from locator.formats import maps
from locator.http.auth import session_user
from locator.http.i18n import gettext as _
from locator.http.i18n import locale
from locator.http.state import asset_url, planning, tile_provider
from locator.services.planning import CANDIDATE_SOURCES, PlanQuery, parse_instant
from locator.stores.contract import User

bp = Blueprint("plan", __name__, url_prefix="/plan")

#: The manage layout's account line (the same words as the management pages).
ROLE_LABELS = {
    "admin": _l("Administrator"),
    "district_manager": _l("District manager"),
    "station_manager": _l("Station manager"),
}
CANDIDATE_LABELS = {
    "union_homes": _l("Existing union homes"),
    "subway_entrances": _l("Subway entrances"),
    "buildings": _l("Building points"),
}
#: What a demand point or a candidate site is (the categories of locator.services.planning).
CATEGORY_LABELS = {
    "commercial": _l("commercial"),
    "residential": _l("residential"),
    "industrial": _l("industrial or storage"),
    "transport": _l("transport"),
    "public": _l("public services"),
    "bus_stop": _l("bus stop"),
    "subway_station": _l("subway station"),
    "subway_entrance": _l("subway entrance"),
    "other": _l("other land"),
    "unclassified": _l("building"),
    "union_home": _l("union home"),
    "imported": _l("imported point"),
    "candidate": _l("imported site"),
}
_NO_STORE = {"Cache-Control": "private, no-store"}
_DOWNLOADS = {"geojson": "application/geo+json", "csv": "text/csv; charset=utf-8"}


def account() -> User:
    """The logged-in account (views are ``@login_required``)."""
    user = session_user()
    assert user is not None
    return user


@bp.context_processor
def _plan_globals() -> dict[str, object]:
    return {
        "account": session_user(),
        "role_labels": ROLE_LABELS,
        "stale_days": int(current_app.config.get("LOCATOR_STALE_DAYS", 90)),
        "locale": locale(),
    }


def form_values(args: MultiDict[str, str]) -> dict[str, Any]:
    """The form as submitted (strings), with defaults for a first visit."""
    now = parse_instant(None)
    return {
        "kind": args.get("kind", "warm_station"),
        "radius_m": args.get("radius_m", f"{DEFAULT_RADIUS_M:g}"),
        "at": args.get("at", now.strftime("%Y-%m-%dT%H:%M")),
        "district": args.get("district", ""),
        "sites": args.get("sites", "10"),
        "candidates": args.getlist("candidates") or list(CANDIDATE_SOURCES),
        "week": args.get("week") == "1",
    }


def question(user: User, args: MultiDict[str, str]) -> PlanQuery:
    """The checked question of a request (scope first, then the parameters).

    Raises
    ------
    ForbiddenError
        A station manager, or a district outside the account's districts.
    ValidationError
        Naming the bad parameter.
    """
    ps = planning()
    values = form_values(args)
    districts = ps.scope(user, args.getlist("district"))
    at = parse_instant(values["at"])
    return ps.check(
        values["kind"],
        values["radius_m"],
        at,
        districts=districts,
        sites=values["sites"],
        candidates=values["candidates"],
        week=values["week"],
    )


def _hour_label(share: float) -> str:
    return f"{share * 100:.1f}%"


def chart(report: CoverageReport) -> Any:
    """The hour-of-day chart of ``report`` (inline SVG, labels in the page's language)."""
    return outputs.hour_chart_svg(
        report.hours,
        title=_("Covered share by hour of %(day)s", day=report.at.strftime("%Y-%m-%d")),
        description=", ".join(f"{h.at:%H}:00 {_hour_label(h.covered_share)}" for h in report.hours),
        bar_label=lambda h: _(
            "%(hour)s: %(share)s covered, %(open)s open",
            hour=h.at.strftime("%H:%M"),
            share=_hour_label(h.covered_share),
            open=h.open_facilities,
        ),
        axis_label=_("covered share"),
        highlight=report.at.hour,
    )


def week_chart(report: CoverageReport) -> Any:
    """The hour-of-week chart of ``report`` (168 bars, a label per day), or None without a week."""
    if not report.week:
        return None
    loc = locale()
    return outputs.hour_chart_svg(
        report.week,
        title=_("Covered share by hour, week of %(day)s", day=report.week[0].at.strftime("%Y-%m-%d")),
        description=", ".join(
            f"{format_skeleton('MEd', h.at, locale=loc)} {h.at:%H}:00 {_hour_label(h.covered_share)}"
            for h in report.week
        ),
        bar_label=lambda h: _(
            "%(hour)s: %(share)s covered, %(open)s open",
            hour=f"{format_skeleton('MEd', h.at, locale=loc)} {h.at:%H:%M}",
            share=_hour_label(h.covered_share),
            open=h.open_facilities,
        ),
        axis_label=_("covered share"),
        tick_every=24,
        tick_label=lambda h: format_skeleton("MEd", h.at, locale=loc),
        chart_id="week-chart",
    )


def _download_url(fmt: str) -> str:
    return url_for("plan.download", fmt=fmt) + ("?" + urlencode(list(request.args.items(multi=True))))


@bp.get("")
@login_required
def plan_page() -> Response:
    """The planner: form, numbers, map, hour chart, gaps, sites, least-needed stations."""
    user = account()
    ps = planning()
    ps.scope(user)  # station managers: 403 before anything else
    values = form_values(request.args)
    districts = ps.district_choices(user)
    context: dict[str, Any] = {
        "values": values,
        "districts": districts,
        "kinds": KINDS,
        "candidate_labels": CANDIDATE_LABELS,
        "category_labels": CATEGORY_LABELS,
        "radius_min": int(RADIUS_MIN_M),
        "radius_max": int(RADIUS_MAX_M),
        "sites_max": SITES_MAX,
        "walk_speed": WALK_SPEED_M_S,
        "detour": DETOUR_FACTOR,
        "error": None,
        "report": None,
    }
    try:
        q = question(user, request.args)
    except ValidationError as exc:
        context["error"] = exc
        return Response(render_template("plan.html", **context), status=400, headers=_NO_STORE)
    report = ps.report(q)
    areas = outputs.areas_collection(
        report,
        ps.subdistrict_areas(report.districts),
        tolerance=outputs.MAP_TOLERANCE_DEG,
        decimals=outputs.MAP_DECIMALS,
    )
    context.update(
        report=report,
        summary=outputs.summary(report, gaps=10, least=10),
        gaps=report.gaps("subdistrict", 10),
        chart=chart(report),
        week_chart=week_chart(report),
        district_rows=[a for a in report.areas if a.level == "district"],
        map_parts=maps.coverage_map(report, areas, tile_provider(), asset_url=asset_url, locale=locale()),
        downloads={fmt: _download_url(fmt) for fmt in _DOWNLOADS},
        at_local=report.at.astimezone(TZ),
    )
    return Response(render_template("plan.html", **context), headers=_NO_STORE)


@bp.get("/coverage.<fmt>")
@login_required
def download(fmt: str) -> Response:
    """The question of the query string as a GeoJSON or CSV file (same parameters as the page)."""
    if fmt not in _DOWNLOADS:
        raise ValidationError(Msg("download as geojson or csv"), param="fmt")
    user = account()
    ps = planning()
    report = ps.report(question(user, request.args))
    if fmt == "geojson":
        body = json.dumps(
            outputs.report_geojson(report, ps.subdistrict_areas(report.districts)),
            ensure_ascii=False,
            separators=(",", ":"),
        )
    else:
        body = outputs.report_csv(report)
    name = f"coverage-{report.kind}-{report.at:%Y%m%d-%H%M}.{fmt}"
    return Response(
        body,
        mimetype=_DOWNLOADS[fmt].split(";")[0],
        headers={**_NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'},
    )
