"""Scopes and management rules in the service layer (no HTTP)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask

from locator.core.domain import Facility
from locator.core.geo import Datum, from_wgs84, geodesic_distance_m
from locator.core.history import parse_reason
from locator.errors import ForbiddenError, NotFoundError, ValidationError, VersionConflictError
from locator.services.management import FacilityFilter, ManagementService, normalise_name, similar_names
from locator.stores.contract import User

from .manage_support import CHAOYANG, HAIDIAN, manage_demo_app

ADMIN = User("root", "admin", "x")
HD = User("hd", "district_manager", "x", districts=frozenset({HAIDIAN}))


@pytest.fixture
def app(demo_app_factory: Callable[..., Flask], tmp_path: Path) -> Iterator[Flask]:
    application = manage_demo_app(demo_app_factory)
    yield application
    application.extensions["locator"].store.close()


@pytest.fixture
def mg(app: Flask) -> ManagementService:
    svc: ManagementService = app.extensions["locator.manage"]
    return svc


def first_in(mg: ManagementService, adcode: str, kind: str = "warm_station") -> Facility:
    return next(
        f
        for f in mg.locator.index.facilities()
        if f.district_adcode == adcode and f.status == "open" and f.kind == kind
    )


def snapshot(mg: ManagementService, fid: str) -> tuple[Facility, int]:
    return mg.store.get(fid), len(mg.store.history(fid))


def station_manager(*ids: str) -> User:
    return User("sm", "station_manager", "x", facilities=frozenset(ids))


# --- scopes -------------------------------------------------------------------------


def test_district_manager_edits_inside_the_district(mg: ManagementService) -> None:
    f = first_in(mg, HAIDIAN)
    stored = mg.update(HD, f.id, {"name": "海淀 新名字"}, f.version, reason="rename")
    assert stored.name == "海淀 新名字" and stored.version == f.version + 1
    last = mg.store.history(f.id)[-1]
    assert (last.actor, last.reason, last.changes["name"]) == ("hd", "rename", [f.name, "海淀 新名字"])


def test_district_manager_cannot_touch_another_district(mg: ManagementService) -> None:
    f = first_in(mg, CHAOYANG)
    before = snapshot(mg, f.id)
    attempts = [
        lambda: mg.update(HD, f.id, {"name": "mine now"}, f.version),
        lambda: mg.set_status(HD, f.id, "temporarily_closed"),
        lambda: mg.set_status(HD, f.id, "removed", reason="gone"),
        lambda: mg.verify(HD, f.id),
        lambda: mg.get(HD, f.id),
        lambda: mg.history(HD, f.id),
        lambda: mg.restore(HD, f.id, mg.store.history(f.id)[0].seq, f.version),
        lambda: mg.delete(HD, f.id, f.version),
    ]
    for attempt in attempts:
        with pytest.raises(ForbiddenError):
            attempt()
    assert snapshot(mg, f.id) == before


def test_moving_a_facility_out_of_the_district_is_refused(mg: ManagementService) -> None:
    f = first_in(mg, HAIDIAN)
    target = first_in(mg, CHAOYANG)
    before = snapshot(mg, f.id)
    with pytest.raises(ForbiddenError, match="out of your district"):
        mg.update(HD, f.id, {"lon": target.lon, "lat": target.lat}, f.version, Datum.WGS84)
    assert snapshot(mg, f.id) == before
    assert mg.locator.index.get(f.id) == before[0]


def test_scope_is_point_in_polygon_not_the_stored_adcode(mg: ManagementService) -> None:
    # A record whose stored district is wrong does not widen the scope.
    f = first_in(mg, CHAOYANG)
    forged = f.replace(district_adcode=HAIDIAN, district_name="海淀区")
    assert not mg.in_scope(HD, forged)
    assert mg.in_scope(HD, first_in(mg, HAIDIAN))


def test_creating_inside_and_outside_the_district(mg: ManagementService) -> None:
    inside = first_in(mg, HAIDIAN)
    outside = first_in(mg, CHAOYANG)
    rec = {"kind": "nursing_room", "name": "新母婴室", "lon": inside.lon + 0.001, "lat": inside.lat}
    created = mg.create(HD, rec, Datum.WGS84, reason="new room")
    assert created.district_adcode == HAIDIAN and created.version == 1
    assert created.source == "manage:hd"
    assert mg.store.history(created.id)[0].actor == "hd"
    n = mg.store.count()
    with pytest.raises(ForbiddenError):
        mg.create(HD, {**rec, "lon": outside.lon, "lat": outside.lat}, Datum.WGS84)
    assert mg.store.count() == n


def test_created_coordinates_are_converted_from_their_datum(mg: ManagementService) -> None:
    inside = first_in(mg, HAIDIAN)
    glon, glat = from_wgs84(inside.lon, inside.lat + 0.001, Datum.GCJ02)
    created = mg.create(
        ADMIN, {"kind": "union_home", "name": "GCJ 来的", "lon": glon, "lat": glat}, Datum.GCJ02
    )
    assert geodesic_distance_m(created.lon, created.lat, inside.lon, inside.lat + 0.001) < 0.01


def test_station_manager_only_assigned_facilities(mg: ManagementService) -> None:
    mine, other = first_in(mg, HAIDIAN), first_in(mg, CHAOYANG)
    sm = station_manager(mine.id)
    assert mg.verify(sm, mine.id).verified_at is not None
    before = snapshot(mg, other.id)
    with pytest.raises(ForbiddenError):
        mg.update(sm, other.id, {"phone": "010-1234"}, other.version)
    with pytest.raises(ForbiddenError):
        mg.create(sm, {"kind": "warm_station", "name": "x", "lon": mine.lon, "lat": mine.lat}, Datum.WGS84)
    with pytest.raises(ForbiddenError):
        mg.delete(sm, mine.id, mg.store.get(mine.id).version)
    assert snapshot(mg, other.id) == before
    assert [f.id for f in mg.facilities(sm)] == [mine.id]


def test_admin_manages_everything_and_alone_deletes(mg: ManagementService) -> None:
    f = first_in(mg, CHAOYANG)
    stored = mg.update(ADMIN, f.id, {"phone": "010-12345678"}, f.version)
    mg.delete(ADMIN, f.id, stored.version, reason="duplicate")
    with pytest.raises(NotFoundError):
        mg.store.get(f.id)
    assert mg.history(ADMIN, f.id)[-1].action == "delete"
    with pytest.raises(NotFoundError):
        mg.history(HD, f.id)


def test_listing_follows_the_scope_and_filters(mg: ManagementService) -> None:
    mine = mg.facilities(HD)
    assert mine and {f.district_adcode for f in mine} == {HAIDIAN}
    assert len(mg.facilities(ADMIN)) == mg.store.count()
    nursing = mg.facilities(HD, FacilityFilter(kinds=frozenset({"nursing_room"})))
    assert nursing and {f.kind for f in nursing} == {"nursing_room"}
    f = mine[0]
    assert [x.id for x in mg.facilities(HD, FacilityFilter(text=f.id))] == [f.id]
    assert mg.facilities(HD, FacilityFilter(districts=frozenset({CHAOYANG}))) == []


def test_stale_means_not_verified_for_90_days(mg: ManagementService) -> None:
    now = datetime.now(UTC)
    stale = mg.stale(HD)
    assert stale and all(f.verified_at is None or now - f.verified_at > timedelta(days=90) for f in stale)
    fresh = [f for f in mg.facilities(HD) if f not in stale and f.status != "removed"]
    assert all(now - f.verified_at <= timedelta(days=90) for f in fresh if f.verified_at)
    f = stale[0]
    mg.verify(HD, f.id)
    assert f.id not in {x.id for x in mg.stale(HD)}
    assert {x.id for x in mg.facilities(HD, FacilityFilter(stale=True))} == {x.id for x in mg.stale(HD)}


# --- edits, status, verification ---------------------------------------------------


def test_stale_version_is_refused_and_changes_nothing(mg: ManagementService) -> None:
    f = first_in(mg, HAIDIAN)
    mg.update(HD, f.id, {"name": "first"}, f.version)
    before = snapshot(mg, f.id)
    with pytest.raises(VersionConflictError) as info:
        mg.update(HD, f.id, {"name": "second"}, f.version)
    assert info.value.current_version == f.version + 1
    assert snapshot(mg, f.id) == before


@pytest.mark.parametrize(
    ("changes", "datum", "param"),
    [
        ({"id": "new-id"}, None, "id"),
        ({"district_adcode": "110105"}, None, "district_adcode"),
        ({"version": 7}, None, "version"),
        ({"lon": 116.3}, Datum.WGS84, "location"),
        ({"lon": 116.3, "lat": 39.99}, None, "datum"),
        ({"kind": "spa"}, None, "kind"),
        ({"opening_hours": "Mo-Fr 25:00-26:00"}, None, "opening_hours"),
        ({"lon": 121.47, "lat": 31.23}, Datum.WGS84, "location"),  # Shanghai: outside the area
    ],
)
def test_bad_changes_are_refused(
    mg: ManagementService, changes: dict, datum: Datum | None, param: str
) -> None:
    f = first_in(mg, HAIDIAN)
    before = snapshot(mg, f.id)
    with pytest.raises(ValidationError) as info:
        mg.update(ADMIN, f.id, changes, f.version, datum)
    assert info.value.param == param
    assert snapshot(mg, f.id) == before


def test_status_lifecycle(mg: ManagementService) -> None:
    f = first_in(mg, HAIDIAN)
    tomorrow = datetime.now(UTC).astimezone().date() + timedelta(days=2)
    closed = mg.set_status(HD, f.id, "temporarily_closed", until=tomorrow.isoformat(), reason="装修")
    assert (closed.status, closed.status_until, closed.status_reason) == (
        "temporarily_closed",
        tomorrow,
        "装修",
    )
    assert mg.locator.index.get(f.id).status == "temporarily_closed"
    removed = mg.set_status(HD, f.id, "removed", reason="host closed")
    assert removed.status == "removed" and removed.status_until is None
    reopened = mg.set_status(HD, f.id, "open")
    assert (reopened.status, reopened.status_until, reopened.status_reason) == ("open", None, "")
    reasons = [parse_reason(e.reason) for e in mg.store.history(f.id)[-3:]]
    assert [(r.code, r.params["status"], r.note) for r in reasons] == [
        ("status", "temporarily_closed", "装修"),
        ("status", "removed", "host closed"),
        ("status", "open", ""),
    ]


@pytest.mark.parametrize(
    ("status", "kwargs", "param"),
    [
        ("removed", {}, "reason"),
        ("closed", {}, "status"),
        ("open", {"until": "2099-01-01"}, "until"),
        ("temporarily_closed", {"until": "2000-01-01"}, "until"),
        ("temporarily_closed", {"until": "next week"}, "until"),
    ],
)
def test_bad_status_changes(mg: ManagementService, status: str, kwargs: dict, param: str) -> None:
    f = first_in(mg, HAIDIAN)
    with pytest.raises(ValidationError) as info:
        mg.set_status(HD, f.id, status, **kwargs)
    assert info.value.param == param


def test_verify_sets_the_time_and_keeps_everything_else(mg: ManagementService) -> None:
    f = first_in(mg, HAIDIAN)
    v = mg.verify(HD, f.id)
    assert v.verified_at and datetime.now(UTC) - v.verified_at < timedelta(seconds=5)
    assert set(mg.store.history(f.id)[-1].changes) == {"verified_at"}
    with pytest.raises(VersionConflictError):
        mg.verify(HD, f.id, expected_version=f.version)


# --- history and restore -----------------------------------------------------------


def test_restore_makes_a_new_change_with_the_old_values(mg: ManagementService) -> None:
    f = first_in(mg, HAIDIAN)
    first_seq = mg.store.history(f.id)[0].seq
    a = mg.update(HD, f.id, {"name": "改名一", "phone": "010-1"}, f.version)
    b = mg.update(
        HD, a.id, {"lon": f.lon + 0.0005, "lat": f.lat, "amenities": ["toilet"]}, a.version, Datum.WGS84
    )
    restored = mg.restore(HD, f.id, first_seq, b.version, reason="undo")
    assert restored.version == b.version + 1
    assert (restored.name, restored.phone, restored.lon, restored.lat) == (f.name, f.phone, f.lon, f.lat)
    assert restored.amenities == f.amenities
    last = mg.store.history(f.id)[-1]
    why = parse_reason(last.reason)
    assert (last.action, last.actor, why.code, why.note) == ("update", "hd", "restore", "undo")
    assert why.params == {"seq": first_seq, "version": f.version}
    assert len(mg.store.history(f.id)) == 4


def test_restore_is_scope_checked_and_version_checked(mg: ManagementService) -> None:
    f = first_in(mg, HAIDIAN)
    target = first_in(mg, CHAOYANG)
    moved = mg.update(ADMIN, f.id, {"lon": target.lon, "lat": target.lat}, f.version, Datum.WGS84)
    seq_after_move = mg.store.history(f.id)[-1].seq
    back = mg.update(ADMIN, f.id, {"lon": f.lon, "lat": f.lat}, moved.version, Datum.WGS84)
    with pytest.raises(ForbiddenError):  # restoring the Chaoyang position would leave Haidian
        mg.restore(HD, f.id, seq_after_move, back.version)
    with pytest.raises(VersionConflictError):
        mg.restore(HD, f.id, mg.store.history(f.id)[0].seq, f.version)
    with pytest.raises(NotFoundError):
        mg.restore(HD, f.id, 10**9, back.version)


def test_state_after_replays_history(mg: ManagementService) -> None:
    f = first_in(mg, HAIDIAN)
    a = mg.update(HD, f.id, {"name": "A"}, f.version)
    mg.update(HD, f.id, {"name": "B", "phone": "123"}, a.version)
    h = mg.store.history(f.id)
    assert mg.state_after(h, h[0].seq)["name"] == f.name
    assert mg.state_after(h, h[1].seq)["name"] == "A"
    assert mg.state_after(h, h[2].seq)["phone"] == "123"
    assert mg.state_after(h, h[0].seq)["lon"] == f.lon


def test_conflict_shows_both_sides(mg: ManagementService) -> None:
    f = first_in(mg, HAIDIAN)
    theirs = mg.update(ADMIN, f.id, {"phone": "010-999"}, f.version)
    c = mg.conflict(HD, f.id, f.version, {"name": "my name", "phone": f.phone})
    assert c.current == theirs
    assert c.mine == {"name": "my name"}
    assert c.theirs == {"phone": [f.phone, "010-999"]}
    assert c.overlapping == []
    c2 = mg.conflict(HD, f.id, f.version, {"phone": "010-111"})
    assert c2.overlapping == ["phone"]


# --- likely duplicates ---------------------------------------------------------------


def test_nearby_warnings_same_kind_30m_and_similar_name_200m(mg: ManagementService) -> None:
    f = first_in(mg, HAIDIAN)
    near = mg.nearby_warnings(f.lon, f.lat + 0.0001, f.kind, "完全不同的名字")  # ~11 m north
    hit = next(w for w in near if w.facility.id == f.id)
    assert hit.reasons == ("same_kind",) and 10 < hit.distance_m < 12
    other_kind = "union_home" if f.kind != "union_home" else "warm_station"
    assert all(w.facility.id != f.id for w in mg.nearby_warnings(f.lon, f.lat + 0.0001, other_kind, "无关"))
    far = mg.nearby_warnings(f.lon, f.lat + 0.001, other_kind, f.name)  # ~111 m, similar name
    hit = next(w for w in far if w.facility.id == f.id)
    assert hit.reasons == ("similar_name",) and 100 < hit.distance_m < 120
    assert all(
        w.facility.id != f.id for w in mg.nearby_warnings(f.lon, f.lat, f.kind, f.name, exclude_id=f.id)
    )
    assert all(w.facility.id != f.id for w in mg.nearby_warnings(f.lon, f.lat + 0.003, other_kind, f.name))


def test_similar_names() -> None:
    assert normalise_name("示例·颐和园北区 暖心驿站") == "颐和园北区"
    assert similar_names("中关村大街工会驿站", "中关村大街 工会驿站")
    assert similar_names("Wudaokou Warm Station", "wudaokou warm-station")
    assert not similar_names("五道口暖心驿站", "知春路暖心驿站")


def test_removed_facilities_are_not_stale_and_until_must_be_a_day(mg: ManagementService) -> None:
    f = first_in(mg, HAIDIAN)
    removed = mg.set_status(HD, f.id, "removed", reason="gone")
    assert not mg.is_stale(removed)
    with pytest.raises(ValidationError):
        mg.set_status(HD, f.id, "temporarily_closed", until=datetime.now(UTC))
    with pytest.raises(ValidationError):
        mg.set_status(HD, f.id, "temporarily_closed", until=date(2000, 1, 1))
