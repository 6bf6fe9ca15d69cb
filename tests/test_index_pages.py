"""The OGC/listing pages answered from the index during an outage equal the store's pages.

:func:`locator.services.publishing.index_feature_page` filters with the index's columns
(kinds, statuses, amenity bits, bbox, districts) and checks the rest on facilities; the
store (SQL) is the reference. Checked with edits pending in the index's overlay too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask

from locator.services.facilities import LocatorService
from locator.services.publishing import feature_page, index_feature_page
from locator.stores.contract import ListFilter

FILTERS = [
    ListFilter(),
    ListFilter(amenities=frozenset({"toilet"})),
    ListFilter(amenities=frozenset({"toilet", "heating"}), kinds=frozenset({"warm_station"})),
    ListFilter(amenities=frozenset({"no_such_amenity"})),
    ListFilter(bbox=(116.30, 39.97, 116.36, 40.01), amenities=frozenset({"drinking_water"})),
    ListFilter(bbox=(116.20, 39.80, 116.50, 40.05), district_adcodes=frozenset({"110108"})),
    ListFilter(district_adcodes=frozenset({"110105"}), statuses=frozenset({"open"})),
    ListFilter(district_adcodes=frozenset({"110105"}), amenities=frozenset({"rest"})),
]


def pages_agree(svc: LocatorService) -> None:
    for flt in FILTERS:
        for limit, offset in ((10, 0), (7, 20), (1000, 0)):
            want = feature_page(svc.store, flt, limit, offset)
            got = index_feature_page(svc.index, flt, limit, offset)
            assert got.matched == want.matched, (flt, got.matched, want.matched)
            assert [f.id for f in got.facilities] == [f.id for f in want.facilities], flt


def test_index_pages_equal_the_store_pages(demo_app: Flask) -> None:
    svc: LocatorService = demo_app.extensions["locator"]
    svc.keeper.catch_up()
    assert sum(1 for _ in svc.index.handles(amenities=["toilet"])) > 10  # the filter bites
    pages_agree(svc)


def test_index_pages_equal_the_store_pages_with_edits_in_the_overlay(demo_app: Flask) -> None:
    svc: LocatorService = demo_app.extensions["locator"]
    svc.keeper.catch_up()
    toilets = [svc.index.facility(h) for h in svc.index.handles(amenities=["toilet"])][:5]
    for f in toilets:  # lose the toilet, and a facility without one gains it
        svc.update(f.id, {"amenities": sorted(f.amenities - {"toilet"})}, f.version)
    other = next(
        svc.index.facility(h) for h in svc.index.handles() if "toilet" not in svc.index.facility(h).amenities
    )
    svc.update(other.id, {"amenities": sorted(other.amenities | {"toilet"})}, other.version)
    svc.keeper.catch_up()
    assert len(svc.index._ov.entries) >= 5  # answered with the overlay, not a rebuilt base
    pages_agree(svc)
    since = ListFilter(modified_since=datetime.now(UTC) - timedelta(minutes=5))
    assert (
        index_feature_page(svc.index, since, 100, 0).matched == feature_page(svc.store, since, 100, 0).matched
    )
