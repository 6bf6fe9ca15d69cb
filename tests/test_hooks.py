"""The app-wide request hooks run in one documented order (locator.http.hooks)."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from locator.http.hooks import register_hooks

from .conftest import make_app

BEFORE = [
    "request timer",
    "request body cap",
    "partner API key",
    "rate limits",
    "CSRF token",
    "conditional nearest (304)",
]
AFTER = [
    "rate-limit headers",
    "Retry-After only on 429/503",
    "partner quota headers",
    "CORS",
    "HTTP caching",
    "private answers",
    "security headers",
    "language cookie",
    "remember-me cookie",
    "compression",
    "request metrics",
]

NEAREST = "/api/v1/nearest?lon=116.3376&lat=39.9925&kind=warm_station&limit=3"


def test_the_hook_order_is_pinned(app: Flask) -> None:
    before, after = app.extensions["locator.hooks"]
    assert [h.name for h in before] == BEFORE
    assert [h.name for h in after] == AFTER
    # Flask runs before_request in list order and after_request in reverse list order.
    assert app.before_request_funcs[None] == [h.func for h in before]
    assert list(reversed(app.after_request_funcs[None])) == [h.func for h in after]


def test_an_unknown_app_wide_hook_is_refused(app: Flask) -> None:
    app.before_request(lambda: None)
    with pytest.raises(RuntimeError, match="unordered app-wide hooks"):
        register_hooks(app)


def test_the_limiter_runs_before_anything_can_answer_early(app: Flask) -> None:
    before, _ = app.extensions["locator.hooks"]
    names = [h.name for h in before]
    assert names.index("rate limits") < names.index("conditional nearest (304)")
    assert names.index("partner API key") < names.index("rate limits")


def test_every_response_of_a_limited_route_is_counted_304_included(tmp_path: Path, demo_db: Path) -> None:
    """Three requests a minute: one 200 and two 304s use them up; the fourth is a 429."""
    import shutil

    shutil.copy(demo_db, tmp_path / "d.sqlite3")
    app = make_app(tmp_path / "d.sqlite3", LOCATOR_RATELIMIT_KEYLESS="3 per minute")
    try:
        c = app.test_client()
        first = c.get(NEAREST)
        assert first.status_code == 200
        etag = first.headers["ETag"]
        statuses = [c.get(NEAREST, headers={"If-None-Match": etag}).status_code for _ in range(3)]
        assert statuses == [304, 304, 429]
        refused = c.get(NEAREST, headers={"If-None-Match": etag})
        assert refused.status_code == 429
        assert refused.mimetype == "application/problem+json"
        assert int(refused.headers["Retry-After"]) > 0
    finally:
        app.extensions["locator"].store.close()
