"""The OpenAPI 3.1 document of the public HTTP interface (served at ``/api/openapi.json``).

Written by hand as data, next to the code it describes; ``tests/test_openapi.py``
validates it with openapi-spec-validator, checks that every public route is in it and
checks real responses against its schemas. The management API (``locator/http/blueprints/manage_api.py``)
is documented in :data:`MANAGEMENT_PATHS` and the ``MANAGEMENT_*`` components (the marked
section below), merged into the document per method.
"""

from __future__ import annotations

import copy
from typing import Any

from locator.core.domain import (
    AMENITIES,
    FEEDBACK_REASONS,
    FEEDBACK_VERDICTS,
    HOST_TYPES,
    KINDS,
    STATUSES,
    TEXT_MAX,
)
from locator.core.places import PLACE_KINDS, QUERY_MAX
from locator.services.management import REPORT_ACTIONS
from locator.stores.contract import REPORT_STATUSES, ROLES

GEOJSON = "application/geo+json"
JSON = "application/json"
PROBLEM = "application/problem+json"
HTML = "text/html"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _param(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/parameters/{name}"}


def _resp(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{name}"}


_CACHE_HEADERS = {
    "ETag": {"$ref": "#/components/headers/ETag"},
    "Cache-Control": {"$ref": "#/components/headers/CacheControl"},
}
_ERRORS = {
    "304": _resp("NotModified"),
    "400": _resp("BadRequest"),
    "401": _resp("Unauthorized"),
    "403": _resp("Forbidden"),
    "429": _resp("TooManyRequests"),
    "503": _resp("Unavailable"),
}


def _ok(description: str, media: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "headers": _CACHE_HEADERS, "content": {media: {"schema": schema}}}


def _ogc_ok(description: str, json_media: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": description,
        "headers": _CACHE_HEADERS,
        "content": {json_media: {"schema": schema}, HTML: {"schema": {"type": "string"}}},
    }


_NULLABLE_STR = {"type": ["string", "null"]}

SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details.",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string"},
            "param": {"type": "string", "description": "The parameter or field at fault."},
        },
    },
    "Link": {
        "type": "object",
        "required": ["href", "rel"],
        "properties": {
            "href": {"type": "string", "format": "uri"},
            "rel": {"type": "string"},
            "type": {"type": "string"},
            "title": {"type": "string"},
        },
    },
    "Point": {
        "type": "object",
        "required": ["type", "coordinates"],
        "properties": {
            "type": {"const": "Point"},
            "coordinates": {
                "type": "array",
                "description": "[longitude, latitude] in degrees: WGS-84 unless the response says "
                "otherwise in coordinate_datum.",
                "minItems": 2,
                "maxItems": 2,
                "items": {"type": "number"},
            },
        },
    },
    "FacilityProperties": {
        "type": "object",
        "required": ["id", "kind", "name", "address", "amenities", "status", "version", "demo"],
        "properties": {
            "id": {"type": "string"},
            "kind": {"enum": list(KINDS)},
            "name": {"type": "string"},
            "address": {"type": "string"},
            "district": {
                "oneOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "required": ["adcode", "name"],
                        "properties": {
                            "adcode": {"type": "string", "pattern": "^[0-9]{6}$"},
                            "name": _NULLABLE_STR,
                        },
                    },
                ]
            },
            "subdistrict": _NULLABLE_STR,
            "amenities": {"type": "array", "items": {"enum": list(AMENITIES)}, "uniqueItems": True},
            "opening_hours": {"type": "string", "description": "OpenStreetMap opening_hours syntax."},
            "host_type": {"anyOf": [{"enum": list(HOST_TYPES)}, {"const": ""}]},
            "phone": {"type": "string"},
            "status": {"enum": list(STATUSES)},
            "status_until": {"type": ["string", "null"], "format": "date"},
            "status_reason": {"type": "string"},
            "verified_at": {"type": ["string", "null"], "format": "date-time"},
            "updated_at": {"type": ["string", "null"], "format": "date-time"},
            "version": {"type": "integer", "minimum": 1},
            "source": {"type": "string"},
            "demo": {"type": "boolean", "description": "True for DEMO data (示例): not a real station."},
            "open_now": {
                "type": ["boolean", "null"],
                "description": "Open at the query instant (Asia/Shanghai); null when hours are unknown.",
            },
        },
    },
    "Facility": {
        "type": "object",
        "description": "One facility as an RFC 7946 GeoJSON Feature.",
        "required": ["type", "id", "geometry", "properties"],
        "properties": {
            "type": {"const": "Feature"},
            "id": {"type": "string"},
            "geometry": _ref("Point"),
            "properties": _ref("FacilityProperties"),
            "links": {"type": "array", "items": _ref("Link")},
        },
    },
    "NearestFacility": {
        "allOf": [
            _ref("Facility"),
            {
                "type": "object",
                "properties": {
                    "properties": {
                        "type": "object",
                        "required": ["distance_m", "bearing_deg", "rank", "open_now"],
                        "properties": {
                            "distance_m": {
                                "type": "number",
                                "minimum": 0,
                                "description": "Geodesic distance on WGS-84, metres.",
                            },
                            "bearing_deg": {"type": "number", "minimum": 0, "exclusiveMaximum": 360},
                            "rank": {"type": "integer", "minimum": 1},
                        },
                    }
                },
            },
        ]
    },
    "NearestCollection": {
        "type": "object",
        "required": ["type", "coordinate_datum", "query", "numberReturned", "features"],
        "properties": {
            "type": {"const": "FeatureCollection"},
            "coordinate_datum": {"enum": ["wgs84", "gcj02", "bd09"]},
            "query": {"type": "object", "description": "The query as understood."},
            "numberReturned": {"type": "integer", "minimum": 0},
            "features": {"type": "array", "items": _ref("NearestFacility")},
        },
    },
    "ChangeFeed": {
        "type": "object",
        "required": [
            "type",
            "revision",
            "numberMatched",
            "numberReturned",
            "next_cursor",
            "links",
            "features",
        ],
        "properties": {
            "type": {"const": "FeatureCollection"},
            "modified_since": {"type": ["string", "null"], "format": "date-time"},
            "revision": {"type": "integer", "minimum": 0},
            "numberMatched": {"type": "integer", "minimum": 0},
            "numberReturned": {"type": "integer", "minimum": 0},
            "next_cursor": _NULLABLE_STR,
            "links": {"type": "array", "items": _ref("Link")},
            "features": {"type": "array", "items": _ref("Facility")},
        },
    },
    "Export": {
        "type": "object",
        "required": ["type", "licence", "attribution", "demo_count", "disclaimer", "revision", "features"],
        "properties": {
            "type": {"const": "FeatureCollection"},
            "name": {"type": "string"},
            "licence": {
                "type": "object",
                "required": ["id", "name", "url"],
                "properties": {
                    "id": {"type": "string"},
                    "name": {"type": "string"},
                    "url": {"type": "string", "format": "uri"},
                },
            },
            "attribution": {"type": "string"},
            "demo_count": {"type": "integer", "minimum": 0},
            "disclaimer": _NULLABLE_STR,
            "revision": {"type": "integer", "minimum": 0},
            "numberReturned": {"type": "integer", "minimum": 0},
            "features": {"type": "array", "items": _ref("Facility")},
        },
    },
    "LandingPage": {
        "type": "object",
        "required": ["links"],
        "properties": {
            "title": {"type": "string"},
            "description": {"type": "string"},
            "links": {"type": "array", "items": _ref("Link")},
        },
    },
    "ConfClasses": {
        "type": "object",
        "required": ["conformsTo"],
        "properties": {"conformsTo": {"type": "array", "items": {"type": "string"}}},
    },
    "Collection": {
        "type": "object",
        "required": ["id", "links"],
        "properties": {
            "id": {"type": "string"},
            "title": {"type": "string"},
            "description": {"type": "string"},
            "itemType": {"const": "feature"},
            "crs": {"type": "array", "items": {"type": "string"}},
            "storageCrs": {"type": "string"},
            "links": {"type": "array", "items": _ref("Link")},
            "extent": {
                "type": "object",
                "properties": {
                    "spatial": {
                        "type": "object",
                        "properties": {
                            "bbox": {
                                "type": "array",
                                "items": {
                                    "type": "array",
                                    "minItems": 4,
                                    "maxItems": 4,
                                    "items": {"type": "number"},
                                },
                            },
                            "crs": {"type": "string"},
                        },
                    }
                },
            },
        },
    },
    "Collections": {
        "type": "object",
        "required": ["links", "collections"],
        "properties": {
            "links": {"type": "array", "items": _ref("Link")},
            "collections": {"type": "array", "items": _ref("Collection")},
        },
    },
    "FeatureCollection": {
        "type": "object",
        "required": ["type", "features", "links", "numberMatched", "numberReturned"],
        "properties": {
            "type": {"const": "FeatureCollection"},
            "features": {"type": "array", "items": _ref("Facility")},
            "links": {"type": "array", "items": _ref("Link")},
            "numberMatched": {"type": "integer", "minimum": 0},
            "numberReturned": {"type": "integer", "minimum": 0},
        },
    },
    "Place": {
        "type": "object",
        "description": "A place to search from, as a GeoJSON Feature (`id` is `<kind>:<id>`).",
        "required": ["type", "id", "geometry", "properties"],
        "properties": {
            "type": {"const": "Feature"},
            "id": {"type": "string"},
            "geometry": _ref("Point"),
            "properties": {
                "type": "object",
                "required": ["kind", "id", "name", "name_en", "context", "score"],
                "properties": {
                    "kind": {"enum": list(PLACE_KINDS)},
                    "id": {
                        "type": "string",
                        "description": "Adcode, subdistrict code, `osm-node-…` or facility id.",
                    },
                    "name": {"type": "string"},
                    "name_en": {"type": "string", "description": "English/pinyin name, or empty."},
                    "context": {
                        "type": "string",
                        "description": "Where it is: the district name, or the facility's address.",
                    },
                    "score": {"type": "number", "exclusiveMinimum": 0, "description": "Higher is better."},
                },
            },
        },
    },
    "PlaceCollection": {
        "type": "object",
        "required": ["type", "coordinate_datum", "query", "numberReturned", "features"],
        "properties": {
            "type": {"const": "FeatureCollection"},
            "coordinate_datum": {"enum": ["wgs84", "gcj02", "bd09"]},
            "query": {
                "type": "object",
                "required": ["q"],
                "properties": {"q": {"type": "string", "description": "The query, trimmed."}},
            },
            "numberReturned": {"type": "integer", "minimum": 0},
            "features": {"type": "array", "items": _ref("Place")},
        },
    },
    "FeedbackRequest": {
        "type": "object",
        "description": "A rider's answer: `confirm` (still correct) or `problem` with a reason.",
        "required": ["verdict"],
        "properties": {
            "verdict": {"enum": list(FEEDBACK_VERDICTS)},
            "reason": {
                "anyOf": [{"enum": list(FEEDBACK_REASONS)}, {"const": ""}],
                "description": "Required for `problem`; empty or absent for `confirm`.",
            },
            "comment": {
                "type": "string",
                "maxLength": TEXT_MAX,
                "description": "Optional free text (trimmed; control characters other than "
                "newline and tab are dropped).",
            },
        },
        "allOf": [
            {
                "if": {"properties": {"verdict": {"const": "problem"}}, "required": ["verdict"]},
                "then": {"required": ["reason"], "properties": {"reason": {"enum": list(FEEDBACK_REASONS)}}},
            },
            {
                "if": {"properties": {"verdict": {"const": "confirm"}}, "required": ["verdict"]},
                "then": {"properties": {"reason": {"const": ""}}},
            },
        ],
    },
    "FeedbackReceipt": {
        "type": "object",
        "required": ["id", "facility_id", "verdict", "reason", "at", "verified", "verified_at"],
        "properties": {
            "id": {"type": "integer", "minimum": 1},
            "facility_id": {"type": "string"},
            "verdict": {"enum": list(FEEDBACK_VERDICTS)},
            "reason": {"anyOf": [{"enum": list(FEEDBACK_REASONS)}, {"const": ""}]},
            "at": {"type": "string", "format": "date-time"},
            "verified": {
                "type": "boolean",
                "description": "This answer completed a verification (two different clients said "
                "`confirm` within 30 days, with no problem reported).",
            },
            "verified_at": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "The facility's verification time after this answer.",
            },
        },
    },
}


