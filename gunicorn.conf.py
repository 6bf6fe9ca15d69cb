"""gunicorn settings for ``scripts/serve.sh`` (``gunicorn -c gunicorn.conf.py``).

* ``WORKERS`` sync workers (default 2) on ``127.0.0.1:${PORT:-5000}``, access log on stdout.
* No ``--preload``: each worker creates the app after the fork, so that its database
  connections and its index thread are its own. The index is still shared: every worker
  maps the store's index snapshot (``LOCATOR_INDEX_DIR``, default ``instance/index/``; one
  copy in the page cache) and catches up with the changes after it, instead of reading
  every row. When there is no snapshot yet, :func:`on_starting` has
  ``flask locator index-snapshot`` build it before any worker starts, in a short-lived
  process, so that no worker holds the memory of a build from rows (nor passes
  gunicorn's timeout doing it).
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
    """Before the workers start: make sure an index snapshot of this store exists.

    Cheap when one does (the file's footer is checked, nothing is loaded); otherwise
    ``flask locator index-snapshot`` builds it from the rows in a child process. The
    import of the app's modules here is not wasted: the workers inherit them.
    """
    from locator.config import load_config
    from locator.services.index_keeper import has_snapshot

    cfg = load_config(Path(__file__).resolve().parent / "instance")
    index_dir = cfg["LOCATOR_INDEX_DIR"]
    if index_dir is None or has_snapshot(cfg["LOCATOR_DATABASE_URL"], index_dir):
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
