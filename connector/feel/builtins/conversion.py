"""Conversion functions: date, time, date and time, duration, number, string, JSON."""

from __future__ import annotations

import datetime as _dt
import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from connector.feel import temporal
from connector.feel.builtins._util import (
    Table,
    describe,
    describe_text,
    fail,
    fn,
    integer,
    number,
    string,
    table,
)
from connector.feel.values import DECIMAL_CONTEXT, FeelFunction, Range, YearsMonthsDuration

# ---------------------------------------------------------------- string()


def format_number(value: Decimal) -> str:
    """Plain (non-scientific) decimal text, as FEEL shows numbers."""
    if value.is_zero():
        value = abs(value)
    return format(value, "f")


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def feel_string(value: Any, nested: bool = False) -> str:
    """The text of any FEEL value (strings nested in lists/contexts are quoted)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format_number(value)
    if isinstance(value, str):
        return _quoted(value) if nested else value
    if isinstance(value, list):
        return "[" + ", ".join(feel_string(v, True) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}:{feel_string(v, True)}" for k, v in value.items()) + "}"
    if isinstance(value, Range):
        start = "(" if not value.start_included else "["
        end = ")" if not value.end_included else "]"
        low = "" if value.start is None else feel_string(value.start, True)
        high = "" if value.end is None else feel_string(value.end, True)
        return f"{start}{low}..{high}{end}"
    if isinstance(value, FeelFunction):
        return repr(value)
    try:
        return temporal.to_string(value)
    except TypeError:
        return str(value)


def _string(value: Any) -> Any:
    return None if value is None else feel_string(value)


# ---------------------------------------------------------------- date / time


def _date(value: Any) -> _dt.date:
    if isinstance(value, str):
        parsed = temporal.parse_date(value)
        if parsed is None:
            raise fail("date", f"{describe_text(value)} is not a valid date (expected YYYY-MM-DD)")
        return parsed
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    raise fail("date", f"cannot convert {describe(value)} to a date")


def _date_from_parts(year: Any, month: Any, day: Any) -> _dt.date:
    y = integer("date", year, "year")
    m = integer("date", month, "month")
    d = integer("date", day, "day")
    try:
        return _dt.date(y, m, d)
    except ValueError as exc:
        raise fail("date", f"{y}-{m}-{d} is not a valid date") from exc


def _time(value: Any) -> _dt.time:
    if isinstance(value, str):
        parsed = temporal.parse_time(value)
        if parsed is None:
            raise fail("time", f"{describe_text(value)} is not a valid time (expected hh:mm:ss)")
        return parsed
    if isinstance(value, _dt.datetime):
        return value.timetz()
    if isinstance(value, _dt.date):
        return _dt.time(0, 0, 0)
    if isinstance(value, _dt.time):
        return value
    raise fail("time", f"cannot convert {describe(value)} to a time")


def _time_from_parts(hour: Any, minute: Any, second: Any, offset: Any = None) -> _dt.time:
    h = integer("time", hour, "hour")
    m = integer("time", minute, "minute")
    s = number("time", second, "second")
    tz: _dt.tzinfo | None = None
    if offset is not None:
        if not isinstance(offset, _dt.timedelta):
            raise fail("time", f"parameter 'offset' must be a duration, got {describe(offset)}")
        try:
            tz = _dt.timezone(offset) if offset else _dt.UTC
        except ValueError as exc:
            raise fail("time", "parameter 'offset' is out of range") from exc
    whole = int(s)
    micro = int((s - whole) * 1_000_000)
    try:
        return _dt.time(h, m, whole, micro, tzinfo=tz)
    except ValueError as exc:
        raise fail("time", f"{h}:{m}:{s} is not a valid time of day") from exc


def _date_and_time(value: Any) -> _dt.datetime:
    if isinstance(value, str):
        parsed = temporal.parse_date_and_time(value)
        if parsed is None:
            raise fail(
                "date and time",
                f"{describe_text(value)} is not a valid date and time"
                " (expected YYYY-MM-DDThh:mm:ss)",
            )
        return parsed
    if isinstance(value, _dt.datetime):
        return value
    if isinstance(value, _dt.date):
        return _dt.datetime(value.year, value.month, value.day)
    raise fail("date and time", f"cannot convert {describe(value)} to a date and time")


def _date_and_time_2(date: Any, other: Any) -> _dt.datetime:
    """``date and time(date, time)`` and ``date and time(date, timezone)``."""
    if isinstance(other, str):
        return _at_timezone(date, other)
    if not isinstance(date, _dt.date):
        raise fail("date and time", f"parameter 'date' must be a date, got {describe(date)}")
    if not isinstance(other, _dt.time):
        raise fail("date and time", f"parameter 'time' must be a time, got {describe(other)}")
    return _dt.datetime.combine(date if not isinstance(date, _dt.datetime) else date.date(), other)


def _at_timezone(value: Any, zone_id: str) -> _dt.datetime:
    if not isinstance(value, _dt.datetime):
        raise fail(
            "date and time", f"parameter 'date' must be a date and time, got {describe(value)}"
        )
    tz = temporal.zone(zone_id)
    if tz is None:
        raise fail("date and time", f"unknown timezone ({describe_text(zone_id)})")
    if value.tzinfo is None:
        return value.replace(tzinfo=tz)  # a local date and time is placed in the zone
    try:
        return value.astimezone(tz)
    except (OverflowError, ValueError) as exc:
        raise fail("date and time", "the result is out of range") from exc


def _duration(value: Any) -> Any:
    if isinstance(value, _dt.timedelta | YearsMonthsDuration):
        return value
    text = string("duration", value, "from")
    parsed = temporal.parse_duration(text)
    if parsed is None:
        raise fail(
            "duration", f"{describe_text(text)} is not a valid duration (e.g. P1DT2H or P1Y2M)"
        )
    return parsed


def months_between(start: _dt.date, end: _dt.date) -> int:
    """Whole months from ``start`` to ``end`` (negative when ``end`` is earlier)."""

    def key(d: _dt.date) -> tuple[int, _dt.time]:
        clock = d.time() if isinstance(d, _dt.datetime) else _dt.time(0)
        return d.day, clock

    months = (end.year - start.year) * 12 + (end.month - start.month)
    if months > 0 and key(end) < key(start):
        months -= 1
    elif months < 0 and key(end) > key(start):
        months += 1
    return months


def _years_and_months(start: Any, end: Any) -> YearsMonthsDuration:
    name = "years and months duration"
    for value, param in ((start, "from"), (end, "to")):
        if not isinstance(value, _dt.date):
            raise fail(name, f"parameter '{param}' must be a date, got {describe(value)}")
    if isinstance(start, _dt.datetime) != isinstance(end, _dt.datetime):
        # compare a date with a date and time on calendar days only
        start = start.date() if isinstance(start, _dt.datetime) else start
        end = end.date() if isinstance(end, _dt.datetime) else end
    return YearsMonthsDuration(months_between(start, end))


# ---------------------------------------------------------------- number()

_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_GROUPING = (" ", ",", ".")
_DECIMAL = (",", ".")


def parse_number(text: str) -> Decimal | None:
    if len(text) > 1000 or _NUMBER_RE.fullmatch(text) is None:
        return None
    try:
        return DECIMAL_CONTEXT.create_decimal(text)
    except (InvalidOperation, ArithmeticError):
        return None


def _number(value: Any, grouping: Any = None, decimal: Any = None) -> Decimal:
    text = string("number", value, "from")
    if grouping is not None and grouping not in _GROUPING:
        raise fail("number", "parameter 'grouping separator' must be one of ' ', ',', '.'")
    if decimal is not None and decimal not in _DECIMAL:
        raise fail("number", "parameter 'decimal separator' must be ',' or '.'")
    if grouping is not None and grouping == decimal:
        raise fail("number", "grouping and decimal separator must differ")
    if grouping is not None:
        text = text.replace(grouping, "")
    if decimal is not None and decimal != ".":
        if "." in text:
            raise fail("number", f"{describe_text(text)} is not a number")
        text = text.replace(decimal, ".")
    result = parse_number(text)
    if result is None:
        raise fail("number", f"{describe_text(text)} is not a number")
    return result


# ---------------------------------------------------------------- JSON


def _json_number(text: str) -> Decimal:
    return DECIMAL_CONTEXT.create_decimal(text)


def _no_constant(text: str) -> Any:
    raise ValueError(f"{text} is not a FEEL number")


def _from_json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | str | Decimal):
        return value
    if isinstance(value, list):
        return [_from_json_value(v) for v in value]
    return {str(k): _from_json_value(v) for k, v in value.items()}


def _from_json(value: Any) -> Any:
    text = string("from json", value, "value")
    try:
        return _from_json_value(
            json.loads(
                text, parse_float=_json_number, parse_int=_json_number, parse_constant=_no_constant
            )
        )
    except (ValueError, RecursionError) as exc:
        raise fail("from json", "the value is not valid JSON") from exc


def _to_json_value(value: Any) -> Any:
    """The FEEL ``to json`` rendering, which is feel-scala's own (not the value mapper's):
    exact numbers, ISO texts with Java's duration/period texts, zoned date-times with offset
    and zone id, times with their offset only, ranges and functions as their FEEL text."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_to_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_json_value(v) for k, v in value.items()}
    if isinstance(value, _dt.timedelta):
        return _java_duration(value)
    if isinstance(value, YearsMonthsDuration):
        return _java_period(value.months)
    if isinstance(value, _dt.time) and value.tzinfo is not None:
        offset = temporal.time_offset(value)
        if offset is not None:
            return temporal.format_time(value.replace(tzinfo=_dt.timezone(offset)))
    zone_id = temporal.zone_id_of(value) if isinstance(value, _dt.datetime) else None
    offset = value.utcoffset() if zone_id is not None else None
    if offset is not None:
        # ISO zoned date-time: the offset in force, then the zone id
        base = temporal.format_date_and_time(value.replace(tzinfo=_dt.timezone(offset)))
        return f"{base}[{zone_id}]"
    return feel_string(value)


