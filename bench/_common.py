"""Shared by the start-up and edit-visibility benches: synthetic stores, gunicorn, memory.

Synthetic facilities are the demo layer (``geodata/beijing_demo_facilities.geojson``)
jittered uniformly within 300 m of their source point (ids ``syn-0000000``…, every other
field copied from the source, district and subdistrict those of the source point). They
are written once per size into a store that is kept for later runs:

* SQLite: ``$LOCATOR_BENCH_CACHE`` (default ``/tmp/locator-bench``)/``syn-<n>.sqlite3``;
* PostGIS: database ``locator_bench_syn_<n>`` on the server of ``--url`` (a maintenance
  URL such as ``postgresql://user:pass@127.0.0.1:5432/postgres``).

Both are written with :meth:`FacilityStore.import_many` in batches of 50,000 (one
revision each), which is how a bulk load reaches a store.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from locator.core.areas import load_districts, load_subdistricts  # noqa: E402
from locator.core.domain import Facility  # noqa: E402
from locator.stores import open_store  # noqa: E402
from locator.stores.contract import Actor  # noqa: E402

DEMO_LAYER = ROOT / "geodata" / "beijing_demo_facilities.geojson"
CACHE = Path(os.environ.get("LOCATOR_BENCH_CACHE", "/tmp/locator-bench"))
JITTER_M = 300.0
BATCH = 50_000
SECRET = "bench-secret-key-0123456789"


def demo_sources() -> list[Facility]:
    """The demo layer as complete facilities with their district and subdistrict."""
    from datetime import datetime

    districts, subdistricts = load_districts(), load_subdistricts()
    data = json.loads(DEMO_LAYER.read_text(encoding="utf-8"))
    out = []
    for feat in data["features"]:
        p = feat["properties"]
        lon, lat = (float(v) for v in feat["geometry"]["coordinates"])
        d = districts.locate(lon, lat)
        s = subdistricts.locate(lon, lat)
        out.append(
            Facility(
                id=p["id"],
                kind=p["kind"],
                name=p["name"],
                lon=lon,
                lat=lat,
                address=p.get("address") or "",
                amenities=frozenset(p.get("amenities") or ()),
                opening_hours=p.get("opening_hours") or "",
                host_type=p.get("host_type") or "",
                phone=p.get("phone") or "",
                status=p.get("status") or "open",
                verified_at=datetime.fromisoformat(p["verified_at"]) if p.get("verified_at") else None,
                source=p.get("source") or "",
                demo=True,
                district_adcode=d.code if d else None,
                district_name=d.name if d else None,
                subdistrict=s.name if s else None,
            )
        )
    return out


def synthetic(n: int, seed: int = 12) -> Iterator[list[Facility]]:
    """``n`` synthetic facilities in batches of :data:`BATCH` (see the module docstring)."""
    demo = demo_sources()
    rng = np.random.default_rng(seed)
    lon0 = np.array([f.lon for f in demo])
    lat0 = np.array([f.lat for f in demo])
    e2 = 0.0066943799901413165
    for start in range(0, n, BATCH):
        idx = np.arange(start, min(n, start + BATCH))
        src = idx % len(demo)
        r = JITTER_M * np.sqrt(rng.random(len(idx)))
        a = rng.random(len(idx)) * 2 * math.pi
        s2 = np.sin(np.radians(lat0[src])) ** 2
        m_rad = 6378137.0 * (1 - e2) / (1 - e2 * s2) ** 1.5
        n_rad = 6378137.0 / np.sqrt(1 - e2 * s2)
        lat = lat0[src] + np.degrees(r * np.cos(a) / m_rad)
        lon = lon0[src] + np.degrees(r * np.sin(a) / (n_rad * np.cos(np.radians(lat0[src]))))
        yield [
            demo[s].replace(id=f"syn-{i:07d}", lon=x, lat=y, source=f"synthetic from {demo[s].id}")
            for i, s, x, y in zip(idx.tolist(), src.tolist(), lon.tolist(), lat.tolist(), strict=True)
        ]


def _fill(url: str, n: int) -> None:
    store = open_store(url)
    try:
        store.init_schema()
        have = store.count()
        if have == n:
            return
        if have:
            raise SystemExit(f"{url}: holds {have} facilities, expected {n}; remove it")
        t0 = time.perf_counter()
        for batch in synthetic(n):
            store.import_many(batch, Actor("bench-synthetic"))
            print(f"  … {store.count():,} facilities written", file=sys.stderr, flush=True)
        print(f"  wrote {n:,} synthetic facilities in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    finally:
        store.close()


def sqlite_store(n: int) -> str:
    """URL of the cached SQLite store with ``n`` synthetic facilities (created if missing)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"syn-{n}.sqlite3"
    tmp = CACHE / f"syn-{n}.partial.sqlite3"
    if not path.exists():
        for p in CACHE.glob(f"syn-{n}.partial.sqlite3*"):
            p.unlink()
        print(f"generating the SQLite store with {n:,} facilities …", file=sys.stderr)
        _fill(f"sqlite:///{tmp}", n)
        os.replace(tmp, path)
        for p in CACHE.glob(f"syn-{n}.partial.sqlite3*"):
            p.unlink()
    return f"sqlite:///{path}"


