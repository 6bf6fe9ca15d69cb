"""gunicorn settings for ``scripts/serve.sh`` (``gunicorn -c gunicorn.conf.py``).

* ``WORKERS`` workers (default 2) on ``127.0.0.1:${PORT:-5000}``, of gunicorn's
  ``gthread`` class with ``THREADS`` threads each (default 64): a client that sends its
  request slowly holds one thread, not the worker, so slow clients cannot stop normal
  requests (two slow-header connections used to hold both sync workers; 50 of them now
  leave every normal request under 1 s, ``tests/test_slow_clients.py``). Connections
  are kept alive for ``keepalive`` seconds in the worker's poller, not in a thread.
  More slow connections than threads would hold a worker again: past that, put a
  buffering proxy (nginx) in front (``docs/performance.md``, "HTTP", measures what the
  choice costs and shows the nginx settings). ``WORKER_CLASS=sync`` restores the old
  workers (``bench/http.py`` compares them).
* Each worker's GIL switch interval is 1 ms (Python's default is 5 ms): a request
  thread that needs the GIL back from the index's background thread, or from another
  request, waits at most that long.
* Access log on stdout (``ACCESS_LOG``, ``-`` by default; empty: none) in
  :data:`locator.http.logs.ACCESS_LOG_FORMAT`, by :class:`locator.http.logs.PrivateLogger`:
  the client's /24 (IPv4) or /48 (IPv6), the path and the *names* of the query
  parameters, never their values (a rider's position), no ``Referer``, no
  ``User-Agent``; error-log messages are scrubbed the same way (``docs/privacy.md``).
* No ``--preload``: each worker creates the app after the fork, so that its database
  connections and its index thread are its own. The index is still shared: every worker
  maps the store's index snapshot (``LOCATOR_INDEX_DIR``, default ``instance/index/``; one
  copy in the page cache) and catches up with the changes after it, instead of reading
  every row. When there is no snapshot yet, :func:`on_starting` has
  ``flask locator index-snapshot`` build it before any worker starts, in a short-lived
  process, so that no worker holds the memory of a build from rows (nor passes
  gunicorn's timeout doing it). The master then maps and checks the snapshot itself,
  so the workers inherit the mapping and the restored kd-trees (see :func:`on_starting`).
* :func:`post_worker_init` starts the worker's index thread as soon as the app is
  loaded, so that an idle worker is already current when its first request comes.
* Prometheus metrics are summed over the workers: ``PROMETHEUS_MULTIPROC_DIR`` is a fresh
  directory per start (set before any worker imports prometheus_client), and a worker that
  exits is marked dead (:func:`child_exit`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

# Metrics of every worker, summed at scrape time (a fresh directory per server start),
# set before anything imports prometheus_client.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _metrics_dir = tempfile.mkdtemp(prefix="locator-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir

from locator.http.logs import ACCESS_LOG_FORMAT  # noqa: E402

wsgi_app = "app:app"
bind = f"127.0.0.1:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WORKERS", "2"))
worker_class = os.environ.get("WORKER_CLASS", "gthread")
# gunicorn turns "sync" with more than one thread into gthread: one thread unless gthread.
threads = int(os.environ.get("THREADS", "64" if worker_class == "gthread" else "1"))
keepalive = 5
accesslog = os.environ.get("ACCESS_LOG", "-") or None
access_log_format = ACCESS_LOG_FORMAT
logger_class = "locator.http.logs.PrivateLogger"
#: Seconds of a worker's GIL switch interval (see the module docstring).
SWITCH_INTERVAL_S = float(os.environ.get("SWITCH_INTERVAL_S", "0.001"))


def on_starting(server: Any) -> None:
    """Before the workers start: make sure an index snapshot of this store exists, and map it.

    Cheap when one exists (its footer is checked); otherwise ``flask locator
    index-snapshot`` builds it from the rows in a child process. Then the master maps and
    checks it (``preload_snapshot``: no store access, no threads, no connections), so
    that the workers inherit the mapping and the restored kd-trees and start without
    reading the file. The app's modules and the shipped district boundaries loaded here
    are inherited too.
    """
    from locator.config import load_config
    from locator.core.areas import load_districts, load_subdistricts
    from locator.services.index_keeper import has_snapshot, preload_snapshot

    cfg = load_config(Path(__file__).resolve().parent / "instance")
    load_districts()  # shipped data, read once per process: the workers inherit it
    load_subdistricts()
    index_dir = cfg["LOCATOR_INDEX_DIR"]
    if index_dir is None:
        return
    url = cfg["LOCATOR_DATABASE_URL"]
    if not has_snapshot(url, index_dir):
        result = subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
            [sys.executable, "-m", "flask", "--app", "app", "locator", "index-snapshot"], check=False
        )
        if result.returncode:
            server.log.warning(
                "index snapshot not written (exit %s); workers build the index", result.returncode
            )
    preload_snapshot(url, index_dir)


def child_exit(server: Any, worker: Any) -> None:
    """A worker exited: its live-only gauges no longer count."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    """Remove the metrics directory this start made."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if path and Path(path).name.startswith("locator-metrics-"):
        shutil.rmtree(path, ignore_errors=True)


def post_worker_init(worker: Any) -> None:
    """Start the worker's index thread (after the fork, with the app loaded); set its switch interval."""
    if SWITCH_INTERVAL_S > 0:
        sys.setswitchinterval(SWITCH_INTERVAL_S)
    app = getattr(worker, "wsgi", None)
    service = getattr(app, "extensions", {}).get("locator")
    if service is not None:
        service.keeper.ensure_running()
