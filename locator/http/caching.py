"""HTTP caching of public GETs: ``Cache-Control``, ``ETag`` and ``304 Not Modified``.

Public GETs (the JSON API, the OGC API, the OpenAPI document, the embed) carry
``Cache-Control: public, max-age=…`` and an ``ETag``; a matching ``If-None-Match`` gets
``304 Not Modified``. The ETag is a hash of the body, except for ``/api/v1/nearest``:
its body echoes the exact instant of the query, so its ETag is *weak* and derived from
what decides the answer — the store revision, the worker's live-status revision (door
events, rider check-ins and manager overrides change ``properties.live`` without
touching the store revision), the query parameters and the current minute (``open_now``
only changes on whole minutes, as ``opening_hours`` has minute resolution; live votes and
overrides expire on the minute too) — and a conditional request is answered before the
query runs.

Nearest answers are cacheable per query point: shared caches key on the URL, so clients
that round the point to 4 decimal places (about 10 m: 0.0001° is 11 m of latitude and
8.5 m of longitude in Beijing) share entries. The embed does this; ``docs/partners.md``
asks partners to do the same. The answer is exact for the point sent.
"""

from __future__ import annotations

import hashlib
import time

from flask import Response, current_app, g, request

from locator.errors import Msg
from locator.http.access import PUBLIC_API_BLUEPRINTS
from locator.http.problems import problem

#: ``Cache-Control`` per endpoint; other public endpoints get :data:`DEFAULT_CACHE`.
CACHE_CONTROL = {
    "apidocs.openapi": "public, max-age=3600",
    "ogc.landing": "public, max-age=3600",
    "ogc.landing_slash": "public, max-age=3600",
    "ogc.conformance": "public, max-age=3600",
    "embed.embed_map": "public, max-age=60",
}
DEFAULT_CACHE = "public, max-age=60"
#: Blueprints whose GET responses are cacheable.
CACHEABLE_BLUEPRINTS = PUBLIC_API_BLUEPRINTS | {"apidocs", "embed"}


def current_minute() -> int:
    """Whole minutes since the Unix epoch (the granularity of ``open_now``)."""
    return int(time.time() // 60)


def nearest_etag() -> str:
    """The weak validator of a nearest answer (see the module docstring)."""
    svc = current_app.extensions["locator"]
    live = current_app.extensions["locator.live"]  # locator.http.state.LIVE
    args = sorted((k, v) for k, values in request.args.lists() for v in values)
    minute = "" if request.args.get("at") else str(current_minute())
    raw = repr((svc.index.revision, live.revision, minute, args)).encode()
    return hashlib.sha256(raw).hexdigest()[:32]


def precondition() -> Response | None:
    """``before_request``: answer ``If-None-Match`` on nearest before querying."""
    if request.endpoint != "api.nearest" or request.method not in {"GET", "HEAD"}:
        return None
    etag = nearest_etag()
    g.weak_etag = etag
    if request.if_none_match.contains_weak(etag):
        resp = Response(status=304)
        resp.set_etag(etag, weak=True)
        resp.headers["Cache-Control"] = DEFAULT_CACHE
        return resp
    return None


def caching(resp: Response) -> Response:
    """``after_request``: ``Cache-Control``, ``ETag`` and ``304`` on public GETs."""
    if (
        request.method not in {"GET", "HEAD"}
        or resp.status_code != 200
        or request.blueprint not in CACHEABLE_BLUEPRINTS
        or resp.is_streamed
    ):
        return resp
    resp.headers.setdefault("Cache-Control", CACHE_CONTROL.get(request.endpoint or "", DEFAULT_CACHE))
    if request.blueprint == "embed":
        resp.vary.update({"Accept-Language", "Cookie"})
    elif request.blueprint == "ogc":
        resp.vary.add("Accept")
    weak: str | None = g.get("weak_etag")
    if weak is not None:
        resp.set_etag(weak, weak=True)
    elif resp.get_etag()[0] is None:
        resp.add_etag()
    had_date = "Date" in resp.headers
    resp.make_conditional(request)
    if not had_date:  # make_conditional adds Date; the HTTP server sends its own
        resp.headers.pop("Date", None)
    if resp.status_code == 412:  # If-Match / If-Unmodified-Since failed: say so, without the body
        failed = problem(
            412,
            "Precondition failed",
            Msg("If-Match or If-Unmodified-Since does not match the current representation"),
            "precondition-failed",
        )
        failed.headers["ETag"] = resp.headers["ETag"]
        return failed
    return resp
