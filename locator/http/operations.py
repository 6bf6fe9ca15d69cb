"""The registry of documented operations: each view says what it reads and answers.

A view of the public or management API is decorated with :func:`operation`, right
under its route::

    @bp.get("/nearest")
    @operation("Nearest facilities", tags=("facilities",), query=NearestParams,
               responses=public_get(ok(NearestCollection, "Facilities, nearest first.", GEOJSON)))
    def nearest() -> Response:
        params = query(NearestParams)
        ...

:mod:`locator.http.openapi` walks the app's URL map and documents every operation
from these records and the models they name; :func:`query` and :func:`body` parse the
request with the model the operation declares (and refuse any other), so the document
and the validation cannot drift apart. The decorator adds no per-request work.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import current_app, request
from pydantic import BaseModel

from locator.errors import Msg, ValidationError
from locator.http.models import BodyModel, HeaderModel, PathModel, QueryModel
from locator.http.schemas import Problem, VersionConflict

GEOJSON = "application/geo+json"
JSON = "application/json"
PROBLEM = "application/problem+json"
HTML = "text/html"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"

F = TypeVar("F", bound=Callable[..., Any])
Q = TypeVar("Q", bound=QueryModel)
B = TypeVar("B", bound=BodyModel)


@dataclass(frozen=True, slots=True)
class Reply:
    """One documented response of an operation.

    Attributes
    ----------
    description : str
    model : type of BaseModel, optional
        The body's schema (None: a page, or no body).
    media : tuple of str
        Media types of the body; ``text/html`` is documented as a string (a page).
        Empty: no body.
    headers : tuple of (str, str)
        ``(header name, component name)`` of response headers always sent.
    """

    description: str
    model: type[BaseModel] | None = None
    media: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Operation:
    """What one view reads and answers (see the module docstring)."""

    summary: str
    tags: tuple[str, ...]
    responses: Mapping[int, Reply]
    description: str = ""
    query: type[QueryModel] | None = None
    path: type[PathModel] | None = None
    headers: type[HeaderModel] | None = None
    body: type[BodyModel] | None = None
    body_media: tuple[str, ...] = (JSON,)
    body_required: bool = True
    #: None: the document's default (keyless or X-API-Key); else the OpenAPI list.
    security: tuple[dict[str, list[str]], ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def operation(summary: str, **details: Any) -> Callable[[F], F]:
    """Record the :class:`Operation` of a view (on the view function; no wrapper).

    Parameters
    ----------
    summary : str
    **details
        The other fields of :class:`Operation`.
    """
    op = Operation(summary, **details)

    def record(view: F) -> F:
        view.__operation__ = op  # type: ignore[attr-defined]
        return view

    return record


def operation_of(view: Callable[..., Any]) -> Operation | None:
    """The operation recorded on a view function, if any."""
    found: Operation | None = getattr(view, "__operation__", None)
    return found


def current_operation() -> Operation:
    """The operation of the view serving this request.

    Raises
    ------
    RuntimeError
        If the view declares none (a programming error).
    """
    op = operation_of(current_app.view_functions[request.endpoint or ""])
    if op is None:
        raise RuntimeError(f"{request.endpoint} declares no operation")
    return op


def query(model: type[Q]) -> Q:
    """The request's query string, parsed with ``model`` — the one the operation declares.

    Raises
    ------
    ValidationError
        Naming the first bad parameter (400).
    RuntimeError
        If the operation documents another model (a programming error).
    """
    declared = current_operation().query
    if declared is not model:
        raise RuntimeError(f"{request.endpoint} documents {declared!r}, not {model!r}")
    return model.parse(request.args)


def json_object() -> dict[str, Any]:
    """The request body as a JSON object (an empty body is ``{}``).

    Raises
    ------
    ValidationError
        If the body is not a JSON object (``param="body"``).
    """
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ValidationError(Msg("the body must be a JSON object"), param="body") from None
    if not isinstance(data, dict):
        raise ValidationError(Msg("the body must be a JSON object"), param="body")
    return data


def body(model: type[B]) -> B:
    """The request's body, parsed with ``model`` — the one the operation declares.

    A JSON body must be an object (empty: ``{}``); a form (when the operation accepts
    forms) is read as a mapping of strings.

    Raises
    ------
    ValidationError
        ``param="body"`` for a body that is not an object, else naming the first bad field.
    RuntimeError
        If the operation documents another model (a programming error).
    """
    op = current_operation()
    if op.body is not model:
        raise RuntimeError(f"{request.endpoint} documents {op.body!r}, not {model!r}")
    if request.mimetype in {FORM, MULTIPART} and request.mimetype in op.body_media:
        return model.parse(request.form)
    return model.parse(json_object())


# --- responses every operation shares ----------------------------------------------------

_CACHE_HEADERS = (("ETag", "ETag"), ("Cache-Control", "CacheControl"))
_RATE_HEADERS = (
    ("Retry-After", "RetryAfter"),
    ("X-RateLimit-Limit", "RateLimitLimit"),
    ("X-RateLimit-Remaining", "RateLimitRemaining"),
    ("X-RateLimit-Reset", "RateLimitReset"),
)


def ok(model: type[BaseModel], description: str, media: str = JSON, *, html: bool = False) -> Reply:
    """A 200 of a cacheable public GET (``ETag`` and ``Cache-Control``)."""
    return Reply(description, model, (media, HTML) if html else (media,), _CACHE_HEADERS)


def problem(description: str, *, html: bool = False, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    """An error answered as problem+json (and as an HTML page when ``html``)."""
    return Reply(description, Problem, (PROBLEM, HTML) if html else (PROBLEM,), headers)


def page(description: str) -> Reply:
    """An HTML page."""
    return Reply(description, None, (HTML,))


NOT_MODIFIED = Reply("Not modified: the If-None-Match validator still matches.", headers=_CACHE_HEADERS)
#: A conditional GET whose If-Match or If-Unmodified-Since failed (the caching hook).
GET_PRECONDITION_FAILED = Reply(
    "If-Match or If-Unmodified-Since does not match the current representation (its ETag is sent).",
    Problem,
    (PROBLEM,),
    (("ETag", "ETag"),),
)


def conditional_get(ok_reply: Reply) -> dict[int, Reply]:
    """The answers of a cacheable GET itself: 200, 304 and 412 (see :mod:`locator.http.caching`)."""
    return {200: ok_reply, 304: NOT_MODIFIED, 412: GET_PRECONDITION_FAILED}


def public_errors(*, html: bool = False, not_found: str = "") -> dict[int, Reply]:
    """The errors of a public API operation (keys, quotas, bad parameters, the store)."""
    out = {
        400: problem("A parameter is invalid; `param` names it.", html=html),
        401: problem("The X-API-Key is malformed, unknown or revoked.", html=html),
        403: problem("The API key is used from a browser origin its partner did not register.", html=html),
        429: problem("Rate limit or daily quota exceeded.", html=html, headers=_RATE_HEADERS),
        503: problem("The database cannot be reached.", html=html),
    }
    if not_found:
        out[404] = problem(not_found, html=html)
    return out


def public_get(ok_reply: Reply, *, html: bool = False, not_found: str = "") -> dict[int, Reply]:
    """The responses of a cacheable public GET: 200, 304 and :func:`public_errors`."""
    return {**conditional_get(ok_reply), **public_errors(html=html, not_found=not_found)}


#: The responses of a management operation that every one of them may give.
BEARER: tuple[dict[str, list[str]], ...] = ({"BearerAuth": []},)


def manage_responses(
    ok_status: int,
    ok_reply: Reply,
    *,
    write: bool,
    forbidden: bool = False,
    not_found: bool = False,
    conflict: str = "",
    stale: bool = False,
    precondition: bool = False,
) -> dict[int, Reply]:
    """The responses of a management operation.

    ``write``: 400 (bad body, or a session write without CSRF token) and 413 (body too
    large). The flags add 403, 404, 409, 412 and 428.
    """
    out: dict[int, Reply] = {
        ok_status: ok_reply,
        400: problem(
            "A field, parameter or body is invalid (`param` names it), or a write authenticated by the "
            "session cookie came without a valid `X-CSRFToken`."
        ),
        401: problem(
            "No credentials, a bad or revoked bearer token, or an `Authorization` header that is not "
            "`Bearer`.",
            headers=(("WWW-Authenticate", "WWWAuthenticate"),),
        ),
        503: problem("The database cannot be reached."),
    }
    if write:
        out[413] = problem("The request body is too large.")
    if forbidden:
        out[403] = problem(
            "Outside the caller's scope (their districts, by location before and after the change, or "
            "their assigned facilities), or not for this role (station managers do not create; only "
            "admins delete). Nothing is written."
        )
    if not_found:
        out[404] = problem("No such facility, history entry or report (in the caller's scope).")
    if conflict:
        out[409] = problem(conflict)
    if stale:
        out[412] = Reply(
            "Stale `If-Match`: someone saved the facility since. `current_version` and the ETag header "
            "give the version now stored; read it again and re-apply the change.",
            VersionConflict,
            (PROBLEM,),
            (("ETag", "FacilityETag"),),
        )
    if precondition:
        out[428] = problem("`If-Match` is missing, or is `*`: send the facility's ETag.")
    return out