def _list_param(name: str, values: list[str], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description + " Comma-separated; one of: " + ", ".join(values) + ".",
        "schema": {"type": "string"},
        "style": "form",
        "explode": False,
    }


PARAMETERS: dict[str, Any] = {
    "lon": {
        "name": "lon",
        "in": "query",
        "required": True,
        "description": "Longitude of the query point, degrees, in the `datum` given (default WGS-84). "
        "Send at most 4 decimals (≈10 m) to share cached answers.",
        "schema": {"type": "number", "minimum": -180, "maximum": 180},
    },
    "lat": {
        "name": "lat",
        "in": "query",
        "required": True,
        "description": "Latitude of the query point, degrees, in `datum`.",
        "schema": {"type": "number", "minimum": -90, "maximum": 90},
    },
    "kind": _list_param("kind", list(KINDS), "Facility kinds."),
    "amenity": _list_param("amenity", list(AMENITIES), "Required amenities (all of them)."),
    "open_now": {
        "name": "open_now",
        "in": "query",
        "schema": {"type": "boolean", "default": False},
        "description": "Only facilities open at `at` (Asia/Shanghai).",
    },
    "at": {
        "name": "at",
        "in": "query",
        "schema": {"type": "string", "format": "date-time"},
        "description": "ISO 8601 instant for `open_now` (default: now; naive means Asia/Shanghai).",
    },
    "radius_m": {
        "name": "radius_m",
        "in": "query",
        "schema": {"type": "number", "minimum": 1, "maximum": 100000},
        "description": "Only facilities within this geodesic distance, metres.",
    },
    "nearest_limit": {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10},
    },
    "datum": {
        "name": "datum",
        "in": "query",
        "schema": {"enum": ["wgs84", "gcj02", "bd09"], "default": "wgs84"},
        "description": "Datum of the input point and of the output coordinates.",
    },
    "facility_id": {"name": "facility_id", "in": "path", "required": True, "schema": {"type": "string"}},
    "modified_since": {
        "name": "modified_since",
        "in": "query",
        "schema": {"type": "string", "format": "date-time"},
        "description": "Only facilities changed after this ISO 8601 instant (naive: Asia/Shanghai).",
    },
    "feed_limit": {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
    },
    "cursor": {
        "name": "cursor",
        "in": "query",
        "schema": {"type": "string"},
        "description": "Opaque; copy it from the previous page's `next` link.",
    },
    "f": {
        "name": "f",
        "in": "query",
        "schema": {"enum": ["json", "html"]},
        "description": "Encoding; without it the Accept header decides (JSON by default).",
    },
    "collectionId": {
        "name": "collection_id",
        "in": "path",
        "required": True,
        "schema": {"enum": ["facilities", *KINDS]},
    },
    "featureId": {"name": "feature_id", "in": "path", "required": True, "schema": {"type": "string"}},
    "bbox": {
        "name": "bbox",
        "in": "query",
        "style": "form",
        "explode": False,
        "description": "minLon,minLat,maxLon,maxLat in WGS-84 (CRS84) degrees.",
        "schema": {"type": "array", "minItems": 4, "maxItems": 4, "items": {"type": "number"}},
    },
    "ogc_limit": {
        "name": "limit",
        "in": "query",
        "description": "Page size; values above 1000 are served as 1000.",
        "schema": {"type": "integer", "minimum": 1, "default": 10},
    },
    "offset": {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}},
    "datetime": {
        "name": "datetime",
        "in": "query",
        "schema": {"type": "string"},
        "description": "`start/..`: features changed (updated_at) at or after start. `..`: all.",
    },
    "status": _list_param("status", list(STATUSES), "Statuses (default open,temporarily_closed)."),
    "district": {
        "name": "district",
        "in": "query",
        "schema": {"type": "string"},
        "description": "District adcodes (110108) or names (海淀区), comma-separated.",
    },
    "partner": {
        "name": "partner",
        "in": "query",
        "schema": {"type": "string"},
        "description": "The partner whose registered origins may frame the page.",
    },
    "embed_lon": {
        "name": "lon",
        "in": "query",
        "schema": {"type": "number", "minimum": -180, "maximum": 180},
        "description": "Longitude to search from (WGS-84); default: the city centre.",
    },
    "embed_lat": {
        "name": "lat",
        "in": "query",
        "schema": {"type": "number", "minimum": -90, "maximum": 90},
        "description": "Latitude to search from (WGS-84); default: the city centre.",
    },
    "zoom": {"name": "zoom", "in": "query", "schema": {"type": "integer", "minimum": 3, "maximum": 18}},
    "lang": {"name": "lang", "in": "query", "schema": {"enum": ["zh", "en"]}},
    "place_q": {
        "name": "q",
        "in": "query",
        "required": True,
        "description": "What the rider typed: a district, subdistrict, subway station or entrance, "
        "or a facility's name or address. Tolerant of width, case, spaces, punctuation and generic "
        "suffixes (区, 街道, 站, …).",
        "schema": {"type": "string", "minLength": 1, "maxLength": QUERY_MAX},
    },
    "place_kind": _list_param("kind", list(PLACE_KINDS), "Place kinds (default: all)."),
    "place_limit": {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10},
    },
    "place_datum": {
        "name": "datum",
        "in": "query",
        "schema": {"enum": ["wgs84", "gcj02", "bd09"], "default": "wgs84"},
        "description": "Datum of the output coordinates.",
    },
}

