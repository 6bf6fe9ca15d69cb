"""PostgreSQL stopped under a running app: riders keep their answers, fast; the rest gets 503.

The finding this covers: during an outage every request that touched the database held a
worker for the 5 s timeout, facility pages answered 503 although they come from memory,
and ``/manage`` got gunicorn's bare 500.
"""

from __future__ import annotations

import time

import pytest

from locator.core.geo import Datum
from locator.formats.readers import read_records
from locator.services.facilities import LocatorService

from .conftest import DEMO_LAYER, ThrowawayCluster, make_pg_app
from .manage_support import FAST_ARGON2, accounts, login, make_user
from .test_store_contract import wait_until

WUDAOKOU = "lon=116.3376&lat=39.9925"
FACILITY = "demo-osm-node-5448567458"

#: Rider reads, all answered from the in-memory index.
RIDER_URLS = [
    f"/api/v1/nearest?{WUDAOKOU}&limit=5",
    f"/api/v1/facilities/{FACILITY}",
    f"/nearest?{WUDAOKOU}",
    f"/lite?{WUDAOKOU}",
    f"/facility/{FACILITY}",
    "/api/v1/places?q=五道口",
    "/ogc/collections/warm_station/items?bbox=116.30,39.97,116.36,40.01&limit=5",
    "/ogc/collections/facilities/items?limit=3&amenity=toilet",
    "/api/v1/facilities?limit=5",
    "/",
]


@pytest.mark.postgis
def test_riders_keep_fast_answers_and_everything_else_gets_a_503_page(
    throwaway_cluster: ThrowawayCluster,
) -> None:
    app = make_pg_app(throwaway_cluster.url, LOCATOR_DB_TIMEOUT_S=10.0, ARGON2_PARAMETERS=FAST_ARGON2)
    svc: LocatorService = app.extensions["locator"]
    try:
        records = read_records(DEMO_LAYER)[:1500]
        records.append((9999, next(r for _, r in read_records(DEMO_LAYER) if r["id"] == FACILITY)))
        svc.import_records(records, Datum.WGS84, demo=True)
        make_user(app, "ann", "admin")
        _, bearer = accounts(app).create_token("ann")
        manager = app.test_client()
        assert login(manager, "ann").status_code == 303
        rider = app.test_client()
        svc.keeper.catch_up()
        before = {url: rider.get(url).status_code for url in RIDER_URLS}
        assert set(before.values()) == {200}, before

        throwaway_cluster.stop()

        for url in RIDER_URLS:
            t0 = time.monotonic()
            r = rider.get(url)
            took = time.monotonic() - t0
            assert r.status_code == 200, (url, r.status_code)
            # Not held for the database's 10 s timeout: well under it even on two loaded cores
            # (0.12 s and 2.3 s were seen here on two loaded cores, the latter beside the cluster drill).
            assert took < 5.0, (url, took)
        page = rider.get(f"/facility/{FACILITY}", headers={"Accept-Language": "en"}).get_data(as_text=True)
        assert "recent reports cannot be shown" in page

        # Everything that needs the database: the app's 503 (a page, or problem+json), fast.
        html = manager.get("/manage")
        assert html.status_code == 503 and html.mimetype == "text/html"
        api = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {bearer}"})
        assert api.status_code == 503 and api.mimetype == "application/problem+json"
        t0 = time.monotonic()
        for _ in range(10):
            assert manager.get("/manage/reports").status_code == 503
        assert (time.monotonic() - t0) / 10 < 5.0

        throwaway_cluster.start()
        assert wait_until(lambda: manager.get("/manage").status_code == 200, 30.0, step_s=0.25) is not None
    finally:
        svc.store.close()
