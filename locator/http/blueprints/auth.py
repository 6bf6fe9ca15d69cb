"""Log in and out of the management pages (``/login``, ``/logout``)."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_login import login_user, logout_user
from werkzeug.wrappers import Response

from locator.errors import UnauthorizedError
from locator.http.auth import LoginUser, safe_next, session_user
from locator.http.state import accounts, login_throttle

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response:
    """The login form; a success starts a fresh session and goes to ``next``.

    Failed attempts are counted per client address and per user name in counters that
    every worker shares (:mod:`locator.services.throttle`): over ``LOCATOR_LOGIN_RATE``
    the form answers 429 with ``Retry-After``, whatever the password.
    """
    target = safe_next(request.values.get("next"))
    if request.method == "GET":
        if session_user() is not None:
            return redirect(target, code=303)
        return render_template("manage/login.html", next=target, error=None, username="")
    username = (request.form.get("username") or "").strip()
    throttle = login_throttle()
    keys = throttle.keys(request.remote_addr or "unknown", username)
    throttle.check(*keys)
    try:
        user = accounts().authenticate(username, request.form.get("password") or "")
    except UnauthorizedError as exc:
        throttle.failed(*keys)
        return render_template("manage/login.html", next=target, error=exc.detail, username=username)
    session.clear()  # a fresh session at every login (no fixation)
    login_user(LoginUser(user))
    session.permanent = True
    return redirect(target, code=303)


@bp.post("/logout")
def logout() -> Response:
    """End the session (POST only, with the CSRF token): server-side too.

    The user's session epoch grows, so a copy of the cookie no longer works anywhere
    (every session of this user ends: a per-user epoch, see
    :func:`locator.services.accounts.session_fingerprint`).
    """
    user = session_user()
    if user is not None:
        accounts().end_sessions(user.name)
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"), code=303)