HEADERS: dict[str, Any] = {
    "ETag": {"description": "Validator for If-None-Match (weak for nearest).", "schema": {"type": "string"}},
    "FacilityETag": {
        "description": 'The facility\'s version: `W/"<id>-v<version>"` (weak: the `datum` and `open_now` '
        "of a representation do not change it). Send it in If-None-Match to revalidate, and in "
        "If-Match to the management API to change the facility.",
        "schema": {"type": "string", "pattern": '^W/"[^"]+-v[0-9]+"$'},
    },
    "CacheControl": {
        "description": "public, max-age=60 (3600 for static documents).",
        "schema": {"type": "string"},
    },
    "RetryAfter": {"description": "Seconds to wait.", "schema": {"type": "integer", "minimum": 0}},
    "RateLimitLimit": {"schema": {"type": "integer"}},
    "RateLimitRemaining": {"schema": {"type": "integer"}},
    "RateLimitReset": {"description": "Unix time the window resets.", "schema": {"type": "integer"}},
}


def _problem(description: str, **headers: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description, "content": {PROBLEM: {"schema": _ref("Problem")}}}
    if headers:
        out["headers"] = headers
    return out


RESPONSES: dict[str, Any] = {
    "NotModified": {
        "description": "Not modified: the If-None-Match validator still matches.",
        "headers": _CACHE_HEADERS,
    },
    "BadRequest": _problem("A parameter is invalid; `param` names it."),
    "Unauthorized": _problem("The X-API-Key is malformed, unknown or revoked."),
    "Forbidden": _problem("The API key is used from a browser origin its partner did not register."),
    "NotFound": _problem("No such resource."),
    "TooManyRequests": _problem(
        "Rate limit or daily quota exceeded.",
        **{
            "Retry-After": {"$ref": "#/components/headers/RetryAfter"},
            "X-RateLimit-Limit": {"$ref": "#/components/headers/RateLimitLimit"},
            "X-RateLimit-Remaining": {"$ref": "#/components/headers/RateLimitRemaining"},
            "X-RateLimit-Reset": {"$ref": "#/components/headers/RateLimitReset"},
        },
    ),
    "Unavailable": _problem("The database cannot be reached."),
    "FeedbackForbidden": _problem(
        "A cross-site POST (`Sec-Fetch-Site`, `Origin` or `Referer` names another site; `param` "
        "says which), or an API key used from an origin its partner did not register."
    ),
    "FeedbackTooMany": _problem(
        "Too much feedback from this client (`LOCATOR_FEEDBACK_RATE_LIMIT`, default 10 per minute "
        "and 100 per day, one budget for the API and the HTML forms).",
        **{
            "Retry-After": {"$ref": "#/components/headers/RetryAfter"},
            "X-RateLimit-Limit": {"$ref": "#/components/headers/RateLimitLimit"},
            "X-RateLimit-Remaining": {"$ref": "#/components/headers/RateLimitRemaining"},
            "X-RateLimit-Reset": {"$ref": "#/components/headers/RateLimitReset"},
        },
    ),
}

