"""The city map at 25,470 and 1,000,000 facilities: first load and viewport answers.

    python bench/map.py [--sizes 25470,1000000] [--rounds 30] [--before COMMIT]

For each size, the synthetic SQLite store of ``bench/_common.py`` is served by the project
under its served configuration (gunicorn, ``gunicorn.conf.py``, 2 workers, no tiles) with
gunicorn's access log recording ``%(D)s`` (server time, request read to response written).

* **First load**: a phone-sized headless Chromium (Debian's, 412 x 915 CSS px) opens
  ``/map``; every request the page makes to the app other than static files (the page, its
  first viewport's clusters, the district outlines) is then fetched again with
  ``Accept-Encoding: gzip`` ``--rounds`` times: bytes on the wire (gzip body) and server
  time (median and max of the rounds). Static files (Leaflet, CSS, JS) are listed apart:
  they are the same for every size and cached by browsers.
* **Viewports**: what ``static/js/city-map.js`` asks for a phone's view (412 x 915 px, the
  whole tiles it touches) and a desktop's (1920 x 1080 px) centred on the densest part of
  the city (Tian'anmen and Wudaokou, alternately), at zooms 3-18: gzip bytes and server
  time, ``--rounds`` requests each; then ``--rounds`` popups (``/api/v1/map/facilities/<id>``).
* **Whole requests in one process** (Flask's test client): the app's own time per
  request, hooks and gzip included, without gunicorn, sockets or the other worker; on a
  shared machine the served times above also hold the time spent waiting for a core.
* **In-process**: the time to build the cluster pyramid of the index (done once per base,
  in the index keeper's background thread) and its memory; and a viewport answer while the
  index carries an overlay of 2,048 edited facilities (the largest overlay before a fold
  at 1M) next to one without.

``--before COMMIT`` measures ``/map`` of an older checkout too (the page that embedded every
facility), at the sizes given. The load average is printed at the start and after each
size: the machine is shared, and every served time includes waiting for a core.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from _common import (
    CACHE,
    ROOT,
    Server,
    app_env,
    free_port,
    gunicorn_project,
    old_checkout,
    quiet,
    sqlite_store,
)

PHONE = (412, 915)
DESKTOP = (1920, 1080)
CENTRES = ((116.3975, 39.9087), (116.3376, 39.9925))
ZOOMS = (3, 5, 7, 9, 11, 12, 13, 14, 15, 16, 17, 18)


def fetch(port: int, path: str) -> tuple[int, int, int, float, bytes]:
    """``(status, gzip bytes, bytes, client ms, body)`` of one GET with ``Accept-Encoding: gzip``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        t0 = time.perf_counter()
        conn.request("GET", path, headers={"Accept-Encoding": "gzip", "Accept-Language": "zh-CN"})
        r = conn.getresponse()
        body = r.read()
        ms = (time.perf_counter() - t0) * 1000
        plain = gzip.decompress(body) if r.getheader("Content-Encoding") == "gzip" else body
        return r.status, len(body), len(plain), ms, plain
    finally:
        conn.close()


def server_ms(log: Path, start_line: int) -> dict[str, list[float]]:
    """Server times (ms) per path+query from the access log lines after ``start_line``."""
    out: dict[str, list[float]] = {}
    for line in log.read_text().splitlines()[start_line:]:
        parts = line.split()
        if len(parts) >= 4 and parts[0] == "GET":
            out.setdefault(parts[1], []).append(int(parts[3]) / 1000)
    return out


def log_lines(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def tile_bbox(lon: float, lat: float, zoom: int, size: tuple[int, int]) -> str:
    """The bbox city-map.js asks for: the whole tiles a view of ``size`` px centred on lon/lat touches."""
    world = 256 * 2**zoom
    x = (lon + 180) / 360 * world
    s = math.sin(math.radians(lat))
    y = (0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi)) * world
    last = 2**zoom - 1
    x0 = max(0, min(last, math.floor((x - size[0] / 2) / 256)))
    x1 = max(0, min(last, math.floor((x + size[0] / 2 - 1) / 256)))
    y0 = max(0, min(last, math.floor((y - size[1] / 2) / 256)))
    y1 = max(0, min(last, math.floor((y + size[1] / 2 - 1) / 256)))

    def unproject(px: float, py: float) -> tuple[float, float]:
        lon_ = px / world * 360 - 180
        lat_ = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * py / world))))
        return lon_, lat_

    w, n = unproject(x0 * 256 + 0.5, y0 * 256 + 0.5)
    e, s_ = unproject((x1 + 1) * 256 - 0.5, (y1 + 1) * 256 - 0.5)
    return f"{w:.6f},{max(s_, -85.0511):.6f},{e:.6f},{min(n, 85.0511):.6f}"


