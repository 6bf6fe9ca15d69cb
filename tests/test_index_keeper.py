"""IndexKeeper: start-up from snapshots, following the store in the background, folds, own writes.

Apps over one SQLite file (and one PostGIS database) stand for gunicorn workers of one
machine: they share the snapshot directory next to the store (see conftest.make_app).
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from locator.core.domain import Facility, NearestQuery
from locator.core.geo import Datum
from locator.services import index_keeper
from locator.services.facilities import LocatorService
from locator.services.index_keeper import SUFFIX, IndexKeeper, build_from_store, read_facilities

from .conftest import make_app, make_pg_app

Q = NearestQuery(116.3376, 39.9925, k=10)


def svc(app: Flask) -> LocatorService:
    s: LocatorService = app.extensions["locator"]
    return s


def wait_for(check: Callable[[], Any], timeout_s: float = 2.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        got = check()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.005)


def snapshots(app: Flask) -> list[Path]:
    return sorted(Path(app.config["LOCATOR_INDEX_DIR"]).glob(f"*{SUFFIX}"))


def view(s: LocatorService) -> tuple[object, ...]:
    idx = s.index
    return (idx.revision, idx.facilities(), [(h.facility.id, h.distance_m) for h in idx.nearest(Q)])


def no_rebuild(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_: object, **__: object) -> None:
        raise AssertionError("the index was rebuilt from the rows")

    monkeypatch.setattr(index_keeper, "build_from_store", fail)


@pytest.fixture
def demo_copy(tmp_path: Path, demo_db: Path) -> Path:
    path = tmp_path / "demo.sqlite3"
    shutil.copy(demo_db, path)
    return path


def test_second_worker_starts_from_the_first_ones_snapshot(
    demo_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = make_app(demo_copy)
    try:
        files = snapshots(first)
        assert len(files) == 1 and svc(first).index.revision == svc(first).store.revision()
        no_rebuild(monkeypatch)
        second = make_app(demo_copy)
        try:
            assert view(svc(second)) == view(svc(first))
            assert snapshots(second) == files
            # Both map the same file: its columns are read-only views, not private copies.
            lon = svc(second).index._base.lon
            assert not lon.flags.writeable and not lon.flags.owndata
        finally:
            svc(second).close()
    finally:
        svc(first).close()


def test_start_up_catches_up_with_writes_after_the_snapshot(
    demo_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(demo_copy)
    s = svc(app)
    victim = s.store.all()[5]
    s.close()
    store_app = make_app(demo_copy, LOCATOR_INDEX_DIR="none")  # writes without touching snapshots
    w = svc(store_app)
    moved = w.update(victim.id, {"lon": 116.3376, "lat": 39.9925}, expected_version=victim.version)
    new = w.create({"kind": "warm_station", "name": "Later", "lon": 116.3377, "lat": 39.9925}, Datum.WGS84)
    w.close()
    no_rebuild(monkeypatch)
    again = make_app(demo_copy)
    try:
        idx = svc(again).index
        assert idx.get(victim.id) == moved and idx.get(new.id) == new
        assert idx.revision == svc(again).store.revision()
        assert [h.facility.id for h in idx.nearest(NearestQuery(116.3376, 39.9925, k=2))] == [
            victim.id,
            new.id,
        ]
    finally:
        svc(again).close()


def test_a_snapshot_that_disagrees_with_the_store_is_rebuilt(
    tmp_path: Path, demo_copy: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Same identity, other content (a database recreated under one name): count/sample catch it."""
    monkeypatch.setattr(index_keeper, "store_identity", lambda store: "one-name-for-two-databases")
    shared = {"LOCATOR_INDEX_DIR": str(tmp_path / "shared-index")}
    first = make_app(demo_copy, **shared)
    svc(first).close()
    other = tmp_path / "other.sqlite3"
    lone = make_app(other, LOCATOR_INDEX_DIR="none")
    for i in range(svc(first).index.revision + 1):  # reach at least the snapshot's revision
        svc(lone).create(
            {"kind": "union_home", "name": f"U{i}", "lon": 116.4 + i / 1e4, "lat": 39.9}, Datum.WGS84
        )
    svc(lone).close()
    with caplog.at_level(logging.WARNING, logger="locator.services.index_keeper"):
        second = make_app(other, **shared)
    try:
        assert "disagrees with the store" in caplog.text
        assert svc(second).index.facilities() == svc(second).store.all()
    finally:
        svc(second).close()


