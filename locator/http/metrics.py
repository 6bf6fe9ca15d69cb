"""Prometheus metrics (prometheus_client), aggregated over gunicorn's workers.

Exposed at ``/metrics`` (:mod:`locator.http.blueprints.ops`) to the operator only:

``locator_http_request_duration_seconds`` (histogram; ``endpoint``, ``method``, ``status``)
    Server time of every request, hooks included, by Flask endpoint (a bounded set of
    route names, never the URL: no positions or ids end up in a label).
``locator_rate_limited_total`` (counter; ``scope``)
    Requests refused with 429, by what refused them: ``public-api``, ``feedback``,
    ``login``, ``other``.
``locator_index_facilities``, ``locator_index_overlay_facilities``,
``locator_index_revision_lag`` (gauges, the largest over live workers)
    The in-memory index: facilities, facilities in the overlay, and how many store
    revisions it is behind (updated by each worker's index thread, every round).

With several gunicorn workers the counts live in ``PROMETHEUS_MULTIPROC_DIR`` (set by
``gunicorn.conf.py`` to a fresh directory per start) and are summed over workers at scrape
time (prometheus_client's multiprocess mode); without it (the development server, tests)
each process reports its own.
"""

from __future__ import annotations

import os
import time
from typing import Any

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

#: Seconds; from a cache hit (sub-millisecond) to a slow import page.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUEST_SECONDS = Histogram(
    "locator_http_request_duration_seconds",
    "Server time per request, hooks included.",
    ["endpoint", "method", "status"],
    buckets=BUCKETS,
)
RATE_LIMITED = Counter("locator_rate_limited_total", "Requests refused with 429.", ["scope"])
INDEX_FACILITIES = Gauge(
    "locator_index_facilities", "Facilities in the in-memory index.", multiprocess_mode="max"
)
INDEX_OVERLAY = Gauge(
    "locator_index_overlay_facilities", "Facilities in the index's overlay.", multiprocess_mode="max"
)
INDEX_LAG = Gauge(
    "locator_index_revision_lag", "Store revisions the index is behind.", multiprocess_mode="max"
)

#: Which limit a 429 came from, by blueprint or endpoint.
_SCOPES = {"api": "public-api", "sync": "public-api", "ogc": "public-api", "auth.login": "login"}


def start_timer() -> None:
    """``before_request``: remember when the request started."""
    g.metrics_started = time.perf_counter()


def observe(resp: Response) -> Response:
    """``after_request`` (last): record the request's duration and any 429."""
    started: float | None = g.get("metrics_started")
    if started is not None:
        endpoint = request.endpoint or "unmatched"
        status = str(resp.status_code)
        REQUEST_SECONDS.labels(endpoint, request.method, status).observe(time.perf_counter() - started)
        if resp.status_code == 429:
            if endpoint.endswith("feedback"):
                scope = "feedback"
            else:
                scope = _SCOPES.get(endpoint) or _SCOPES.get(request.blueprint or "", "other")
            RATE_LIMITED.labels(scope).inc()
    return resp


def index_listener(keeper: Any) -> None:
    """Update the index gauges from an :class:`~locator.services.index_keeper.IndexKeeper`."""
    status = keeper.status()
    INDEX_FACILITIES.set(status["facilities"])
    INDEX_OVERLAY.set(status["overlay"])
    INDEX_LAG.set(status["lag_revisions"])


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus' text format (summed over workers in multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def init_app(app: Flask) -> None:
    """Feed the index gauges from this app's index thread."""
    service = app.extensions.get("locator")
    if service is not None:
        service.keeper.on_tick.append(index_listener)
