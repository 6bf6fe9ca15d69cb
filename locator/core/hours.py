"""OSM ``opening_hours`` evaluation, in Beijing time, with China's real holiday calendar.

Parsing and evaluation are done by ``opening-hours-py`` (the Python binding of the
Rust ``opening-hours`` crate, https://github.com/remi-dupre/opening-hours-rs), which
implements the OSM specification. All facilities are in mainland China, so times are in
``Asia/Shanghai``.

Holidays as China has them
--------------------------
The crate's built-in China calendar holds one day per holiday (for 2026: 1 Jan, 17 Feb,
1 May, 19 Jun, 25 Sep, 1 Oct) and no 调休 make-up working days. The State Council's
yearly notice is what counts: whole holiday weeks, plus weekend days that are working
days. We take it from **chinese-calendar** (PyPI ``chinesecalendar``,
https://github.com/LKI/chinese-calendar, MIT), chosen over python-holidays because it
publishes the make-up working days as data (``chinese_calendar.workdays``) next to the
days off (``chinese_calendar.holidays``), each from the State Council notice, while
python-holidays' China class exposes the days off only (its make-up days are internal
substitution pairs, not a public category). Version 1.11.0 covers 2004–2026 (the 2026
notice: Spring Festival 15–23 Feb with make-up Saturdays 14 and 28 Feb, National Day
1–7 Oct with make-up days Sun 20 Sep and Sat 10 Oct); it is updated every November when
the next notice is out, so the pin must be raised once a year.

How the calendar reaches the evaluator (the crate takes no custom calendar):

* **A day off of the notice** (``PH``): when the value names ``PH``, the day is evaluated
  with every ``PH`` token (outside comments) replaced by ``Mo-Su``. ``PH`` is a weekday
  selector, so this is exactly "today matches ``PH``": ``Mo-Fr 08:00-18:00; PH off`` is
  off, ``Sa,Su,PH 09:00-12:00`` is open 09–12, a rule after the ``PH`` one still
  overrides it. Values without ``PH`` are unaffected (OSM: holidays matter only where a
  rule names them).
* **A make-up working day** (a Saturday or Sunday that is a working day): the day is
  evaluated **as a working weekday**: a Saturday as the Friday before it, a Sunday as the
  Monday after it (the working day it borders), so ``Mo-Fr 08:00-18:00`` opens on
  Saturday 14 Feb 2026. Technically the instant is evaluated on the nearest ordinary date
  with that weekday (same time of day), then shifted back.
* Next changes are found day by day across such days (a "Mo-Fr" station closing on a
  Friday evening opens again on the make-up Saturday, not on Monday).
* **Limits.** A rule spanning midnight out of a special day is evaluated with the next
  day's rules; ``PH`` with a day offset (``PH +1 day``) and school holidays (``SH``) keep
  the crate's own calendar; years the calendar does not cover (before 2004, after its
  last notice) use the crate's calendar, and :func:`calendar_covers` says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

import chinese_calendar
import opening_hours

from locator.core.hours_syntax import explain_parse_error
from locator.errors import ValidationError

TZ: Final = ZoneInfo("Asia/Shanghai")
COUNTRY: Final = "CN"


@lru_cache(maxsize=8192)
def parse_opening_hours(value: str) -> opening_hours.OpeningHours:
    """Parse an ``opening_hours`` value (cached by string).

    Raises
    ------
    ValidationError
        If ``value`` is not valid ``opening_hours`` syntax (``param="opening_hours"``).
    """
    try:
        return opening_hours.OpeningHours(value, timezone=TZ, country=COUNTRY)
    except (opening_hours.ParserError, SyntaxError, ValueError) as exc:  # type: ignore[attr-defined]
        # The parser's own text (grammar rule names, a caret drawing) never reaches a
        # page: it is read for the position and turned into a sentence.
        raise ValidationError(explain_parse_error(value, str(exc)), param="opening_hours") from None


#: Days off of the State Council's notices (date -> holiday name), from chinese-calendar.
DAYS_OFF: Final[dict[date, str]] = dict(chinese_calendar.holidays)
#: Make-up working days (调休: a weekend day that is a working day), from chinese-calendar.
MAKEUP_WORKDAYS: Final[dict[date, str]] = dict(chinese_calendar.workdays)
#: The years the calendar covers.
CALENDAR_YEARS: Final = (min(DAYS_OFF).year, max(DAYS_OFF).year)

_PH_TOKEN: Final = re.compile(r'"[^"]*"|\bPH\b(?!\s*[+-]\s*\d)')


def calendar_covers(day: date) -> bool:
    """Whether the holiday calendar knows ``day``'s year (else the crate's calendar is used)."""
    return CALENDAR_YEARS[0] <= day.year <= CALENDAR_YEARS[1]


def day_off(day: date) -> bool:
    """Whether ``day`` is a public holiday (a day off of the State Council notice)."""
    if calendar_covers(day):
        return day in DAYS_OFF
    return _builtin_ph(day)


def makeup_workday(day: date) -> bool:
    """Whether ``day`` is a 调休 make-up working day (a weekend day that is a working day)."""
    return day in MAKEUP_WORKDAYS


@lru_cache(maxsize=4096)
def _builtin_ph(day: date) -> bool:
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=TZ)
    return bool(parse_opening_hours("PH").state(noon)[0] == opening_hours.State.OPEN)


@lru_cache(maxsize=4096)
def _as_holiday(value: str) -> opening_hours.OpeningHours:
    """``value`` evaluated as on a public holiday: every ``PH`` (outside comments) is ``Mo-Su``."""
    text = _PH_TOKEN.sub(lambda m: m.group(0) if m.group(0).startswith('"') else "Mo-Su", value)
    return _evaluator(text)


def _names_ph(value: str) -> bool:
    return any(not m.group(0).startswith('"') for m in _PH_TOKEN.finditer(value))


def _special(value: str, day: date) -> bool:
    """Whether ``day`` needs more than the crate's own evaluation of ``value``."""
    if not calendar_covers(day):
        return False
    return day in MAKEUP_WORKDAYS or (day in DAYS_OFF and _names_ph(value))


