"""Log in and out of the management pages (``/login``, ``/logout``)."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_login import login_user, logout_user
from werkzeug.wrappers import Response

from locator.errors import UnauthorizedError
from locator.http.auth import LoginUser, safe_next, session_user
from locator.http.limits import limiter
from locator.http.state import accounts

bp = Blueprint("auth", __name__)


def _login_rate() -> str:
    return str(current_app.config.get("LOCATOR_LOGIN_RATE", "10 per minute"))


def _login_name_key() -> str:
    return "login-name:" + (request.form.get("username") or "").strip().lower()


def _failed(response: Response) -> bool:
    """Only failed attempts count against the limits (success redirects with 303)."""
    return response.status_code != 303


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_rate, methods=["POST"], deduct_when=_failed)
@limiter.limit(_login_rate, methods=["POST"], key_func=_login_name_key, deduct_when=_failed)
def login() -> str | Response:
    """The login form; a success starts a fresh session and goes to ``next``."""
    target = safe_next(request.values.get("next"))
    if request.method == "GET":
        if session_user() is not None:
            return redirect(target, code=303)
        return render_template("manage/login.html", next=target, error=None, username="")
    username = (request.form.get("username") or "").strip()
    try:
        user = accounts().authenticate(username, request.form.get("password") or "")
    except UnauthorizedError as exc:
        return render_template("manage/login.html", next=target, error=exc.detail, username=username)
    session.clear()  # a fresh session at every login (no fixation)
    login_user(LoginUser(user))
    session.permanent = True
    return redirect(target, code=303)


@bp.post("/logout")
def logout() -> Response:
    """End the session (POST only, with the CSRF token)."""
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"), code=303)
