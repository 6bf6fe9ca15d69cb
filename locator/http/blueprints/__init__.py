"""One blueprint per URL area. Blueprints never import each other.

========================  =====================================================
``api``                   ``/api/v1`` nearest, facilities, places, rider feedback
``sync``                  ``/api/v1/facilities`` change feed, ``/api/v1/export.geojson``
``manage_api``            ``/api/v1`` management (bearer token or session)
``ogc``                   ``/ogc`` OGC API – Features
``apidocs``               ``/api/openapi.json``, ``/api/docs``
``embed``                 ``/embed/map``, ``/embed``
``web`` (pages.py)        ``/``, ``/nearest``, ``/lite``, ``/map``, ``/places``, ``/facility/…``
``offline``               ``/sw.js``, ``/manifest.webmanifest``
``ops``                   ``/healthz``, ``/readyz``, ``/metrics`` (operator only)
``auth``                  ``/login``, ``/logout``
``manage``                ``/manage…`` (station managers' pages)
``plan``                  ``/plan…`` (the coverage planner: admins, district managers)
========================  =====================================================
"""

from __future__ import annotations

from flask import Flask

from locator.http.blueprints import (
    api,
    apidocs,
    auth,
    embed,
    manage,
    manage_api,
    offline,
    ogc,
    ops,
    pages,
    plan,
    sync,
)

#: Registration order (it decides which of two identical rules wins: none overlap).
BLUEPRINTS = (
    api.bp,
    sync.bp,
    manage_api.bp,
    ogc.bp,
    apidocs.bp,
    embed.bp,
    pages.bp,
    offline.bp,
    ops.bp,
    auth.bp,
    manage.bp,
    plan.bp,
)


def register_blueprints(app: Flask) -> None:
    """Mount every blueprint (the public API's shared allowance: :mod:`locator.http.access`)."""
    for bp in BLUEPRINTS:
        app.register_blueprint(bp)
