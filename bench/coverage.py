"""Benchmark: the coverage planner at Beijing scale (issue 16: answer <= 3 s, K=50 of 50k <= 30 s).

Run from the repository root, on a quiet machine (the script prints the load average)::

    python bench/coverage.py [--repeat 3] [--seed 16]

Input
-----
* **Facilities: SYNTHETIC, 25,470** — Beijing's published counts (9,650 warm stations,
  13,800 union homes, 2,020 nursing rooms), made by copying the demo layer's facilities
  of each kind (geodata/beijing_demo_facilities.geojson) and jittering each copy
  uniformly within a disc of ``JITTER_M`` metres (fixed seed); copies keep their
  source's opening hours and status, so about the same share is open at each hour.
* **Demand: the shipped layer**, 50,378 points (48,966 CityBench building points weighted
  by land use + 1,412 OSM subway stations and entrances).
* **Candidates (siting): 49,970** — the building points and the subway entrances
  (the ``buildings`` and ``subway_entrances`` built-in sources).

What is timed (``time.perf_counter``; the median of ``--repeat`` runs, after one warm-up
that also reads the demand layer and locates it in districts/subdistricts, timed apart)
is :meth:`locator.services.planning.PlanningService.report` — the same call the CLI and
the page make — over a stand-in for the locator service holding the synthetic index:

1. **coverage**: warm stations (9,650), 1 km, at 22:00 and at 12:00: the instant, the
   24-hour profile, per-district/subdistrict totals, removal costs;
2. **coverage, all 25,470 as one kind**: the same with every facility counted (the
   largest facility set a question can have);
3. **siting K=50** from the 49,970 candidates, warm stations at 22:00 (the whole report,
   and the siting part alone: reach matrix + lazy greedy);
4. **siting K=50, nothing open** (every demand point uncovered: the largest reach matrix);
5. for reference, the demand x facility incidence matrix the planner does *not* build
   (all 25,470 facilities, 1 km): pairs and build time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import scipy  # noqa: E402

from locator.core import coverage as cov  # noqa: E402
from locator.core.areas import CITY_BOUNDARY_FILE, ServiceArea, load_districts, load_subdistricts  # noqa: E402
from locator.core.domain import Facility  # noqa: E402
from locator.core.geo import WGS84_GEOD  # noqa: E402
from locator.core.hours import TZ  # noqa: E402
from locator.core.index import FacilityIndex  # noqa: E402
from locator.services.planning import PlanningService  # noqa: E402

DEMO_LAYER = ROOT / "geodata" / "beijing_demo_facilities.geojson"
COUNTS = {"warm_station": 9_650, "union_home": 13_800, "nursing_room": 2_020}
JITTER_M = 1_500.0
RADIUS_M = 1_000.0
K = 50
NIGHT = (2026, 12, 1, 22, 0)
NOON = (2026, 12, 1, 12, 0)


@dataclass
class Locator:
    """What PlanningService reads from a LocatorService: index and area polygons."""

    index: FacilityIndex
    districts: Any
    subdistricts: Any
    service_area: ServiceArea


def load_demo() -> list[Facility]:
    from datetime import date

    doc = json.loads(DEMO_LAYER.read_text(encoding="utf-8"))
    out = []
    for f in doc["features"]:
        p = f["properties"]
        lon, lat = f["geometry"]["coordinates"]
        until = date.fromisoformat(p["status_until"]) if p.get("status_until") else None
        out.append(
            Facility(
                p["id"],
                p["kind"],
                p["name"],
                lon,
                lat,
                opening_hours=p.get("opening_hours", ""),
                status=p.get("status", "open"),
                status_until=until,
            )
        )
    return out


def synthesize(demo: list[Facility], seed: int) -> list[Facility]:
    """COUNTS facilities per kind: demo facilities of that kind, copied and jittered within JITTER_M."""
    rng = np.random.default_rng(seed)
    out: list[Facility] = []
    for kind, n in COUNTS.items():
        src = [f for f in demo if f.kind == kind]
        pick = np.arange(n) % len(src)
        dist = JITTER_M * np.sqrt(rng.random(n))
        az = rng.random(n) * 360.0
        lon0 = np.array([src[i].lon for i in pick])
        lat0 = np.array([src[i].lat for i in pick])
        lon, lat, _ = WGS84_GEOD.fwd(lon0, lat0, az, dist)
        for k, i in enumerate(pick.tolist()):
            out.append(src[i].replace(id=f"syn-{kind}-{k:05d}", lon=float(lon[k]), lat=float(lat[k])))
    return out


def median_time(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


class SitingTimer:
    """A Progress that records when the siting stages start, to time siting apart."""

    def __init__(self) -> None:
        self.marks: dict[str, float] = {}

    def stage(self, label: str, total: int) -> Callable[[int], None]:
        self.marks[label] = time.perf_counter()
        return lambda n: None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=16)
    args = ap.parse_args()
    from datetime import datetime

    load1, load5, load15 = os.getloadavg()
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"{os.cpu_count()} cpus, load average {load1:.2f} {load5:.2f} {load15:.2f}"
    )
    if load1 > 1.5:
        print("WARNING: load average above 1.5; the machine is not quiet, timings are pessimistic")
    facilities = synthesize(load_demo(), args.seed)
    print(f"facilities: {len(facilities):,} synthetic ({', '.join(f'{k} {v:,}' for k, v in COUNTS.items())})")
    area = ServiceArea.from_file(CITY_BOUNDARY_FILE)
    districts, subdistricts = load_districts(), load_subdistricts()
    ps = PlanningService(Locator(FacilityIndex(facilities, revision=1), districts, subdistricts, area))
    night = datetime(*NIGHT, tzinfo=TZ)
    noon = datetime(*NOON, tzinfo=TZ)

    t = time.perf_counter()
    demand = ps.default_demand()
    took = time.perf_counter() - t
    print(
        f"demand: {len(demand):,} points, total weight {demand.total_weight:,.0f}; "
        f"read + located in districts/subdistricts once per process: {took:.2f} s"
    )

    def report(q: Any, progress: Any = None) -> cov.CoverageReport:
        ps._cache.clear()  # every run computes
        return ps.report(q, progress=progress)

    rows = []
    for label, when in (("22:00", night), ("12:00", noon)):
        q = ps.check("warm_station", RADIUS_M, when)
        report(q)  # warm-up
        s, r = median_time(lambda q=q: report(q), args.repeat)
        rows.append(
            (
                f"coverage, warm stations ({r.facilities_total:,}), {label}",
                s,
                f"covered {r.covered_share:.4f}, {r.facilities_open:,} open",
            )
        )

    everything = [replace(f, kind="warm_station") for f in facilities]
    ps_all = PlanningService(Locator(FacilityIndex(everything, revision=2), districts, subdistricts, area))
    ps_all._default = ps._default_located()  # the same demand, already located
    q = ps_all.check("warm_station", RADIUS_M, night)
    ps_all.report(q)
    s, r = median_time(lambda: (ps_all._cache.clear(), ps_all.report(q))[1], args.repeat)
    rows.append(
        (
            f"coverage, all {r.facilities_total:,} facilities as one kind, 22:00",
            s,
            f"covered {r.covered_share:.4f}, {r.facilities_open:,} open",
        )
    )

    cand = ("subway_entrances", "buildings")
    n_cand = len(ps.builtin_candidates(cand))
    for label, service, when in (("warm stations at 22:00", ps, night), ("nothing open", None, night)):
        if service is None:
            closed = [replace(f, status="removed") for f in facilities[:1]]  # one removed: none open
            service = PlanningService(
                Locator(FacilityIndex(closed, revision=3), districts, subdistricts, area)
            )
            service._default = ps._default_located()
        q = service.check("warm_station", RADIUS_M, when, sites=K, candidates=cand)
        times, siting = [], []
        r = None
        for _ in range(args.repeat):
            timer = SitingTimer()
            service._cache.clear()
            t0 = time.perf_counter()
            r = service.report(q, progress=timer)
            t1 = time.perf_counter()
            times.append(t1 - t0)
            siting.append(t1 - timer.marks["Candidate reach"])
        assert r is not None
        gains = ", ".join(f"{s.gain:.0f}" for s in r.sites[:5])
        rows.append(
            (
                f"siting K={K} from {n_cand:,} candidates, {label}: whole report",
                statistics.median(times),
                f"{len(r.uncovered):,} uncovered points; first gains {gains}",
            )
        )
        rows.append(("    of which reach matrix + lazy greedy", statistics.median(siting), ""))

    lon = np.array([f.lon for f in facilities])
    lat = np.array([f.lat for f in facilities])
    t = time.perf_counter()
    full = cov.reach_matrix(lon, lat, demand.lon, demand.lat, RADIUS_M)
    took = time.perf_counter() - t
    rows.append(
        (
            f"(not used) demand x facility incidence, {len(facilities):,} facilities",
            took,
            f"{full.nnz:,} pairs",
        )
    )

    width = max(len(r[0]) for r in rows)
    print(f"\n{'what':<{width}}  {'median s':>8}  notes")
    for name, secs, note in rows:
        print(f"{name:<{width}}  {secs:8.2f}  {note}")
    budget = {"coverage": 3.0, "siting": 30.0}
    worst_cov = max(s for n, s, _ in rows if n.startswith("coverage"))
    worst_site = max(s for n, s, _ in rows if n.startswith("siting"))
    print(
        f"\nbudgets: coverage {worst_cov:.2f} s (<= {budget['coverage']:g} s: "
        f"{'OK' if worst_cov <= budget['coverage'] else 'OVER'}), siting {worst_site:.2f} s "
        f"(<= {budget['siting']:g} s: {'OK' if worst_site <= budget['siting'] else 'OVER'})"
    )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
