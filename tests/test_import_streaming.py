"""Imports that stream and coexist with serving (issues #11 and #12).

* the streaming import stores exactly what the old whole-file import stored (both stores);
* bad rows are listed up to a cap and counted beyond it; files above
  ``LOCATOR_IMPORT_MAX_ROWS`` are refused before anything is read;
* riders see the old facilities until the import commits; a write made while the import
  is staged succeeds, and the import's history is re-based on it;
* a write that meets the import's final transaction (or any write lock held too long)
  gets 503 problem+json with ``Retry-After``, never a 500, on both stores;
* a 1,000,000-row CSV imports through the command line in bounded memory (``slow``).
"""

from __future__ import annotations

import csv
import fcntl
import json
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from shapely.geometry.base import BaseGeometry

from locator.core.domain import Facility
from locator.core.geo import Datum
from locator.errors import ImportRejectedError, StoreBusyError, ValidationError
from locator.formats.readers import count_records, iter_records
from locator.services.facilities import MAX_LISTED_ERRORS, LocatorService
from locator.stores.postgis import _IMPORT_LOCK, PostGISStore
from locator.stores.sqlite import SQLiteStore

from .conftest import DEMO_LAYER, ROOT, make_app, make_pg_app, open_like
from .manage_support import accounts, make_user, manage_demo_app

PROBLEM = "application/problem+json"
KINDS = ("warm_station", "union_home", "nursing_room")


def svc_of(app: Flask) -> LocatorService:
    svc: LocatorService = app.extensions["locator"]
    return svc


def synthetic_rows(n: int, prefix: str = "imp", seed: int = 5) -> Iterator[dict[str, str]]:
    """``n`` valid facilities in central Beijing (WGS-84), as CSV rows."""
    rng = random.Random(seed)
    for i in range(n):
        kind = KINDS[i % 3]
        yield {
            "id": f"{prefix}-{i:07d}",
            "kind": kind,
            "name": f"示例站点 {i}",
            "address": f"北京市示例路 {i} 号",
            "lon": f"{rng.uniform(116.25, 116.55):.6f}",
            "lat": f"{rng.uniform(39.82, 40.02):.6f}",
            "amenities": "toilet;drinking_water" if kind == "warm_station" else "rest",
            "opening_hours": ("24/7", "Mo-Fr 08:00-18:00", "")[i % 3],
            "source": "test",
        }


def write_csv(path: Path, rows: Iterator[dict[str, str]]) -> Path:
    first = next(rows)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(first))
        w.writeheader()
        w.writerow(first)
        w.writerows(rows)
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def empty_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    """An app over an empty store, once per backend."""
    if request.param == "sqlite":
        app = make_app(tmp_path / "empty.sqlite3")
    else:
        app = make_pg_app(request.getfixturevalue("postgis_url"))
    yield app
    svc_of(app).close()


# --- the same result as the whole-file import ---------------------------------------------


