"""From parsed request models to domain queries (the models are in :mod:`locator.http.models`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from locator.core.domain import NearestQuery
from locator.core.geo import Datum, to_wgs84
from locator.core.hours import TZ
from locator.http.models import NearestParams


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


def nearest_query(params: NearestParams, now: datetime) -> ParsedNearest:
    """The domain query of validated nearest parameters.

    ``params.lon``/``params.lat`` are degrees in ``params.datum``; the query is WGS-84.
    ``now`` (timezone-aware) is the instant for ``open_now`` when ``at`` is absent.
    """
    at = params.at or now.astimezone(TZ)
    wlon, wlat = to_wgs84(params.lon, params.lat, params.datum)
    amenities = params.amenity or frozenset()
    query = NearestQuery(
        lon=wlon,
        lat=wlat,
        k=params.limit,
        kinds=params.kind,
        amenities=amenities,
        open_at=at if params.open_now else None,
        radius_m=params.radius_m,
    )
    echo: dict[str, Any] = {
        "lon": params.lon,
        "lat": params.lat,
        "datum": params.datum.value,
        "kind": sorted(params.kind) if params.kind else None,
        "amenity": sorted(amenities),
        "open_now": params.open_now,
        "at": at.isoformat(),
        "radius_m": params.radius_m,
        "limit": params.limit,
    }
    return ParsedNearest(query, params.datum, at, echo)


def parse_nearest(args: Mapping[str, str], now: datetime) -> ParsedNearest:
    """Parse ``lon, lat, kind, amenity, open_now, at, radius_m, limit, datum`` (rider pages, embed).

    Raises
    ------
    ValidationError
        Naming the first bad parameter.
    """
    return nearest_query(NearestParams.parse(args), now)
