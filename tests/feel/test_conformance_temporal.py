"""FEEL conformance: temporal literals, construction, arithmetic, comparison, properties and
temporal built-in functions."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.feel.conftest import UTC, Case, Satisfies, cases, check, tz, ym

D = dt.date
T = dt.time
DT = dt.datetime
TD = dt.timedelta
BERLIN = ZoneInfo("Europe/Berlin")
PARIS = ZoneInfo("Europe/Paris")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")


def _is_today(value: Any) -> bool:
    return type(value) is D and abs((value - D.today()).days) <= 1


def _is_now(value: Any) -> bool:
    if type(value) is not DT or value.tzinfo is None:
        return False
    return abs((value - DT.now(UTC)).total_seconds()) < 300


LITERALS: list[Case] = [
    ('date("2017-03-10")', None, D(2017, 3, 10)),
    ('@"2017-03-10"', None, D(2017, 3, 10)),
    ('date("2024-02-29")', None, D(2024, 2, 29)),
    ('time("11:45:30")', None, T(11, 45, 30)),
    ('@"11:45:30"', None, T(11, 45, 30)),
    ('time("13:30")', None, T(13, 30)),
    ('time("11:45:30+02:00")', None, T(11, 45, 30, tzinfo=tz(2))),
    ('@"11:45:30+02:00"', None, T(11, 45, 30, tzinfo=tz(2))),
    ('time("00:00:00")', None, T(0, 0, 0)),
    ('date and time("2015-09-18T10:31:10")', None, DT(2015, 9, 18, 10, 31, 10)),
    ('@"2015-09-18T10:31:10"', None, DT(2015, 9, 18, 10, 31, 10)),
    ('date and time("2015-09-18T10:31:10Z")', None, DT(2015, 9, 18, 10, 31, 10, tzinfo=UTC)),
    (
        'date and time("2015-09-18T10:31:10+01:00")',
        None,
        DT(2015, 9, 18, 10, 31, 10, tzinfo=tz(1)),
    ),
    (
        'date and time("2015-09-18T10:31:10-05:30")',
        None,
        DT(2015, 9, 18, 10, 31, 10, tzinfo=tz(-5, 30)),
    ),
    (
        '@"2015-09-18T10:31:10@Europe/Paris"',
        None,
        DT(2015, 9, 18, 10, 31, 10, tzinfo=PARIS),
    ),
    (
        'date and time("2015-09-18T10:31:10+02:00[Europe/Paris]")',
        None,
        DT(2015, 9, 18, 10, 31, 10, tzinfo=PARIS),
    ),
    (
        'date and time("2015-01-18T10:31:10@Europe/Berlin")',
        None,
        DT(2015, 1, 18, 10, 31, 10, tzinfo=BERLIN),
    ),
    ('date and time("2015-09-18T10:31:10.5")', None, DT(2015, 9, 18, 10, 31, 10, 500000)),
    ('duration("P4D")', None, TD(days=4)),
    ('duration("PT2H")', None, TD(hours=2)),
    ('duration("PT30M")', None, TD(minutes=30)),
    ('duration("P1DT6H")', None, TD(days=1, hours=6)),
    ('duration("PT90M")', None, TD(minutes=90)),
    ('duration("PT1.5S")', None, TD(seconds=1.5)),
    ('duration("-PT5H")', None, TD(hours=-5)),
    ('duration("P2DT3H4M5S")', None, TD(days=2, hours=3, minutes=4, seconds=5)),
    ('@"P4D"', None, TD(days=4)),
    ('@"PT6H"', None, TD(hours=6)),
    ('duration("P2Y")', None, ym(2)),
    ('duration("P6M")', None, ym(0, 6)),
    ('duration("P1Y6M")', None, ym(1, 6)),
    ('duration("P14M")', None, ym(1, 2)),
    ('duration("-P2M")', None, ym(0, -2)),
    ('@"P1Y6M"', None, ym(1, 6)),
    ('@"P3M"', None, ym(0, 3)),
    ('date("2024-06-31")', None, None),
    ('date("2023-02-29")', None, None),
    ('date("not a date")', None, None),
    ('date and time("2024-06-31T10:00:00")', None, None),
    ('time("25:00:00")', None, None),
    ('duration("xyz")', None, None),
    ('duration("P")', None, None),
    ("date(x)", {"x": "2021-03-04"}, D(2021, 3, 4)),
    ("date(x)", {"x": None}, None),
]

CONSTRUCTION: list[Case] = [
    ("date(2012, 12, 25)", None, D(2012, 12, 25)),
    ("date(2024, 6, 31)", None, None),
    ('date(date and time("2012-12-25T11:00:00"))', None, D(2012, 12, 25)),
    ("time(23, 59, 0)", None, T(23, 59, 0)),
    ('time(14, 30, 0, duration("PT1H"))', None, T(14, 30, tzinfo=tz(1))),
    ('time(date and time("2012-12-25T11:00:00"))', None, T(11, 0, 0)),
    ('time("12:00:00")', None, T(12, 0, 0)),
    (
        'date and time(date("2012-12-24"), time("T23:59:00"))',
        None,
        DT(2012, 12, 24, 23, 59),
    ),
    (
        'date and time(date and time("2012-12-25T11:00:00"), time("T23:59:00"))',
        None,
        DT(2012, 12, 25, 23, 59),
    ),
    (
        'date and time(date("2012-12-24"), time("10:00:00+01:00"))',
        None,
        DT(2012, 12, 24, 10, 0, tzinfo=tz(1)),
    ),
    (
        'date and time(@"2020-07-31T14:27:30@Europe/Berlin", "America/Los_Angeles")',
        None,
        DT(2020, 7, 31, 5, 27, 30, tzinfo=LOS_ANGELES),
    ),
    ('date and time("2018-04-29T09:30:00")', None, DT(2018, 4, 29, 9, 30)),
    (
        'years and months duration(date("2011-12-22"), date("2013-08-24"))',
        None,
        ym(1, 8),
    ),
    ('years and months duration(date("2020-01-01"), date("2020-12-31"))', None, ym(0, 11)),
    ('duration("P5D")', None, TD(days=5)),
    ('duration("P32Y")', None, ym(32)),
]

ARITHMETIC: list[Case] = [
    ('date("2020-04-06") + duration("P1D")', None, D(2020, 4, 7)),
    ('time("08:00:00") + duration("PT1H")', None, T(9, 0, 0)),
    ('date and time("2020-04-06T08:00:00") + duration("P7D")', None, DT(2020, 4, 13, 8)),
    ('duration("P2D") + duration("P5D")', None, TD(days=7)),
    ('date("2020-04-06") - date("2020-04-01")', None, TD(days=5)),
    ('date("2020-04-06") - duration("P5D")', None, D(2020, 4, 1)),
    ('time("08:00:00") - time("06:00:00")', None, TD(hours=2)),
    ('time("08:00:00") - duration("PT2H")', None, T(6, 0, 0)),
    ('duration("P7D") - duration("P2D")', None, TD(days=5)),
    ('duration("P1Y") - duration("P3M")', None, ym(0, 9)),
    ('duration("P1D") * 5', None, TD(days=5)),
    ('duration("P1M") * 6', None, ym(0, 6)),
    ('2 * duration("PT1H")', None, TD(hours=2)),
    ('duration("P5D") / duration("P1D")', None, 5),
    ('duration("P5D") / 5', None, TD(days=1)),
    ('duration("P1Y") / duration("P1M")', None, 12),
    ('duration("P1Y") / 12', None, ym(0, 1)),
    ('duration("P1Y") + duration("P6M")', None, ym(1, 6)),
    ('duration("P1Y6M") - duration("P2Y")', None, ym(0, -6)),
    ('duration("PT1H") + duration("PT30M")', None, TD(minutes=90)),
    ('duration("P1D") + date("2020-04-06")', None, D(2020, 4, 7)),
    ('date("2012-12-24") + duration("P1M")', None, D(2013, 1, 24)),
    ('date("2024-01-31") + duration("P1M")', None, D(2024, 2, 29)),
    ('date("2024-02-29") + duration("P1Y")', None, D(2025, 2, 28)),
    ('date("2020-04-06") + duration("PT36H")', None, D(2020, 4, 7)),
    ('date("2021-01-01") - date("2020-01-01")', None, TD(days=366)),
    ('date and time("2020-01-31T10:00:00") + duration("P1M")', None, DT(2020, 2, 29, 10)),
    ('date and time("2020-04-06T23:00:00") + duration("PT2H")', None, DT(2020, 4, 7, 1)),
    (
        'date and time("2020-04-06T10:00:00") - date and time("2020-04-05T08:30:00")',
        None,
        TD(days=1, hours=1, minutes=30),
    ),
    (
        'date and time("2020-04-06T10:00:00+02:00") - date and time("2020-04-06T08:00:00Z")',
        None,
        TD(0),
    ),
    (
        'date and time("2020-04-06T10:00:00+02:00") + duration("PT1H")',
        None,
        DT(2020, 4, 6, 11, tzinfo=tz(2)),
    ),
    ('date and time("2020-04-06T10:00:00") - duration("P1Y")', None, DT(2019, 4, 6, 10)),
    ('time("23:00:00") + duration("PT2H")', None, T(1, 0, 0)),
    ('date("2020-04-06") + date("2020-04-06")', None, None),
    ('duration("P1D") + duration("P1M")', None, None),
    ('duration("P1Y") * duration("P1Y")', None, None),
    ('date("2020-01-01") - 1', None, None),
    ('duration("P1D") / 0', None, None),
    ('d + duration("P1D")', {"d": D(2024, 12, 31)}, D(2025, 1, 1)),
    ("end - start", {"start": D(2024, 1, 1), "end": D(2024, 3, 1)}, TD(days=60)),
]

COMPARISONS: list[Case] = [
    ('date and time("2020-01-01T10:00:00") > date and time("2020-01-01T09:59:59")', None, True),
    ('duration("PT24H") = duration("P1D")', None, True),
    ('duration("P12M") = duration("P1Y")', None, True),
    ('duration("P1D") < duration("PT25H")', None, True),
    ('duration("P1Y") > duration("P11M")', None, True),
    ('date("2020-01-01") = date("2020-01-01")', None, True),
    ('date("2020-01-01") != date("2020-01-02")', None, True),
    ('@"2020-01-01" = date("2020-01-01")', None, True),
    ('time("10:00:00") > time("09:00:00")', None, True),
    ('date("2020-01-01") = date and time("2020-01-01T00:00:00")', None, None),
    ('date("2020-01-01") < date and time("2020-01-02T00:00:00")', None, None),
    ('duration("P1D") = duration("P1M")', None, None),
    ('max([date("2020-01-01"), date("2021-01-01")])', None, D(2021, 1, 1)),
    ('min(date("2020-01-01"), date("2019-01-01"))', None, D(2019, 1, 1)),
    ('d > date("2020-01-01")', {"d": D(2021, 1, 1)}, True),
    ('x < date and time("2030-01-01T00:00:00Z")', {"x": DT(2024, 1, 1, tzinfo=UTC)}, True),
    ('now() > date and time("2020-01-01T00:00:00Z")', None, True),
    ('today() > date("2020-01-01")', None, True),
    ('before(date("2020-01-01"), date("2020-01-02"))', None, True),
]

# Zoned times and dates and times are equal only when local value, offset and zone all agree
# (feel-scala compares them with Java's equals); the order still follows the instant.
ZONED_EQUALITY: list[Case] = [
    ('@"2023-03-05T08:15:00+01:00" = @"2023-03-05T07:15:00Z"', None, False),
    ('@"2023-03-05T08:15:00+01:00" != @"2023-03-05T07:15:00Z"', None, True),
    ('@"2023-03-05T08:15:00+01:00" <= @"2023-03-05T07:15:00Z"', None, True),
    ('@"2023-03-05T08:15:00+01:00" >= @"2023-03-05T07:15:00Z"', None, True),
    ('@"2023-03-05T08:15:00+01:00" = @"2023-03-05T08:15:00+01:00"', None, True),
    ('@"2023-03-05T07:15:00Z" = @"2023-03-05T07:15:00+00:00"', None, True),
    ('@"2023-03-05T08:15:00@Europe/Paris" = @"2023-03-05T08:15:00+01:00"', None, False),
    ('@"2023-03-05T08:15:00@Europe/Paris" = @"2023-03-05T08:15:00@Europe/Paris"', None, True),
    ('@"2023-03-05T08:15:00@Europe/Paris" = @"2023-03-05T08:15:00@Europe/Berlin"', None, False),
    ('time("16:45:00-05:00") = time("21:45:00Z")', None, False),
    ('time("16:45:00-05:00") = time("16:45:00-05:00")', None, True),
    ('time("16:45:00-05:00") < time("21:46:00Z")', None, True),
    ("x = y", {"x": DT(2023, 3, 5, 8, tzinfo=BERLIN), "y": DT(2023, 3, 5, 7, tzinfo=UTC)}, False),
    ("x = y", {"x": DT(2023, 3, 5, 8, tzinfo=tz(1)), "y": DT(2023, 3, 5, 8, tzinfo=tz(1))}, True),
    # the same rule inside lists, contexts and the list functions
    ('[@"2023-03-05T08:15:00+01:00"] = [@"2023-03-05T07:15:00Z"]', None, False),
    ('{at: time("08:00:00+01:00")} = {at: time("07:00:00Z")}', None, False),
    ('list contains([@"2023-03-05T07:15:00Z"], @"2023-03-05T08:15:00+01:00")', None, False),
    ('index of([time("08:00:00+01:00"), time("07:00:00Z")], time("07:00:00Z"))', None, [2]),
    (
        'count(distinct values([@"2023-03-05T08:15:00+01:00", @"2023-03-05T07:15:00Z", '
        '@"2023-03-05T08:15:00+01:00"]))',
        None,
        2,
    ),
    (
        'count(union([time("08:00:00+01:00")], [time("07:00:00Z"), time("08:00:00+01:00")]))',
        None,
        2,
    ),
    (
        'duplicate values([time("08:00:00+01:00"), time("07:00:00Z"), time("08:00:00+01:00")])',
        None,
        [T(8, tzinfo=tz(1))],
    ),
    ('@"2023-03-05T07:15:00Z" in [@"2023-03-05T08:15:00+01:00"]', None, False),
]

PROPERTIES: list[Case] = [
    ('date("2020-04-06").year', None, 2020),
    ('date("2020-04-06").month', None, 4),
    ('date("2020-04-06").day', None, 6),
    ('date("2020-04-06").weekday', None, 1),
    ('date("2019-09-17").weekday', None, 2),
    ('@"2017-03-10".year', None, 2017),
    ('time("08:00:00").hour', None, 8),
    ('time("08:15:30").minute', None, 15),
    ('time("08:15:30").second', None, 30),
    ('time("08:00:00").time offset', None, None),
    ('time("08:00:00+01:00").time offset', None, TD(hours=1)),
    ('date and time("2020-04-06T08:00:00+02:00").time offset', None, TD(hours=2)),
    ('date and time("2020-04-06T08:00:00Z").time offset', None, TD(0)),
    ('date and time("2020-04-06T08:00:00@Europe/Berlin").timezone', None, "Europe/Berlin"),
    ('date and time("2020-04-06T08:00:00").timezone', None, None),
    ('date and time("2020-04-06T08:05:09").year', None, 2020),
    ('date and time("2020-04-06T08:05:09").day', None, 6),
    ('date and time("2020-04-06T08:05:09").hour', None, 8),
    ('date and time("2020-04-06T08:05:09").minute', None, 5),
    ('date and time("2020-04-06T08:05:09").second', None, 9),
    ('date and time("2024-12-25T10:00:00").weekday', None, 3),
    ('duration("PT2H30M").hours', None, 2),
    ('duration("PT2H30M").minutes', None, 30),
    ('duration("P2DT3H4M5S").days', None, 2),
    ('duration("P2DT3H4M5S").seconds', None, 5),
    ('duration("PT26H").days', None, 1),
    ('duration("PT26H").hours', None, 2),
    ('duration("P6M").months', None, 6),
    ('duration("P2Y3M").years', None, 2),
    ('duration("P14M").years', None, 1),
    ('duration("P14M").months', None, 2),
    ('date("2020-04-06").foo', None, None),
    ("x.year", {"x": "2020-01-01"}, None),
    ("(today() - today()).days", None, 0),
    ('date("2020-04-06").year + 1', None, 2021),
]

FUNCTIONS: list[Case] = [
    ('day of week(date("2019-09-17"))', None, "Tuesday"),
    ('day of week(date("2024-01-01"))', None, "Monday"),
    ('day of week(date and time("2019-09-17T23:00:00"))', None, "Tuesday"),
    ('day of year(date("2019-09-17"))', None, 260),
    ('day of year(date("2024-12-31"))', None, 366),
    ('day of year(date("2023-01-01"))', None, 1),
    ('week of year(date("2019-09-17"))', None, 38),
    ('week of year(date("2021-01-03"))', None, 53),
    ('week of year(date("2021-01-04"))', None, 1),
    ('month of year(date("2019-09-17"))', None, "September"),
    ('month of year(date("2024-02-01"))', None, "February"),
    ('last day of month(date("2022-10-01"))', None, D(2022, 10, 31)),
    ('last day of month(date and time("2022-10-16T12:00:00"))', None, D(2022, 10, 31)),
    ('last day of month(date("2024-02-10"))', None, D(2024, 2, 29)),
    ('last day of month(date("2023-02-10"))', None, D(2023, 2, 28)),
    ('abs(duration("-PT5H"))', None, TD(hours=5)),
    ('abs(duration("PT5H"))', None, TD(hours=5)),
    ('abs(duration("-P2M"))', None, ym(0, 2)),
    ("today() instance of date", None, True),
    ("now() instance of date and time", None, True),
    ("today()", None, Satisfies(_is_today, "today's date")),
    ("now()", None, Satisfies(_is_now, "a zone-aware date and time close to now")),
    ('string(date("2012-12-25"))', None, "2012-12-25"),
    ('string(time("10:30:00"))', None, "10:30:00"),
    ('string(date and time("2012-12-25T10:30:00"))', None, "2012-12-25T10:30:00"),
    ('string(date and time("2012-12-25T10:30:00+01:00"))', None, "2012-12-25T10:30:00+01:00"),
    ('string(date and time("2012-12-25T10:30:00Z"))', None, "2012-12-25T10:30:00Z"),
    (
        'string(date and time("2012-12-25T10:30:00@Europe/Paris"))',
        None,
        "2012-12-25T10:30:00@Europe/Paris",
    ),
    ('string(duration("P1DT2H"))', None, "P1DT2H"),
    ('string(duration("P2D"))', None, "P2D"),
    ('string(duration("PT90M"))', None, "PT1H30M"),
    ('string(duration("PT36H"))', None, "P1DT12H"),
    ('string(duration("P1Y2M"))', None, "P1Y2M"),
    ('string(duration("P14M"))', None, "P1Y2M"),
    ('day of week("2019-09-17")', None, None),
    ("month of year(null)", None, None),
]


@pytest.mark.parametrize(("expression", "context", "expected"), cases(LITERALS))
def test_temporal_literals(expression: str, context: dict[str, Any] | None, expected: Any) -> None:
    check(expression, context, expected)


@pytest.mark.parametrize(("expression", "context", "expected"), cases(CONSTRUCTION))
def test_temporal_construction(
    expression: str, context: dict[str, Any] | None, expected: Any
) -> None:
    check(expression, context, expected)


@pytest.mark.parametrize(("expression", "context", "expected"), cases(ARITHMETIC))
def test_temporal_arithmetic(
    expression: str, context: dict[str, Any] | None, expected: Any
) -> None:
    check(expression, context, expected)


@pytest.mark.parametrize(("expression", "context", "expected"), cases(COMPARISONS))
def test_temporal_comparisons(
    expression: str, context: dict[str, Any] | None, expected: Any
) -> None:
    check(expression, context, expected)


@pytest.mark.parametrize(("expression", "context", "expected"), cases(ZONED_EQUALITY))
def test_zoned_equality_needs_same_offset_and_zone(
    expression: str, context: dict[str, Any] | None, expected: Any
) -> None:
    check(expression, context, expected)


@pytest.mark.parametrize(("expression", "context", "expected"), cases(PROPERTIES))
def test_temporal_properties(
    expression: str, context: dict[str, Any] | None, expected: Any
) -> None:
    check(expression, context, expected)


@pytest.mark.parametrize(("expression", "context", "expected"), cases(FUNCTIONS))
def test_temporal_functions(expression: str, context: dict[str, Any] | None, expected: Any) -> None:
    check(expression, context, expected)