_NEAREST_PARAMS = ["lon", "lat", "kind", "amenity", "open_now", "at", "radius_m", "nearest_limit", "datum"]


def _get(
    summary: str,
    tag: str,
    params: list[str],
    responses: dict[str, Any],
    description: str = "",
    security: bool = True,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "tags": [tag],
        "parameters": [_param(p) for p in params],
        "responses": responses,
    }
    if description:
        op["description"] = description
    if not security:
        op["security"] = []
    return {"get": op}


def _body(schema: dict[str, Any], *media: str) -> dict[str, Any]:
    """A required request body with ``schema`` in each media type (default JSON)."""
    return {"required": True, "content": {m: {"schema": schema} for m in media or (JSON,)}}


_FACILITY_HEADERS = {
    "ETag": {"$ref": "#/components/headers/FacilityETag"},
    "Cache-Control": {"$ref": "#/components/headers/CacheControl"},
}


def _paths() -> dict[str, Any]:
    ogc_errors = dict(_ERRORS)
    return {
        "/api/v1/nearest": _get(
            "Nearest facilities by geodesic distance",
            "facilities",
            _NEAREST_PARAMS,
            {"200": _ok("Facilities in ascending distance.", GEOJSON, _ref("NearestCollection")), **_ERRORS},
            "Exact k nearest on the WGS-84 ellipsoid. The answer is cacheable for 60 s per query URL.",
        ),
        "/api/v1/facilities/{facility_id}": _get(
            "One facility",
            "facilities",
            ["facility_id", "datum"],
            {
                "200": {
                    "description": "The facility, with its version as a weak ETag.",
                    "headers": _FACILITY_HEADERS,
                    "content": {GEOJSON: {"schema": _ref("Facility")}},
                },
                **_ERRORS,
                "404": _resp("NotFound"),
            },
            'The ETag is `W/"<id>-v<version>"`: the `If-Match` of the management API\'s writes.',
        ),
        "/api/v1/facilities/{facility_id}/feedback": {
            "post": {
                "summary": "Rider feedback: still correct, or a problem",
                "tags": ["riders"],
                "description": "Anonymous: no account and no CSRF token. Browsers may only post "
                "from this site (`Sec-Fetch-Site`/`Origin`/`Referer` are checked); clients that "
                "send none of these headers (apps, scripts) are accepted. Rate-limited per client. "
                "Two `confirm` answers from different clients within 30 days, with no problem "
                "reported, verify the facility; a `problem` goes to the managers' report queue.",
                "parameters": [_param("facility_id")],
                "requestBody": _body(_ref("FeedbackRequest"), JSON, FORM, MULTIPART),
                "responses": {
                    "201": {
                        "description": "Stored.",
                        "content": {JSON: {"schema": _ref("FeedbackReceipt")}},
                    },
                    "400": _resp("BadRequest"),
                    "401": _resp("Unauthorized"),
                    "403": _resp("FeedbackForbidden"),
                    "404": _resp("NotFound"),
                    "429": _resp("FeedbackTooMany"),
                    "503": _resp("Unavailable"),
                },
            }
        },
        "/api/v1/places": _get(
            "Place search (where am I?)",
            "riders",
            ["place_q", "place_kind", "place_limit", "place_datum"],
            {"200": _ok("Matches, best first.", GEOJSON, _ref("PlaceCollection")), **_ERRORS},
            "Offline search over districts, subdistricts, subway stations and entrances "
            "(© OpenStreetMap contributors, ODbL) and facility names and addresses. Each hit is a "
            "point to search `/api/v1/nearest` from.",
        ),
        "/api/v1/facilities": _get(
            "Change feed for mirrors",
            "sync",
            ["modified_since", "feed_limit", "cursor"],
            {
                "200": _ok(
                    "Changed facilities, oldest change first (removed ones included).",
                    GEOJSON,
                    _ref("ChangeFeed"),
                ),
                **_ERRORS,
            },
            "Keyset-paged by (updated_at, id): follow the `next` link until there is none.",
        ),
        "/api/v1/export.geojson": _get(
            "Full export with licence and attribution",
            "sync",
            [],
            {"200": _ok("Every facility, all statuses.", GEOJSON, _ref("Export")), **_ERRORS},
        ),
        "/ogc": _get(
            "OGC API landing page",
            "ogc",
            ["f"],
            {"200": _ogc_ok("Landing page.", JSON, _ref("LandingPage")), **ogc_errors},
        ),
        "/ogc/": _get(
            "OGC API landing page",
            "ogc",
            ["f"],
            {"200": _ogc_ok("Landing page.", JSON, _ref("LandingPage")), **ogc_errors},
        ),
        "/ogc/conformance": _get(
            "Conformance classes",
            "ogc",
            ["f"],
            {"200": _ogc_ok("Conformance.", JSON, _ref("ConfClasses")), **ogc_errors},
        ),
        "/ogc/collections": _get(
            "Feature collections",
            "ogc",
            ["f"],
            {"200": _ogc_ok("Collections.", JSON, _ref("Collections")), **ogc_errors},
        ),
        "/ogc/collections/{collection_id}": _get(
            "One collection",
            "ogc",
            ["collectionId", "f"],
            {"200": _ogc_ok("Collection.", JSON, _ref("Collection")), **ogc_errors, "404": _resp("NotFound")},
        ),
        "/ogc/collections/{collection_id}/items": _get(
            "Features of a collection",
            "ogc",
            [
                "collectionId",
                "bbox",
                "ogc_limit",
                "offset",
                "datetime",
                "status",
                "amenity",
                "district",
                "kind",
                "f",
            ],
            {
                "200": _ogc_ok("Features, id order.", GEOJSON, _ref("FeatureCollection")),
                **ogc_errors,
                "404": _resp("NotFound"),
            },
            "`kind` is accepted on the `facilities` collection only; other parameters are a 400.",
        ),
        "/ogc/collections/{collection_id}/items/{feature_id}": _get(
            "One feature",
            "ogc",
            ["collectionId", "featureId", "f"],
            {
                "200": _ogc_ok("The feature.", GEOJSON, _ref("Facility")),
                **ogc_errors,
                "404": _resp("NotFound"),
            },
        ),
        "/embed/map": _get(
            "Embeddable map (for an iframe)",
            "embed",
            ["partner", "kind", "amenity", "embed_lon", "embed_lat", "zoom", "lang"],
            {
                "200": {
                    "description": "HTML page: map and compact list; framable only by the partner's "
                    "registered origins.",
                    "content": {HTML: {"schema": {"type": "string"}}},
                },
                "400": {"description": "Bad parameter (HTML page)."},
                "404": {"description": "Unknown or revoked partner (HTML page)."},
            },
            "`lon`/`lat` are optional here (default: the city centre).",
            security=False,
        ),
        "/embed": _get(
            "Embed documentation and snippet generator",
            "embed",
            ["partner", "kind", "amenity", "lang"],
            {"200": {"description": "HTML page.", "content": {HTML: {"schema": {"type": "string"}}}}},
            security=False,
        ),
        "/api/openapi.json": _get(
            "This document",
            "meta",
            [],
            {"200": {"description": "OpenAPI 3.1.", "content": {JSON: {"schema": {"type": "object"}}}}},
            security=False,
        ),
        "/api/docs": _get(
            "Interactive API documentation",
            "meta",
            [],
            {"200": {"description": "HTML page.", "content": {HTML: {"schema": {"type": "string"}}}}},
            security=False,
        ),
    }


