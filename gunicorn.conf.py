"""gunicorn settings for ``scripts/serve.sh`` (``gunicorn -c gunicorn.conf.py``).

* ``WORKERS`` sync workers (default 2) on ``127.0.0.1:${PORT:-5000}``, access log on stdout.
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

# Metrics of every worker, summed at scrape time (a fresh directory per server start).
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _metrics_dir = tempfile.mkdtemp(prefix="locator-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir

wsgi_app = "app:app"
bind = f"127.0.0.1:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WORKERS", "2"))
accesslog = os.environ.get("ACCESS_LOG", "-") or None


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
    """Start the worker's index thread (after the fork, with the app loaded)."""
    app = getattr(worker, "wsgi", None)
    service = getattr(app, "extensions", {}).get("locator")
    if service is not None:
        service.keeper.ensure_running()
