"""Rate limits: the app's one Flask-Limiter, keyed by the client's address by default.

Every limit in the app is declared on :data:`limiter`: rider feedback (here), the
partners' quotas and keyless allowance (:mod:`locator.http.access`, keyed by partner)
and, for managers, login throttling. It is initialised in :func:`locator.create_app`
after the public API's key check, so that partner-keyed limits see the partner. Counters
live in ``LOCATOR_RATELIMIT_STORAGE_URI`` (default ``memory://``: per worker process,
so with N gunicorn workers a client gets up to N times the limit; use Redis or
Memcached to share them). Behind a reverse proxy, install werkzeug's ``ProxyFix`` so
that ``request.remote_addr`` is the client, not the proxy. A failing counter store does
not fail requests (``RATELIMIT_SWALLOW_ERRORS``): limits are then not enforced.

A request over a limit gets 429 (RFC 9457 problem+json on ``/api/``, a friendly page
elsewhere, see :mod:`locator.http.problems`) with a ``Retry-After`` header.
"""

from __future__ import annotations

from flask import Flask, Response, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(
    key_func=get_remote_address,
    headers_enabled=True,
    strategy="fixed-window",
    key_prefix="locator",
    retry_after="delta-seconds",
)


def feedback_rate() -> str:
    """The per-client limit on rider feedback (``LOCATOR_FEEDBACK_RATE_LIMIT``)."""
    return str(current_app.config["LOCATOR_FEEDBACK_RATE_LIMIT"])


def _counts_against_the_client(response: Response) -> bool:
    """Whether a feedback response uses up the client's budget (not a refused 403).

    A cross-site post refused with 403 was sent by another site in the rider's
    browser: it must not use up the rider's own budget.
    """
    return response.status_code != 403


#: Decorator for every route that accepts rider feedback: one budget per client for all
#: of them (POST only; refused cross-site posts are not counted).
feedback_limit = limiter.shared_limit(
    feedback_rate, scope="rider-feedback", methods=["POST"], deduct_when=_counts_against_the_client
)


def init_app(app: Flask) -> None:
    """Configure Flask-Limiter from ``LOCATOR_RATELIMIT_STORAGE_URI`` and install it."""
    app.config["RATELIMIT_STORAGE_URI"] = app.config.get("LOCATOR_RATELIMIT_STORAGE_URI", "memory://")
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    limiter.init_app(app)
