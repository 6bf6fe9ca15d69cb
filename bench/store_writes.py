"""Benchmark: store operations on both backends (imports, checked batches, single edits, reads).

For SYNTHETIC facilities (the demo points copied and jittered, see
``bench/postgis_nearest.py``), one run prints, per backend (SQLite always; PostGIS when a
server URL is given):

* ``import new``: :meth:`import_many` of N new facilities (one transaction);
* ``import replace``: the same N again (every row replaced, version 2);
* ``write_batch``: a checked batch of B facilities (versions checked, one transaction);
* ``update``: single :meth:`update` calls, each its own transaction (median and p95);
* ``get``, ``list all``, ``changes_since(0)``;
* ``feedback``: :meth:`add_feedback` (median) and ``list_reports`` of the open queue.

Usage::

    python bench/store_writes.py [--n 20000] [--batch 1000] [--edits 200] [--url postgresql://…]

``--url`` names a maintenance database on a PostGIS server (default:
``LOCATOR_BENCH_DATABASE_URL`` or ``LOCATOR_TEST_DATABASE_URL``; ``--url ''`` skips
PostGIS); the benchmark creates and afterwards drops one database.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from postgis_nearest import create_database, drop_database, synthetic_facilities  # noqa: E402

from locator.core.domain import Feedback  # noqa: E402
from locator.stores.contract import Actor, FacilityStore  # noqa: E402
from locator.stores.postgis import PostGISStore  # noqa: E402
from locator.stores.sqlite import SQLiteStore  # noqa: E402

ACTOR = Actor("bench", "synthetic")


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run(store: FacilityStore, n: int, batch: int, edits: int) -> dict[str, float]:
    """Seconds per operation on a fresh store (medians for the repeated single operations)."""
    store.init_schema()
    facilities = synthetic_facilities(n)
    out: dict[str, float] = {}
    out["import new (s)"] = timed(lambda: store.import_many(facilities, ACTOR))
    out["import replace (s)"] = timed(lambda: store.import_many(facilities, ACTOR))
    rows = [f.replace(name=f.name + "·b") for f in facilities[:batch]]
    expected = {f.id: 2 for f in rows}
    out["write_batch (s)"] = timed(lambda: store.write_batch(rows, expected, ACTOR))  # type: ignore[attr-defined]
    times = []
    for i in range(edits):
        f = facilities[batch + i]
        times.append(timed(lambda f=f: store.update(f.replace(name=f.name + "·e"), 2, ACTOR)))
    out["update, median (ms)"] = statistics.median(times) * 1000
    out["update, p95 (ms)"] = float(np.percentile(times, 95)) * 1000
    gets = [timed(lambda f=f: store.get(f.id)) for f in facilities[:edits]]
    out["get, median (ms)"] = statistics.median(gets) * 1000
    out["list all (s)"] = timed(store.list)
    out["changes_since(0) (s)"] = timed(lambda: store.changes_since(0))
    now = datetime.now(UTC)
    fbs = [
        timed(lambda f=f: store.add_feedback(Feedback(f.id, "problem", now, reason="closed")))
        for f in facilities[:edits]
    ]
    out["add_feedback, median (ms)"] = statistics.median(fbs) * 1000
    out["list_reports open (ms)"] = timed(lambda: store.list_reports()) * 1000  # type: ignore[attr-defined]
    return out


def best(runs: list[dict[str, float]]) -> dict[str, float]:
    """The smallest value of each measure over the runs (the least disturbed by other load)."""
    return {k: min(r[k] for r in runs) for k in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--edits", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3, help="fresh stores per backend; the best is shown")
    parser.add_argument(
        "--url",
        default=os.environ.get("LOCATOR_BENCH_DATABASE_URL", os.environ.get("LOCATOR_TEST_DATABASE_URL", "")),
    )
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    runs: list[dict[str, float]] = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            store = SQLiteStore(Path(tmp) / "bench.sqlite3")
            try:
                runs.append(run(store, args.n, args.batch, args.edits))
            finally:
                store.close()
    results["sqlite"] = best(runs)
    if args.url:
        runs = []
        for _ in range(args.repeat):
            dbname = f"locator_bench_writes_{os.getpid()}"
            url = create_database(args.url, dbname)
            try:
                pg = PostGISStore(url, pool_min=1, pool_max=2, timeout_s=600)
                try:
                    runs.append(run(pg, args.n, args.batch, args.edits))
                finally:
                    pg.close()
            finally:
                drop_database(args.url, dbname)
        results["postgis"] = best(runs)
    print(f"N={args.n} facilities, batch={args.batch}, edits={args.edits} (synthetic), best of {args.repeat}")
    print(f"| operation | {' | '.join(results)} |")
    print(f"|---|{'---|' * len(results)}")
    for k in next(iter(results.values())):
        print(f"| {k} | {' | '.join(f'{r[k]:.3g}' for r in results.values())} |")


if __name__ == "__main__":
    main()
