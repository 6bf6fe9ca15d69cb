"""Why an ``opening_hours`` value does not parse, said in words a station manager can act on.

The parser (opening-hours-py, a binding of the Rust ``opening-hours`` crate, whose grammar
is written with `pest <https://pest.rs>`_) reports a failure as a pest error::

    Failed to parse expression:  --> 1:3
      |
    1 | Mon-Fri 08:00-18:00
      |   ^---
      |
      = expected EOI, any_rule_separator, or rules_modifier

That text (grammar rule names, an ASCII-art caret) must never reach a page. This module
reads only two things from it — the **column** of the failure and the grammar rules the
parser **expected** there — and looks at the value itself for the mistakes people really
make (English or Chinese day names, full-width punctuation, hours without minutes, two rules
without ``;``, a dangling ``-``). The result is a :class:`~locator.errors.Msg` (English;
translated on pages by the ``tr`` filter) saying *what* is wrong and *where*: the character
position and the few characters there.

No Flask, no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final

from locator.errors import Msg

#: The two-letter day names of the OSM syntax, Monday first.
OSM_DAYS: Final = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")

_POSITION_RE: Final = re.compile(r"-->\s*(\d+):(\d+)")
_EXPECTED_RE: Final = re.compile(r"=\s*expected\s+(.+)$", re.M)
_UNEXPECTED_RE: Final = re.compile(r"=\s*unexpected\s+(.+)$", re.M)
_ENGLISH_DAY_RE: Final = re.compile(
    r"\b(Mon|Tue|Tues|Wed|Thu|Thur|Thurs|Fri|Sat|Sun|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
    r"|MO|TU|WE|TH|FR|SA|SU|mo|tu|we|th|fr|sa|su)\b"
)
_CHINESE_DAY_RE: Final = re.compile(r"(周|星期|礼拜)[一二三四五六日天]|工作日|周末|节假日|每天|全天")
_BARE_HOURS_RE: Final = re.compile(r"(?<![\d:])(\d{1,2})\s*-\s*(\d{1,2})(?![\d:])")
_SHORT_TIME_RE: Final = re.compile(r"(?<![\d:])(\d)(:\d{2})")
_BAD_MINUTE_RE: Final = re.compile(r"\d{1,2}:([6-9]\d)")
_DOT_TIME_RE: Final = re.compile(r"\d{1,2}[.：]\d{2}")
_MERIDIEM_RE: Final = re.compile(r"\d{1,2}(?::\d{2})?\s*(?:[ap]\.?m\.?|上午|下午|晚上)", re.I)
_TIME_RE: Final = re.compile(r"(?<![\d:])(\d{1,2}):(\d{2})")
_DAYS_AFTER_TIMES_RE: Final = re.compile(
    r"^\s*\d{1,2}:\d{2}\s*-\s*\d{1,2}:\d{2}.*?\s(Mo|Tu|We|Th|Fr|Sa|Su|PH)\b"
)


@dataclass(frozen=True, slots=True)
class ParseFailure:
    """Where and why the parser stopped, read from its message.

    Attributes
    ----------
    column : int
        1-based character position in the value (0 when the message has none).
    expected : tuple of str
        Grammar rule names the parser expected there (may be empty).
    unexpected : tuple of str
        Grammar rule names the parser did not expect there (may be empty).
    """

    column: int
    expected: tuple[str, ...]
    unexpected: tuple[str, ...]


def read_parser_message(message: str) -> ParseFailure:
    r"""Read the column and the expected/unexpected rules from a pest error message.

    >>> read_parser_message("Failed to parse expression:  --> 1:7\n  = expected wday")
    ParseFailure(column=7, expected=('wday',), unexpected=())
    """
    pos = _POSITION_RE.search(message)
    column = int(pos.group(2)) if pos else 0

    def rules(pattern: re.Pattern[str]) -> tuple[str, ...]:
        m = pattern.search(message)
        if not m:
            return ()
        return tuple(r.strip() for r in re.split(r",\s*(?:or\s+)?|\s+or\s+", m.group(1)) if r.strip())

    return ParseFailure(column, rules(_EXPECTED_RE), rules(_UNEXPECTED_RE))


def _near(value: str, column: int, width: int = 12) -> str:
    """The few characters of ``value`` from ``column`` (1-based), or its end."""
    if column <= 0:
        return value[:width]
    start = max(0, column - 1)
    piece = value[start : start + width]
    return piece if piece.strip() else Msg("the end")


def _where(value: str, column: int) -> Msg:
    if column <= 0 or column > len(value):
        return Msg("at the end")
    return Msg("at character %(n)s (“%(near)s”)", n=column, near=_near(value, column))


def _wide_characters(value: str) -> list[str]:
    """Full-width or CJK punctuation the syntax does not accept (``－``, ``：``, ``；``, ``，``…)."""
    out = []
    for ch in value:
        if ord(ch) > 127 and unicodedata.category(ch).startswith(("P", "S", "Z")) and ch not in out:
            out.append(ch)
    return out


def explain_parse_error(value: str, message: str) -> Msg:
    """What is wrong with ``value`` and where, from the parser's ``message``.

    Parameters
    ----------
    value : str
        The ``opening_hours`` value that failed to parse.
    message : str
        The parser's error text (pest format, see the module docstring).

    Returns
    -------
    Msg
        English, with the position; never the parser's own words or rule names.

    Examples
    --------
    >>> print(explain_parse_error("Mon-Fri 08:00-18:00", "Failed to parse expression:  --> 1:3"))
    invalid opening_hours at character 1 (“Mon-Fri 08:0”): write days with two letters: \
