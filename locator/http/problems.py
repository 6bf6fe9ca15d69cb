"""Rendering errors once: problem+json (RFC 9457) for the API, a friendly page for the UI."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Request, Response, json, render_template, request
from werkzeug.exceptions import HTTPException

from locator.errors import LocatorError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


def wants_json(req: Request) -> bool:
    """True for API paths and for clients that prefer JSON over HTML."""
    if req.path.startswith("/api/"):
        return True
    if req.path == "/ogc" or req.path.startswith("/ogc/"):  # OGC API: JSON unless HTML is asked for
        fmt = req.args.get("f", "").strip().lower()
        if fmt:
            return fmt != "html"
        return req.accept_mimetypes.best_match(["application/json", "text/html"]) != "text/html"
    best = req.accept_mimetypes.best_match(["text/html", "application/json", PROBLEM_JSON])
    return best in {"application/json", PROBLEM_JSON}


def problem(status: int, title: str, detail: str, code: str, **extra: Any) -> Response:
    """An RFC 9457 problem document response."""
    body = {
        "type": f"about:blank#{code}" if status >= 500 else f"/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=PROBLEM_JSON)


def _render(status: int, title: str, detail: str, code: str, extra: dict[str, Any]) -> Response:
    if wants_json(request):
        return problem(status, title, detail, code, **extra)
    html = render_template("error.html", status=status, title=title, detail=detail, extra=extra)
    return Response(html, status=status, mimetype="text/html")


def register_error_handlers(app: Flask) -> None:
    """Install the handlers for LocatorError, HTTP errors and anything unexpected."""

    @app.errorhandler(LocatorError)
    def _locator_error(exc: LocatorError) -> Response:
        extra = dict(exc.extra)
        if exc.param:
            extra["param"] = exc.param
        if exc.status >= 500:
            log.warning("%s: %s", exc.code, exc.detail)
        resp = _render(exc.status, exc.title, exc.detail, exc.code, extra)
        resp.headers.extend(getattr(exc, "headers", {}))
        return resp

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        resp = _render(status, exc.name, exc.description or exc.name, str(status), {})
        if status == 405 and exc.valid_methods:  # type: ignore[attr-defined]
            resp.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return resp

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _render(500, "Internal error", "Something went wrong on our side.", "internal-error", {})
