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
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

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


def post_worker_init(worker: Any) -> None:
    """Start the worker's index thread (after the fork, with the app loaded)."""
    app = getattr(worker, "wsgi", None)
    service = getattr(app, "extensions", {}).get("locator")
    if service is not None:
        service.keeper.ensure_running()
