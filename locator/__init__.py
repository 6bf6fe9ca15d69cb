"""The warm-station locator: nearest open facility for outdoor workers in Beijing.

:func:`create_app` is the table of contents: config → i18n and compression → store and
index → accounts (sessions, CSRF, Flask-Login) → blueprints → the partners' public face
(API keys, CORS, embed, OGC API) → rate limits (after the API-key check) → error
handlers → CLI.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from flask import Flask

from locator import auth, cli, cli_accounts, compression, i18n, limits, public
from locator.areas import DISTRICTS_FILE, ServiceArea, load_districts, load_subdistricts, read_geojson
from locator.config import ConfigError, load_config
from locator.feedback import FeedbackService
from locator.http import register_error_handlers
from locator.services import LocatorService
from locator.stores import open_store

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
    test_config = dict(test_config or {})
    # LOCATOR_* overrides go through the same parsing and validation as the environment.
    overrides = {k: str(v) for k, v in test_config.items() if k.startswith("LOCATOR_")}
    app.config.update(load_config(Path(app.instance_path), {**os.environ, **overrides}))
    app.config.update({k: v for k, v in test_config.items() if not k.startswith("LOCATOR_")})
    app.config.setdefault("JSON_SORT_KEYS", False)
    logging.basicConfig(level=logging.INFO)

    i18n.init_app(app)
    compression.init_app(app)
    register_store(app)
    auth.init_app(app)
    register_blueprints(app)
    public.init_app(app)  # partners: keys, quotas, CORS, embed, OGC API, OpenAPI, caching
    limits.init_app(app)  # after public: its key check runs before the limiter's hook
    register_error_handlers(app)
    cli.init_app(app)
    cli_accounts.init_app(app)
    return app


def register_store(app: Flask) -> None:
    """Open the store, create its schema, and attach the service (store + index)."""
    store = open_store(
        app.config["LOCATOR_DATABASE_URL"],
        **(
            {
                "pool_min": app.config["LOCATOR_DB_POOL_MIN"],
                "pool_max": app.config["LOCATOR_DB_POOL_MAX"],
                "timeout_s": app.config["LOCATOR_DB_TIMEOUT_S"],
            }
            if not app.config["LOCATOR_DATABASE_URL"].startswith("sqlite")
            else {}
        ),
    )
    store.init_schema()
    area = app.config["LOCATOR_SERVICE_AREA"]
    service_area = ServiceArea.from_file(Path(area)) if area else ServiceArea(None)
    svc = LocatorService(
        store,
        load_districts(),
        load_subdistricts(),
        service_area,
        check_interval_s=app.config["LOCATOR_INDEX_CHECK_S"],
    )
    svc.refresh(force=True)
    app.extensions["locator"] = svc
    app.extensions["locator.feedback"] = FeedbackService(svc)
    app.extensions["locator.districts_geojson"] = read_geojson(DISTRICTS_FILE)


def register_blueprints(app: Flask) -> None:
    """Mount the API and the pages."""
    from locator.api import bp as api_bp
    from locator.api.manage import bp as manage_api_bp
    from locator.web import bp as web_bp
    from locator.web.auth import bp as auth_bp
    from locator.web.manage import bp as manage_bp

    app.register_blueprint(api_bp)
    app.register_blueprint(manage_api_bp)
    app.register_blueprint(web_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(manage_bp)
