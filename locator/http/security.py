"""Security headers and cookies set once for the whole app.

Every response
--------------
* ``Content-Security-Policy``: ``default-src 'self'``; scripts only from this site
  (``script-src 'self'``), plus, on pages that draw a Folium map, that page's one inline
  map script, allowed by a per-response nonce (:func:`csp_nonce`, the ``nonced``
  template filter); images from this site and the configured tile server; styles from
  this site and inline (Leaflet and Folium position elements with ``style``); no
  plugins; forms and ``<base>`` only to this site; framing as below.
* ``X-Content-Type-Options: nosniff``; ``Referrer-Policy: strict-origin-when-cross-origin``
  (a rider's search URL, with their position, never leaves the site in ``Referer``);
  ``Strict-Transport-Security: max-age=31536000`` when ``LOCATOR_HTTPS=true``.
* ``Cache-Control: private, no-store`` on every answer that depends on who is logged in:
  the management API and pages, the login page, and any page seen with a session.

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

import secrets
from collections.abc import Iterable
from urllib.parse import urlsplit

from flask import Flask, Request, Response, current_app, g, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from markupsafe import Markup

from locator.http.auth import session_user
from locator.http.state import tile_provider

#: Blueprints whose responses never carry ``Set-Cookie``.
NO_COOKIE_BLUEPRINTS = frozenset({"embed"})
#: Blueprints whose answers depend on who is logged in.
PRIVATE_BLUEPRINTS = frozenset({"manage_api", "manage", "auth"})
#: ``Strict-Transport-Security`` with ``LOCATOR_HTTPS=true`` (one year).
HSTS = "max-age=31536000"


def private_answers(resp: Response) -> Response:
    """``after_request``: ``Cache-Control: private, no-store`` on per-user answers.

    Per-user: the management API and pages, the login page, and any response to a
    request that carries a logged-in session (static files excepted: they are the same
    for everyone).
    """
    if request.blueprint in PRIVATE_BLUEPRINTS:
        resp.headers["Cache-Control"] = "private, no-store"
        return resp
    if "HTTP_COOKIE" not in request.environ:  # no cookie, no session: the common anonymous case
        return resp
    logged_in = (
        request.endpoint != "static"
        and current_app.config["SESSION_COOKIE_NAME"] in request.cookies
        and session_user() is not None
    )
    if logged_in:
        resp.headers["Cache-Control"] = "private, no-store"
    return resp


def csp_nonce() -> str:
    """The response's CSP nonce for inline scripts (made on first use, per request)."""
    nonce: str | None = g.get("csp_nonce")
    if nonce is None:
        nonce = g.csp_nonce = secrets.token_urlsafe(18)
    return nonce


def nonced(markup: str) -> Markup:
    """The ``nonced`` template filter: give every inline ``<script>`` of ``markup`` the nonce.

    For the map script Folium renders (``MapParts.script``); ``<script src=…>`` tags are
    left alone (they are allowed by ``'self'``).
    """
    return Markup(str(markup).replace("<script>", f'<script nonce="{csp_nonce()}">'))  # noqa: S704


def tile_image_source(url: str) -> str | None:
    """The CSP source of a tile URL template: its origin, ``{s}`` subdomains as ``*``.

    >>> tile_image_source("https://webrd0{s}.is.autonavi.com/appmaptile?x={x}")
    'https://*.is.autonavi.com'
    >>> tile_image_source("https://tile.openstreetmap.org/{z}/{x}/{y}.png")
    'https://tile.openstreetmap.org'
    >>> tile_image_source("") is None
    True
    """
    if not url:
        return None
    parts = urlsplit(url)
    labels = parts.netloc.split(".")
    host = ".".join("*" if "{" in label else label for label in labels)
    return f"{parts.scheme}://{host}"


def content_security_policy(tile_url: str) -> str:
    """The policy without ``script-src`` nonce and ``frame-ancestors`` (added per response)."""
    img = " ".join(s for s in ("'self'", "data:", "blob:", tile_image_source(tile_url)) if s)
    return (
        f"default-src 'self'; img-src {img}; style-src 'self' 'unsafe-inline'; "
        "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
        "form-action 'self'; worker-src 'self'; manifest-src 'self'"
    )


def _plain_headers() -> list[tuple[str, str]]:
    """The headers of a response with no nonce, no framing and no policy of its own (cached per app)."""
    config = current_app.config
    plain: list[tuple[str, str]] | None = config.get("LOCATOR_PLAIN_SECURITY_HEADERS")
    if plain is None:
        base = config.get("LOCATOR_CSP")
        if base is None:
            base = config["LOCATOR_CSP"] = content_security_policy(_tile_url())
        plain = [
            ("Content-Security-Policy", f"{base}; script-src 'self'; frame-ancestors 'none'"),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "strict-origin-when-cross-origin"),
        ]
        if config.get("LOCATOR_HTTPS"):
            plain.append(("Strict-Transport-Security", HSTS))
        config["LOCATOR_PLAIN_SECURITY_HEADERS"] = plain
    return plain


def security_headers(resp: Response) -> Response:
    """``after_request``: CSP, ``nosniff``, ``Referrer-Policy``, HSTS (see the module docstring)."""
    headers = resp.headers
    if (
        "Content-Security-Policy" not in headers
        and "X-Frame-Options" not in headers
        and g.get("csp_nonce") is None
        and g.get("frame_ancestors") is None
    ):  # most responses: the same headers every time
        for name, value in _plain_headers():
            headers[name] = value
        headers["X-Frame-Options"] = "DENY"
        return resp
    if "Content-Security-Policy" not in headers:  # a view's own policy is kept (framing adds to it)
        nonce: str | None = g.get("csp_nonce")
        script = "script-src 'self'" + (f" 'nonce-{nonce}'" if nonce else "")
        base = current_app.config.get("LOCATOR_CSP")
        if base is None:
            base = current_app.config["LOCATOR_CSP"] = content_security_policy(_tile_url())
        resp.headers["Content-Security-Policy"] = f"{base}; {script}"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
    if current_app.config.get("LOCATOR_HTTPS"):
        resp.headers["Strict-Transport-Security"] = HSTS
    return framing(resp)


def _tile_url() -> str:
    return tile_provider().url


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
    """Flask's signed-cookie sessions, but never a ``Set-Cookie`` on embed responses.

    A request without the session cookie (every anonymous API call) opens no session:
    it gets an empty session object without building the signing serializer, and,
    unless something stored a value in it, saving it only adds ``Vary: Cookie`` when
    it was read (as Flask does).
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """An empty session without a cookie; otherwise Flask's signed-cookie session."""
        if app.secret_key and self.get_cookie_name(app) not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """Save as usual, except on embed responses (see :data:`NO_COOKIE_BLUEPRINTS`)."""
        if not session and not session.modified:  # nothing to store or delete
            if session.accessed:
                response.vary.add("Cookie")
            return
        if request.blueprint in NO_COOKIE_BLUEPRINTS:
            return
        super().save_session(app, session, response)


def init_app(app: Flask) -> None:
    """Embed-safe sessions (unless the app configured its own) and the nonce helpers.

    Templates get the ``nonced`` filter and the ``csp_nonce()`` global; the headers are
    set by :func:`security_headers`, placed by :mod:`locator.http.hooks`.
    """
    if type(app.session_interface) is SecureCookieSessionInterface:
        app.session_interface = EmbedSafeSessionInterface()
    app.add_template_filter(nonced, "nonced")
    app.add_template_global(csp_nonce, "csp_nonce")
