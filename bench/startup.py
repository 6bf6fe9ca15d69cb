"""Benchmark: start-up time and memory of two gunicorn workers at 25,470 and 1,000,000 facilities.

For each size and store (SQLite always; PostGIS with ``--url``), in one run:

* **project, cold**: the served configuration (``gunicorn -c gunicorn.conf.py``, 2 sync
  workers) with an empty snapshot directory: the master's ``on_starting`` hook builds the
  index from the rows and writes the snapshot, then the workers map it;
* **project, warm**: the same, started again with the snapshot of the unchanged store;
* **minimal**: ``gunicorn --preload -w 2 bench.minimal_app:app``, a cKDTree over the same
  open facilities built in the master and shared copy-on-write (the baseline);
* **before** (``--before COMMIT``, e.g. the commit before the columnar index): that
  checkout served as its ``scripts/serve.sh`` did (``gunicorn --workers 2 app:app``).

Measured: seconds from launching gunicorn to the first ``200`` of ``/api/v1/nearest``;
then, after ``--queries`` nearest requests at random points of the urban area (every
kind), each worker's RSS, PSS and private memory from ``/proc/PID/smaps_rollup``, and the
shared total (PSS of the master and both workers: what the machine really spends).

Usage::

    python bench/startup.py [--sizes 25470,1000000] [--url postgresql://…/postgres]
                            [--before c9e1500] [--queries 300]

Stores are generated once and kept (see ``bench/_common.py``). Run it on a quiet machine
(it waits for a 1-minute load average below 1.5, at most 10 minutes).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    ROOT,
    Server,
    app_env,
    clean_dir,
    free_port,
    get,
    gunicorn_project,
    memory,
    old_checkout,
    postgis_store,
    quiet,
    sqlite_store,
)

URBAN = (116.20, 39.75, 116.55, 40.05)
KINDS = ("warm_station", "union_home", "nursing_room")
MB = 1e6


def nearest_path(rng: random.Random) -> str:
    lon = rng.uniform(URBAN[0], URBAN[2])
    lat = rng.uniform(URBAN[1], URBAN[3])
    return f"/api/v1/nearest?lon={lon:.6f}&lat={lat:.6f}&kind={rng.choice(KINDS)}&limit=10"


def run(server: Server, queries: int, rng: random.Random) -> dict[str, float]:
    try:
        first = server.wait_answer(nearest_path(rng), timeout_s=900)
        for _ in range(queries):
            status, _ = get(server.port, nearest_path(rng))
            assert status == 200, status
        time.sleep(0.5)
        workers = server.workers()
        mems = [memory(pid) for pid in workers]
        master = memory(server.proc.pid)
        return {
            "first_s": first,
            "workers": len(workers),
            "rss_max": max(m["rss"] for m in mems),
            "pss_max": max(m["pss"] for m in mems),
            "private_max": max(m["private"] for m in mems),
            "total_pss": master["pss"] + sum(m["pss"] for m in mems),
            "master_rss": master["rss"],
        }
    finally:
        server.stop()


def measure(
    url: str, label: str, queries: int, before: str | None, tmp: Path
) -> list[tuple[str, dict[str, float]]]:
    rng = random.Random(7)
    out = []
    index_dir = clean_dir(tmp / "index")
    env = app_env(url, index_dir)
    log = tmp / f"{label}.log"
    out.append(("project cold", run(gunicorn_project(env, free_port(), log=log), queries, rng)))
    out.append(("project warm", run(gunicorn_project(env, free_port(), log=log), queries, rng)))
    port = free_port()
    minimal = Server(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "--preload",
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "bench.minimal_app:app",
        ],
        env,
        port,
        log=log,
    )
    out.append(("minimal (preloaded cKDTree)", run(minimal, queries, rng)))
    if before:
        code = old_checkout(before)
        port = free_port()
        old = Server(
            [str(ROOT / ".venv/bin/gunicorn"), "--workers", "2", "--bind", f"127.0.0.1:{port}", "app:app"],
            {**env, "PYTHONPATH": str(code)},
            port,
            cwd=code,
            log=log,
        )
        out.append((f"before ({before[:9]})", run(old, queries, rng)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="25470,1000000")
    ap.add_argument("--url", default=os.environ.get("LOCATOR_BENCH_DATABASE_URL"))
    ap.add_argument("--before", default=None, help="a commit to measure as 'before' (git archive)")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--wait-quiet", type=float, default=600, help="seconds to wait for load < 1.5 (0: none)")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    stores = []
    for n in sizes:
        stores.append((n, "sqlite", sqlite_store(n)))
        if args.url:
            stores.append((n, "postgis", postgis_store(args.url, n)))
    print(f"load average before: {quiet(wait_s=args.wait_quiet):.2f}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="locator-startup-") as tmp:
        for n, name, url in stores:
            for variant, r in measure(url, f"{name}-{n}", args.queries, args.before, Path(tmp)):
                rows.append((n, name, variant, r))
                print(
                    f"{n:>9,} {name:8s} {variant:28s} first answer {r['first_s']:6.1f} s  "
                    f"RSS/worker {r['rss_max'] / MB:7.0f} MB  PSS/worker {r['pss_max'] / MB:7.0f} MB  "
                    f"private/worker {r['private_max'] / MB:6.0f} MB  "
                    f"total PSS {r['total_pss'] / MB:7.0f} MB",
                    flush=True,
                )
    print()
    print(
        "| N | store | variant | first answer (s) | RSS / worker (MB) | PSS / worker (MB) "
        "| total PSS, master + 2 workers (MB) | RSS vs minimal |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for n, name, variant, r in rows:
        base = next(x for m, s, v, x in rows if m == n and s == name and v.startswith("minimal"))
        print(
            f"| {n:,} | {name} | {variant} | {r['first_s']:.1f} | {r['rss_max'] / MB:.0f} "
            f"| {r['pss_max'] / MB:.0f} | {r['total_pss'] / MB:.0f} | {r['rss_max'] / base['rss_max']:.2f}x |"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
