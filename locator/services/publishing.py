"""Reading the data out in bulk: the change feed, the full export, OGC feature pages.

No Flask here. Views parse requests into the arguments below and serialise the results.

Change feed ordering
--------------------
Partners that mirror the data page through ``GET /api/v1/facilities?modified_since=…``.
The feed is ordered by ``(updated_at, id)`` and paged with an opaque cursor that holds
the last ``(updated_at, id)`` returned (keyset paging), not an offset: a facility
changed while a client pages moves to the end of the order (its ``updated_at`` grows),
so it is delivered again later in the same run and nothing shifts under the client, and
nothing is skipped. Removed facilities (``status="removed"``) stay in the feed with their
status; a hard delete (rare: the soft one is ``status="removed"``) is not announced, so a
mirror should also reconcile with the full export now and then. The feed is read from the
in-memory index, which every worker keeps in step with the store revision.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from locator.core.domain import Facility
from locator.core.index import FacilityIndex, updated_microseconds
from locator.errors import Msg, StoreUnavailableError, ValidationError
from locator.stores.contract import FacilityStore, ListFilter

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _updated(f: Facility) -> datetime:
    return (f.updated_at or _EPOCH).astimezone(UTC)


def encode_cursor(f: Facility) -> str:
    """The opaque cursor after facility ``f`` in feed order (URL-safe base64)."""
    raw = json.dumps([_updated(f).isoformat(), f.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The ``(updated_at, id)`` a cursor points after.

    Raises
    ------
    ValidationError
        If the cursor was not made by :func:`encode_cursor` (param ``cursor``).
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stamp, fid = json.loads(raw)
        at = datetime.fromisoformat(stamp)
        if at.tzinfo is None or not isinstance(fid, str):
            raise ValueError(cursor)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        raise ValidationError(
            Msg("cursor is not valid; use the next link as given"), param="cursor"
        ) from None
    return at.astimezone(UTC), fid


@dataclass(frozen=True, slots=True)
class FeedPage:
    """One page of the change feed.

    Attributes
    ----------
    facilities : list of Facility
        In ``(updated_at, id)`` order, every status included.
    next_cursor : str or None
        Cursor for the next page; None on the last page.
    matched : int
        Facilities changed after ``modified_since`` in total (all pages).
    revision : int
        The store revision the page was read at.
    """

    facilities: list[Facility]
    next_cursor: str | None
    matched: int
    revision: int


def change_feed(
    index: FacilityIndex, modified_since: datetime | None, cursor: str | None, limit: int
) -> FeedPage:
    """Facilities with ``updated_at`` after ``modified_since``, oldest change first.

    Parameters
    ----------
    index : FacilityIndex
        The current index (all statuses).
    modified_since : datetime, optional
        Timezone-aware; None for everything.
    cursor : str, optional
        From the previous page's :attr:`FeedPage.next_cursor`.
    limit : int
        Page size (>= 1).

    Raises
    ------
    ValidationError
        For a bad cursor.
    """
    keys, handles = index.updated_order()  # (updated_at, id) order, cached per index
    start = 0
    if modified_since is not None:
        start = int(np.searchsorted(keys, updated_microseconds(modified_since), side="right"))
    matched = len(keys) - start
    if cursor:
        at, fid = decode_cursor(cursor)
        at_us = updated_microseconds(at)
        lo = int(np.searchsorted(keys, at_us, side="left"))
        hi = int(np.searchsorted(keys, at_us, side="right"))
        # Within one updated_at the order is by id: find the first id after the cursor's.
        after = bisect.bisect_right(range(lo, hi), fid, key=lambda i: index.facility_id(int(handles[i])))
        start = max(start, lo + after if lo < hi else lo)
    page = [index.facility(int(h)) for h in handles[start : start + limit]]
    more = start + limit < len(handles)
    return FeedPage(page, encode_cursor(page[-1]) if page and more else None, matched, index.revision)


def extent(index: FacilityIndex, kind: str | None = None) -> tuple[float, float, float, float] | None:
    """``(min_lon, min_lat, max_lon, max_lat)`` of the facilities (of one kind), or None if none.

    WGS-84 degrees; removed facilities count. Cached per index snapshot.
    """
    return index.extent(kind)


@dataclass(frozen=True, slots=True)
class FeaturePage:
    """One page of an OGC API items request: the facilities and the total matched."""

    facilities: Sequence[Facility]
    matched: int


def feature_page(
    store: FacilityStore, flt: ListFilter, limit: int, offset: int, *, index: FacilityIndex | None = None
) -> FeaturePage:
    """Facilities matching ``flt`` in id order, ``limit`` from ``offset``, and the count of all.

    Read from the store (the source of truth), so SQL does the filtering and paging. When
    the store cannot be reached and ``index`` is given, the same page is answered from
    the in-memory index (:func:`index_feature_page`), which is at most one polling
    interval behind.

    Raises
    ------
    StoreUnavailableError
        When the store cannot be reached and no index is given.
    """
    try:
        return FeaturePage(store.list(flt, limit=limit, offset=offset), store.count(flt))
    except StoreUnavailableError:
        if index is None:
            raise
        return index_feature_page(index, flt, limit, offset)


def index_feature_page(index: FacilityIndex, flt: ListFilter, limit: int, offset: int) -> FeaturePage:
    """:func:`feature_page` from the in-memory index: the same filters, order and count.

    Kinds, statuses, amenities, the bbox (WGS-84 degrees, edges inclusive) and, without a
    bbox, districts are column filters; ``modified_since``, ids and districts within a
    bbox are checked on the facilities that pass them (slower, and only used while the
    store is unreachable).
    """
    amenities = flt.amenities or None
    if flt.bbox is not None:
        handles = index.bbox_handles(*flt.bbox, kinds=flt.kinds, statuses=flt.statuses, amenities=amenities)
        district_adcodes = flt.district_adcodes  # checked below, on the facilities in the box
    else:
        handles = index.handles(
            kinds=flt.kinds,
            statuses=flt.statuses,
            district_adcodes=flt.district_adcodes,
            amenities=amenities,
        )
        district_adcodes = None
    if district_adcodes is not None or flt.modified_since is not None or flt.ids is not None:

        def keep(f: Facility) -> bool:
            return (
                (district_adcodes is None or f.district_adcode in district_adcodes)
                and (
                    flt.modified_since is None
                    or (f.updated_at is not None and f.updated_at > flt.modified_since)
                )
                and (flt.ids is None or f.id in flt.ids)
            )

        handles = [h for h in handles if keep(index.facility(h))]
    return FeaturePage([index.facility(h) for h in handles[offset : offset + limit]], len(handles))