def record_first_load(port: int) -> list[str]:
    """Paths (with query) a phone-sized Chromium requests from the app when opening /map."""
    from playwright.sync_api import sync_playwright

    seen: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox"], headless=True
        )
        ctx = browser.new_context(
            viewport={"width": PHONE[0], "height": PHONE[1]}, is_mobile=True, has_touch=True, locale="zh-CN"
        )
        page = ctx.new_page()
        page.on("request", lambda r: seen.append(r.url))
        page.goto(f"http://127.0.0.1:{port}/map")
        for _ in range(200):
            state = page.evaluate("document.querySelector('.folium-map').dataset.state || ''")
            if state == "ready":
                break
            page.wait_for_timeout(50)
        page.wait_for_timeout(500)
        browser.close()
    paths = []
    for u in seen:
        parts = urlsplit(u)
        if parts.hostname == "127.0.0.1":
            paths.append(parts.path + ("?" + parts.query if parts.query else ""))
    return paths


def stats(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.1f} / {max(values):.1f}"


def measure_served(n: int, rounds: int, code: Path = ROOT, label: str = "project") -> None:
    url = sqlite_store(n)
    index_dir = CACHE / (f"map-index-{n}" if code == ROOT else f"map-index-{n}-{code.name}")
    tmp = Path(tempfile.mkdtemp(prefix="locator-map-"))
    log = tmp / "access.log"
    port = free_port()
    env = app_env(
        url,
        index_dir,
        ACCESS_LOG=str(log),
        GUNICORN_CMD_ARGS="--access-logformat '%(m)s %(U)s%(q)s %(s)s %(D)s' --timeout 300",
    )
    if code == ROOT:
        server = gunicorn_project(env, port, workers=2, log=tmp / "server.log", code=code)
    else:  # an older checkout, served as its scripts/serve.sh did (it has no gunicorn.conf.py)
        args = [str(ROOT / ".venv/bin/gunicorn"), "--workers", "2", "--bind", f"127.0.0.1:{port}"]
        args += ["--access-logfile", str(log), "app:app"]
        server = Server(args, {**env, "PYTHONPATH": str(code)}, port, cwd=code, log=tmp / "server.log")
    try:
        up = server.wait_answer("/api/v1/nearest?lon=116.4&lat=39.9", timeout_s=900)
        print(f"\n## {label}, N = {n:,} (server up in {up:.1f} s)")
        # Warm both workers (their cluster pyramids and outlines are built in the background;
        # the old page has nothing to warm but its code, and takes seconds per request at 1M).
        for _ in range(8 if label == "project" else 2):
            fetch(port, "/map")
            if label == "project":
                fetch(port, f"/api/v1/map/clusters?bbox={tile_bbox(*CENTRES[0], 12, PHONE)}&zoom=12")
        time.sleep(2)
        first = record_first_load(port) if label == "project" else ["/map"]
        static = [p for p in first if p.startswith("/static/")]
        pages = [p for p in first if not p.startswith("/static/")]
        print(f"\nfirst load, phone (412 x 915): {len(pages)} requests to the app, {len(static)} static")
        print("| request | gzip bytes | bytes | server ms median / max | client ms median |")
        print("|---|---|---|---|---|")
        total_gz = 0
        total_ms = 0.0
        for p in pages:
            start = log_lines(log)
            sizes, clients = [], []
            for _ in range(rounds if n < 500_000 or label == "project" else 2):
                status, gz, plain, ms, _ = fetch(port, p)
                assert status == 200, (p, status)
                sizes.append((gz, plain))
                clients.append(ms)
            times = [t for path, ts in server_ms(log, start).items() for t in ts]
            total_gz += sizes[0][0]
            total_ms += statistics.median(times) if times else 0.0
            short = p if len(p) < 70 else p[:67] + "…"
            client = statistics.median(clients)
            print(f"| `{short}` | {sizes[0][0]:,} | {sizes[0][1]:,} | {stats(times)} | {client:.1f} |")
        print(f"| **total (HTML + its data)** | **{total_gz:,}** | | **{total_ms:.1f}** (sum of medians) | |")
        if static:
            sgz = sum(fetch(port, p)[1] for p in static)
            print(f"| static files ({len(static)}, cached by browsers, same at every N) | {sgz:,} | | | |")
        if label != "project":
            return
        for name, size in (("phone 412 x 915", PHONE), ("desktop 1920 x 1080", DESKTOP)):
            print(f"\nviewport answers, {name} (whole tiles), {rounds} requests per zoom")
            print("| zoom | clusters | facilities | gzip bytes max | server ms median / p99 / max |")
            print("|---|---|---|---|---|")
            for zoom in ZOOMS:
                start = log_lines(log)
                gz_max = 0
                counts = (0, 0)
                for i in range(rounds):
                    lon, lat = CENTRES[i % 2]
                    path = f"/api/v1/map/clusters?bbox={tile_bbox(lon, lat, zoom, size)}&zoom={zoom}"
                    status, gz, _, _, plain = fetch(port, path)
                    assert status == 200, (path, status)
                    gz_max = max(gz_max, gz)
                    body = json.loads(plain)
                    counts = (max(counts[0], len(body["clusters"])), max(counts[1], len(body["facilities"])))
                times = sorted(t for ts in server_ms(log, start).values() for t in ts)
                p99 = times[min(len(times) - 1, math.ceil(0.99 * len(times)) - 1)] if times else math.nan
                print(
                    f"| {zoom} | {counts[0]} | {counts[1]} | {gz_max:,} | "
                    f"{statistics.median(times):.1f} / {p99:.1f} / {max(times):.1f} |"
                )
                if zoom == ZOOMS[-1]:
                    ids = [row[2] for row in body["facilities"]]
        # Popups: what a tap on a marker fetches (the ids of the last view's facilities).
        start = log_lines(log)
        gz_max = 0
        for i in range(rounds):
            status, gz, _, _, _ = fetch(port, f"/api/v1/map/facilities/{ids[i % len(ids)]}")
            assert status == 200, status
            gz_max = max(gz_max, gz)
        times = sorted(t for ts in server_ms(log, start).values() for t in ts)
        print(
            f"\npopups (`/api/v1/map/facilities/<id>`), {rounds} facilities: {gz_max:,} gzip bytes at most, "
        )
        print(f"server ms median / max {statistics.median(times):.1f} / {max(times):.1f}")
    finally:
        server.stop()