def old_records(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """The records as the whole-file reader (GeoPandas) gave them before imports streamed."""
    gdf = gpd.read_file(path)
    geom = gdf.geometry.name
    out = []
    for i, (_, row) in enumerate(gdf.iterrows(), start=1):
        rec: dict[str, Any] = {}
        for k, v in row.items():
            if k == geom:
                continue
            if hasattr(v, "tolist") and not isinstance(v, str):
                v = v.tolist()
            rec[str(k)] = None if v is None or (isinstance(v, float) and v != v) else v
        g = row[geom]
        ok = isinstance(g, BaseGeometry) and not g.is_empty and g.geom_type == "Point"
        rec["lon"], rec["lat"] = (float(g.x), float(g.y)) if ok else (None, None)
        out.append((i, rec))
    return out


def test_streaming_import_stores_what_the_whole_file_import_stored(empty_app: Flask) -> None:
    svc = svc_of(empty_app)
    expected = {
        f.id: f.replace(updated_at=None, version=1)
        for f in (svc.build({**rec, "demo": True}, Datum.WGS84) for _, rec in old_records(DEMO_LAYER))
    }
    assert len(expected) == 3908
    count = svc.import_file(DEMO_LAYER, Datum.WGS84, demo=True)
    assert count == len(expected)
    stored = svc.store.all()
    assert {f.id: f.replace(updated_at=None) for f in stored} == expected
    assert svc.store.revision() == 1  # one transaction
    assert {f.updated_at for f in stored} == {stored[0].updated_at}
    some = sorted(expected)[:: len(expected) // 7]
    for fid in some:
        (entry,) = svc.store.history(fid)
        assert (entry.action, entry.version, entry.revision) == ("import", 1, 1)
        assert entry.changes["name"] == [None, expected[fid].name]
    assert len(svc.index) == len(expected)  # the importing process's index follows


def test_csv_rows_read_as_pandas_read_them(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(
        "\ufeffid, name ,kind,lon,lat,name\r\n"
        'a,"Line one\nline two",warm_station,116.4,39.9,dup\r\n'
        "\r\n"  # a blank line is skipped
        "b,,union_home,116.5\r\n".encode()
    )
    rows = list(iter_records(path))
    assert rows == [
        (1, {"id": "a", "name": "Line one\nline two", "kind": "warm_station", "lon": "116.4", "lat": "39.9",
             "name.1": "dup"}),
        (2, {"id": "b", "name": None, "kind": "union_home", "lon": "116.5", "lat": None, "name.1": None}),
    ]  # fmt: skip
    assert count_records(path) == 2
    assert count_records(path, at_most=10) <= 4  # the newline bound, without parsing


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("wide.csv", b"id,name\na,b,c\n", "line 2 has 3 fields"),
        ("latin1.csv", "id,name\na,caf\xe9\n".encode("latin-1"), "cannot read CSV"),
        ("empty.csv", b"", "the file is empty"),
        ("list.geojson", b"[1, 2]", "not a GeoJSON FeatureCollection"),
        ("cut.geojson", b'{"type": "FeatureCollection", "features": [{"type": "Feat', "cannot read GeoJSON"),
        (
            "merc.geojson",
            b'{"type": "FeatureCollection", "crs": {"type": "name", "properties": '
            b'{"name": "urn:ogc:def:crs:EPSG::3857"}}, "features": []}',
            "EPSG:4326",
        ),
    ],
)
def test_unreadable_files_are_refused_naming_the_problem(
    tmp_path: Path, name: str, data: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ValidationError, match=message):
        list(iter_records(path))


def test_geojson_features_stream_with_their_points(tmp_path: Path) -> None:
    doc = {
        "features": [
            {"type": "Feature", "id": "top-1",
             "geometry": {"type": "Point", "coordinates": [116.4, 39.9, 50]},
             "properties": {"kind": "warm_station", "name": "A", "amenities": ["toilet"]}},
            {"type": "Feature", "geometry": None, "properties": {"id": "p-2", "name": "B"}},
            {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
             "properties": None},
        ],
        "type": "FeatureCollection",  # after the features: still a collection
    }  # fmt: skip
    path = tmp_path / "f.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert list(iter_records(path)) == [
        (1, {"kind": "warm_station", "name": "A", "amenities": ["toilet"], "id": "top-1",
             "lon": 116.4, "lat": 39.9}),
        (2, {"id": "p-2", "name": "B", "lon": None, "lat": None}),
        (3, {"lon": None, "lat": None}),
    ]  # fmt: skip
    assert count_records(path) == 3


# --- errors: listed up to a cap, files above the maximum refused ---------------------------


def test_bad_rows_beyond_the_cap_are_counted_not_listed(app: Flask, tmp_path: Path) -> None:
    rows = list(synthetic_rows(MAX_LISTED_ERRORS + 600))
    for r in rows[100:]:
        r["kind"] = "hotel"
    path = write_csv(tmp_path / "bad.csv", iter(rows))
    svc = svc_of(app)
    with pytest.raises(ImportRejectedError) as caught:
        svc.import_file(path, Datum.WGS84)
    exc = caught.value
    assert len(exc.row_errors) == MAX_LISTED_ERRORS and exc.unlisted == 500
    assert exc.row_errors[0][0] == 101 and exc.row_errors[-1][0] == 100 + MAX_LISTED_ERRORS
    assert exc.detail.startswith("1500 invalid row(s); nothing was imported; the first 1000")
    result = app.test_cli_runner().invoke(args=["locator", "import", str(path), "--datum", "wgs84"])
    assert result.exit_code == 1
    assert "row 1100:" in result.output and "row 1101:" not in result.output
    assert "and 500 more invalid rows" in result.output
    assert svc.store.count() == 0 and svc.store.revision() == 0


