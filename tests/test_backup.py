"""``flask locator backup PATH`` / ``restore PATH`` round trips on both stores."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from locator.core.domain import Feedback
from locator.core.geo import Datum
from locator.errors import ValidationError
from locator.services.facilities import LocatorService
from locator.stores.contract import Actor, Store

from .conftest import open_like
from .manage_support import accounts, make_user, manage_demo_app
from .test_store_contract import wait_until


def _state(store: Store) -> dict[str, Any]:
    """Everything a backup must keep, in comparable form."""
    facilities = store.all()
    return {
        "revision": store.revision(),
        "facilities": facilities,
        "history": {f.id: store.history(f.id) for f in facilities[:50]},
        "edited_history": store.history("demo-osm-node-5448567458"),
        "users": store.list_users(),
        "tokens": store.list_tokens(),
        "partners": store.list_partners(),
        "reports": store.list_reports(statuses=None),
        "feedback": store.list_feedback(),
    }


@pytest.fixture
def app(demo_app_factory: Callable[..., Flask]) -> Flask:
    application = manage_demo_app(demo_app_factory)
    store: Store = application.extensions["locator"].store
    svc: LocatorService = application.extensions["locator"]
    make_user(application, "ann", "admin")
    accounts(application).create_token("ann", "sync")
    application.extensions["locator.partners"].add("acme", ["https://acme.example"])
    f = svc.get("demo-osm-node-5448567458")
    with application.app_context():
        svc.update(
            f.id,
            {"name": "示例·农业展览馆站暖心驿站（备份前）"},
            f.version,
            Datum.WGS84,
            Actor("ann", "test"),
        )
    store.add_feedback(Feedback(f.id, "problem", datetime.now(UTC), reason="closed", comment="锁门了"))
    return application


def test_backup_and_restore_round_trip_keeps_everything(app: Flask, tmp_path: Path) -> None:
    store: Store = app.extensions["locator"].store
    before = _state(store)
    runner = app.test_cli_runner()
    backup = tmp_path / "locator.backup"
    done = runner.invoke(args=["locator", "backup", str(backup)])
    assert done.exit_code == 0, done.output
    assert backup.stat().st_size > 0 and not list(tmp_path.glob(".*.tmp"))

    # Everything changes after the backup: new facility, new user, a resolved report, a deletion.
    svc: LocatorService = app.extensions["locator"]
    with app.app_context():
        svc.create({"kind": "warm_station", "name": "之后", "lon": 116.3, "lat": 39.9}, Datum.WGS84)
    make_user(app, "bob", "admin")
    report = store.list_reports()[0]
    store.resolve_report(report.id, "resolved", "none", Actor("ann"))
    gone = before["facilities"][0]
    store.delete(gone.id, gone.version)
    assert _state(store) != before

    other = open_like(store)  # another worker or node, following the store
    try:
        assert other.revision() > before["revision"]
        restored = runner.invoke(args=["locator", "restore", str(backup), "--yes"])
        assert restored.exit_code == 0, restored.output
        assert _state(store) == before
        # The revision went back, and every other worker sees it (so indexes reload).
        assert wait_until(lambda: other.revision() == before["revision"], 5.0) is not None
    finally:
        other.close()


def test_restore_refuses_a_file_that_is_not_a_backup(app: Flask, tmp_path: Path) -> None:
    store: Store = app.extensions["locator"].store
    before = _state(store)
    junk = tmp_path / "junk.backup"
    junk.write_bytes(b"not a backup at all")
    with pytest.raises(ValidationError):
        store.restore(junk)
    result = app.test_cli_runner().invoke(args=["locator", "restore", str(junk), "--yes"])
    assert result.exit_code == 1 and "not a backup" in result.output
    assert _state(store) == before
