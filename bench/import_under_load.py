"""Benchmark: a 186,000-row CLI import into a serving store, under load; peak RSS of a 1M-row import.

**Under load** (per store: SQLite, and PostGIS with ``--url``): a copy of the synthetic
25,470-facility store (``bench/_common.py``) is served by gunicorn under the served
configuration (``gunicorn.conf.py``, 2 sync workers, 30 s worker timeout). A load
generator sends ``/api/v1/nearest`` (random urban points, every kind, k = 10) at
``--nearest-rate`` requests a second and moves facilities of the served store with
``PATCH /api/v1/facilities/<id>`` (bearer token, ``If-Match``) at ``--patch-rate``, for
``--control`` seconds before the import (the control), then while
``flask locator import`` streams a CSV of 186,000 new facilities (jittered copies of the
demo layer, ids ``imp-…``) into the same store, and until every worker answers with the
imported facilities (polled) plus ``--after`` seconds. Printed per phase: status counts,
p50 / p99 / max latency (client side: connect to last byte) of nearest and PATCH, and
the gunicorn log's worker timeouts and worker boots.

**1M-row import**: ``flask locator import`` of a 1,000,000-row CSV into an empty store
(SQLite; PostGIS with ``--url``), run under a wrapper whose only child it is, so that
``getrusage(RUSAGE_CHILDREN)`` gives its peak RSS and CPU time.

Usage::

    python bench/import_under_load.py [--url postgresql://…/postgres] [--stores sqlite,postgis]
                                      [--rows 186000] [--million 1000000] [--skip-million]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    CACHE,
    ROOT,
    app_env,
    clean_dir,
    free_port,
    get,
    gunicorn_project,
    percentile,
    postgis_store,
    quiet,
    request,
    sqlite_store,
    synthetic,
)

SERVED = 25_470
FLASK = str(ROOT / ".venv/bin/flask")
URBAN = (116.20, 39.75, 116.55, 40.05)
KINDS = ("warm_station", "union_home", "nursing_room")
COLUMNS = (
    "id",
    "kind",
    "name",
    "address",
    "lon",
    "lat",
    "amenities",
    "opening_hours",
    "host_type",
    "phone",
    "status",
    "verified_at",
    "source",
)


def flask(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    out = subprocess.run(
        [str(ROOT / ".venv/bin/flask"), "--app", "app", "locator", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout


def import_csv(n: int, prefix: str) -> Path:
    """A CSV of ``n`` new facilities (jittered demo layer, ids ``<prefix>-…``), cached."""
    path = CACHE / f"import-{prefix}-{n}.csv"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for batch in synthetic(n, seed=99):
            for f in batch:
                w.writerow(
                    [
                        f.id.replace("syn-", f"{prefix}-"),
                        f.kind,
                        f.name,
                        f.address,
                        f"{f.lon:.7f}",
                        f"{f.lat:.7f}",
                        ";".join(sorted(f.amenities)),
                        f.opening_hours,
                        f.host_type,
                        f.phone,
                        f.status,
                        f.verified_at.isoformat() if f.verified_at else "",
                        f.source,
                    ]
                )
    os.replace(tmp, path)
    return path


def copy_sqlite(n: int, tmp: Path) -> str:
    src = Path(sqlite_store(n)[len("sqlite:///") :])
    dst = tmp / "served.sqlite3"
    shutil.copy(src, dst)
    return f"sqlite:///{dst}"


def copy_postgis(admin_url: str, n: int) -> tuple[str, str]:
    """A new database copied from the kept synthetic one: ``(url, name)``."""
    import psycopg

    template = urlsplit(postgis_store(admin_url, n)).path.lstrip("/")
    name = f"locator_bench_import_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return urlsplit(admin_url)._replace(path="/" + name).geturl(), name


def drop_postgis(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Paced(threading.Thread):
    """Calls ``fn`` at ``rate`` per second (the next call at once if one was late) until stopped."""

    def __init__(self, rate: float, fn: Any) -> None:
        super().__init__(daemon=True)
        self.interval = 1.0 / rate
        self.fn = fn
        self.samples: list[tuple[float, float, int]] = []  # (start, seconds, status)
        self.stop = threading.Event()

    def run(self) -> None:
        next_at = time.perf_counter()
        while not self.stop.is_set():
            t0 = time.perf_counter()
            try:
                status = self.fn()
            except OSError:
                status = 0  # connection refused/reset: a worker died
            self.samples.append((t0, time.perf_counter() - t0, status))
            next_at = max(next_at + self.interval, time.perf_counter())
            self.stop.wait(max(0.0, next_at - time.perf_counter()))


def nearest_call(port: int, rng: random.Random) -> Any:
    def call() -> int:
        lon = rng.uniform(URBAN[0], URBAN[2])
        lat = rng.uniform(URBAN[1], URBAN[3])
        path = f"/api/v1/nearest?lon={lon:.6f}&lat={lat:.6f}&kind={rng.choice(KINDS)}&limit=10"
        status, _ = get(port, path, timeout=60)
        return status

    return call


def patch_call(port: int, auth: dict[str, str], rng: random.Random, n_served: int) -> Any:
    def call() -> int:
        fid = f"syn-{rng.randrange(n_served):07d}"
        status, headers, body = request(port, "GET", f"/api/v1/facilities/{fid}")
        if status != 200:
            return status
        lon, lat = json.loads(body)["geometry"]["coordinates"]
        status, _, _ = request(
            port,
            "PATCH",
            f"/api/v1/facilities/{fid}",
            {
                "lon": lon + rng.uniform(-2e-4, 2e-4),
                "lat": lat + rng.uniform(-2e-4, 2e-4),
                "datum": "wgs84",
                "reason": "bench",
            },
            {**auth, "If-Match": headers["ETag"]},
        )
        return status

    return call


def visible_everywhere(port: int, fid: str, tries: int = 12) -> bool:
    """``fid`` answered by ``tries`` consecutive requests (each may go to either worker)."""
    for _ in range(tries):
        status, _ = get(port, f"/api/v1/facilities/{fid}", timeout=60)
        if status != 200:
            return False
    return True


def stats(samples: list[tuple[float, float, int]], t0: float, t1: float) -> dict[str, Any]:
    inside = [(s, st) for start, s, st in samples if t0 <= start < t1]
    lat = [s for s, _ in inside]
    return {
        "n": len(inside),
        "statuses": dict(sorted(Counter(st for _, st in inside).items())),
        "p50_ms": percentile(lat, 50) * 1000,
        "p99_ms": percentile(lat, 99) * 1000,
        "max_ms": percentile(lat, 100) * 1000,
        "over_50ms": sum(v > 0.050 for v in lat),
    }


def under_load(
    name: str, url: str, csv_path: Path, rows: int, args: argparse.Namespace, tmp: Path
) -> dict[str, Any]:
    index_dir = clean_dir(tmp / f"index-{name}")
    env = app_env(url, index_dir, GUNICORN_CMD_ARGS="--graceful-timeout 5")
    user = f"bench-{uuid.uuid4().hex[:8]}"
    flask(env, "create-user", user, "--role", "admin", "--password-stdin", stdin="bench passphrase 12345\n")
    token = flask(env, "create-token", user).strip().splitlines()[-1]
    auth = {"Authorization": f"Bearer {token}"}
    log = tmp / f"{name}-gunicorn.log"
    port = free_port()
    server = gunicorn_project(env, port, workers=2, log=log)
    try:
        server.wait_answer("/api/v1/nearest?lon=116.4&lat=39.9", timeout_s=600)
        # Both workers booted before counting (the second may log its boot after the first answers).
        deadline = time.monotonic() + 120
        while log.read_text(errors="replace").count("Booting worker") < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        boots_before = log.read_text(errors="replace").count("Booting worker")
        rng = random.Random(7)
        near = Paced(args.nearest_rate, nearest_call(port, random.Random(3)))
        patch = Paced(args.patch_rate, patch_call(port, auth, rng, SERVED))
        near.start()
        patch.start()
        time.sleep(args.control)
        t_import = time.perf_counter()
        wrapper = (
            "import resource, subprocess, sys\n"
            "done = subprocess.run(sys.argv[1:])\n"
            "r = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
            "print('RUSAGE', r.ru_maxrss, r.ru_utime + r.ru_stime, file=sys.stderr)\n"
            "sys.exit(done.returncode)\n"
        )
        cli = [FLASK, "--app", "app", "locator", "import", str(csv_path), "--datum", "wgs84"]
        done = subprocess.run(
            [sys.executable, "-c", wrapper, *cli], cwd=ROOT, env=env, capture_output=True, text=True
        )
        t_committed = time.perf_counter()
        if done.returncode != 0:
            raise RuntimeError(f"import failed: {done.stderr[-2000:]}")
        rss_kib, cpu_s = done.stderr.rsplit("RUSAGE", 1)[1].split()[:2]
        merge = re.search(r"write lock held ([0-9.]+) s", done.stderr)
        last_id = f"imp-{rows - 1:07d}"
        while not visible_everywhere(port, last_id):
            if time.perf_counter() - t_committed > 600:
                raise RuntimeError("the import was not visible in every worker within 600 s")
            time.sleep(0.05)
        t_visible = time.perf_counter()
        time.sleep(args.after)
        t_end = time.perf_counter()
        near.stop.set()
        patch.stop.set()
        near.join()
        patch.join()
        text = log.read_text(errors="replace")
        return {
            "store": name,
            "import_s": t_committed - t_import,
            "visible_after_s": t_visible - t_committed,
            "import_rss_mib": int(rss_kib) / 1024,
            "import_cpu_s": float(cpu_s),
            "lock_s": float(merge.group(1)) if merge else float("nan"),
            "control": {
                "nearest": stats(near.samples, 0, t_import),
                "patch": stats(patch.samples, 0, t_import),
            },
            "during": {
                "nearest": stats(near.samples, t_import, t_end),
                "patch": stats(patch.samples, t_import, t_end),
            },
            "worker_timeouts": text.count("WORKER TIMEOUT"),
            "worker_boots": text.count("Booting worker") - boots_before,
        }
    finally:
        server.stop()


def million(name: str, url: str, csv_path: Path, tmp: Path) -> dict[str, Any]:
    env = app_env(url, clean_dir(tmp / f"index-million-{name}"))
    wrapper = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "done = subprocess.run(sys.argv[1:])\n"
        "r = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print('RUSAGE', r.ru_maxrss, r.ru_utime + r.ru_stime, time.perf_counter() - t, file=sys.stderr)\n"
        "sys.exit(done.returncode)\n"
    )
    cli = [FLASK, "--app", "app", "locator", "import", str(csv_path), "--datum", "wgs84"]
    done = subprocess.run(
        [sys.executable, "-c", wrapper, *cli], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"1M import failed: {done.stderr[-2000:]}")
    rss_kib, cpu_s, wall_s = done.stderr.rsplit("RUSAGE", 1)[1].split()[:3]
    merge = re.search(r"write lock held ([0-9.]+) s", done.stderr)
    return {
        "store": name,
        "rss_mib": int(rss_kib) / 1024,
        "cpu_s": float(cpu_s),
        "wall_s": float(wall_s),
        "lock_s": float(merge.group(1)) if merge else float("nan"),
    }


def fmt(s: dict[str, Any]) -> str:
    codes = ", ".join(f"{k}: {v}" for k, v in s["statuses"].items())
    return f"{s['p50_ms']:.1f} / {s['p99_ms']:.1f} / {s['max_ms']:.0f} ({s['n']}; {codes})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default=os.environ.get("LOCATOR_BENCH_DATABASE_URL"))
    ap.add_argument("--stores", default="sqlite,postgis")
    ap.add_argument("--rows", type=int, default=186_000)
    ap.add_argument("--million", type=int, default=1_000_000)
    ap.add_argument("--skip-million", action="store_true")
    ap.add_argument("--skip-load", action="store_true")
    ap.add_argument("--nearest-rate", type=float, default=40.0, help="nearest requests per second")
    ap.add_argument("--patch-rate", type=float, default=4.0, help="PATCHes per second")
    ap.add_argument("--control", type=float, default=15.0, help="seconds of load before the import")
    ap.add_argument("--after", type=float, default=10.0, help="seconds of load after it is visible")
    ap.add_argument("--wait-quiet", type=float, default=600, help="seconds to wait for load < 1.5 (0: none)")
    args = ap.parse_args()
    kinds = args.stores.split(",")
    print(f"load average before: {quiet(wait_s=args.wait_quiet):.2f}", flush=True)
    results: list[dict[str, Any]] = []
    millions: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="locator-import-") as tmpdir:
        tmp = Path(tmpdir)
        if not args.skip_load:
            csv_path = import_csv(args.rows, "imp")
            for name in ("sqlite", "postgis"):
                if name not in kinds or (name == "postgis" and not args.url):
                    continue
                db_name = None
                if name == "sqlite":
                    url = copy_sqlite(SERVED, tmp)
                else:
                    url, db_name = copy_postgis(args.url, SERVED)
                try:
                    r = under_load(name, url, csv_path, args.rows, args, tmp)
                finally:
                    if db_name:
                        drop_postgis(args.url, db_name)
                results.append(r)
                print(json.dumps(r), flush=True)
        if not args.skip_million:
            csv_path = import_csv(args.million, "mil")
            for name in ("sqlite", "postgis"):
                if name not in kinds or (name == "postgis" and not args.url):
                    continue
                db_name = None
                if name == "sqlite":
                    url = f"sqlite:///{tmp / 'million.sqlite3'}"
                else:
                    import psycopg

                    db_name = f"locator_bench_million_{uuid.uuid4().hex[:8]}"
                    with psycopg.connect(args.url, autocommit=True) as conn:
                        conn.execute(f'CREATE DATABASE "{db_name}"')
                    url = urlsplit(args.url)._replace(path="/" + db_name).geturl()
                    with psycopg.connect(url, autocommit=True) as conn:
                        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
                try:
                    m = million(name, url, csv_path, tmp)
                finally:
                    if db_name:
                        drop_postgis(args.url, db_name)
                millions.append(m)
                print(json.dumps(m), flush=True)
    if results:
        print()
        print(
            f"{args.rows:,}-row CLI import into a serving {SERVED:,}-facility store, 2 gunicorn workers; "
            f"load: nearest {args.nearest_rate:g}/s, PATCH {args.patch_rate:g}/s"
        )
        print(
            "| store | phase | nearest p50 / p99 / max ms (n; statuses) "
            "| PATCH p50 / p99 / max ms (n; statuses) | nearest > 50 ms |"
        )
        print("|---|---|---|---|---|")
        for r in results:
            for phase in ("control", "during"):
                near, patch = r[phase]["nearest"], r[phase]["patch"]
                label = "control (no import)" if phase == "control" else "import + fold until visible + after"
                print(f"| {r['store']} | {label} | {fmt(near)} | {fmt(patch)} | {near['over_50ms']} |")
        print()
        print("| store | import wall s | import CPU s | write lock held s | visible in every worker after s "
              "| import peak RSS MiB | worker timeouts | worker boots |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|")
        for r in results:
            print(
                f"| {r['store']} | {r['import_s']:.1f} | {r['import_cpu_s']:.1f} | {r['lock_s']:.2f} "
                f"| {r['visible_after_s']:.1f} | {r['import_rss_mib']:.0f} | {r['worker_timeouts']} "
                f"| {r['worker_boots']} |"
            )
    if millions:
        print()
        print(f"{args.million:,}-row CLI import into an empty store")
        print("| store | peak RSS MiB | CPU s | wall s | write lock held s |")
        print("|---|---|---|---|---|")
        for m in millions:
            print(
                f"| {m['store']} | {m['rss_mib']:.0f} | {m['cpu_s']:.0f} | {m['wall_s']:.0f} "
                f"| {m['lock_s']:.2f} |"
            )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
