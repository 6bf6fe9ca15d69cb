"""HTTP caching of public GETs: ``Cache-Control``, ``ETag`` and ``304 Not Modified``.

Public GETs (the JSON API, the OGC API, the OpenAPI document, the embed) carry
``Cache-Control: public, max-age=…`` and an ``ETag``; a matching ``If-None-Match`` gets
``304 Not Modified``. The ETag is a hash of the body, except for ``/api/v1/nearest``:
its body echoes the exact instant of the query, so its ETag is *weak* and derived from
what decides the answer — the index's state, the current minute (``open_now`` only
changes on whole minutes, as ``opening_hours`` has minute resolution) and the query
string — and a conditional request is answered before the query runs, at the cost of a
string comparison (no hash of the body, no store access).

The index's state is its store revision, plus, while this worker shows one of its own
writes ahead of the change feed (a *pin*, see
:meth:`locator.core.index.FacilityIndex.patch`), the revision the pin lasts until: a
worker that has patched in its write never answers ``304`` for the answer it gave
before the write. The query string is in the validator as a CRC-32 of its raw bytes: a
validator only needs to tell versions of one URL apart (caches store them per URL), and
the checksum keeps a client that replays one URL's ETag on another from getting a 304.
The parameters are sorted first, so their order in the URL does not matter.
The answer is computed from the same index the validator was made from
(:func:`answering_index`).

Nearest answers are cacheable per query point: shared caches key on the URL, so clients
that round the point to 4 decimal places (about 10 m: 0.0001° is 11 m of latitude and
8.5 m of longitude in Beijing) share entries. The embed does this; ``docs/partners.md``
asks partners to do the same. The answer is exact for the point sent.
"""

from __future__ import annotations

import time
import zlib

from flask import Response, g, request

from locator.core.index import FacilityIndex
from locator.errors import Msg
from locator.http.access import PUBLIC_API_BLUEPRINTS
from locator.http.problems import problem
from locator.http.state import service

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


#: The WSGI environ keys of the request headers :meth:`Response.make_conditional` acts on.
CONDITIONAL_HEADERS = (
    "HTTP_IF_MATCH",
    "HTTP_IF_NONE_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_UNMODIFIED_SINCE",
    "HTTP_RANGE",
)


def index_state(idx: FacilityIndex) -> str:
    """The part of a validator that names the index's content: ``r<revision>[p<pinned until>]``."""
    pins = idx.pins
    if pins:
        return f"r{idx.revision}p{max(pins.values())}"
    return f"r{idx.revision}"


def nearest_etag(idx: FacilityIndex | None = None) -> str:
    """The weak validator of a nearest answer from ``idx`` (default: the current index).

    ``r<revision>[p<pin>]-<minute>-<crc32 of the query string>``; the minute is left
    out when the query names its instant (``at``). See the module docstring.
    """
    if idx is None:
        idx = service().index
    args = request.args
    minute = "" if args.get("at") else str(current_minute())
    checksum = zlib.crc32(repr(sorted(args.items(multi=True))).encode())
    return f"{index_state(idx)}-{minute}-{checksum:08x}"


def answering_index() -> FacilityIndex:
    """The index a nearest answer is computed from: the one its validator was made from."""
    idx: FacilityIndex | None = g.get("nearest_index")
    return service().index if idx is None else idx


def precondition() -> Response | None:
    """``before_request``: answer ``If-None-Match`` on nearest before querying."""
    if request.endpoint != "api.nearest" or request.method not in {"GET", "HEAD"}:
        return None
    idx = service().index
    etag = nearest_etag(idx)
    g.weak_etag = etag
    g.nearest_index = idx
    if "HTTP_IF_NONE_MATCH" in request.environ and request.if_none_match.contains_weak(etag):
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
    environ = request.environ
    if not any(name in environ for name in CONDITIONAL_HEADERS):
        return resp  # nothing for make_conditional to do (it would add a Date we remove)
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
