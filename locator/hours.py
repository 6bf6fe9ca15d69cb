"""OpenStreetMap ``opening_hours`` evaluation, in Beijing time.

Parsing and evaluation are done by ``opening-hours-py`` (the Python binding of the
Rust ``opening-hours`` crate, https://github.com/remi-dupre/opening-hours-rs), which
implements the OSM specification including public holidays (``PH``) from a country
calendar. All facilities are in mainland China, so ``PH`` uses China's calendar and
times are in ``Asia/Shanghai``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

import opening_hours

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
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else "syntax error"
        raise ValidationError(
            f"invalid opening_hours {value!r}: {first_line}", param="opening_hours"
        ) from None


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
