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
