"""The OpenAPI 3.1 document (``/api/openapi.json``), generated from the code.

Nothing here describes a parameter or a body by hand: :func:`build_openapi` walks the
app's URL map, takes the :class:`~locator.http.operations.Operation` each documented
view declares, and turns its request models (:mod:`locator.http.models`) and response
models (:mod:`locator.http.schemas`) into JSON Schema with pydantic. The limits, enums
and defaults in the document are therefore the ones the code validates with, and every
status code an operation may answer is in its ``responses``. What is written here is
prose: the API's description, the tags, the security schemes and the response headers.

``tests/test_openapi.py`` validates the document and checks real answers against it;
``tests/test_schemathesis.py`` runs schemathesis over every operation.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from locator.http.models import CHOICES
from locator.http.operations import HTML, Operation, Reply, operation_of
from locator.http.schemas import RESPONSE_MODELS

REF = "#/components/schemas/{model}"
_PATH_VAR = re.compile(r"<(?:[a-z_]+(?:\([^)]*\))?:)?([a-z_]+)>")
_SCHEMA_LISTS = ("anyOf", "allOf", "oneOf", "prefixItems")
_SCHEMA_VALUES = ("items", "not", "if", "then", "else", "additionalProperties", "contains")
_SCHEMA_MAPS = ("properties", "$defs", "dependentSchemas", "patternProperties")

MANAGEMENT_DESCRIPTION = (
    "The management API of district unions, host chains and administrators: scoped facility "
    "editing with versions, status, verification, history and restore, and the rider-report "
    "queue (docs/managers.md). Authenticate with `Authorization: Bearer <token>` "
    "(`flask locator create-token`), or with the session cookie of a manager logged in at "
    "`/login`, in which case every write also sends the session's CSRF token in `X-CSRFToken`. "
    "Writes that change a facility take its ETag in `If-Match` (412 when stale, 428 when missing). "
    "Errors are problem+json."
)

DESCRIPTION = (
    "Public API, OGC API – Features and the partner embed. Coordinates are (longitude, latitude) in "
    "degrees on WGS-84 unless a `datum` parameter says otherwise; distances are geodesic metres.\n\n"
    "**Parameters.** Query values are trimmed; an empty value is the same as an absent one. Booleans "
    "are `true`/`false`, `1`/`0`, `yes`/`no` or `on`/`off` (any case); lists are comma-separated. "
    "Every bad input is a 400 `application/problem+json` (RFC 9457) whose `param` names the "
    "parameter or body field.\n\n"
    "**Keys and limits.** Keyless callers get a small allowance per IP address (default 60 requests "
    "per minute). Partners send `X-API-Key` and get their daily quota plus a burst rate (keyed answers "
    "carry X-Quota-Limit/Remaining/Reset). Over the limit: 429 with Retry-After. See docs/partners.md."
    "\n\n"
    "**OGC API errors** follow the negotiated encoding: problem+json for JSON (the default), an HTML "
    "page when `f=html` or a browser's `Accept` asked for HTML.\n\n"
    "**DEMO data.** Facilities with `demo: true` are not real stations.\n\n"
    "**Management endpoints** (`management` tag) need `Authorization: Bearer <token>` or a manager's "
    "session with `X-CSRFToken` on writes; changes to a facility take its ETag in `If-Match`. See "
    "docs/managers.md."
)

TAGS = (
    {"name": "facilities", "description": "Nearest and single facilities."},
    {"name": "riders", "description": "Place search and rider feedback (what the rider pages use)."},
    {"name": "sync", "description": "Change feed and full export for partners that mirror the data."},
    {"name": "ogc", "description": "OGC API – Features, Part 1: Core (GeoJSON, HTML)."},
    {"name": "embed", "description": "The embeddable map for partner sites."},
    {
        "name": "map",
        "description": "The city map's own data (what `/map` fetches for its viewport): no key, no "
        "keyless allowance, cacheable by index revision.",
    },
    {"name": "meta", "description": "This document and its viewer."},
    {"name": "management", "description": MANAGEMENT_DESCRIPTION},
)

SECURITY_SCHEMES = {
    "DoorKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Door-Key",
        "description": "A door device's key id (dk_…), from `flask --app app locator door-key add`. The "
        "request is also signed: `X-Door-Timestamp` (Unix seconds, within 5 minutes) and "
        '`X-Door-Signature` (hex HMAC-SHA256 of `timestamp + "\\n" + raw body` under the secret printed '
        "with the key).",
    },
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
        "`flask locator create-token <user>` (printed once; only its SHA-256 is stored). A request "
        "with it is authenticated by the token alone (cookies are ignored) and needs no CSRF token. "
        "Alternative for the manage pages' JavaScript: the session cookie of a manager logged in at "
        "`/login`; then every POST, PATCH and DELETE must also send the session's CSRF token "
        '(`<meta name="csrf-token">` of any manage page) in `X-CSRFToken`, or it gets 400.',
    },
}

#: Response headers (prose; the values are opaque strings or integers).
HEADERS: dict[str, dict[str, Any]] = {
    "ETag": {"description": "Validator for If-None-Match (weak for nearest).", "schema": {"type": "string"}},
    "FacilityETag": {
        "description": "The facility's version and, on the public GET, a checksum of the body: "
        '`W/"<id>-v<version>;<crc32>"` (weak). Send it in If-None-Match to revalidate (a changed '
        "`open_now` or `live` status changes the checksum), and in If-Match to the management API "
        "to change the facility (only the version is compared).",
        "schema": {"type": "string", "pattern": '^W/"[^"]+-v[0-9]+(;[0-9a-f]{8})?"$'},
    },
    "CacheControl": {
        "description": "public, max-age=60 (3600 for static documents).",
        "schema": {"type": "string"},
    },
    "RetryAfter": {"description": "Seconds to wait.", "schema": {"type": "integer", "minimum": 0}},
    "RateLimitLimit": {"schema": {"type": "integer"}},
    "RateLimitRemaining": {"schema": {"type": "integer"}},
    "RateLimitReset": {"description": "Unix time the window resets.", "schema": {"type": "integer"}},
    "Location": {"description": "The new facility's URL.", "schema": {"type": "string"}},
    "WWWAuthenticate": {"description": 'Bearer realm="locator"', "schema": {"type": "string"}},
    "ContentCrs": {"description": "The CRS of the coordinates (CRS84).", "schema": {"type": "string"}},
}


def clean_schema(node: Any) -> Any:
    """``node`` without pydantic's generated ``title`` keywords (property names are kept).

    Choice markers (:func:`locator.http.models.choice_ref`) become ``$ref`` references.
    """
    if isinstance(node, list):
        return [clean_schema(v) for v in node]
    if not isinstance(node, dict):
        return node
    if "x-choice" in node:
        node = {
            "$ref": REF.format(model=node["x-choice"]),
            **{k: v for k, v in node.items() if k != "x-choice"},
        }
    out: dict[str, Any] = {}
    for key, value in node.items():
        if (key == "title" and isinstance(value, str)) or (key == "default" and value is None):
            continue  # pydantic's generated titles; a None default means "absent"
        if key == "description" and isinstance(value, str):
            out[key] = value.replace("``", "`")  # docstrings are reST, the document Markdown
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {k: clean_schema(v) for k, v in value.items()}
        elif key in _SCHEMA_LISTS or key in _SCHEMA_VALUES:
            out[key] = clean_schema(value)
        else:
            out[key] = value
    return out


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A parameter's schema without the ``null`` branch of an optional field (absent = None)."""
    branches = schema.get("anyOf")
    if not branches:
        return schema
    kept = [b for b in branches if b != {"type": "null"}]
    rest = {k: v for k, v in schema.items() if k != "anyOf"}
    if len(kept) == 1:
        return {**kept[0], **rest}
    return {**rest, "anyOf": kept}