def measure_in_process(n: int) -> None:
    sys.path.insert(0, str(ROOT))
    from locator.core import clusters
    from locator.core.domain import Facility
    from locator.core.index import FacilityIndex
    from locator.services.index_keeper import IndexKeeper
    from locator.stores import open_store

    store = open_store(sqlite_store(n))
    keeper = IndexKeeper(store, snapshot_dir=CACHE / f"map-index-{n}")
    idx: FacilityIndex = keeper.start_up()
    t0 = time.perf_counter()
    pyramid = clusters.build_pyramid(idx.base_columns())
    build_s = time.perf_counter() - t0
    print(f"\n## in-process, N = {len(idx):,}")
    print(
        f"pyramid build (once per base, background thread): {build_s:.2f} s, {pyramid.nbytes / 1e6:.1f} MB, "
        f"{sum(len(lv.keys) for lv in pyramid.levels.values()):,} cells over zooms "
        f"{clusters.MIN_ZOOM}-{clusters.PYRAMID_MAX_ZOOM} (zoom {clusters.MAX_CLUSTER_ZOOM}: per request)"
    )
    rng = random.Random(5)
    handles = idx.handles(statuses={"open"})
    edited = []
    for h in rng.sample(handles, 2048):
        f: Facility = idx.facility(h)
        edited.append(f.replace(lon=f.lon + rng.uniform(-0.01, 0.01), lat=f.lat + rng.uniform(-0.01, 0.01)))
    over = idx.apply(edited, [], revision=idx.revision + 1)
    print("| zoom | viewport ms, no overlay (median of 50) | with an overlay of 2,048 (median of 50) |")
    print("|---|---|---|")
    for zoom in (9, 12, 14, 16, 17):
        row = []
        for index in (idx, over):
            clusters.pyramid_of(index)
            times = []
            for i in range(50):
                lon, lat = CENTRES[i % 2]
                bbox = [float(v) for v in tile_bbox(lon, lat, zoom, PHONE).split(",")]
                t0 = time.perf_counter()
                clusters.viewport(index, bbox, zoom)
                times.append((time.perf_counter() - t0) * 1000)
            row.append(statistics.median(times))
        print(f"| {zoom} | {row[0]:.2f} | {row[1]:.2f} |")
    store.close()


