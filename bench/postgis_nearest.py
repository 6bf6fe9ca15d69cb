"""Benchmark: PostGIS-side nearest vs the in-memory index, and edit-to-visibility lag.

One run prints one table:

* for 26k, 186k and 1M facilities (SYNTHETIC: the 3,908 demo points, each copied and
  jittered by ~1 km, labelled ``synthetic`` — never real stations), the latency of a
  nearest query (k=10, ``kind=warm_station``, random points over the demo layer's
  extent) answered by

  - the in-memory index (:meth:`locator.core.index.FacilityIndex.nearest`),
  - PostGIS, exact (:meth:`locator.stores.postgis.PostGISStore.store_nearest`: KNN
    candidates, spheroid re-rank, then the k full rows — two or more round trips),
  - PostGIS, one bare KNN round trip (``ORDER BY geog <-> point LIMIT 10``, ids only),

  as median and p99 over the queries, and whether the exact answers agree;
* the time from a committed edit in one worker to its visibility in another worker's
  index (a separate process with its own store and :class:`LocatorService`, following
  the store through LISTEN/NOTIFY), median and max over ~20 edits.

Usage::

    python bench/postgis_nearest.py --url postgresql://user:pw@127.0.0.1:5432/postgres

``--url`` names a maintenance database on a PostGIS server; the benchmark creates
(and afterwards drops) one database per size. Defaults: ``LOCATOR_BENCH_DATABASE_URL``
or ``LOCATOR_TEST_DATABASE_URL``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import statistics
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from locator.core.areas import ServiceArea, load_districts, load_subdistricts  # noqa: E402
from locator.core.domain import Facility, NearestQuery  # noqa: E402
from locator.core.index import FacilityIndex  # noqa: E402
from locator.services.facilities import LocatorService  # noqa: E402
from locator.stores.contract import Actor  # noqa: E402
from locator.stores.postgis import PostGISStore  # noqa: E402

DEMO = ROOT / "geodata" / "beijing_demo_facilities.geojson"
JITTER_DEG = 0.01  # ~1.1 km north-south, ~0.85 km east-west at 40°N


def synthetic_facilities(n: int, seed: int = 1) -> list[Facility]:
    """``n`` SYNTHETIC facilities: demo points copied round-robin and jittered."""
    feats = json.loads(DEMO.read_text(encoding="utf-8"))["features"]
    rng = np.random.default_rng(seed)
    dx = rng.normal(0, JITTER_DEG, n)
    dy = rng.normal(0, JITTER_DEG, n)
    out = []
    for i in range(n):
        feat = feats[i % len(feats)]
        p = feat["properties"]
        lon, lat = feat["geometry"]["coordinates"]
        jitter = i >= len(feats)
        out.append(
            Facility(
                id=f"syn-{i:07d}",
                kind=p["kind"],
                name=f"合成·{p['name']}",
                lon=float(lon + dx[i]) if jitter else float(lon),
                lat=float(lat + dy[i]) if jitter else float(lat),
                amenities=frozenset(p["amenities"]),
                opening_hours=p["opening_hours"] or "",
                host_type=p.get("host_type") or "",
                status=p["status"],
                source=f"synthetic: jittered copy of {p['id']}",
                demo=True,
            )
        )
    return out


def with_dbname(url: str, dbname: str) -> str:
    info = conninfo_to_dict(url)
    info["dbname"] = dbname
    return make_conninfo(**info)


def create_database(admin_url: str, dbname: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    url = with_dbname(admin_url, dbname)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    return url


def drop_database(admin_url: str, dbname: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f}"


def bench_size(admin_url: str, n: int, n_queries: int) -> dict[str, Any]:
    dbname = f"locator_bench_{n}"
    url = create_database(admin_url, dbname)
    store = PostGISStore(url, pool_min=1, pool_max=2, timeout_s=600)
    try:
        store.init_schema()
        facilities = synthetic_facilities(n)
        t0 = time.perf_counter()
        store.import_many(facilities, Actor("bench", "synthetic"))
        load_s = time.perf_counter() - t0
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE facilities")
        t0 = time.perf_counter()
        index = FacilityIndex(store.all(), revision=store.revision())
        index_build_s = time.perf_counter() - t0
        del facilities

        rng = random.Random(n)
        lons = [f.lon for f in index.facilities()[:: max(1, n // 5000)]]
        lats = [f.lat for f in index.facilities()[:: max(1, n // 5000)]]
        box = (min(lons), min(lats), max(lons), max(lats))
        queries = [
            NearestQuery(
                rng.uniform(box[0], box[2]),
                rng.uniform(box[1], box[3]),
                k=10,
                kinds=frozenset({"warm_station"}),
            )
            for _ in range(n_queries)
        ]
        for q in queries[:20]:  # warm-up (caches, prepared plans)
            index.nearest(q)
            store.store_nearest(q)

        t_index, t_pg, t_knn = [], [], []
        mismatches = 0
        knn_sql = (
            "SELECT id FROM facilities WHERE status = 'open' AND kind = 'warm_station' "
            "ORDER BY geog <-> ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography LIMIT 10"
        )
        with psycopg.connect(url, autocommit=True) as raw:
            for q in queries:
                t0 = time.perf_counter()
                a = index.nearest(q)
                t1 = time.perf_counter()
                b = store.store_nearest(q)
                t2 = time.perf_counter()
                raw.execute(knn_sql, (q.lon, q.lat)).fetchall()
                t3 = time.perf_counter()
                t_index.append(t1 - t0)
                t_pg.append(t2 - t1)
                t_knn.append(t3 - t2)
                same = [h.facility.id for h in a] == [h.facility.id for h in b] and all(
                    abs(x.distance_m - y.distance_m) < 0.01 for x, y in zip(a, b, strict=True)
                )
                mismatches += not same
        result = {
            "n": n,
            "queries": n_queries,
            "load_s": load_s,
            "index_build_s": index_build_s,
            "index": (statistics.median(t_index), pct(t_index, 99)),
            "postgis": (statistics.median(t_pg), pct(t_pg, 99)),
            "knn_sql": (statistics.median(t_knn), pct(t_knn, 99)),
            "mismatches": mismatches,
            "url": url,
        }
        return result
    finally:
        store.close()


# -- edit-to-visibility -----------------------------------------------------------------


def _watcher(url: str, pipe: Connection) -> None:
    """Another worker: its own store and service; reports when each edit is visible."""
    store = PostGISStore(url, pool_min=1, pool_max=2)
    svc = LocatorService(store, load_districts(), load_subdistricts(), ServiceArea(None))
    svc.refresh(force=True)
    pipe.send("ready")
    while True:
        msg = pipe.recv()
        if msg is None:
            break
        fid, version = msg
        armed = store.revision()
        pipe.send("armed")
        while store.revision() == armed:  # the cached revision, moved by NOTIFY
            time.sleep(0.0001)
        t_revision = time.time()
        while True:
            f = svc.index.get(fid)  # refresh: changes_since + FacilityIndex.apply
            if f is not None and f.version >= version:
                pipe.send((t_revision, time.time()))
                break
            time.sleep(0.0001)
    store.close()


def bench_visibility(url: str, edits: int) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_watcher, args=(url, child))
    proc.start()
    assert parent.recv() == "ready"
    store = PostGISStore(url, pool_min=1, pool_max=2)
    notified: list[float] = []
    lags: list[float] = []
    totals: list[float] = []
    try:
        ids = [f.id for f in store.list(limit=edits)]
        for n, fid in enumerate(ids):
            current = store.get(fid)
            parent.send((fid, current.version + 1))
            assert parent.recv() == "armed"
            time.sleep(0.05)
            t_start = time.time()
            store.update(current.replace(name=f"{current.name} (edit {n})"), current.version)
            t_committed = time.time()
            t_revision, t_index = parent.recv()
            notified.append(t_revision - t_start)
            lags.append(t_index - t_committed)
            totals.append(t_index - t_start)
        parent.send(None)
        proc.join(timeout=30)
    finally:
        store.close()
        if proc.is_alive():
            proc.terminate()
    return {
        "edits": len(lags),
        "notified": (statistics.median(notified), max(notified)),
        "lag": (statistics.median(lags), max(lags)),
        "total": (statistics.median(totals), max(totals)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--url",
        default=os.environ.get("LOCATOR_BENCH_DATABASE_URL") or os.environ.get("LOCATOR_TEST_DATABASE_URL"),
        help="maintenance database URL of a PostGIS server",
    )
    ap.add_argument("--sizes", default="26000,186000,1000000")
    ap.add_argument("--queries", type=int, default=2000, help="queries per size (1M: a quarter)")
    ap.add_argument("--edits", type=int, default=20)
    ap.add_argument("--keep", action="store_true", help="keep the benchmark databases")
    args = ap.parse_args(argv)
    if not args.url:
        ap.error("--url (or LOCATOR_BENCH_DATABASE_URL) is required")
    sizes = [int(s) for s in args.sizes.split(",")]

    rows = []
    for n in sizes:
        nq = args.queries if n < 1_000_000 else max(200, args.queries // 4)
        print(f"… {n:,} synthetic facilities, {nq} queries, {args.edits} edits", file=sys.stderr, flush=True)
        r = bench_size(args.url, n, nq)
        r["visibility"] = bench_visibility(r["url"], args.edits)
        rows.append(r)
        if not args.keep:
            drop_database(args.url, f"locator_bench_{n}")

    print()
    print("Nearest, k=10, kind=warm_station (SYNTHETIC points: demo layer jittered ~1 km)")
    print("latency in ms: median / p99")
    header = (
        f"{'facilities':>11} {'queries':>7} {'in-memory index':>17} {'PostGIS exact':>17} "
        f"{'bare KNN SQL':>15} {'PG/index':>8} {'agree':>6} {'COPY load s':>11} {'index build s':>13}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        ratio = r["postgis"][0] / r["index"][0]
        print(
            f"{r['n']:>11,} {r['queries']:>7} "
            f"{fmt_ms(r['index'][0]):>8} / {fmt_ms(r['index'][1]):<6} "
            f"{fmt_ms(r['postgis'][0]):>8} / {fmt_ms(r['postgis'][1]):<6} "
            f"{fmt_ms(r['knn_sql'][0]):>6} / {fmt_ms(r['knn_sql'][1]):<6} "
            f"{ratio:>7.1f}x {('yes' if r['mismatches'] == 0 else str(r['mismatches']) + ' no'):>6} "
            f"{r['load_s']:>11.1f} {r['index_build_s']:>13.1f}"
        )
    print()
    print(
        f"Edit in one worker → seen by another worker (separate process, own pool and "
        f"listener; {args.edits} edits), ms: median / max"
    )
    header = (
        f"{'facilities':>11} {'NOTIFY received':>19} {'in index, after commit':>24} "
        f"{'in index, from write start':>28}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        v = r["visibility"]
        cells = [f"{fmt_ms(v[key][0])} / {fmt_ms(v[key][1])}" for key in ("notified", "lag", "total")]
        print(f"{r['n']:>11,} {cells[0]:>19} {cells[1]:>24} {cells[2]:>28}")
    print(
        "NOTIFY received: the other worker's store.revision() moved (from the start of the "
        "write, which includes the commit). In index: LocatorService.refresh ran "
        "changes_since and FacilityIndex.apply."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
