"""The rider pages: ``/`` (find nearest), ``/nearest`` (list, then map), ``/map`` (city)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from locator import maps
from locator.api import service
from locator.domain import AMENITIES, KINDS
from locator.errors import ValidationError
from locator.geo import Datum
from locator.hours import hours_state
from locator.navigation import navigation_links
from locator.queries import parse_nearest

bp = Blueprint("web", __name__)


def locale() -> str:
    """The current locale code (``zh`` or ``en``)."""
    return str(get_locale() or "zh")


def tile_provider() -> maps.TileProvider:
    """The configured tile provider (see :mod:`locator.config`)."""
    name = current_app.config["LOCATOR_TILES"]
    if name == "custom":
        return maps.TileProvider(
            name="custom",
            url=current_app.config["LOCATOR_TILE_URL"],
            attribution=current_app.config["LOCATOR_TILE_ATTRIBUTION"],
            datum=Datum.parse(current_app.config["LOCATOR_TILE_DATUM"]),
        )
    return maps.TILE_PROVIDERS[name]


def asset_url(path: str) -> str:
    """URL of a file under ``static/``."""
    return url_for("static", filename=path)


def nav_apps() -> dict[str, str]:
    """Display names of the navigation apps (see :mod:`locator.navigation`)."""
    return {
        "amap": _("AMap"),
        "baidu": _("Baidu Maps"),
        "tencent": _("Tencent Maps"),
        "apple": _("Apple Maps"),
    }


def nav_modes() -> list[tuple[str, str]]:
    """Travel modes with their labels, in display order."""
    return [("walk", _("Walk")), ("cycle", _("Cycle"))]


@bp.get("/")
def index() -> str:
    """The start page: one big button, a kind selector, and a district fallback."""
    svc = service()
    districts = sorted(svc.districts.areas, key=lambda a: a.code)
    subdistricts = sorted(svc.subdistricts.areas, key=lambda a: (a.parent_code or "", a.name))
    return render_template(
        "index.html",
        kinds=KINDS,
        districts=districts,
        subdistricts=subdistricts,
        locale=locale(),
    )


@bp.get("/nearest")
def nearest() -> str | Response:
    """Results as a list first, then a map. ``area=`` searches from an area's centre."""
    args = request.args.to_dict()
    area_code = args.pop("area", "").strip()
    if area_code and not (args.get("lon") or args.get("lat")):
        svc = service()
        area = svc.districts.by_code(area_code) or svc.subdistricts.by_code(area_code)
        if area is None:
            raise ValidationError("unknown area", param="area")
        pt = area.geometry.representative_point()
        args["lon"], args["lat"] = f"{pt.x:.6f}", f"{pt.y:.6f}"
        args.pop("datum", None)
        return redirect(url_for("web.nearest") + "?" + urlencode(args))
    if "open_now" not in args:
        args["open_now"] = "true"
    parsed = parse_nearest(args, datetime.now(UTC))
    hits = service().nearest(parsed.query)
    loc = locale()
    origin = (parsed.query.lon, parsed.query.lat)
    map_parts = maps.nearest_map(origin, hits, tile_provider(), asset_url=asset_url, locale=loc)
    results = [
        {
            "hit": h,
            "hours": hours_state(h.facility.opening_hours, parsed.at),
            "nav": navigation_links((h.facility.lon, h.facility.lat), h.facility.name, origin),
        }
        for h in hits
    ]
    return render_template(
        "nearest.html",
        results=results,
        parsed=parsed,
        kinds=KINDS,
        amenities=AMENITIES,
        map_parts=map_parts,
        locale=loc,
        nav_modes=nav_modes(),
        nav_apps=nav_apps(),
    )


@bp.get("/map")
def city_map() -> str:
    """Every open facility of the city, clustered per kind, with district outlines."""
    svc = service()
    facilities = [f for f in svc.index.facilities() if f.status != "removed"]
    loc = locale()
    tiles = tile_provider()
    parts = maps.overview_map(
        facilities, current_app.extensions["locator.districts_geojson"], tiles,
        asset_url=asset_url, locale=loc,
    )
    return render_template("map.html", map_parts=parts, count=len(facilities), locale=loc)



@bp.app_context_processor
def _template_globals() -> dict[str, object]:
    def lang_url(code: str) -> str:
        args = request.args.to_dict(flat=False)
        args["lang"] = [code]
        return request.path + "?" + urlencode(args, doseq=True)

    return {"locale": locale(), "lang_url": lang_url}
