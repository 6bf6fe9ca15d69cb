"""The ceiling of bench/http.py: a bare Flask app answering a constant 2 KB JSON document.

``gunicorn -c gunicorn.conf.py bench.ceiling_app:app``: the same server settings as the
project, no work per request beyond Flask's own (routing, a request context, a
response). ``GET /api/v1/nearest`` (any query string) and ``GET /`` answer the same
2,048-byte ``application/json`` body, so that the benchmark sends every app the same
requests. Nothing here reads a store.
"""

from __future__ import annotations

import json

from flask import Flask, Response

#: A JSON object of exactly 2,048 bytes.
BODY = json.dumps({"type": "FeatureCollection", "padding": ""}).encode()
BODY = json.dumps({"type": "FeatureCollection", "padding": "x" * (2048 - len(BODY))}).encode()
assert len(BODY) == 2048

app = Flask(__name__)


@app.get("/")
@app.get("/api/v1/nearest")
def constant() -> Response:
    """The constant document."""
    return Response(BODY, mimetype="application/json")
