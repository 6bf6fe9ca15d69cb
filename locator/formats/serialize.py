"""Domain objects to JSON and GeoJSON (RFC 7946).

GeoJSON positions are ``[lon, lat]``. RFC 7946 coordinates are WGS-84; when a client
asks for GCJ-02 or BD-09 output (``datum=``), positions are converted and the
collection says so in its ``coordinate_datum`` member.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from locator.core.domain import Facility, NearestHit
from locator.core.geo import Datum, from_wgs84
from locator.core.history import parse_reason
from locator.core.hours import is_open
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


def facility_feature(
    f: Facility, datum: Datum = Datum.WGS84, *, at: datetime | None = None
) -> dict[str, Any]:
    """One facility as a GeoJSON Feature; ``open_now`` is added when ``at`` is given."""
    lon, lat = from_wgs84(f.lon, f.lat, datum)
    props = facility_properties(f)
    if at is not None:
        props["open_now"] = is_open(f.opening_hours, at) if f.status == "open" else False
    return {
        "type": "Feature",
        "id": f.id,
        "geometry": {"type": "Point", "coordinates": [round(lon, 7), round(lat, 7)]},
        "properties": props,
    }


def nearest_collection(
    hits: Iterable[NearestHit], query: dict[str, Any], datum: Datum, at: datetime
) -> dict[str, Any]:
    """A nearest answer as a FeatureCollection in ascending distance.

    Each feature carries ``distance_m`` (geodesic metres on WGS-84, to the millimetre),
    ``bearing_deg`` (0.1 degree) and ``rank``; the collection echoes the query.
    """
    features = []
    for h in hits:
        feat = facility_feature(h.facility, datum, at=at)
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
    """One history record as JSON.

    ``reason`` is the person's own words; what the system itself records (verified, a
    status change, a restore, a rider report, a bulk upload…) is ``reason_code`` with its
    ``reason_params`` (:mod:`locator.core.history`), read the same way from older entries.
    """
    why = parse_reason(e.reason)
    return {
        "seq": e.seq,
        "facility_id": e.facility_id,
        "revision": e.revision,
        "version": e.version,
        "action": e.action,
        "actor": e.actor,
        "reason": why.note,
        "reason_code": why.code or None,
        "reason_params": why.params,
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