def _parameters(model: type[BaseModel] | None, where: str, defs: dict[str, Any]) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = model.model_json_schema(ref_template=REF, by_alias=True)
    defs.update(schema.get("$defs", {}))
    required = set(schema.get("required", ()))
    out = []
    for name, prop in schema.get("properties", {}).items():
        prop = _without_null(clean_schema(prop))
        param: dict[str, Any] = {"name": name, "in": where, "required": where == "path" or name in required}
        description = prop.pop("description", "")
        if description:
            param["description"] = description
        param["schema"] = prop
        if prop.get("type") == "array" and where == "query":
            param["style"], param["explode"] = "form", False
        out.append(param)
    return out


def _reply(reply: Reply) -> dict[str, Any]:
    out: dict[str, Any] = {"description": reply.description}
    if reply.headers:
        out["headers"] = {name: {"$ref": f"#/components/headers/{comp}"} for name, comp in reply.headers}
    if reply.media:
        content = {}
        for media in reply.media:
            if media == HTML:
                content[media] = {"schema": {"type": "string"}}
            elif reply.model is None:
                content[media] = {"schema": {"type": "object"}}
            else:
                content[media] = {"schema": {"$ref": REF.format(model=reply.model.__name__)}}
        out["content"] = content
    return out


def _operation(op: Operation, endpoint: str, rule_args: set[str], defs: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {"summary": op.summary, "operationId": endpoint, "tags": list(op.tags)}
    if op.description:
        doc["description"] = op.description
    params = _parameters(op.path, "path", defs)
    documented = {p["name"] for p in params}
    params += [
        {"name": a, "in": "path", "required": True, "schema": {"type": "string"}}
        for a in sorted(rule_args - documented)
    ]
    params += _parameters(op.headers, "header", defs) + _parameters(op.query, "query", defs)
    doc["parameters"] = params
    if op.body is not None:
        ref = {"$ref": REF.format(model=op.body.__name__)}
        doc["requestBody"] = {
            "required": op.body_required,
            "content": {media: {"schema": ref} for media in op.body_media},
        }
    doc["responses"] = {str(code): _reply(op.responses[code]) for code in sorted(op.responses)}
    if op.security is not None:
        doc["security"] = [dict(s) for s in op.security]
    doc.update(op.extra)
    return doc


def documented_operations(app: Flask) -> list[tuple[str, str, str, Operation, set[str]]]:
    """``(path, method, endpoint, operation, path arguments)`` of every documented route."""
    found = []
    for rule in app.url_map.iter_rules():
        op = operation_of(app.view_functions[rule.endpoint])
        if op is None:
            continue
        path = _PATH_VAR.sub(r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((path, method.lower(), rule.endpoint, op, set(rule.arguments)))
    return sorted(found, key=lambda item: (item[0], item[1]))


def build_openapi(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``app`` as a dict (a fresh one each call).

    ``servers`` is ``/`` so that the document works on any host.
    """
    defs: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    models: list[type[BaseModel]] = list(RESPONSE_MODELS)
    operations = documented_operations(app)
    for path, method, endpoint, op, args in operations:
        item = paths.setdefault(path, {})
        if method in item:
            raise ValueError(f"{method.upper()} {path} is documented twice")
        item[method] = _operation(op, endpoint, args, defs)
        if op.body is not None:
            models.append(op.body)
        models += [r.model for r in op.responses.values() if r.model is not None]
    unique = list(dict.fromkeys(models))
    _, generated = models_json_schema([(m, "validation") for m in unique], ref_template=REF)
    defs.update(generated.get("$defs", {}))
    schemas = {name: clean_schema(schema) for name, schema in sorted(defs.items())}
    for name, values in sorted(CHOICES.items()):
        if name in schemas:
            raise ValueError(f"schema {name} is both a model and a choice")
        schemas[name] = {"enum": list(values)}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Warm-station locator API",
            "version": "1.0.0",
            "summary": "Nearest warm station, union home or nursing room for outdoor workers in Beijing.",
            "description": DESCRIPTION,
            "license": {"name": "ODbL-1.0 (data)", "identifier": "ODbL-1.0"},
        },
        "servers": [{"url": "/"}],
        "tags": [dict(t) for t in TAGS],
        "security": [{}, {"ApiKey": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {k: dict(v) for k, v in SECURITY_SCHEMES.items()},
            "schemas": schemas,
            "headers": {k: dict(v) for k, v in HEADERS.items()},
        },
    }