# ---------------------------------------------------------------------------------
# MANAGEMENT ENDPOINTS (locator/http/blueprints/manage_api.py), tagged "management".
# Each path item is merged into the document per method: /api/v1/facilities and
# /api/v1/facilities/{facility_id} carry public GETs and management writes side by side.
# Their schemas, parameters, responses and headers live here too. Keep public endpoints
# out of this section.

_BEARER: list[dict[str, list[str]]] = [{"BearerAuth": []}]

_WRITABLE: dict[str, Any] = {
    "kind": {"enum": list(KINDS)},
    "name": {"type": "string", "minLength": 1},
    "address": {"type": "string"},
    "lon": {"type": "number", "description": "Longitude in the body's `datum`."},
    "lat": {"type": "number", "description": "Latitude in the body's `datum`."},
    "amenities": {
        "description": "Amenity keys: a list, or one comma-separated string.",
        "anyOf": [
            {"type": "array", "items": {"enum": list(AMENITIES)}, "uniqueItems": True},
            {"type": "string"},
        ],
    },
    "opening_hours": {"type": "string", "description": "OpenStreetMap opening_hours syntax (validated)."},
    "host_type": {"anyOf": [{"enum": list(HOST_TYPES)}, {"const": ""}]},
    "phone": {"type": "string"},
    "status": {"enum": list(STATUSES)},
    "status_until": {"type": ["string", "null"], "format": "date"},
    "status_reason": {"type": "string"},
}
_DATUM_FIELD = {
    "enum": ["wgs84", "gcj02", "bd09"],
    "description": "Datum of `lon`/`lat`: AMap and Tencent pickers give gcj02, Baidu bd09, GPS/OSM "
    "wgs84. There is no default. Stored as WGS-84.",
}
_REASON_FIELD = {"type": "string", "description": "Why: kept in the facility's history."}
_NULLABLE_DATE = {"type": ["string", "null"], "format": "date"}

