"""Benchmark: latency of FacilityIndex.nearest (k=10) against simple baselines.

Run from the repository root::

    python bench/nearest.py [--sizes demo,186k,1m] [--queries N] [--seed S]

Everything in the printed table comes from ONE run of this script: each size's
variants are measured side by side in the same process, their query batches
interleaved (the order of the variants rotates from batch to batch), after a warm-up,
with ``time.perf_counter_ns`` around each single query. Compare the ratios, not the
absolute microseconds: the machine this runs on is shared and noisy.

Variants (all query the ``warm_station`` kind, status ``open``, k=10, at the same
random points in Beijing's urban bbox, WGS-84 lon/lat):

* **ours**: :meth:`locator.core.index.FacilityIndex.nearest`, exact (geodesic distances on
  WGS-84, ties by id, a bound proves that no facility outside the candidates is nearer).
* **baseline**: one :class:`scipy.spatial.cKDTree` over 3-D unit vectors per kind, the
  ``k + EXTRA`` nearest by chord, status filter, :class:`pyproj.Geod` re-rank, top k.
  The simplest reasonable thing; NOT guaranteed exact (the table counts how often its
  answer differs from ours).
* **rtree**: the same exact algorithm as ours, but the candidates come from an
  :mod:`rtree` (libspatialindex) 3-D index over the same unit vectors
  (``nearest_v`` with ``return_max_dists``).

Sizes: ``demo`` is the real demo layer (geodata/beijing_demo_facilities.geojson);
``186k`` and ``1m`` are SYNTHETIC: the demo points, each copied many times and
jittered uniformly within a disc of JITTER_M metres (fixed seed), keeping each source
point's kind, status and amenities.

Build times: "ours" is the whole :class:`FacilityIndex` (per-kind cKDTrees and arrays
plus the lon/lat R-tree for bbox queries); "baseline" is the per-kind arrays and
cKDTrees only; "rtree" is the per-kind arrays and 3-D R-trees.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pyproj  # noqa: E402
import rtree  # noqa: E402
import scipy  # noqa: E402
from scipy.spatial import cKDTree  # noqa: E402

from locator.core.domain import Facility, NearestQuery  # noqa: E402
from locator.core.geo import R_MIN_M, WGS84_GEOD, unit_vectors  # noqa: E402
from locator.core.index import FacilityIndex  # noqa: E402

DEMO_LAYER = ROOT / "geodata" / "beijing_demo_facilities.geojson"
#: Beijing's urban area (about the 5th ring road), WGS-84 (min_lon, min_lat, max_lon, max_lat).
URBAN_BBOX = (116.20, 39.75, 116.55, 40.05)
KIND = "warm_station"
K = 10
#: Extra candidates the baseline fetches beyond k.
EXTRA = 10
#: Synthetic points lie within this many metres of their demo source point.
JITTER_M = 300.0
SIZES = {"demo": 0, "186k": 186_000, "1m": 1_000_000}
BATCH = 10
WARMUP = 200


def load_demo(path: Path = DEMO_LAYER) -> list[Facility]:
    """The demo layer as facilities (WGS-84 lon/lat, as stored in the file)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for feat in data["features"]:
        p = feat["properties"]
        lon, lat = feat["geometry"]["coordinates"]
        out.append(
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
    return out


def synthetic(demo: Sequence[Facility], n: int, seed: int) -> list[Facility]:
    """``n`` facilities: demo points jittered uniformly within JITTER_M metres (synthetic)."""
    rng = np.random.default_rng(seed)
    src = np.arange(n) % len(demo)
    r = JITTER_M * np.sqrt(rng.random(n))
    a = rng.random(n) * 2 * math.pi
    lat0 = np.array([f.lat for f in demo])[src]
    lon0 = np.array([f.lon for f in demo])[src]
    # Local radii of curvature (meridian M, prime vertical N) turn metres into degrees.
    e2 = 0.0066943799901413165
    s2 = np.sin(np.radians(lat0)) ** 2
    m_rad = 6378137.0 * (1 - e2) / (1 - e2 * s2) ** 1.5
    n_rad = 6378137.0 / np.sqrt(1 - e2 * s2)
    lat = lat0 + np.degrees(r * np.cos(a) / m_rad)
    lon = lon0 + np.degrees(r * np.sin(a) / (n_rad * np.cos(np.radians(lat0))))
    out = []
    for i, (s, x, y) in enumerate(zip(src.tolist(), lon.tolist(), lat.tolist(), strict=True)):
        f = demo[s]
        out.append(
            Facility(
                f"syn-{i:07d}",
                f.kind,
                f.name,
                x,
                y,
                amenities=f.amenities,
                opening_hours=f.opening_hours,
                status=f.status,
            )
        )
    return out


def _qxyz(lon: float, lat: float) -> tuple[float, float, float]:
    lo, la = math.radians(lon), math.radians(lat)
    c = math.cos(la)
    return (c * math.cos(lo), c * math.sin(lo), math.sin(la))


class _Arrays:
    """Per-kind arrays shared by the baseline and the rtree variant."""

    def __init__(self, facilities: Sequence[Facility]) -> None:
        self.facilities = sorted(facilities, key=lambda f: f.id)
        self.n = len(self.facilities)
        self.lon = np.fromiter((f.lon for f in self.facilities), float, self.n)
        self.lat = np.fromiter((f.lat for f in self.facilities), float, self.n)
        self.open = np.fromiter((f.status == "open" for f in self.facilities), bool, self.n)
        self.xyz = unit_vectors(self.lon, self.lat)


def _by_kind(facilities: Sequence[Facility]) -> dict[str, list[Facility]]:
    grouped: dict[str, list[Facility]] = {}
    for f in facilities:
        grouped.setdefault(f.kind, []).append(f)
    return grouped


class Baseline:
    """cKDTree over unit vectors per kind, k+EXTRA candidates, Geod re-rank (not exact)."""

    def __init__(self, facilities: Sequence[Facility]) -> None:
        self.kinds = {}
        for kind, fs in _by_kind(facilities).items():
            arr = _Arrays(fs)
            self.kinds[kind] = (arr, cKDTree(arr.xyz))

    def nearest(self, lon: float, lat: float, kind: str, k: int) -> list[tuple[Facility, float, float]]:
        arr, tree = self.kinds[kind]
        _, idx = tree.query(_qxyz(lon, lat), k=min(k + EXTRA, arr.n))
        idx = idx[arr.open[idx]]
        n = len(idx)
        az, _, dist = WGS84_GEOD.inv(np.full(n, lon), np.full(n, lat), arr.lon[idx], arr.lat[idx])
        order = np.argsort(dist, kind="stable")[:k]
        fs = arr.facilities
        return [
            (fs[i], d, b % 360.0)
            for i, d, b in zip(idx[order].tolist(), dist[order].tolist(), az[order].tolist(), strict=True)
        ]


class RtreeExact:
    """The exact bound-and-grow algorithm with a 3-D libspatialindex R-tree per kind."""

    def __init__(self, facilities: Sequence[Facility]) -> None:
        self.kinds = {}
        for kind, fs in _by_kind(facilities).items():
            arr = _Arrays(fs)
            props = rtree.index.Property(dimension=3)
            ids = np.arange(arr.n, dtype=np.int64)
            tree = rtree.index.Index((ids, arr.xyz, arr.xyz), properties=props)
            self.kinds[kind] = (arr, tree)

    def nearest(self, lon: float, lat: float, kind: str, k: int) -> list[tuple[Facility, float, float]]:
        arr, tree = self.kinds[kind]
        q = np.array([_qxyz(lon, lat)])
        m = min(arr.n, 2 * k + 4)
        while True:
            idx, _, far = tree.nearest_v(q, q, num_results=m, return_max_dists=True)
            got = len(idx)
            idx = idx[arr.open[idx]]
            n = len(idx)
            az, _, dist = WGS84_GEOD.inv(np.full(n, lon), np.full(n, lat), arr.lon[idx], arr.lat[idx])
            order = np.lexsort((idx, dist))[:k]
            if got >= arr.n:
                break
            bound = R_MIN_M * 2.0 * math.asin(min(float(far[0]) / 2.0, 1.0))
            if len(order) == k and dist[order[-1]] < bound:
                break
            m = min(arr.n, m * 4)
        fs = arr.facilities
        return [
            (fs[i], d, b % 360.0)
            for i, d, b in zip(idx[order].tolist(), dist[order].tolist(), az[order].tolist(), strict=True)
        ]


def _timed_build(fn: Callable[[], Any]) -> tuple[Any, float]:
    gc.collect()
    t0 = time.perf_counter_ns()
    obj = fn()
    return obj, (time.perf_counter_ns() - t0) / 1e9


def _pct(values: list[int], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1)] / 1000.0


