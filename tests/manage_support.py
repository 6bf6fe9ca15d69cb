"""Helpers for the management tests: accounts, logins with real CSRF tokens."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from locator.services.accounts import AccountService
from locator.stores.contract import User

from .conftest import make_app

PASSWORD = "correct horse battery"
HOSTILE = "<img src=x onerror=alert(1)>"
HAIDIAN = "110108"
CHAOYANG = "110105"

#: Cheap argon2id parameters so that tests stay fast (production uses the library's defaults).
FAST_ARGON2 = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}


def manage_app(db_path: Path, **config: object) -> Flask:
    """An app over ``db_path`` with cheap password hashing."""
    return make_app(db_path, ARGON2_PARAMETERS=FAST_ARGON2, **config)


def manage_demo_app(factory: Callable[..., Flask], **config: object) -> Flask:
    """An app from ``demo_app_factory`` (a writable demo layer, per backend), cheap hashing."""
    return factory(ARGON2_PARAMETERS=FAST_ARGON2, **config)


def demo_copy(tmp_path: Path, demo_db: Path, **config: object) -> Flask:
    """An app over a fresh copy of the demo-layer store."""
    path = tmp_path / "demo.sqlite3"
    shutil.copy(demo_db, path)
    return manage_app(path, **config)


_CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def csrf_from(html: str) -> str:
    """The CSRF token in a page (form field or meta tag)."""
    m = _CSRF_INPUT.search(html) or _CSRF_META.search(html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def accounts(app: Flask) -> AccountService:
    svc: AccountService = app.extensions["locator.accounts"]
    return svc


def make_user(
    app: Flask,
    name: str,
    role: str,
    *,
    districts: Iterable[str] = (),
    facilities: Iterable[str] = (),
    password: str = PASSWORD,
) -> User:
    return accounts(app).create_user(name, password, role, districts=districts, facilities=facilities)


def login(client: FlaskClient, name: str, password: str = PASSWORD, next_: str | None = None):  # type: ignore[no-untyped-def]
    page = client.get("/login")
    data = {"csrf_token": csrf_from(page.get_data(as_text=True)), "username": name, "password": password}
    if next_ is not None:
        data["next"] = next_
    return client.post("/login", data=data)


def page_csrf(client: FlaskClient, path: str = "/manage") -> str:
    """The CSRF token of the logged-in session (read from a page's meta tag)."""
    resp = client.get(path)
    assert resp.status_code == 200, resp.status_code
    return csrf_from(resp.get_data(as_text=True))
