"""Parsing request parameters into typed queries. Every failure is a 400 naming the parameter."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from locator.core.domain import AMENITIES, KINDS, NearestQuery
from locator.core.geo import Datum, to_wgs84
from locator.core.hours import TZ
from locator.errors import Msg, ValidationError

LIMIT_MAX = 50
RADIUS_MAX_M = 100_000.0


@dataclass(frozen=True, slots=True)
class ParsedNearest:
    """A parsed nearest request.

    Attributes
    ----------
    query : NearestQuery
        In WGS-84.
    datum : Datum
        The datum of the input point and of the output coordinates.
    at : datetime
        The instant used for ``open_now`` (Asia/Shanghai).
    echo : dict
        The query as understood, for the response.
    """

    query: NearestQuery
    datum: Datum
    at: datetime
    echo: dict[str, Any]


def _one(args: Mapping[str, str], name: str) -> str | None:
    value = args.get(name)
    if value is None:
        return None
    return value.strip()


def parse_float(args: Mapping[str, str], name: str, lo: float, hi: float, *, required: bool) -> float | None:
    """A finite number in ``[lo, hi]`` from ``args[name]``.

    Raises
    ------
    ValidationError
        If missing (when required), not a number, NaN/inf or out of range.
    """
    raw = _one(args, name)
    if raw is None or raw == "":
        if required:
            raise ValidationError(Msg("%(name)s is required", name=name), param=name)
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ValidationError(Msg("%(name)s must be a number", name=name), param=name) from None
    if not math.isfinite(value):
        raise ValidationError(Msg("%(name)s must be a finite number", name=name), param=name)
    if not lo <= value <= hi:
        raise ValidationError(
            Msg("%(name)s must be between %(lo)s and %(hi)s", name=name, lo=f"{lo:g}", hi=f"{hi:g}"),
            param=name,
        )
    return value


def parse_list(args: Mapping[str, str], name: str, allowed: Mapping[str, Any]) -> frozenset[str] | None:
    """A comma-separated list of keys of ``allowed``; None when absent or empty."""
    raw = _one(args, name)
    if not raw:
        return None
    items = frozenset(v.strip() for v in raw.split(",") if v.strip())
    unknown = sorted(items - allowed.keys())
    if unknown:
        raise ValidationError(
            Msg("unknown %(name)s: %(values)s", name=name, values=", ".join(unknown)), param=name
        )
    return items or None


def parse_bool(args: Mapping[str, str], name: str, default: bool) -> bool:
    """``true``/``false`` (also 1/0, yes/no, on/off)."""
    raw = _one(args, name)
    if raw is None or raw == "":
        return default
    value = raw.lower()
    if value in {"true", "1", "yes", "on"}:
        return True
    if value in {"false", "0", "no", "off"}:
        return False
    raise ValidationError(Msg("%(name)s must be true or false", name=name), param=name)


def parse_int(args: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    """An integer in ``[lo, hi]``."""
    raw = _one(args, name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError(Msg("%(name)s must be an integer", name=name), param=name) from None
    if not lo <= value <= hi:
        raise ValidationError(
            Msg("%(name)s must be between %(lo)s and %(hi)s", name=name, lo=lo, hi=hi), param=name
        )
    return value


def parse_datum(args: Mapping[str, str], name: str = "datum") -> Datum:
    """The ``datum`` parameter (default WGS-84)."""
    raw = _one(args, name)
    if not raw:
        return Datum.WGS84
    try:
        return Datum.parse(raw)
    except ValueError:
        raise ValidationError(Msg("%(name)s must be wgs84, gcj02 or bd09", name=name), param=name) from None


def parse_instant(args: Mapping[str, str], name: str, now: datetime) -> datetime:
    """An ISO 8601 instant (naive means Asia/Shanghai); ``now`` when absent."""
    raw = _one(args, name)
    if not raw:
        return now.astimezone(TZ)
    # An unencoded "+08:00" arrives as " 08:00" (form decoding turns + into space).
    raw = re.sub(r"(T\d\d:\d\d(?::\d\d(?:\.\d+)?)?) (\d\d:?\d\d)$", r"\1+\2", raw)
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(Msg("%(name)s must be an ISO 8601 instant", name=name), param=name) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=TZ)
    return value.astimezone(TZ)


def parse_nearest(args: Mapping[str, str], now: datetime, *, default_limit: int = 10) -> ParsedNearest:
    """Parse ``lon, lat, kind, amenity, open_now, at, radius_m, limit, datum``.

    ``lon``/``lat`` are degrees in ``datum``; the returned query is WGS-84.

    Raises
    ------
    ValidationError
        Naming the first bad parameter.
    """
    datum = parse_datum(args)
    lon = parse_float(args, "lon", -180, 180, required=True)
    lat = parse_float(args, "lat", -90, 90, required=True)
    assert lon is not None and lat is not None
    kinds = parse_list(args, "kind", KINDS)
    amenities = parse_list(args, "amenity", AMENITIES) or frozenset()
    open_now = parse_bool(args, "open_now", False)
    at = parse_instant(args, "at", now)
    radius_m = parse_float(args, "radius_m", 1, RADIUS_MAX_M, required=False)
    limit = parse_int(args, "limit", default_limit, 1, LIMIT_MAX)
    wlon, wlat = to_wgs84(lon, lat, datum)
    query = NearestQuery(
        lon=wlon,
        lat=wlat,
        k=limit,
        kinds=kinds,
        amenities=amenities,
        open_at=at if open_now else None,
        radius_m=radius_m,
    )
    echo = {
        "lon": lon,
        "lat": lat,
        "datum": datum.value,
        "kind": sorted(kinds) if kinds else None,
        "amenity": sorted(amenities),
        "open_now": open_now,
        "at": at.isoformat(),
        "radius_m": radius_m,
        "limit": limit,
    }
    return ParsedNearest(query, datum, at, echo)
