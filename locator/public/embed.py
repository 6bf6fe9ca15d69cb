"""The embeddable map for partner sites: ``/embed/map``, and ``/embed`` to make the snippet.

``/embed/map`` takes ``partner``, ``kind``, ``amenity``, ``lon``, ``lat``, ``zoom`` and
``lang``: a compact page with the map, the five nearest open facilities, attribution,
a link to the full site and a "find nearest" button (geolocation; the snippet's iframe
carries ``allow="geolocation"``). Without ``lon``/``lat`` it searches from the city
centre until the rider shares a position; the position is rounded to 4 decimals
(about 10 m) so that neighbouring riders share cached answers.

Framing: only ``'self'`` and the registered origins of the active partner named in
``partner`` may frame it (``Content-Security-Policy: frame-ancestors``); an unknown or
revoked partner is a 404 page that nobody may frame. Embed responses never set a cookie.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, current_app, render_template, request, url_for
from markupsafe import escape

from locator import maps
from locator.api import service
from locator.domain import AMENITIES, KINDS
from locator.errors import NotFoundError
from locator.hours import hours_state
from locator.navigation import amap_url
from locator.partners import validate_name
from locator.public.access import partners
from locator.public.headers import allow_framing
from locator.queries import parse_int, parse_list, parse_nearest
from locator.web import asset_url, locale, tile_provider

bp = Blueprint("embed", __name__)

#: Where the embed searches from until the rider shares a position: Tiananmen, WGS-84.
CITY_CENTRE = (116.39747, 39.90882)
EMBED_RESULTS = 5
ZOOM_MIN, ZOOM_MAX = 3, 18
SNIPPET_HEIGHT = 480


def snippet(
    base_url: str,
    partner: str | None = None,
    *,
    kind: str | None = None,
    amenity: str | None = None,
    lon: float | None = None,
    lat: float | None = None,
    zoom: int | None = None,
    lang: str | None = None,
    height: int = SNIPPET_HEIGHT,
) -> str:
    """The copy-paste ``<iframe>`` for a partner page.

    Parameters
    ----------
    base_url : str
        This site's public base URL, e.g. ``https://locator.example.cn``.
    partner : str, optional
        The partner's name; its registered origins are the only ones allowed to frame it.
    kind, amenity : str, optional
        Comma-separated filters (see the API).
    lon, lat : float, optional
        Where to search from before the rider shares a position (WGS-84 degrees).
    zoom : int, optional
        Map zoom level (3–18); default: fitted to the results.
    lang : str, optional
        ``zh`` or ``en``.
    height : int
        Iframe height in CSS pixels.

    Returns
    -------
    str
        HTML, every attribute value escaped.
    """
    params = {
        k: v
        for k, v in (
            ("partner", partner),
            ("kind", kind),
            ("amenity", amenity),
            ("lon", None if lon is None else f"{lon:.4f}"),
            ("lat", None if lat is None else f"{lat:.4f}"),
            ("zoom", None if zoom is None else str(zoom)),
            ("lang", lang),
        )
        if v
    }
    src = base_url.rstrip("/") + "/embed/map" + ("?" + urlencode(params) if params else "")
    title = "暖心驿站地图 · Warm stations map"
    return (
        f'<iframe src="{escape(src)}" title="{escape(title)}" width="100%" height="{int(height)}" '
        'style="border:0;max-width:100%" loading="lazy" allow="geolocation" '
        'referrerpolicy="strict-origin-when-cross-origin"></iframe>'
    )


def public_base_url() -> str:
    """``LOCATOR_PUBLIC_URL``, or this request's scheme and host."""
    return str(current_app.config.get("LOCATOR_PUBLIC_URL") or request.host_url.rstrip("/"))


@bp.get("/embed/map")
def embed_map() -> str:
    """The embeddable map and compact list (see the module docstring)."""
    args = request.args.to_dict()
    name = args.pop("partner", "").strip()
    if name:
        partner = partners().active(name)
        if partner is None:
            raise NotFoundError(f"no active partner named {name!r}", param="partner")
        allow_framing(partner.origins)
    else:
        allow_framing(())
    zoom = parse_int(args, "zoom", 0, ZOOM_MIN, ZOOM_MAX) if args.get("zoom") else None
    args.pop("zoom", None)
    located = bool(args.get("lon") or args.get("lat"))
    if not located:
        args["lon"], args["lat"] = f"{CITY_CENTRE[0]:.5f}", f"{CITY_CENTRE[1]:.5f}"
        args.pop("datum", None)
    args.setdefault("open_now", "true")
    args["limit"] = str(EMBED_RESULTS)
    parsed = parse_nearest(args, datetime.now(UTC))
    hits = service().nearest(parsed.query)
    loc = locale()
    origin = (parsed.query.lon, parsed.query.lat)
    map_parts = maps.nearest_map(origin, hits, tile_provider(), asset_url=asset_url, locale=loc, zoom=zoom)
    results = [
        {
            "hit": h,
            "hours": hours_state(h.facility.opening_hours, parsed.at),
            "amap": amap_url((h.facility.lon, h.facility.lat), h.facility.name, "walk"),
        }
        for h in hits
    ]
    filters = {k: request.args[k] for k in ("kind", "amenity") if request.args.get(k)}
    full_site = (
        url_for("web.nearest", _external=True)
        + "?"
        + urlencode({**filters, "lon": f"{origin[0]:.4f}", "lat": f"{origin[1]:.4f}", "lang": loc})
    )
    form: dict[str, Any] = {k: v for k, v in (("partner", name), ("zoom", zoom), ("lang", loc)) if v}
    form.update(filters)
    return render_template(
        "embed.html",
        results=results,
        parsed=parsed,
        located=located,
        kinds=KINDS,
        amenities=AMENITIES,
        map_parts=map_parts,
        full_site=full_site,
        form=form,
        zoom=zoom,
        origin=origin,
        locale=loc,
    )


@bp.get("/embed")
def embed_docs() -> str:
    """How to embed the map, with a snippet generator and a live preview."""
    args = request.args
    name = (args.get("partner") or "").strip()
    if name:
        validate_name(name)
    kind = ",".join(sorted(parse_list(args, "kind", KINDS) or ()))
    amenity = ",".join(sorted(parse_list(args, "amenity", AMENITIES) or ()))
    registered = partners().active(name) if name else None
    code = snippet(public_base_url(), name or None, kind=kind or None, amenity=amenity or None, lang=locale())
    preview = (
        url_for("embed.embed_map")
        + "?"
        + urlencode({k: v for k, v in (("kind", kind), ("amenity", amenity), ("lang", locale())) if v})
    )
    return render_template(
        "embed_docs.html",
        code=code,
        preview=preview,
        partner=name,
        registered=registered,
        kinds=KINDS,
        amenities=AMENITIES,
        kind=kind,
        amenity=amenity,
        locale=locale(),
    )
