"""Rules for the rider's result list: freshness of the data and the order riders see.

No Flask here. The index answers "nearest by geodesic distance"; this module decides
how a rider's list is ordered once distances are known.

Freshness
---------
A facility is **stale** when it was last verified more than :data:`STALE_AFTER`
(90 days; the app passes ``LOCATOR_STALE_DAYS``, the managers' "stale" list uses the
same setting) before now, or never. Stale facilities are shown, marked as such.

Ranking rule (docs/riders.md)
-----------------------------
Distances are cut into **bands** of :data:`BAND_M` (250 m): band ``b`` holds facilities
with ``b * 250 <= distance < (b + 1) * 250`` metres. The list is ordered by **demoted
last** (live door status, :attr:`locator.core.live.LiveStatus.demoted`: closed by a
manager, locked according to its door device, or reported locked by two independent
riders within 2 h), then band, then verified before stale, then distance, then id. So a
verified facility never loses to a stale one in the same 250 m band, and never jumps
ahead of anything in a nearer band: the detour it can cause is below 250 m (about 3
minutes on foot). The JSON API keeps pure distance order.

:func:`ranked_nearest` is exact: it asks the index for more candidates until every
facility in the band of the k-th nearest one is known, so a verified facility just
past the k-th by distance but in the same band is not missed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Protocol

from locator.core.domain import Facility, NearestHit, NearestQuery

#: A facility not verified for longer than this is stale.
STALE_AFTER: Final = timedelta(days=90)
#: Width of a distance band for the rider ranking, metres.
BAND_M: Final = 250.0


@dataclass(frozen=True, slots=True)
class Freshness:
    """How recently a facility's data was confirmed.

    Attributes
    ----------
    verified_at : datetime or None
        Last verification (timezone-aware), None if never.
    age_days : int or None
        Whole days since ``verified_at`` (0 = within the last 24 h); None if never.
    stale : bool
        Never verified, or verified more than :data:`STALE_AFTER` ago.
    """

    verified_at: datetime | None
    age_days: int | None
    stale: bool


def freshness(f: Facility, now: datetime, *, stale_after: timedelta = STALE_AFTER) -> Freshness:
    """The :class:`Freshness` of ``f`` at instant ``now`` (timezone-aware)."""
    if f.verified_at is None:
        return Freshness(None, None, True)
    age = now - f.verified_at
    return Freshness(f.verified_at, max(0, age.days), age > stale_after)


def band(distance_m: float, band_m: float = BAND_M) -> int:
    """The distance band of ``distance_m`` metres (0 for [0, band_m), 1 for the next...)."""
    return int(math.floor(distance_m / band_m))


#: ``facility -> bool``: whether the live door status demotes it now (see the module docstring).
Demoted = Callable[[Facility], bool]


def _never(_: Facility) -> bool:
    return False


def rank_for_riders(
    hits: Sequence[NearestHit],
    now: datetime,
    *,
    band_m: float = BAND_M,
    stale_after: timedelta = STALE_AFTER,
    demoted: Demoted = _never,
) -> list[NearestHit]:
    """Reorder hits by (demoted, band, stale, distance, id) and renumber ranks from 1.

    Parameters
    ----------
    hits : sequence of NearestHit
        Any order; distances in metres.
    now : datetime
        For freshness.
    band_m : float
        Band width, metres.
    stale_after : timedelta
        Verification age after which a facility is stale (``LOCATOR_STALE_DAYS``).
    demoted : callable, optional
        Whether a facility's live status demotes it (default: none is).
    """

    def key(h: NearestHit) -> tuple[bool, int, bool, float, str]:
        stale = freshness(h.facility, now, stale_after=stale_after).stale
        return (demoted(h.facility), band(h.distance_m, band_m), stale, h.distance_m, h.facility.id)

    ordered = sorted(hits, key=key)
    return [dataclasses.replace(h, rank=i) for i, h in enumerate(ordered, start=1)]


class RowSource(Protocol):
    """What :func:`ranked_nearest` reads: an index answering with rows, materialising on demand.

    :class:`locator.core.index.FacilityIndex` is one. Handles are valid for the object
    that returned them (one index version).
    """

    def nearest_rows(self, q: NearestQuery) -> list[tuple[int, float, float]]:
        """``(handle, distance_m, bearing_deg)`` in ascending (geodesic distance, id)."""
        ...

    def facility(self, handle: int) -> Facility:
        """The facility of a handle."""
        ...

    def facility_id(self, handle: int) -> str:
        """The facility's id (no materialisation)."""
        ...

    def status_of(self, handle: int) -> str:
        """The facility's status (no materialisation)."""
        ...


