"""The lean API path (issue #12): same answers, same limits, less work per request.

* The nearest answer written from the index (orjson, pre-encoded properties) is the same
  JSON as the dict serializer's, over many queries and with an overlay of edits.
* The public API's allowance counts with lazy-expiry counters (no thread per window),
  and our own pages have a budget apart from keyless third parties (a NAT's riders).
* The nearest ETag follows the index's state, pins included.
* An anonymous API request opens no session.
"""

from __future__ import annotations

import json
import random
import shutil
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.datastructures import MultiDict

from locator.core.geo import Datum
from locator.core.index import FacilityIndex
from locator.formats.serialize import nearest_collection, nearest_collection_json
from locator.http import limits
from locator.http.caching import index_state
from locator.http.limits import MemoryCounters
from locator.http.params import parse_nearest

from .conftest import make_app

KINDS = ("warm_station", "union_home", "nursing_room")
AMENITIES = ("toilet", "drinking_water", "heating", "first_aid", "rest")


def canonical(body: bytes | str) -> str:
    """A JSON text with sorted members: equal for equal values (1 and 1.0 stay apart)."""
    return json.dumps(json.loads(body), sort_keys=True, ensure_ascii=False)


def random_args(rng: random.Random) -> dict[str, str]:
    args = {
        "lon": f"{rng.uniform(116.1, 116.7):.{rng.choice((4, 6))}f}",
        "lat": f"{rng.uniform(39.7, 40.2):.{rng.choice((4, 6))}f}",
        "limit": str(rng.choice((1, 5, 10, 50))),
        "at": rng.choice(("2026-12-07T08:30:00+08:00", "2026-12-05T23:59:30+08:00", "2026-10-01T12:00")),
    }
    if rng.random() < 0.7:
        args["kind"] = ",".join(rng.sample(KINDS, rng.randint(1, 2)))
    if rng.random() < 0.3:
        args["amenity"] = ",".join(rng.sample(AMENITIES, rng.randint(1, 2)))
    if rng.random() < 0.4:
        args["open_now"] = "true"
    if rng.random() < 0.3:
        args["radius_m"] = str(rng.choice((300, 1500, 5000)))
    if rng.random() < 0.3:
        args["datum"] = rng.choice(("gcj02", "bd09"))
    return args


def old_answer(index: FacilityIndex, args: dict[str, str]) -> str:
    parsed = parse_nearest(MultiDict(args), datetime.now(UTC))
    hits = index.nearest(parsed.query)
    return json.dumps(nearest_collection(hits, parsed.echo, parsed.datum, parsed.at), ensure_ascii=False)


def new_answer(index: FacilityIndex, args: dict[str, str]) -> bytes:
    parsed = parse_nearest(MultiDict(args), datetime.now(UTC))
    rows = index.nearest_rows(parsed.query)
    return nearest_collection_json(index, rows, parsed.echo, parsed.datum, parsed.at)


def test_the_api_answers_as_the_dict_serializer_did_over_many_queries(demo_app: Flask) -> None:
    """400 random queries through the app: the JSON value of the old writer, key order aside."""
    client = demo_app.test_client()
    index = demo_app.extensions["locator"].index
    rng = random.Random(12)
    empty = 0
    for _ in range(400):
        args = random_args(rng)
        resp = client.get("/api/v1/nearest", query_string=args, environ_base={"REMOTE_ADDR": "10.9.9.9"})
        assert resp.status_code == 200, (args, resp.data[:200])
        assert resp.mimetype == "application/geo+json"
        assert canonical(resp.data) == canonical(old_answer(index, args)), args
        empty += json.loads(resp.data)["numberReturned"] == 0
    assert empty < 100  # the queries mostly find something


def test_the_writers_agree_over_an_overlay_of_edits(demo_app: Flask) -> None:
    """Handles of overlay facilities (edited, closed, moved, removed) are written the same way."""
    index: FacilityIndex = demo_app.extensions["locator"].index
    facilities = index.facilities()
    rng = random.Random(3)
    changed = []
    for f in rng.sample(facilities, 60):
        changed.append(
            f.replace(
                name=f.name + ' 更新 "quoted" \\ <b>',
                status=rng.choice(("open", "removed", "temporarily_closed")),
                lon=f.lon + rng.uniform(-0.002, 0.002),
                opening_hours=rng.choice(("24/7", "Mo-Fr 08:00-18:00", "", "Mo-Su 18:00-02:00")),
            )
        )
    removed = [f.id for f in rng.sample(facilities, 20) if f.id not in {c.id for c in changed}]
    edited = index.apply(changed, removed, revision=index.revision + 1)
    assert edited.overlay_size > 0
    for _ in range(200):
        args = random_args(rng)
        assert canonical(new_answer(edited, args)) == canonical(old_answer(edited, args)), args


def test_open_now_is_evaluated_once_per_value_and_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    from locator.formats import serialize

    calls = []
    real = serialize.is_open

    def counting(hours: str, at: datetime) -> bool | None:
        calls.append(at)
        return real(hours, at)

    monkeypatch.setattr(serialize, "is_open", counting)
    opening = datetime(2026, 12, 7, 9, 0, 10, tzinfo=UTC)  # 17:00:10 in Beijing
    assert serialize.open_at_minute("Mo-Su 17:00-18:00", opening) is True
    assert serialize.open_at_minute("Mo-Su 17:00-18:00", opening.replace(second=50)) is True
    assert len(calls) == 1  # the same minute: remembered
    assert (
        serialize.open_at_minute("Mo-Su 17:00-18:00", datetime(2026, 12, 7, 8, 59, 30, tzinfo=UTC)) is False
    )
    assert len(calls) == 2  # 16:59:30, another minute: evaluated


