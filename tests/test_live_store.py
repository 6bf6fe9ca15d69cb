"""Store contract for live door status (LiveStore), on SQLite and PostGIS (the ``store`` fixture)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from locator.core.domain import Facility
from locator.core.live import LiveEvent
from locator.errors import ConflictError, NotFoundError
from locator.stores.contract import DoorKey, FacilityStore

from .conftest import open_like

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _key(store: FacilityStore, key_id: str = "dk_0001", facility_id: str = "f1") -> DoorKey:
    return store.add_door_key(DoorKey(key_id, facility_id, "front door", "ab" * 16, NOW))  # type: ignore[attr-defined]


def test_live_events_take_their_own_revision_not_the_facility_revision(store: FacilityStore) -> None:
    store.add(Facility("f1", "warm_station", "Station", 116.3, 39.9))
    facility_rev = store.revision()
    assert store.live_revision() == 0  # type: ignore[attr-defined]
    a = store.add_live_event(LiveEvent("f1", "rider", "locked", NOW, actor="c1"))  # type: ignore[attr-defined]
    b = store.add_live_event(  # type: ignore[attr-defined]
        LiveEvent("f1", "manager", "closed", NOW, until=NOW + timedelta(hours=2), reason="午休", actor="mgr")
    )
    assert (a.revision, b.revision) == (1, 2) and a.id is not None and b.id is not None
    assert store.live_revision() == 2 and store.revision() == facility_rev  # type: ignore[attr-defined]
    rev, events = store.live_events_since(0)  # type: ignore[attr-defined]
    assert rev == 2 and events == [a, b]
    assert events[1].until == NOW + timedelta(hours=2) and events[1].reason == "午休"
    assert store.live_events_since(1) == (2, [b])  # type: ignore[attr-defined]
    assert store.live_events_after(NOW - timedelta(seconds=1)) == (2, [a, b])  # type: ignore[attr-defined]
    assert store.live_events_after(NOW) == (2, [])  # type: ignore[attr-defined]
    assert store.list_live_events("f1") == [b, a]  # type: ignore[attr-defined]
    assert store.list_live_events("f1", source="rider") == [a]  # type: ignore[attr-defined]


def test_one_vote_per_client_per_period(store: FacilityStore) -> None:
    first = store.add_live_event(  # type: ignore[attr-defined]
        LiveEvent("f1", "rider", "locked", NOW, actor="c1"), once_per=timedelta(hours=1)
    )
    with pytest.raises(ConflictError) as exc:
        store.add_live_event(  # type: ignore[attr-defined]
            LiveEvent("f1", "rider", "open", NOW + timedelta(minutes=30), actor="c1"),
            once_per=timedelta(hours=1),
        )
    assert datetime.fromisoformat(exc.value.extra["retry_at"]) == NOW + timedelta(hours=1)
    # another client, another facility, or after the hour: accepted
    store.add_live_event(LiveEvent("f1", "rider", "locked", NOW, actor="c2"), once_per=timedelta(hours=1))  # type: ignore[attr-defined]
    store.add_live_event(LiveEvent("f2", "rider", "locked", NOW, actor="c1"), once_per=timedelta(hours=1))  # type: ignore[attr-defined]
    store.add_live_event(  # type: ignore[attr-defined]
        LiveEvent("f1", "rider", "open", NOW + timedelta(hours=1, seconds=1), actor="c1"),
        once_per=timedelta(hours=1),
    )
    votes = [(e.actor, e.state) for e in store.list_live_events("f1")]  # type: ignore[attr-defined]
    assert votes == [("c1", "open"), ("c2", "locked"), ("c1", "locked")] and first.revision == 1


def test_concurrent_votes_of_one_client_count_once(store: FacilityStore) -> None:
    """Two workers receiving the same client's vote at once: exactly one is stored."""
    other = open_like(store)
    results: list[str] = []
    barrier = threading.Barrier(8)

    def vote(s: FacilityStore) -> None:
        barrier.wait()
        try:
            s.add_live_event(  # type: ignore[attr-defined]
                LiveEvent("f1", "rider", "locked", datetime.now(UTC), actor="same"),
                once_per=timedelta(hours=1),
            )
            results.append("stored")
        except ConflictError:
            results.append("refused")

    try:
        threads = [threading.Thread(target=vote, args=(store if i % 2 else other,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        other.close()
    assert sorted(results) == ["refused"] * 7 + ["stored"]
    assert len(store.list_live_events("f1")) == 1  # type: ignore[attr-defined]


def test_device_events_need_an_active_key_and_a_fresh_nonce(store: FacilityStore) -> None:
    with pytest.raises(NotFoundError):
        store.add_live_event(LiveEvent("f1", "device", "open", NOW, actor="dk_none"), nonce="n1")  # type: ignore[attr-defined]
    key = _key(store)
    assert key.active and key.last_seen_at is None
    store.add_live_event(LiveEvent("f1", "device", "open", NOW, actor=key.id), nonce="n1")  # type: ignore[attr-defined]
    with pytest.raises(ConflictError):  # a replayed signature
        store.add_live_event(LiveEvent("f1", "device", "open", NOW, actor=key.id), nonce="n1")  # type: ignore[attr-defined]
    assert store.get_door_key(key.id).last_seen_at == NOW  # type: ignore[attr-defined]
    revoked = store.revoke_door_key(key.id, NOW + timedelta(minutes=1))  # type: ignore[attr-defined]
    assert revoked.revoked_at == NOW + timedelta(minutes=1) and not revoked.active
    assert store.revoke_door_key(key.id, NOW + timedelta(hours=1)).revoked_at == revoked.revoked_at  # type: ignore[attr-defined]
    with pytest.raises(NotFoundError):
        store.add_live_event(LiveEvent("f1", "device", "open", NOW, actor=key.id), nonce="n2")  # type: ignore[attr-defined]
    assert store.live_revision() == 1  # type: ignore[attr-defined]  # refused writes took no revision


def test_door_keys_are_listed_per_facility(store: FacilityStore) -> None:
    a = _key(store, "dk_a", "f1")
    b = _key(store, "dk_b", "f2")
    assert [k.id for k in store.list_door_keys()] == [a.id, b.id]  # type: ignore[attr-defined]
    assert store.list_door_keys("f2") == [b]  # type: ignore[attr-defined]
    with pytest.raises(ConflictError):
        _key(store, "dk_a", "f3")
    with pytest.raises(NotFoundError):
        store.get_door_key("dk_zzz")  # type: ignore[attr-defined]
    with pytest.raises(NotFoundError):
        store.revoke_door_key("dk_zzz", NOW)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("source", "state"),
    [("rider", "closed"), ("device", "locked"), ("manager", "scan_required"), ("nobody", "open")],
)
def test_the_schema_refuses_states_a_source_cannot_say(store: FacilityStore, source: str, state: str) -> None:
    with pytest.raises(Exception):  # noqa: B017 - the driver's integrity error
        store.add_live_event(LiveEvent("f1", source, state, NOW, actor="x"))  # type: ignore[attr-defined]
    assert store.list_live_events("f1") == []  # type: ignore[attr-defined]


def test_access_is_stored_and_read_back(store: FacilityStore) -> None:
    f = store.add(Facility("f1", "warm_station", "Station", 116.3, 39.9, access="scan_to_enter"))
    assert f.access == "scan_to_enter" and store.get("f1").access == "scan_to_enter"
    store.update(f.replace(access="walk_in"), 1)
    assert store.get("f1").access == "walk_in"
    assert store.changes_since(0).changed[0].access == "walk_in"
