"""One conformance suite for the store contract (locator/stores/contract.py), run on every backend.

Every test taking ``store`` runs twice: on the embedded SQLite store and on PostGIS (a
fresh database cloned from the migrated template; see conftest.py). The last part
covers what only a server database has: several app instances on one database, a
database stopped and restarted under a running app, and an unreachable database.
"""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import port_for
import psycopg
import pytest
from flask import Flask

from locator import create_app
from locator.core.domain import Facility, Feedback, NearestQuery, validate_facility
from locator.core.geo import Datum
from locator.core.hours import TZ
from locator.core.index import FacilityIndex
from locator.errors import (
    ConflictError,
    NotFoundError,
    StoreUnavailableError,
    VersionConflictError,
)
from locator.services.facilities import LocatorService
from locator.stores.contract import Actor, CheckedBatchStore, FacilityStore, ListFilter, Report, ReportStore
from locator.stores.postgis import MIGRATIONS, PostGISStore
from locator.stores.sqlite import SQLiteStore

from .conftest import ROOT, ThrowawayCluster, add_problem_report, make_app, make_pg_app, open_like

INTEGRITY_ERRORS = (sqlite3.IntegrityError, psycopg.IntegrityError)
DB_ERRORS = (sqlite3.DatabaseError, psycopg.Error)

BASE = Facility(
    id="base",
    kind="warm_station",
    name="Station",
    lon=116.3376,
    lat=39.9925,
    address="Haidian",
    amenities=frozenset({"toilet", "drinking_water"}),
    opening_hours="Mo-Su 08:00-20:00",
    host_type="bank",
    phone="010-1234 5678",
    district_adcode="110108",
    district_name="海淀区",
    subdistrict="学院路街道",
    verified_at=datetime(2026, 10, 26, 15, 15, tzinfo=TZ),
    source="test",
)


def fac(fid: str, **changes: Any) -> Facility:
    """A valid facility with id ``fid`` (WGS-84, in Beijing)."""
    return validate_facility(BASE.replace(id=fid, **changes))


def raw_execute(store: FacilityStore, statement: str) -> None:
    """Run SQL on the store's database through a separate, plain connection."""
    if isinstance(store, SQLiteStore):
        conn = sqlite3.connect(store.path)
        try:
            conn.execute(statement)
            conn.commit()
        finally:
            conn.close()
    else:
        assert isinstance(store, PostGISStore)
        with psycopg.connect(store.url, autocommit=True) as pg:
            pg.execute(statement.encode())


def wait_until(predicate: Callable[[], bool], timeout_s: float, step_s: float = 0.005) -> float | None:
    """Seconds until ``predicate()`` held, or None if it did not within ``timeout_s``."""
    t0 = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout_s:
            return None
        time.sleep(step_s)


# --- CRUD ------------------------------------------------------------------------------


def test_empty_store(store: FacilityStore) -> None:
    assert store.revision() == 0
    assert store.list() == []
    assert store.count() == 0
    assert store.changes_since(0).changed == []
    assert store.history("nope") == []
    with pytest.raises(NotFoundError):
        store.get("nope")


def test_add_then_get_round_trips_every_field(store: FacilityStore) -> None:
    f = fac(
        "a1", status="temporarily_closed", status_until=date(2026, 12, 1), status_reason="repairs", demo=True
    )
    before = datetime.now(UTC)
    stored = store.add(f, Actor("alice", "new station"))
    assert stored.version == 1
    assert stored.updated_at is not None and stored.updated_at.tzinfo is not None
    assert before - timedelta(seconds=1) <= stored.updated_at <= datetime.now(UTC) + timedelta(seconds=1)
    got = store.get("a1")
    assert got == stored  # instants compare as instants
    assert got.amenities == frozenset({"toilet", "drinking_water"})
    assert got.status_until == date(2026, 12, 1)
    assert got.verified_at == datetime(2026, 10, 26, 7, 15, tzinfo=UTC)
    assert got.verified_at is not None and got.verified_at.utcoffset() == timedelta(hours=8)
    assert (got.lon, got.lat) == (116.3376, 39.9925)  # degrees round-trip exactly
    assert got.demo is True
    assert store.revision() == 1
    assert store.count() == 1


def test_duplicate_add_is_a_conflict_and_writes_nothing(store: FacilityStore) -> None:
    store.add(fac("a1"))
    with pytest.raises(ConflictError):
        store.add(fac("a1", name="Other"))
    assert store.get("a1").name == "Station"
    assert store.revision() == 1
    assert len(store.history("a1")) == 1


def test_update_bumps_version_and_revision(store: FacilityStore) -> None:
    v1 = store.add(fac("a1"))
    v2 = store.update(v1.replace(name="Renamed"), expected_version=1)
    assert v2.version == 2 and v2.name == "Renamed"
    assert store.get("a1") == v2
    assert v2.updated_at is not None and v1.updated_at is not None and v2.updated_at >= v1.updated_at
    v3 = store.update(v2, expected_version=2)  # a save that changes nothing still counts
    assert v3.version == 3
    assert store.revision() == 3


def test_stale_version_is_rejected_with_the_current_version(store: FacilityStore) -> None:
    v1 = store.add(fac("a1"))
    store.update(v1.replace(name="First"), expected_version=1)
    with pytest.raises(VersionConflictError) as err:
        store.update(v1.replace(name="Second"), expected_version=1)
    assert err.value.current_version == 2
    assert store.get("a1").name == "First"
    assert store.revision() == 2
    with pytest.raises(VersionConflictError) as err:
        store.delete("a1", expected_version=1)
    assert err.value.current_version == 2
    assert store.count() == 1


def test_unknown_ids_are_not_found(store: FacilityStore) -> None:
    with pytest.raises(NotFoundError):
        store.update(fac("ghost"), expected_version=1)
    with pytest.raises(NotFoundError):
        store.delete("ghost", expected_version=1)
    assert store.revision() == 0


def test_delete(store: FacilityStore) -> None:
    store.add(fac("a1"))
    store.add(fac("a2"))
    store.delete("a1", expected_version=1)
    assert [f.id for f in store.all()] == ["a2"]
    with pytest.raises(NotFoundError):
        store.get("a1")
    assert store.revision() == 3


