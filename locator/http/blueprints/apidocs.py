"""The OpenAPI document (``/api/openapi.json``) and its viewer (``/api/docs``).

The document is generated from the app's operations once per app
(:func:`locator.http.openapi.build_openapi`). The viewer is Swagger UI, vendored under
``static/vendor/swagger-ui`` from the npm registry (no CDN); its initialiser is
``static/js/api-docs.js``.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, json, render_template

from locator.http.openapi import build_openapi
from locator.http.operations import JSON, Reply, conditional_get, operation, page

bp = Blueprint("apidocs", __name__, url_prefix="/api")

_CACHE_HEADERS = (("ETag", "ETag"), ("Cache-Control", "CacheControl"))


def document_bytes() -> bytes:
    """The OpenAPI document of the current app as JSON (built once per app)."""
    cached: bytes | None = current_app.extensions.get("locator.openapi")
    if cached is None:
        cached = json.dumps(build_openapi(current_app), ensure_ascii=False).encode()
        current_app.extensions["locator.openapi"] = cached
    return cached


@bp.get("/openapi.json")
@operation(
    "This document",
    tags=("meta",),
    security=(),
    responses=conditional_get(Reply("OpenAPI 3.1.", None, (JSON,), _CACHE_HEADERS)),
)
def openapi() -> Response:
    """The OpenAPI 3.1 document."""
    return Response(document_bytes(), mimetype="application/json")


@bp.get("/docs")
@operation(
    "Interactive API documentation",
    tags=("meta",),
    security=(),
    responses=conditional_get(page("HTML page.")),
)
def docs() -> str:
    """Swagger UI over the document."""
    return render_template("api_docs.html")