def ranked_nearest(
    index: RowSource,
    query: NearestQuery,
    now: datetime,
    *,
    band_m: float = BAND_M,
    stale_after: timedelta = STALE_AFTER,
    demoted: Demoted = _never,
    may_be_demoted: Callable[[str, str], bool] | None = None,
) -> list[NearestHit]:
    """The rider's list: the ``query.k`` best facilities by :func:`rank_for_riders`.

    Parameters
    ----------
    index : RowSource
        The index (pure geodesic order, ties by id); read as rows, facilities are
        materialised only where the ranking needs them.
    query : NearestQuery
        WGS-84; ``query.k`` is the list length.
    now : datetime
        For freshness.
    band_m : float
        Band width, metres.
    stale_after : timedelta
        Verification age after which a facility is stale.
    demoted : callable, optional
        Whether a facility's live status demotes it (a few facilities at most).
    may_be_demoted : callable, optional
        ``(facility_id, status) -> bool``: False when the facility is certainly not
        demoted, so that it need not be materialised to ask ``demoted`` (default: every
        facility is asked).

    Returns
    -------
    list of NearestHit
        At most ``query.k`` hits, ranks renumbered; equal to ranking every candidate with
        :func:`rank_for_riders`. Exact: candidates are fetched until the farthest fetched
        one lies beyond the band of the k-th nearest facility that is not demoted (or the
        index has no more), so every facility that could rank in the top k was seen;
        demoted ones fill the list only when fewer than k others exist. Of the k-th one's
        band, facilities are materialised in distance order only until enough verified
        ones fill the list (a dense band may hold hundreds).
    """
    k = query.k
    if k < 1:
        return []
    memo: dict[int, Facility] = {}

    def fac(h: int) -> Facility:
        f = memo.get(h)
        if f is None:
            f = memo[h] = index.facility(h)
        return f

    down: dict[int, bool] = {}

    def is_demoted(h: int) -> bool:
        d = down.get(h)
        if d is None:
            if may_be_demoted is not None and not may_be_demoted(index.facility_id(h), index.status_of(h)):
                d = False
            else:
                d = demoted(fac(h))
            down[h] = d
        return d

    m = k
    while True:
        rows = index.nearest_rows(dataclasses.replace(query, k=m))
        kept = [r for r in rows if not is_demoted(r[0])]
        if len(rows) < m:
            break
        if len(kept) >= k and band(rows[-1][1], band_m) > band(kept[k - 1][1], band_m):
            break
        band_end = (band(kept[k - 1][1], band_m) + 1) * band_m if len(kept) >= k else None
        m = _next_fetch(m, rows[0][1], rows[-1][1], band_end)

    def hit(r: tuple[int, float, float]) -> NearestHit:
        return NearestHit(facility=fac(r[0]), distance_m=r[1], bearing_deg=r[2], rank=0)

    if len(kept) < k:  # every facility of the query was fetched: rank them all
        chosen = [hit(r) for r in rows]
        down_ids = {index.facility_id(h) for h, d in down.items() if d}
        return rank_for_riders(
            chosen, now, band_m=band_m, stale_after=stale_after, demoted=lambda f: f.id in down_ids
        )[:k]
    last = band(kept[k - 1][1], band_m)
    chosen = [hit(r) for r in kept if band(r[1], band_m) < last]
    fresh_needed = k - len(chosen)
    stale_seen: list[NearestHit] = []
    for r in kept[len(chosen) :]:  # the k-th one's band, in (distance, id) order
        if band(r[1], band_m) > last or fresh_needed == 0:
            break
        h = hit(r)
        if freshness(h.facility, now, stale_after=stale_after).stale:
            stale_seen.append(h)
        else:
            chosen.append(h)
            fresh_needed -= 1
    chosen.extend(stale_seen[:fresh_needed])
    # None of the chosen is demoted: the k best by the full key, in its order.
    return rank_for_riders(chosen, now, band_m=band_m, stale_after=stale_after)


#: Head room of :func:`_next_fetch`'s estimate (so that one more fetch is usually the last).
_FETCH_MARGIN: Final = 1.3
#: The most :func:`_next_fetch` multiplies a fetch by (facilities crowded at one address
#: would otherwise make the estimate explode).
_FETCH_GROWTH_MAX: Final = 8


