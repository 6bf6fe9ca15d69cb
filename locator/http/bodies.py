"""Request-body caps: no anonymous client makes a worker read or hold a large body.

Every request gets a cap by the kind of route it is for (``LOCATOR_MAX_*_BYTES``):

=============  ==============================================  ===================
kind           routes                                          default
=============  ==============================================  ===================
``upload``     bulk upload (``/manage/bulk/dry-run``)          16 MiB
``form``       HTML forms (login, manager forms, feedback)     256 KiB
``json``       everything else (the JSON APIs)                 64 KiB
=============  ==============================================  ===================

A request whose ``Content-Length`` is over its cap is refused at once with ``413``
(problem+json on the API, a page elsewhere) before anything reads the body; a body sent
without ``Content-Length`` (chunked) is cut off by werkzeug when it passes the cap
(``request.max_content_length``), which raises the same ``413``. Form fields other than
files are capped at the form cap too (``request.max_form_memory_size``).
"""

from __future__ import annotations

from flask import current_app, request

from locator.errors import LocatorError, Msg

#: Endpoints that receive file uploads.
UPLOAD_ENDPOINTS = frozenset({"manage.bulk_dry_run"})
#: Config key per kind of route.
CAPS = {
    "upload": "LOCATOR_MAX_UPLOAD_BYTES",
    "form": "LOCATOR_MAX_FORM_BYTES",
    "json": "LOCATOR_MAX_JSON_BYTES",
}


class PayloadTooLargeError(LocatorError):
    """The request body is larger than its route allows (413)."""

    status = 413
    code = "payload-too-large"
    title = "Payload too large"


def body_kind() -> str:
    """``upload``, ``form`` or ``json``: the kind of route the current request is for."""
    if request.endpoint in UPLOAD_ENDPOINTS:
        return "upload"
    if request.path.startswith("/api/"):
        return "json"
    if request.mimetype in {"application/x-www-form-urlencoded", "multipart/form-data"}:
        return "form"
    return "json"


def cap_request_body() -> None:
    """``before_request``: set this request's body cap; refuse an announced larger body.

    Raises
    ------
    PayloadTooLargeError
        413 when ``Content-Length`` exceeds the cap (``limit_bytes`` in the problem).
    """
    kind = body_kind()
    limit = int(current_app.config[CAPS[kind]])
    request.max_content_length = limit
    request.max_form_memory_size = min(limit, int(current_app.config["LOCATOR_MAX_FORM_BYTES"]))
    length = request.content_length
    if length is not None and length > limit:
        raise PayloadTooLargeError(
            Msg("the request body is larger than %(limit)s bytes", limit=limit),
            param="body",
            limit_bytes=limit,
        )