@pytest.mark.parametrize("suffix", [".csv", ".geojson"])
def test_a_file_above_the_maximum_is_refused_up_front(tmp_path: Path, suffix: str) -> None:
    app = make_app(tmp_path / "max.sqlite3", LOCATOR_IMPORT_MAX_ROWS=10)
    path = tmp_path / f"eleven{suffix}"
    rows = list(synthetic_rows(11))
    if suffix == ".csv":
        write_csv(path, iter(rows))
    else:
        feats = [
            {"type": "Feature", "properties": r,
             "geometry": {"type": "Point", "coordinates": [float(r["lon"]), float(r["lat"])]}}
            for r in rows
        ]  # fmt: skip
        path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}), encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["locator", "import", str(path), "--datum", "wgs84"])
    assert result.exit_code == 1
    assert (
        f"eleven{suffix} holds 11 rows; an import takes at most 10 (LOCATOR_IMPORT_MAX_ROWS)" in result.output
    )
    assert svc_of(app).store.count() == 0
    # Ten rows whose values hold newlines: more than ten lines, but ten rows.
    for r in rows:
        r["address"] = "楼上\n楼下"
    write_csv(path.with_suffix(".csv"), iter(rows[:10]))
    result = app.test_cli_runner().invoke(
        args=["locator", "import", str(path.with_suffix(".csv")), "--datum", "wgs84"]
    )
    assert result.exit_code == 0, result.output
    assert svc_of(app).store.count() == 10 and svc_of(app).store.get("imp-0000000").address == "楼上\n楼下"
    svc_of(app).close()


def test_the_stream_guard_refuses_a_file_that_grows_past_the_maximum(app: Flask) -> None:
    svc = svc_of(app)
    rows = ((i, r) for i, r in enumerate(synthetic_rows(30), start=1))
    with pytest.raises(ValidationError, match="more than 20 rows"):
        svc.import_records(rows, Datum.WGS84, max_rows=20, batch=8)
    assert svc.store.count() == 0 and svc.store.revision() == 0


# --- coexisting with serving ------------------------------------------------------------------


@pytest.fixture
def serving(demo_app_factory: Callable[..., Flask]) -> Iterator[Flask]:
    """A demo-layer app (both stores) with an admin; PostGIS statements time out after 1 s."""
    app = manage_demo_app(
        demo_app_factory, LOCATOR_DB_TIMEOUT_S=1, LOCATOR_RATELIMIT_KEYLESS="1000000 per minute"
    )
    make_user(app, "root", "admin")
    yield app


def bearer(app: Flask) -> dict[str, str]:
    _, secret = accounts(app).create_token("root")
    return {"Authorization": f"Bearer {secret}"}


def some_open_station(svc: LocatorService) -> Facility:
    return next(f for f in svc.index.facilities() if f.kind == "warm_station" and f.status == "open")


def patch_name(client: FlaskClient, auth: dict[str, str], fid: str, name: str) -> Any:
    tag = client.get(f"/api/v1/facilities/{fid}").headers["ETag"]
    return client.patch(f"/api/v1/facilities/{fid}", headers={**auth, "If-Match": tag}, json={"name": name})