@lru_cache(maxsize=512)
def _proxy(day: date) -> date:
    """An ordinary date near a make-up working ``day`` with the weekday it is worked as.

    Saturday is worked as the Friday before it, Sunday as the Monday after it (see the
    module docstring); the proxy is the nearest date with that weekday that is neither a
    day off, nor a make-up day, nor a holiday of the crate's calendar.
    """
    target = 4 if day.weekday() == 5 else 0 if day.weekday() == 6 else day.weekday()
    for weeks in range(0, 8):
        for sign in (1, -1):
            base = day + timedelta(days=(target - day.weekday()) + sign * 7 * weeks)
            if base not in DAYS_OFF and base not in MAKEUP_WORKDAYS and not _builtin_ph(base):
                return base
    return day  # pragma: no cover - never happens with a real calendar


def _variant(value: str, day: date) -> tuple[opening_hours.OpeningHours, timedelta]:
    """The expression to evaluate ``day`` with, and the shift from the real date to the evaluated one."""
    if calendar_covers(day):
        if day in MAKEUP_WORKDAYS:
            return _evaluator(value), _proxy(day) - day
        if day in DAYS_OFF and _names_ph(value):
            return _as_holiday(value), timedelta(0)
    return _evaluator(value), timedelta(0)


def _state(value: str, local: datetime) -> opening_hours.State:
    oh, shift = _variant(value, local.date())
    if not shift:
        return oh.state(local)[0]
    proxy = datetime.combine(local.date() + shift, local.timetz())
    return oh.state(proxy)[0]


def _aware(t: datetime | None) -> datetime | None:
    if t is not None and t.tzinfo is None:
        return t.replace(tzinfo=TZ)
    return t


