"""The warm-station locator: nearest open facility for outdoor workers in Beijing.

The package is layered (``docs/architecture.md``; the layers are checked by
import-linter in CI):

* :mod:`locator.core` — the domain, geodesy and datums, opening hours, areas, the exact
  geodesic kNN index, place search, navigation links, the riders' rules. No Flask, no
  database.
* :mod:`locator.stores` — the store contract and its SQLite and PostGIS backends.
* :mod:`locator.formats` — files in and out (readers, bulk files), GeoJSON, maps (the
  only Folium user), embed snippets.
* :mod:`locator.services` — the use cases over a store and the index.
* :mod:`locator.http` — Flask: app state, parameters, problems, caching, keys, limits,
  security headers, languages, the OpenAPI document; :mod:`locator.http.blueprints`
  holds one module per URL area. :mod:`locator.cli` — ``flask locator …``.

:func:`create_app` is the table of contents.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from locator import cli
from locator.config import ConfigError, load_config
from locator.http import auth, compression, i18n, limits, metrics, security
from locator.http.blueprints import register_blueprints
from locator.http.hooks import register_hooks
from locator.http.problems import register_error_handlers
from locator.http.state import init_state
from locator.http.urls import trusted_hosts

__all__ = ["create_app", "ConfigError"]

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Create the Flask app.

    Parameters
    ----------
    test_config : dict, optional
        Overrides applied after the environment (tests pass ``LOCATOR_DATABASE_URL``
        and friends here). Keys use the same names as the environment variables.

    Raises
    ------
    ConfigError
        On invalid configuration (the message names the variable).
    StoreUnavailableError
        If the database cannot be reached at start-up.
    """
    app = Flask(
        __name__,
        instance_path=str(ROOT / "instance"),
        static_folder=str(ROOT / "static"),
        template_folder=str(ROOT / "templates"),
    )
    # 1. configuration: defaults, LOCATOR_* environment, test overrides (all validated)
    test_config = dict(test_config or {})
    overrides = {k: str(v) for k, v in test_config.items() if k.startswith("LOCATOR_")}
    app.config.update(load_config(Path(app.instance_path), {**os.environ, **overrides}))
    app.config.update({k: v for k, v in test_config.items() if not k.startswith("LOCATOR_")})
    app.config.setdefault("JSON_SORT_KEYS", False)
    app.config["TRUSTED_HOSTS"] = trusted_hosts(app.config["LOCATOR_PUBLIC_URL"])
    if app.config["LOCATOR_TRUSTED_PROXIES"]:
        n = app.config["LOCATOR_TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]
    logging.basicConfig(level=logging.INFO)

    # 2. extensions: languages, compression, sessions/CSRF/logins, rate limits, security
    i18n.init_app(app)
    compression.init_app(app)
    auth.init_app(app)
    limits.init_app(app)
    security.init_app(app)

    # 3. the store, the index and the services over them
    init_state(app)

    # 4. blueprints, one per URL area (the public API's shared limit is applied here)
    register_blueprints(app)

    # 5. every app-wide request hook, in one ordered list; the index thread feeds the metrics
    register_hooks(app)
    metrics.init_app(app)

    # 6. errors rendered once; 7. the command line
    register_error_handlers(app)
    cli.init_app(app)
    return app
