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

from flask import Blueprint, render_template, request, url_for

from locator.core.domain import AMENITIES, KINDS
from locator.core.hours import hours_state
from locator.core.navigation import amap_url
from locator.errors import NotFoundError
from locator.formats import maps
from locator.formats.embed import snippet
from locator.http.i18n import locale
from locator.http.params import parse_int, parse_list, parse_nearest
from locator.http.security import allow_framing
from locator.http.state import asset_url, partners, service, tile_provider
from locator.http.urls import link, public_base
from locator.services.partners import validate_name

bp = Blueprint("embed", __name__)

#: Where the embed searches from until the rider shares a position: Tiananmen, WGS-84.
CITY_CENTRE = (116.39747, 39.90882)
EMBED_RESULTS = 5
ZOOM_MIN, ZOOM_MAX = 3, 18


#: The snippet's site address when ``LOCATOR_PUBLIC_URL`` is unset (a placeholder to fill in).
PLACEHOLDER_BASE = "https://LOCATOR_PUBLIC_URL"


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
        link("web.nearest")
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
    code = snippet(
        public_base() or PLACEHOLDER_BASE,
        name or None,
        kind=kind or None,
        amenity=amenity or None,
        lang=locale(),
    )
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
        public_url_set=bool(public_base()),
        registered=registered,
        kinds=KINDS,
        amenities=AMENITIES,
        kind=kind,
        amenity=amenity,
        locale=locale(),
    )
