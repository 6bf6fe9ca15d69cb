"""A facility's GeoJSON ``properties``, as a dict and as pre-encoded JSON bytes, and back.

The index (:mod:`locator.core.index`) keeps every facility as one JSON object, the exact
GeoJSON ``properties`` the API serves (:func:`facility_properties`), encoded once by
:func:`encode_properties`; its location lives in the index's lon/lat columns. That is
enough to rebuild the :class:`~locator.core.domain.Facility` exactly
(:func:`decode_properties`), except in one case the properties cannot express: a
``district_name`` without a ``district_adcode`` (the properties' ``district`` is then
``null``). :func:`properties_extras` returns what such a facility needs on top, and
:func:`decode_properties` takes it back.

Encoding: :func:`json.dumps` with ``ensure_ascii=False`` and compact separators
(``,`` and ``:``), keys in :func:`facility_properties` order, UTF-8. The bytes are a
complete JSON object, so a response writer can splice them into a Feature as they are
(``{"type":"Feature",…,"properties":`` + bytes + ``}``), or, to add members such as
``distance_m``, replace the closing ``}`` with ``,"distance_m":…}``.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from locator.core.domain import Facility

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_DECODER = json.JSONDecoder()


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def facility_properties(f: Facility) -> dict[str, Any]:
    """The facility's fields as GeoJSON ``properties`` (JSON-compatible), in API order.

    Instants are ISO 8601 with their offset, ``status_until`` an ISO date, amenities a
    sorted list, ``district`` ``{"adcode", "name"}`` or null. The location is not here:
    it is the Feature's geometry.
    """
    return {
        "id": f.id,
        "kind": f.kind,
        "name": f.name,
        "address": f.address,
        "district": (
            None if f.district_adcode is None else {"adcode": f.district_adcode, "name": f.district_name}
        ),
        "subdistrict": f.subdistrict,
        "amenities": sorted(f.amenities),
        "opening_hours": f.opening_hours,
        "host_type": f.host_type,
        "phone": f.phone,
        "access": f.access,
        "status": f.status,
        "status_until": _iso(f.status_until),
        "status_reason": f.status_reason,
        "verified_at": _iso(f.verified_at),
        "updated_at": _iso(f.updated_at),
        "version": f.version,
        "source": f.source,
        "demo": f.demo,
    }


def encode_properties(f: Facility) -> bytes:
    """:func:`facility_properties` as compact UTF-8 JSON bytes (see the module docstring)."""
    return _ENCODER.encode(facility_properties(f)).encode()


def properties_extras(f: Facility) -> dict[str, Any] | None:
    """What :func:`decode_properties` needs beside the properties to rebuild ``f``, or None.

    Only a ``district_name`` without a ``district_adcode`` is lost in the properties.
    """
    if f.district_adcode is None and f.district_name is not None:
        return {"district_name": f.district_name}
    return None


def decode_properties(
    data: bytes | memoryview, lon: float, lat: float, extras: dict[str, Any] | None = None
) -> Facility:
    """Rebuild the facility from :func:`encode_properties` bytes and its location.

    Parameters
    ----------
    data : bytes
        One facility's encoded properties.
    lon, lat : float
        Its location, WGS-84 degrees.
    extras : dict, optional
        :func:`properties_extras` of the facility, when it had any.

    Returns
    -------
    Facility
        Equal to the facility that was encoded (instants come back with a fixed UTC
        offset: equal instants, same ISO text).

    Raises
    ------
    ValueError
        If ``data`` is not such an encoding.
    """
    p = _DECODER.decode(bytes(data).decode())
    district = p["district"]
    status_until = p["status_until"]
    verified_at = p["verified_at"]
    updated_at = p["updated_at"]
    f = Facility(
        id=p["id"],
        kind=p["kind"],
        name=p["name"],
        lon=float(lon),
        lat=float(lat),
        address=p["address"],
        amenities=frozenset(p["amenities"]),
        opening_hours=p["opening_hours"],
        host_type=p["host_type"],
        phone=p["phone"],
        access=p.get("access", ""),
        status=p["status"],
        status_until=None if status_until is None else date.fromisoformat(status_until),
        status_reason=p["status_reason"],
        district_adcode=None if district is None else district["adcode"],
        district_name=None if district is None else district["name"],
        subdistrict=p["subdistrict"],
        verified_at=None if verified_at is None else datetime.fromisoformat(verified_at),
        updated_at=None if updated_at is None else datetime.fromisoformat(updated_at),
        version=p["version"],
        source=p["source"],
        demo=p["demo"],
    )
    if extras:
        f = f.replace(**extras)
    return f
