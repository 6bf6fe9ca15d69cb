"""Who may call the public API, how often, and from which web origins.

* **Keys.** A partner sends its key in ``X-API-Key``. A malformed, unknown or revoked
  key is a ``401``; a valid key used from a browser page on an origin the partner did
  not register (its ``Origin`` header) is a ``403``, so a key copied out of a partner's
  page is useless on another site.
* **Quotas and rates** (Flask-Limiter, one shared counter over every public API
  endpoint, ``GET``/``HEAD`` only):

  - keyless callers: ``LOCATOR_RATELIMIT_KEYLESS`` per client IP (default 60 per
    minute) — enough for a person or a small script, not for a platform;
  - keyed callers: the partner's daily quota (per 24 hours from the first request of
    the window) plus ``LOCATOR_RATELIMIT_BURST`` (default 20 per second).

  Over the limit: ``429`` ``application/problem+json`` with ``Retry-After`` (seconds)
  and ``X-RateLimit-Limit/Remaining/Reset``; keyed answers also carry
  ``X-Quota-Limit/Remaining/Reset`` for the daily quota. Counters live in
  ``LOCATOR_RATELIMIT_STORAGE_URI`` (``memory://`` is per process: with several
  workers use ``redis://`` or ``memcached://``). Behind a reverse proxy, install
  ``werkzeug.middleware.proxy_fix.ProxyFix`` so that the client IP is the real one.
* **CORS** (flask-cors): only origins registered by an active partner get
  ``Access-Control-Allow-Origin`` on the public API; with a key, only that partner's
  origins. Other origins get no CORS headers, so browsers keep the answer from them.
  Partners may change while the app runs (the CLI writes to the store), so the allowed
  origin is decided per request and handed to flask-cors' own header logic.
"""

from __future__ import annotations

from flask import Response, current_app, g, request
from flask_cors.core import get_cors_options, set_cors_headers

from locator.errors import ForbiddenError, LocatorError, Msg, ValidationError
from locator.http.auth import api_user
from locator.http.limits import limiter
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
    key = request.headers.get("X-API-Key")
    if key is None:
        return
    partner = partners().authenticate(key)
    origin = request.headers.get("Origin")
    if origin is not None and _canonical_origin(origin) not in partner.origins:
        raise ForbiddenError(
            Msg("this API key is not registered for the origin %(origin)r", origin=origin), param="Origin"
        )
    g.partner = partner


def rate_key() -> str:
    """Flask-Limiter key: the partner's name, or the client IP for keyless calls."""
    partner = current_partner()
    return f"partner:{partner.name}" if partner else f"ip:{request.remote_addr or 'unknown'}"


def rate_limits() -> str:
    """Flask-Limiter limits for this caller (see the module docstring)."""
    partner = current_partner()
    if partner is None:
        return str(current_app.config["LOCATOR_RATELIMIT_KEYLESS"])
    return f"{partner.daily_quota} per day; {current_app.config['LOCATOR_RATELIMIT_BURST']}"


def _breach_message() -> str:
    partner = current_partner()
    if partner is None:
        return (
            f"rate limit exceeded: keyless callers may make "
            f"{current_app.config['LOCATOR_RATELIMIT_KEYLESS']} per IP address; "
            "wait for Retry-After seconds, or use a partner API key (X-API-Key)"
        )
    return (
        f"rate limit exceeded for partner {partner.name!r}: {partner.daily_quota} per day, "
        f"bursts up to {current_app.config['LOCATOR_RATELIMIT_BURST']}; wait for Retry-After seconds"
    )


def retry_after_only_on_429(resp: Response) -> Response:
    """Flask-Limiter sends ``Retry-After`` on every response; keep it where it means something."""
    if resp.status_code not in {429, 503}:
        resp.headers.pop("Retry-After", None)
    return resp


def quota_headers(resp: Response) -> Response:
    """``X-Quota-Limit/Remaining/Reset``: a partner's daily quota, next to the burst rate.

    ``X-RateLimit-*`` describe the limit closest to being hit (often the burst rate).
    """
    if current_partner() is None:
        return resp
    for lim in limiter.current_limits:
        if lim.limit.GRANULARITY.name == "day":
            resp.headers["X-Quota-Limit"] = str(lim.limit.amount)
            resp.headers["X-Quota-Remaining"] = str(lim.remaining)
            resp.headers["X-Quota-Reset"] = str(lim.reset_at)
    return resp


def cors(resp: Response) -> Response:
    """``after_request``: CORS headers for registered partner origins on the public API."""
    if not is_public_api():
        return resp
    resp.vary.add("Origin")
    origin = request.headers.get("Origin")
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


#: The public API's one budget per caller (partner or keyless IP) over all its blueprints.
public_api_limit = limiter.shared_limit(
    rate_limits,
    scope="public-api",
    key_func=rate_key,
    methods=["GET", "HEAD"],
    error_message=_breach_message,
    exempt_when=_is_manager,
)