# --- the allowance -------------------------------------------------------------------------


def test_memory_counters_expire_lazily_and_start_no_threads() -> None:
    counters = MemoryCounters()
    threads = threading.active_count()
    for _ in range(500):
        counters.incr("k", 1)
    assert counters.get("k") == 500
    assert threading.active_count() == threads  # limits' MemoryStorage starts a Timer thread here
    expiry = counters.get_expiry("k")
    assert time.time() < expiry <= time.time() + 1
    time.sleep(1.05)
    assert counters.get("k") == 0  # the window is over
    assert counters.incr("k", 60) == 1  # a new window
    counters.incr("gone", 1)
    time.sleep(1.05)
    counters._next_sweep = 0  # the next increment sweeps
    counters.incr("other", 60)
    assert counters.size() == 2  # "gone" was dropped, "k" (60 s) and "other" stay


def test_the_default_memory_storage_is_ours(app: Flask) -> None:
    assert isinstance(limits.limiter.storage, MemoryCounters)
    assert isinstance(app.extensions[limits.ALLOWANCE].strategy.storage, MemoryCounters)


@pytest.fixture
def tight_app(tmp_path: Path, demo_db: Path) -> Any:
    shutil.copy(demo_db, tmp_path / "d.sqlite3")
    app = make_app(
        tmp_path / "d.sqlite3",
        LOCATOR_RATELIMIT_KEYLESS="3 per minute",
        LOCATOR_RATELIMIT_SAME_ORIGIN="5 per minute",
    )
    yield app
    app.extensions["locator"].store.close()


NEAREST = "/api/v1/nearest?lon=116.3376&lat=39.9925&kind=warm_station&limit=3"
PLACES = "/api/v1/places?q=%E4%BA%94%E9%81%93%E5%8F%A3"  # 五道口
NAT = {"REMOTE_ADDR": "203.0.113.9"}  # one carrier NAT address for everybody below


def test_our_pages_are_not_refused_by_the_keyless_allowance(tight_app: Flask) -> None:
    client = tight_app.test_client()
    # Third parties behind the NAT use up the keyless allowance…
    assert [client.get(NEAREST, environ_base=NAT).status_code for _ in range(4)] == [200, 200, 200, 429]
    refused = client.get(PLACES, environ_base=NAT, headers={"Sec-Fetch-Site": "cross-site"})
    assert refused.status_code == 429  # a browser on another site counts as a third party
    # … and riders on our pages, behind the same address, still search places and read answers.
    ours = [
        {"Sec-Fetch-Site": "same-origin"},
        {"Origin": "http://localhost"},  # an older browser: no Fetch Metadata
        {"Referer": "http://localhost/nearest?lon=116.3&lat=39.9"},
    ]
    for headers in ours:
        r = client.get(PLACES, environ_base=NAT, headers=headers)
        assert r.status_code == 200, headers
    r = client.get(NEAREST, environ_base=NAT, headers={"Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 200
    assert r.headers["X-RateLimit-Limit"] == "5"
    assert r.headers["X-RateLimit-Remaining"] == "1"
    # Their budget is a limit too.
    r = client.get(NEAREST, environ_base=NAT, headers={"Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 200
    r = client.get(NEAREST, environ_base=NAT, headers={"Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 429
    assert "this site's pages" in r.get_json()["detail"]
    assert int(r.headers["Retry-After"]) > 0


def test_rider_feedback_is_not_counted_by_the_keyless_allowance(tight_app: Flask) -> None:
    client = tight_app.test_client()
    fid = client.get(NEAREST, environ_base=NAT).get_json()["features"][0]["id"]
    for _ in range(3):
        client.get(NEAREST, environ_base=NAT)
    assert client.get(NEAREST, environ_base=NAT).status_code == 429
    r = client.post(
        f"/api/v1/facilities/{fid}/feedback",
        json={"verdict": "confirm"},
        environ_base=NAT,
        headers={"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"},
    )
    assert r.status_code == 201, r.data


# --- validators and sessions ----------------------------------------------------------------


def test_the_nearest_validator_changes_with_a_pin(demo_app: Flask) -> None:
    index: FacilityIndex = demo_app.extensions["locator"].index
    f = index.facilities()[0]
    patched = index.patch([f.replace(name=f.name + "!")], [], until_revision=index.revision + 3)
    assert patched.revision == index.revision
    assert index_state(patched) != index_state(index)
    assert index_state(patched.apply([], [], revision=index.revision + 3)) == f"r{index.revision + 3}"


def test_an_anonymous_api_request_opens_no_session(demo_app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    interface = demo_app.session_interface

    def no_serializer(app: Flask) -> None:
        raise AssertionError("a session was opened")

    monkeypatch.setattr(interface, "get_signing_serializer", no_serializer)
    r = demo_app.test_client().get(NEAREST)
    assert r.status_code == 200
    assert "Set-Cookie" not in r.headers
    assert "Cookie" in r.headers["Vary"]  # as before: the answer was read with no session


def test_the_writer_converts_datums_only_when_asked(demo_app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    from locator.formats import serialize

    calls = []
    real = serialize.from_wgs84

    def counting(lon: float, lat: float, datum: Datum) -> tuple[float, float]:
        calls.append(datum)
        return real(lon, lat, datum)

    monkeypatch.setattr(serialize, "from_wgs84", counting)
    client = demo_app.test_client()
    assert client.get(NEAREST).status_code == 200
    assert calls == []
    assert client.get(NEAREST + "&datum=gcj02").status_code == 200
    assert calls == [Datum.GCJ02] * 3
