"""Domain objects to JSON and GeoJSON (RFC 7946).

GeoJSON positions are ``[lon, lat]``. RFC 7946 coordinates are WGS-84; when a client
asks for GCJ-02 or BD-09 output (``datum=``), positions are converted and the
collection says so in its ``coordinate_datum`` member.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from locator.core.domain import Facility, NearestHit
from locator.core.geo import Datum, from_wgs84
from locator.core.hours import is_open
from locator.core.live import LiveStatus
from locator.core.records import facility_properties
from locator.stores.contract import HistoryEntry

__all__ = [
    "facility_etag",
    "facility_feature",
    "facility_properties",
    "history_entry",
    "nearest_collection",
    "places_collection",
]


#: ``(facility, open_now) -> LiveStatus``: the live door status of a facility at the
#: answer's instant, given what its hours say then (see :mod:`locator.services.live`).
LiveOf = Callable[[Facility, "bool | None"], LiveStatus]


def facility_feature(
    f: Facility, datum: Datum = Datum.WGS84, *, at: datetime | None = None, live: LiveOf | None = None
) -> dict[str, Any]:
    """One facility as a GeoJSON Feature.

    ``open_now`` is added when ``at`` is given, and ``live`` (``{"state", "since",
    "source", "reports"}``, :meth:`locator.core.live.LiveStatus.as_json`) when ``live`` is.
    """
    lon, lat = from_wgs84(f.lon, f.lat, datum)
    props = facility_properties(f)
    if at is not None:
        props["open_now"] = is_open(f.opening_hours, at) if f.status == "open" else False
        if live is not None:
            props["live"] = live(f, props["open_now"]).as_json()
    return {
        "type": "Feature",
        "id": f.id,
        "geometry": {"type": "Point", "coordinates": [round(lon, 7), round(lat, 7)]},
        "properties": props,
    }


def nearest_collection(
    hits: Iterable[NearestHit],
    query: dict[str, Any],
    datum: Datum,
    at: datetime,
    *,
    live: LiveOf | None = None,
) -> dict[str, Any]:
    """A nearest answer as a FeatureCollection in ascending distance.

    Each feature carries ``distance_m`` (geodesic metres on WGS-84, to the millimetre),
    ``bearing_deg`` (0.1 degree), ``rank`` and, with ``live``, the ``live`` block; the
    collection echoes the query.
    """
    features = []
    for h in hits:
        feat = facility_feature(h.facility, datum, at=at, live=live)
        feat["properties"].update(
            distance_m=round(h.distance_m, 3),
            bearing_deg=round(h.bearing_deg, 1) % 360.0,  # 359.97 rounds to 0.0, not 360.0
            rank=h.rank,
        )
        features.append(feat)
    return {
        "type": "FeatureCollection",
        "coordinate_datum": datum.value,
        "query": query,
        "numberReturned": len(features),
        "features": features,
    }


def history_entry(e: HistoryEntry) -> dict[str, Any]:
    """One history record as JSON."""
    return {
        "seq": e.seq,
        "facility_id": e.facility_id,
        "revision": e.revision,
        "version": e.version,
        "action": e.action,
        "actor": e.actor,
        "reason": e.reason,
        "at": e.at.isoformat(),
        "changes": e.changes,
    }


def places_collection(matches: Iterable[Any], query: str, datum: Datum) -> dict[str, Any]:
    """Place-search matches (:class:`locator.core.places.PlaceMatch`) as a FeatureCollection.

    Positions are WGS-84 unless ``datum`` asks otherwise (``coordinate_datum`` says
    which); each feature has ``kind``, ``name``, ``name_en``, ``context`` and ``score``.
    """
    features = []
    for m in matches:
        p = m.place
        lon, lat = from_wgs84(p.lon, p.lat, datum)
        features.append(
            {
                "type": "Feature",
                "id": f"{p.kind}:{p.id}",
                "geometry": {"type": "Point", "coordinates": [round(lon, 7), round(lat, 7)]},
                "properties": {
                    "kind": p.kind,
                    "id": p.id,
                    "name": p.name,
                    "name_en": p.name_en,
                    "context": p.context,
                    "score": m.score,
                },
            }
        )
    return {
        "type": "FeatureCollection",
        "coordinate_datum": datum.value,
        "query": {"q": query},
        "numberReturned": len(features),
        "features": features,
    }


def facility_etag(f: Facility) -> str:
    """The ``ETag`` of a facility's representations: ``W/"<id>-v<version>"``.

    Weak, because representations differ in ways that do not change the facility (the
    ``datum`` of the coordinates, ``open_now`` at the time of the request); the version
    alone decides whether a cached copy is current. ``If-Match`` on the management API
    compares this version (see ``docs/managers.md``).
    """
    return f'W/"{f.id}-v{f.version}"'
