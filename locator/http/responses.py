"""Response builders shared by the blueprints (JSON and GeoJSON bodies)."""

from __future__ import annotations

from flask import Response, json

GEOJSON = "application/geo+json"
JSON = "application/json"


def geojson_response(body: object, status: int = 200) -> Response:
    """A GeoJSON response (``application/geo+json``, UTF-8, non-ASCII kept)."""
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=GEOJSON)


def json_response(body: object, status: int = 200) -> Response:
    """A JSON response (``application/json``, UTF-8, non-ASCII kept)."""
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=JSON)
