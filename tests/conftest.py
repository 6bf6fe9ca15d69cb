"""Shared fixtures: apps over a temporary SQLite store, the demo layer, helpers."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from locator import create_app
from locator.cli import DEMO_LAYER
from locator.geo import Datum
from locator.readers import read_records
from locator.services import LocatorService

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
IN_CI = os.environ.get("CI", "").lower() == "true"


def skip_or_fail(reason: str) -> None:
    """Skip locally; under CI=true a missing dependency is a failure, not a skip."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this must run in CI)")
    pytest.skip(reason)


def make_app(db_path: Path, **config: object) -> Flask:
    cfg: dict[str, object] = {
        "TESTING": True,
        "LOCATOR_DATABASE_URL": f"sqlite:///{db_path}",
        "LOCATOR_SECRET_KEY": "test-secret-key-0123456789",
    }
    cfg.update(config)
    return create_app(cfg)


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file with the demo layer loaded once per session (copied per test)."""
    path = tmp_path_factory.mktemp("demo") / "demo.sqlite3"
    app = make_app(path)
    svc: LocatorService = app.extensions["locator"]
    svc.import_records(read_records(DEMO_LAYER), Datum.WGS84, demo=True)
    svc.store.close()
    return path


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    """An app over an empty SQLite store."""
    application = make_app(tmp_path / "test.sqlite3")
    yield application
    application.extensions["locator"].store.close()


@pytest.fixture
def demo_app(tmp_path: Path, demo_db: Path) -> Iterator[Flask]:
    """An app over a copy of the demo-layer store."""
    path = tmp_path / "demo.sqlite3"
    shutil.copy(demo_db, path)
    application = make_app(path)
    yield application
    application.extensions["locator"].store.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def demo_client(demo_app: Flask) -> FlaskClient:
    return demo_app.test_client()


@pytest.fixture
def runner(app: Flask):  # type: ignore[no-untyped-def]
    return app.test_cli_runner()


# --- live server and headless Chromium ----------------------------------------------

CHROMIUM = os.environ.get("LOCATOR_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


class LiveServer:
    """A Flask app served by werkzeug on 127.0.0.1 in a background thread."""

    def __init__(self, app: Flask, port: int = 0) -> None:
        import threading

        from werkzeug.serving import make_server

        self.app = app
        self._server = make_server("127.0.0.1", port, app, threaded=True)
        self.port = self._server.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def live_server(demo_app: Flask) -> Iterator[LiveServer]:
    server = LiveServer(demo_app)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chromium():  # type: ignore[no-untyped-def]
    """Debian's Chromium driven by Playwright (no browser download)."""
    if not Path(CHROMIUM).exists():
        skip_or_fail(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - requirements-dev installs it
        skip_or_fail("playwright is not installed")
    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()
    pw.stop()


class PageWatch:
    """Collects console errors, page errors and every request a page makes."""

    def __init__(self, page) -> None:  # type: ignore[no-untyped-def]
        self.console_errors: list[str] = []
        self.requests: list[str] = []
        page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.console_errors.append(str(e)))
        page.on("request", lambda r: self.requests.append(r.url))

    def foreign_requests(self) -> list[str]:
        """Requests to any host but 127.0.0.1 (data: and blob: URLs are local)."""
        from urllib.parse import urlsplit

        return [
            u for u in self.requests
            if not u.startswith(("data:", "blob:")) and urlsplit(u).hostname != "127.0.0.1"
        ]


PHONE = {
    "viewport": {"width": 412, "height": 915},
    "device_scale_factor": 2.625,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
    "timezone_id": "Asia/Shanghai",
    "geolocation": {"longitude": 116.3376, "latitude": 39.9925},  # Wudaokou, WGS-84
    "permissions": ["geolocation"],
}


@pytest.fixture
def phone(chromium):  # type: ignore[no-untyped-def]
    """A phone-sized browser context (zh-CN, touch, geolocation granted in Beijing).

    Requests to any host but 127.0.0.1 are aborted (tiles included) and recorded.
    """
    context = chromium.new_context(**PHONE)
    blocked: list[str] = []

    def _route(route) -> None:  # type: ignore[no-untyped-def]
        from urllib.parse import urlsplit

        if urlsplit(route.request.url).hostname in {"127.0.0.1"}:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", _route)
    context.blocked = blocked
    yield context
    context.close()
