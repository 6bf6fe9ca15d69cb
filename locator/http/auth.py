"""Sessions, CSRF and bearer tokens: the Flask side of :mod:`locator.services.accounts`.

Rules
-----
* **Session cookie**: ``HttpOnly``, ``SameSite=Lax``, ``Secure`` when
  ``LOCATOR_HTTPS=true``; it lasts 12 hours from the login, and is only sent when the
  session changes (see :func:`init_app`). Logging in starts a fresh session; a
  password change ends every session of that user (the session id carries a digest of
  the password hash).
* **CSRF** (Flask-WTF :class:`~flask_wtf.csrf.CSRFProtect`): every ``POST``, ``PUT``,
  ``PATCH`` and ``DELETE`` carries the session's token — forms in a ``csrf_token``
  field, JavaScript in an ``X-CSRFToken`` header (pages expose it in
  ``<meta name="csrf-token">``). A request without it gets ``400``.
* **Bearer tokens**: a request to ``/api/`` with ``Authorization: Bearer …`` is
  authenticated by the token alone — cookies are ignored for it — and needs no CSRF
  token (a cross-site page cannot set that header). The management API blueprint is
  exempt from Flask-WTF's automatic check because :func:`api_user` performs it itself
  for session-authenticated writes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app, g, request
from flask_login import AnonymousUserMixin, LoginManager, UserMixin, current_user
from flask_wtf.csrf import CSRFProtect

from locator.errors import Msg, StoreUnavailableError, UnauthorizedError
from locator.http.state import ACCOUNTS, accounts
from locator.services.accounts import session_fingerprint
from locator.stores.contract import User

login_manager = LoginManager()
csrf = CSRFProtect()

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class LoginUser(UserMixin):
    """Flask-Login's view of a :class:`~locator.stores.contract.User`."""

    def __init__(self, user: User) -> None:
        self.user = user

    def get_id(self) -> str:
        """``name|fingerprint``: see :func:`locator.services.accounts.session_fingerprint`."""
        return f"{self.user.name}|{session_fingerprint(self.user)}"

    @property
    def is_active(self) -> bool:
        """Inactive accounts cannot log in."""
        return self.user.active


@login_manager.user_loader
def _load_user(session_id: str) -> LoginUser | None:
    svc = current_app.extensions.get(ACCOUNTS)
    if svc is None or g.get("locator_store_down"):
        # Once this request found the store down, the user is anonymous for the rest of it:
        # the 503 page is rendered, and Flask-Login's template context would load the user
        # again (and fail again, inside the error handler: a bare 500).
        return None
    try:
        user = svc.load_session_user(session_id)
    except StoreUnavailableError:
        g.locator_store_down = True
        raise
    return LoginUser(user) if user is not None else None


def session_user() -> User | None:
    """The account logged in with the session cookie, or None."""
    cu: Any = current_user
    if isinstance(cu, LoginUser) and cu.is_authenticated:
        return cu.user
    return None


def bearer_token() -> str | None:
    """The token of an ``Authorization: Bearer`` header, or None without that header.

    Raises
    ------
    UnauthorizedError
        If an ``Authorization`` header is present but not a bearer token.
    """
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError(Msg("use Authorization: Bearer <token>"))
    return token.strip()


def api_user(*, write: bool) -> User:
    """Authenticate an API request: bearer token, or session cookie plus CSRF for writes.

    Parameters
    ----------
    write : bool
        True for state-changing requests (a session then needs its CSRF token).

    Raises
    ------
    UnauthorizedError
        No or invalid credentials (401, with ``WWW-Authenticate: Bearer``).
    flask_wtf.csrf.CSRFError
        A session-authenticated write without a valid CSRF token (400).
    """
    cached: User | None = g.get("locator_api_user")
    if cached is not None:
        return cached
    token = bearer_token()
    if token is not None:
        user = accounts().authenticate_token(token)
    else:
        found = session_user()
        if found is None:
            raise UnauthorizedError(Msg("log in or send a bearer token"))
        user = found
        if write:
            csrf.protect()
    g.locator_api_user = user
    return user


def safe_next(target: str | None, default: str = "/manage") -> str:
    r"""``target`` if it is a same-site relative path, else ``default``.

    Accepted: ``/path?query`` without scheme, host, backslashes or control characters
    (``//evil.example`` and ``/\evil.example`` are protocol-relative URLs and refused).
    """
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def init_app(app: Flask) -> None:
    """Session cookies, CSRF and Flask-Login (hooks are placed by :mod:`locator.http.hooks`)."""
    https = bool(app.config.get("LOCATOR_HTTPS"))
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=https,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=https,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        # Send the session cookie only when the session changes. Refreshing it on every
        # response lets a slow parallel response (a static file, the service worker
        # installing the offline shell) carry an older copy of the session and overwrite
        # a newer one, e.g. drop the CSRF token a page has just put in it. The 12 hours
        # therefore count from the login, not from the last request.
        SESSION_REFRESH_EACH_REQUEST=False,
    )
    if https:
        app.config["PREFERRED_URL_SCHEME"] = "https"
    # The CSRF token lives as long as the session (a long edit must not lose its form).
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    # No Flask-Login session protection. Its "basic" mode compares a hash of the client's
    # address and User-Agent on every request and, when they differ, marks the session
    # non-fresh: it rewrites the cookie from *that request's* copy of the session. A phone
    # moving between Wi-Fi and mobile data, or Chromium's service-worker update check
    # (sent with the browser's own User-Agent), then races the page's form POST and drops
    # what the POST put in the session: the "saved" notice, a new CSRF token. Freshness
    # protects nothing here (no view needs a fresh login), and "strong" mode would log a
    # manager out at each change of network. Sessions end on the server instead (the
    # per-user epoch: logout, password change, deactivation, end-sessions).
    login_manager.session_protection = None
    login_manager.anonymous_user = AnonymousUserMixin
