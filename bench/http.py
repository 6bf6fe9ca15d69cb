"""Benchmark: HTTP throughput and latency of /api/v1/nearest against a ceiling and a minimal app.

For each size (25,470: the shipped demo layer loaded with ``flask locator load-demo``;
1,000,000: the synthetic store of ``bench/_common.py``) it starts, side by side, under
the same gunicorn settings (``gunicorn.conf.py``: worker class, workers, threads):

* **ceiling**: ``bench/ceiling_app.py``, a bare Flask app answering a constant 2 KB JSON;
* **minimal**: ``bench/minimal_app.py`` (``--preload``), cKDTree + pyproj + orjson over the
  same store's open facilities;
* **project**: the app under the served configuration (``gunicorn -c gunicorn.conf.py``).

With ``--compare WORKER_CLASS`` (default ``sync``) the three run a second time with that
worker class, so that the table shows what the served worker class costs or gains.

Then it runs ``wrk`` (Debian package) in shuffled, interleaved rounds: every round runs
every (server, concurrency) pair once, in a new random order, for ``--duration`` seconds,
with the same random query points (urban Beijing, every kind, ``limit=10``) for every
app. It prints, per size, server and concurrency, the median over rounds of req/s, p50
and p99 (wrk's latency distribution), the project/ceiling and minimal/ceiling ratios of
req/s and of p99, and ``/nearest`` (the rider page) timed at the client over loopback,
one request at a time.

The rate limits stay on but are set out of reach (``LOCATOR_RATELIMIT_KEYLESS``), so
the counting is measured, not refusals; access logs are off for every server.

Usage::

    python bench/http.py [--sizes 25470,1000000] [--conns 2,8] [--rounds 3] [--duration 8]
                         [--compare sync|none] [--page-requests 300]

Run it on a quiet machine: it waits (at most 10 minutes per size) for a 1-minute load
average below 1.5 and prints the load seen during each size.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the standard library's ``http`` package: take its directory off
# the import path (``python bench/http.py`` puts it first) before anything imports http.
_BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _BENCH]

import argparse  # noqa: E402
import http.client  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

_spec = importlib.util.spec_from_file_location("_common", _BENCH / "_common.py")
assert _spec is not None and _spec.loader is not None
_common = importlib.util.module_from_spec(_spec)
sys.modules["_common"] = _common
_spec.loader.exec_module(_common)
CACHE, ROOT, Server, app_env = _common.CACHE, _common.ROOT, _common.Server, _common.app_env
free_port, percentile = _common.free_port, _common.percentile
quiet, sqlite_store = _common.quiet, _common.sqlite_store

URBAN = (116.20, 39.75, 116.55, 40.05)
KINDS = ("warm_station", "union_home", "nursing_room")
DEMO = 25_470
GUNICORN = str(ROOT / ".venv/bin/gunicorn")


def demo_store() -> str:
    """The shipped demo layer in a SQLite store of its own (loaded once with ``load-demo``)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / "http-demo-25470.sqlite3"
    if not path.exists():
        tmp = CACHE / "http-demo-25470.partial.sqlite3"
        tmp.unlink(missing_ok=True)
        env = app_env(f"sqlite:///{tmp}", "none")
        subprocess.run(
            [str(ROOT / ".venv/bin/flask"), "--app", "app", "locator", "load-demo"],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.replace(tmp, path)
    return f"sqlite:///{path}"


def paths(n: int, seed: int = 20261207) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        lon = rng.uniform(URBAN[0], URBAN[2])
        lat = rng.uniform(URBAN[1], URBAN[3])
        out.append(f"/api/v1/nearest?lon={lon:.6f}&lat={lat:.6f}&kind={rng.choice(KINDS)}&limit=10")
    return out


def lua_script(urls: list[str], directory: Path) -> Path:
    """A wrk script that cycles through ``urls``."""
    body = ",\n".join(json.dumps(u) for u in urls)
    script = directory / "paths.lua"
    script.write_text(
        "local paths = {\n" + body + "\n}\nlocal i = 0\n"
        "request = function()\n  i = i + 1\n"
        "  return wrk.format('GET', paths[(i % #paths) + 1])\nend\n"
    )
    return script


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(value: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value.strip())
    if not m:
        raise ValueError(value)
    return float(m.group(1)) * _UNITS[m.group(2)]


def wrk(port: int, conns: int, duration: float, script: Path) -> dict[str, float]:
    """One wrk run: req/s, p50 and p99 (ms), errors."""
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{conns}",
            f"-d{duration:g}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}/",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result: dict[str, float] = {"load": os.getloadavg()[0]}
    result["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}(?:\.0+)?%\s+(\S+)", out, re.M)
        result[f"p{pct}"] = _ms(m.group(1)) if m else float("nan")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    result["non2xx"] = float(bad.group(1)) if bad else 0.0
    result["socket_errors"] = float(sum(int(g) for g in errors.groups())) if errors else 0.0
    return result


def start(kind: str, worker_class: str, url: str, index_dir: Path, workers: int, log_dir: Path) -> Server:
    port = free_port()
    env = app_env(
        url,
        index_dir if kind == "project" else "none",
        PORT=str(port),
        WORKERS=str(workers),
        WORKER_CLASS=worker_class,
        LOCATOR_RATELIMIT_KEYLESS="100000000 per minute",
        LOCATOR_RATELIMIT_SAME_ORIGIN="100000000 per minute",
        PYTHONPATH=str(ROOT),
    )
    args = [GUNICORN, "-c", "gunicorn.conf.py", "--no-control-socket"]
    if kind == "ceiling":
        args += ["bench.ceiling_app:app"]
    elif kind == "minimal":
        args += ["--preload", "bench.minimal_app:app"]
    return Server(args, env, port, log=log_dir / f"{kind}-{worker_class}.log")


def page_times(port: int, n: int, rng: random.Random) -> dict[str, float]:
    """``/nearest`` pages one at a time over one kept-alive connection: client-side ms."""
    times = []
    size = 0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        for _ in range(n):
            lon = rng.uniform(URBAN[0], URBAN[2])
            lat = rng.uniform(URBAN[1], URBAN[3])
            path = f"/nearest?lon={lon:.4f}&lat={lat:.4f}&kind={rng.choice(KINDS)}"
            t0 = time.perf_counter()
            conn.request("GET", path, headers={"Accept-Language": "zh-CN"})
            r = conn.getresponse()
            body = r.read()
            times.append((time.perf_counter() - t0) * 1e3)
            assert r.status == 200, r.status
            size = len(body)
            if r.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    finally:
        conn.close()
    return {
        "p50": percentile(times, 50),
        "p90": percentile(times, 90),
        "p99": percentile(times, 99),
        "bytes": float(size),
    }


def run_size(n: int, args: argparse.Namespace, log_dir: Path) -> dict[str, object]:
    url = demo_store() if n == DEMO else sqlite_store(n)
    index_dir = CACHE / f"http-index-{n}"
    index_dir.mkdir(parents=True, exist_ok=True)
    classes = ["served"] + ([args.compare] if args.compare != "none" else [])
    served_class = os.environ.get("WORKER_CLASS", "gthread")
    servers: dict[tuple[str, str], Server] = {}
    load_before = quiet(args.quiet_load, args.quiet_wait)
    try:
        for wc in classes:
            worker_class = served_class if wc == "served" else wc
            for kind in ("ceiling", "minimal", "project"):
                servers[(kind, wc)] = start(kind, worker_class, url, index_dir, args.workers, log_dir)
        urls = paths(2000)
        for (kind, wc), server in servers.items():
            server.wait_answer(urls[0], timeout_s=1200)
            warm = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            for u in urls[:300]:
                warm.request("GET", u)
                warm.getresponse().read()
            warm.close()
            print(f"  {n:,}: {kind} ({wc}) ready", file=sys.stderr)
        script = lua_script(urls, log_dir)
        jobs = [(key, c) for key in servers for c in args.conns]
        rounds: dict[tuple[str, str, int], list[dict[str, float]]] = {}
        rng = random.Random(n)
        for r in range(args.rounds):
            rng.shuffle(jobs)
            for (kind, wc), c in jobs:
                res = wrk(servers[(kind, wc)].port, c, args.duration, script)
                rounds.setdefault((kind, wc, c), []).append(res)
                print(
                    f"  round {r + 1} {kind:8} {wc:6} c={c}: {res['rps']:8.0f} req/s "
                    f"p50 {res['p50']:.2f} p99 {res['p99']:.2f} ms (load {res['load']:.1f})",
                    file=sys.stderr,
                )
        page = page_times(servers[("project", "served")].port, args.page_requests, random.Random(7))
    finally:
        for server in servers.values():
            server.stop()
    summary = {}
    for (kind, wc, c), results in rounds.items():
        summary[f"{kind}|{wc}|{c}"] = {
            "rps": statistics.median(x["rps"] for x in results),
            "p50": statistics.median(x["p50"] for x in results),
            "p99": statistics.median(x["p99"] for x in results),
            "non2xx": sum(x["non2xx"] for x in results),
            "socket_errors": sum(x["socket_errors"] for x in results),
            "rounds": [x["rps"] for x in results],
        }
    loads = [x["load"] for results in rounds.values() for x in results]
    return {
        "n": n,
        "served_class": served_class,
        "summary": summary,
        "page": page,
        "load": [load_before, min(loads), max(loads)],
    }


def report(results: list[dict[str, object]], conns: list[int]) -> None:
    print("\n| N | worker class | app | c | req/s | p50 (ms) | p99 (ms) | req/s ÷ ceiling | p99 ÷ ceiling |")
    print("|---|---|---|---|---|---|---|---|---|")
    for res in results:
        summary: dict[str, dict[str, float]] = res["summary"]  # type: ignore[assignment]
        classes = sorted({k.split("|")[1] for k in summary}, key=lambda w: w != "served")
        for wc in classes:
            label = res["served_class"] if wc == "served" else wc
            for kind in ("ceiling", "minimal", "project"):
                for c in conns:
                    s = summary[f"{kind}|{wc}|{c}"]
                    ceil = summary[f"ceiling|{wc}|{c}"]
                    flags = ""
                    if s["non2xx"] or s["socket_errors"]:
                        flags = f" ({s['non2xx']:.0f} non-2xx, {s['socket_errors']:.0f} socket errors)"
                    cells = [
                        f"{res['n']:,}",
                        label,
                        kind,
                        str(c),
                        f"{s['rps']:,.0f}{flags}",
                        f"{s['p50']:.2f}",
                        f"{s['p99']:.2f}",
                        f"{s['rps'] / ceil['rps']:.2f}",
                        f"{s['p99'] / ceil['p99']:.2f}",
                    ]
                    print("| " + " | ".join(cells) + " |")
    print("\n| N | `/nearest` page p50 / p90 / p99 (ms, client, loopback) | bytes | load (before; min–max) |")
    print("|---|---|---|---|")
    for res in results:
        page: dict[str, float] = res["page"]  # type: ignore[assignment]
        load: list[float] = res["load"]  # type: ignore[assignment]
        times = f"{page['p50']:.1f} / {page['p90']:.1f} / {page['p99']:.1f}"
        loads = f"{load[0]:.1f}; {load[1]:.1f}–{load[2]:.1f}"
        print(f"| {res['n']:,} | {times} | {page['bytes']:,.0f} | {loads} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default=f"{DEMO},1000000")
    ap.add_argument("--conns", default="2,8")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=8.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--compare", default="sync", help="a second worker class to measure, or 'none'")
    ap.add_argument("--page-requests", type=int, default=300)
    ap.add_argument("--quiet-load", type=float, default=1.5, help="wait for a load average below this")
    ap.add_argument("--quiet-wait", type=float, default=600, help="… for at most this many seconds")
    args = ap.parse_args()
    args.conns = [int(c) for c in args.conns.split(",")]
    sizes = [int(s) for s in args.sizes.split(",")]
    log_dir = Path(tempfile.mkdtemp(prefix="bench-http-"))
    results = []
    for n in sizes:
        print(f"size {n:,} (logs in {log_dir})", file=sys.stderr)
        results.append(run_size(n, args, log_dir))
    (CACHE / "http-results.json").write_text(json.dumps(results, indent=1))
    report(results, args.conns)


if __name__ == "__main__":
    main()