MANAGEMENT_SCHEMAS: dict[str, Any] = {
    "Account": {
        "type": "object",
        "description": "The authenticated account and its scope.",
        "required": ["name", "role", "districts", "facilities"],
        "properties": {
            "name": {"type": "string"},
            "role": {"enum": list(ROLES)},
            "districts": {
                "type": "array",
                "description": "District adcodes a district manager manages.",
                "items": {"type": "string", "pattern": "^[0-9]{6}$"},
            },
            "facilities": {
                "type": "array",
                "description": "Facility ids assigned to a station manager.",
                "items": {"type": "string"},
            },
        },
    },
    "ManagedFacilities": {
        "type": "object",
        "required": ["type", "numberMatched", "numberReturned", "features"],
        "properties": {
            "type": {"const": "FeatureCollection"},
            "numberMatched": {"type": "integer", "minimum": 0},
            "numberReturned": {"type": "integer", "minimum": 0},
            "features": {"type": "array", "items": _ref("Facility")},
        },
    },
    "DuplicateWarning": {
        "type": "object",
        "description": "A likely duplicate: a facility of the same kind within 30 m, or a similar "
        "name within 200 m (WGS-84 geodesic metres).",
        "required": ["facility_id", "name", "kind", "distance_m", "reasons"],
        "properties": {
            "facility_id": {"type": "string"},
            "name": {"type": "string"},
            "kind": {"enum": list(KINDS)},
            "distance_m": {"type": "number", "minimum": 0},
            "reasons": {
                "type": "array",
                "minItems": 1,
                "items": {"enum": ["same_kind", "similar_name"]},
            },
        },
    },
    "FacilityWithWarnings": {
        "allOf": [
            _ref("Facility"),
            {
                "type": "object",
                "required": ["warnings"],
                "properties": {"warnings": {"type": "array", "items": _ref("DuplicateWarning")}},
            },
        ]
    },
    "FacilityCreate": {
        "type": "object",
        "description": "A new facility. District and subdistrict are assigned by point-in-polygon; "
        "a district manager may only create inside their districts.",
        "required": ["kind", "name", "lon", "lat", "datum"],
        "properties": {
            "id": {
                "type": "string",
                "description": "Optional; generated (`f-` + 16 hex digits) when absent.",
            },
            **_WRITABLE,
            "source": {"type": "string", "description": "Default `manage:<account name>`."},
            "datum": _DATUM_FIELD,
            "reason": _REASON_FIELD,
        },
    },
    "FacilityPatch": {
        "type": "object",
        "description": "Only the fields to change. `lon` and `lat` come together, with `datum`. "
        "Any other field is a 400 naming it; a body with nothing to change is a 400.",
        "minProperties": 1,
        "additionalProperties": False,
        "properties": {**_WRITABLE, "datum": _DATUM_FIELD, "reason": _REASON_FIELD},
        "dependentRequired": {"lon": ["lat", "datum"], "lat": ["lon", "datum"]},
    },
    "StatusChange": {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {"enum": list(STATUSES)},
            "until": {
                **_NULLABLE_DATE,
                "description": "Only for `temporarily_closed`: the expected reopening day "
                "(Asia/Shanghai), today or later.",
            },
            "reason": {"type": "string", "description": "Required for `removed`."},
        },
    },
    "VerifyRequest": {
        "type": "object",
        "properties": {"reason": _REASON_FIELD},
    },
    "RestoreRequest": {
        "type": "object",
        "required": ["seq"],
        "properties": {
            "seq": {"type": "integer", "description": "The `seq` of a history entry (not a delete)."},
            "reason": _REASON_FIELD,
        },
    },
    "HistoryEntry": {
        "type": "object",
        "required": [
            "seq",
            "facility_id",
            "revision",
            "version",
            "action",
            "actor",
            "reason",
            "at",
            "changes",
        ],
        "properties": {
            "seq": {"type": "integer", "minimum": 1, "description": "Store-wide, ascending in commit order."},
            "facility_id": {"type": "string"},
            "revision": {"type": "integer", "minimum": 0, "description": "The store revision of the change."},
            "version": {"type": "integer", "minimum": 0, "description": "After the change (0 for a delete)."},
            "action": {"enum": ["create", "update", "delete", "import"]},
            "actor": {"type": "string", "description": "Account name, `import` or `rider-feedback`."},
            "reason": {"type": "string"},
            "at": {"type": "string", "format": "date-time"},
            "changes": {
                "type": "object",
                "description": "`{field: [old, new]}` (null for absent).",
                "additionalProperties": {"type": "array", "minItems": 2, "maxItems": 2},
            },
        },
    },
    "History": {
        "type": "object",
        "required": ["facility_id", "entries"],
        "properties": {
            "facility_id": {"type": "string"},
            "entries": {"type": "array", "description": "Oldest first.", "items": _ref("HistoryEntry")},
        },
    },
    "RiderReport": {
        "type": "object",
        "description": "A rider's problem feedback, as the managers' queue sees it.",
        "required": [
            "id",
            "facility_id",
            "facility",
            "reason",
            "text",
            "created_at",
            "status",
            "resolved_at",
            "resolved_by",
            "action",
            "note",
        ],
        "properties": {
            "id": {"type": "integer", "minimum": 1},
            "facility_id": {"type": "string"},
            "facility": {
                "description": "The facility now; null when it was deleted.",
                "oneOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "required": ["name", "status", "version"],
                        "properties": {
                            "name": {"type": "string"},
                            "status": {"enum": list(STATUSES)},
                            "version": {"type": "integer", "minimum": 1},
                        },
                    },
                ],
            },
            "reason": {"enum": list(FEEDBACK_REASONS)},
            "text": {"type": "string", "description": "The rider's words (untrusted text)."},
            "created_at": {"type": "string", "format": "date-time"},
            "status": {"enum": list(REPORT_STATUSES)},
            "resolved_at": {"type": ["string", "null"], "format": "date-time"},
            "resolved_by": _NULLABLE_STR,
            "action": {"anyOf": [{"enum": list(REPORT_ACTIONS)}, {"type": "null"}]},
            "note": {"type": "string"},
        },
    },
    "RiderReports": {
        "type": "object",
        "required": ["reports"],
        "properties": {"reports": {"type": "array", "items": _ref("RiderReport")}},
    },
    "ReportResolution": {
        "type": "object",
        "required": ["resolution"],
        "properties": {
            "resolution": {"enum": ["resolved", "dismissed"]},
            "action": {
                "enum": list(REPORT_ACTIONS),
                "default": "none",
                "description": "What was done to the facility (applied, and recorded in its history, "
                "before the report is closed). A dismissal takes `none`; `removed` needs a `note`.",
            },
            "until": {**_NULLABLE_DATE, "description": "With `temporarily_closed`: the reopening day."},
            "note": {"type": ["string", "null"]},
        },
    },
    "VersionConflict": {
        "allOf": [
            _ref("Problem"),
            {
                "type": "object",
                "required": ["current_version"],
                "properties": {"current_version": {"type": "integer", "minimum": 1}},
            },
        ]
    },
}


def _flag(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "schema": {"type": "boolean", "default": False},
        "description": description,
    }


MANAGEMENT_PARAMETERS: dict[str, Any] = {
    "if_match": {
        "name": "If-Match",
        "in": "header",
        "required": True,
        "description": "The facility's ETag from GET /api/v1/facilities/{facility_id} "
        '(`W/"<id>-v<version>"`, with or without `W/`; a list may hold it). Stale: 412. '
        "Missing or `*`: 428.",
        "schema": {"type": "string"},
    },
    "if_match_optional": {
        "name": "If-Match",
        "in": "header",
        "required": False,
        "description": "Optional here: with it, a stale ETag is a 412 (`*` is a 428).",
        "schema": {"type": "string"},
    },
    "manage_q": {
        "name": "q",
        "in": "query",
        "schema": {"type": "string"},
        "description": "Text in the id, name or address (case-insensitive).",
    },
    "manage_kind": _list_param("kind", list(KINDS), "Facility kinds."),
    "manage_status": _list_param("status", list(STATUSES), "Statuses (default: all)."),
    "manage_district": {
        "name": "district",
        "in": "query",
        "schema": {"type": "string"},
        "description": "District adcodes (110108), comma-separated.",
    },
    "stale": _flag("stale", "Only facilities not verified for `LOCATOR_STALE_DAYS` (default 90) days."),
    "with_reports": _flag("reports", "Only facilities with open rider reports."),
    "handled": _flag("handled", "Resolved and dismissed reports (newest first) instead of the open queue."),
    "delete_reason": {
        "name": "reason",
        "in": "query",
        "schema": {"type": "string"},
        "description": "Why: kept in the history.",
    },
    "report_id": {"name": "report_id", "in": "path", "required": True, "schema": {"type": "integer"}},
}