#: Days :func:`_next_change` walks one by one at most (longer than any holiday week).
_MAX_DAYS: Final = 31


def _next_change(value: str, local: datetime) -> datetime | None:
    """The next change of state after ``local`` (Asia/Shanghai), across special days."""
    oh = _evaluator(value)
    nxt = _aware(oh.next_change(local))
    day = local.date()
    last = (nxt.date() if nxt is not None else day + timedelta(days=8)) + timedelta(days=1)
    if not any(_special(value, day + timedelta(days=i)) for i in range((last - day).days + 1)):
        return nxt
    start = local
    for _ in range(_MAX_DAYS):
        variant, shift = _variant(value, day)
        proxy = datetime.combine(day + shift, start.timetz())
        current = variant.state(proxy)[0]
        change = _aware(variant.next_change(proxy))
        day_end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=TZ)
        if change is not None and change - shift < day_end:
            return change - shift
        next_day = day + timedelta(days=1)
        if _state(value, day_end) != current:
            return day_end
        day, start = next_day, day_end
    return _aware(oh.next_change(start))


@lru_cache(maxsize=8192)
def _evaluator(value: str) -> opening_hours.OpeningHours:
    """``value`` parsed for evaluation: changes further than :data:`_MAX_DAYS` + 1 days count as never.

    (The crate otherwise searches years ahead for an expression that never changes.)
    """
    parse_opening_hours(value)  # raises ValidationError for bad syntax
    return opening_hours.OpeningHours(value, timezone=TZ, country=COUNTRY, max_interval_days=_MAX_DAYS + 1)


def is_open(value: str, at: datetime) -> bool | None:
    """Whether a facility with hours ``value`` is open at instant ``at``.

    Parameters
    ----------
    value : str
        ``opening_hours`` syntax; ``""`` means the hours are unknown.
    at : datetime
        Timezone-aware instant.

    Returns
    -------
    bool or None
        None when the hours are unknown (empty value, or the rule says ``unknown``).
    """
    if not value:
        return None
    local = at.astimezone(TZ)
    if _special(value, local.date()):
        state = _state(value, local)
    else:
        state = _evaluator(value).state(local)[0]
    if state == opening_hours.State.OPEN:
        return True
    if state == opening_hours.State.CLOSED:
        return False
    return None


@dataclass(frozen=True, slots=True)
class HoursState:
    """The state of a facility's hours at one instant, for display.

    Attributes
    ----------
    open : bool or None
        None when unknown.
    next_change : datetime or None
        When the state next changes (Asia/Shanghai); None if never (e.g. ``24/7``)
        or unknown.
    always_open : bool
        True when open and no change comes within a week (e.g. ``24/7``).
    minutes_to_change : int or None
        Whole minutes until ``next_change``.
    """

    open: bool | None
    next_change: datetime | None
    always_open: bool
    minutes_to_change: int | None


