"""Numeric built-ins."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from typing import Any

import pytest

from connector.feel.values import FeelFunctionError, YearsMonthsDuration
from tests.helpers.feel import call


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        ("decimal", (D(1) / D(3), 2), D("0.33")),
        ("decimal", (1.5, 0), 2),
        ("decimal", (2.5, 0), 2),
        ("decimal", (2.5, 0, "half_up"), 3),
        ("decimal", (D(1) / D(3), 2.5), D("0.33")),
        ("decimal", (0.515, 2), D("0.52")),
        ("decimal", (65.123456, 6), D("65.123456")),
        ("decimal", (15, -1), 20),
        ("decimal", (-2.5, 0, "UP"), -3),
        ("decimal", (-2.5, 0, "floor"), -3),
        ("decimal", (-2.5, 0, "CeiLing"), -2),
        ("decimal", (-5.5, 0, "HALF_DOWN"), -5),
        ("decimal", (1.0, 0, "UNNECESSARY"), 1),
        ("floor", (1.5,), 1),
        ("floor", (-1.5,), -2),
        ("floor", (0.3333,), 0),
        ("floor", (-1.56, 1), D("-1.6")),
        ("floor", (1.56, 1), D("1.5")),
        ("ceiling", (1.5,), 2),
        ("ceiling", (-1.5,), -1),
        ("ceiling", (-0.3333,), 0),
        ("ceiling", (-1.56, 1), D("-1.5")),
        ("round up", (5.5,), 6),
        ("round up", (-5.5,), -6),
        ("round up", (1.121, 2), D("1.13")),
        ("round up", (-1.126, 2), D("-1.13")),
        ("round up", (5.5, 6176), D("5.5")),
        ("round down", (5.5,), 5),
        ("round down", (-5.5,), -5),
        ("round down", (1.121, 2), D("1.12")),
        ("round down", (-1.126, 2), D("-1.12")),
        ("round half up", (5.5,), 6),
        ("round half up", (-5.5,), -6),
        ("round half up", (1.121, 2), D("1.12")),
        ("round half up", (-1.126, 2), D("-1.13")),
        ("round half down", (5.5,), 5),
        ("round half down", (-5.5,), -5),
        ("round half down", (1.125, 2), D("1.12")),
        ("round half down", (-1.126, 2), D("-1.13")),
        ("abs", (10,), 10),
        ("abs", (-10,), 10),
        ("abs", (0,), 0),
        ("abs", (dt.timedelta(hours=-5),), dt.timedelta(hours=5)),
        ("abs", (YearsMonthsDuration(-2),), YearsMonthsDuration(2)),
        ("modulo", (12, 5), 2),
        ("modulo", (10, 4), 2),
        ("modulo", (10, -4), -2),
        ("modulo", (-10, 4), 2),
        ("modulo", (0, 4), 0),
        ("modulo", (10.5, 3), D("1.5")),
        ("modulo", (12, -5), -3),
        ("modulo", (-12, -5), -2),
        ("modulo", (10.1, -4.5), D("-3.4")),
        ("modulo", (-10.1, 4.5), D("3.4")),
        ("modulo", (-10.5, 3), D("1.5")),
        ("sqrt", (16,), 4),
        ("sqrt", (0,), 0),
        ("odd", (5,), True),
        ("odd", (-1,), True),
        ("odd", (2,), False),
        ("odd", (0,), False),
        ("odd", (1.5,), False),
        ("even", (2,), True),
        ("even", (-2,), True),
        ("even", (0,), True),
        ("even", (5,), False),
    ],
)
def test_numeric_functions(name: str, args: tuple[Any, ...], expected: Any) -> None:
    result = call(name, *args)
    assert result == expected
    assert type(result) is type(expected) or isinstance(expected, int)


@pytest.mark.parametrize(
    ("name", "arg", "expected"),
    [
        ("log", 10, "2.302585092994046"),
        ("log", 4, "1.38629436"),
        ("exp", 5, "148.4131591025766"),
        ("exp", 4, "54.59815003"),
        ("exp", -1, "0.36787944"),
        ("sqrt", 2, "1.414213562373095"),
    ],
)
def test_transcendental_functions_return_decimals(name: str, arg: int, expected: str) -> None:
    result = call(name, arg)
    assert isinstance(result, D)
    assert abs(result - D(expected)) < D("1e-8")


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("decimal", (1, "2")),
        ("decimal", (1, 2, "sideways")),
        ("decimal", (1.1, 0, "UNNECESSARY")),
        ("floor", ("1.5",)),
        ("floor", (1.56, None)),
        ("floor", (1, 7000)),
        ("ceiling", (None,)),
        ("round up", (5.5, "0")),
        ("abs", ("-1",)),
        ("abs", (True,)),
        ("abs", (dt.date(2018, 12, 6),)),
        ("modulo", (10, 0)),
        ("modulo", (None, 4)),
        ("modulo", (dt.timedelta(days=10), 4)),
        ("sqrt", (-1,)),
        ("sqrt", ("4",)),
        ("log", (0,)),
        ("log", (-1,)),
        ("exp", (None,)),
        ("exp", (D("1e10"),)),
        ("odd", ("1",)),
        ("even", (None,)),
    ],
)
def test_numeric_functions_reject_invalid_arguments(name: str, args: tuple[Any, ...]) -> None:
    with pytest.raises(FeelFunctionError, match=f"^{name}: "):
        call(name, *args)


def test_abs_accepts_both_parameter_names() -> None:
    assert call("abs", n=-1) == 1
    assert call("abs", number=-1) == 1


def test_random_number_is_in_unit_interval() -> None:
    values = {call("random number") for _ in range(20)}
    assert all(isinstance(v, D) and 0 <= v < 1 for v in values)
    assert len(values) > 1
