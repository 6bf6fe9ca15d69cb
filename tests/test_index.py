"""FacilityIndex: exact geodesic kNN against brute force, bbox, snapshots and edge cases.

All coordinates are WGS-84 ``(lon, lat)`` in degrees; distances are metres on the
WGS-84 ellipsoid as :class:`pyproj.Geod` computes them.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod

from locator.core.domain import AMENITIES, KINDS, STATUSES, Facility, NearestQuery
from locator.core.geo import unit_vectors
from locator.core.hours import is_open
from locator.core.index import FacilityIndex, FileSegment
from locator.core.snapshot import SnapshotError, load_snapshot, write_snapshot

GEOD = Geod(ellps="WGS84")
DEMO_LAYER = Path(__file__).resolve().parent.parent / "geodata" / "beijing_demo_facilities.geojson"
KIND_NAMES = list(KINDS)
PROPERTY_SETTINGS = settings(
    max_examples=1000,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def fac(fid: str, lon: float, lat: float, kind: str = "warm_station", **kw: Any) -> Facility:
    return Facility(fid, kind, fid.upper(), lon, lat, **kw)


def dist_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    return float(GEOD.inv(lon1, lat1, lon2, lat2)[2])


class World:
    """The demo layer plus same-location duplicates, and brute-force ranking over it."""

    def __init__(self) -> None:
        data = json.loads(DEMO_LAYER.read_text(encoding="utf-8"))
        demo = []
        for feat in data["features"]:
            p = feat["properties"]
            lon, lat = feat["geometry"]["coordinates"]
            demo.append(
                Facility(
                    id=p["id"],
                    kind=p["kind"],
                    name=p["name"],
                    lon=float(lon),
                    lat=float(lat),
                    amenities=frozenset(p.get("amenities") or ()),
                    opening_hours=p.get("opening_hours") or "",
                    status=p.get("status") or "open",
                )
            )
        assert len(demo) == 25_470  # the shipped demo layer, Beijing's real size
        dups = []
        for i, f in enumerate(demo):
            # Same location, different id: one sorting before, one after the original;
            # every other one of a different kind (ties across kind trees).
            if i % 40 == 0:
                dups.append(f.replace(id=f"0dup-{f.id}"))
            elif i % 40 == 20:
                dups.append(f.replace(id=f"{f.id}.dup", kind=KIND_NAMES[(i // 40) % 3]))
        self.demo = demo
        self.facilities = demo + dups
        self.index = FacilityIndex(self.facilities)
        fs = self.facilities
        self.lon = np.array([f.lon for f in fs])
        self.lat = np.array([f.lat for f in fs])
        self.kind = np.array([KIND_NAMES.index(f.kind) for f in fs])
        self.status = np.array([list(STATUSES).index(f.status) for f in fs])
        self.ids = [f.id for f in fs]
        id_rank = {fid: r for r, fid in enumerate(sorted(self.ids))}
        self.id_rank = np.array([id_rank[fid] for fid in self.ids])

    def brute(self, q: NearestQuery) -> list[tuple[str, float]]:
        """Every facility ranked by (Geod distance, id), filtered, first k."""
        ok = np.isin(self.status, [list(STATUSES).index(s) for s in q.statuses])
        if q.kinds is not None:
            ok &= np.isin(self.kind, [KIND_NAMES.index(k) for k in q.kinds])
        if q.amenities:
            ok &= np.array([q.amenities <= f.amenities for f in self.facilities])
        sel = np.flatnonzero(ok)
        n = len(sel)
        _, _, dist = GEOD.inv(
            np.full(n, q.lon), np.full(n, q.lat), self.lon[sel], self.lat[sel], return_back_azimuth=False
        )
        if q.radius_m is not None:
            within = dist <= q.radius_m
            sel, dist = sel[within], dist[within]
        order = np.lexsort((self.id_rank[sel], dist))
        out: list[tuple[str, float]] = []
        open_by_hours: dict[str, bool] = {}
        for i, d in zip(sel[order].tolist(), dist[order].tolist(), strict=True):
            if len(out) == q.k:
                break
            f = self.facilities[i]
            if q.open_at is not None:
                if f.opening_hours not in open_by_hours:
                    open_by_hours[f.opening_hours] = is_open(f.opening_hours, q.open_at) is True
                if not open_by_hours[f.opening_hours]:
                    continue
            out.append((f.id, d))
        return out


@cache
def world() -> World:
    return World()


# Strategies are built once: hypothesis re-analyses every new strategy object.
WHERE = st.sampled_from(["urban", "beijing", "around", "midpoint", "at_facility"])
URBAN = st.tuples(st.floats(116.2, 116.55), st.floats(39.75, 40.05))
BEIJING = st.tuples(st.floats(115.3, 117.6), st.floats(39.3, 41.1))
AROUND = st.tuples(st.floats(105.0, 128.0), st.floats(25.0, 55.0))
K_SIZE = st.integers(0, 19)
SMALL_K, LARGER_K = st.integers(1, 12), st.integers(13, 60)
KIND_SETS = st.none() | st.frozensets(st.sampled_from(KIND_NAMES), max_size=3)
AMENITY_SETS = st.frozensets(st.sampled_from(list(AMENITIES)), max_size=3)
STATUS_SETS = st.just(frozenset({"open"})) | st.frozensets(st.sampled_from(list(STATUSES)), min_size=1)
RADIUS_HOW = st.sampled_from(["none", "free", "to_facility"])
FREE_RADIUS = st.floats(0.0, 30_000.0)
OPEN_AT = st.none() | st.integers(0, 366 * 24 * 4).map(
    lambda q: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=15 * q)
)


@st.composite
def query_points(draw: st.DrawFn) -> tuple[float, float]:
    """Points in and around Beijing, including near-ties and exact ties."""
    w = world()
    how = draw(WHERE)
    if how == "urban":
        return draw(URBAN)
    if how == "beijing":
        return draw(BEIJING)
    if how == "around":
        return draw(AROUND)
    facility = st.integers(0, len(w.facilities) - 1)
    a = w.facilities[draw(facility)]
    if how == "at_facility":
        return a.lon, a.lat
    b = w.facilities[draw(facility)]
    # The geodesic midpoint of two facilities is (nearly) equidistant from both.
    az, _, d = GEOD.inv(a.lon, a.lat, b.lon, b.lat)
    lon, lat, _ = GEOD.fwd(a.lon, a.lat, az, d / 2)
    return float(lon), float(lat)


QUERY_POINTS = query_points()


@st.composite
def queries(draw: st.DrawFn, filtered: bool) -> NearestQuery:
    lon, lat = draw(QUERY_POINTS)
    size = draw(K_SIZE)  # mostly small k; sometimes more than can match
    k = 1000 if size == 0 else draw(LARGER_K) if size <= 3 else draw(SMALL_K)
    if not filtered:
        return NearestQuery(lon, lat, k=k)
    w = world()
    radius_how = draw(RADIUS_HOW)
    radius = None
    if radius_how == "free":
        radius = draw(FREE_RADIUS)
    elif radius_how == "to_facility":  # exactly some facility's distance: inclusive edge
        f = w.facilities[draw(st.integers(0, len(w.facilities) - 1))]
        radius = dist_m(lon, lat, f.lon, f.lat)
    return NearestQuery(
        lon,
        lat,
        k=k,
        kinds=draw(KIND_SETS),
        amenities=draw(AMENITY_SETS),
        statuses=draw(STATUS_SETS),
        open_at=draw(OPEN_AT),
        radius_m=radius,
    )


def check_against_brute_force(q: NearestQuery) -> None:
    w = world()
    hits = w.index.nearest(q)
    expected = w.brute(q)
    assert [h.facility.id for h in hits] == [fid for fid, _ in expected]
    for h, (_, d) in zip(hits, expected, strict=True):
        assert abs(h.distance_m - d) <= 0.01
        assert 0.0 <= h.bearing_deg < 360.0
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))


@PROPERTY_SETTINGS
@given(queries(filtered=False))
def test_nearest_equals_brute_force(q: NearestQuery) -> None:
    check_against_brute_force(q)


@PROPERTY_SETTINGS
@given(queries(filtered=True))
def test_nearest_equals_brute_force_with_filters(q: NearestQuery) -> None:
    check_against_brute_force(q)


def test_duplicate_locations_tie_break_by_id() -> None:
    w = world()
    f = w.demo[0]  # has a "0dup-" twin at the same location, same kind
    hits = w.index.nearest(NearestQuery(f.lon, f.lat, k=2, kinds=frozenset({f.kind})))
    assert [h.facility.id for h in hits] == [f"0dup-{f.id}", f.id]
    assert [h.distance_m for h in hits] == [0.0, 0.0]


# --- nearest: edge cases ------------------------------------------------------


def test_radius_is_inclusive_and_exact() -> None:
    q_lon, q_lat = 116.40, 39.90
    a = fac("a", 116.4123, 39.9051)
    idx = FacilityIndex([a, fac("b", 116.45, 39.93)])
    d = dist_m(q_lon, q_lat, a.lon, a.lat)
    hits = idx.nearest(NearestQuery(q_lon, q_lat, radius_m=d))
    assert [h.facility.id for h in hits] == ["a"]
    assert hits[0].distance_m == d
    assert idx.nearest(NearestQuery(q_lon, q_lat, radius_m=math.nextafter(d, 0.0))) == []
    # A facility exactly at the query point is within a radius of 0.
    at = idx.nearest(NearestQuery(a.lon, a.lat, radius_m=0.0))
    assert [(h.facility.id, h.distance_m) for h in at] == [("a", 0.0)]


def test_k_larger_than_matching_facilities() -> None:
    fs = [
        fac("a", 116.30, 39.90),
        fac("b", 116.31, 39.90, status="temporarily_closed"),
        fac("c", 116.32, 39.90),
        fac("d", 116.33, 39.90, kind="union_home"),
        fac("e", 116.34, 39.90, status="removed"),
    ]
    idx = FacilityIndex(fs)
    hits = idx.nearest(NearestQuery(116.29, 39.90, k=50, kinds=frozenset({"warm_station"})))
    assert [h.facility.id for h in hits] == ["a", "c"]
    assert [h.rank for h in hits] == [1, 2]
    assert hits[0].distance_m < hits[1].distance_m
    every = idx.nearest(NearestQuery(116.29, 39.90, k=50, statuses=frozenset(STATUSES)))
    assert [h.facility.id for h in every] == ["a", "b", "c", "d", "e"]


def test_empty_index() -> None:
    idx = FacilityIndex()
    assert len(idx) == 0
    assert "a" not in idx
    assert idx.get("a") is None
    assert idx.facilities() == []
    assert idx.nearest(NearestQuery(116.4, 39.9)) == []
    assert idx.nearest(NearestQuery(116.4, 39.9, k=10, radius_m=1e6, kinds=frozenset({"warm_station"}))) == []
    assert idx.bbox(-180, -90, 180, 90) == []
    grown = idx.apply([fac("a", 116.4, 39.9)], [], revision=1)
    assert [h.facility.id for h in grown.nearest(NearestQuery(116.4, 39.9))] == ["a"]
    assert len(idx) == 0


def test_unknown_kind_and_no_matching_status() -> None:
    idx = FacilityIndex([fac("a", 116.4, 39.9)])
    assert idx.nearest(NearestQuery(116.4, 39.9, kinds=frozenset({"nursing_room"}))) == []
    assert idx.nearest(NearestQuery(116.4, 39.9, statuses=frozenset({"removed"}))) == []
    assert idx.nearest(NearestQuery(116.4, 39.9, kinds=frozenset())) == []


def test_degrees_are_not_metres_at_40n() -> None:
    """At 40°N a degree of longitude is ~85 km, of latitude ~111 km."""
    q_lon, q_lat = 116.40, 40.00
    east = fac("east", q_lon + 0.0100, q_lat)  # ~852 m
    north = fac("north", q_lon, q_lat + 0.0080)  # ~888 m
    # The premise: by lon/lat degrees "north" is nearer, in metres "east" is.
    assert math.hypot(north.lon - q_lon, north.lat - q_lat) < math.hypot(east.lon - q_lon, east.lat - q_lat)
    d_east, d_north = dist_m(q_lon, q_lat, east.lon, east.lat), dist_m(q_lon, q_lat, north.lon, north.lat)
    assert d_east < d_north
    hits = FacilityIndex([north, east]).nearest(NearestQuery(q_lon, q_lat, k=2))
    assert [h.facility.id for h in hits] == ["east", "north"]
    assert hits[0].distance_m == pytest.approx(d_east, abs=0.01)
    assert hits[0].bearing_deg == pytest.approx(90.0, abs=0.01)
    assert hits[1].bearing_deg == pytest.approx(0.0, abs=1e-6)


def test_chord_order_is_not_geodesic_order() -> None:
    """Ten points ~east are nearer by central angle, one due north is nearer in metres.

    At 40°N an east-west radian is ~6,387 km (N) and a north-south one ~6,362 km (M),
    so the index must look past the candidates the kd-tree returns first.
    """
    q_lon, q_lat = 116.40, 40.00
    n_lon, n_lat, _ = GEOD.fwd(q_lon, q_lat, 0.0, 1000.0)
    fs = [fac("north", float(n_lon), float(n_lat))]
    for i in range(10):
        lon, lat, _ = GEOD.fwd(q_lon, q_lat, 88.0 + 0.4 * i, 1003.0 + 0.1 * i)
        fs.append(fac(f"east{i}", float(lon), float(lat)))
    # The premise: every "east" point is nearer than "north" on the unit sphere.
    xyz = unit_vectors([f.lon for f in fs], [f.lat for f in fs])
    chords = np.linalg.norm(xyz - unit_vectors([q_lon], [q_lat]), axis=1)
    assert chords[0] > chords[1:].max()
    idx = FacilityIndex(fs)
    assert [h.facility.id for h in idx.nearest(NearestQuery(q_lon, q_lat, k=1))] == ["north"]
    hits = idx.nearest(NearestQuery(q_lon, q_lat, k=11))
    assert [h.facility.id for h in hits] == ["north"] + [f"east{i}" for i in range(10)]
    assert hits[0].distance_m == pytest.approx(1000.0, abs=1e-6)


# --- apply: immutable snapshots -----------------------------------------------


def snapshot_view(idx: FacilityIndex) -> tuple[object, ...]:
    """Everything observable about an index, for before/after comparisons."""
    probes = [(116.30, 39.90), (116.40, 39.95), (116.55, 40.05)]
    near = [
        [
            (h.facility.id, h.distance_m, h.bearing_deg)
            for h in idx.nearest(NearestQuery(x, y, k=10, kinds=kinds))
        ]
        for x, y in probes
        for kinds in (None, frozenset({"warm_station"}), frozenset({"union_home"}))
    ]
    boxes = [(116.2, 39.8, 116.6, 40.1), (116.29, 39.89, 116.31, 39.91), (117.0, 40.0, 118.0, 41.0)]
    return (
        idx.revision,
        len(idx),
        idx.facilities(),
        near,
        [[f.id for f in idx.bbox(*b)] for b in boxes],
    )


def test_apply_leaves_old_snapshot_and_builds_new_one() -> None:
    a = fac("a", 116.30, 39.90)
    b = fac("b", 116.31, 39.90)
    c = fac("c", 116.40, 39.95, kind="union_home")
    d = fac("d", 116.50, 40.00, kind="nursing_room")
    old = FacilityIndex([a, b, c, d], revision=1)
    before = snapshot_view(old)

    moved_a = a.replace(lon=117.50, lat=40.50)  # move out of every probe box
    e = fac("e", 116.305, 39.905)  # insert
    c_warm = c.replace(kind="warm_station")  # kind change
    new = old.apply([moved_a, e, c_warm], ["b"], revision=2)  # and delete b

    assert snapshot_view(old) == before
    assert "b" in old and "e" not in old and old.get("a") == a

    assert new.revision == 2
    assert snapshot_view(new)[1:] == snapshot_view(FacilityIndex([moved_a, c_warm, d, e], revision=2))[1:]
    assert "b" not in new and new.get("a") == moved_a
    assert [f.id for f in new.bbox(116.29, 39.89, 116.31, 39.91)] == ["e"]
    assert [f.id for f in new.bbox(117.4, 40.4, 117.6, 40.6)] == ["a"]
    near_union = new.nearest(NearestQuery(116.40, 39.95, kinds=frozenset({"union_home"})))
    assert near_union == []
    near_warm = new.nearest(NearestQuery(116.40, 39.95, k=1, kinds=frozenset({"warm_station"})))
    assert [h.facility.id for h in near_warm] == ["c"]


def test_many_applies_keep_every_snapshot_right() -> None:
    """A long run of applies (the overlay grows, folds merge it): every index stays as it was."""
    base = [fac(f"f{i:03d}", 116.0 + i * 0.01, 39.9) for i in range(50)]
    snapshots = [FacilityIndex(base, revision=0)]
    views = {0: snapshot_view(snapshots[0])}
    for r in range(1, 400):
        i = r % 50
        f = snapshots[-1].get(f"f{i:03d}")
        assert f is not None
        nxt = snapshots[-1].apply([f.replace(lat=f.lat + 0.001)], [], revision=r)
        if r % 60 == 0:
            nxt = nxt.fold()
            assert nxt.overlay_size == 0 and nxt.base_revision == r
        snapshots.append(nxt)
        if r % 37 == 0:
            views[r] = snapshot_view(snapshots[r])
    for r, view in views.items():
        assert snapshot_view(snapshots[r]) == view
    last = snapshots[-1]
    assert 0 < last.overlay_size <= 50
    assert snapshot_view(last)[1:] == snapshot_view(FacilityIndex(last.facilities()))[1:]
    assert snapshot_view(last.fold())[1:] == snapshot_view(last)[1:]


# --- bbox -----------------------------------------------------------------------


def test_bbox_edges_are_inclusive_and_filters_apply() -> None:
    box = (116.30, 39.90, 116.40, 40.00)
    fs = [
        fac("corner-sw", 116.30, 39.90),
        fac("corner-ne", 116.40, 40.00, kind="union_home"),
        fac("edge-w", 116.30, 39.95, status="temporarily_closed"),
        fac("edge-n", 116.35, 40.00, kind="nursing_room"),
        fac("inside", 116.35, 39.95),
        fac("out-w", math.nextafter(116.30, 0.0), 39.95),
        fac("out-n", 116.35, math.nextafter(40.00, 90.0)),
        fac("far", 117.0, 41.0),
    ]
    idx = FacilityIndex(fs)
    assert [f.id for f in idx.bbox(*box)] == ["corner-ne", "corner-sw", "edge-n", "edge-w", "inside"]
    assert [f.id for f in idx.bbox(*box, kinds={"warm_station"})] == ["corner-sw", "edge-w", "inside"]
    assert [f.id for f in idx.bbox(*box, statuses={"open"})] == ["corner-ne", "corner-sw", "edge-n", "inside"]
    assert [f.id for f in idx.bbox(*box, kinds={"warm_station"}, statuses={"temporarily_closed"})] == [
        "edge-w"
    ]
    assert idx.bbox(*box, kinds=set()) == []
    # A degenerate box (a point) still finds a facility exactly there.
    assert [f.id for f in idx.bbox(116.35, 39.95, 116.35, 39.95)] == ["inside"]


# --- overlay: random edits against brute force -------------------------------------


def brute_force(facilities: list[Facility], q: NearestQuery) -> list[tuple[str, float]]:
    """Every facility passing the filters ranked by (Geod distance, id), first k."""
    out = []
    for f in facilities:
        if f.status not in q.statuses or (q.kinds is not None and f.kind not in q.kinds):
            continue
        if not q.amenities <= f.amenities:
            continue
        if q.open_at is not None and is_open(f.opening_hours, q.open_at) is not True:
            continue
        d = dist_m(q.lon, q.lat, f.lon, f.lat)
        if q.radius_m is not None and d > q.radius_m:
            continue
        out.append((d, f.id))
    out.sort()
    return [(fid, d) for d, fid in out[: q.k]]


@cache
def small_world() -> list[Facility]:
    """Every 10th facility of the demo layer (and its twins), plus statuses, as the starting state."""
    fs = world().facilities[::10]
    return [f.replace(status=list(STATUSES)[i % 7 % 3]) for i, f in enumerate(fs)]


EDIT = st.tuples(
    st.sampled_from(["move", "kind", "status", "amenities", "hours", "delete", "insert", "twin"]),
    st.integers(0, 10_000),
    st.floats(-0.05, 0.05),
    st.floats(-0.05, 0.05),
)
HOURS = ["", "Mo-Su 08:00-20:00", "24/7", "Mo-Fr 09:00-17:00", "off"]


def edited(
    state: dict[str, Facility], edit: tuple[str, int, float, float]
) -> tuple[list[Facility], list[str]]:
    """One random edit of ``state``: (changed, deleted ids)."""
    how, n, dlon, dlat = edit
    ids = sorted(state)
    if how == "insert" or not ids:
        f = fac(f"new-{n:05d}", 116.40 + dlon * 4, 39.90 + dlat * 4, kind=KIND_NAMES[n % 3])
        return [f], []
    f = state[ids[n % len(ids)]]
    if how == "delete":
        return [], [f.id]
    if how == "move":
        return [f.replace(lon=f.lon + dlon, lat=f.lat + dlat)], []
    if how == "kind":
        return [f.replace(kind=KIND_NAMES[(KIND_NAMES.index(f.kind) + 1) % 3])], []
    if how == "status":
        return [f.replace(status=list(STATUSES)[n % 3])], []
    if how == "amenities":
        return [f.replace(amenities=frozenset(list(AMENITIES)[n % 5 : n % 5 + 1 + n % 3]))], []
    if how == "hours":
        return [f.replace(opening_hours=HOURS[n % len(HOURS)])], []
    # "twin": another facility at exactly the same place (ties broken by id)
    return [f.replace(id=f"{f.id}~{n % 7}")], []


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    st.lists(st.lists(EDIT, min_size=1, max_size=12), min_size=1, max_size=12),
    st.lists(queries(filtered=True), min_size=3, max_size=3),
    st.booleans(),
)
def test_overlay_and_fold_equal_brute_force_after_random_edits(
    batches: list[list[tuple[str, int, float, float]]], qs: list[NearestQuery], fold_midway: bool
) -> None:
    """index + overlay == brute force over the edited facilities, for every query, after every batch."""
    state = {f.id: f for f in small_world()}
    idx = FacilityIndex(state.values(), revision=0)
    for r, batch in enumerate(batches, start=1):
        changed: dict[str, Facility] = {}
        deleted: set[str] = set()
        for edit in batch:
            ch, de = edited(state, edit)
            for f in ch:
                state[f.id] = f
                changed[f.id] = f
                deleted.discard(f.id)
            for fid in de:
                state.pop(fid, None)
                changed.pop(fid, None)
                deleted.add(fid)
        idx = idx.apply(list(changed.values()), sorted(deleted), revision=r)
        if fold_midway and r == len(batches) // 2:
            idx = idx.fold()
    facilities = sorted(state.values(), key=lambda f: f.id)
    assert len(idx) == len(facilities)
    assert idx.facilities() == facilities
    for variant in (idx, idx.fold()):
        for q in qs:
            hits = variant.nearest(q)
            expected = brute_force(facilities, q)
            assert [h.facility.id for h in hits] == [fid for fid, _ in expected]
            for h, (_, d) in zip(hits, expected, strict=True):
                assert abs(h.distance_m - d) <= 0.01
                assert h.facility == state[h.facility.id]
        box = (116.3, 39.85, 116.5, 40.0)
        assert [f.id for f in variant.bbox(*box)] == [
            f.id for f in facilities if box[0] <= f.lon <= box[2] and box[1] <= f.lat <= box[3]
        ]
    some = facilities[len(facilities) // 2]
    assert idx.get(some.id) == some and some.id in idx
    h = idx.handle(some.id)
    assert h is not None and idx.facility_id(h) == some.id and idx.lonlat(h) == (some.lon, some.lat)
    assert json.loads(idx.properties_json(h))["id"] == some.id


def test_overlay_larger_than_the_scan_limit_uses_the_chord_bound() -> None:
    """200 changed facilities around the query: the overlay's prefilter keeps the answer exact."""
    fs = [fac(f"b{i:03d}", 116.30 + (i % 20) * 0.01, 39.90 + (i // 20) * 0.01) for i in range(200)]
    idx = FacilityIndex(fs, revision=1)
    moved = [f.replace(lon=f.lon + 0.0031, lat=f.lat - 0.0017) for f in fs]
    new = idx.apply(moved, [], revision=2)
    assert new.overlay_size == 200
    for q in (
        NearestQuery(116.35, 39.95, k=5),
        NearestQuery(116.41, 39.97, k=17),
        NearestQuery(116.0, 39.0, k=3),
    ):
        assert [(h.facility.id, h.distance_m) for h in new.nearest(q)] == [
            (h.facility.id, h.distance_m) for h in FacilityIndex(moved).nearest(q)
        ]


def test_patch_is_pinned_until_its_revision() -> None:
    """An own write stays until the change feed reaches its revision, whatever older change sets say."""
    a, b = fac("a", 116.30, 39.90), fac("b", 116.31, 39.90)
    idx = FacilityIndex([a, b], revision=5)
    mine = a.replace(name="Mine", version=2)
    patched = idx.patch([mine], ["b"], until_revision=7)
    assert patched.revision == 5 and patched.get("a") == mine and "b" not in patched
    # A change set read at revision 6 (before the write) holds the older state of a and b.
    older = patched.apply([a.replace(name="Older"), b], [], revision=6)
    assert older.get("a") == mine and "b" not in older and older.pins == {"a": 7, "b": 7}
    # At revision 7 the feed has the write (or something newer): it wins and the pins go.
    caught = older.apply([a.replace(name="Newer", version=3)], [], revision=7)
    assert caught.get("a").name == "Newer" and "b" not in caught and caught.pins == {}
    # A fold keeps the pins.
    assert patched.fold().pins == {"a": 7, "b": 7} and patched.fold().get("a") == mine


def test_rebased_reapplies_what_came_after_the_fold_started() -> None:
    fs = [fac(f"r{i}", 116.3 + i * 0.01, 39.9) for i in range(10)]
    idx = FacilityIndex(fs, revision=1).apply([fs[0].replace(lat=40.0)], [], revision=2)
    start = idx
    folded = start.fold()
    later = start.apply([fs[1].replace(lat=40.1)], ["r2"], revision=3).patch([fs[3].replace(name="P")], [], 9)
    rebased = later.rebased(folded, start)
    assert rebased.revision == 3 and rebased.base_revision == 2 and rebased.pins == {"r3": 9}
    assert rebased.facilities() == later.facilities()
    assert snapshot_view(rebased)[1:] == snapshot_view(later)[1:]


# --- snapshots -----------------------------------------------------------------------


def test_snapshot_round_trip_maps_the_file(tmp_path: Path) -> None:
    w = world()
    idx = w.index.apply([w.demo[0].replace(name="Changed")], [w.demo[1].id], revision=4).fold()
    path = tmp_path / "s.lidx"
    write_snapshot(idx, path, "store-1")
    loaded = load_snapshot(path, "store-1", 4)
    assert loaded.revision == 4 and loaded.overlay_size == 0
    assert snapshot_view(loaded) == snapshot_view(idx)
    assert loaded.facilities() == idx.facilities()
    # The arrays are read-only views of the file's mapping, not copies; the properties
    # blob is read from the file with pread, never mapped.
    base = loaded._base
    for arr in (base.lon, base.ids, base.parts[0].xyz, base.parts[0].tree.indices):
        assert not arr.flags.writeable and not arr.flags.owndata
    assert isinstance(base.segments[0], FileSegment) and len(base.segments) == 1
    with pytest.raises(ValueError):
        write_snapshot(
            idx.apply([w.demo[2].replace(name="x")], [], revision=5), tmp_path / "t.lidx", "store-1"
        )


def test_snapshot_that_does_not_match_is_never_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    w = world()
    path = tmp_path / "s.lidx"
    write_snapshot(w.index, path, "store-1")
    good = path.read_bytes()
    with pytest.raises(SnapshotError, match="store"):
        load_snapshot(path, "store-2")
    with pytest.raises(SnapshotError, match="revision"):
        load_snapshot(path, "store-1", revision=1)
    import locator.core.snapshot as snapshot

    monkeypatch.setattr(snapshot, "layout_hash", lambda: "other code")
    with pytest.raises(SnapshotError, match="layout"):
        load_snapshot(path, "store-1")
    monkeypatch.undo()
    # Truncated, and one flipped bit anywhere in the data (columns, blob, kd-tree buffer).
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(SnapshotError):
        load_snapshot(path, "store-1")
    for at in (100, len(good) // 3, len(good) // 2, len(good) - 2000):
        bad = bytearray(good)
        bad[at] ^= 0x10
        path.write_bytes(bytes(bad))
        with pytest.raises(SnapshotError):
            load_snapshot(path, "store-1")
    with pytest.raises(SnapshotError):
        load_snapshot(tmp_path / "missing.lidx", "store-1")
    path.write_bytes(good)
    assert len(load_snapshot(path, "store-1")) == len(w.index)


def test_preloaded_snapshot_is_taken_once_for_the_same_file(tmp_path: Path) -> None:
    """A gunicorn master preloads; a worker's load of the unchanged file takes it without reading."""
    import locator.core.snapshot as snapshot

    path = tmp_path / "s.lidx"
    write_snapshot(world().index, path, "store-1")
    pre = snapshot.preload(path, "store-1")
    with pytest.raises(SnapshotError):
        load_snapshot(path, "store-2")  # another store: never the preloaded one
    assert load_snapshot(path, "store-1", revision=0) is pre  # taken once...
    again = load_snapshot(path, "store-1", revision=0)
    assert again is not pre and snapshot_view(again) == snapshot_view(pre)  # ...then read normally
    snapshot.preload(path, "store-1")
    path.write_bytes(path.read_bytes())  # the file changed (mtime): not the preloaded one
    assert load_snapshot(path, "store-1") is not pre
