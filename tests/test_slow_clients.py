"""The served configuration (gunicorn.conf.py) against slow clients, and what its logs keep.

Each test starts real gunicorn masters with ``gunicorn -c gunicorn.conf.py`` and two
workers over a copy of the tests' demo store, as ``scripts/serve.sh`` does.

* Slow clients (issue #11: "two slow connections sending one header line a second held
  both sync workers, and a normal request waited 32 s"): 50 connections that send one
  header line a second and never finish; normal requests keep answering, p99 < 1 s. The
  same load against ``WORKER_CLASS=sync`` is shown to hold the server (so the test can
  fail).
* Logs without positions: requests that carry a rider's position (query strings,
  ``Referer``) from 127.0.0.2 leave no coordinate, no client address and no User-Agent
  in the access or error log, while the requests themselves are logged.
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import ROOT

NEAREST = "/api/v1/nearest?lon=116.3376&lat=39.9925&kind=warm_station&limit=5"
#: Every string of the positions the log test sends (and shorter prefixes of them).
POSITIONS = ("116.3376", "39.9925", "116.33", "39.99", "116.32", "116.34", "40.0")
CLIENT = "127.0.0.2"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    """A gunicorn master started from gunicorn.conf.py, with its stdout/stderr in files."""

    proc: subprocess.Popen[bytes]
    port: int
    out: Path
    err: Path

    def log(self) -> str:
        return self.out.read_text(errors="replace") + self.err.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def get(port: int, path: str, timeout: float = 10.0, source: str | None = None, **headers: str) -> int:
    conn = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=timeout, source_address=(source, 0) if source else None
    )
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def serve(tmp_path: Path, demo_db: Path, **env: str) -> Served:
    db = tmp_path / "served.sqlite3"
    shutil.copy(demo_db, db)
    port = free_port()
    environ = {
        **os.environ,
        "LOCATOR_DATABASE_URL": f"sqlite:///{db}",
        "LOCATOR_INDEX_DIR": str(tmp_path / "index"),
        "LOCATOR_SECRET_KEY": "test-secret-key-0123456789",
        "LOCATOR_TILES": "none",
        "PORT": str(port),
        "WORKERS": "2",
        "PYTHONPATH": str(ROOT),
        "LOCATOR_RATELIMIT_KEYLESS": "1000000 per minute",  # back-to-back requests from one address
        **env,
    }
    out, err = tmp_path / f"gunicorn-{port}.out", tmp_path / f"gunicorn-{port}.err"
    proc = subprocess.Popen(  # noqa: S603 - gunicorn from our venv, fixed arguments
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--no-control-socket"],
        cwd=ROOT,
        env=environ,
        stdout=out.open("wb"),
        stderr=err.open("wb"),
    )
    served = Served(proc, port, out, err)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}:\n{served.log()[-3000:]}")
        try:
            if get(port, NEAREST, timeout=5) == 200:
                return served
        except OSError:
            pass
        time.sleep(0.1)
    served.stop()
    raise RuntimeError("gunicorn did not answer within 120 s")


@pytest.fixture
def served(tmp_path: Path, demo_db: Path) -> Iterator[Served]:
    server = serve(tmp_path, demo_db)
    yield server
    server.stop()


class SlowClients:
    """``n`` connections that send a request line, then one header line a second, forever."""

    def __init__(self, port: int, n: int) -> None:
        self.socks = []
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /api/v1/nearest?lon=116.3&lat=39.9 HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            self.socks.append(s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drip, daemon=True)
        self._thread.start()

    def _drip(self) -> None:
        line = 0
        while not self._stop.wait(1.0):
            line += 1
            for s in self.socks:
                try:
                    s.sendall(f"X-Slow-{line}: {'x' * 20}\r\n".encode())
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for s in self.socks:
            s.close()


def normal_requests(port: int, seconds: float, timeout: float) -> list[float]:
    """Back-to-back nearest requests for ``seconds``; each one's time (``inf`` if it timed out)."""
    times = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.monotonic()
        try:
            status = get(port, NEAREST, timeout=timeout)
            assert status == 200, status
            times.append(time.monotonic() - t0)
        except TimeoutError:
            times.append(float("inf"))
    return times


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def test_fifty_slow_header_connections_do_not_hold_the_served_configuration(served: Served) -> None:
    slow = SlowClients(served.port, 50)
    try:
        time.sleep(2.5)  # every slow connection accepted and dripping headers
        times = normal_requests(served.port, seconds=8, timeout=10)
        assert all(s.fileno() != -1 for s in slow.socks)
    finally:
        slow.close()
    assert len(times) >= 20, times
    assert p99(times) < 1.0, sorted(times)[-5:]


def test_the_same_slow_clients_hold_two_sync_workers(tmp_path: Path, demo_db: Path) -> None:
    """The control: with the old sync workers the same load stops normal requests."""
    server = serve(tmp_path, demo_db, WORKER_CLASS="sync")
    try:
        slow = SlowClients(server.port, 50)
        try:
            time.sleep(1.5)
            times = normal_requests(server.port, seconds=4, timeout=2)
        finally:
            slow.close()
    finally:
        server.stop()
    assert p99(times) >= 1.0, sorted(times)[-5:]


def test_the_logs_keep_no_position_no_address_and_no_user_agent(served: Served) -> None:
    referer = "http://127.0.0.1/nearest?lon=116.3376&lat=39.9925"
    paths = [
        NEAREST,
        "/api/v1/nearest?lon=116.34377&lat=39.99383&datum=gcj02&open_now=true",
        "/nearest?lon=116.3376&lat=39.9925&kind=warm_station",
        "/lite?lon=116.3376&lat=39.9925",
        "/embed/map?lon=116.3376&lat=39.9925&zoom=15",
        "/ogc/collections/facilities/items?bbox=116.32,39.98,116.34,40.0&limit=3",
        "/api/v1/places?q=%E4%BA%94%E9%81%93%E5%8F%A3",  # 五道口: what a rider searched for
        "/nearest?lon=116.3376&lat=999",  # a 400 page: its URL is not logged either
    ]
    for path in paths:
        status = get(served.port, path, source=CLIENT, Referer=referer, **{"User-Agent": "TestPhone/1.0"})
        assert status in {200, 400}, (path, status)
    # A request gunicorn refuses itself (an invalid header): its error-log line names the client.
    with socket.create_connection(("127.0.0.1", served.port), source_address=(CLIENT, 0)) as s:
        s.sendall(b"GET /nearest?lon=116.3376&lat=39.9925 HTTP/1.1\r\nBad Header Line\r\n\r\n")
        s.recv(1024)
    time.sleep(0.5)
    served.stop()  # flush everything
    log = served.log()
    assert "GET /api/v1/nearest?lon&lat&kind&limit HTTP/1.1" in log  # the requests are logged…
    assert "GET /nearest?lon&lat&kind HTTP/1.1" in log
    assert "127.0.0.0/24" in log  # … with the client's network
    assert "Invalid request from ip=127.0.0.0/24" in log
    for position in POSITIONS:
        assert position not in log, position
    assert CLIENT not in log
    assert "TestPhone" not in log
    assert "%E4%BA%94" not in log and "GET /api/v1/places?q HTTP/1.1" in log