Mo Tu We Th Fr Sa Su (not “Mon”)
    """
    failure = read_parser_message(message)
    col = failure.column
    expected = set(failure.expected)
    unexpected = set(failure.unexpected)

    def said(what: Msg, column: int = col) -> Msg:
        return Msg("invalid opening_hours %(where)s: %(what)s", where=_where(value, column), what=what)

    chinese = _CHINESE_DAY_RE.search(value)
    if chinese:
        return said(
            Msg(
                "write days in the OSM way: Mo Tu We Th Fr Sa Su, and PH for public holidays "
                "(not “%(found)s”), or use the hours editor",
                found=chinese.group(0),
            ),
            chinese.start() + 1,
        )
    english = _ENGLISH_DAY_RE.search(value)
    if english and english.group(0) not in OSM_DAYS:
        found = english.group(0)
        if len(found) == 2:
            what = Msg(
                "write days with a capital and a small letter: Mo Tu We Th Fr Sa Su (not “%(found)s”)",
                found=found,
            )
        else:
            what = Msg("write days with two letters: Mo Tu We Th Fr Sa Su (not “%(found)s”)", found=found)
        return said(what, english.start() + 1)
    dots = _DOT_TIME_RE.search(value)
    if dots and ("：" in dots.group(0) or "." in dots.group(0)):
        return said(
            Msg("write times with a colon: 08:00 (not “%(found)s”)", found=dots.group(0)), dots.start() + 1
        )
    wide = _wide_characters(value)
    if wide:
        first = min(value.index(ch) for ch in wide)
        return said(
            Msg(
                "use half-width characters (- : ; ,) instead of “%(found)s”: switch the keyboard to English",
                found=" ".join(wide),
            ),
            first + 1,
        )
    meridiem = _MERIDIEM_RE.search(value)
    if meridiem:
        return said(
            Msg("write times on the 24-hour clock, like 18:00 (not “%(found)s”)", found=meridiem.group(0)),
            meridiem.start() + 1,
        )
    bare = _BARE_HOURS_RE.search(value)
    if bare:
        a, b = int(bare.group(1)), int(bare.group(2))
        return said(
            Msg(
                "times need hours and minutes: %(good)s (not “%(found)s”)",
                good=f"{a:02d}:00-{b:02d}:00",
                found=bare.group(0),
            ),
            bare.start() + 1,
        )
    short = _SHORT_TIME_RE.search(value)
    if short and ("extended_time" in expected or "hour" in expected or "timespan" in expected):
        return said(
            Msg(
                "write hours with two digits: %(good)s (not “%(found)s”)",
                good="0" + short.group(0),
                found=short.group(0),
            ),
            short.start() + 1,
        )
    for m in _TIME_RE.finditer(value):
        hour = int(m.group(1))
        starts_range = value[m.end() : m.end() + 1] == "-"
        if hour > 48 or (starts_range and hour > 24):
            return said(
                Msg(
                    "hours run from 00 to 24 (an end past midnight may go up to 48): not “%(found)s”",
                    found=m.group(0),
                ),
                m.start() + 1,
            )
    late = _DAYS_AFTER_TIMES_RE.search(value)
    if late and col == late.start(1) + 1:
        return said(Msg("write the days before the times, like Mo-Fr 08:00-18:00"))
    bad_minute = _BAD_MINUTE_RE.search(value)
    if "minute" in expected or bad_minute:
        return said(Msg("minutes run from 00 to 59"), bad_minute.start() + 1 if bad_minute else col)
    if "hour" in expected:
        return said(Msg("hours run from 00 to 24"))
    if "wday" in expected:
        return said(Msg("a day is missing or unknown: use Mo Tu We Th Fr Sa Su"))
    if "normal_rule_separator" in unexpected or "any_rule_separator" in unexpected:
        return said(Msg("an empty rule: remove the extra “;” or “,”"))
    if "EOI" in unexpected:
        return said(Msg("the value ends too early: something is missing at the end"))
    if expected & {"extended_time", "timespan_plus"}:
        return said(Msg("a time range is incomplete: write start and end, like 08:00-18:00"))
    if "timespan" in expected and value.rstrip().endswith((",", "-")):
        return said(Msg("a time range is incomplete: write start and end, like 08:00-18:00"))
    if "any_rule_separator" in expected and col > 1:
        return said(Msg("separate rules with “;”, like Mo-Fr 08:00-18:00; Sa 09:00-12:00"))
    if "timespan" in expected:
        return said(Msg("a time range is expected here, like 08:00-18:00"))
    return said(
        Msg("not understood: start with days and times, like Mo-Fr 08:00-18:00, or use the hours editor")
    )
