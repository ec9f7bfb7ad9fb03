"""Shared machinery of the FEEL conformance suite.

Every ``test_conformance_*.py`` module holds tables of ``(expression, context, expected)``
tuples and feeds them through :func:`check`. Expected values are plain Python values written
from the DMN specification and feel-scala's documentation; the comparison is strict about
types (a FEEL number never equals a boolean, a date never equals a date and time) and exact
about numbers (decimal semantics, so ``0.3`` means exactly 0.3).

Special expectations:

* :data:`SYNTAX_ERROR` - compiling the expression must raise ``FeelSyntaxError``.
* :class:`Approx` - a number within a relative tolerance (irrational results of
  ``sqrt``/``log``/``exp``/``stddev`` whose last digits depend on the precision used).
* :class:`Satisfies` - a predicate for results that change per run (``now()``, ``uuid()``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest


class _SyntaxErrorExpected:
    def __repr__(self) -> str:
        return "SYNTAX_ERROR"


SYNTAX_ERROR: Any = _SyntaxErrorExpected()


@dataclass(frozen=True)
class Approx:
    """A number equal to ``value`` up to a relative tolerance."""

    value: float
    rel: float = 1e-12


@dataclass(frozen=True)
class Satisfies:
    """A result accepted by ``predicate`` (described for failure messages)."""

    predicate: Callable[[Any], bool]
    description: str


Case = tuple[str, Mapping[str, Any] | None, Any]


def cases(table: Iterable[Case]) -> list[Any]:
    """Turn a case table into ``pytest.param`` entries with readable, unique ids."""
    params = []
    for index, (expression, context, expected) in enumerate(table):
        label = " ".join(expression.split())
        if len(label) > 60:
            label = label[:57] + "..."
        params.append(pytest.param(expression, context, expected, id=f"{index:03d} {label}"))
    return params


def _as_decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None
        # repr gives the shortest decimal that round-trips, i.e. the decimal the float stands for
        return Decimal(repr(value))
    return None


def _offset(value: dt.time | dt.datetime) -> dt.timedelta | None:
    if isinstance(value, dt.datetime):
        return value.utcoffset()
    if value.tzinfo is None:
        return None
    offset = value.utcoffset()
    if offset is None:  # a region zone on a bare time: resolve it on an arbitrary date
        offset = value.tzinfo.utcoffset(dt.datetime(2000, 1, 1, value.hour, value.minute))
    return offset


def mismatch(expected: Any, actual: Any, where: str = "result") -> str | None:
    """Describe the first difference between ``expected`` and ``actual`` (None when equal)."""
    if isinstance(expected, Satisfies):
        return None if expected.predicate(actual) else f"{where}: expected {expected.description}"
    if expected is None:
        return None if actual is None else f"{where}: expected null, got {actual!r}"
    if isinstance(expected, bool):
        if isinstance(actual, bool) and actual == expected:
            return None
        return f"{where}: expected {expected!r}, got {actual!r}"
    if isinstance(expected, Approx):
        number = _as_decimal(actual)
        if number is None:
            return f"{where}: expected a number near {expected.value!r}, got {actual!r}"
        tolerance = expected.rel * max(abs(expected.value), 1e-300)
        if abs(float(number) - expected.value) <= tolerance:
            return None
        return f"{where}: expected about {expected.value!r}, got {actual!r}"
    if isinstance(expected, int | float | Decimal):
        want, got = _as_decimal(expected), _as_decimal(actual)
        if got is not None and want == got:
            return None
        return f"{where}: expected number {expected!r}, got {actual!r}"
    if isinstance(expected, str):
        if isinstance(actual, str) and actual == expected:
            return None
        return f"{where}: expected {expected!r}, got {actual!r}"
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return f"{where}: expected a list, got {actual!r}"
        if len(actual) != len(expected):
            return f"{where}: expected {len(expected)} items, got {len(actual)}: {actual!r}"
        for index, (want_item, got_item) in enumerate(zip(expected, actual, strict=True)):
            problem = mismatch(want_item, got_item, f"{where}[{index}]")
            if problem:
                return problem
        return None
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{where}: expected a context, got {actual!r}"
        if set(actual) != set(expected):
            return f"{where}: expected keys {sorted(expected)}, got {sorted(actual)}"
        for key, want_value in expected.items():
            problem = mismatch(want_value, actual[key], f"{where}.{key}")
            if problem:
                return problem
        return None
    if isinstance(expected, dt.datetime):
        if type(actual) is not dt.datetime:
            return f"{where}: expected date and time {expected!r}, got {actual!r}"
        if actual.replace(tzinfo=None) != expected.replace(tzinfo=None):
            return f"{where}: expected {expected!r}, got {actual!r}"
        if _offset(actual) != _offset(expected):
            return f"{where}: expected offset {_offset(expected)}, got {actual!r}"
        return None
    if isinstance(expected, dt.date):
        if type(actual) is dt.date and actual == expected:
            return None
        return f"{where}: expected date {expected!r}, got {actual!r}"
    if isinstance(expected, dt.time):
        if type(actual) is not dt.time:
            return f"{where}: expected time {expected!r}, got {actual!r}"
        if actual.replace(tzinfo=None) != expected.replace(tzinfo=None):
            return f"{where}: expected {expected!r}, got {actual!r}"
        if _offset(actual) != _offset(expected):
            return f"{where}: expected offset {_offset(expected)}, got {actual!r}"
        return None
    if isinstance(expected, dt.timedelta):
        if isinstance(actual, dt.timedelta) and actual == expected:
            return None
        return f"{where}: expected duration {expected!r}, got {actual!r}"
    months = getattr(expected, "months", None)
    if isinstance(months, int):
        got_months = getattr(actual, "months", None)
        if isinstance(got_months, int) and not isinstance(actual, dt.timedelta):
            return (
                None if got_months == months else f"{where}: expected {expected!r}, got {actual!r}"
            )
        return f"{where}: expected years and months duration {expected!r}, got {actual!r}"
    raise TypeError(f"unsupported expectation {expected!r}")


def check(expression: str, context: Mapping[str, Any] | None, expected: Any) -> None:
    """Compile ``expression``, evaluate it in ``context`` and compare with ``expected``."""
    from connector import feel

    if expected is SYNTAX_ERROR:
        with pytest.raises(feel.FeelSyntaxError):
            feel.compile(expression)
        return
    result = feel.compile(expression).evaluate(dict(context or {}))
    problem = mismatch(expected, result)
    assert problem is None, f"{expression!r} in {dict(context or {})!r}: {problem}"


def ym(years: int = 0, months: int = 0) -> Any:
    """A FEEL years-and-months duration as the engine returns it."""
    from connector.feel.values import YearsMonthsDuration

    return YearsMonthsDuration(years * 12 + months)


UTC = dt.UTC


def tz(hours: int, minutes: int = 0) -> dt.timezone:
    """A fixed UTC offset."""
    sign = -1 if hours < 0 else 1
    return dt.timezone(dt.timedelta(hours=hours, minutes=sign * minutes))