def test_riders_see_the_old_data_until_the_import_commits_and_writes_go_on(serving: Flask) -> None:
    svc = svc_of(serving)
    client = serving.test_client()
    auth = bearer(serving)
    target = some_open_station(svc)  # the import replaces it; a manager edits it meanwhile
    before_count, before_rev = svc.store.count(), svc.store.revision()
    other = open_like(svc.store)  # another worker's view of the same database
    seen: dict[str, Any] = {}

    def records() -> Iterator[tuple[int, dict[str, Any]]]:
        yield (
            1,
            {
                "id": target.id,
                "kind": "warm_station",
                "name": "导入的名字",
                "lon": target.lon,
                "lat": target.lat,
            },
        )
        for i, r in enumerate(synthetic_rows(450), start=2):
            if i == 300:  # batches of 100: the target and 200 more rows are staged by now
                assert other.count() == before_count and other.revision() == before_rev
                assert client.get("/api/v1/facilities/imp-0000005").status_code == 404
                svc.refresh(force=True)
                assert svc.index.revision == before_rev
                seen["edit"] = patch_name(client, auth, target.id, "经理改的名字")
                seen["version"] = svc.store.get(target.id).version
            yield i, r

    try:
        assert svc.import_records(records(), Datum.WGS84, batch=100) == 451
        assert seen["edit"].status_code == 200  # not blocked by the staging import
        assert other.count() == before_count + 450 and other.revision() == before_rev + 2
    finally:
        other.close()
    stored = svc.store.get(target.id)
    assert stored.name == "导入的名字" and stored.version == seen["version"] + 1
    history = svc.store.history(target.id)
    assert [e.action for e in history[-2:]] == ["update", "import"]
    # re-based: the import's change is recorded from the manager's name, not the original one
    assert history[-1].changes["name"] == ["经理改的名字", "导入的名字"]
    assert client.get("/api/v1/facilities/imp-0000005").status_code == 200
    hits = client.get(f"/api/v1/nearest?lon={target.lon}&lat={target.lat}&limit=1").get_json()["features"]
    assert hits[0]["id"] == target.id and hits[0]["properties"]["name"] == "导入的名字"


def test_a_write_after_a_large_import_does_not_read_the_import(serving: Flask) -> None:
    """The writer's own edit is patched in; the import's rows are left to the background thread."""
    svc = svc_of(serving)
    f = some_open_station(svc)
    svc.keeper.stop()  # no background catch-up: what the write itself reads is what is tested
    other = open_like(svc.store)  # another process imports
    try:
        with other.importing() as imp:
            imp.add(
                [svc.build(r, Datum.WGS84) for r in synthetic_rows(svc.keeper.fold_at + 50, prefix="big")]
            )
    finally:
        other.close()
    reads: list[int] = []
    store = svc.keeper.store
    real = store.changes_since

    def spy(revision: int) -> Any:
        reads.append(threading.get_ident())
        return real(revision)

    store.changes_since = spy  # type: ignore[method-assign]
    try:
        stored = svc.store.update(f.replace(name="导入之后的修改"), f.version)
        svc.written([stored])
    finally:
        del store.changes_since
    assert threading.get_ident() not in reads
    assert svc.index.get(f.id).name == "导入之后的修改"  # pinned in this worker at once


