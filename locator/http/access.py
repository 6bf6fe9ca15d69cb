"""Who may call the public API, how often, and from which web origins.

* **Keys.** A partner sends its key in ``X-API-Key``. A malformed, unknown or revoked
  key is a ``401``; a valid key used from a browser page on an origin the partner did
  not register (its ``Origin`` header) is a ``403``, so a key copied out of a partner's
  page is useless on another site.
* **Allowances** (one shared counter over every public API endpoint, ``GET``/``HEAD``
  only; counted by :class:`locator.http.limits.Allowance`):

  - keyless third parties: ``LOCATOR_RATELIMIT_KEYLESS`` per client IP (default 600 per
    minute, per worker): a script, a server or an app without a key, even behind a
    carrier NAT address that many phones share, but not a platform;
  - our own pages (:func:`from_our_pages`: ``Sec-Fetch-Site: same-origin``, or an
    ``Origin``/``Referer`` on our host): ``LOCATOR_RATELIMIT_SAME_ORIGIN`` per client IP
    (default 6,000 per minute, per worker), a budget of their own, so that the riders'
    place search, feedback and live votes are never refused because third-party
    callers or other riders behind the same NAT address used up the keyless allowance;
  - keyed callers: the partner's daily quota (per 24 hours from the first request of
    the window) plus ``LOCATOR_RATELIMIT_BURST`` (default 20 per second);
  - managers (a valid bearer token): not counted.

  Over the limit: ``429`` ``application/problem+json`` with ``Retry-After`` (seconds)
  and ``X-RateLimit-Limit/Remaining/Reset``; keyed answers also carry
  ``X-Quota-Limit/Remaining/Reset`` for the daily quota. Every response of a counted
  request is counted, ``304`` included. Counters live in
  ``LOCATOR_RATELIMIT_STORAGE_URI`` (``memory://`` is per process: with several
  workers use ``redis://`` or ``memcached://``). Behind a reverse proxy set
  ``LOCATOR_TRUSTED_PROXIES`` so that the client IP is the real one. The same-origin
  headers can be forged by a non-browser client: the larger budget is a courtesy to
  our pages, not an access control.
* **CORS** (flask-cors): only origins registered by an active partner get
  ``Access-Control-Allow-Origin`` on the public API; with a key, only that partner's
  origins. Other origins get no CORS headers, so browsers keep the answer from them.
  Partners may change while the app runs (the CLI writes to the store), so the allowed
  origin is decided per request and handed to flask-cors' own header logic.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Request, Response, current_app, g, request
from flask_cors.core import get_cors_options, set_cors_headers
from werkzeug.exceptions import TooManyRequests

from locator.errors import ForbiddenError, LocatorError, Msg, ValidationError
from locator.http.auth import api_user
from locator.http.limits import Counted, allowance
from locator.http.state import partners
from locator.services.partners import normalize_origin
from locator.stores.contract import Partner

#: Blueprints whose endpoints form the public, keyed and rate-limited API.
PUBLIC_API_BLUEPRINTS = frozenset({"api", "sync", "ogc"})

#: Header names browsers may send and read cross-origin.
CORS_OPTIONS = {
    "methods": ["GET", "HEAD", "OPTIONS"],
    "allow_headers": ["X-API-Key", "If-None-Match", "Accept", "Accept-Language"],
    "expose_headers": [
        "ETag",
        "X-Quota-Limit",
        "X-Quota-Remaining",
        "X-Quota-Reset",
        "Link",
        "Retry-After",
        "X-RateLimit-Limit",
        "X-RateLimit-Remaining",
        "X-RateLimit-Reset",
    ],
    "max_age": 600,
    "supports_credentials": False,
    "vary_header": True,
}


def is_public_api() -> bool:
    """True when the current request is for a public API endpoint."""
    return request.blueprint in PUBLIC_API_BLUEPRINTS


def current_partner() -> Partner | None:
    """The partner authenticated by ``X-API-Key`` on this request, if any."""
    partner: Partner | None = g.get("partner")
    return partner


def _canonical_origin(value: str) -> str | None:
    try:
        return normalize_origin(value)
    except ValidationError:
        return None


def authenticate() -> None:
    """``before_request``: resolve ``X-API-Key`` to a partner on public API requests.

    Raises
    ------
    UnauthorizedError
        401 for a malformed, unknown or revoked key.
    ForbiddenError
        403 when the browser's ``Origin`` is not one the key's partner registered.
    """
    g.partner = None
    if not is_public_api() or request.method == "OPTIONS":
        return
    key = request.environ.get("HTTP_X_API_KEY")
    if key is None:
        return
    partner = partners().authenticate(key)
    origin = request.headers.get("Origin")
    if origin is not None and _canonical_origin(origin) not in partner.origins:
        raise ForbiddenError(
            Msg("this API key is not registered for the origin %(origin)r", origin=origin), param="Origin"
        )
    g.partner = partner


#: The scope of the public API's one shared counter per caller.
SCOPE = "public-api"
#: Methods the allowance counts.
COUNTED_METHODS = frozenset({"GET", "HEAD"})


def from_our_pages(req: Request) -> bool:
    """True when a browser says the request comes from one of this site's own pages.

    ``Sec-Fetch-Site: same-origin`` (every current browser sends it); without it (older
    browsers), an ``Origin`` or, failing that, a ``Referer`` on our host. Hosts are
    compared as in :func:`locator.http.sameorigin.check_same_origin`.
    """
    environ = req.environ  # (header lookups through werkzeug raise and catch a KeyError per miss)
    site = environ.get("HTTP_SEC_FETCH_SITE")
    if site is not None:
        return site.lower() == "same-origin"
    origin = environ.get("HTTP_ORIGIN") or environ.get("HTTP_REFERER")
    return bool(origin) and urlsplit(origin).netloc.lower() == req.host.lower()


def rate_key_and_limits() -> tuple[str, str]:
    """The caller's counter key and limits (see the module docstring).

    Partners are counted by name, everyone else by client IP, with our own pages apart
    (``site:…``) from keyless third parties (``ip:…``).
    """
    partner = current_partner()
    config = current_app.config
    if partner is not None:
        limits = f"{partner.daily_quota} per day; {config['LOCATOR_RATELIMIT_BURST']}"
        return f"partner:{partner.name}", limits
    address = request.remote_addr or "unknown"
    if from_our_pages(request):
        return f"site:{address}", str(config["LOCATOR_RATELIMIT_SAME_ORIGIN"])
    return f"ip:{address}", str(config["LOCATOR_RATELIMIT_KEYLESS"])


def _breach_message() -> str:
    partner = current_partner()
    config = current_app.config
    if partner is not None:
        return (
            f"rate limit exceeded for partner {partner.name!r}: {partner.daily_quota} per day, "
            f"bursts up to {config['LOCATOR_RATELIMIT_BURST']}; wait for Retry-After seconds"
        )
    if from_our_pages(request):
        return (
            f"rate limit exceeded: this site's pages may make {config['LOCATOR_RATELIMIT_SAME_ORIGIN']} "
            "per IP address; wait for Retry-After seconds"
        )
    return (
        f"rate limit exceeded: keyless callers may make {config['LOCATOR_RATELIMIT_KEYLESS']} per IP "
        "address; wait for Retry-After seconds, or use a partner API key (X-API-Key)"
    )


def count_request() -> None:
    """``before_request``: count a public API ``GET``/``HEAD`` against the caller's allowance.

    Runs after :func:`authenticate` (the partner is known) and before anything may
    answer early (a ``304`` is counted). Managers with a valid bearer token are not
    counted. The result is kept for :func:`rate_limit_headers`.

    Raises
    ------
    werkzeug.exceptions.TooManyRequests
        429 over the limit (rendered as problem+json, headers added after).
    """
    req = request
    if req.blueprint not in PUBLIC_API_BLUEPRINTS or req.method not in COUNTED_METHODS:
        return
    if "HTTP_AUTHORIZATION" in req.environ and _is_manager():
        return
    key, limits = rate_key_and_limits()
    counted = allowance().hit(limits, key, SCOPE)
    g.rate_counted = counted
    if counted.breached:
        raise TooManyRequests(_breach_message())


def counted_request() -> Counted | None:
    """What :func:`count_request` counted for this request, if anything."""
    counted: Counted | None = g.get("rate_counted")
    return counted


def retry_after_only_on_429(resp: Response) -> Response:
    """Flask-Limiter sends ``Retry-After`` on every response; keep it where it means something."""
    if resp.status_code not in {429, 503}:
        resp.headers.pop("Retry-After", None)
    return resp


def quota_headers(resp: Response) -> Response:
    """``X-Quota-Limit/Remaining/Reset``: a partner's daily quota, next to the burst rate.

    ``X-RateLimit-*`` describe the limit closest to being hit (the smallest window unless
    a larger one is exhausted).
    """
    counted = counted_request()
    if counted is None or current_partner() is None:
        return resp
    counter = allowance()
    for item in counted.items:
        if item.GRANULARITY.name == "day":
            remaining, reset_at = counter.window(counted, item)
            resp.headers["X-Quota-Limit"] = str(item.amount)
            resp.headers["X-Quota-Remaining"] = str(remaining)
            resp.headers["X-Quota-Reset"] = str(reset_at)
    return resp


def cors(resp: Response) -> Response:
    """``after_request``: CORS headers for registered partner origins on the public API."""
    if not is_public_api():
        return resp
    resp.vary.add("Origin")
    origin = request.environ.get("HTTP_ORIGIN")
    if not origin:
        return resp
    canonical = _canonical_origin(origin)
    partner = current_partner()
    if partner is not None:
        allowed = canonical in partner.origins
    else:
        allowed = canonical is not None and partners().origin_allowed(canonical)
    if allowed:
        set_cors_headers(resp, get_cors_options(current_app, {**CORS_OPTIONS, "origins": [origin]}))
    return resp


def _is_manager() -> bool:
    """True for a request authenticated with a management bearer token.

    Managers read facilities (and their ETags) through the public API between edits;
    they are authenticated staff, not anonymous callers, so the keyless allowance does
    not apply to them. A missing, malformed or unknown token is an ordinary caller.
    """
    if "Authorization" not in request.headers:
        return False
    try:
        api_user(write=False)
    except LocatorError:
        return False
    return True