def run_size(
    label: str, facilities: list[Facility], n_queries: int, seed: int, with_rtree: bool
) -> dict[str, Any]:
    ours, t_ours = _timed_build(lambda: FacilityIndex(facilities))
    base, t_base = _timed_build(lambda: Baseline(facilities))
    rt, t_rt = _timed_build(lambda: RtreeExact(facilities)) if with_rtree else (None, float("nan"))

    rng = np.random.default_rng(seed + 1)
    lons = rng.uniform(URBAN_BBOX[0], URBAN_BBOX[2], n_queries + WARMUP).tolist()
    lats = rng.uniform(URBAN_BBOX[1], URBAN_BBOX[3], n_queries + WARMUP).tolist()
    kinds = frozenset({KIND})
    queries = [NearestQuery(x, y, k=K, kinds=kinds) for x, y in zip(lons, lats, strict=True)]

    def run_ours(i: int) -> list[str]:
        return [h.facility.id for h in ours.nearest(queries[i])]

    def run_base(i: int) -> list[str]:
        return [h[0].id for h in base.nearest(lons[i], lats[i], KIND, K)]

    def run_rt(i: int) -> list[str]:
        return [h[0].id for h in rt.nearest(lons[i], lats[i], KIND, K)]

    variants: dict[str, Callable[[int], list[str]]] = {"ours": run_ours, "baseline": run_base}
    if with_rtree:
        variants["rtree"] = run_rt
    for i in range(WARMUP):
        for fn in variants.values():
            fn(i)
    lat_ns: dict[str, list[int]] = {name: [] for name in variants}
    answers: dict[str, dict[int, list[str]]] = {name: {} for name in variants}
    names = list(variants)
    gc.collect()
    gc.disable()
    try:
        perf = time.perf_counter_ns
        for b, start in enumerate(range(WARMUP, WARMUP + n_queries, BATCH)):
            order = names[b % len(names) :] + names[: b % len(names)]
            if (b // len(names)) % 2:
                order.reverse()
            for name in order:
                fn, out, ans = variants[name], lat_ns[name], answers[name]
                for i in range(start, min(start + BATCH, WARMUP + n_queries)):
                    t0 = perf()
                    r = fn(i)
                    out.append(perf() - t0)
                    ans[i] = r
    finally:
        gc.enable()
    # One update after the queries: apply() rebuilds the touched kind (KIND, the largest).
    f = next(f for f in facilities if f.kind == KIND)
    moved = f.replace(lon=f.lon + 0.001)
    gc.collect()
    t0 = time.perf_counter_ns()
    ours.apply([moved], [], revision=1)
    t_apply = (time.perf_counter_ns() - t0) / 1e9
    row: dict[str, Any] = {
        "label": label,
        "n": len(facilities),
        "n_kind": sum(f.kind == KIND for f in facilities),
        "queries": n_queries,
    }
    for name in names:
        row[name] = (statistics.median(lat_ns[name]) / 1000.0, _pct(lat_ns[name], 99))
    row["build"] = {"ours": t_ours, "baseline": t_base, "rtree": t_rt}
    row["apply"] = t_apply
    row["base_differs"] = sum(answers["baseline"][i] != answers["ours"][i] for i in answers["ours"])
    row["rtree_differs"] = (
        sum(answers["rtree"][i] != answers["ours"][i] for i in answers["ours"]) if with_rtree else None
    )
    return row


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="demo,186k,1m", help="comma-separated: demo, 186k, 1m")
    ap.add_argument("--queries", type=int, default=None, help="queries per size (default 2000; 1000 at 1m)")
    ap.add_argument("--seed", type=int, default=20240101)
    ap.add_argument("--no-rtree", action="store_true", help="skip the rtree variant")
    args = ap.parse_args(argv)
    sizes = [s.strip().lower() for s in args.sizes.split(",") if s.strip()]
    for s in sizes:
        if s not in SIZES:
            ap.error(f"unknown size {s!r}; use {', '.join(SIZES)}")
    demo = load_demo()
    rows = []
    for s in sizes:
        n = SIZES[s]
        if n == 0:
            facilities, label = demo, "demo (real demo layer)"
        else:
            facilities, label = synthetic(demo, n, args.seed), f"{s}: synthetic (jittered demo points)"
        nq = args.queries if args.queries is not None else (1000 if n >= 1_000_000 else 2000)
        print(f"... {label}: {len(facilities):,} points, {nq} queries", file=sys.stderr, flush=True)
        rows.append(run_size(label, facilities, nq, args.seed, not args.no_rtree))
        del facilities
        gc.collect()

    print(f"## nearest k={K}, kind={KIND}, status=open — one run\n")
    print(
        f"Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"pyproj {pyproj.__version__}, rtree {rtree.__version__}; {platform.machine()}. "
        f"Queries uniform in lon {URBAN_BBOX[0]}–{URBAN_BBOX[2]}, lat {URBAN_BBOX[1]}–{URBAN_BBOX[3]} "
        f"(WGS-84). Latencies in µs per query; baseline = cKDTree + Geod re-rank of k+{EXTRA} "
        f"candidates (not exact).\n"
    )
    with_rt = not args.no_rtree
    head = [
        "size",
        "points (warm_station)",
        "queries",
        "ours p50",
        "ours p99",
        "baseline p50",
        "baseline p99",
        "ours/baseline p50",
        "ours/baseline p99",
    ]
    if with_rt:
        head += ["rtree p50", "rtree p99", "rtree/ours p50"]
    head += [
        "build s: ours / baseline" + (" / rtree" if with_rt else ""),
        "ours apply(1 move) s",
        "baseline ≠ exact",
    ]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for r in rows:
        o, b = r["ours"], r["baseline"]
        cells = [
            r["label"],
            f"{r['n']:,} ({r['n_kind']:,})",
            str(r["queries"]),
            f"{o[0]:.0f}",
            f"{o[1]:.0f}",
            f"{b[0]:.0f}",
            f"{b[1]:.0f}",
            f"**{o[0] / b[0]:.2f}**",
            f"{o[1] / b[1]:.2f}",
        ]
        builds = [r["build"]["ours"], r["build"]["baseline"]]
        if with_rt:
            t = r["rtree"]
            cells += [f"{t[0]:.0f}", f"{t[1]:.0f}", f"{t[0] / o[0]:.2f}"]
            builds.append(r["build"]["rtree"])
        cells += [
            " / ".join(f"{x:.2f}" for x in builds),
            f"{r['apply']:.2f}",
            f"{r['base_differs']}/{r['queries']}",
        ]
        if with_rt and r["rtree_differs"]:
            cells[-1] += f" (rtree ≠ ours: {r['rtree_differs']})"
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
