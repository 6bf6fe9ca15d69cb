"""The OpenAPI document (``/api/openapi.json``) and its viewer (``/api/docs``).

The viewer is Swagger UI, vendored under ``static/vendor/swagger-ui`` from the npm
registry (no CDN); its initialiser is ``static/js/api-docs.js``.
"""

from __future__ import annotations

from flask import Blueprint, Response, json, render_template

from locator.http.openapi import build_openapi

bp = Blueprint("apidocs", __name__, url_prefix="/api")


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 document."""
    return Response(json.dumps(build_openapi(), ensure_ascii=False), mimetype="application/json")


@bp.get("/docs")
def docs() -> str:
    """Swagger UI over the document."""
    return render_template("api_docs.html")