def test_corrupt_snapshot_is_ignored_and_replaced(demo_copy: Path, caplog: pytest.LogCaptureFixture) -> None:
    app = make_app(demo_copy)
    expected = view(svc(app))
    svc(app).close()
    (path,) = snapshots(app)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="locator.services.index_keeper"):
        again = make_app(demo_copy)
    try:
        assert "ignoring index snapshot" in caplog.text and "checksum" in caplog.text
        assert view(svc(again)) == expected
        (rewritten,) = snapshots(again)
        assert rewritten.read_bytes() != bytes(data)
    finally:
        svc(again).close()


def test_requests_never_touch_the_store_for_the_index(demo_app: Flask) -> None:
    """Per request the index costs one attribute read: no revision query, no change set."""
    s = svc(demo_app)
    client = demo_app.test_client()
    assert client.get("/api/v1/nearest?lon=116.3376&lat=39.9925").status_code == 200
    s.keeper.stop()  # the background thread is the only one that asks the store
    calls: list[str] = []
    for name in ("revision", "changes_since", "all", "list", "count"):
        real = getattr(s.keeper.store, name)

        def spy(*a: Any, _real: Any = real, _name: str = name, **k: Any) -> Any:
            calls.append(_name)
            return _real(*a, **k)

        setattr(s.keeper.store, name, spy)
    for _ in range(20):
        r = client.get("/api/v1/nearest?lon=116.3376&lat=39.9925&kind=warm_station&limit=5")
        assert r.status_code == 200 and len(r.get_json()["features"]) == 5
    assert calls == []


def test_other_workers_write_is_applied_in_the_background(demo_copy: Path) -> None:
    a, b = make_app(demo_copy), make_app(demo_copy)
    try:
        svc(b).nearest(Q)  # starts b's background thread
        f = svc(a).store.all()[7]
        moved = svc(a).update(f.id, {"lon": 116.3376, "lat": 39.9925}, expected_version=f.version)
        assert svc(a).index.get(f.id) == moved  # the writer: at once
        assert wait_for(lambda: svc(b).index.get(f.id) == moved, 1.0)  # the other: in the background
        assert svc(b).index.revision == svc(a).index.revision == svc(a).store.revision()
        assert svc(b).nearest(NearestQuery(116.3376, 39.9925, k=1))[0].facility == moved
    finally:
        svc(a).close()
        svc(b).close()


def test_overlay_is_folded_in_the_background_and_saved(demo_copy: Path) -> None:
    a, b = make_app(demo_copy), make_app(demo_copy)
    try:
        keeper = svc(b).keeper
        keeper._fold_at = 5
        svc(b).nearest(Q)
        first_snapshot = snapshots(b)
        for f in svc(a).store.all()[:12]:
            svc(a).update(f.id, {"name": f.name + " *"}, expected_version=f.version)
            time.sleep(0.02)
        target = svc(a).store.revision()
        assert wait_for(lambda: keeper.index.revision == target and keeper.index.overlay_size <= 5, 5.0)
        assert wait_for(lambda: not keeper._folding, 5.0)
        assert keeper.index.base_revision > 0 and keeper.index.facilities() == svc(a).store.all()
        assert snapshots(b) != first_snapshot  # a newer base was written (the older one removed)
        assert len(snapshots(b)) == 1
    finally:
        svc(a).close()
        svc(b).close()


def test_a_large_change_set_is_folded_before_it_is_published(demo_copy: Path) -> None:
    a, b = make_app(demo_copy), make_app(demo_copy)
    try:
        keeper = svc(b).keeper
        svc(b).nearest(Q)
        before = keeper.index
        rows = [
            (
                i,
                {
                    "id": f"bulk-{i:04d}",
                    "kind": "warm_station",
                    "name": f"B{i}",
                    "lon": 116.2 + i / 1e4,
                    "lat": 39.8,
                },
            )
            for i in range(keeper.fold_at + 50)
        ]
        svc(a).import_records(rows, Datum.WGS84)
        target = svc(a).store.revision()
        seen: list[int] = []

        def published() -> bool:
            idx = keeper.index
            seen.append(idx.overlay_size if idx is not before else -1)
            return idx.revision == target

        assert wait_for(published, 10.0)
        assert max(seen) <= 0  # never an index with the huge overlay
        assert keeper.index.get("bulk-0007") is not None and len(keeper.index) == svc(a).store.count()
    finally:
        svc(a).close()
        svc(b).close()