def _java_duration(value: _dt.timedelta) -> str:
    """Java's ``Duration.toString()``: hours (days included), minutes, seconds; PT0S."""
    micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    if not micros:
        return "PT0S"
    sign = -1 if micros < 0 else 1
    seconds, micro = divmod(abs(micros), 1_000_000)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    neg = "-" if sign < 0 else ""
    text = "PT"
    if hours:
        text += f"{neg}{hours}H"
    if minutes:
        text += f"{neg}{minutes}M"
    if seconds or micro:
        fraction = f".{micro:06d}".rstrip("0") if micro else ""
        text += f"{neg}{seconds}{fraction}S"
    return text


def _java_period(months: int) -> str:
    """Java's ``Period.toString()`` of a normalised years-months period; P0D when empty."""
    if not months:
        return "P0D"
    years = int(months / 12)  # both parts carry the sign, as a normalised Period does
    rest = months - years * 12
    return "P" + (f"{years}Y" if years else "") + (f"{rest}M" if rest else "")


def _to_json(value: Any) -> str:
    return json.dumps(_to_json_value(value), ensure_ascii=False, separators=(",", ":"))


BUILTINS: Table = table(
    fn("string", "from", _string),
    fn("number", "from", _number),
    fn("number", "from, grouping separator", _number),
    fn("number", "from, grouping separator, decimal separator", _number),
    fn("date", "from", _date),
    fn("date", "year, month, day", _date_from_parts),
    fn("time", "from", _time),
    fn("time", "hour, minute, second", _time_from_parts),
    fn("time", "hour, minute, second, offset", _time_from_parts),
    fn("date and time", "from", _date_and_time),
    fn("date and time", "date, time", _date_and_time_2),
    fn("date and time", "date, timezone", _date_and_time_2),
    fn("duration", "from", _duration),
    fn("years and months duration", "from, to", _years_and_months),
    fn("from json", "value", _from_json),
    fn("to json", "value", _to_json),
)
