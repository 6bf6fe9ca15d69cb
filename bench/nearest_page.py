"""The riders' ``/nearest`` page before and after a change, side by side: client-side ms.

Two gunicorn servers under the served configuration (``gunicorn.conf.py``, 2 workers) on the
same store (the 25,470-facility demo layer, or ``--size`` synthetic facilities): the project
at ``--before`` (a commit, checked out with ``git archive``) and the working tree. Rounds
alternate between them; in each round both answer the same random urban points (one
kept-alive connection, one request at a time, ``Accept-Language: zh-CN``,
``LOCATOR_TILES=none``). Prints per-round and pooled p50 / p90 / p99 in milliseconds, the
page size in bytes, and after ÷ before.

Run from the project root::

    .venv/bin/python bench/nearest_page.py --before 26fad56 --rounds 6 --requests 100
    .venv/bin/python bench/nearest_page.py --before 26fad56 --size 1000000
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import sys
import time
from pathlib import Path

_BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(_BENCH))

import _common  # noqa: E402
import http_api  # noqa: E402

CACHE, ROOT, Server, app_env = _common.CACHE, _common.ROOT, _common.Server, _common.app_env
clean_dir, free_port, percentile = _common.clean_dir, _common.free_port, _common.percentile
gunicorn_project, old_checkout, quiet = _common.gunicorn_project, _common.old_checkout, _common.quiet
URBAN, KINDS = http_api.URBAN, http_api.KINDS


def page_round(port: int, points: list[tuple[float, float, str]]) -> tuple[list[float], int]:
    """Client-side milliseconds of ``/nearest`` for each point, and the last page's size."""
    times: list[float] = []
    size = 0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        for lon, lat, kind in points:
            t0 = time.perf_counter()
            path = f"/nearest?lon={lon:.4f}&lat={lat:.4f}&kind={kind}"
            conn.request("GET", path, headers={"Accept-Language": "zh-CN"})
            r = conn.getresponse()
            body = r.read()
            times.append((time.perf_counter() - t0) * 1e3)
            if r.status != 200:
                raise RuntimeError(f"/nearest answered {r.status}")
            size = len(body)
    finally:
        conn.close()
    return times, size


def stats(times: list[float]) -> dict[str, float]:
    return {"p50": percentile(times, 50), "p90": percentile(times, 90), "p99": percentile(times, 99)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", required=True, help="the commit to compare the working tree with")
    ap.add_argument("--size", type=int, default=http_api.DEMO, help="facilities: the demo layer or synthetic")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--requests", type=int, default=100, help="pages per server per round")
    ap.add_argument("--quiet-load", type=float, default=1.5)
    ap.add_argument("--quiet-wait", type=float, default=300)
    args = ap.parse_args()

    url = http_api.demo_store() if args.size == http_api.DEMO else _common.sqlite_store(args.size)
    log_dir = clean_dir(CACHE / "nearest-page-logs")
    trees = {"before": old_checkout(args.before), "after": ROOT}
    servers: dict[str, Server] = {}
    load_before = quiet(args.quiet_load, args.quiet_wait)
    try:
        for name, code in trees.items():
            index_dir = CACHE / f"nearest-page-index-{args.size}-{name}"  # a snapshot per tree
            index_dir.mkdir(parents=True, exist_ok=True)
            env = app_env(url, index_dir, LOCATOR_RATELIMIT_SAME_ORIGIN="100000000 per minute")
            servers[name] = gunicorn_project(env, free_port(), log=log_dir / f"{name}.log", code=code)
        for name, server in servers.items():
            server.wait_answer("/nearest?lon=116.4&lat=39.9", timeout_s=600)
            page_round(server.port, [(116.4, 39.9, "warm_station")] * 30)  # warm both workers
            print(f"  {name} ready", file=sys.stderr)
        rng = random.Random(7)
        pooled: dict[str, list[float]] = {name: [] for name in servers}
        sizes: dict[str, int] = {}
        rounds = []
        for r in range(args.rounds):
            points = [
                (rng.uniform(URBAN[0], URBAN[2]), rng.uniform(URBAN[1], URBAN[3]), rng.choice(KINDS))
                for _ in range(args.requests)
            ]
            order = list(servers) if r % 2 == 0 else list(reversed(servers))
            row: dict[str, object] = {"round": r + 1, "load": os.getloadavg()[0]}
            for name in order:
                times, sizes[name] = page_round(servers[name].port, points)
                pooled[name] += times
                row[name] = stats(times)
            rounds.append(row)
            line = "  ".join(f"{n} p50 {stats(pooled[n][-len(points) :])['p50']:.1f} ms" for n in servers)
            print(f"  round {r + 1} (load {row['load']:.1f}): {line}", file=sys.stderr)
    finally:
        for server in servers.values():
            server.stop()
    summary = {name: {**stats(pooled[name]), "bytes": sizes.get(name, 0)} for name in servers}
    ratio = {k: summary["after"][k] / summary["before"][k] for k in ("p50", "p90", "p99")}
    print(
        json.dumps(
            {
                "before": args.before,
                "facilities": args.size,
                "load_before": load_before,
                "requests_per_server": args.rounds * args.requests,
                "summary": summary,
                "after_over_before": ratio,
                "rounds": rounds,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