def test_init_schema_is_idempotent(store: FacilityStore) -> None:
    store.add(fac("a1"))
    store.init_schema()
    store.init_schema()
    assert store.get("a1").version == 1
    assert store.revision() == 1


# --- list filters ----------------------------------------------------------------------


@pytest.fixture
def filled(store: FacilityStore) -> FacilityStore:
    rows = [
        fac("b-1", kind="warm_station", lon=116.30, lat=39.90, amenities=frozenset({"toilet"})),
        fac("B_2", kind="union_home", lon=116.40, lat=39.95, amenities=frozenset({"toilet", "wifi"})),
        fac("a.3", kind="nursing_room", lon=116.50, lat=40.00, amenities=frozenset(), status="removed"),
        fac(
            "A:4",
            kind="warm_station",
            lon=116.20,
            lat=39.80,
            status="temporarily_closed",
            district_adcode="110105",
            district_name="朝阳区",
        ),
        fac("a-5", kind="union_home", lon=116.30, lat=40.00, amenities=frozenset({"wifi", "rest"})),
        fac(
            "a5", kind="warm_station", lon=116.45, lat=39.85, amenities=frozenset({"wifi", "toilet", "rest"})
        ),
    ]
    for f in rows:
        store.add(f)
    return store


def ids(facilities: list[Facility]) -> list[str]:
    return [f.id for f in facilities]


def test_list_is_in_byte_order_of_ids(filled: FacilityStore) -> None:
    everything = filled.list()
    assert ids(everything) == sorted(ids(everything))  # Python's order: code points
    assert ids(everything) == ["A:4", "B_2", "a-5", "a.3", "a5", "b-1"]
    assert filled.all() == everything


def test_list_limit_offset(filled: FacilityStore) -> None:
    assert ids(filled.list(limit=2)) == ["A:4", "B_2"]
    assert ids(filled.list(limit=2, offset=2)) == ["a-5", "a.3"]
    assert ids(filled.list(limit=10, offset=5)) == ["b-1"]
    assert filled.list(limit=10, offset=6) == []


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (ListFilter(), ["A:4", "B_2", "a-5", "a.3", "a5", "b-1"]),
        (ListFilter(bbox=(116.30, 39.85, 116.45, 40.00)), ["B_2", "a-5", "a5", "b-1"]),  # edges inclusive
        (ListFilter(bbox=(116.31, 39.91, 116.39, 39.99)), []),
        (ListFilter(kinds=frozenset({"warm_station"})), ["A:4", "a5", "b-1"]),
        (ListFilter(kinds=frozenset()), []),
        (ListFilter(statuses=frozenset({"open"})), ["B_2", "a-5", "a5", "b-1"]),
        (ListFilter(statuses=frozenset({"removed", "temporarily_closed"})), ["A:4", "a.3"]),
        (ListFilter(amenities=frozenset({"toilet"})), ["A:4", "B_2", "a5", "b-1"]),
        (ListFilter(amenities=frozenset({"toilet", "wifi"})), ["B_2", "a5"]),
        (ListFilter(amenities=frozenset({"wifi", "rest", "toilet"})), ["a5"]),
        (ListFilter(district_adcodes=frozenset({"110105"})), ["A:4"]),
        (
            ListFilter(district_adcodes=frozenset({"110108", "110105"})),
            ["A:4", "B_2", "a-5", "a.3", "a5", "b-1"],
        ),
        (ListFilter(ids=frozenset({"a5", "b-1", "nope"})), ["a5", "b-1"]),
        (
            ListFilter(
                kinds=frozenset({"warm_station", "union_home"}),
                statuses=frozenset({"open"}),
                amenities=frozenset({"wifi"}),
                bbox=(116.0, 39.0, 116.42, 41.0),
            ),
            ["B_2", "a-5"],
        ),
    ],
)
def test_list_filters(filled: FacilityStore, flt: ListFilter, expected: list[str]) -> None:
    assert ids(filled.list(flt)) == expected
    assert filled.count(flt) == len(expected)


def test_list_modified_since(filled: FacilityStore) -> None:
    cut = max(f.updated_at for f in filled.all() if f.updated_at is not None)
    time.sleep(0.01)
    updated = filled.update(filled.get("a5").replace(name="Later"), expected_version=1)
    assert ids(filled.list(ListFilter(modified_since=cut))) == ["a5"]
    assert updated.updated_at is not None
    assert filled.list(ListFilter(modified_since=updated.updated_at)) == []
    assert filled.count(ListFilter(modified_since=cut - timedelta(days=1))) == 6


# --- history ---------------------------------------------------------------------------


def test_history_records_every_write_with_field_diffs(store: FacilityStore) -> None:
    v1 = store.add(fac("a1"), Actor("alice", "new"))
    store.update(v1.replace(name="Renamed", amenities=frozenset({"wifi"})), 1, Actor("bob", "fix name"))
    store.import_many([fac("a1", name="Imported")], Actor("import", "file.geojson"))
    store.delete("a1", 3, Actor("carol", "closed for good"))
    h = store.history("a1")
    assert [e.action for e in h] == ["create", "update", "import", "delete"]
    assert [e.version for e in h] == [1, 2, 3, 0]
    assert [e.revision for e in h] == [1, 2, 3, 4]
    assert [(e.actor, e.reason) for e in h] == [
        ("alice", "new"),
        ("bob", "fix name"),
        ("import", "file.geojson"),
        ("carol", "closed for good"),
    ]
    assert [e.seq for e in h] == sorted(e.seq for e in h)
    assert all(e.facility_id == "a1" and e.at.tzinfo is not None for e in h)
    assert h[0].changes["name"] == [None, "Station"]
    assert h[0].changes["lon"] == [None, 116.3376]
    assert h[1].changes == {
        "name": ["Station", "Renamed"],
        "amenities": [["drinking_water", "toilet"], ["wifi"]],
    }
    # The import restates verified_at (same instant): only real changes are recorded.
    assert h[2].changes == {
        "name": ["Renamed", "Imported"],
        "amenities": [["wifi"], ["drinking_water", "toilet"]],
    }
    assert h[3].changes["name"] == ["Imported", None]
    assert store.history("other") == []


