"""The public face for partners and GIS tools, mounted by :func:`init_app`.

* :mod:`.access` — API keys (``X-API-Key``), quotas and rates (Flask-Limiter), CORS.
* :mod:`.headers` — ``frame-ancestors``, ``Cache-Control``/``ETag``/``304``, no cookie on embeds.
* :mod:`.sync` — ``/api/v1/facilities?modified_since=`` and ``/api/v1/export.geojson``.
* :mod:`.ogc` — OGC API – Features under ``/ogc``.
* :mod:`.apidocs` — ``/api/openapi.json`` and ``/api/docs``.
* :mod:`.embed` — ``/embed/map`` and ``/embed``.
* :mod:`.cli` — ``flask locator partner …``.

See ``docs/partners.md``.
"""

from __future__ import annotations

from flask import Flask

from locator.partners import PartnerService


def init_app(app: Flask) -> None:
    """Register the partner service, blueprints, hooks and CLI (after the core blueprints)."""
    from locator.public import access, apidocs, cli, embed, headers, ogc, sync

    app.extensions["locator.partners"] = PartnerService(app.extensions["locator"].store)
    for bp in (sync.bp, ogc.bp, apidocs.bp, embed.bp):
        app.register_blueprint(bp)
    access.init_app(app)
    headers.init_app(app)
    cli.init_app(app)
