"""OpenStreetMap ``opening_hours`` evaluation, in Beijing time.

Parsing and evaluation are done by ``opening-hours-py`` (the Python binding of the
Rust ``opening-hours`` crate, https://github.com/remi-dupre/opening-hours-rs), which
implements the OSM specification including public holidays (``PH``) from a country
calendar. All facilities are in mainland China, so ``PH`` uses China's calendar and
times are in ``Asia/Shanghai``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

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
    oh = parse_opening_hours(value)
    state = oh.state(at.astimezone(TZ))[0]
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
    nxt = parse_opening_hours(value).next_change(local)
    if nxt is not None and nxt.tzinfo is None:
        nxt = nxt.replace(tzinfo=TZ)
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
        ``at`` falls on a public holiday of the built-in China calendar. That calendar
        (from opening-hours-py) holds one day per holiday and no 调休 make-up working
        days, so treat this as a hint (see docs/riders.md).
    """

    state: str
    time: str | None = None
    minutes: int | None = None
    days_ahead: int = 0
    weekday: int | None = None
    names_public_holidays: bool = False
    public_holiday_today: bool = False


def is_public_holiday(at: datetime) -> bool:
    """Whether ``at`` falls on a China public holiday per opening-hours-py's calendar.

    The calendar lists one day per holiday (New Year, Spring Festival, Labour Day,
    Dragon Boat, Mid-Autumn, National Day) and no 调休 make-up working days.
    """
    return parse_opening_hours("PH").state(at.astimezone(TZ))[0] == opening_hours.State.OPEN


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
names_public_holidays=False, public_holiday_today=False)
    """
    ph_rule = bool(_PH_RE.search(value or ""))
    holiday = is_public_holiday(at)
    st = hours_state(value, at)
    if st.open is None:
        return HoursSummary("unknown", names_public_holidays=ph_rule, public_holiday_today=holiday)
    if st.always_open and st.open:
        return HoursSummary("open_24h", names_public_holidays=ph_rule, public_holiday_today=holiday)
    if st.next_change is None or st.next_change - at.astimezone(TZ) > timedelta(days=7):
        state = "open_24h" if st.open else "closed"
        return HoursSummary(state, names_public_holidays=ph_rule, public_holiday_today=holiday)
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
    return HoursSummary(state, time, st.minutes_to_change, days, weekday, ph_rule, holiday)
