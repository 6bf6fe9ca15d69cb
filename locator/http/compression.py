"""Compressed responses for weak networks (Flask-Compress).

HTML, CSS, JavaScript and JSON/GeoJSON responses of 500 bytes or more are sent with
``Content-Encoding: br`` or ``gzip`` (whichever the client prefers; Chromium offers
Brotli only over HTTPS), level 6 for gzip. Static files (streamed) are compressed on
the fly too. ``Vary: Accept-Encoding`` is set and strong ETags get the algorithm
appended, so caches keep the variants apart. A reverse proxy that compresses can take
this over; Flask-Compress leaves responses that already have ``Content-Encoding`` alone.
"""

from __future__ import annotations

from flask import Flask
from flask_compress import Compress

compress = Compress()

#: Media types worth compressing (text formats only).
MIMETYPES = [
    "text/html",
    "text/css",
    "text/plain",
    "text/javascript",
    "application/javascript",
    "application/json",
    "application/geo+json",
    "application/problem+json",
    "application/manifest+json",
    "image/svg+xml",
]


def init_app(app: Flask) -> None:
    """Install response compression with the settings above (overridable in config)."""
    app.config.setdefault("COMPRESS_MIMETYPES", MIMETYPES)
    app.config.setdefault("COMPRESS_LEVEL", 6)
    app.config.setdefault("COMPRESS_BR_LEVEL", 5)
    app.config.setdefault("COMPRESS_ALGORITHM", ["br", "gzip"])
    app.config.setdefault("COMPRESS_ALGORITHM_STREAMING", ["br", "gzip"])
    compress.init_app(app)
