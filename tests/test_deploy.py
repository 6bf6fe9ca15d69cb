"""``deploy/readyz-watch.sh``: the optional active health check for open-source nginx.

Run for real (bash, curl) against three nodes: one whose ``/readyz`` answers 200, one that
answers 503 and a port where nothing listens. The reload command is a script that counts
its calls, so the test sees when nginx would have been reloaded.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from .conftest import skip_or_fail

SCRIPT = Path(__file__).resolve().parent.parent / "deploy" / "readyz-watch.sh"


class Node:
    """A node whose ``/readyz`` answers ``status`` (other paths: 404)."""

    def __init__(self, status: int) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                self.send_response(status if self.path == "/readyz" else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def not_ready() -> Iterator[str]:
    node = Node(503)
    yield node.address
    node.stop()


def closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"  # closed again when this returns


def watch(tmp_path: Path, *nodes: str) -> tuple[str, int]:
    """One pass of the watcher: the upstream file it leaves and how often it reloaded."""
    if shutil.which("curl") is None:
        skip_or_fail("curl is not installed (deploy/readyz-watch.sh needs it)")
    out, calls = tmp_path / "upstream.conf", tmp_path / "reloads"
    env = {
        **os.environ,
        "LOCATOR_UPSTREAM_FILE": str(out),
        "LOCATOR_NGINX_RELOAD": f"echo x >> {calls}",
        "LOCATOR_READYZ_ONCE": "1",
    }
    subprocess.run(["bash", str(SCRIPT), *nodes], env=env, check=True, timeout=30)
    return out.read_text(), len(calls.read_text().split()) if calls.exists() else 0


def test_only_ready_nodes_stay_in_rotation_and_nginx_reloads_on_change_only(
    not_ready: str, tmp_path: Path
) -> None:
    app = Node(200)
    try:
        ready = app.address
        dead = closed_port()
        text, reloads = watch(tmp_path, ready, not_ready, dead)
        assert text.splitlines() == [
            f"server {ready} max_fails=2 fail_timeout=5s;",
            f"server {not_ready} down;",
            f"server {dead} down;",
        ]
        assert reloads == 1
        # Nothing changed: the file stays and nginx is not reloaded again.
        assert watch(tmp_path, ready, not_ready, dead) == (text, 1)
        # The ready node goes away: with no node ready, all stay in rotation (fail open).
        app.stop()
        text, reloads = watch(tmp_path, ready, not_ready, dead)
        assert text.splitlines() == [
            f"server {ready} max_fails=2 fail_timeout=5s;",
            f"server {not_ready} max_fails=2 fail_timeout=5s;",
            f"server {dead} max_fails=2 fail_timeout=5s;",
        ]
        assert reloads == 2
    finally:
        app.stop()


def test_without_nodes_it_says_how_to_call_it() -> None:
    result = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=10)
    assert result.returncode == 2 and "usage:" in result.stderr
