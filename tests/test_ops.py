"""/healthz, /readyz and the operator-only /metrics (locator.http.blueprints.ops)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from locator.errors import StoreUnavailableError

from .conftest import ROOT, make_app

TOKEN = "operator-token-0123456789"
NEAREST = "/api/v1/nearest?lon=116.3376&lat=39.9925&limit=3"


@pytest.fixture
def app(tmp_path: Path, demo_db: Path) -> Iterator[Flask]:
    shutil.copy(demo_db, tmp_path / "d.sqlite3")
    application = make_app(
        tmp_path / "d.sqlite3", LOCATOR_METRICS_TOKEN=TOKEN, LOCATOR_RATELIMIT_KEYLESS="2 per minute"
    )
    yield application
    application.extensions["locator"].store.close()


def test_healthz_is_alive(app: Flask) -> None:
    r = app.test_client().get("/healthz")
    assert r.status_code == 200 and r.get_json() == {"status": "ok"}
    assert r.headers["Cache-Control"] == "no-store"


def test_readyz_reports_the_store_and_the_index(app: Flask) -> None:
    svc = app.extensions["locator"]
    svc.keeper.catch_up()
    svc.keeper._tick()
    body = app.test_client().get("/readyz").get_json()
    assert body["status"] == "ready" and body["store"] == "ok" and body["degraded"] is False
    assert body["index"]["facilities"] == svc.store.count()
    assert body["index"]["lag_revisions"] == 0 and body["index"]["revision"] == svc.store.revision()


def test_readyz_stays_ready_but_degraded_without_the_store(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = app.extensions["locator"]
    svc.keeper._tick()

    def down() -> int:
        raise StoreUnavailableError("database down")

    monkeypatch.setattr(svc.store, "revision", down)
    r = app.test_client().get("/readyz")
    assert r.status_code == 200
    assert r.get_json()["degraded"] is True and r.get_json()["store"].startswith("unavailable")


def test_readyz_is_not_ready_when_the_index_stops_following_the_store(app: Flask) -> None:
    svc = app.extensions["locator"]
    svc.keeper._tick()
    svc.keeper.checked_at = time.monotonic() - 60  # the index thread has not reached the store for 60 s
    r = app.test_client().get("/readyz")
    assert r.status_code == 503 and r.get_json()["status"] == "not ready"


def _metrics(client: FlaskClient, **kwargs: object) -> str:
    r = client.get("/metrics", **kwargs)  # type: ignore[arg-type]
    assert r.status_code == 200, r.status_code
    assert r.mimetype == "text/plain"
    return r.get_data(as_text=True)


def test_metrics_from_loopback_or_with_the_token_only(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 404
    assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 404
    wrong = {"Authorization": "Bearer not-the-token-at-all"}
    assert (
        client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"}, headers=wrong).status_code == 404
    )
    _metrics(client)  # 127.0.0.1
    _metrics(
        client, environ_base={"REMOTE_ADDR": "203.0.113.9"}, headers={"Authorization": f"Bearer {TOKEN}"}
    )


def _value(text: str, series: str) -> float:
    """The value of one series in Prometheus' text format (0 when absent)."""
    found = re.search(series + r" ([0-9.e+]+)", text)
    return float(found.group(1)) if found else 0.0


def test_metrics_count_requests_per_route_and_rate_limit_rejections(app: Flask) -> None:
    client = app.test_client()
    app.extensions["locator"].keeper._tick()
    # The registry is per process: other tests in this process may have counted before.
    ok = r'locator_http_request_duration_seconds_count\{endpoint="api.nearest",method="GET",status="200"\}'
    limited = r'locator_rate_limited_total\{scope="public-api"\}'
    before = _metrics(client)
    statuses = [
        client.get(NEAREST, environ_base={"REMOTE_ADDR": "198.51.100.1"}).status_code for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    text = _metrics(client)
    assert _value(text, ok) - _value(before, ok) == 2
    assert _value(text, limited) - _value(before, limited) == 1
    # The index gauges are process-wide: in a test process, index threads of other tests'
    # apps still running may set them between this app's round and the scrape (last writer
    # wins without PROMETHEUS_MULTIPROC_DIR). This app's round must show up in a scrape.
    for _ in range(50):
        app.extensions["locator"].keeper._tick()
        gauges = _metrics(client)
        ours = re.search(r"locator_index_facilities [1-9][0-9]{3}", gauges)
        if ours and "locator_index_revision_lag 0.0" in gauges:
            break
    assert re.search(r"locator_index_facilities [1-9][0-9]{3}", gauges)
    assert "locator_index_revision_lag 0.0" in gauges
    assert "116.3376" not in text and "lon=" not in text  # no positions in labels


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """The served configuration (gunicorn.conf.py, 2 workers) on a temp store."""
    import port_for

    port = port_for.select_random()
    env = {
        **os.environ,
        "LOCATOR_DATABASE_URL": f"sqlite:///{tmp_path / 'g.sqlite3'}",
        "LOCATOR_SECRET_KEY": "test-secret-key-0123456789",
        "LOCATOR_INDEX_DIR": str(tmp_path / "index"),
        "PORT": str(port),
        "ACCESS_LOG": "",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "locator", "init-db"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )  # noqa: S603
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if requests.get(url + "/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_metrics_are_summed_over_gunicorn_workers(served: str) -> None:
    with requests.Session() as s:
        for _ in range(40):
            assert requests.get(served + "/healthz", timeout=5).status_code == 200  # new connection each
        text = s.get(served + "/metrics", timeout=5).text
    counts = re.findall(
        r"locator_http_request_duration_seconds_count"
        r'\{endpoint="ops.healthz",method="GET",status="200"\} (\S+)',
        text,
    )
    assert counts and float(counts[0]) >= 40  # both workers' requests, not one worker's share