def hours_state(value: str, at: datetime) -> HoursState:
    """Describe the hours ``value`` at instant ``at`` (see :class:`HoursState`)."""
    state = is_open(value, at)
    if state is None:
        return HoursState(None, None, False, None)
    local = at.astimezone(TZ)
    nxt = _next_change(value, local)
    always = bool(state) and (nxt is None or nxt - local > timedelta(days=7))
    minutes = None if nxt is None else int((nxt - local).total_seconds() // 60)
    return HoursState(state, nxt, always, minutes)


#: An open facility "closes soon" when it closes within this many minutes.
CLOSING_SOON_MIN: Final = 30

#: Values of :attr:`HoursSummary.state`.
SUMMARY_STATES: Final = ("open_24h", "open_until", "closing_soon", "opens_at", "closed", "unknown")

_PH_RE: Final = re.compile(r"\bPH\b")


@dataclass(frozen=True, slots=True)
class HoursSummary:
    """What a rider needs to know about a facility's hours now, ready to put in words.

    Attributes
    ----------
    state : str
        One of :data:`SUMMARY_STATES`: ``open_24h`` (open, no change within a week),
        ``open_until`` (open, closes at :attr:`time`), ``closing_soon`` (open, closes
        within :data:`CLOSING_SOON_MIN` minutes), ``opens_at`` (closed, opens at
        :attr:`time`), ``closed`` (closed, no opening within a week) or ``unknown``.
    time : str or None
        ``HH:MM`` (Asia/Shanghai) of the next change; a close at midnight is ``24:00``
        of the same day rather than ``00:00`` of the next.
    minutes : int or None
        Whole minutes until the next change.
    days_ahead : int
        Calendar days from ``at`` to the next change in Asia/Shanghai: 0 today, 1
        tomorrow (e.g. "open until 02:00" past midnight), and so on.
    weekday : int or None
        Day of week of the next change, 0 = Monday.
    names_public_holidays : bool
        The ``opening_hours`` value has a ``PH`` (public holiday) rule.
    public_holiday_today : bool
        ``at`` falls on a public holiday (a day off of the State Council notice,
        :func:`day_off`).
    makeup_workday_today : bool
        ``at`` falls on a 调休 make-up working day (evaluated as a working weekday).
    """

    state: str
    time: str | None = None
    minutes: int | None = None
    days_ahead: int = 0
    weekday: int | None = None
    names_public_holidays: bool = False
    public_holiday_today: bool = False
    makeup_workday_today: bool = False


def is_public_holiday(at: datetime) -> bool:
    """Whether ``at`` (any instant) falls on a China public holiday, Beijing date (:func:`day_off`)."""
    return day_off(at.astimezone(TZ).date())


def describe_hours(value: str, at: datetime, *, soon_min: int = CLOSING_SOON_MIN) -> HoursSummary:
    """Summarise ``opening_hours`` at instant ``at`` for display (see :class:`HoursSummary`).

    Parameters
    ----------
    value : str
        OSM ``opening_hours``; ``""`` means unknown.
    at : datetime
        Timezone-aware instant; evaluated in Asia/Shanghai.
    soon_min : int
        Threshold for ``closing_soon``, minutes.

    Returns
    -------
    HoursSummary

    Examples
    --------
    >>> from datetime import datetime
    >>> describe_hours("Mo-Su 18:00-02:00", datetime(2026, 11, 23, 23, 0, tzinfo=TZ))
    HoursSummary(state='open_until', time='02:00', minutes=180, days_ahead=1, weekday=1, \
names_public_holidays=False, public_holiday_today=False, makeup_workday_today=False)
    """
    ph_rule = bool(_PH_RE.search(value or ""))
    holiday = is_public_holiday(at)
    makeup = makeup_workday(at.astimezone(TZ).date())
    st = hours_state(value, at)
    if st.open is None:
        return HoursSummary("unknown", None, None, 0, None, ph_rule, holiday, makeup)
    if st.always_open and st.open:
        return HoursSummary("open_24h", None, None, 0, None, ph_rule, holiday, makeup)
    if st.next_change is None or st.next_change - at.astimezone(TZ) > timedelta(days=7):
        state = "open_24h" if st.open else "closed"
        return HoursSummary(state, None, None, 0, None, ph_rule, holiday, makeup)
    local = at.astimezone(TZ)
    nxt = st.next_change.astimezone(TZ)
    days = (nxt.date() - local.date()).days
    time = nxt.strftime("%H:%M")
    if st.open and time == "00:00" and days >= 1:
        days, time = days - 1, "24:00"
    if st.open:
        state = "closing_soon" if (st.minutes_to_change or 0) <= soon_min else "open_until"
    else:
        state = "opens_at"
    weekday = (nxt - timedelta(minutes=1)).weekday() if time == "24:00" else nxt.weekday()
    return HoursSummary(state, time, st.minutes_to_change, days, weekday, ph_rule, holiday, makeup)
