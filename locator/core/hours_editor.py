"""Opening hours without syntax: a week of day rules, to and from OSM ``opening_hours``.

The managers' hours editor (``/manage``) shows rows of **day chips** (一 … 日 and 节假日,
with 工作日 / 周末 shortcuts) each with one or more **time ranges**, "24 hours" or "closed",
plus "closed on public holidays" and "by appointment". This module is the editor's model,
with no Flask:

* :func:`compose` writes the OSM ``opening_hours`` value of a :class:`WeekHours`
  (validating it: a day in two rows, a row without days or without times…);
* :func:`decompose` reads a stored value back into a :class:`WeekHours` when the value
  is one the editor can express (else None: the raw value stays in the "advanced" field);
  a decomposition is accepted only if composing it again gives a value the parser
  normalises to the same thing (:meth:`opening_hours.OpeningHours.normalize`);
* :func:`describe` / :func:`describe_value` put a week in words, as a
  :class:`~locator.errors.Msg` tree the pages translate (``工作日 08:00–18:00；周六
  09:00–12:00；法定节假日休息``), used by the editor's preview and by the history.

OSM semantics kept here: a rule without days applies to every day; ``PH`` is the public
holiday selector; a time range whose end is before its start runs past midnight
(``22:00-02:00``); an end of midnight is written ``24:00``; the comment ``"by
appointment"`` is attached to every open rule (the place is open at those times, by
appointment). Reference: https://wiki.openstreetmap.org/wiki/Key:opening_hours/specification
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from locator.core.hours import TZ, parse_opening_hours
from locator.core.hours_syntax import OSM_DAYS
from locator.errors import Msg, ValidationError

#: Day tokens of the editor, in display order: the seven OSM days, then public holidays.
EDITOR_DAYS: Final = (*OSM_DAYS, "PH")
#: The comment the editor writes for "by appointment".
APPOINTMENT: Final = "by appointment"
#: Most rows (day rules) the editor takes.
MAX_ROWS: Final = 8
#: Most time ranges in one row.
MAX_SPANS: Final = 6

DAY_WORDS: Final = {
    "Mo": Msg("Mon"),
    "Tu": Msg("Tue"),
    "We": Msg("Wed"),
    "Th": Msg("Thu"),
    "Fr": Msg("Fri"),
    "Sa": Msg("Sat"),
    "Su": Msg("Sun"),
    "PH": Msg("public holidays"),
}
_TIME_RE: Final = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)$")
_DAY_ITEM: Final = r"(?:Mo|Tu|We|Th|Fr|Sa|Su)(?:-(?:Mo|Tu|We|Th|Fr|Sa|Su))?|PH"
_SPAN: Final = r"\d\d:\d\d-\d\d:\d\d"
_RULE_RE: Final = re.compile(
    rf"^(?:(?P<days>(?:{_DAY_ITEM})(?:,(?:{_DAY_ITEM}))*)\s+)?"
    rf"(?P<times>off|closed|{_SPAN}(?:,{_SPAN})*)?"
    r'\s*(?:"(?P<comment>[^"]*)")?$'
)


@dataclass(frozen=True, slots=True)
class TimeSpan:
    """One opening range of a day, local (Asia/Shanghai) wall-clock times.

    Attributes
    ----------
    start, end : str
        ``HH:MM``. An ``end`` of ``24:00`` is midnight at the end of the day; an ``end``
        earlier than ``start`` runs past midnight into the next day.
    """

    start: str
    end: str

    @property
    def overnight(self) -> bool:
        """True when the range runs past midnight (``22:00-02:00``)."""
        return self.end != "24:00" and self.end <= self.start

    @property
    def end_input(self) -> str:
        """``end`` for an ``<input type=time>`` (midnight is ``00:00`` there)."""
        return "00:00" if self.end == "24:00" else self.end

    def osm(self) -> str:
        """``HH:MM-HH:MM`` as OSM writes it."""
        return f"{self.start}-{self.end}"


@dataclass(frozen=True, slots=True)
class DayRule:
    """One row of the editor: days and what happens on them.

    Attributes
    ----------
    days : tuple of str
        Tokens of :data:`EDITOR_DAYS`, in that order.
    spans : tuple of TimeSpan
        Opening ranges (empty when ``all_day`` or ``closed``).
    all_day : bool
        Open 24 hours on these days.
    closed : bool
        Closed on these days.
    """

    days: tuple[str, ...]
    spans: tuple[TimeSpan, ...] = ()
    all_day: bool = False
    closed: bool = False


@dataclass(frozen=True, slots=True)
class WeekHours:
    """The editor's whole value.

    Attributes
    ----------
    rules : tuple of DayRule
        Rows with disjoint days.
    ph_closed : bool
        Closed on public holidays (``PH off``, written last so it wins).
    appointment : bool
        Open by appointment (the comment ``"by appointment"`` on every open rule).
    """

    rules: tuple[DayRule, ...] = ()
    ph_closed: bool = False
    appointment: bool = False


@dataclass(slots=True)
class RowInput:
    """One editor row as submitted (strings as the form holds them; see :func:`week_from_rows`)."""

    days: list[str] = field(default_factory=list)
    starts: list[str] = field(default_factory=list)
    ends: list[str] = field(default_factory=list)
    all_day: bool = False
    closed: bool = False


def _bad(message: Msg) -> ValidationError:
    return ValidationError(message, param="opening_hours")


def _time(text: str, row: int) -> str:
    m = _TIME_RE.match(text.strip())
    if not m or (m.group(1) == "24" and m.group(2) != "00"):
        raise _bad(Msg("row %(row)s: “%(value)s” is not a time (HH:MM)", row=row, value=text.strip()[:8]))
    return f"{int(m.group(1)):02d}:{m.group(2)}"


def week_from_rows(rows: Sequence[RowInput], *, ph_closed: bool, appointment: bool) -> WeekHours:
    """Build a :class:`WeekHours` from submitted editor rows, checking them.

    Parameters
    ----------
    rows : sequence of RowInput
        ``days`` are tokens of :data:`EDITOR_DAYS` in any case (``mo`` … ``su``, ``ph``);
        ``starts``/``ends`` pair up by position (``HH:MM``; an end of ``00:00`` is
        midnight, one before its start runs past midnight). Rows with neither days nor
        times are ignored.
    ph_closed, appointment : bool

    Raises
    ------
    ValidationError
        ``param="opening_hours"``: an unknown day, a bad time, a row with days but no
        times (nor "24 hours"/"closed"), times but no days, the same start and end, or a
        day in two rows — each naming the row (1-based).
    """
    by_token = {d.lower(): d for d in EDITOR_DAYS}
    rules: list[DayRule] = []
    seen: dict[str, int] = {}
    number = 0
    for row in rows:
        pairs = [(a.strip(), b.strip()) for a, b in zip(row.starts, row.ends, strict=False)]
        pairs = [(a, b) for a, b in pairs if a or b]
        if not row.days and not pairs and not row.all_day and not row.closed:
            continue
        number += 1
        if number > MAX_ROWS:
            raise _bad(Msg("at most %(n)s rows of days", n=MAX_ROWS))
        days: list[str] = []
        for d in row.days:
            token = by_token.get(d.strip().lower())
            if token is None:
                raise _bad(Msg("row %(row)s: unknown day %(day)r", row=number, day=d[:8]))
            if token not in days:
                days.append(token)
        if not days:
            raise _bad(Msg("row %(row)s: choose the days these hours are for", row=number))
        days.sort(key=EDITOR_DAYS.index)
        for d in days:
            if d in seen:
                raise _bad(
                    Msg(
                        "%(day)s is in rows %(a)s and %(b)s: keep each day in one row",
                        day=DAY_WORDS[d],
                        a=seen[d],
                        b=number,
                    )
                )
            seen[d] = number
        if row.closed and (row.all_day or pairs):
            raise _bad(Msg("row %(row)s: “closed” and opening times together", row=number))
        spans: list[TimeSpan] = []
        if not row.closed and not row.all_day:
            if not pairs:
                raise _bad(
                    Msg("row %(row)s: give a time range, or choose “24 hours” or “closed”", row=number)
                )
            if len(pairs) > MAX_SPANS:
                raise _bad(Msg("row %(row)s: at most %(n)s time ranges", row=number, n=MAX_SPANS))
            for a, b in pairs:
                if not a or not b:
                    raise _bad(Msg("row %(row)s: a time range needs a start and an end", row=number))
                start, end = _time(a, number), _time(b, number)
                if start == "24:00":
                    raise _bad(Msg("row %(row)s: a range cannot start at 24:00", row=number))
                if end == "00:00":
                    end = "24:00"
                if start == end:
                    raise _bad(Msg("row %(row)s: start and end are the same (%(t)s)", row=number, t=start))
                spans.append(TimeSpan(start, end))
            spans.sort(key=lambda s: s.start)
        rules.append(DayRule(tuple(days), tuple(spans), all_day=row.all_day, closed=row.closed))
    if ph_closed and "PH" in seen:
        raise _bad(
            Msg(
                "public holidays are in row %(row)s and “closed on public holidays” is chosen", row=seen["PH"]
            )
        )
    return WeekHours(tuple(rules), ph_closed=ph_closed, appointment=appointment)


def days_selector(days: Iterable[str]) -> str:
    """OSM day selector of editor day tokens: runs of three or more days become ranges.

    >>> days_selector(["Mo", "Tu", "We", "Th", "Fr", "PH"])
    'Mo-Fr,PH'
    >>> days_selector(["Sa", "Su"])
    'Sa,Su'
    """
    chosen = set(days)
    parts: list[str] = []
    run: list[str] = []
    for d in (*OSM_DAYS, ""):
        if d in chosen:
            run.append(d)
            continue
        if len(run) >= 3:
            parts.append(f"{run[0]}-{run[-1]}")
        else:
            parts.extend(run)
        run = []
    if "PH" in chosen:
        parts.append("PH")
    return ",".join(parts)


def compose(week: WeekHours) -> str:
    """The OSM ``opening_hours`` value of ``week`` (``""`` when it has no rules).

    Examples
    --------
    >>> weekdays = RowInput(["mo", "tu", "we", "th", "fr"], ["08:00"], ["18:00"])
    >>> rows = [weekdays, RowInput(["sa"], ["09:00"], ["12:00"])]
    >>> compose(week_from_rows(rows, ph_closed=True, appointment=False))
    'Mo-Fr 08:00-18:00; Sa 09:00-12:00; PH off'
    """
    comment = f' "{APPOINTMENT}"' if week.appointment else ""
    parts: list[str] = []
    for rule in week.rules:
        if rule.closed:
            parts.append(f"{days_selector(rule.days)} off")
            continue
        times = "00:00-24:00" if rule.all_day else ",".join(s.osm() for s in rule.spans)
        if rule.all_day and set(rule.days) >= set(OSM_DAYS) and "PH" not in rule.days:
            parts.append("24/7" + comment)
            continue
        parts.append(f"{days_selector(rule.days)} {times}{comment}")
    if week.ph_closed:
        parts.append("PH off")
    return "; ".join(parts)


def _expand_days(selector: str) -> list[str] | None:
    out: list[str] = []
    for item in selector.split(","):
        if item == "PH":
            out.append("PH")
            continue
        a, _, b = item.partition("-")
        i, j = OSM_DAYS.index(a), OSM_DAYS.index(b or a)
        if j < i:
            return None  # wrapping ranges (Sa-Mo) are beyond the editor
        out.extend(OSM_DAYS[i : j + 1])
    return out


def _normal(value: str) -> str | None:
    try:
        return str(parse_opening_hours(value).normalize())
    except ValidationError:
        return None


#: A fortnight the round-trip check of :func:`decompose` evaluates both values over when their
#: normal forms differ in writing only (``22:00-26:00`` and ``22:00-02:00``); it holds
#: China's National Day, so ``PH`` rules are compared too.
_CHECK_FROM: Final = datetime(2026, 9, 28, tzinfo=TZ)
_CHECK_TO: Final = _CHECK_FROM + timedelta(days=14)


def _same_hours(a: str, b: str) -> bool:
    """Whether two valid values give the same open/closed intervals over :data:`_CHECK_FROM` +14 days."""

    def spans(value: str) -> list[tuple[datetime, datetime, str, str | None]]:
        out: list[tuple[datetime, datetime, str, str | None]] = []
        for begin, end, state, comment in parse_opening_hours(value).intervals(_CHECK_FROM, _CHECK_TO):
            if out and out[-1][1] == begin and out[-1][2:] == (str(state), comment):
                out[-1] = (out[-1][0], end, out[-1][2], out[-1][3])
            else:
                out.append((begin, end, str(state), comment))
        return out

    return spans(a) == spans(b)


def same_hours(a: str, b: str) -> bool:
    """Whether two ``opening_hours`` values mean the same hours.

    True when both are empty, when the parser normalises them to the same text, or when
    they give the same intervals over a test fortnight (:data:`_CHECK_FROM`, with a
    public holiday). False when either is invalid and they differ.

    >>> same_hours("08:00-20:00", "Mo-Su 08:00-20:00"), same_hours("Mo-Fr 09:00-17:00", "Mo-Sa 09:00-17:00")
    (True, False)
    """
    a, b = (a or "").strip(), (b or "").strip()
    if a == b:
        return True
    if not a or not b:
        return False
    na, nb = _normal(a), _normal(b)
    if na is None or nb is None:
        return False
    return na == nb or _same_hours(a, b)


def decompose(value: str) -> WeekHours | None:
    """Read an ``opening_hours`` value into the editor's model, if the editor can express it.

    Returns
    -------
    WeekHours or None
        None for values beyond the editor (months, week numbers, several comments,
        overlapping rules, invalid syntax…): those stay in the raw ("advanced") field.
        An empty value gives an empty week.

    Examples
    --------
    >>> decompose("Mo-Fr 08:00-18:00; Sa 09:00-12:00; PH off").ph_closed
    True
    >>> decompose("Jan-Mar Mo 10:00-12:00") is None
    True
    """
    value = (value or "").strip()
    if not value:
        return WeekHours()
    normal = _normal(value)
    if normal is None:
        return None
    rules: list[DayRule] = []
    ph_closed = False
    comments: set[str | None] = set()
    seen: set[str] = set()
    for raw in (r.strip() for r in value.split(";")):
        if not raw:
            continue
        if raw == "24/7" or raw.startswith('24/7 "'):
            raw = "Mo-Su 00:00-24:00" + raw[4:]
        m = _RULE_RE.match(raw)
        if m is None or not (m.group("days") or m.group("times")):
            return None
        days = _expand_days(m.group("days")) if m.group("days") else list(OSM_DAYS)
        if days is None or seen & set(days):
            return None
        seen.update(days)
        times = m.group("times") or ""
        comment = m.group("comment")
        if times in {"off", "closed"}:
            if comment is not None:
                return None
            if days == ["PH"]:
                ph_closed = True
                seen.discard("PH")
                continue
            rules.append(DayRule(tuple(sorted(days, key=EDITOR_DAYS.index)), closed=True))
            continue
        if not times:
            return None  # a comment alone ("by appointment" all the time) is beyond the editor
        comments.add(comment)
        spans = []
        for piece in times.split(","):
            a, b = piece.split("-")
            if int(b[:2]) > 24:  # 18:00-26:00: past midnight, as the editor writes it
                b = f"{int(b[:2]) - 24:02d}{b[2:]}"
            spans.append(TimeSpan(a, b))
        all_day = len(spans) == 1 and spans[0].start == "00:00" and spans[0].end == "24:00"
        rules.append(
            DayRule(
                tuple(sorted(days, key=EDITOR_DAYS.index)),
                () if all_day else tuple(sorted(spans, key=lambda s: s.start)),
                all_day=all_day,
            )
        )
    if len(comments) > 1 or (comments and next(iter(comments)) not in {None, APPOINTMENT}):
        return None
    week = WeekHours(tuple(rules), ph_closed=ph_closed, appointment=APPOINTMENT in comments)
    composed = compose(week)
    if _normal(composed) != normal and not _same_hours(composed, value):
        return None
    return week


# -- in words ------------------------------------------------------------------------------


def _list(a: Msg | str, b: Msg | str) -> Msg:
    """Two items of a list (``、`` in Chinese)."""
    return Msg("%(a)s, %(b)s", a=a, b=b)


def _clauses(a: Msg | str, b: Msg | str) -> Msg:
    """Two clauses (``；`` in Chinese)."""
    return Msg("%(a)s; %(b)s", a=a, b=b)


def _join(items: Sequence[Msg | str], pair: Callable[[Msg | str, Msg | str], Msg]) -> Msg | str:
    """Join words pairwise with a translatable separator (:func:`_list` or :func:`_clauses`)."""
    if not items:
        return ""
    out = items[0]
    for item in items[1:]:
        out = pair(out, item)
    return out


def describe_days(days: Iterable[str]) -> Msg | str:
    """Days in words: ``Mon–Fri``, ``every day``, ``Mon, Wed, public holidays`` and so on."""
    chosen = set(days)
    if set(OSM_DAYS) <= chosen and "PH" not in chosen:
        return Msg("every day")
    if set(OSM_DAYS) <= chosen:
        return Msg("every day and public holidays")
    parts: list[Msg | str] = []
    run: list[str] = []
    for d in (*OSM_DAYS, ""):
        if d in chosen:
            run.append(d)
            continue
        if len(run) >= 3:
            parts.append(Msg("%(first)s–%(last)s", first=DAY_WORDS[run[0]], last=DAY_WORDS[run[-1]]))
        else:
            parts.extend(DAY_WORDS[x] for x in run)
        run = []
    if "PH" in chosen:
        parts.append(DAY_WORDS["PH"])
    return _join(parts, _list)


def describe_span(span: TimeSpan) -> Msg | str:
    """A time range in words: ``08:00–18:00``, ``22:00–02:00 next day``."""
    if span.overnight:
        return Msg("%(start)s–%(end)s next day", start=span.start, end=span.end)
    return f"{span.start}–{span.end}"


def describe(week: WeekHours) -> Msg | str:
    """A week in words, e.g. ``Mon–Fri 08:00–18:00; Sat 09:00–12:00; closed on public holidays``.

    Returns
    -------
    Msg or str
        A translatable message tree (the ``tr`` filter puts it in the page's language);
        ``""`` for an empty week.
    """
    parts: list[Msg | str] = []
    for rule in week.rules:
        days = describe_days(rule.days)
        if rule.closed:
            parts.append(Msg("%(days)s closed", days=days))
        elif rule.all_day:
            parts.append(Msg("%(days)s 24 hours", days=days))
        else:
            times = _join([describe_span(s) for s in rule.spans], _list)
            parts.append(Msg("%(days)s %(times)s", days=days, times=times))
    if week.ph_closed:
        parts.append(Msg("closed on public holidays"))
    if week.appointment:
        parts.append(Msg("by appointment"))
    return _join(parts, _clauses)


def describe_value(value: str) -> Msg | str | None:
    """An ``opening_hours`` value in words, or None when the editor cannot read it."""
    week = decompose(value)
    if week is None:
        return None
    if not week.rules and not week.ph_closed:
        return Msg("hours unknown")
    return describe(week)