def postgis_store(admin_url: str, n: int) -> str:
    """URL of the kept PostGIS database with ``n`` synthetic facilities (created if missing)."""
    import psycopg

    name = f"locator_bench_syn_{n}"
    url = urlsplit(admin_url)._replace(path="/" + name).geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    if not exists:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        print(f"generating the PostGIS database {name} with {n:,} facilities …", file=sys.stderr)
    try:
        _fill(url, n)
    except BaseException:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        raise
    return url


# -- processes ----------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def app_env(url: str, index_dir: Path | str, **extra: str) -> dict[str, str]:
    """The environment of the project's app for a bench run."""
    env = dict(os.environ)
    env.update(
        {
            "LOCATOR_DATABASE_URL": url,
            "LOCATOR_INDEX_DIR": str(index_dir),
            "LOCATOR_SECRET_KEY": SECRET,
            "LOCATOR_TILES": "none",
            "LOCATOR_RATELIMIT_KEYLESS": "1000000 per minute",
            "ACCESS_LOG": "",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


class Server:
    """A gunicorn master and its workers, started from ``cwd`` with ``args``."""

    def __init__(
        self, args: Sequence[str], env: dict[str, str], port: int, cwd: Path = ROOT, log: Path | None = None
    ):
        self.port = port
        self.log = log
        out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            list(args), cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_answer(self, path: str, timeout_s: float = 300.0) -> float:
        """Seconds from start to the first 200 answer of ``path``."""
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.log}")
            try:
                status, _ = get(self.port, path, timeout=5)
                if status == 200:
                    return time.perf_counter() - self.started
            except OSError:
                pass
            if time.perf_counter() - self.started > timeout_s:
                raise RuntimeError(f"no answer within {timeout_s} s")
            time.sleep(0.02)

    def workers(self) -> list[int]:
        import psutil

        return sorted(c.pid for c in psutil.Process(self.proc.pid).children())

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def gunicorn_project(
    env: dict[str, str], port: int, workers: int = 2, log: Path | None = None, code: Path = ROOT
) -> Server:
    """The project (checked out at ``code``) under its served configuration (gunicorn.conf.py)."""
    env = {**env, "PORT": str(port), "WORKERS": str(workers), "PYTHONPATH": str(code)}
    return Server([str(ROOT / ".venv/bin/gunicorn"), "-c", "gunicorn.conf.py"], env, port, cwd=code, log=log)


def get(port: int, path: str, timeout: float = 10) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def request(port: int, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        data = None if body is None else json.dumps(body).encode()
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        conn.request(method, path, body=data, headers=hdrs)
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


def memory(pid: int) -> dict[str, int]:
    """``Rss``, ``Pss``, ``Private`` (clean + dirty) and ``Shared`` of a process, bytes."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        parts = value.split()
        if parts and parts[-1] == "kB":
            fields[name] = int(parts[0]) * 1024
    return {
        "rss": fields.get("Rss", 0),
        "pss": fields.get("Pss", 0),
        "private": fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0),
        "shared": fields.get("Shared_Clean", 0) + fields.get("Shared_Dirty", 0),
    }


def percentile(values: Sequence[float], q: float) -> float:
    s = sorted(values)
    if not s:
        return math.nan
    return s[min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))]


def quiet(limit: float = 1.5, wait_s: float = 600) -> float:
    """Wait until the 1-minute load average is below ``limit`` (at most ``wait_s``); return it."""
    t0 = time.time()
    while True:
        load = os.getloadavg()[0]
        if load < limit or time.time() - t0 > wait_s:
            return load
        time.sleep(10)


def old_checkout(commit: str) -> Path:
    """The project at ``commit`` (``git archive``), for before/after runs; kept in the cache."""
    dest = CACHE / f"code-{commit[:12]}"
    if not (dest / "app.py").exists():
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", commit], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def clean_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path