def hold_write_lock(svc: LocatorService) -> Callable[[], None]:
    """Take the store's write lock from another connection; returns its release."""
    store = svc.store
    if isinstance(store, SQLiteStore):
        conn = sqlite3.connect(store.path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")

        def release_sqlite() -> None:
            conn.execute("ROLLBACK")
            conn.close()

        return release_sqlite
    assert isinstance(store, PostGISStore)
    pg = psycopg.connect(store.url)
    pg.execute("UPDATE store_revision SET value = value")  # the row lock every facility write takes

    def release_pg() -> None:
        pg.rollback()
        pg.close()

    return release_pg


def test_a_write_that_waits_too_long_for_the_lock_gets_503_with_retry_after(serving: Flask) -> None:
    svc = svc_of(serving)
    client = serving.test_client()
    auth = bearer(serving)
    f = some_open_station(svc)
    release = hold_write_lock(svc)
    try:
        resp = patch_name(client, auth, f.id, "等不到锁")
    finally:
        release()
    assert resp.status_code == 503, resp.get_data(as_text=True)
    assert resp.mimetype == PROBLEM and resp.get_json()["status"] == 503
    assert 1 <= int(resp.headers["Retry-After"]) <= 10
    assert svc.store.get(f.id).name == f.name  # nothing written
    again = patch_name(client, auth, f.id, "等到了")
    assert again.status_code == 200 and svc.store.get(f.id).name == "等到了"


def test_writes_fail_at_once_while_an_import_commits(serving: Flask) -> None:
    """No worker waits for an import's final transaction: 503 + Retry-After at once."""
    svc = svc_of(serving)
    client = serving.test_client()
    auth = bearer(serving)
    f = some_open_station(svc)
    store = svc.store
    if isinstance(store, SQLiteStore):
        fd = os.open(store._import_lock_path, os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)  # as SQLiteStore._merging holds it

        def release() -> None:
            os.close(fd)

    else:
        assert isinstance(store, PostGISStore)
        pg = psycopg.connect(store.url, autocommit=True)
        pg.execute("SELECT pg_advisory_lock(%s)", (_IMPORT_LOCK,))  # as PostGISStore._merging holds it

        def release() -> None:
            pg.close()

    try:
        t0 = time.perf_counter()
        resp = patch_name(client, auth, f.id, "导入提交时的修改")
        took = time.perf_counter() - t0
    finally:
        release()
    assert resp.status_code == 503 and resp.mimetype == PROBLEM
    assert resp.headers["Retry-After"] == "5" and "import is being committed" in resp.get_json()["detail"]
    assert took < 2.5  # at once, not after the 5 s lock wait (a bound for loaded CI cores)
    assert patch_name(client, auth, f.id, "导入之后").status_code == 200


def test_the_store_names_a_busy_database_as_busy(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "busy.sqlite3", timeout_s=0.2)
    store.init_schema()
    holder = sqlite3.connect(store.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreBusyError) as caught:
            store.add(Facility("a", "warm_station", "A", 116.4, 39.9))
        assert caught.value.status == 503 and caught.value.headers["Retry-After"] == "2"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert store.add(Facility("a", "warm_station", "A", 116.4, 39.9)).version == 1
    store.close()


def test_patches_during_a_real_import_get_2xx_or_503_never_500(serving: Flask) -> None:
    svc = svc_of(serving)
    client = serving.test_client()
    auth = bearer(serving)
    f = some_open_station(svc)
    before = svc.store.count()
    outcome: dict[str, Any] = {}

    def run_import() -> None:
        try:
            rows = ((i, r) for i, r in enumerate(synthetic_rows(12_000, prefix="bg"), start=1))
            outcome["count"] = svc.import_records(rows, Datum.WGS84, batch=1_000)
        except BaseException as exc:  # reported below
            outcome["error"] = exc

    worker = threading.Thread(target=run_import)
    worker.start()
    statuses: list[int] = []
    n = 0
    while worker.is_alive() or n < 3:
        n += 1
        resp = patch_name(client, auth, f.id, f"并发修改 {n}")
        statuses.append(resp.status_code)
        if resp.status_code == 503:
            assert resp.mimetype == PROBLEM and int(resp.headers["Retry-After"]) >= 1
        time.sleep(0.01)
    worker.join()
    assert "error" not in outcome, outcome.get("error")
    assert outcome["count"] == 12_000 and svc.store.count() == before + 12_000
    assert set(statuses) <= {200, 503} and statuses.count(200) >= 3, statuses


# --- a million rows in bounded memory ---------------------------------------------------------

#: Peak resident memory allowed to a 1,000,000-row CLI import (issue #12: 2 GB).
MAX_RSS_BYTES = 2 * 10**9


@pytest.mark.slow
def test_a_million_row_csv_imports_through_the_cli_in_bounded_memory(tmp_path: Path) -> None:
    n = 1_000_000
    path = write_csv(tmp_path / "million.csv", synthetic_rows(n, prefix="m"))
    db = tmp_path / "million.sqlite3"
    env = {
        **os.environ,
        "LOCATOR_DATABASE_URL": f"sqlite:///{db}",
        "LOCATOR_INDEX_DIR": str(tmp_path / "index"),
        "LOCATOR_SECRET_KEY": "test-secret-key-0123456789",
    }
    # A wrapper whose only child is the CLI, so that RUSAGE_CHILDREN is the CLI's own peak.
    wrapper = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:])\n"
        "print('maxrss_kib', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "sys.exit(done.returncode)\n"
    )
    cli = [sys.executable, "-m", "flask", "--app", "app", "locator", "import", str(path), "--datum", "wgs84"]
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", wrapper, *cli], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Imported {n} facilities" in done.stdout
    peak = int(done.stdout.split("maxrss_kib")[-1].split()[0]) * 1024
    print(f"1M-row CSV import: peak RSS {peak / 2**20:.0f} MiB")
    assert peak <= MAX_RSS_BYTES
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT revision) FROM facilities").fetchone() == (n, 1)
        assert conn.execute("SELECT count(*) FROM facility_history").fetchone() == (n,)
