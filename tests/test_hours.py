"""Hours in words: open until, closes soon, 24 h, opens at, past midnight, public holidays."""

from __future__ import annotations

from datetime import datetime

import pytest

from locator.core.hours import TZ, describe_hours, is_public_holiday


def at(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=TZ)


# 2026-11-23 is a Monday; 2026-11-27 a Friday; 2026-10-01 (Thursday) is National Day.
@pytest.mark.parametrize(
    ("value", "when", "state", "time", "days"),
    [
        ("24/7", at(2026, 11, 23, 3), "open_24h", None, 0),
        ("Mo-Su 08:00-20:00", at(2026, 11, 23, 12), "open_until", "20:00", 0),
        ("Mo-Su 08:00-20:00", at(2026, 11, 23, 19, 45), "closing_soon", "20:00", 0),
        ("Mo-Su 08:00-20:00", at(2026, 11, 23, 7), "opens_at", "08:00", 0),
        ("Mo-Su 08:00-20:00", at(2026, 11, 23, 21), "opens_at", "08:00", 1),
        # past midnight: open at 23:00 until 02:00 the next day
        ("Mo-Su 18:00-02:00", at(2026, 11, 23, 23), "open_until", "02:00", 1),
        ("Mo-Su 18:00-02:00", at(2026, 11, 24, 1, 50), "closing_soon", "02:00", 0),
        ("Mo-Su 18:00-02:00", at(2026, 11, 24, 3), "opens_at", "18:00", 0),
        # closing at midnight reads "until 24:00", not "until 00:00 tomorrow"
        ("Mo-Su 05:00-24:00", at(2026, 11, 23, 22), "open_until", "24:00", 0),
        # the weekend: Friday evening -> Monday morning
        ("Mo-Fr 08:00-17:00", at(2026, 11, 27, 18), "opens_at", "08:00", 3),
        ("off", at(2026, 11, 23, 12), "closed", None, 0),
        ("", at(2026, 11, 23, 12), "unknown", None, 0),
    ],
)
def test_describe_hours(value: str, when: datetime, state: str, time: str | None, days: int) -> None:
    s = describe_hours(value, when)
    assert (s.state, s.time, s.days_ahead) == (state, time, days)


def test_minutes_and_weekday() -> None:
    s = describe_hours("Mo-Su 08:00-20:00", at(2026, 11, 23, 19, 45))
    assert s.minutes == 15
    s = describe_hours("Mo-Fr 08:00-17:00", at(2026, 11, 27, 18))
    assert s.weekday == 0  # Monday


def test_public_holiday_rules_are_applied_and_flagged() -> None:
    assert is_public_holiday(at(2026, 10, 1, 10))
    assert not is_public_holiday(at(2026, 10, 9, 10))
    # "PH off": closed on National Day although it is a Thursday.
    s = describe_hours("Mo-Fr 08:30-17:30; PH off", at(2026, 10, 1, 10))
    assert s.state == "opens_at" and s.time == "08:30" and s.days_ahead == 1
    assert s.names_public_holidays and s.public_holiday_today
    # A separate holiday schedule: 09:00-17:00 instead of the weekday 07:00-19:00.
    s = describe_hours("Mo-Fr 07:00-19:00; Sa,Su,PH 09:00-17:00", at(2026, 10, 1, 8))
    assert (s.state, s.time) == ("opens_at", "09:00")
    s = describe_hours("Mo-Fr 07:00-19:00; Sa,Su,PH 09:00-17:00", at(2026, 10, 9, 8))
    assert (s.state, s.time, s.public_holiday_today) == ("open_until", "19:00", False)


def test_known_gap_of_the_holiday_calendar() -> None:
    # Documented limitation (docs/riders.md): one day per holiday, no 调休 make-up days.
    assert not is_public_holiday(at(2026, 10, 2, 10))  # 2nd day of the Golden Week
