"""gunicorn settings for ``scripts/serve.sh`` (``gunicorn -c gunicorn.conf.py``).

* ``WORKERS`` sync workers (default 2) on ``127.0.0.1:${PORT:-5000}``, access log on stdout.
* No ``--preload``: each worker creates the app after the fork, so that its database
  connections and its index thread are its own. The index is still shared: before any
  worker starts, :func:`on_starting` runs ``flask locator index-snapshot``, which writes
  the snapshot of the store's current revision (``LOCATOR_INDEX_DIR``, default
  ``instance/index/``); every worker then maps that file (one copy in the page cache)
  instead of reading every row. The snapshot is built in that short-lived process, so
  no worker ever holds the memory of a build from rows.
* :func:`post_worker_init` starts the worker's index thread as soon as the app is
  loaded, so that an idle worker is already current when its first request comes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

wsgi_app = "app:app"
bind = f"127.0.0.1:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WORKERS", "2"))
accesslog = os.environ.get("ACCESS_LOG", "-") or None


def on_starting(server: Any) -> None:
    """Write the index snapshot of the current revision before the workers start."""
    if os.environ.get("LOCATOR_INDEX_DIR", "").strip().lower() == "none":
        return
    result = subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
        [sys.executable, "-m", "flask", "--app", "app", "locator", "index-snapshot"], check=False
    )
    if result.returncode:
        server.log.warning("index snapshot not written (exit %s); workers build the index", result.returncode)


def post_worker_init(worker: Any) -> None:
    """Start the worker's index thread (after the fork, with the app loaded)."""
    app = getattr(worker, "wsgi", None)
    service = getattr(app, "extensions", {}).get("locator")
    if service is not None:
        service.keeper.ensure_running()
