"""FEEL equality, ordering, type names and instance of (connector.feel.semantics)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connector.feel.semantics import feel_compare, feel_equal, is_instance_of, type_name
from connector.feel.values import FeelFunction, Param, Range, YearsMonthsDuration

BERLIN = ZoneInfo("Europe/Berlin")
PLUS1 = dt.timezone(dt.timedelta(hours=1))
FUNC = FeelFunction("f", [Param("x")], lambda x: x)


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (None, "null"),
        (D(1), "number"),
        ("a", "string"),
        (True, "boolean"),
        (dt.date(2020, 1, 1), "date"),
        (dt.time(1, 2, 3), "time"),
        (dt.datetime(2020, 1, 1, 1), "date and time"),
        (dt.timedelta(days=1), "days and time duration"),
        (YearsMonthsDuration(3), "years and months duration"),
        ([D(1)], "list"),
        ({"a": D(1)}, "context"),
        (Range(D(1), True, D(2), True), "range"),
        (FUNC, "function"),
    ],
)
def test_type_name(value: Any, name: str) -> None:
    assert type_name(value) == name
    assert is_instance_of(value, name)


@pytest.mark.parametrize(
    ("value", "spec", "expected"),
    [
        (D(1), "Any", True),
        (None, "Any", False),
        (None, "Null", True),
        (None, "string", False),
        (D(1), "Null", False),
        (dt.datetime(2020, 1, 1), "date", False),
        (dt.date(2020, 1, 1), "date and time", False),
        (True, "number", False),
        ([D(1), D(2)], "list<number>", True),
        ([D(1), "a"], "list<number>", False),
        ([], "list<string>", True),
        ({"a": 1}, "context<a: number>", True),
        (YearsMonthsDuration(1), "days and time duration", False),
        (FUNC, "function<number>->number", True),
        (D(1), "function<number>->number", False),
        (Range(D(1), True, D(2), True), "range<number>", True),
        (Range(D(1), True, D(2), True), "range<string>", False),
    ],
)
def test_is_instance_of(value: Any, spec: str, expected: bool) -> None:
    assert is_instance_of(value, spec) is expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (None, None, True),
        (None, D(1), False),
        ("a", None, False),
        (D("0.30"), D("0.3"), True),
        (D(1), D(2), False),
        (D(1), "1", None),
        (True, True, True),
        (True, D(1), None),
        ("abc", "abc", True),
        ([D(1), "a"], [D(1), "a"], True),
        ([D(1)], [D(1), D(2)], False),
        ([D(1), "a"], [D(2), "a"], False),
        ([None], [None], True),
        ({"a": D(1), "b": [D(2)]}, {"b": [D(2)], "a": D(1)}, True),
        ({"a": D(1)}, {"a": D(2)}, False),
        ({"a": D(1)}, {"b": D(1)}, False),
        ([D(1)], {"a": D(1)}, None),
        (dt.date(2018, 12, 8), dt.date(2018, 12, 8), True),
        (dt.date(2018, 12, 8), dt.datetime(2018, 12, 8), None),
        (dt.date(2018, 12, 7), D(100), None),
        (dt.time(10, 30), dt.time(10, 30), True),
        (dt.time(10, 30, 1), dt.time(10, 30), False),
        # zoned values: equal only with the same offset and zone (feel-scala, Java's equals)
        (dt.time(10, 30, tzinfo=PLUS1), dt.time(9, 30, tzinfo=dt.UTC), False),
        (dt.time(10, 30, tzinfo=PLUS1), dt.time(10, 30, tzinfo=PLUS1), True),
        (dt.time(10, 30, tzinfo=PLUS1), dt.time(10, 30), None),
        (
            dt.datetime(2024, 1, 1, 10, tzinfo=BERLIN),
            dt.datetime(2024, 1, 1, 9, tzinfo=dt.UTC),
            False,
        ),
        (
            dt.datetime(2024, 1, 1, 10, tzinfo=BERLIN),
            dt.datetime(2024, 1, 1, 10, tzinfo=PLUS1),
            False,
        ),
        (
            dt.datetime(2024, 1, 1, 10, tzinfo=BERLIN),
            dt.datetime(2024, 1, 1, 10, tzinfo=BERLIN),
            True,
        ),
        (dt.datetime(2024, 1, 1, 10, tzinfo=PLUS1), dt.datetime(2024, 1, 1, 10), None),
        (dt.timedelta(0), -dt.timedelta(0), True),
        (dt.timedelta(days=1), YearsMonthsDuration(0), None),
        (YearsMonthsDuration(12), YearsMonthsDuration(12), True),
        (dt.timedelta(0), D(0), None),
        (Range(D(1), True, D(2), False), Range(D(1), True, D(2), False), True),
        (Range(D(1), True, D(2), False), Range(D(1), True, D(2), True), False),
        (FUNC, FUNC, True),
    ],
)
def test_feel_equal(a: Any, b: Any, expected: bool | None) -> None:
    assert feel_equal(a, b) is expected
    assert feel_equal(b, a) is expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (D(1), D(2), -1),
        (D("2.0"), D(2), 0),
        (D(3), D(2), 1),
        ("a", "b", -1),
        ("b", "B", 1),
        (dt.date(2020, 1, 2), dt.date(2020, 1, 1), 1),
        (dt.time(10, 33), dt.time(10, 34), -1),
        (dt.time(10, 0, tzinfo=PLUS1), dt.time(9, 30, tzinfo=dt.UTC), -1),
        (dt.datetime(2020, 1, 1, 10), dt.datetime(2020, 1, 1, 9), 1),
        (dt.timedelta(days=2), dt.timedelta(days=4), -1),
        (YearsMonthsDuration(120), YearsMonthsDuration(108), 1),
        (None, D(1), None),
        (None, None, None),
        (True, False, None),
        (D(1), "1", None),
        ([D(1)], [D(2)], None),
        ({"a": D(1)}, {"a": D(1)}, None),
        (dt.date(2020, 1, 1), dt.datetime(2020, 1, 1), None),
        (dt.datetime(2020, 1, 1, tzinfo=PLUS1), dt.datetime(2020, 1, 1), None),
        (dt.timedelta(days=1), YearsMonthsDuration(1), None),
    ],
)
def test_feel_compare(a: Any, b: Any, expected: int | None) -> None:
    assert feel_compare(a, b) == expected
    mirrored = None if expected is None else -expected
    assert feel_compare(b, a) == mirrored
