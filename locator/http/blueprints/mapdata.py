"""The city map's data (``/api/v1/map``): viewport clusters, popups, district outlines.

``/map`` is a shell (:func:`locator.formats.maps.city_map`); ``static/js/city-map.js``
asks these endpoints for what the viewport needs, so neither the page nor any answer grows
with the number of facilities:

* ``GET /api/v1/map/clusters?bbox=&zoom=[&kind=][&datum=]``: clusters per grid cell and
  kind, single facilities where a cell holds one and above zoom 17
  (:mod:`locator.core.clusters`), compact JSON (:class:`~locator.http.schemas.MapClusters`);
* ``GET /api/v1/map/facilities/<id>``: what a popup shows, fetched on tap;
* ``GET /api/v1/map/districts?zoom=[&datum=]``: district boundaries simplified for the
  zoom band, delta-encoded.

These are the rider pages' own requests, not the partners' API: no key, no keyless
allowance (a map pans in many small requests), no CORS. Each answer is cacheable: the
viewport's and the popup's validators come from the index revision and the facility
version, and a matching ``If-None-Match`` is answered ``304`` before any work.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, request

from locator.core.clusters import MAX_CLUSTER_ZOOM
from locator.formats import maps
from locator.http.models import (
    FacilityPath,
    MapClustersParams,
    MapDistrictsParams,
    NoParams,
    known_facility_id,
)
from locator.http.operations import JSON, Reply, conditional_get, operation, problem, query
from locator.http.schemas import MapClusters, MapDistricts, MapFacility
from locator.http.state import city_map_service, district_outlines

bp = Blueprint("mapdata", __name__, url_prefix="/api/v1/map")

#: ``Cache-Control`` of viewport answers and popups (they follow the index revision).
DATA_CACHE = "public, max-age=60"
#: ``Cache-Control`` of the district outlines (shipped data).
OUTLINE_CACHE = "public, max-age=86400"

_CACHE_HEADERS = (("ETag", "ETag"), ("Cache-Control", "CacheControl"))


def _dumps(body: Any) -> str:
    """Compact JSON; ``<``, ``>`` and ``&`` as Unicode escapes, so no text can read as markup."""
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _conditional(etag: str, cache_control: str) -> Response | None:
    """``304`` when ``If-None-Match`` names ``etag`` (weak comparison), else None."""
    if request.if_none_match.contains_weak(etag):
        resp = Response(status=304)
        resp.set_etag(etag, weak=True)
        resp.headers["Cache-Control"] = cache_control
        return resp
    return None


def _answer(body: Any, etag: str, cache_control: str) -> Response:
    resp = Response(_dumps(body), mimetype=JSON)
    resp.set_etag(etag, weak=True)
    resp.headers["Cache-Control"] = cache_control
    return resp


_ERRORS = {400: problem("A parameter is invalid; `param` names it.")}


@bp.get("/clusters")
@operation(
    "City map: clusters and facilities of a viewport",
    tags=("map",),
    description="Facilities the city map shows (every status but `removed`) in a bbox at a zoom level: "
    "per cell of a 64-px grid over the Web-Mercator tiles and per kind, a cell of two or more "
    "facilities is a cluster (mean position, count), a cell of one is that facility (id); above "
    f"zoom {MAX_CLUSTER_ZOOM} every facility is on its own. The bbox is grown to whole cells "
    "(`covered`), so equal views share cached answers. Positions are in `datum`. The weak ETag "
    "is the index revision.",
    query=MapClustersParams,
    responses={
        **conditional_get(
            Reply("The viewport's clusters and facilities.", MapClusters, (JSON,), _CACHE_HEADERS)
        ),
        **_ERRORS,
    },
)
def clusters() -> Response:
    """Clusters and single facilities of a viewport (see the operation's description)."""
    params = query(MapClustersParams)
    cm = city_map_service()
    etag = f"r{cm.locator.index.revision}"
    early = _conditional(etag, DATA_CACHE)
    if early is not None:
        return early
    view = cm.viewport(params.bbox, params.zoom, kinds=params.kind, datum=params.datum)
    body = {
        "revision": view.revision,
        "zoom": view.zoom,
        "datum": view.datum.value,
        "covered": [round(v, 7) for v in view.covered],
        "kinds": list(view.kinds),
        "clusters": view.clusters,
        "facilities": view.facilities,
    }
    return _answer(body, f"r{view.revision}", DATA_CACHE)


@bp.get("/facilities/<facility_id>")
@operation(
    "City map: a facility's popup",
    tags=("map",),
    description="What a marker's popup shows, fetched when it is tapped. Text is as stored: insert it "
    "as text, never as markup.",
    path=FacilityPath,
    query=NoParams,
    responses={
        **conditional_get(Reply("The facility.", MapFacility, (JSON,), _CACHE_HEADERS)),
        **_ERRORS,
        404: problem("No such facility on the map (unknown or removed)."),
    },
)
def facility(facility_id: str) -> Response:
    """One facility as the popup shows it (404 for unknown or removed ones)."""
    query(NoParams)
    f = city_map_service().facility(known_facility_id(facility_id, "facility_id"))
    etag = f"{f.id}-v{f.version}"
    early = _conditional(etag, DATA_CACHE)
    if early is not None:
        return early
    body = {
        "id": f.id,
        "kind": f.kind,
        "name": f.name,
        "address": f.address,
        "status": f.status,
        "demo": bool(f.demo),
        "coordinates": [round(f.lon, 6), round(f.lat, 6)],
    }
    return _answer(body, etag, DATA_CACHE)


@bp.get("/districts")
@operation(
    "City map: district boundaries",
    tags=("map",),
    description="Beijing's district boundaries as lines (each shared edge once), simplified for the "
    "zoom level and delta-encoded. Shipped data: cacheable for a day.",
    query=MapDistrictsParams,
    responses={
        **conditional_get(Reply("The boundaries.", MapDistricts, (JSON,), _CACHE_HEADERS)),
        **_ERRORS,
    },
)
def districts() -> Response:
    """District boundaries for a zoom level, in a datum."""
    params = query(MapDistrictsParams)
    level = maps.outline_level(params.zoom)
    etag = f"districts-{params.datum.value}-{level}"
    early = _conditional(etag, OUTLINE_CACHE)
    if early is not None:
        return early
    lines = maps.district_lines(district_outlines(), params.datum, level)
    body = {"level": level, "datum": params.datum.value, "quantum": lines["quantum"], "lines": lines["lines"]}
    return _answer(body, etag, OUTLINE_CACHE)
