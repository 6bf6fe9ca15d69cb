"""Hours in words: open until, closes soon, 24 h, opens at, past midnight, public holidays."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from locator.core.hours import (
    CALENDAR_YEARS,
    TZ,
    calendar_covers,
    day_off,
    describe_hours,
    hours_state,
    is_open,
    is_public_holiday,
    makeup_workday,
)


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
    # "PH off": closed for the whole National Day week, back on Thursday 8 October.
    s = describe_hours("Mo-Fr 08:30-17:30; PH off", at(2026, 10, 1, 10))
    assert s.state == "opens_at" and s.time == "08:30" and s.days_ahead == 7
    assert s.names_public_holidays and s.public_holiday_today
    # A separate holiday schedule: 09:00-17:00 instead of the weekday 07:00-19:00.
    s = describe_hours("Mo-Fr 07:00-19:00; Sa,Su,PH 09:00-17:00", at(2026, 10, 1, 8))
    assert (s.state, s.time) == ("opens_at", "09:00")
    s = describe_hours("Mo-Fr 07:00-19:00; Sa,Su,PH 09:00-17:00", at(2026, 10, 9, 8))
    assert (s.state, s.time, s.public_holiday_today) == ("open_until", "19:00", False)


# --- holidays as China has them (chinese-calendar, the State Council's 2026 notice) -------

SPRING_FESTIVAL_2026 = [date(2026, 2, d) for d in range(15, 24)]  # 15-23 Feb, 9 days off
NATIONAL_DAY_2026 = [date(2026, 10, d) for d in range(1, 8)]  # 1-7 Oct
MAKEUP_2026 = [
    date(2026, 1, 4),
    date(2026, 2, 14),
    date(2026, 2, 28),
    date(2026, 5, 9),
    date(2026, 9, 20),
    date(2026, 10, 10),
]


def test_the_calendar_knows_the_2026_holiday_weeks_and_makeup_days() -> None:
    for d in SPRING_FESTIVAL_2026 + NATIONAL_DAY_2026:
        assert day_off(d), d
        assert is_public_holiday(datetime(d.year, d.month, d.day, 12, tzinfo=TZ))
    for d in MAKEUP_2026:
        assert makeup_workday(d) and d.weekday() >= 5 and not day_off(d), d
    assert not day_off(date(2026, 2, 24)) and not day_off(date(2026, 10, 8))
    assert not makeup_workday(date(2026, 2, 21))  # a Saturday inside the holiday: a day off
    assert calendar_covers(date(2026, 12, 31)) and CALENDAR_YEARS[0] <= 2004


@pytest.mark.parametrize("day", SPRING_FESTIVAL_2026 + NATIONAL_DAY_2026)
def test_ph_off_closes_every_day_of_the_2026_holiday_weeks(day: date) -> None:
    when = datetime(day.year, day.month, day.day, 10, tzinfo=TZ)
    assert is_open("Mo-Fr 08:00-18:00; PH off", when) is False
    assert is_open("Mo-Su 08:00-18:00; PH off", when) is False
    # holiday hours of their own
    assert is_open("Mo-Fr 07:00-19:00; Sa,Su,PH 11:00-15:00", when) is False
    assert is_open("Mo-Fr 07:00-19:00; Sa,Su,PH 11:00-15:00", when.replace(hour=12)) is True
    # without a PH rule the weekday rules apply as on any week (OSM semantics)
    assert is_open("Mo-Su 08:00-18:00", when) is True


@pytest.mark.parametrize("day", MAKEUP_2026)
def test_a_makeup_weekend_day_opens_a_mo_fr_station(day: date) -> None:
    when = datetime(day.year, day.month, day.day, 10, tzinfo=TZ)
    assert is_open("Mo-Fr 08:00-18:00", when) is True
    assert is_open("Mo-Fr 08:00-18:00; PH off", when) is True
    assert is_open("Mo-Fr 08:00-18:00", when.replace(hour=19)) is False
    s = describe_hours("Mo-Fr 08:00-18:00", when)
    assert (s.state, s.time, s.makeup_workday_today) == ("open_until", "18:00", True)
    # the usual Saturday/Sunday hours do not apply on a make-up day
    assert is_open("Mo-Fr 08:00-18:00; Sa,Su off", when) is True


def test_next_changes_cross_makeup_days_and_holiday_weeks() -> None:
    # Friday 13 Feb 2026, evening: the next opening is the make-up Saturday 14 Feb, not Tuesday 24 Feb.
    s = describe_hours("Mo-Fr 08:00-18:00; PH off", at(2026, 2, 13, 19))
    assert (s.state, s.time, s.days_ahead, s.weekday) == ("opens_at", "08:00", 1, 5)
    # Saturday 14 Feb evening: then the whole Spring Festival off; back on Tuesday 24 Feb.
    st = hours_state("Mo-Fr 08:00-18:00; PH off", at(2026, 2, 14, 19))
    assert st.next_change == at(2026, 2, 24, 8)
    # Saturday 19 Sep evening: the make-up Sunday 20 Sep opens (as a Monday).
    s = describe_hours("Mo-Fr 08:00-18:00", at(2026, 9, 19, 19))
    assert (s.state, s.time, s.days_ahead) == ("opens_at", "08:00", 1)
    # Open on the make-up Saturday 10 Oct until 18:00
    assert hours_state("Mo-Fr 08:00-18:00; PH off", at(2026, 10, 10, 9)).next_change == at(2026, 10, 10, 18)


def test_comments_and_offsets_keep_their_ph() -> None:
    # "PH" inside a comment is text; "PH +1 day" keeps the crate's own calendar.
    when = at(2026, 10, 2, 10)
    assert is_open('Mo-Su 08:00-18:00 "not on PH"', when) is True
    assert is_open("Mo-Su 08:00-18:00; PH +1 day off", when) in {True, False}


def test_years_outside_the_calendar_use_the_crates_calendar() -> None:
    d = date(CALENDAR_YEARS[1] + 1, 10, 1)
    assert not calendar_covers(d)
    assert day_off(d)  # National Day is in the crate's calendar every year