def test_failed_writes_leave_no_history(store: FacilityStore) -> None:
    store.add(fac("a1"))
    with pytest.raises(VersionConflictError):
        store.update(fac("a1", name="x"), expected_version=7)
    with pytest.raises(ConflictError):
        store.add(fac("a1"))
    assert len(store.history("a1")) == 1


@pytest.mark.parametrize(
    "statement", ["UPDATE facility_history SET actor = 'mallory'", "DELETE FROM facility_history"]
)
def test_history_is_append_only_in_the_database(store: FacilityStore, statement: str) -> None:
    store.add(fac("a1"))
    with pytest.raises(DB_ERRORS, match="append-only"):
        raw_execute(store, statement)
    assert [e.actor for e in store.history("a1")] == ["system"]


# --- import ----------------------------------------------------------------------------


def test_import_inserts_and_replaces_in_one_revision(store: FacilityStore) -> None:
    store.add(fac("a1"))
    store.update(store.get("a1").replace(name="Edited"), 1)
    assert store.import_many([fac("a1", name="From file"), fac("a2"), fac("a3")]) == 3
    assert store.revision() == 3
    assert {f.id: f.version for f in store.all()} == {"a1": 3, "a2": 1, "a3": 1}
    assert store.get("a1").name == "From file"  # authoritative, whatever the version
    assert {f.id for f in store.changes_since(2).changed} == {"a1", "a2", "a3"}
    assert store.import_many([fac("a2"), fac("a3")]) == 2
    assert {f.id: f.version for f in store.all()} == {"a1": 3, "a2": 2, "a3": 2}


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": "bogus"},
        {"status": "bogus"},
        {"lat": 95.0},
        {"lon": -181.0},
        {"name": "   "},
    ],
    ids=["kind", "status", "lat", "lon", "name"],
)
def test_import_is_all_or_nothing(store: FacilityStore, bad: dict[str, Any]) -> None:
    store.add(fac("keep"))
    bad_row = BASE.replace(id="bad", **bad)  # not validated: the schema must refuse it
    rows = [fac("new-1"), fac("keep", name="Replaced"), fac("new-2"), bad_row, fac("new-3")]
    with pytest.raises(INTEGRITY_ERRORS):
        store.import_many(rows)
    assert ids(store.all()) == ["keep"]
    assert store.get("keep").name == "Station" and store.get("keep").version == 1
    assert store.revision() == 1
    assert store.history("new-1") == [] and len(store.history("keep")) == 1
    assert store.changes_since(0).revision == 1
    # the store still works after the rolled-back transaction
    assert store.import_many([fac("new-1")]) == 1
    assert store.revision() == 2


def test_import_rejects_duplicate_ids_and_writes_nothing(store: FacilityStore) -> None:
    with pytest.raises(ConflictError):
        store.import_many([fac("a1"), fac("a2"), fac("a1", name="again")])
    assert store.count() == 0 and store.revision() == 0


def test_an_import_streams_batches_into_one_revision(store: FacilityStore) -> None:
    store.add(fac("b0"))
    other = open_like(store)
    try:
        with store.importing(Actor("import", "big.csv")) as imp:
            imp.add([fac(f"b{i}", name=f"N{i}") for i in range(0, 3)])
            imp.add([])
            imp.add([fac(f"b{i}", name=f"N{i}") for i in range(3, 7)])
            assert imp.staged == 7
            # staged, not written: every reader still sees the store as it was
            assert other.count() == 1 and other.revision() == 1 and store.revision() == 1
            assert other.get("b0").name == "Station"
        assert imp.revision == 2
    finally:
        other.close()
    assert store.revision() == 2 and store.count() == 7
    assert {f.id: f.version for f in store.all()} == {"b0": 2, **{f"b{i}": 1 for i in range(1, 7)}}
    assert store.count_changes_since(1) == 7 and store.count_changes_since(2) == 0
    entries = [store.history(f"b{i}")[-1] for i in range(7)]
    assert [(e.action, e.revision, e.actor, e.reason) for e in entries] == [
        ("import", 2, "import", "big.csv")
    ] * 7
    assert [e.seq for e in entries] == sorted(e.seq for e in entries)  # in staging order
    assert entries[0].changes == {"name": ["Station", "N0"]}


def test_an_import_that_fails_or_repeats_an_id_across_batches_writes_nothing(store: FacilityStore) -> None:
    store.add(fac("keep"))
    with pytest.raises(ConflictError):
        with store.importing() as imp:
            imp.add([fac("x1"), fac("x2")])
            imp.add([fac("x3"), fac("x1", name="again")])
    with pytest.raises(RuntimeError):
        with store.importing() as imp:
            imp.add([fac("y1"), fac("keep", name="Replaced")])
            raise RuntimeError("the reader failed half-way")
    with store.importing() as imp:
        pass  # nothing staged: no revision
    assert imp.revision is None
    assert ids(store.all()) == ["keep"] and store.get("keep").name == "Station"
    assert store.revision() == 1 and store.history("x1") == [] and store.count_changes_since(0) == 1


def test_an_import_rebases_on_writes_made_while_it_was_staged(store: FacilityStore) -> None:
    a = store.add(fac("a"))
    store.add(fac("gone"))
    with store.importing() as imp:
        imp.add([fac("a", name="Imported"), fac("gone", name="Back"), fac("new", name="New")])
        store.update(a.replace(name="Edited meanwhile"), 1)  # not blocked by the import
        store.delete("gone", 1)
        store.add(fac("new", name="Created meanwhile"))
    assert imp.revision == 6
    assert {f.id: (f.name, f.version) for f in store.all()} == {
        "a": ("Imported", 3),
        "gone": ("Back", 1),
        "new": ("New", 2),
    }
    assert store.history("a")[-1].changes == {"name": ["Edited meanwhile", "Imported"]}
    assert store.history("gone")[-1].changes["name"] == [None, "Back"]
    assert store.history("new")[-1].changes == {"name": ["Created meanwhile", "New"]}
    assert store.changes_since(5).deleted_ids == []


def test_single_writes_violating_the_schema_write_nothing(store: FacilityStore) -> None:
    with pytest.raises(INTEGRITY_ERRORS):
        store.add(BASE.replace(id="bad", kind="bogus"))
    assert store.count() == 0 and store.revision() == 0 and store.history("bad") == []


