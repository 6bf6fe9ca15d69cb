"""A plain-words preview of an ``opening_hours`` value: what it means for the coming week.

Rather than paraphrasing the syntax (which has many corner cases), the value is
*evaluated* for the next seven days in Asia/Shanghai with the same parser the index uses
(:mod:`locator.core.hours`, public holidays from China's calendar), so the preview shows
exactly what riders will be told.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import opening_hours

from locator.core.hours import TZ, parse_opening_hours
from locator.errors import ValidationError


@dataclass(slots=True)
class DayPreview:
    """One calendar day.

    Attributes
    ----------
    day : date
    open_spans : list of (time, time)
        Local opening spans; an end of ``00:00`` means midnight at the end of the day.
    unknown : bool
        True when the rule says ``unknown`` for part of the day.
    comments : list of str
        Comments attached by the rule (e.g. ``"by appointment"``).
    """

    day: date
    open_spans: list[tuple[time, time]] = field(default_factory=list)
    unknown: bool = False
    comments: list[str] = field(default_factory=list)

    @property
    def all_day(self) -> bool:
        """Open from 00:00 to midnight."""
        return self.open_spans == [(time(0, 0), time(0, 0))]


@dataclass(frozen=True, slots=True)
class HoursPreview:
    """The evaluation of an ``opening_hours`` value.

    Attributes
    ----------
    value : str
        The value as given (stripped).
    valid : bool
    error : str
        The parser's message when invalid.
    normalized : str
        The parser's normal form (e.g. ``PH off`` becomes ``PH closed``).
    open_now : bool or None
        None when unknown or invalid.
    days : list of DayPreview
        Today and the six following days (Asia/Shanghai).
    warnings : list of str
        The parser's warnings.
    """

    value: str
    valid: bool
    error: str = ""
    normalized: str = ""
    open_now: bool | None = None
    days: list[DayPreview] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def preview_hours(value: str, now: datetime) -> HoursPreview:
    """Evaluate ``value`` for the seven days starting on ``now``'s day (Asia/Shanghai).

    Parameters
    ----------
    value : str
        ``opening_hours`` syntax; ``""`` means unknown (valid, with no days).
    now : datetime
        Timezone-aware instant.

    Returns
    -------
    HoursPreview
        Never raises for bad syntax: ``valid`` is False and ``error`` says why.
    """
    value = (value or "").strip()
    if not value:
        return HoursPreview(value, True)
    try:
        oh = parse_opening_hours(value)
    except ValidationError as exc:
        return HoursPreview(value, False, error=exc.detail)
    local = now.astimezone(TZ)
    start = datetime.combine(local.date(), time(0, 0), tzinfo=TZ)
    days: dict[date, DayPreview] = {
        (start + timedelta(days=i)).date(): DayPreview((start + timedelta(days=i)).date()) for i in range(7)
    }
    for begin, end, state, comment in oh.intervals(start, start + timedelta(days=7)):
        begin = begin.replace(tzinfo=TZ) if begin.tzinfo is None else begin.astimezone(TZ)
        end = end.replace(tzinfo=TZ) if end.tzinfo is None else end.astimezone(TZ)
        cursor = begin
        while cursor < end:  # split spans at midnight
            day_end = datetime.combine(cursor.date() + timedelta(days=1), time(0, 0), tzinfo=TZ)
            piece_end = min(end, day_end)
            day = days.get(cursor.date())
            if day is not None:
                if state == opening_hours.State.OPEN:
                    day.open_spans.append((cursor.time(), piece_end.time()))
                elif state == opening_hours.State.UNKNOWN:
                    day.unknown = True
                if comment and comment not in day.comments:
                    day.comments.append(comment)
            cursor = piece_end
    state = oh.state(local)[0]
    open_now = None if state == opening_hours.State.UNKNOWN else state == opening_hours.State.OPEN
    return HoursPreview(
        value,
        True,
        normalized=str(oh.normalize()),
        open_now=open_now,
        days=list(days.values()),
        warnings=[str(w) for w in oh.warnings],
    )
