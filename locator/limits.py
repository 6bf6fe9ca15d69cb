"""Rate limits (Flask-Limiter), keyed by the client's address.

One :data:`limiter` for the app, initialised in :func:`locator.create_app`. Counters
live in ``LOCATOR_RATELIMIT_STORAGE_URI`` (default ``memory://``: per worker process,
so with N gunicorn workers a client gets up to N times the limit; use Redis or
Memcached to share them). Behind a reverse proxy, install werkzeug's ``ProxyFix`` so
that ``request.remote_addr`` is the client, not the proxy. A failing counter store does
not fail requests (``RATELIMIT_SWALLOW_ERRORS``): limits are then not enforced.

A request over a limit gets 429 (RFC 9457 problem+json on ``/api/``, a friendly page
elsewhere, see :mod:`locator.http`) with a ``Retry-After`` header.
"""

from __future__ import annotations

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(key_func=get_remote_address)


def feedback_rate() -> str:
    """The per-client limit on rider feedback (``LOCATOR_FEEDBACK_RATE_LIMIT``)."""
    return str(current_app.config["LOCATOR_FEEDBACK_RATE_LIMIT"])


#: Decorator for every route that accepts rider feedback: one budget per client for all
#: of them (POST only).
feedback_limit = limiter.shared_limit(feedback_rate, scope="rider-feedback", methods=["POST"])


def init_app(app: Flask) -> None:
    """Configure Flask-Limiter from ``LOCATOR_RATELIMIT_STORAGE_URI`` and install it."""
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("LOCATOR_RATELIMIT_STORAGE_URI", "memory://"))
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    limiter.init_app(app)