def test_own_write_is_pinned_when_the_background_is_busy(demo_app: Flask) -> None:
    s = svc(demo_app)
    f = s.store.all()[3]
    with s.keeper._catchup_lock:  # the background thread is busy with a large change set
        moved = s.update(f.id, {"name": "Pinned"}, expected_version=f.version)
        assert s.index.get(f.id) == moved and s.index.pins == {f.id: s.store.revision()}
        assert s.index.revision < s.store.revision()
    s.refresh(force=True)
    assert s.index.pins == {} and s.index.get(f.id) == moved and s.index.revision == s.store.revision()


def test_read_facilities_in_bands_reads_every_facility_once_or_twice(demo_app: Flask) -> None:
    store = svc(demo_app).store
    chunks = list(read_facilities(store, chunk=500))
    assert len(chunks) > 8 and max(map(len, chunks)) <= 500
    ids = [f.id for chunk in chunks for f in chunk]
    assert set(ids) == {f.id for f in store.all()}
    idx = build_from_store(store, chunk=500)
    assert idx.facilities() == store.all() and idx.overlay_size == 0


def test_keeper_without_snapshot_dir_builds_from_rows(demo_app: Flask) -> None:
    k = IndexKeeper(svc(demo_app).store, snapshot_dir=None)
    idx = k.start_up()
    assert idx.facilities() == svc(demo_app).store.all()
    k.stop()


@pytest.mark.postgis
def test_postgis_workers_share_a_snapshot_and_follow_writes(postgis_url: str, tmp_path: Path) -> None:
    cfg = {"LOCATOR_INDEX_DIR": str(tmp_path / "index")}
    a = make_pg_app(postgis_url, **cfg)
    try:
        for i in range(30):
            svc(a).create(
                {"kind": "warm_station", "name": f"S{i}", "lon": 116.30 + i / 1e3, "lat": 39.99}, Datum.WGS84
            )
        svc(a).keeper._step()
        b = make_pg_app(postgis_url, **cfg)
        try:
            assert len(list((tmp_path / "index").glob(f"*{SUFFIX}"))) == 1
            assert svc(b).index.facilities() == svc(a).index.facilities()
            svc(b).nearest(Q)
            created: Facility = svc(a).create(
                {"kind": "warm_station", "name": "New", "lon": 116.3376, "lat": 39.9925}, Datum.WGS84
            )
            assert wait_for(lambda: svc(b).index.get(created.id) == created, 1.0)
            assert svc(b).nearest(NearestQuery(116.3376, 39.9925, k=1))[0].facility.id == created.id
        finally:
            svc(b).close()
    finally:
        svc(a).close()


def test_has_snapshot_checks_store_and_code_without_loading(
    demo_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{demo_copy}"
    index_dir = demo_copy.parent / "index"
    assert not index_keeper.has_snapshot(url, index_dir)
    app = make_app(demo_copy)
    svc(app).close()
    assert index_keeper.has_snapshot(url, index_dir)
    assert not index_keeper.has_snapshot(f"sqlite:///{demo_copy.parent / 'other.sqlite3'}", index_dir)
    monkeypatch.setattr(index_keeper, "layout_hash", lambda: "another version of the code")
    assert not index_keeper.has_snapshot(url, index_dir)


def test_cli_index_snapshot_writes_the_current_revision(demo_copy: Path) -> None:
    app = make_app(demo_copy)
    s = svc(app)
    f = s.store.all()[0]
    s.store.update(f.replace(name="Renamed"), f.version)  # behind the snapshot and the index
    result = app.test_cli_runner().invoke(args=["locator", "index-snapshot"])
    assert result.exit_code == 0, result.output
    revision = s.store.revision()
    assert f"at revision {revision}" in result.output
    (path,) = snapshots(app)
    assert path.name.endswith(f"-{revision:012d}{SUFFIX}")
    assert s.index.overlay_size == 0 and s.index.get(f.id).name == "Renamed"
    s.close()
