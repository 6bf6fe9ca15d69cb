"""The management pages (``/manage``): parse forms, call the management service, render."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import login_required

from locator.auth import session_user
from locator.stores.base import User

bp = Blueprint("manage", __name__, url_prefix="/manage")

ROLE_LABELS = {
    "admin": "Administrator",
    "district_manager": "District manager",
    "station_manager": "Station manager",
}


def account() -> User:
    """The logged-in account (views are ``@login_required``)."""
    user = session_user()
    assert user is not None
    return user


@bp.context_processor
def _manage_globals() -> dict[str, object]:
    return {"account": session_user(), "role_labels": ROLE_LABELS}


@bp.get("")
@login_required
def facilities() -> str:
    """The manager's facilities."""
    return render_template("manage/facilities.html")
