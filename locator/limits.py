"""Rate limiting: one :class:`flask_limiter.Limiter` for the whole app.

Storage comes from ``LOCATOR_RATELIMIT_STORAGE_URI`` (default ``memory://``, which
counts per worker process; use a shared storage such as ``redis://`` when several
workers or app nodes must share the counts). Clients are told apart by their remote
address, so run behind a proxy only with ``werkzeug.middleware.proxy_fix.ProxyFix``
configured for it.
"""

from __future__ import annotations

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

#: The app's only limiter; views use ``@limiter.limit(...)``.
limiter = Limiter(get_remote_address)


def init_app(app: Flask) -> None:
    """Initialise :data:`limiter` for ``app`` with the configured storage."""
    app.config.setdefault("RATELIMIT_ENABLED", True)
    app.config["RATELIMIT_STORAGE_URI"] = app.config.get("LOCATOR_RATELIMIT_STORAGE_URI", "memory://")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    limiter.init_app(app)
