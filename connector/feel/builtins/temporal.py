"""Temporal functions: now, today, day/week/month of year, day of week, last day of month.

``now()`` and ``today()`` read an injectable clock so that tests and the
development engine can pin the current time (see :func:`set_clock`).
"""

from __future__ import annotations

import calendar
import datetime as _dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from connector.feel import temporal
from connector.feel.builtins._util import Table, describe, fail, fn, table

Clock = Callable[[], _dt.datetime]


def system_clock() -> _dt.datetime:
    """The current time, zone-aware in the system's local offset."""
    return _dt.datetime.now(_dt.UTC).astimezone()


_clock: Clock = system_clock


def set_clock(clock: Clock | None) -> None:
    """Use ``clock`` for ``now()``/``today()``; ``None`` restores the system clock."""
    global _clock
    _clock = system_clock if clock is None else clock


def _now() -> _dt.datetime:
    return _clock()


def _today() -> _dt.date:
    return _clock().date()


_MONTHS = tuple(calendar.month_name[1:])


def _date_of(name: str, value: Any) -> _dt.date:
    if isinstance(value, _dt.date):  # a date and time is a date too
        return value
    raise fail(name, f"parameter 'date' must be a date or date and time, got {describe(value)}")


def _day_of_year(value: Any) -> Decimal:
    return Decimal(_date_of("day of year", value).timetuple().tm_yday)


def _day_of_week(value: Any) -> str:
    return temporal.weekday_name(_date_of("day of week", value))


def _month_of_year(value: Any) -> str:
    return _MONTHS[_date_of("month of year", value).month - 1]


def _week_of_year(value: Any) -> Decimal:
    return Decimal(_date_of("week of year", value).isocalendar().week)


def _last_day_of_month(value: Any) -> _dt.date:
    day = _date_of("last day of month", value)
    last = calendar.monthrange(day.year, day.month)[1]
    return _dt.date(day.year, day.month, last)


BUILTINS: Table = table(
    fn("now", "", _now),
    fn("today", "", _today),
    fn("day of year", "date", _day_of_year),
    fn("day of week", "date", _day_of_week),
    fn("month of year", "date", _month_of_year),
    fn("week of year", "date", _week_of_year),
    fn("last day of month", "date", _last_day_of_month),
)
