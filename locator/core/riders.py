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
with ``b * 250 <= distance < (b + 1) * 250`` metres. The list is ordered by band, then
verified before stale, then distance, then id. So a verified facility never loses
to a stale one in the same 250 m band, and never jumps ahead of anything in a nearer
band: the detour it can cause is below 250 m (about 3 minutes on foot). The JSON API
keeps pure distance order.

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
from typing import Final

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


def rank_for_riders(
    hits: Sequence[NearestHit],
    now: datetime,
    *,
    band_m: float = BAND_M,
    stale_after: timedelta = STALE_AFTER,
) -> list[NearestHit]:
    """Reorder hits by (band, stale, distance, id) and renumber ranks from 1.

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
    """

    def key(h: NearestHit) -> tuple[int, bool, float, str]:
        stale = freshness(h.facility, now, stale_after=stale_after).stale
        return (band(h.distance_m, band_m), stale, h.distance_m, h.facility.id)

    ordered = sorted(hits, key=key)
    return [dataclasses.replace(h, rank=i) for i, h in enumerate(ordered, start=1)]


def ranked_nearest(
    nearest: Callable[[NearestQuery], list[NearestHit]],
    query: NearestQuery,
    now: datetime,
    *,
    band_m: float = BAND_M,
    stale_after: timedelta = STALE_AFTER,
) -> list[NearestHit]:
    """The rider's list: the ``query.k`` best facilities by :func:`rank_for_riders`.

    Parameters
    ----------
    nearest : callable
        The index's nearest function (pure geodesic order, ties by id).
    query : NearestQuery
        WGS-84; ``query.k`` is the list length.
    now : datetime
        For freshness.
    band_m : float
        Band width, metres.
    stale_after : timedelta
        Verification age after which a facility is stale.

    Returns
    -------
    list of NearestHit
        At most ``query.k`` hits, ranks renumbered. Exact: candidates are fetched until
        the farthest fetched one lies beyond the band of the k-th nearest (or the
        index has no more), so every facility that could rank in the top k was seen.
    """
    k = query.k
    m = k
    while True:
        hits = nearest(dataclasses.replace(query, k=m))
        if len(hits) < m:
            break
        if band(hits[-1].distance_m, band_m) > band(hits[k - 1].distance_m, band_m):
            break
        m *= 2
    return rank_for_riders(hits, now, band_m=band_m, stale_after=stale_after)[:k]


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
