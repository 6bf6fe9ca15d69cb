"""Freshness and the rider ranking rule (band, verified first, distance, id)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from locator.core.domain import Facility, NearestQuery
from locator.core.geo import geodesic_distance_m
from locator.core.index import FacilityIndex
from locator.core.riders import BAND_M, band, freshness, rank_for_riders, ranked_nearest

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


def fac(i: int, lon: float, lat: float, age_days: int | None) -> Facility:
    verified = None if age_days is None else NOW - timedelta(days=age_days)
    return Facility(f"f{i:04d}", "warm_station", f"F{i}", lon, lat, verified_at=verified)


def test_freshness() -> None:
    assert freshness(fac(1, 116.3, 39.9, 10), NOW).stale is False
    assert freshness(fac(1, 116.3, 39.9, 10), NOW).age_days == 10
    assert freshness(fac(1, 116.3, 39.9, 90), NOW).stale is False
    assert freshness(fac(1, 116.3, 39.9, 91), NOW).stale is True
    never = freshness(fac(1, 116.3, 39.9, None), NOW)
    assert never.stale and never.age_days is None


def test_verified_beats_stale_in_the_same_band_only() -> None:
    # Query at the origin; a stale one at ~100 m, a verified one at ~200 m (same band),
    # a verified one at ~300 m (next band).
    q = (116.30, 39.90)
    stale = fac(1, 116.30 + 100 / 85_300, 39.90, 200)
    fresh = fac(2, 116.30 + 200 / 85_300, 39.90, 5)
    far = fac(3, 116.30 + 300 / 85_300, 39.90, 5)
    idx = FacilityIndex([stale, fresh, far])
    hits = ranked_nearest(idx, NearestQuery(*q, k=3), NOW)
    assert [h.facility.id for h in hits] == ["f0002", "f0001", "f0003"]
    assert [h.rank for h in hits] == [1, 2, 3]
    # With k=1 the verified one in the same band still wins although it is 2nd by distance.
    assert [h.facility.id for h in ranked_nearest(idx, NearestQuery(*q, k=1), NOW)] == ["f0002"]


@settings(max_examples=60, deadline=None)
@given(
    pts=st.lists(
        st.tuples(st.floats(-0.01, 0.01), st.floats(-0.01, 0.01), st.one_of(st.none(), st.integers(0, 200))),
        min_size=1,
        max_size=60,
    ),
    k=st.integers(1, 12),
)
def test_ranked_nearest_equals_brute_force(pts, k) -> None:
    facilities = [fac(i, 116.3 + dx, 39.9 + dy, age) for i, (dx, dy, age) in enumerate(pts)]
    idx = FacilityIndex(facilities)
    got = ranked_nearest(idx, NearestQuery(116.3, 39.9, k=k), NOW)

    def key(f: Facility):  # type: ignore[no-untyped-def]
        d = geodesic_distance_m(116.3, 39.9, f.lon, f.lat)
        return (band(d), freshness(f, NOW).stale, d, f.id)

    want = sorted(facilities, key=key)[:k]
    assert [h.facility.id for h in got] == [f.id for f in want]


@settings(max_examples=80, deadline=None)
@given(
    pts=st.lists(
        st.tuples(
            # Some facilities crowd at a few addresses, the rest spread over ~2 km.
            st.one_of(st.sampled_from([0.0, 0.0001, 0.004]), st.floats(-0.012, 0.012)),
            st.one_of(st.sampled_from([0.0, 0.0001]), st.floats(-0.012, 0.012)),
            st.one_of(st.none(), st.integers(0, 200)),
            st.booleans(),
        ),
        min_size=1,
        max_size=150,
    ),
    k=st.integers(1, 12),
)
def test_ranked_nearest_with_demoted_and_crowded_facilities_equals_brute_force(pts, k) -> None:
    """Demoted (live status) facilities go last; the fetch sizing never loses one."""
    facilities = [fac(i, 116.3 + dx, 39.9 + dy, age) for i, (dx, dy, age, _) in enumerate(pts)]
    down = {f.id for f, (*_, is_down) in zip(facilities, pts, strict=True) if is_down}
    idx = FacilityIndex(facilities)
    calls: list[int] = []
    materialised: list[str] = []

    class Spy:
        """The index, counting fetches and materialised facilities."""

        def nearest_rows(self, q: NearestQuery) -> list[tuple[int, float, float]]:
            calls.append(q.k)
            return idx.nearest_rows(q)

        def facility(self, handle: int) -> Facility:
            materialised.append(idx.facility_id(handle))
            return idx.facility(handle)

        facility_id = staticmethod(idx.facility_id)
        status_of = staticmethod(idx.status_of)

    got = ranked_nearest(
        Spy(),
        NearestQuery(116.3, 39.9, k=k),
        NOW,
        demoted=lambda f: f.id in down,
        may_be_demoted=lambda fid, status: fid in down,
    )

    def key(f: Facility):  # type: ignore[no-untyped-def]
        d = geodesic_distance_m(116.3, 39.9, f.lon, f.lat)
        return (f.id in down, band(d), freshness(f, NOW).stale, d, f.id)

    want = sorted(facilities, key=key)[:k]
    assert [h.facility.id for h in got] == [f.id for f in want]
    assert all(b >= 2 * a for a, b in itertools.pairwise(calls))  # each fetch at least doubles
    assert len(materialised) == len(set(materialised))  # each at most once
    # Only the listed ones and the stale ones passed over in the last band are materialised
    # (a demoted one is named by may_be_demoted and needs materialising for the predicate).
    passed_over = {f.id for f in facilities if freshness(f, NOW).stale or f.id in down}
    assert set(materialised) <= {h.facility.id for h in got} | passed_over


def test_rank_for_riders_renumbers() -> None:
    idx = FacilityIndex([fac(1, 116.3, 39.9, 300), fac(2, 116.3001, 39.9, 1)])
    hits = rank_for_riders(idx.nearest(NearestQuery(116.3, 39.9, k=2)), NOW)
    assert [(h.facility.id, h.rank) for h in hits] == [("f0002", 1), ("f0001", 2)]
    assert BAND_M == 250.0