def _next_fetch(m: int, first_m: float, reached_m: float, band_end_m: float | None) -> int:
    """How many candidates :func:`ranked_nearest` asks for next: at least twice ``m``.

    The ``m`` candidates lie between ``first_m`` and ``reached_m`` metres of the query
    point; every facility closer than ``band_end_m`` (the end of the k-th one's band; None
    while fewer than k are not demoted) is needed. Facilities are counted as evenly spread
    over the ring beyond the nearest one, so the ring out to ``band_end_m`` holds about
    ``m * (band_end_m² - first_m²) / (reached_m² - first_m²)`` of them; asking for that
    many (with :data:`_FETCH_MARGIN`) usually ends the search in one more fetch instead of
    several doublings, each of which re-reads every nearer facility. The growth is capped
    at :data:`_FETCH_GROWTH_MAX` times ``m`` (facilities crowded at one address make the
    ring nearly empty). Only the fetch is sized here: the stopping rule, and so
    exactness, is unchanged.
    """
    doubled = 2 * m
    ring = reached_m * reached_m - first_m * first_m
    if band_end_m is None or ring <= 0.0:
        return doubled if band_end_m is None else _FETCH_GROWTH_MAX * m
    estimate = math.ceil(_FETCH_MARGIN * m * (band_end_m * band_end_m - first_m * first_m) / ring)
    return min(max(doubled, estimate), _FETCH_GROWTH_MAX * m)


#: A nearer station of any state is worth a note when the first open one is farther than this.
FAR_OPEN_M: Final = 1000.0
#: ...or more than this many times as far as the nearest station of any state.
FAR_OPEN_RATIO: Final = 2.0


def closer_worth_noting(nearest_any: NearestHit | None, first_open: NearestHit | None) -> bool:
    """Whether the list should say that a closer station exists (issue 13, "honest open now").

    Parameters
    ----------
    nearest_any : NearestHit or None
        The nearest station of any state (same kinds and needs), geodesic metres.
    first_open : NearestHit or None
        The first result of the "open now" list.

    Returns
    -------
    bool
        True when ``nearest_any`` is another facility and the first open one is more
        than :data:`FAR_OPEN_M` away, or more than :data:`FAR_OPEN_RATIO` times as far
        as ``nearest_any`` (or there is no open one at all).
    """
    if nearest_any is None:
        return False
    if first_open is None:
        return True
    if first_open.facility.id == nearest_any.facility.id:
        return False
    far = first_open.distance_m > FAR_OPEN_M
    return far or first_open.distance_m > FAR_OPEN_RATIO * nearest_any.distance_m


#: Compass directions for :func:`direction`, clockwise from north in 45-degree sectors.
DIRECTIONS: Final = ("north", "north-east", "east", "south-east", "south", "south-west", "west", "north-west")


def direction(bearing_deg: float) -> str:
    """The 8-point compass direction of a bearing (degrees clockwise from north).

    >>> direction(0.0), direction(22.4), direction(22.5), direction(315.0), direction(359.9)
    ('north', 'north', 'north-east', 'north-west', 'north')
    """
    return DIRECTIONS[int(((bearing_deg % 360.0) + 22.5) // 45.0) % 8]


#: Beyond this straight-line distance riders get no walking link, only cycling (issue 13).
WALK_LINK_MAX_M: Final = 3000.0


def travel_modes(distance_m: float) -> tuple[str, ...]:
    """The travel modes offered for a straight-line distance, best first.

    Up to :data:`WALK_LINK_MAX_M` both walking and cycling; beyond, cycling only.
    """
    return ("walk", "cycle") if distance_m <= WALK_LINK_MAX_M else ("cycle",)


#: The big "what do you need" toggles on the start and results pages, per kind
#: (issue 4: toilet, drinking water, heating/cooling, food heating, phone charging, rest,
#: first aid, rain shelter; nursing rooms have their own set). ``None`` = all kinds.
NEED_TOGGLES: Final[dict[str | None, tuple[str, ...]]] = {
    None: (
        "toilet",
        "drinking_water",
        "heating",
        "cooling",
        "food_heating",
        "phone_charging",
        "rest",
        "first_aid",
        "rain_shelter",
    ),
    "warm_station": (
        "toilet",
        "drinking_water",
        "heating",
        "cooling",
        "food_heating",
        "phone_charging",
        "rest",
        "first_aid",
        "rain_shelter",
    ),
    "union_home": (
        "toilet",
        "drinking_water",
        "heating",
        "cooling",
        "food_heating",
        "phone_charging",
        "rest",
        "first_aid",
    ),
    "nursing_room": (
        "breastfeeding_room",
        "diaper_changing",
        "lockable_door",
        "fridge",
        "drinking_water",
        "toilet",
    ),
}


def need_toggles(kind: str | None) -> tuple[str, ...]:
    """The amenity toggles offered for ``kind`` (None or unknown: the general set)."""
    return NEED_TOGGLES.get(kind, NEED_TOGGLES[None])
