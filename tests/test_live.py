"""The live door status rules (locator/core/live.py): a pure function of events, hours, status and now."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from locator.core.live import (
    DEVICE_FRESH,
    LIVE_STATES,
    MANAGER_MAX,
    MANAGER_OPEN_FOR,
    RIDER_WINDOW,
    SCHEDULED,
    LiveEvent,
    fold,
    fold_all,
    live_status,
    live_status_of_events,
)

NOW = datetime(2026, 12, 1, 4, 10, tzinfo=UTC)


def ev(source: str, state: str, minutes_ago: float, actor: str = "", **kw: object) -> LiveEvent:
    return LiveEvent("f1", source, state, NOW - timedelta(minutes=minutes_ago), actor=actor, **kw)  # type: ignore[arg-type]


def status(*events: LiveEvent, scheduled: bool | None = True, **kw: object):  # type: ignore[no-untyped-def]
    return live_status_of_events(events, scheduled=scheduled, now=NOW, **kw)  # type: ignore[arg-type]


def test_no_events_is_the_schedule() -> None:
    assert status(scheduled=True) is SCHEDULED[True]
    assert status(scheduled=True).as_json() == {
        "state": "scheduled_open",
        "since": None,
        "source": "schedule",
        "reports": 0,
    }
    assert status(scheduled=False).state == "scheduled_closed"
    assert status(scheduled=None).as_json() == {
        "state": "unknown",
        "since": None,
        "source": None,
        "reports": 0,
    }
    assert not status(scheduled=False).demoted


def test_a_device_heartbeat_confirms_open_until_it_goes_stale() -> None:
    s = status(ev("device", "open", 2, "dk_1"), scheduled=False)
    assert (s.state, s.source, s.since) == ("confirmed_open", "device", NOW - timedelta(minutes=2))
    stale = status(ev("device", "open", DEVICE_FRESH.total_seconds() / 60 + 1, "dk_1"), scheduled=False)
    assert stale.state == "scheduled_closed"


def test_device_since_is_the_start_of_the_current_run() -> None:
    s = status(
        ev("device", "closed", 40, "dk_1"),
        ev("device", "open", 15, "dk_1"),
        ev("device", "open", 5, "dk_1"),
        ev("device", "open", 1, "dk_1"),
    )
    assert (s.state, s.since) == ("confirmed_open", NOW - timedelta(minutes=15))
    locked = status(ev("device", "open", 15, "dk_1"), ev("device", "closed", 3, "dk_1"))
    assert (locked.state, locked.source, locked.since, locked.demoted) == (
        "reported_locked",
        "device",
        NOW - timedelta(minutes=3),
        True,
    )


def test_one_rider_locked_report_is_shown_but_demotes_nothing() -> None:
    s = status(ev("rider", "locked", 20, "c1"))
    assert (s.state, s.source, s.reports) == ("reported_locked", "riders", 1)
    assert (s.locked_reports, s.last_locked_at) == (1, NOW - timedelta(minutes=20))
    assert not s.demoted


def test_two_independent_locked_reports_within_two_hours_demote() -> None:
    s = status(ev("rider", "locked", 90, "c1"), ev("rider", "locked", 10, "c2"))
    assert (s.state, s.reports, s.demoted) == ("reported_locked", 2, True)
    # the same client twice is one report
    same = status(ev("rider", "locked", 90, "c1"), ev("rider", "locked", 10, "c1"))
    assert (same.reports, same.demoted) == (1, False)
    # a report older than 2 hours no longer counts
    old = status(
        ev("rider", "locked", RIDER_WINDOW.total_seconds() / 60 + 1, "c1"), ev("rider", "locked", 10, "c2")
    )
    assert (old.reports, old.demoted) == (1, False)


def test_recency_wins_among_riders() -> None:
    s = status(ev("rider", "locked", 50, "c1"), ev("rider", "locked", 40, "c2"), ev("rider", "open", 5, "c3"))
    assert (s.state, s.source, s.reports, s.locked_reports, s.demoted) == (
        "confirmed_open",
        "riders",
        1,
        0,
        False,
    )
    # a client who changes their mind counts once, with their latest vote
    changed = status(ev("rider", "locked", 50, "c1"), ev("rider", "open", 30, "c1"))
    assert (changed.state, changed.locked_reports) == ("confirmed_open", 0)


def test_manager_and_device_beat_riders() -> None:
    riders = [ev("rider", "locked", 12, "c1"), ev("rider", "locked", 11, "c2")]
    s = status(ev("device", "open", 15, "dk"), *riders)
    assert (s.state, s.source) == ("confirmed_open", "device")
    assert s.locked_reports == 2  # newer than the device: still shown as a note
    m = status(ev("manager", "open", 30, "mgr"), *riders)
    assert (m.state, m.source, m.demoted) == ("confirmed_open", "manager", False)
    # rider votes older than the last manager/device event were answered by it
    answered = status(*riders, ev("device", "open", 10, "dk"))
    assert answered.locked_reports == 0
    # once the device is stale, riders' newer votes decide
    stale = status(ev("device", "open", 25, "dk"), *riders)
    assert (stale.state, stale.source, stale.reports, stale.demoted) == ("reported_locked", "riders", 2, True)


def test_recency_wins_between_manager_and_device() -> None:
    s = status(
        ev("manager", "closed", 10, "mgr", until=NOW + timedelta(hours=2), reason="heating repair"),
        ev("device", "open", 2, "dk"),
    )
    assert (s.state, s.source) == ("confirmed_open", "device")
    s2 = status(
        ev("device", "open", 10, "dk"),
        ev("manager", "closed", 2, "mgr", until=NOW + timedelta(hours=2), reason="停电"),
    )
    assert (s2.state, s2.source, s2.reason, s2.demoted) == ("closed_by_manager", "manager", "停电", True)


def test_manager_overrides_expire_by_themselves() -> None:
    until = NOW + timedelta(minutes=30)
    closed = ev("manager", "closed", 60, "mgr", until=until, reason="午休")
    s = status(closed)
    assert (s.state, s.until, s.since) == ("closed_by_manager", until, NOW - timedelta(minutes=60))
    after = live_status_of_events([closed], scheduled=True, now=until + timedelta(seconds=1))
    assert after.state == "scheduled_open"
    opened = ev("manager", "open", MANAGER_OPEN_FOR.total_seconds() / 60 - 1, "mgr")
    assert status(opened, scheduled=False).state == "confirmed_open"
    expired = ev("manager", "open", MANAGER_OPEN_FOR.total_seconds() / 60 + 1, "mgr")
    assert status(expired, scheduled=False).state == "scheduled_closed"
    # never longer than 24 h, whatever until says
    far = ev("manager", "closed", MANAGER_MAX.total_seconds() / 60 + 1, "mgr", until=NOW + timedelta(days=3))
    assert status(far).state == "scheduled_open"
    # cleared: back to the other signals
    assert status(closed, ev("manager", "cleared", 1, "mgr")).state == "scheduled_open"


def test_a_status_closure_outranks_every_live_signal() -> None:
    s = status(
        ev("device", "open", 1, "dk"),
        status="temporarily_closed",
        status_until=date(2026, 12, 20),
        status_reason="装修",
    )
    assert (s.state, s.source, s.until, s.reason, s.demoted) == (
        "closed_by_manager",
        "manager",
        date(2026, 12, 20),
        "装修",
        True,
    )


def test_scan_required_is_counted_apart() -> None:
    s = status(ev("rider", "scan_required", 5, "c1"), ev("rider", "scan_required", 4, "c2"))
    assert (s.state, s.scan_reports) == ("scheduled_open", 2)


def test_fold_all_keeps_only_what_can_matter() -> None:
    events = [
        LiveEvent("old", "rider", "locked", NOW - timedelta(hours=3), actor="c"),
        LiveEvent("f1", "rider", "locked", NOW - timedelta(minutes=5), actor="c"),
    ]
    assert set(fold_all(events, NOW)) == {"f1"}


_SOURCES = st.sampled_from(
    [
        ("rider", "open"),
        ("rider", "locked"),
        ("rider", "scan_required"),
        ("device", "open"),
        ("device", "closed"),
        ("manager", "open"),
        ("manager", "closed"),
        ("manager", "cleared"),
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(_SOURCES, st.integers(0, 600), st.sampled_from(["a", "b", "c"])), max_size=12),
    st.sampled_from([True, False, None]),
)
def test_the_rules_always_answer_a_known_state(
    raw: list[tuple[tuple[str, str], int, str]], scheduled: bool | None
) -> None:
    events = sorted(
        (
            LiveEvent(
                "f1",
                src,
                state,
                NOW - timedelta(minutes=m),
                until=NOW + timedelta(hours=1) if src == "manager" else None,
                actor=actor,
            )
            for (src, state), m, actor in raw
        ),
        key=lambda e: e.at,
    )
    inputs = None
    for e in events:
        inputs = fold(inputs, e, NOW)
    s = live_status(inputs, scheduled=scheduled, now=NOW)
    assert s.state in LIVE_STATES
    assert s.reports >= 0 and s.locked_reports >= 0
    if s.source == "riders":
        assert s.reports >= 1
    # demotion happens only for a closure, a device lock or two independent reports
    if s.demoted:
        assert s.state == "closed_by_manager" or s.source == "device" or s.reports >= 2
    # a single rider never demotes a station
    if len({e.actor for e in events if e.source == "rider"}) <= 1 and not any(
        e.source in {"manager", "device"} for e in events
    ):
        assert not s.demoted


@pytest.mark.parametrize("state", ["open", "closed"])
def test_device_events_fold_per_facility(state: str) -> None:
    a = fold(None, LiveEvent("f1", "device", state, NOW, actor="dk"))
    assert a.device is not None and a.device_since == NOW
