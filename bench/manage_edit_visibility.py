"""Benchmark: a manager's edit, seen by another worker's ``/nearest``, on both stores.

Issue 5's "Done when" asks that a pin moved in ``/manage`` shows on ``/nearest`` within a
second. This measures that path over HTTP, as two workers would serve it: worker A (the
editor) takes ``PATCH /api/v1/facilities/<id>`` with a bearer token and ``If-Match``;
worker B (a second app on the same store, with its own index) is polled with
``GET /api/v1/nearest`` at the new position until the facility comes back first at 0 m.
Both workers are Flask apps in this process, called through their test clients (no
network); worker B follows the store as in production (its index thread checks the
revision every 0.05 s: SQLite's counter, PostGIS's LISTEN/NOTIFY cache). For gunicorn
workers in separate processes at 25,470 and 1,000,000 facilities see
``bench/edit_visibility.py``.

It prints, per store, the PATCH latency and the edit-to-visible lag (median, p95, max,
in milliseconds) over ``--edits`` moves of Haidian demo facilities (about 30 m each).

Usage::

    python bench/manage_edit_visibility.py [--edits 30] [--url postgresql://…/postgres]

``--url`` names a maintenance database on a PostGIS server (default
``LOCATOR_BENCH_DATABASE_URL`` or ``LOCATOR_TEST_DATABASE_URL``); a database is created
for the run and dropped afterwards. Without it only SQLite is measured.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import Flask  # noqa: E402

from locator import create_app  # noqa: E402
from locator.cli.data import DEMO_LAYER  # noqa: E402
from locator.core.geo import Datum, geodesic_distance_m  # noqa: E402
from locator.formats.readers import read_records  # noqa: E402

HAIDIAN = "110108"
FAST_ARGON2 = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}


def make(url: str) -> Flask:
    """One worker over the store at ``url``."""
    return create_app(
        {
            "LOCATOR_DATABASE_URL": url,
            "LOCATOR_SECRET_KEY": "bench-secret-key-0123456789",
            "LOCATOR_TILES": "none",
            "LOCATOR_RATELIMIT_KEYLESS": "100000 per minute",
            "ARGON2_PARAMETERS": FAST_ARGON2,
        }
    )


@contextmanager
def postgis_database(admin_url: str) -> Iterator[str]:
    """A fresh database with PostGIS on the server of ``admin_url``; dropped afterwards."""
    import psycopg

    name = f"locator_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = urlsplit(admin_url)._replace(path="/" + name).geturl()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    try:
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def measure(url: str, edits: int) -> dict[str, list[float]]:
    """PATCH latency and edit-to-visible lag (seconds) for ``edits`` moves."""
    editor = make(url)
    svc = editor.extensions["locator"]
    if svc.store.count() == 0:
        svc.import_records(read_records(DEMO_LAYER), Datum.WGS84, demo=True)
    rider = make(url)
    accounts = editor.extensions["locator.accounts"]
    accounts.create_user("bench-hd", "bench passphrase 1", "district_manager", districts=[HAIDIAN])
    _, secret = accounts.create_token("bench-hd")
    auth = {"Authorization": f"Bearer {secret}"}
    ed, rd = editor.test_client(), rider.test_client()
    targets = [
        f
        for f in svc.index.facilities()
        if f.district_adcode == HAIDIAN and f.status == "open" and f.kind == "warm_station"
    ][:edits]
    patch_s: list[float] = []
    lag_s: list[float] = []
    for f in targets:
        etag = ed.get(f"/api/v1/facilities/{f.id}").headers["ETag"]
        lon, lat = f.lon + 0.0003, f.lat + 0.0001  # about 28 m east-north-east
        t0 = time.perf_counter()
        resp = ed.patch(
            f"/api/v1/facilities/{f.id}",
            json={"lon": lon, "lat": lat, "datum": "wgs84", "reason": "bench"},
            headers={**auth, "If-Match": etag},
        )
        t1 = time.perf_counter()
        assert resp.status_code == 200, resp.get_json()
        query = f"/api/v1/nearest?lon={lon:.7f}&lat={lat:.7f}&kind=warm_station&limit=1"
        while True:
            feats = rd.get(query).get_json()["features"]
            if feats and feats[0]["id"] == f.id and feats[0]["properties"]["distance_m"] < 0.05:
                break
            if time.perf_counter() - t1 > 10:
                raise RuntimeError(f"{f.id} not visible after 10 s")
            time.sleep(0.002)
        t2 = time.perf_counter()
        stored = svc.store.get(f.id)
        assert geodesic_distance_m(stored.lon, stored.lat, lon, lat) < 0.01
        patch_s.append(t1 - t0)
        lag_s.append(t2 - t1)
    for app in (editor, rider):
        app.extensions["locator"].store.close()
    return {"patch": patch_s, "visible": lag_s}


def summary(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
    return f"median {statistics.median(ms):7.1f}  p95 {p95:7.1f}  max {ms[-1]:7.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--edits", type=int, default=30)
    ap.add_argument(
        "--url",
        default=os.environ.get("LOCATOR_BENCH_DATABASE_URL") or os.environ.get("LOCATOR_TEST_DATABASE_URL"),
    )
    args = ap.parse_args()
    rows: list[tuple[str, dict[str, list[float]]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(("sqlite", measure(f"sqlite:///{tmp}/bench.sqlite3", args.edits)))
    if args.url:
        with postgis_database(args.url) as url:
            rows.append(("postgis", measure(url, args.edits)))
    print(f"{args.edits} moves of Haidian facilities; milliseconds")
    for name, r in rows:
        print(f"{name:8s} PATCH            {summary(r['patch'])}")
        print(f"{name:8s} edit -> visible  {summary(r['visible'])}")


if __name__ == "__main__":
    main()
