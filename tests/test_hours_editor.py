"""The hours editor's model and the parser errors in words (locator/core/hours_editor.py, hours_syntax.py)."""

from __future__ import annotations

import re

import pytest

from locator.core.hours import parse_opening_hours
from locator.core.hours_editor import (
    RowInput,
    WeekHours,
    compose,
    decompose,
    describe_value,
    same_hours,
    week_from_rows,
)
from locator.errors import Msg, ValidationError

WEEKDAYS = ["mo", "tu", "we", "th", "fr"]


def rows(*spec: tuple[list[str], list[str], list[str]], **flags: bool) -> WeekHours:
    return week_from_rows(
        [RowInput(d, s, e) for d, s, e in spec],
        ph_closed=flags.get("ph_closed", False),
        appointment=flags.get("appointment", False),
    )


def test_the_issue_example_composes_to_the_right_osm_value() -> None:
    # 工作日 08:00–18:00, 周六 09:00–12:00, 节假日休息
    week = rows((WEEKDAYS, ["08:00"], ["18:00"]), (["sa"], ["09:00"], ["12:00"]), ph_closed=True)
    value = compose(week)
    assert value == "Mo-Fr 08:00-18:00; Sa 09:00-12:00; PH off"
    parse_opening_hours(value)  # valid
    assert decompose(value) == week


@pytest.mark.parametrize(
    ("week", "value"),
    [
        (rows((WEEKDAYS + ["sa", "su"], ["08:00"], ["20:00"])), "Mo-Su 08:00-20:00"),
        (
            rows((["mo", "we", "fr"], ["08:00", "14:00"], ["12:00", "18:00"])),
            "Mo,We,Fr 08:00-12:00,14:00-18:00",
        ),
        (rows((["fr", "sa"], ["22:00"], ["02:00"])), "Fr,Sa 22:00-02:00"),  # past midnight
        (rows((WEEKDAYS, ["08:00"], ["00:00"])), "Mo-Fr 08:00-24:00"),  # 00:00 is midnight
        (rows((["sa", "ph"], ["09:00"], ["17:00"])), "Sa,PH 09:00-17:00"),
        (rows((WEEKDAYS, ["09:00"], ["17:00"]), appointment=True), 'Mo-Fr 09:00-17:00 "by appointment"'),
    ],
)
def test_compose_and_read_back(week: WeekHours, value: str) -> None:
    assert compose(week) == value
    parse_opening_hours(value)
    assert decompose(value) == week


def test_24_hours_and_closed_rows() -> None:
    every = week_from_rows(
        [RowInput(WEEKDAYS + ["sa", "su"], all_day=True)], ph_closed=False, appointment=False
    )
    assert compose(every) == "24/7"
    week = week_from_rows(
        [RowInput(WEEKDAYS, ["09:00"], ["17:00"]), RowInput(["sa", "su"], closed=True)],
        ph_closed=True,
        appointment=False,
    )
    assert compose(week) == "Mo-Fr 09:00-17:00; Sa,Su off; PH off"


@pytest.mark.parametrize(
    ("spec", "flags", "words"),
    [
        ([(["mo"], ["08:00"], [""])], {}, "row 1: a time range needs a start and an end"),
        ([(["mo"], [], [])], {}, "row 1: give a time range"),
        ([([], ["08:00"], ["18:00"])], {}, "row 1: choose the days"),
        ([(["mo"], ["8"], ["18:00"])], {}, "row 1: “8” is not a time"),
        ([(["mo"], ["08:00"], ["08:00"])], {}, "row 1: start and end are the same"),
        ([(WEEKDAYS, ["08:00"], ["18:00"]), (["fr"], ["09:00"], ["12:00"])], {}, "Fri is in rows 1 and 2"),
        ([(["ph"], ["09:00"], ["12:00"])], {"ph_closed": True}, "public holidays are in row 1"),
        ([(["xx"], ["09:00"], ["12:00"])], {}, "row 1: unknown day 'xx'"),
    ],
)
def test_editor_rows_are_checked_with_the_row_named(spec, flags, words) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as info:
        rows(*spec, **flags)
    assert words in info.value.detail and info.value.param == "opening_hours"


def test_empty_rows_are_ignored_and_no_rows_is_unknown_hours() -> None:
    assert compose(rows(([], [""], [""]))) == ""
    assert decompose("") == WeekHours()


@pytest.mark.parametrize(
    "value",
    ["Jan-Mar Mo 10:00-12:00", "Mo-Fr 08:00-18:00; Fr 09:00-10:00", '"call first"', 'Mo-Fr 09:00-17:00 "x"'],
)
def test_values_beyond_the_editor_stay_raw(value: str) -> None:
    assert decompose(value) is None
    assert describe_value(value) is None


def test_equivalent_writings_are_the_same_hours() -> None:
    assert same_hours("08:00-20:00", "Mo-Su 08:00-20:00")
    assert same_hours("Mo-Fr 22:00-26:00", "Mo-Fr 22:00-02:00")
    assert not same_hours("Mo-Fr 09:00-17:00", "Mo-Sa 09:00-17:00")
    assert not same_hours("Mo-Fr 09:00-17:00", "")
    assert decompose("08:00-20:00") == rows((WEEKDAYS + ["sa", "su"], ["08:00"], ["20:00"]))


def test_the_week_in_words_english() -> None:
    assert str(describe_value("Mo-Fr 08:00-18:00; Sa 09:00-12:00; PH off")) == (
        "Mon–Fri 08:00–18:00; Sat 09:00–12:00; closed on public holidays"
    )
    assert str(describe_value("Mo-Su 08:00-20:00")) == "every day 08:00–20:00"
    assert str(describe_value("Fr,Sa 22:00-02:00")) == "Fri, Sat 22:00–02:00 next day"
    assert str(describe_value("")) == "hours unknown"
    assert isinstance(describe_value("24/7"), Msg)


# --- parser errors in words -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "position", "what"),
    [
        ("Mon-Fri 08:00-18:00", "at character 1", "write days with two letters"),
        ("Mo-Fr 8-18", "at character 7", "times need hours and minutes: 08:00-18:00"),
        ("Mo-Fr 8-6pm", "at character 9", "24-hour clock"),
        ("Mo-Fr 08:00－18:00", "at character 12", "half-width"),
        ("周一至周五 8:00-18:00", "at character 1", "Mo Tu We Th Fr Sa Su, and PH"),
        ("Mo-Fr 08:00-18:00 PH off", "at character 19", "separate rules with “;”"),
        ("Mo-Fr 08:61-18:00", "at character 7", "minutes run from 00 to 59"),
        ("Mo-Fr 08:00-", "at the end", "a time range is incomplete"),
        ("Mo-Fr 08:00-18:00;; Sa 09:00-12:00", "at character 19", "an empty rule"),
        ("08:00-18:00 Mo-Fr", "at character 13", "write the days before the times"),
        ("Mo-Fr 08.00-18.00", "at character 7", "write times with a colon"),
        ("sometimes", "at character 1", "not understood"),
    ],
)
def test_parser_errors_say_what_and_where_without_the_parsers_words(
    value: str, position: str, what: str
) -> None:
    with pytest.raises(ValidationError) as info:
        parse_opening_hours(value)
    detail = info.value.detail
    assert isinstance(detail, Msg) and info.value.param == "opening_hours"
    assert position in detail and what in detail, detail
    # None of the parser's own text: no grammar rule names, no caret drawing, no "Failed to parse".
    assert not re.search(r"Failed|expected|EOI|rule_separator|timespan|wday|-->|\^---", detail), detail
