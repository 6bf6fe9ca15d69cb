"""Security headers and cookies set once for the whole app.

Framing
-------
Every response says who may frame it with ``Content-Security-Policy: frame-ancestors``.
The embed (``/embed/map``) names ``'self'`` and the registered origins of the partner in
its ``partner`` parameter (a view sets :func:`allow_framing`); everything else sends
``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``. A ``Content-Security-Policy``
set elsewhere is kept and extended with the directive.

Embeds never set a cookie (:class:`EmbedSafeSessionInterface`).
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask, Response, g, request
from flask.sessions import SecureCookieSessionInterface, SessionMixin

#: Blueprints whose responses never carry ``Set-Cookie``.
NO_COOKIE_BLUEPRINTS = frozenset({"embed"})
#: Blueprints whose answers depend on who is logged in.
PRIVATE_BLUEPRINTS = frozenset({"manage_api"})


def private_answers(resp: Response) -> Response:
    """``after_request``: ``Cache-Control: private, no-store`` on per-user answers."""
    if request.blueprint in PRIVATE_BLUEPRINTS:
        resp.headers["Cache-Control"] = "private, no-store"
    return resp


def allow_framing(origins: Iterable[str]) -> None:
    """Let this response be framed by ``'self'`` and ``origins`` (call from a view)."""
    g.frame_ancestors = ["'self'", *origins]


def framing(resp: Response) -> Response:
    """``after_request``: the ``frame-ancestors`` directive (see the module docstring)."""
    ancestors: list[str] | None = g.get("frame_ancestors")
    directive = "frame-ancestors " + (" ".join(ancestors) if ancestors else "'none'")
    csp = resp.headers.get("Content-Security-Policy")
    if not csp:
        resp.headers["Content-Security-Policy"] = directive
    elif "frame-ancestors" not in csp:
        resp.headers["Content-Security-Policy"] = f"{csp.rstrip('; ')}; {directive}"
    if ancestors:
        resp.headers.pop("X-Frame-Options", None)
    else:
        resp.headers.setdefault("X-Frame-Options", "DENY")
    return resp


class EmbedSafeSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, but never a ``Set-Cookie`` on embed responses."""

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """Save as usual, except on embed responses (see :data:`NO_COOKIE_BLUEPRINTS`)."""
        if request.blueprint in NO_COOKIE_BLUEPRINTS:
            return
        super().save_session(app, session, response)


def install_session_interface(app: Flask) -> None:
    """Use :class:`EmbedSafeSessionInterface` unless the app configured its own."""
    if type(app.session_interface) is SecureCookieSessionInterface:
        app.session_interface = EmbedSafeSessionInterface()
