"""Temporal built-ins and the injectable clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from connector.feel.builtins import set_clock
from connector.feel.values import FeelFunctionError
from tests.helpers.feel import call


@pytest.fixture
def fixed_clock() -> Iterator[dt.datetime]:
    moment = dt.datetime(2020, 7, 31, 14, 27, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    set_clock(lambda: moment)
    yield moment
    set_clock(None)


def test_now_and_today_use_the_injected_clock(fixed_clock: dt.datetime) -> None:
    assert call("now") is fixed_clock
    assert call("today") == dt.date(2020, 7, 31)
    assert type(call("today")) is dt.date


def test_system_clock_is_restored_and_zone_aware() -> None:
    set_clock(None)
    before = dt.datetime.now(dt.UTC)
    now = call("now")
    assert now.tzinfo is not None
    assert abs(now - before) < dt.timedelta(minutes=1)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("day of year", dt.date(2019, 9, 17), 260),
        ("day of year", dt.datetime(2019, 9, 17, 12), 260),
        ("day of week", dt.date(2019, 9, 17), "Tuesday"),
        ("day of week", dt.datetime(2019, 9, 22, 12), "Sunday"),
        ("month of year", dt.date(2019, 9, 17), "September"),
        ("month of year", dt.datetime(2019, 1, 17, 10, 10, 10), "January"),
        ("week of year", dt.date(2019, 9, 17), 38),
        ("week of year", dt.date(2010, 1, 1), 53),
        ("week of year", dt.date(2019, 12, 30), 1),
        ("last day of month", dt.date(2022, 10, 1), dt.date(2022, 10, 31)),
        ("last day of month", dt.datetime(2022, 10, 16, 12), dt.date(2022, 10, 31)),
        ("last day of month", dt.date(2024, 2, 3), dt.date(2024, 2, 29)),
        ("last day of month", dt.date(2023, 2, 3), dt.date(2023, 2, 28)),
    ],
)
def test_temporal_functions(name: str, value: Any, expected: Any) -> None:
    result = call(name, value)
    assert result == expected
    assert type(result) is not dt.datetime


@pytest.mark.parametrize(
    "name", ["day of year", "day of week", "month of year", "week of year", "last day of month"]
)
@pytest.mark.parametrize("value", [None, "2019-09-17", dt.time(10), 5])
def test_temporal_functions_reject_non_dates(name: str, value: Any) -> None:
    with pytest.raises(FeelFunctionError, match=f"^{name}: "):
        call(name, value)


def test_named_parameter() -> None:
    assert call("day of week", date=dt.date(2019, 9, 17)) == "Tuesday"