# --- change feed -----------------------------------------------------------------------


def test_change_feed_with_deletes_and_recreation(store: FacilityStore) -> None:
    store.add(fac("a1"))  # r1
    store.add(fac("a2"))  # r2
    store.update(store.get("a1").replace(name="A1"), 1)  # r3
    store.delete("a2", 1)  # r4
    feed = store.changes_since(0)
    assert feed.revision == 4
    assert ids(feed.changed) == ["a1"] and feed.deleted_ids == ["a2"]
    feed = store.changes_since(3)
    assert feed.changed == [] and feed.deleted_ids == ["a2"]
    assert store.changes_since(4) == type(feed)(4, [], [])
    store.add(fac("a2", name="Back"))  # r5: re-created, no longer deleted
    feed = store.changes_since(3)
    assert ids(feed.changed) == ["a2"] and feed.deleted_ids == []
    assert store.get("a2").version == 1
    store.delete("a2", 1)  # r6
    store.import_many([fac("a2", name="Imported back")])  # r7
    feed = store.changes_since(5)
    assert ids(feed.changed) == ["a2"] and feed.deleted_ids == [] and feed.revision == 7
    assert store.changes_since(6).changed[0].name == "Imported back"


def test_feed_replayed_onto_an_index_matches_the_store(store: FacilityStore) -> None:
    idx = FacilityIndex([], revision=0)
    rng = random.Random(7)
    live: dict[str, int] = {}
    for step in range(60):
        fid = f"f{rng.randrange(12)}"
        if fid in live and rng.random() < 0.4:
            store.delete(fid, live.pop(fid))
        elif fid in live:
            live[fid] = store.update(fac(fid, name=f"n{step}", lon=116 + rng.random()), live[fid]).version
        else:
            live[fid] = store.add(fac(fid, lon=116 + rng.random())).version
        if step % 7 == 0:
            feed = store.changes_since(idx.revision)
            idx = idx.apply(feed.changed, feed.deleted_ids, feed.revision)
    feed = store.changes_since(idx.revision)
    idx = idx.apply(feed.changed, feed.deleted_ids, feed.revision)
    assert idx.revision == store.revision() == 60
    assert idx.facilities() == store.all()


# --- concurrency -----------------------------------------------------------------------


def _race(store: FacilityStore, attempt: Callable[[FacilityStore, int], Any]) -> list[Any]:
    """Run ``attempt(store_instance, n)`` in two threads at once (two worker views)."""
    other = open_like(store)
    stores = [store, other]
    barrier = threading.Barrier(2)
    results: list[Any] = [None, None]

    def run(n: int) -> None:
        barrier.wait()
        try:
            results[n] = attempt(stores[n], n)
        except Exception as exc:  # noqa: BLE001 - collected for the assertions
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    other.close()
    return results


def test_two_concurrent_updates_of_the_same_version_one_wins(store: FacilityStore) -> None:
    store.add(fac("a1"))
    for round_ in range(5):
        version = store.get("a1").version

        def attempt(s: FacilityStore, n: int, version: int = version, round_: int = round_) -> Facility:
            return s.update(fac("a1", name=f"writer {n} round {round_}"), expected_version=version)

        results = _race(store, attempt)
        wins = [r for r in results if isinstance(r, Facility)]
        losses = [r for r in results if isinstance(r, VersionConflictError)]
        assert len(wins) == 1 and len(losses) == 1, results
        assert losses[0].current_version == version + 1
        assert store.get("a1") == wins[0]
    assert store.get("a1").version == 6
    assert len(store.history("a1")) == 6


def test_two_concurrent_adds_of_the_same_id_one_wins(store: FacilityStore) -> None:
    results = _race(store, lambda s, n: s.add(fac("same", name=f"writer {n}")))
    assert sorted(type(r).__name__ for r in results) == ["ConflictError", "Facility"]
    assert store.count() == 1 and store.revision() == 1


def test_another_instance_sees_a_committed_write_within_one_second(store: FacilityStore) -> None:
    other = open_like(store)
    try:
        assert other.revision() == 0
        store.add(fac("a1"))
        assert wait_until(lambda: other.revision() == 1, 1.0) is not None
        assert other.changes_since(0).changed[0].id == "a1"
    finally:
        other.close()


# --- nearest: the in-memory index, the store, PostGIS ---------------------------------


@pytest.fixture(scope="module")
def pg_demo_store(postgis_demo_url: str) -> Iterator[PostGISStore]:
    s = PostGISStore(postgis_demo_url, pool_min=1, pool_max=2)
    yield s
    s.close()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def demo_store(request: pytest.FixtureRequest, demo_db: Any) -> Iterator[FacilityStore]:
    """The demo layer (read via read_records + import_records) in each backend."""
    s: FacilityStore
    if request.param == "sqlite":
        s = SQLiteStore(demo_db)
    else:
        s = PostGISStore(request.getfixturevalue("postgis_demo_url"), pool_min=1, pool_max=2)
    yield s
    s.close()


AMENITY_CHOICES = ["toilet", "wifi", "rest", "heating", "breastfeeding_room", "fridge", "drinking_water"]
KIND_CHOICES = ["warm_station", "union_home", "nursing_room"]


