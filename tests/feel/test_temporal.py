"""Parsing and formatting of FEEL temporal values (connector.feel.temporal)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from connector.feel import temporal
from connector.feel.values import YearsMonthsDuration

UTC = dt.UTC


def tz(hours: int, minutes: int = 0) -> dt.timezone:
    return dt.timezone(dt.timedelta(hours=hours, minutes=minutes))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-31", dt.date(2024, 1, 31)),
        ("2024-02-29", dt.date(2024, 2, 29)),
        ("0001-01-01", dt.date(1, 1, 1)),
        ("9999-12-31", dt.date(9999, 12, 31)),
    ],
)
def test_parse_date_valid(text: str, expected: dt.date) -> None:
    assert temporal.parse_date(text) == expected


@pytest.mark.parametrize(
    "text",
    ["2023-02-29", "2024-06-31", "2024-13-01", "2012/12/25", "24-01-01", "2024-1-1", "", "x"],
)
def test_parse_date_invalid(text: str) -> None:
    assert temporal.parse_date(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10:30:00", dt.time(10, 30)),
        ("T23:59:00", dt.time(23, 59)),
        ("13:30", dt.time(13, 30)),
        ("13:30+01:00", dt.time(13, 30, tzinfo=tz(1))),
        ("10:30:00.5", dt.time(10, 30, 0, 500000)),
        ("10:30:00.123456789", dt.time(10, 30, 0, 123456)),
        ("10:30:00+02:00", dt.time(10, 30, tzinfo=tz(2))),
        ("10:30:00-05:30", dt.time(10, 30, tzinfo=tz(-5, -30))),
        ("10:30:00Z", dt.time(10, 30, tzinfo=UTC)),
        ("10:30:00+00:00", dt.time(10, 30, tzinfo=UTC)),
        ("10:30:00@Europe/Berlin", dt.time(10, 30, tzinfo=ZoneInfo("Europe/Berlin"))),
    ],
)
def test_parse_time_valid(text: str, expected: dt.time) -> None:
    result = temporal.parse_time(text)
    assert result == expected
    assert result is not None and result.tzinfo == expected.tzinfo


@pytest.mark.parametrize(
    "text",
    [
        "24:00:00",
        "10:60:00",
        "10:3",
        "10:30:0",
        "10:30:00+5",
        "10:30:00+19:00",
        "10:30:00@No/Such_Zone",
        "",
    ],
)
def test_parse_time_invalid(text: str) -> None:
    assert temporal.parse_time(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-01T10:00:00", dt.datetime(2024, 1, 1, 10)),
        ("2024-01-01", dt.datetime(2024, 1, 1)),
        ("2024-01-01T10:00:00+01:00", dt.datetime(2024, 1, 1, 10, tzinfo=tz(1))),
        ("2024-01-01T10:00:00Z", dt.datetime(2024, 1, 1, 10, tzinfo=UTC)),
        (
            "2024-01-01T10:00:00@Europe/Paris",
            dt.datetime(2024, 1, 1, 10, tzinfo=ZoneInfo("Europe/Paris")),
        ),
        (
            "2024-07-01T10:00:00+02:00[Europe/Paris]",
            dt.datetime(2024, 7, 1, 10, tzinfo=ZoneInfo("Europe/Paris")),
        ),
    ],
)
def test_parse_date_and_time_valid(text: str, expected: dt.datetime) -> None:
    result = temporal.parse_date_and_time(text)
    assert result == expected
    assert result is not None and result.tzinfo == expected.tzinfo


@pytest.mark.parametrize(
    "text",
    [
        "11:00:00",
        "998-12-31T11:22:33",
        "2017-12-31T13:20:00+5",
        "2024-06-31T10:00:00",
        "2024-01-01T10:00:00[Europe/Paris]",
        "2024-01-01 10:00:00",
        "x" * 500,
    ],
)
def test_parse_date_and_time_invalid(text: str) -> None:
    assert temporal.parse_date_and_time(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P1D", dt.timedelta(days=1)),
        ("P1DT2H", dt.timedelta(days=1, hours=2)),
        ("PT555M", dt.timedelta(minutes=555)),
        ("PT0.999S", dt.timedelta(milliseconds=999)),
        ("-PT1H", dt.timedelta(hours=-1)),
        ("PT0H", dt.timedelta(0)),
        ("P1Y2M", YearsMonthsDuration(14)),
        ("P26M", YearsMonthsDuration(26)),
        ("-P1Y", YearsMonthsDuration(-12)),
        ("P0Y", YearsMonthsDuration(0)),
        ("PT-5M", dt.timedelta(minutes=-5)),
        ("P-1D", dt.timedelta(days=-1)),
        ("PT-3M-4S", dt.timedelta(minutes=-3, seconds=-4)),
        ("PT-1.5S", dt.timedelta(seconds=-1.5)),
        ("P-1Y-2M", YearsMonthsDuration(-14)),
        ("P-2M", YearsMonthsDuration(-2)),
    ],
)
def test_parse_duration_valid(text: str, expected: object) -> None:
    assert temporal.parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    ["P", "PT", "P0", "P1Y2D", "P1YT1H", "1D", "P1.5D", "PT1H2", "-", "P1W", "P99999999999D"],
)
def test_parse_duration_invalid(text: str) -> None:
    assert temporal.parse_duration(text) is None


def test_parse_temporal_literal_picks_the_type() -> None:
    assert temporal.parse_temporal_literal("2024-01-01") == dt.date(2024, 1, 1)
    assert temporal.parse_temporal_literal("10:30:11") == dt.time(10, 30, 11)
    assert temporal.parse_temporal_literal("2018-12-08T10:30:11+11:00") == dt.datetime(
        2018, 12, 8, 10, 30, 11, tzinfo=tz(11)
    )
    assert temporal.parse_temporal_literal("P1D") == dt.timedelta(days=1)
    assert temporal.parse_temporal_literal("-P2M") == YearsMonthsDuration(-2)
    assert temporal.parse_temporal_literal("foo") is None


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (dt.date(2012, 12, 25), "2012-12-25"),
        (dt.time(10, 30, 11), "10:30:11"),
        (dt.time(10, 30, 0, 500000), "10:30:00.5"),
        (dt.time(11, 59, tzinfo=tz(2, 1)), "11:59:00+02:01"),
        (dt.time(11, 59, tzinfo=tz(-2, -1)), "11:59:00-02:01"),
        (
            dt.time(10, 30, 11, tzinfo=ZoneInfo("Australia/Melbourne")),
            "10:30:11@Australia/Melbourne",
        ),
        (dt.datetime(2024, 1, 1, 10), "2024-01-01T10:00:00"),
        (dt.datetime(2024, 1, 1, 10, tzinfo=tz(1)), "2024-01-01T10:00:00+01:00"),
        (dt.datetime(2024, 1, 1, 10, tzinfo=UTC), "2024-01-01T10:00:00Z"),
        (
            dt.datetime(2024, 1, 1, 10, tzinfo=ZoneInfo("Europe/Paris")),
            "2024-01-01T10:00:00@Europe/Paris",
        ),
        (dt.timedelta(days=1, hours=2), "P1DT2H"),
        (dt.timedelta(days=2, minutes=100), "P2DT1H40M"),
        (dt.timedelta(0), "P0D"),
        (dt.timedelta(milliseconds=999), "PT0.999S"),
        (dt.timedelta(hours=-22), "-PT22H"),
        (dt.timedelta(days=-1), "-P1D"),
        (YearsMonthsDuration(14), "P1Y2M"),
        (YearsMonthsDuration(12), "P1Y"),
        (YearsMonthsDuration(-10), "-P10M"),
        (YearsMonthsDuration(0), "P0Y"),
    ],
)
def test_to_string(value: object, text: str) -> None:
    assert temporal.to_string(value) == text


def test_to_string_round_trips_through_the_parser() -> None:
    for text in ["2024-03-31T23:59:59.25-03:30", "P3DT4H5M6S", "-P5Y11M", "23:00:00@Asia/Tokyo"]:
        value = temporal.parse_temporal_literal(text)
        assert temporal.to_string(value) == text


def test_to_string_rejects_non_temporals() -> None:
    with pytest.raises(TypeError):
        temporal.to_string(Decimal(1))


@pytest.mark.parametrize(
    ("value", "name", "expected"),
    [
        (dt.date(2018, 12, 10), "weekday", Decimal(1)),
        (dt.date(2018, 12, 10), "year", Decimal(2018)),
        (dt.datetime(2018, 12, 10, 10, 30, 1), "hour", Decimal(10)),
        (dt.datetime(2018, 12, 10, 10, 30, 1), "second", Decimal(1)),
        (dt.datetime(2018, 12, 10, 10, 30, tzinfo=tz(5)), "time offset", dt.timedelta(hours=5)),
        (dt.datetime(2018, 12, 10, tzinfo=ZoneInfo("Europe/Berlin")), "timezone", "Europe/Berlin"),
        (dt.datetime(2018, 12, 10), "time offset", None),
        (dt.timedelta(minutes=2), "minutes", Decimal(2)),
        (dt.timedelta(days=-1, hours=-3), "hours", Decimal(-3)),
        (YearsMonthsDuration(14), "years", Decimal(1)),
        (YearsMonthsDuration(-14), "months", Decimal(-2)),
    ],
)
def test_temporal_property(value: object, name: str, expected: object) -> None:
    assert temporal.temporal_property(value, name) == (True, expected)


def test_temporal_property_unknown_or_other_kind() -> None:
    assert temporal.temporal_property(dt.timedelta(days=1), "years") == (True, None)
    assert temporal.temporal_property(dt.date(2020, 1, 1), "hour") == (False, None)
    assert temporal.temporal_property(dt.date(2020, 1, 1), "nope") == (False, None)
