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
from locator.core.geo import Datum
from locator.errors import Msg, NotFoundError, ValidationError
from locator.formats import maps
from locator.formats.embed import snippet
from locator.http import present
from locator.http.i18n import locale
from locator.http.models import EmbedDocsParams, EmbedMapParams, NearestParams
from locator.http.operations import Reply, conditional_get, operation, problem, query
from locator.http.params import nearest_query
from locator.http.security import allow_framing
from locator.http.state import asset_url, live, partners, service, tile_provider
from locator.http.urls import link, public_base
from locator.services.partners import validate_name

bp = Blueprint("embed", __name__)

#: Where the embed searches from until the rider shares a position: Tiananmen, WGS-84.
CITY_CENTRE = (116.39747, 39.90882)
EMBED_RESULTS = 5
_PAGE_HEADERS = (("Cache-Control", "CacheControl"),)


#: The snippet's site address when ``LOCATOR_PUBLIC_URL`` is unset (a placeholder to fill in).
PLACEHOLDER_BASE = "https://LOCATOR_PUBLIC_URL"


@bp.get("/embed/map")
@operation(
    "Embeddable map (for an iframe)",
    tags=("embed",),
    description="`lon`/`lat` are optional here (default: the city centre). Errors are HTML pages "
    "(problem+json for clients that prefer JSON).",
    query=EmbedMapParams,
    security=(),
    responses={
        **conditional_get(
            Reply(
                "HTML page: map and compact list; framable only by the partner's registered origins.",
                None,
                ("text/html",),
                _PAGE_HEADERS,
            )
        ),
        400: problem("Bad parameter.", html=True),
        404: problem("Unknown or revoked partner.", html=True),
        503: problem("The database cannot be reached.", html=True),
    },
)
def embed_map() -> str:
    """The embeddable map and compact list (see the module docstring)."""
    params = query(EmbedMapParams)
    name = params.partner or ""
    if name:
        partner = partners().active(name)
        if partner is None:
            raise NotFoundError(Msg("no active partner named %(name)r", name=name), param="partner")
        allow_framing(partner.origins)
    else:
        allow_framing(())
    zoom = params.zoom
    located = params.lon is not None or params.lat is not None
    if located and (params.lon is None or params.lat is None):
        missing = "lon" if params.lon is None else "lat"
        raise ValidationError(Msg("%(name)s is required", name=missing), param=missing)
    nearest = NearestParams(
        datum=params.datum if located else Datum.WGS84,
        lon=params.lon if params.lon is not None else round(CITY_CENTRE[0], 5),
        lat=params.lat if params.lat is not None else round(CITY_CENTRE[1], 5),
        kind=params.kind,
        amenity=params.amenity,
        open_now=params.open_now,
        limit=EMBED_RESULTS,
    )
    parsed = nearest_query(nearest, datetime.now(UTC))
    hits = service().nearest(parsed.query)
    loc = locale()
    origin = (parsed.query.lon, parsed.query.lat)
    live_svc = live()
    at = parsed.at
    results = present.results_view(
        hits, at, origin, live_of=lambda f: live_svc.status(f, at), locale=loc
    )  # routes start at the phone's own position
    details = {
        r["f"].id: maps.MarkerDetails(
            hours=r["hours_text"],
            hours_class=r["hours_class"],
            live=r["live_line"],
            go_url=r["go"].primary.url,
            go_label=present.go_label(
                present.nav_apps()[r["go"].primary.app], dict(present.nav_modes())[r["go"].primary.mode]
            ),
        )
        for r in results
    }
    map_parts = maps.nearest_map(
        origin, hits, tile_provider(), asset_url=asset_url, locale=loc, zoom=zoom, details=details
    )
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
        nav_modes=present.nav_modes(),
        nav_apps=present.nav_apps(),
    )


@bp.get("/embed")
@operation(
    "Embed documentation and snippet generator",
    tags=("embed",),
    query=EmbedDocsParams,
    security=(),
    responses={
        **conditional_get(Reply("HTML page.", None, ("text/html",), _PAGE_HEADERS)),
        400: problem("Bad parameter (e.g. a partner name that cannot be one).", html=True),
        503: problem("The database cannot be reached.", html=True),
    },
)
def embed_docs() -> str:
    """How to embed the map, with a snippet generator and a live preview."""
    params = query(EmbedDocsParams)
    name = params.partner or ""
    if name:
        validate_name(name)
    kind = ",".join(sorted(params.kind or ()))
    amenity = ",".join(sorted(params.amenity or ()))
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