def random_queries(n: int, seed: int) -> list[NearestQuery]:
    """Seeded random nearest queries over Beijing, some far away, many with filters."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if i % 25 == 0:  # far from every facility
            lon, lat = rng.uniform(100, 130), rng.uniform(20, 50)
        else:
            lon, lat = rng.uniform(115.4, 117.5), rng.uniform(39.4, 41.1)
        kinds = None
        if rng.random() < 0.35:
            kinds = frozenset(rng.sample(KIND_CHOICES, rng.choice([1, 2])))
        amenities: frozenset[str] = frozenset()
        if rng.random() < 0.3:
            amenities = frozenset(rng.sample(AMENITY_CHOICES, rng.choice([1, 1, 2])))
        open_at = None
        if rng.random() < 0.25:
            open_at = datetime(2026, 1, 5, tzinfo=TZ) + timedelta(minutes=rng.randrange(14 * 24 * 60))
        statuses = frozenset({"open"}) if rng.random() < 0.85 else frozenset({"open", "temporarily_closed"})
        radius = rng.choice([300.0, 1000.0, 5000.0]) if rng.random() < 0.15 else None
        out.append(
            NearestQuery(
                lon,
                lat,
                k=rng.choice([1, 3, 5, 10, 20]),
                kinds=kinds,
                amenities=amenities,
                statuses=statuses,
                open_at=open_at,
                radius_m=radius,
            )
        )
    return out


def assert_same_answer(a: list[Any], b: list[Any], q: NearestQuery) -> None:
    assert [h.facility.id for h in a] == [h.facility.id for h in b], q
    assert [h.rank for h in a] == [h.rank for h in b], q
    for x, y in zip(a, b, strict=True):
        assert abs(x.distance_m - y.distance_m) < 0.01, (q, x.facility.id, x.distance_m, y.distance_m)
        assert abs((x.bearing_deg - y.bearing_deg + 180) % 360 - 180) < 1e-6, q


@pytest.mark.postgis
def test_nearest_index_equals_postgis_and_store_nearest(
    demo_store: FacilityStore, pg_demo_store: PostGISStore
) -> None:
    index = FacilityIndex(demo_store.all(), revision=demo_store.revision())
    assert len(index) == 3908
    queries = random_queries(600, seed=20261122)
    # PostGIS's store_nearest is the KNN query below; SQLite's is the contract's
    # brute-force scan (~0.1 s a query), checked on every 12th query.
    brute_force = not isinstance(demo_store, PostGISStore)
    nonempty = 0
    for n, q in enumerate(queries):
        expected = index.nearest(q)
        assert_same_answer(expected, pg_demo_store.store_nearest(q), q)
        if brute_force and n % 12 == 0:
            assert_same_answer(expected, demo_store.store_nearest(q), q)
        nonempty += bool(expected)
    assert nonempty > 500


# --- PostGIS deployments: several app nodes, failures ----------------------------------


def _record(lon: float = 116.3376, lat: float = 39.9925, **extra: Any) -> dict[str, Any]:
    return {"kind": "warm_station", "name": "测试驿站", "lon": lon, "lat": lat, **extra}


@pytest.mark.postgis
def test_postgis_schema_has_geography_indexes_and_migrations(postgis_url: str) -> None:
    s = PostGISStore(postgis_url)
    try:
        s.init_schema()
        with psycopg.connect(postgis_url) as conn:
            coltype = conn.execute(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = 'facilities'::regclass AND attname = 'geog'"
            ).fetchone()
            assert coltype == ("geography(Point,4326)",)
            methods = dict(
                conn.execute(
                    "SELECT i.relname, am.amname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
                    "JOIN pg_am am ON am.oid = i.relam WHERE x.indrelid = 'facilities'::regclass"
                ).fetchall()
            )
            assert methods["facilities_geog"] == "gist"
            assert methods["facilities_amenities"] == "gin"
            rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
            assert [r[0] for r in rows] == [v for v, _, _ in MIGRATIONS]
    finally:
        s.close()


@pytest.mark.postgis
def test_postgis_migrations_are_never_reapplied(postgis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    extra = (len(MIGRATIONS) + 1, "test step", "CREATE TABLE test_step_ran (n integer)")
    monkeypatch.setattr("locator.stores.postgis.MIGRATIONS", [*MIGRATIONS, extra])
    s = PostGISStore(postgis_url)
    try:
        s.init_schema()
        s.init_schema()  # a re-run would fail: the table exists
        with psycopg.connect(postgis_url) as conn:
            versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
        assert versions == [*(v for v, _, _ in MIGRATIONS), extra[0]]
    finally:
        s.close()


@pytest.mark.postgis
def test_postgis_upgrade_keeps_data_and_queues_earlier_problem_feedback(postgis_url: str) -> None:
    # A database made before partners, accounts, the report queue and live door status
    # (migrations 1-2 only) gains them without losing data; problem feedback sent before
    # is an open report.
    s = PostGISStore(postgis_url, pool_min=1, pool_max=2)
    try:
        s.add(fac("a1"))
        fb = s.add_feedback(Feedback("a1", "problem", datetime.now(UTC), reason="closed"))
        with psycopg.connect(postgis_url, autocommit=True) as conn:
            conn.execute(
                b"DROP VIEW rider_reports; "
                b"DROP TABLE report_resolutions, api_tokens, users, partners, counters; "
                b"DROP FUNCTION report_resolutions_append_only(); "
                b"DROP TABLE live_events, door_keys, live_revision; "
                b"DROP FUNCTION live_events_append_only(); ALTER TABLE facilities DROP COLUMN access; "
                b"DELETE FROM schema_migrations WHERE version > 2"
            )
        s.init_schema()
        with psycopg.connect(postgis_url) as conn:
            versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
        assert versions == [v for v, _, _ in MIGRATIONS]
        assert s.get("a1").version == 1 and s.revision() == 1 and s.get("a1").access == ""
        assert [(r.id, r.status) for r in s.list_reports()] == [(fb.id, "open")]
        assert s.list_users() == [] and s.list_partners() == [] and s.live_revision() == 0
    finally:
        s.close()


@pytest.mark.postgis
def test_postgis_knn_uses_the_gist_index(pg_demo_store: PostGISStore) -> None:
    with psycopg.connect(pg_demo_store.url) as conn:
        conn.execute("SET enable_seqscan = off")  # a 3908-row table would otherwise be scanned
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                "EXPLAIN SELECT id FROM facilities WHERE status = 'open' ORDER BY geog <-> "
                "ST_SetSRID(ST_MakePoint(116.33, 39.99), 4326)::geography LIMIT 10"
            )
        )
    assert "facilities_geog" in plan


@pytest.mark.postgis
def test_a_write_through_one_app_reaches_a_second_app_within_one_second(postgis_url: str) -> None:
    app1, app2 = make_pg_app(postgis_url), make_pg_app(postgis_url)
    svc1: LocatorService = app1.extensions["locator"]
    svc2: LocatorService = app2.extensions["locator"]
    try:
        q = NearestQuery(116.3376, 39.9925, k=1)
        assert svc2.nearest(q) == []
        lags = []
        for i in range(5):
            stored = svc1.create(_record(116.30 + i / 1000, name=f"驿站 {i}"), Datum.WGS84)
            lag = wait_until(lambda fid=stored.id: svc2.index.get(fid) is not None, 1.0)
            assert lag is not None, "the second app did not see the write within 1 s"
            lags.append(lag)
        updated = svc1.update(stored.id, {"name": "改名"}, expected_version=1)
        assert wait_until(lambda: svc2.index.get(stored.id) == updated, 1.0) is not None
        assert app2.test_client().get("/api/v1/nearest?lon=116.304&lat=39.9925&limit=1").status_code == 200
    finally:
        svc1.store.close()
        svc2.store.close()


def _add_db_probe(app: Flask) -> None:
    """A test-only route that needs the database (the API's reads come from the index)."""

    def count() -> dict[str, int]:
        return {"count": app.extensions["locator"].store.count()}

    app.add_url_rule("/api/v1/_test/count", "test_count", count)


@pytest.mark.postgis
def test_database_stopped_and_restarted_under_a_running_app(throwaway_cluster: ThrowawayCluster) -> None:
    timeout_s = 2.0
    app = make_pg_app(throwaway_cluster.url, LOCATOR_DB_TIMEOUT_S=timeout_s)
    _add_db_probe(app)
    svc: LocatorService = app.extensions["locator"]
    client = app.test_client()
    try:
        with app.app_context():
            svc.create(_record(116.3376, 39.9925, id="before"), Datum.WGS84)
        nearest_url = "/api/v1/nearest?lon=116.3376&lat=39.9925&limit=3"
        assert client.get(nearest_url).status_code == 200
        assert client.get("/api/v1/_test/count").get_json() == {"count": 1}

        throwaway_cluster.stop()

        # Queries keep being answered from the in-memory index, without waiting.
        for _ in range(3):
            t0 = time.monotonic()
            resp = client.get(nearest_url)
            assert resp.status_code == 200
            assert [f["id"] for f in resp.get_json()["features"]] == ["before"]
            assert time.monotonic() - t0 < timeout_s
        # A write fails with StoreUnavailableError within the configured timeout.
        t0 = time.monotonic()
        with pytest.raises(StoreUnavailableError):
            svc.create(_record(116.34, 39.99, id="during"), Datum.WGS84)
        assert time.monotonic() - t0 < timeout_s + 1.5
        # A request that needs the database gets 503 problem+json, also within the timeout.
        t0 = time.monotonic()
        resp = client.get("/api/v1/_test/count")
        assert time.monotonic() - t0 < timeout_s + 1.5
        assert resp.status_code == 503
        assert resp.mimetype == "application/problem+json"
        assert resp.get_json()["status"] == 503
        assert client.get(nearest_url).status_code == 200

        throwaway_cluster.start()

        # Writes work again without restarting the app (the pool reconnects by itself).
        def write_ok() -> bool:
            try:
                svc.create(_record(116.34, 39.99, id="after"), Datum.WGS84)
            except StoreUnavailableError:
                return False
            return True

        assert wait_until(write_ok, 30.0, step_s=0.25) is not None
        assert wait_until(lambda: svc.store.listening, 10.0) is not None
        resp = client.get("/api/v1/nearest?lon=116.34&lat=39.99&limit=1")
        assert resp.get_json()["features"][0]["id"] == "after"
        assert client.get("/api/v1/_test/count").get_json() == {"count": 2}
    finally:
        svc.store.close()


def test_a_database_that_is_down_fails_fast_after_the_first_failure(
    throwaway_cluster: ThrowawayCluster,
) -> None:
    """No worker waits timeout_s on every request while PostgreSQL is down (breaker + listener)."""
    app = make_pg_app(throwaway_cluster.url, LOCATOR_DB_TIMEOUT_S=3.0)
    _add_db_probe(app)
    svc: LocatorService = app.extensions["locator"]
    client = app.test_client()
    try:
        assert client.get("/api/v1/_test/count").status_code == 200
        throwaway_cluster.stop()
        first = client.get("/api/v1/_test/count")  # may wait once: it finds out
        assert first.status_code == 503
        timings = []
        for _ in range(20):
            t0 = time.monotonic()
            resp = client.get("/api/v1/_test/count")
            timings.append(time.monotonic() - t0)
            assert resp.status_code == 503 and resp.mimetype == "application/problem+json"
        assert max(timings) < 0.1, timings
        throwaway_cluster.start()
        ok = wait_until(lambda: client.get("/api/v1/_test/count").status_code == 200, 30.0, step_s=0.25)
        assert ok is not None  # back without a restart
    finally:
        svc.store.close()


@pytest.mark.postgis
def test_a_statement_stuck_on_a_lock_times_out_as_unavailable(postgis_url: str) -> None:
    s = PostGISStore(postgis_url, timeout_s=1.0)
    try:
        with psycopg.connect(postgis_url) as blocker:
            blocker.execute("SELECT value FROM store_revision FOR UPDATE")  # hold the writers' lock
            t0 = time.monotonic()
            with pytest.raises(StoreUnavailableError):
                s.add(fac("a1"))
            assert time.monotonic() - t0 < 1.0 + 1.0
        assert s.add(fac("a1")).version == 1  # the lock is gone: the store works
    finally:
        s.close()


def _free_port() -> int:
    return int(port_for.select_random())


def test_create_app_with_an_unreachable_database_fails_fast_and_clearly() -> None:
    port = _free_port()
    url = f"postgresql://locator:s3cret-pw@127.0.0.1:{port}/locator"
    t0 = time.monotonic()
    with pytest.raises(StoreUnavailableError) as err:
        create_app(
            {
                "TESTING": True,
                "LOCATOR_DATABASE_URL": url,
                "LOCATOR_DB_TIMEOUT_S": 2,
                "LOCATOR_SECRET_KEY": "test-secret-key-0123456789",
            }
        )
    assert time.monotonic() - t0 < 2 + 1.5
    message = str(err.value)
    assert f"127.0.0.1:{port}/locator" in message and "cannot connect" in message
    assert "s3cret-pw" not in message


def test_cli_against_an_unreachable_database_exits_non_zero() -> None:
    port = _free_port()
    env = {
        **os.environ,
        "LOCATOR_DATABASE_URL": f"postgresql://locator:s3cret-pw@127.0.0.1:{port}/locator",
        "LOCATOR_SECRET_KEY": "test-secret-key-0123456789",
        "LOCATOR_DB_TIMEOUT_S": "2",
    }
    proc = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "flask", "--app", "app", "locator", "init-db"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode != 0
    assert f"cannot connect to PostgreSQL at locator@127.0.0.1:{port}/locator" in proc.stderr
    assert "Traceback" not in proc.stderr and "s3cret-pw" not in proc.stderr


@pytest.mark.postgis
def test_cli_init_db_and_load_demo_on_postgis(postgis_url: str, tmp_path: Path) -> None:
    """docs/postgis.md's steps; the Wudaokou query then answers as on the embedded store.

    Both stores load the shipped demo layer (25,470 facilities) through the same CLI.
    """
    sqlite_url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    for url, backend in ((postgis_url, "postgis"), (sqlite_url, "sqlite")):
        env = {**os.environ, "LOCATOR_DATABASE_URL": url, "LOCATOR_SECRET_KEY": "test-secret-key-0123456789"}
        for args, expected in (
            (["init-db"], f"Schema ready ({backend})"),
            (["load-demo"], "Loaded 25470 DEMO"),
        ):
            proc = subprocess.run(  # noqa: S603
                [sys.executable, "-m", "flask", "--app", "app", "locator", *args],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert proc.returncode == 0, proc.stderr
            assert expected in proc.stdout
    app = make_pg_app(postgis_url)
    demo_client = make_app(tmp_path / "cli.sqlite3").test_client()
    try:
        for query in WUDAOKOU_QUERIES:
            on_postgis = app.test_client().get(query)
            on_sqlite = demo_client.get(query)
            assert on_postgis.status_code == on_sqlite.status_code == 200
            a, b = on_postgis.get_json(), on_sqlite.get_json()
            assert a["numberReturned"] > 0
            for feature in (*a["features"], *b["features"]):
                del feature["properties"]["updated_at"]  # the commit time of each load
            assert a == b, query
    finally:
        app.extensions["locator"].store.close()
        demo_client.application.extensions["locator"].store.close()


WUDAOKOU_QUERIES = [
    "/api/v1/nearest?lon=116.3376&lat=39.9925&at=2026-11-20T10:00:00%2B08:00",
    "/api/v1/nearest?lon=116.3376&lat=39.9925&limit=20&kind=warm_station&amenity=toilet"
    "&at=2026-11-20T10:00:00%2B08:00",
    "/api/v1/nearest?lon=116.3438&lat=39.9934&datum=gcj02&open_now=true&at=2026-11-21T22:30:00%2B08:00",
]


# --- rider feedback (locator.services.feedback): kept apart from facility data -----------------

FB_T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def test_feedback_is_added_and_listed_newest_first(store: FacilityStore) -> None:
    rev = store.revision()
    a = store.add_feedback(Feedback("f1", "confirm", FB_T0, client="c1", facility_version=3, locale="zh"))
    b = store.add_feedback(
        Feedback(
            "f1", "problem", FB_T0 + timedelta(hours=1), reason="closed", comment="锁着\n<b>", client="c2"
        )
    )
    c = store.add_feedback(Feedback("f2", "confirm", FB_T0 + timedelta(hours=2)))
    assert a.id is not None and a.id < b.id < c.id
    assert store.revision() == rev  # feedback is not facility data
    assert [x.id for x in store.list_feedback()] == [c.id, b.id, a.id]
    assert [x.id for x in store.list_feedback("f1")] == [b.id, a.id]
    got = store.list_feedback("f1", verdict="problem")[0]
    assert got == b and got.comment == "锁着\n<b>" and got.at == FB_T0 + timedelta(hours=1)
    assert store.list_feedback("f1")[1] == a
    # since is strict
    assert [x.id for x in store.list_feedback(since=FB_T0)] == [c.id, b.id]
    assert [x.id for x in store.list_feedback(since=FB_T0 - timedelta(microseconds=1), limit=1)] == [c.id]
    assert store.list_feedback("nope") == []


def test_feedback_since_compares_instants_not_text(store: FacilityStore) -> None:
    # The same instant in another zone, and whole seconds vs microseconds, order correctly.
    from zoneinfo import ZoneInfo

    bj = ZoneInfo("Asia/Shanghai")
    store.add_feedback(Feedback("f", "confirm", datetime(2026, 11, 1, 20, 0, 0, tzinfo=bj)))  # 12:00Z
    store.add_feedback(Feedback("f", "confirm", datetime(2026, 11, 1, 12, 0, 0, 500, tzinfo=UTC)))
    got = store.list_feedback("f", since=datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC))
    assert len(got) == 1 and got[0].at == datetime(2026, 11, 1, 12, 0, 0, 500, tzinfo=UTC)


# --- the managers' queue of rider problem reports (ReportStore) --------------------------


def test_problem_feedback_is_a_report_until_resolved(store: FacilityStore) -> None:
    assert isinstance(store, ReportStore)
    revision = store.revision()
    a = add_problem_report(store, "f1", "closed", "门锁着")
    b = add_problem_report(store, "f2", "gone")
    c = add_problem_report(store, "f1", "other", "<b>hi</b>")
    assert (a.id < b.id < c.id) and a.status == "open" and a.created_at.tzinfo is not None
    assert store.get_report(a.id) == a
    assert [r.id for r in store.list_reports()] == [a.id, b.id, c.id]
    assert [r.id for r in store.list_reports(facility_ids=frozenset({"f1"}))] == [a.id, c.id]
    assert store.list_reports(facility_ids=frozenset()) == []
    done = store.resolve_report(a.id, "resolved", "temporarily_closed", Actor("hd", "called them"))
    assert (done.status, done.action, done.resolved_by, done.note) == (
        "resolved",
        "temporarily_closed",
        "hd",
        "called them",
    )
    assert done.resolved_at is not None
    store.resolve_report(b.id, "dismissed", "none", Actor("hd"))
    assert [r.id for r in store.list_reports()] == [c.id]
    assert [r.id for r in store.list_reports(statuses=frozenset({"resolved", "dismissed"}))] == [b.id, a.id]
    assert len(store.list_reports(statuses=None)) == 3
    assert len(store.list_reports(statuses=None, limit=2)) == 2
    with pytest.raises(ConflictError):
        store.resolve_report(a.id, "dismissed", "none", Actor("root"))
    assert store.get_report(a.id) == done
    with pytest.raises(NotFoundError):
        store.get_report(10**6)
    with pytest.raises(NotFoundError):
        store.resolve_report(10**6, "resolved", "none", Actor("x"))
    assert store.revision() == revision
    # Confirmations are not reports; resolving keeps the feedback itself unchanged.
    yes = store.add_feedback(Feedback("f1", "confirm", datetime.now(UTC)))
    with pytest.raises(NotFoundError):
        store.get_report(yes.id)
    assert len(store.list_feedback("f1", verdict="problem")) == 2


@pytest.mark.parametrize(
    "statement", ["UPDATE report_resolutions SET note = 'mallory'", "DELETE FROM report_resolutions"]
)
def test_report_resolutions_are_append_only_in_the_database(store: FacilityStore, statement: str) -> None:
    assert isinstance(store, ReportStore)
    report = add_problem_report(store, "f1", "gone")
    done = store.resolve_report(report.id, "resolved", "removed", Actor("hd", "demolished"))
    with pytest.raises(DB_ERRORS, match="append-only"):
        raw_execute(store, statement)
    assert store.get_report(report.id) == done


def test_two_concurrent_resolutions_of_one_report_one_wins(store: FacilityStore) -> None:
    assert isinstance(store, ReportStore)
    revision = store.revision()
    for round_ in range(5):
        report = add_problem_report(store, "f1", "closed", f"round {round_}")

        def attempt(s: FacilityStore, n: int, report_id: int = report.id) -> Report:
            assert isinstance(s, ReportStore)
            return s.resolve_report(
                report_id, ("resolved", "dismissed")[n], ("verified", "none")[n], Actor(f"manager-{n}")
            )

        results = _race(store, attempt)
        wins = [r for r in results if isinstance(r, Report)]
        losses = [r for r in results if isinstance(r, ConflictError)]
        assert len(wins) == 1 and len(losses) == 1, results
        assert f"already {wins[0].status}" in losses[0].detail
        assert store.get_report(report.id) == wins[0]
    assert store.list_reports() == []
    assert len(store.list_reports(statuses=None)) == 5
    assert store.revision() == revision


@pytest.mark.postgis
def test_postgis_resolution_waiting_for_a_concurrent_one_loses(postgis_url: str) -> None:
    # Deterministic interleaving: both resolvers see the report open; the later one's
    # INSERT waits on the earlier one's uncommitted row, then must lose, not overwrite.
    store = PostGISStore(postgis_url, pool_min=1, pool_max=2)
    try:
        store.init_schema()
        report = add_problem_report(store, "f1", "closed")
        results: list[Any] = []
        with psycopg.connect(postgis_url) as early:  # not autocommit: a transaction stays open
            early.execute(
                "INSERT INTO report_resolutions (feedback_id, status, action, resolved_by, resolved_at) "
                "VALUES (%s, 'dismissed', 'none', 'early', now())",
                (report.id,),
            )

            def late() -> None:
                try:
                    results.append(store.resolve_report(report.id, "resolved", "verified", Actor("late")))
                except Exception as exc:  # noqa: BLE001 - collected for the assertions
                    results.append(exc)

            thread = threading.Thread(target=late)
            thread.start()
            with psycopg.connect(postgis_url, autocommit=True) as watcher:

                def late_is_waiting() -> bool:
                    row = watcher.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO report_resolutions%%'"
                    ).fetchone()
                    return row is not None and row[0] == 1

                assert wait_until(late_is_waiting, 4.0) is not None
            assert results == []
            early.commit()
            thread.join(timeout=10)
        assert len(results) == 1 and isinstance(results[0], ConflictError), results
        assert "already dismissed" in results[0].detail
        got = store.get_report(report.id)
        assert (got.status, got.resolved_by, got.action) == ("dismissed", "early", "none")
    finally:
        store.close()