MANAGEMENT_HEADERS: dict[str, Any] = {
    "Location": {"description": "The new facility's URL.", "schema": {"type": "string"}},
    "WWWAuthenticate": {"description": 'Bearer realm="locator"', "schema": {"type": "string"}},
}

MANAGEMENT_RESPONSES: dict[str, Any] = {
    "ManageBadRequest": _problem(
        "A field, parameter or body is invalid (`param` names it), or a write authenticated by the "
        "session cookie came without a valid `X-CSRFToken`."
    ),
    "ManageUnauthorized": _problem(
        "No credentials, a bad or revoked bearer token, or an `Authorization` header that is not `Bearer`.",
        **{"WWW-Authenticate": {"$ref": "#/components/headers/WWWAuthenticate"}},
    ),
    "ManageForbidden": _problem(
        "Outside the caller's scope (their districts, by location before and after the change, or "
        "their assigned facilities), or not for this role (station managers do not create; only "
        "admins delete). Nothing is written."
    ),
    "ManageNotFound": _problem("No such facility, history entry or report (in the caller's scope)."),
    "Conflict": _problem(
        "Conflicts with the stored state: the id exists, or the report was already handled."
    ),
    "PreconditionFailed": {
        "description": "Stale `If-Match`: someone saved the facility since. `current_version` and the "
        "ETag header give the version now stored; read it again and re-apply the change.",
        "headers": {"ETag": {"$ref": "#/components/headers/FacilityETag"}},
        "content": {PROBLEM: {"schema": _ref("VersionConflict")}},
    },
    "PreconditionRequired": _problem("`If-Match` is missing, or is `*`: send the facility's ETag."),
}


def _facility_ok(description: str, schema: str = "Facility", created: bool = False) -> dict[str, Any]:
    headers: dict[str, Any] = {"ETag": {"$ref": "#/components/headers/FacilityETag"}}
    if created:
        headers["Location"] = {"$ref": "#/components/headers/Location"}
    return {"description": description, "headers": headers, "content": {GEOJSON: {"schema": _ref(schema)}}}