def measure_requests(n: int, rounds: int) -> None:
    """Whole requests in one process (Flask's test client): the app's own work per request,
    request hooks and gzip included, without gunicorn, sockets or another worker."""
    sys.path.insert(0, str(ROOT))
    from locator import create_app

    env = app_env(sqlite_store(n), CACHE / f"map-index-{n}")
    app = create_app({k: v for k, v in env.items() if k.startswith("LOCATOR_")})
    client = app.test_client()
    headers = {"Accept-Encoding": "gzip", "Accept-Language": "zh-CN"}

    def timed(paths: list[str]) -> tuple[float, float, int]:
        times, size = [], 0
        for path in paths:
            t0 = time.perf_counter()
            r = client.get(path, headers=headers)
            times.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200, (path, r.status_code)
            size = max(size, len(r.data))
        return statistics.median(times), max(times), size

    views = []
    for size_name, size in (("phone", PHONE), ("desktop", DESKTOP)):
        for zoom in (9, 12, 15, 17, 18):
            paths = [
                f"/api/v1/map/clusters?bbox={tile_bbox(*CENTRES[i % 2], zoom, size)}&zoom={zoom}"
                for i in range(rounds)
            ]
            views.append((f"clusters, {size_name}, zoom {zoom}", paths))
    ids = json.loads(client.get(views[4][1][0]).data)["facilities"]
    rng = random.Random(7)
    shared = []
    for _ in range(rounds):
        lon, lat = 116.2 + rng.random() * 0.4, 39.8 + rng.random() * 0.3
        shared.append(f"/map?lon={lon:.5f}&lat={lat:.5f}&zoom={rng.randint(10, 17)}")
    cases = [
        ("`/map` (its Folium shell kept)", ["/map"] * rounds),
        ("`/map?lon=&lat=&zoom=` (a shared view: a new shell, Folium renders it)", shared),
        ("districts, zoom 8", ["/api/v1/map/districts?zoom=8"] * rounds),
        *views,
        ("popup", [f"/api/v1/map/facilities/{ids[i % len(ids)][2]}" for i in range(rounds)]),
    ]
    timed(["/map", views[0][1][0]])  # warm: the pyramid, the outlines, the shell
    print(f"\n## whole requests in one process (Flask test client), N = {n:,}, {rounds} each")
    print("| request | ms median / max | gzip bytes max |")
    print("|---|---|---|")
    for name, paths in cases:
        med, worst, size = timed(paths)
        print(f"| {name} | {med:.2f} / {worst:.2f} | {size:,} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="25470,1000000")
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--before", default="", help="also measure /map of this commit (the old page)")
    ap.add_argument("--wait-quiet", type=float, default=300, help="seconds to wait for load < 1.5 (0: none)")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.wait_quiet:
        print(f"load average {quiet(wait_s=args.wait_quiet):.2f}")
    for n in sizes:
        measure_served(n, args.rounds)
        print(
            f"\nload average (1, 5, 15 min) after N = {n:,}: {', '.join(f'{v:.1f}' for v in os.getloadavg())}"
        )
        measure_in_process(n)
        measure_requests(n, args.rounds)
        if args.before:
            old = old_checkout(args.before)
            measure_served(n, min(args.rounds, 5), code=old, label=f"before ({args.before})")


if __name__ == "__main__":
    main()
