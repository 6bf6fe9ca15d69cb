"""Response builders shared by the blueprints (JSON and GeoJSON bodies).

Bodies are written with :mod:`orjson` (UTF-8, non-ASCII kept, members in the order
given). Values orjson does not know are converted as Flask's JSON provider does (a
``date`` as an HTTP date, ``Decimal`` and ``UUID`` as strings, a dataclass as a dict,
``__html__`` objects as their markup); integers beyond 64 bits fall back to the
standard library's encoder.
"""

from __future__ import annotations

import dataclasses
import decimal
import json
import uuid
from datetime import date
from typing import Any

import orjson
from flask import Response
from werkzeug.http import http_date

GEOJSON = "application/geo+json"
JSON = "application/json"

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _default(o: Any) -> Any:
    """What Flask's default JSON provider does with these types."""
    if isinstance(o, date):
        return http_date(o)
    if isinstance(o, decimal.Decimal | uuid.UUID):
        return str(o)
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return dataclasses.asdict(o)
    if hasattr(o, "__html__"):
        return str(o.__html__())
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


def dumps(body: object) -> bytes:
    """``body`` as compact UTF-8 JSON bytes (see the module docstring).

    Raises
    ------
    TypeError
        For a value neither orjson nor Flask's provider can write.
    """
    try:
        return orjson.dumps(body, default=_default, option=_OPTIONS)
    except orjson.JSONEncodeError:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=_default).encode()


def geojson_bytes(body: bytes, status: int = 200) -> Response:
    """A GeoJSON response from ready-made UTF-8 bytes (``application/geo+json``)."""
    return Response(body, status=status, mimetype=GEOJSON)


def geojson_response(body: object, status: int = 200) -> Response:
    """A GeoJSON response (``application/geo+json``, UTF-8, non-ASCII kept)."""
    return Response(dumps(body), status=status, mimetype=GEOJSON)


def json_response(body: object, status: int = 200) -> Response:
    """A JSON response (``application/json``, UTF-8, non-ASCII kept)."""
    return Response(dumps(body), status=status, mimetype=JSON)
