"""Benchmark: an edit through one worker, seen by every other worker; nearest latency meanwhile.

Three workers of the served configuration (each a ``gunicorn -c gunicorn.conf.py`` with
``WORKERS=1`` on its own port, so that each can be addressed; all share the store and the
snapshot directory, exactly as the workers of one gunicorn do) over a synthetic store of
25,470 or 1,000,000 facilities (SQLite; PostGIS with ``--url``):

* **Edits**: ``--edits`` moves (about 30 m) of warm stations through worker A
  (``PATCH /api/v1/facilities/<id>``, bearer token, ``If-Match``), one at a time. After each
  PATCH returns (committed), workers B and C are polled with ``/api/v1/nearest`` at the
  new position until each answers the facility first at 0 m; the lag is the later of the
  two. Printed: p50, p99 and max in milliseconds.
* **Stream**: ``--stream`` more moves sent back to back through A without waiting
  (enough to pass the fold threshold at 1M, so that background folds happen), then the
  lag until B and C show the last one.
* **Control**: first ``--idle`` seconds of the same nearest load with no edits, so that
  the latencies under edits can be compared with this shared machine's own noise.
* **Nearest meanwhile**: every nearest request B and C answer is timed by gunicorn
  (access log ``%(D)s``, microseconds from the request read to the response written:
  the server-side latency), and a client thread sends nearest requests (random urban points,
  every kind, k = 10) to B and C, alternately, for the whole time, and records each
  request's latency as the client sees it (connect to last byte, on the same 2 cores):
  p50, p99, max and how many took over 20 ms.

Usage::

    python bench/edit_visibility.py [--sizes 25470,1000000] [--url postgresql://…/postgres]
                                    [--edits 60] [--stream 2500] [--code DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
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
)

URBAN = (116.20, 39.75, 116.55, 40.05)
KINDS = ("warm_station", "union_home", "nursing_room")


CODE = ROOT  # the checkout served (--code)


def flask(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    out = subprocess.run(
        [str(ROOT / ".venv/bin/flask"), "--app", "app", "locator", *args],
        cwd=CODE,
        env={**env, "PYTHONPATH": str(CODE)},
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout


def targets(url: str, count: int, seed: int) -> list[str]:
    """Ids of open synthetic warm stations to move (a spread sample)."""
    rng = random.Random(seed)
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url[len("sqlite:///") :]) as conn:
            n = conn.execute("SELECT count(*) FROM facilities").fetchone()[0]
    else:
        import psycopg

        with psycopg.connect(url) as conn:
            n = conn.execute("SELECT count(*) FROM facilities").fetchone()[0]
    # syn-i copies demo facility i % 3908: keep warm stations (checked when read).
    return [f"syn-{rng.randrange(n):07d}" for _ in range(count * 5)]


class Load(threading.Thread):
    """Nearest requests to the given ports, alternately, until stopped; latencies in seconds."""

    def __init__(self, ports: list[int]) -> None:
        super().__init__(daemon=True)
        self.ports = ports
        self.latencies: list[float] = []
        self.errors = 0
        self.stop = threading.Event()

    def run(self) -> None:
        rng = random.Random(3)
        i = 0
        while not self.stop.is_set():
            lon = rng.uniform(URBAN[0], URBAN[2])
            lat = rng.uniform(URBAN[1], URBAN[3])
            path = f"/api/v1/nearest?lon={lon:.6f}&lat={lat:.6f}&kind={rng.choice(KINDS)}&limit=10"
            t0 = time.perf_counter()
            try:
                status, _ = get(self.ports[i % len(self.ports)], path)
            except OSError:
                status = 0
            self.latencies.append(time.perf_counter() - t0)
            if status != 200:
                self.errors += 1
            i += 1


def visible_at(port: int, fid: str, lon: float, lat: float) -> bool:
    status, body = get(port, f"/api/v1/nearest?lon={lon:.7f}&lat={lat:.7f}&kind=warm_station&limit=1")
    if status != 200:
        return False
    feats = json.loads(body)["features"]
    return bool(feats) and feats[0]["id"] == fid and feats[0]["properties"]["distance_m"] < 0.05


def wait_all(ports: list[int], fid: str, lon: float, lat: float, timeout_s: float = 30) -> float:
    """Seconds until every port answers ``fid`` at (lon, lat), polled in parallel."""
    t0 = time.perf_counter()
    done: dict[int, float] = {}

    def poll(port: int) -> None:
        while time.perf_counter() - t0 < timeout_s:
            if visible_at(port, fid, lon, lat):
                done[port] = time.perf_counter() - t0
                return
            time.sleep(0.002)

    threads = [threading.Thread(target=poll, args=(p,)) for p in ports]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if len(done) < len(ports):
        raise RuntimeError(f"{fid} not visible in every worker within {timeout_s} s")
    return max(done.values())


def move(port: int, auth: dict[str, str], fid: str, step: int) -> tuple[float, float] | None:
    status, headers, body = request(port, "GET", f"/api/v1/facilities/{fid}")
    if status != 200:
        return None
    feat = json.loads(body)
    if feat["properties"]["kind"] != "warm_station" or feat["properties"]["status"] != "open":
        return None
    lon, lat = feat["geometry"]["coordinates"]
    lon, lat = lon + 0.0003 * (1 if step % 2 else -1), lat + 0.0001
    status, _, body = request(
        port,
        "PATCH",
        f"/api/v1/facilities/{fid}",
        {"lon": lon, "lat": lat, "datum": "wgs84", "reason": "bench"},
        {**auth, "If-Match": headers["ETag"]},
    )
    if status != 200:
        raise RuntimeError(f"PATCH {fid}: {status} {body[:200]!r}")
    return lon, lat


def measure(url: str, label: str, edits: int, stream: int, idle: float, tmp: Path) -> dict[str, Any]:
    index_dir = clean_dir(tmp / f"index-{label}")
    env = app_env(url, index_dir)
    user = f"bench-{uuid.uuid4().hex[:8]}"
    flask(env, "create-user", user, "--role", "admin", "--password-stdin", stdin="bench passphrase 12345\n")
    token = flask(env, "create-token", user).strip().splitlines()[-1]
    auth = {"Authorization": f"Bearer {token}"}
    flask(env, "index-snapshot")  # the snapshot every worker maps, as serve.sh's master writes it
    logs = [tmp / f"{label}-{w}.access" for w in "ABC"]
    servers = [
        gunicorn_project(
            {
                **env,
                "ACCESS_LOG": str(access),
                "GUNICORN_CMD_ARGS": "--access-logformat '%(m)s %(U)s %(s)s %(D)s'",
            },
            free_port(),
            workers=1,
            log=tmp / f"{label}.log",
            code=CODE,
        )
        for access in logs
    ]
    try:
        for s in servers:
            s.wait_answer("/api/v1/nearest?lon=116.4&lat=39.9", timeout_s=600)
        a, others = servers[0], [s.port for s in servers[1:]]
        load = Load(others)
        load.start()
        time.sleep(idle)  # the control: the same load, no edits
        idle_client = list(load.latencies)
        idle_lines = [len(access.read_text().splitlines()) for access in logs[1:]]
        lags: list[float] = []
        ids = iter(targets(url, edits + stream, seed=zlib.crc32(label.encode())))
        step = 0
        while len(lags) < edits:
            fid = next(ids)
            step += 1
            where = move(a.port, auth, fid, step)
            if where is None:
                continue
            lags.append(wait_all(others, fid, *where))
        during_edits = list(load.latencies[len(idle_client) :])
        t0 = time.perf_counter()
        sent = 0
        last = None
        while sent < stream:
            fid = next(ids)
            step += 1
            where = move(a.port, auth, fid, step)
            if where is not None:
                sent += 1
                last = (fid, where)
        stream_s = time.perf_counter() - t0
        stream_lag = wait_all(others, last[0], *last[1]) if last else float("nan")
        time.sleep(1.0)
        load.stop.set()
        load.join()
        for srv in servers:
            srv.stop()
        served: list[float] = []  # server-side seconds of every nearest request B and C answered
        served_idle: list[float] = []
        for access, boundary in zip(logs[1:], idle_lines, strict=True):
            for i, line in enumerate(access.read_text().splitlines()):
                parts = line.split()
                if len(parts) == 4 and parts[1] == "/api/v1/nearest" and parts[2] == "200":
                    (served_idle if i < boundary else served).append(int(parts[3]) / 1e6)
        return {
            "served": served,
            "served_idle": served_idle,
            "idle_client": idle_client,
            "lags": lags,
            "stream": (sent, stream_s, stream_lag),
            "near_edits": during_edits,
            "near_all": load.latencies,
            "errors": load.errors,
        }
    finally:
        for s in servers:
            s.stop()


def ms(values: list[float], q: float) -> float:
    return percentile(values, q) * 1000


def over(values: list[float], limit: float = 0.020) -> str:
    """How many of ``values`` exceed ``limit`` seconds, as "k of n (p %)"."""
    k = sum(v > limit for v in values)
    return f"{k} of {len(values)} ({100 * k / max(1, len(values)):.2f} %)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="25470,1000000")
    ap.add_argument("--url", default=os.environ.get("LOCATOR_BENCH_DATABASE_URL"))
    ap.add_argument("--edits", type=int, default=60)
    ap.add_argument("--stream", type=int, default=2500)
    ap.add_argument(
        "--idle", type=float, default=15.0, help="seconds of nearest load before any edit (control)"
    )
    ap.add_argument("--stores", default="sqlite,postgis")
    ap.add_argument("--code", type=Path, default=ROOT, help="serve this checkout instead (same venv)")
    ap.add_argument("--wait-quiet", type=float, default=600, help="seconds to wait for load < 1.5 (0: none)")
    args = ap.parse_args()
    global CODE
    CODE = args.code.resolve()
    stores = []
    kinds = args.stores.split(",")
    for n in (int(s) for s in args.sizes.split(",")):
        if "sqlite" in kinds:
            stores.append((n, "sqlite", sqlite_store(n)))
        if args.url and "postgis" in kinds:
            stores.append((n, "postgis", postgis_store(args.url, n)))
    print(f"load average before: {quiet(wait_s=args.wait_quiet):.2f}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="locator-edits-") as tmp:
        for n, name, url in stores:
            r = measure(url, f"{name}-{n}", args.edits, args.stream, args.idle, Path(tmp))
            rows.append((n, name, r))
            lags, near, near_e = r["lags"], r["near_all"], r["near_edits"]
            sent, stream_s, stream_lag = r["stream"]
            print(
                f"{n:>9,} {name:8s} edit->visible p50 {ms(lags, 50):6.0f} p99 {ms(lags, 99):6.0f} "
                f"max {ms(lags, 100):6.0f} ms ({len(lags)} edits) | stream {sent} edits in {stream_s:.0f} s, "
                f"last visible {stream_lag * 1000:.0f} ms later | "
                f"nearest during edits p50 {ms(near_e, 50):.1f} "
                f"p99 {ms(near_e, 99):.1f} max {ms(near_e, 100):.1f} ms; whole run p99 {ms(near, 99):.1f} "
                f"max {ms(near, 100):.1f} ms, {sum(v > 0.020 for v in near)}/{len(near)} over 20 ms, "
                f"{r['errors']} errors | server-side nearest p50 {ms(r['served'], 50):.1f} "
                f"p99 {ms(r['served'], 99):.1f} max {ms(r['served'], 100):.1f} ms, "
                f"{sum(v > 0.020 for v in r['served'])}/{len(r['served'])} over 20 ms",
                flush=True,
            )
    print()
    print(
        "| N | store | edit → visible p50 / p99 / max (ms) "
        "| streamed edits: count, s, last visible after (ms) "
        "| nearest server-side p50 / p99 / max (ms), share > 20 ms: no edits (control) "
        "| same while edits stream in | client-side p99 / max (ms): control, edits |"
    )
    print("|---|---|---|---|---|---|---|")
    for n, name, r in rows:
        lags, near = r["lags"], r["near_all"]
        sent, stream_s, stream_lag = r["stream"]
        si, se = r["served_idle"], r["served"]
        ci = r["idle_client"]
        ce = near[len(ci) :]
        print(
            f"| {n:,} | {name} | {ms(lags, 50):.0f} / {ms(lags, 99):.0f} / {ms(lags, 100):.0f} "
            f"| {sent}, {stream_s:.0f}, {stream_lag * 1000:.0f} "
            f"| {ms(si, 50):.1f} / {ms(si, 99):.1f} / {ms(si, 100):.1f}, {over(si)} "
            f"| {ms(se, 50):.1f} / {ms(se, 99):.1f} / {ms(se, 100):.1f}, {over(se)} "
            f"| {ms(ci, 99):.1f} / {ms(ci, 100):.1f}, {ms(ce, 99):.1f} / {ms(ce, 100):.1f} |"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