# --- checked batches (CheckedBatchStore) racing single edits ---------------------------------


def test_concurrent_write_batch_and_update_of_one_facility_one_wins(store: FacilityStore) -> None:
    assert isinstance(store, CheckedBatchStore)
    store.add(fac("a1"))
    revision = store.revision()
    winners = []
    for round_ in range(6):
        version = store.get("a1").version
        new_id = f"new-{round_}"

        def attempt(s: FacilityStore, n: int, version: int = version, round_: int = round_) -> Any:
            if n == 0:
                assert isinstance(s, CheckedBatchStore)
                return s.write_batch(
                    [fac(f"new-{round_}"), fac("a1", name=f"batch {round_}")],
                    {f"new-{round_}": None, "a1": version},
                    Actor("hd", "bulk upload"),
                )
            return s.update(fac("a1", name=f"editor {round_}"), expected_version=version)

        results = _race(store, attempt)
        wins = [r for r in results if not isinstance(r, Exception)]
        losses = [r for r in results if isinstance(r, VersionConflictError)]
        assert len(wins) == 1 and len(losses) == 1, results
        assert losses[0].current_version == version + 1
        a1 = store.get("a1")
        assert a1.version == version + 1
        if results[0] == 2:  # the batch won
            winners.append("batch")
            assert a1.name == f"batch {round_}" and store.get(new_id).version == 1
            assert store.history("a1")[-1].action == "import"
        else:  # the update won: nothing of the batch was written
            winners.append("update")
            assert results[1] == a1 and a1.name == f"editor {round_}"
            with pytest.raises(NotFoundError):
                store.get(new_id)
            assert store.history("a1")[-1].action == "update"
        assert store.revision() == revision + round_ + 1
    assert len(store.history("a1")) == 7
    assert store.count() == 1 + winners.count("batch")


def test_empty_batches_write_nothing(store: FacilityStore) -> None:
    from locator.stores.contract import CheckedBatchStore

    before = store.revision()
    assert store.import_many([]) == 0
    assert isinstance(store, CheckedBatchStore) and store.write_batch([], {}) == 0
    assert store.revision() == before and store.changes_since(before).revision == before