def _json_ok(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": _ref(schema)}}}


def _manage(
    summary: str,
    responses: dict[str, Any],
    *,
    params: tuple[str, ...] = (),
    body: str | None = None,
    body_required: bool = True,
    description: str = "",
    write: bool = True,
) -> dict[str, Any]:
    """One management operation: bearer security, the common errors added."""
    errors: dict[str, Any] = {"401": _resp("ManageUnauthorized"), "503": _resp("Unavailable")}
    if write:
        errors["400"] = _resp("ManageBadRequest")
    op: dict[str, Any] = {
        "summary": summary,
        "tags": ["management"],
        "security": copy.deepcopy(_BEARER),
        "parameters": [_param(p) for p in params],
        "responses": dict(sorted({**errors, **responses}.items())),
    }
    if description:
        op["description"] = description
    if body is not None:
        op["requestBody"] = _body(_ref(body))
        op["requestBody"]["required"] = body_required
    return op


_FORBIDDEN = {"403": _resp("ManageForbidden")}
_NOT_FOUND = {"404": _resp("ManageNotFound")}
_STALE = {"412": _resp("PreconditionFailed")}
_NO_MATCH = {"428": _resp("PreconditionRequired")}


def _management_paths() -> dict[str, Any]:
    fid = ("facility_id",)
    return {
        "/api/v1/me": {
            "get": _manage(
                "The account and its scope", {"200": _json_ok("The account.", "Account")}, write=False
            )
        },
        "/api/v1/manage/facilities": {
            "get": _manage(
                "The caller's facilities",
                {
                    "200": {
                        "description": "Facilities in the caller's scope, by name then id (WGS-84).",
                        "content": {GEOJSON: {"schema": _ref("ManagedFacilities")}},
                    },
                    "400": _resp("ManageBadRequest"),
                },
                params=(
                    "manage_q",
                    "manage_kind",
                    "manage_status",
                    "manage_district",
                    "stale",
                    "with_reports",
                ),
                write=False,
            )
        },
        "/api/v1/facilities": {
            "post": _manage(
                "Create a facility",
                {
                    "201": _facility_ok(
                        "Created (WGS-84), with likely duplicates in `warnings`.",
                        "FacilityWithWarnings",
                        created=True,
                    ),
                    **_FORBIDDEN,
                    "409": _resp("Conflict"),
                },
                body="FacilityCreate",
                description="Admins anywhere in the service area, district managers inside their "
                "districts; station managers may not create. The body declares the `datum` of "
                "`lon`/`lat`.",
            )
        },
        "/api/v1/facilities/{facility_id}": {
            "patch": _manage(
                "Change some fields of a facility",
                {
                    "200": _facility_ok(
                        "The facility after the change, with `warnings`.", "FacilityWithWarnings"
                    ),
                    **_FORBIDDEN,
                    **_NOT_FOUND,
                    **_STALE,
                    **_NO_MATCH,
                },
                params=(*fid, "if_match"),
                body="FacilityPatch",
                description="Needs `If-Match`. A district manager may not move a facility out of "
                "their districts.",
            ),
            "delete": _manage(
                "Delete a facility for good (admins)",
                {
                    "204": {"description": "Deleted (the history keeps a `delete` entry)."},
                    **_FORBIDDEN,
                    **_NOT_FOUND,
                    **_STALE,
                    **_NO_MATCH,
                },
                params=(*fid, "if_match", "delete_reason"),
                description="Needs `If-Match`. Others set the status to `removed` instead.",
            ),
        },
        "/api/v1/facilities/{facility_id}/status": {
            "post": _manage(
                "Open, temporarily close or remove a facility",
                {"200": _facility_ok("The facility."), **_FORBIDDEN, **_NOT_FOUND, **_STALE},
                params=(*fid, "if_match_optional"),
                body="StatusChange",
            )
        },
        "/api/v1/facilities/{facility_id}/verify": {
            "post": _manage(
                "Mark a facility verified now",
                {
                    "200": _facility_ok("The facility, `verified_at` now."),
                    **_FORBIDDEN,
                    **_NOT_FOUND,
                    **_STALE,
                },
                params=(*fid, "if_match_optional"),
                body="VerifyRequest",
                body_required=False,
            )
        },
        "/api/v1/facilities/{facility_id}/restore": {
            "post": _manage(
                "Restore a facility to a history entry",
                {
                    "200": _facility_ok("The facility after the restore."),
                    **_FORBIDDEN,
                    **_NOT_FOUND,
                    **_STALE,
                    **_NO_MATCH,
                },
                params=(*fid, "if_match"),
                body="RestoreRequest",
                description="A new change back to the state right after entry `seq` (verification "
                "time excepted); scope-checked like any edit, nothing is erased. Needs `If-Match`.",
            )
        },
        "/api/v1/facilities/{facility_id}/history": {
            "get": _manage(
                "A facility's history",
                {"200": _json_ok("Every change, oldest first.", "History"), **_FORBIDDEN, **_NOT_FOUND},
                params=fid,
                write=False,
                description="Append-only. Admins also see the history of deleted facilities.",
            )
        },
        "/api/v1/manage/reports": {
            "get": _manage(
                "Rider reports about the caller's facilities",
                {"200": _json_ok("Open reports oldest first, or handled ones newest first.", "RiderReports")},
                params=("handled",),
                write=False,
            )
        },
        "/api/v1/manage/reports/{report_id}/resolve": {
            "post": _manage(
                "Resolve or dismiss a rider report",
                {
                    "200": _json_ok("The report, closed.", "RiderReport"),
                    **_FORBIDDEN,
                    **_NOT_FOUND,
                    "409": _resp("Conflict"),
                },
                params=("report_id",),
                body="ReportResolution",
            )
        },
    }


MANAGEMENT_PATHS: dict[str, Any] = _management_paths()

MANAGEMENT_DESCRIPTION = (
    "The management API of district unions, host chains and administrators: scoped facility "
    "editing with versions, status, verification, history and restore, and the rider-report "
    "queue (docs/managers.md). Authenticate with `Authorization: Bearer <token>` "
    "(`flask locator create-token`), or with the session cookie of a manager logged in at "
    "`/login`, in which case every write also sends the session's CSRF token in `X-CSRFToken`. "
    "Writes that change a facility take its ETag in `If-Match` (412 when stale, 428 when missing). "
    "Errors are problem+json."
)
# ---------------------------------------------------------------------------------


def _merge(target: dict[str, Any], extra: dict[str, Any], what: str) -> None:
    """Add ``extra``'s entries to ``target``; a name both define is a programming error."""
    clash = set(target) & set(extra)
    if clash:
        raise ValueError(f"{what} defined twice: {', '.join(sorted(clash))}")
    target.update(copy.deepcopy(extra))


def build_openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 document as a dict (a fresh copy each call).

    Public paths come from this module; management paths from :data:`MANAGEMENT_PATHS`.
    ``servers`` is ``/`` so that the document works on any host.
    """
    paths = _paths()
    for path, item in MANAGEMENT_PATHS.items():
        _merge(paths.setdefault(path, {}), item, f"operations of {path}")
    components: dict[str, Any] = {
        "schemas": copy.deepcopy(SCHEMAS),
        "parameters": copy.deepcopy(PARAMETERS),
        "responses": copy.deepcopy(RESPONSES),
        "headers": copy.deepcopy(HEADERS),
    }
    _merge(components["schemas"], MANAGEMENT_SCHEMAS, "schemas")
    _merge(components["parameters"], MANAGEMENT_PARAMETERS, "parameters")
    _merge(components["responses"], MANAGEMENT_RESPONSES, "responses")
    _merge(components["headers"], MANAGEMENT_HEADERS, "headers")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Warm-station locator API",
            "version": "1.0.0",
            "summary": "Nearest warm station, union home or nursing room for outdoor workers in Beijing.",
            "description": (
                "Public API, OGC API – Features and the partner embed. Coordinates are "
                "(longitude, latitude) in degrees on WGS-84 unless a `datum` parameter says otherwise; "
                "distances are geodesic metres.\n\n"
                "**Keys and limits.** Keyless callers get a small allowance per IP address (default 60 "
                "requests per minute). Partners send `X-API-Key` and get their daily quota plus a burst "
                "rate (keyed answers carry X-Quota-Limit/Remaining/Reset). Over the limit: 429 with "
                "Retry-After. See docs/partners.md.\n\n"
                "**DEMO data.** Facilities with `demo: true` are not real stations.\n\n"
                "**Management endpoints** (`management` tag) need `Authorization: Bearer <token>` or "
                "a manager's session with `X-CSRFToken` on writes; changes to a facility take its "
                "ETag in `If-Match`. See docs/managers.md."
            ),
            "license": {"name": "ODbL-1.0 (data)", "identifier": "ODbL-1.0"},
        },
        "servers": [{"url": "/"}],
        "tags": [
            {"name": "facilities", "description": "Nearest and single facilities."},
            {"name": "riders", "description": "Place search and rider feedback (what the rider pages use)."},
            {"name": "sync", "description": "Change feed and full export for partners that mirror the data."},
            {"name": "ogc", "description": "OGC API – Features, Part 1: Core (GeoJSON, HTML)."},
            {"name": "embed", "description": "The embeddable map for partner sites."},
            {"name": "meta", "description": "This document and its viewer."},
            {"name": "management", "description": MANAGEMENT_DESCRIPTION},
        ],
        "security": [{}, {"ApiKey": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "ApiKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-API-Key",
                    "description": "A partner key (wsl_…), issued by `flask locator partner add`.",
                },
                "BearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Management API token (wsl_…) acting as one account, issued by "
                    "`flask locator create-token <user>` (printed once; only its SHA-256 is stored). "
                    "A request with it is authenticated by the token alone (cookies are ignored) "
                    "and needs no CSRF token. Alternative for the manage pages' JavaScript: the "
                    "session cookie of a manager logged in at `/login`; then every POST, PATCH and "
                    'DELETE must also send the session\'s CSRF token (`<meta name="csrf-token">` '
                    "of any manage page) in `X-CSRFToken`, or it gets 400.",
                },
            },
            **components,
        },
    }
