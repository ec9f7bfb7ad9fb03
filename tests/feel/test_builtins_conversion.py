"""Conversion built-ins: date, time, date and time, duration, number, string, JSON."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connector.feel.values import FeelFunction, FeelFunctionError, Param, Range, YearsMonthsDuration
from tests.helpers.feel import call

PLUS2 = dt.timezone(dt.timedelta(hours=2))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (D("1.1"), "1.1"),
        (D(2), "2"),
        (D("1E+2"), "100"),
        (D("-0"), "0"),
        (D("0.000001"), "0.000001"),
        ("abc", "abc"),
        (True, "true"),
        (False, "false"),
        (dt.date(2012, 12, 25), "2012-12-25"),
        (
            dt.time(10, 30, 11, tzinfo=ZoneInfo("Australia/Melbourne")),
            "10:30:11@Australia/Melbourne",
        ),
        (dt.datetime(2024, 1, 1, 10, tzinfo=PLUS2), "2024-01-01T10:00:00+02:00"),
        (dt.timedelta(days=1, hours=2), "P1DT2H"),
        (YearsMonthsDuration(14), "P1Y2M"),
        ([D(1), "a", None], '[1, "a", null]'),
        ({"a": D(1), "b c": "x"}, '{a:1, b c:"x"}'),
        (Range(D(1), True, D(10), False), "[1..10)"),
        (Range(None, False, D(10), True), "(..10]"),
    ],
)
def test_string(value: Any, expected: str) -> None:
    assert call("string", value) == expected


def test_string_of_null_and_function() -> None:
    assert call("string", None) is None
    # feel-scala: a function value's text names its parameters only
    assert call("string", FeelFunction("f", [Param("x")], lambda x: x)) == "function(x)"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("1500.5",), D("1500.5")),
        (("-12",), D(-12)),
        (("1e3",), D(1000)),
        ((".5",), D("0.5")),
        (("1,500", ","), D(1500)),
        (("1,000,000.01", ",", "."), D("1000000.01")),
        (("1 500.5", " ", "."), D("1500.5")),
        (("1.000.000,01", ".", ","), D("1000000.01")),
        (("1000000.01", None, "."), D("1000000.01")),
        (("1,000,000", ",", None), D(1000000)),
        (("1,000,000.00", ",", None), D(1000000)),
    ],
)
def test_number(args: tuple[Any, ...], expected: D) -> None:
    assert call("number", *args) == expected


def test_number_named() -> None:
    result = call("number", from_="1.000.000,01", decimal_separator=",", grouping_separator=".")
    assert result == D("1000000.01")


@pytest.mark.parametrize(
    "args",
    [
        ("foo",),
        ("",),
        ("1,5",),
        ("NaN",),
        ("Infinity",),
        (None,),
        (123,),
        ("1,000,000.01", 123, "."),
        ("1,000,000.01", ",", ":"),
        ("1,000,000.00", ".", "."),
        ("foo,bar.001", ".", ","),
        ("1.5", " ", ","),
    ],
)
def test_number_invalid(args: tuple[Any, ...]) -> None:
    with pytest.raises(FeelFunctionError, match=r"^number: "):
        call("number", *args)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("2018-04-29",), dt.date(2018, 4, 29)),
        ((dt.datetime(2012, 12, 25, 11),), dt.date(2012, 12, 25)),
        ((dt.date(2012, 12, 25),), dt.date(2012, 12, 25)),
        ((2012, 12, 25), dt.date(2012, 12, 25)),
    ],
)
def test_date(args: tuple[Any, ...], expected: dt.date) -> None:
    result = call("date", *args)
    assert result == expected and type(result) is dt.date


@pytest.mark.parametrize(
    "args", [("2012/12/25",), ("2024-06-31",), (2017, -8, 2), (2024, 6, 31), (None,), (1,)]
)
def test_date_invalid(args: tuple[Any, ...]) -> None:
    with pytest.raises(FeelFunctionError, match=r"^date: "):
        call("date", *args)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("12:00:00",), dt.time(12)),
        (("10:30:00+02:00",), dt.time(10, 30, tzinfo=PLUS2)),
        ((dt.datetime(2017, 8, 10, 10, 20),), dt.time(10, 20)),
        ((dt.datetime(2017, 8, 10, 10, 20, tzinfo=PLUS2),), dt.time(10, 20, tzinfo=PLUS2)),
        ((23, 59, 0), dt.time(23, 59)),
        ((23, 59, 1.5), dt.time(23, 59, 1, 500000)),
        (
            (14, 30, 0, dt.timedelta(hours=1)),
            dt.time(14, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        ),
        (
            (11, 59, 0, dt.timedelta(hours=-2, minutes=-1)),
            dt.time(11, 59, tzinfo=dt.timezone(dt.timedelta(hours=-2, minutes=-1))),
        ),
        ((11, 59, 0, dt.timedelta(0)), dt.time(11, 59, tzinfo=dt.UTC)),
    ],
)
def test_time(args: tuple[Any, ...], expected: dt.time) -> None:
    result = call("time", *args)
    assert result == expected and result.tzinfo == expected.tzinfo


@pytest.mark.parametrize(
    "args",
    [("25:00:00",), ("foo",), (12, 11, None, None), (12, None, 0), (24, 0, 0), (1, 2, 3, "PT1H")],
)
def test_time_invalid(args: tuple[Any, ...]) -> None:
    with pytest.raises(FeelFunctionError, match=r"^time: "):
        call("time", *args)


def test_date_and_time() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    assert call("date and time", "2018-04-29T09:30:00") == dt.datetime(2018, 4, 29, 9, 30)
    assert call("date and time", "2018-04-29T09:30:00@Europe/Berlin").tzinfo == berlin
    assert call("date and time", dt.date(2012, 12, 24), dt.time(23, 59)) == dt.datetime(
        2012, 12, 24, 23, 59
    )
    combined = call(
        "date and time", dt.datetime(2017, 8, 10, 10, 20, tzinfo=PLUS2), dt.time(23, 59, 1)
    )
    assert combined == dt.datetime(2017, 8, 10, 23, 59, 1) and combined.tzinfo is None
    zoned = call("date and time", dt.date(2017, 9, 5), dt.time(9, 15, tzinfo=berlin))
    assert zoned.tzinfo == berlin
    moved = call(
        "date and time", dt.datetime(2020, 7, 31, 14, 27, 30, tzinfo=berlin), "America/Los_Angeles"
    )
    assert moved == dt.datetime(2020, 7, 31, 14, 27, 30, tzinfo=berlin)
    assert (moved.hour, moved.tzinfo) == (5, ZoneInfo("America/Los_Angeles"))
    utc = call("date and time", dt.datetime(2020, 7, 31, 14, 27, tzinfo=PLUS2), "Z")
    assert (utc.hour, utc.tzinfo) == (12, dt.UTC)
    placed = call("date and time", dt.datetime(2020, 7, 31, 14, 27), "Z")
    assert (placed.hour, placed.tzinfo) == (14, dt.UTC)
    named = call("date and time", date=dt.date(2020, 1, 1), time=dt.time(1))
    assert named == dt.datetime(2020, 1, 1, 1)


@pytest.mark.parametrize(
    "args",
    [
        ("11:00:00",),
        ("2017-12-31T13:20:00+5",),
        (dt.datetime(2017, 8, 10), None),
        ("2020-01-01", dt.time(1)),
        (dt.datetime(2020, 1, 1, tzinfo=PLUS2), "No/Where"),
        (dt.date(2020, 1, 1), "Europe/Berlin"),
        (1,),
    ],
)
def test_date_and_time_invalid(args: tuple[Any, ...]) -> None:
    with pytest.raises(FeelFunctionError, match=r"^date and time: "):
        call("date and time", *args)


def test_duration() -> None:
    assert call("duration", "P5D") == dt.timedelta(days=5)
    assert call("duration", "P32Y") == YearsMonthsDuration(384)
    assert call("duration", "-PT1H") == dt.timedelta(hours=-1)
    for bad in ["P1Y2D", "P0", "foo", None, 5]:
        with pytest.raises(FeelFunctionError, match=r"^duration: "):
            call("duration", bad)


@pytest.mark.parametrize(
    ("start", "end", "months"),
    [
        (dt.date(2011, 12, 22), dt.date(2013, 8, 24), 20),
        (dt.date(2013, 8, 24), dt.date(2011, 12, 22), -20),
        (dt.date(2016, 1, 1), dt.date(2016, 1, 1), 0),
        (dt.date(2016, 1, 31), dt.date(2016, 2, 29), 0),
        (dt.datetime(2015, 12, 31, 23, 59, 59), dt.datetime(2018, 10, 1, 12, 32, 59), 33),
        (dt.date(2013, 8, 24), dt.datetime(2017, 12, 15, 0, 59, 59), 51),
        (dt.datetime(2016, 12, 31, 0, 0, 1), dt.datetime(2017, 12, 31, 23, 59, 59), 12),
        (dt.datetime(2016, 12, 31, 12), dt.datetime(2017, 12, 31, 11), 11),
    ],
)
def test_years_and_months_duration(start: Any, end: Any, months: int) -> None:
    assert call("years and months duration", start, end) == YearsMonthsDuration(months)


def test_years_and_months_duration_invalid() -> None:
    with pytest.raises(FeelFunctionError, match=r"^years and months duration: "):
        call("years and months duration", "2011-12-22", dt.date(2013, 8, 24))


def test_json_round_trip() -> None:
    parsed = call("from json", '{"a": 1, "b": [true, null, 2.5, "x"]}')
    assert parsed == {"a": D(1), "b": [True, None, D("2.5"), "x"]}
    assert isinstance(parsed["a"], D)
    assert (
        call("to json", {"a": D(1), "b": [True, None, D("2.5")]}) == '{"a":1,"b":[true,null,2.5]}'
    )
    assert call("to json", dt.date(2023, 6, 14)) == '"2023-06-14"'
    assert call("to json", YearsMonthsDuration(36)) == '"P3Y"'
    zoned = dt.datetime(2025, 11, 24, 10, tzinfo=ZoneInfo("Europe/Berlin"))
    assert call("to json", zoned) == '"2025-11-24T10:00:00+01:00[Europe/Berlin]"'
    with pytest.raises(FeelFunctionError, match=r"^from json: "):
        call("from json", "{not json")
