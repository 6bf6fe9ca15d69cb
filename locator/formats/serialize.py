"""Domain objects to JSON and GeoJSON (RFC 7946).

GeoJSON positions are ``[lon, lat]``. RFC 7946 coordinates are WGS-84; when a client
asks for GCJ-02 or BD-09 output (``datum=``), positions are converted and the
collection says so in its ``coordinate_datum`` member.

Two writers of a nearest answer give the same JSON value (members in another order):
:func:`nearest_collection` builds it as a dict from :class:`NearestHit` objects (for
pages and embeds that also use the facilities), :func:`nearest_collection_json` writes
the bytes of the API's answer straight from the index (:mod:`orjson`, the facilities'
pre-encoded ``properties`` spliced in, nothing materialised; ``tests/test_lean_api.py``
compares the two over many queries).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import orjson

from locator.core.domain import Facility, NearestHit
from locator.core.geo import Datum, from_wgs84
from locator.core.history import parse_reason
from locator.core.hours import is_open
from locator.core.index import FacilityIndex
from locator.core.live import SCHEDULED, LiveStatus
from locator.core.records import facility_properties
from locator.stores.contract import HistoryEntry

__all__ = [
    "facility_etag",
    "facility_feature",
    "facility_properties",
    "history_entry",
    "nearest_collection",
    "nearest_collection_json",
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


def nearest_collection_json(
    index: FacilityIndex,
    rows: Sequence[tuple[int, float, float]],
    query: dict[str, Any],
    datum: Datum,
    at: datetime,
    *,
    live: LiveOf | None = None,
    live_tracked: Callable[[str], bool] | None = None,
) -> bytes:
    """A nearest answer as UTF-8 GeoJSON bytes, written from the index (the API's writer).

    The same JSON value as ``json.dumps(nearest_collection(index.nearest(q), …))``
    (members in document order rather than sorted; numbers in their shortest form).

    Parameters
    ----------
    index : FacilityIndex
        The index ``rows`` come from (handles are valid for it only).
    rows : sequence of (handle, distance_m, bearing_deg)
        :meth:`FacilityIndex.nearest_rows`: geodesic metres and degrees on WGS-84,
        ascending distance; ranks are positions + 1.
    query : dict
        The query as understood, echoed in ``query``.
    datum : Datum
        Datum of the output positions (converted only when not WGS-84).
    at : datetime
        Timezone-aware instant for ``open_now``: ``opening_hours`` has minute resolution,
        so each distinct value is evaluated once per minute of ``at`` and the answer
        reused (:func:`open_at_minute`).
    live : callable, optional
        ``(facility, open_now) -> LiveStatus`` at ``at``: adds the ``live`` block.
    live_tracked : callable, optional
        ``facility_id -> bool``: whether anything live is known about the facility (door
        events, votes, overrides). An open facility with nothing known gets the schedule's
        block without being materialised; others are read from the index and passed to
        ``live``.
    """
    convert = datum is not Datum.WGS84
    opening = _minute_memo(at)
    features = []
    for rank, (h, distance_m, bearing_deg) in enumerate(rows, start=1):
        lon, lat = index.lonlat(h)
        if convert:
            lon, lat = from_wgs84(lon, lat, datum)
        open_now: bool | None = False
        if index.status_of(h) == "open":
            hours = index.opening_hours_of(h)
            if hours in opening:
                open_now = opening[hours]
            else:
                open_now = opening[hours] = is_open(hours, at)
        members: dict[str, Any] = {"open_now": open_now}
        if live is not None:
            fid = index.facility_id(h)
            if index.status_of(h) == "open" and live_tracked is not None and not live_tracked(fid):
                members["live"] = _SCHEDULED_JSON[open_now]
            else:
                members["live"] = live(index.facility(h), open_now).as_json()
        members["distance_m"] = round(distance_m, 3)
        members["bearing_deg"] = round(bearing_deg, 1) % 360.0  # 359.97 rounds to 0.0, not 360.0
        members["rank"] = rank
        extra = orjson.dumps(members)
        props = index.properties_json(h)
        spliced = extra if props == b"{}" else props[:-1] + b"," + extra[1:]
        features.append(
            {
                "type": "Feature",
                "id": index.facility_id(h),
                "geometry": {"type": "Point", "coordinates": [round(lon, 7), round(lat, 7)]},
                "properties": orjson.Fragment(spliced),
            }
        )
    return orjson.dumps(
        {
            "type": "FeatureCollection",
            "coordinate_datum": datum.value,
            "query": query,
            "numberReturned": len(features),
            "features": features,
        }
    )


#: The schedule's ``live`` blocks, made once (a facility nobody reported on).
_SCHEDULED_JSON: dict[bool | None, dict[str, Any]] = {k: v.as_json() for k, v in SCHEDULED.items()}

#: ``(minute, {opening_hours: open?})``: the evaluations of the current minute.
_OPEN_MEMO: tuple[int, dict[str, bool | None]] = (-1, {})
#: Distinct ``opening_hours`` values kept per minute (a bound on the memo's memory).
_OPEN_MEMO_MAX = 4096


def _minute_memo(at: datetime) -> dict[str, bool | None]:
    """The memo of ``open_now`` evaluations for ``at``'s minute (see :func:`open_at_minute`)."""
    global _OPEN_MEMO
    minute = int(at.timestamp() // 60)
    memo_minute, memo = _OPEN_MEMO
    if memo_minute != minute or len(memo) > _OPEN_MEMO_MAX:
        memo = {}
        _OPEN_MEMO = (minute, memo)
    return memo


def open_at_minute(hours: str, at: datetime) -> bool | None:
    """:func:`locator.core.hours.is_open`, remembered for the rest of ``at``'s minute.

    ``opening_hours`` rules change state on whole minutes (the syntax has minute
    resolution; the ETag of a nearest answer relies on the same fact), so every
    instant of a minute has one answer. The memo holds one minute and at most
    :data:`_OPEN_MEMO_MAX` values; it is shared by the threads of a worker (a race
    stores the same value twice).
    """
    memo = _minute_memo(at)
    if hours in memo:
        return memo[hours]
    value = memo[hours] = is_open(hours, at)
    return value


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


def facility_etag(f: Facility, body: bytes | None = None) -> str:
    """The ``ETag`` of a facility's representation: ``W/"<id>-v<version>[;<crc32>]"``.

    Parameters
    ----------
    f : Facility
        The facility; its ``version`` is what ``If-Match`` on the management API compares
        (see ``docs/managers.md``).
    body : bytes, optional
        The representation sent. Given (the public ``GET /api/v1/facilities/<id>``), its
        CRC-32 follows the version as 8 hex digits, so that a cached copy revalidates only
        while ``open_now``, the ``live`` block (door events, check-ins, manager overrides)
        and the coordinates in the asked datum are what they were: the version alone
        would answer ``304`` with a stale open state. Left out on the management API's
        answers, which are never cached.

    Returns
    -------
    str
        A weak validator (RFC 9110 §8.8.3): ``W/"demo-1-v3"`` or ``W/"demo-1-v3;9f0c21aa"``.
    """
    if body is None:
        return f'W/"{f.id}-v{f.version}"'
    return f'W/"{f.id}-v{f.version};{zlib.crc32(body):08x}"'
