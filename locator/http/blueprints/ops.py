"""Operations: ``/healthz`` (alive), ``/readyz`` (ready to serve), ``/metrics`` (Prometheus).

``/healthz`` answers 200 as long as the process serves requests; it touches nothing else.

``/readyz`` says whether this worker can answer riders correctly, and how its store is:

* 200 ``ready``: the index is loaded and current (or the store cannot be reached: riders
  are then answered from memory, ``"store": "unavailable: …"``, ``"degraded": true``);
* 503 ``not ready``: the index is not loaded yet, or the store answers but the index has
  been behind it for more than ``LOCATOR_READY_MAX_LAG_S`` seconds (default 10).

A node whose database is down stays in rotation on purpose: every node shares that
database, and the index answers riders meanwhile.

``/metrics`` (:mod:`locator.http.metrics`) is for the operator only: requests from the
machine itself (loopback, and no ``X-Forwarded-For`` unless the proxy is trusted with
``LOCATOR_TRUSTED_PROXIES``), or with ``Authorization: Bearer <LOCATOR_METRICS_TOKEN>``.
Anyone else gets 404.
"""

from __future__ import annotations

import hmac
import ipaddress

from flask import Blueprint, Response, abort, current_app, json, request

from locator.errors import StoreUnavailableError
from locator.http.metrics import exposition
from locator.http.state import service

bp = Blueprint("ops", __name__)


def _json(body: object, status: int = 200) -> Response:
    resp = Response(json.dumps(body), status=status, mimetype="application/json")
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/healthz")
def healthz() -> Response:
    """The process is alive."""
    return _json({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    """Ready to serve riders (see the module docstring)."""
    svc = service()
    status = svc.keeper.status()
    body: dict[str, object] = {"index": status}
    try:
        svc.store.revision()
        store_ok = True
        body["store"] = "ok"
    except StoreUnavailableError as exc:
        store_ok = False
        body["store"] = f"unavailable: {exc.detail}"
    max_lag_s = float(current_app.config.get("LOCATOR_READY_MAX_LAG_S", 10.0))
    since = status["seconds_since_check"]
    loaded = int(status["revision"] or 0) >= 0
    # The index thread reaches the store every few tens of ms; not for max_lag_s while the
    # store answers means this worker's index is falling behind.
    stale = store_ok and (since is None or since > max_lag_s)
    ready = loaded and not stale
    body["status"] = "ready" if ready else "not ready"
    body["degraded"] = not store_ok
    return _json(body, 200 if ready else 503)


def _operator() -> bool:
    token = str(current_app.config.get("LOCATOR_METRICS_TOKEN") or "")
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer ") and hmac.compare_digest(header[7:].strip(), token):
        return True
    if "X-Forwarded-For" in request.headers and not current_app.config.get("LOCATOR_TRUSTED_PROXIES"):
        return False  # came through a proxy we do not trust: its address says nothing
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus metrics, for the operator only (404 for anyone else)."""
    if not _operator():
        abort(404)
    data, content_type = exposition()
    resp = Response(data, content_type=content_type)
    resp.headers["Cache-Control"] = "no-store"
    return resp
