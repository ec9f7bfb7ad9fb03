"""Parsing and formatting of FEEL temporal values (dates, times, durations).

Accepts the text forms feel-scala accepts:

* date ``2024-01-31``
* time ``10:30:00``, ``10:30`` (seconds optional, as in Java), ``10:30:00.123``, ``10:30:00+02:00``, ``10:30:00Z``,
  ``10:30:00@Europe/Berlin``
* date and time ``<date>T<time>`` with the same offset/zone forms, plus
  ``+01:00[Europe/Paris]``; a bare date means midnight
* days-time duration ``P1DT2H3M4.5S`` (optionally negative), years-months
  duration ``P1Y2M``; a mix of both (``P1Y2D``) is not a FEEL duration

Python's datetime types hold microseconds and years 1..9999 only: finer
fractions are truncated and dates outside that range parse as invalid.
"""

from __future__ import annotations

import datetime as _dt
import re
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connector.feel.values import YearsMonthsDuration

_DATE_RE = re.compile(r"(-?\d{4,9})-(\d{2})-(\d{2})")
_TIME_RE = re.compile(
    r"(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(Z|[+-]\d{2}:\d{2}(?::\d{2})?)?"
    r"(?:@([A-Za-z][A-Za-z0-9_+\-/]*)|\[([A-Za-z][A-Za-z0-9_+\-/]*)\])?"
)
# a sign may prefix the whole duration and, as Java accepts, each component
_DT_DURATION_RE = re.compile(
    r"(-)?P(?:(-?\d+)D)?(?:T(?=-?\d)(?:(-?\d+)H)?(?:(-?\d+)M)?(?:(-?\d+)(?:\.(\d{1,9}))?S)?)?"
)
_YM_DURATION_RE = re.compile(r"(-)?P(?=-?\d)(?:(-?\d+)Y)?(?:(-?\d+)M)?")

#: Longest text we try to parse; real temporal literals are far shorter.
_MAX_TEXT = 100


@lru_cache(maxsize=256)
def zone(zone_id: str) -> _dt.tzinfo | None:
    """The tzinfo for a zone id (``Europe/Berlin``, ``UTC``, ``Z``, ``+01:00``) or None."""
    if zone_id == "Z":
        return _dt.UTC
    if re.fullmatch(r"[+-]\d{2}:\d{2}", zone_id):
        return _offset_tz(zone_id)
    try:
        return ZoneInfo(zone_id)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _offset_tz(text: str) -> _dt.tzinfo | None:
    if text == "Z":
        return _dt.UTC
    sign = -1 if text[0] == "-" else 1
    parts = [int(p) for p in text[1:].split(":")]
    hours, minutes = parts[0], parts[1]
    seconds = parts[2] if len(parts) > 2 else 0
    if minutes > 59 or seconds > 59:
        return None
    delta = _dt.timedelta(hours=hours, minutes=minutes, seconds=seconds)
    if delta > _dt.timedelta(hours=18):
        return None
    if not delta:
        return _dt.UTC
    return _dt.timezone(sign * delta)


def parse_date(text: str) -> _dt.date | None:
    """``YYYY-MM-DD`` -> date, or None when not a valid calendar date."""
    if not isinstance(text, str) or len(text) > _MAX_TEXT:
        return None
    m = _DATE_RE.fullmatch(text)
    if m is None:
        return None
    try:
        return _dt.date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None


def _parse_time_parts(text: str) -> tuple[_dt.time, bool] | None:
    """Time of day with its tzinfo; the flag tells whether a zone/offset was given."""
    m = _TIME_RE.fullmatch(text)
    if m is None:
        return None
    hour, minute, second = int(m[1]), int(m[2]), int(m[3] or 0)
    micro = int((m[4] or "0").ljust(6, "0")[:6])
    tz: _dt.tzinfo | None = None
    offset_text, zone_id = m[5], m[6] or m[7]
    if zone_id is not None:
        tz = zone(zone_id)
        if tz is None:
            return None
    elif offset_text is not None:
        tz = _offset_tz(offset_text)
        if tz is None:
            return None
    if m[7] is not None and offset_text is None:
        return None  # "[Zone]" is only valid after an offset
    try:
        return _dt.time(hour, minute, second, micro, tzinfo=tz), tz is not None
    except ValueError:
        return None


def parse_time(text: str) -> _dt.time | None:
    """``hh:mm:ss[.f][offset|@zone]`` -> time, or None. A leading ``T`` is tolerated."""
    if not isinstance(text, str) or len(text) > _MAX_TEXT:
        return None
    if text.startswith("T"):
        text = text[1:]
    parsed = _parse_time_parts(text)
    return None if parsed is None else parsed[0]


def parse_date_and_time(text: str) -> _dt.datetime | None:
    """``<date>T<time>`` (or a bare date, meaning midnight) -> datetime, or None."""
    if not isinstance(text, str) or len(text) > _MAX_TEXT:
        return None
    date_text, sep, time_text = text.partition("T")
    day = parse_date(date_text)
    if day is None:
        return None
    if not sep:
        return _dt.datetime(day.year, day.month, day.day)
    parsed = _parse_time_parts(time_text)
    if parsed is None:
        return None
    return _dt.datetime.combine(day, parsed[0])


def parse_duration(text: str) -> _dt.timedelta | YearsMonthsDuration | None:
    """ISO 8601 duration -> timedelta (days-time) or YearsMonthsDuration, or None."""
    if not isinstance(text, str) or len(text) > _MAX_TEXT:
        return None
    m = _YM_DURATION_RE.fullmatch(text)
    if m is not None:
        months = int(m[2] or 0) * 12 + int(m[3] or 0)
        return YearsMonthsDuration(-months if m[1] else months)
    m = _DT_DURATION_RE.fullmatch(text)
    if m is None or not any(m.group(i) for i in (2, 3, 4, 5)):
        return None
    seconds = m[5] or "0"
    micros = int((m[6] or "0").ljust(6, "0")[:6])
    try:
        delta = _dt.timedelta(
            days=int(m[2] or 0),
            hours=int(m[3] or 0),
            minutes=int(m[4] or 0),
            seconds=int(seconds),
            microseconds=-micros if seconds.startswith("-") else micros,
        )
    except OverflowError:
        return None
    return -delta if m[1] else delta


def parse_temporal_literal(text: str) -> Any:
    """The value of an ``@"..."`` literal: a date, time, date and time or duration."""
    if not isinstance(text, str):
        return None
    if text.startswith(("P", "-P")):
        return parse_duration(text)
    if _DATE_RE.fullmatch(text):
        return parse_date(text)
    if _DATE_RE.match(text):
        return parse_date_and_time(text)
    return parse_time(text)


# ---------------------------------------------------------------- formatting


def _fraction(micro: int) -> str:
    return f".{micro:06d}".rstrip("0") if micro else ""


def _offset_text(offset: _dt.timedelta) -> str:
    if not offset:
        return "Z"
    sign = "-" if offset < _dt.timedelta(0) else "+"
    total = abs(int(offset.total_seconds()))
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{sign}{hours:02d}:{minutes:02d}"
    return f"{text}:{seconds:02d}" if seconds else text


def _zone_suffix(tz: _dt.tzinfo | None, when: _dt.datetime | None) -> str:
    if tz is None:
        return ""
    if isinstance(tz, ZoneInfo):
        return "@" + tz.key
    offset = tz.utcoffset(when)
    return "" if offset is None else _offset_text(offset)


def format_time(value: _dt.time) -> str:
    text = f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    return text + _fraction(value.microsecond) + _zone_suffix(value.tzinfo, None)


def format_date(value: _dt.date) -> str:
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"


def format_date_and_time(value: _dt.datetime) -> str:
    clock = f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    suffix = _zone_suffix(value.tzinfo, value)
    return f"{format_date(value)}T{clock}{_fraction(value.microsecond)}{suffix}"


def format_days_time(value: _dt.timedelta) -> str:
    micros = (value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds
    sign = "-" if micros < 0 else ""
    micros = abs(micros)
    seconds, micro = divmod(micros, 1_000_000)
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    text = "P" + (f"{days}D" if days else "")
    clock = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    if seconds or micro:
        clock += f"{seconds}{_fraction(micro)}S"
    if clock:
        text += "T" + clock
    return "P0D" if text == "P" else sign + text


def format_years_months(value: YearsMonthsDuration) -> str:
    sign = "-" if value.months < 0 else ""
    years, months = divmod(abs(value.months), 12)
    text = "P" + (f"{years}Y" if years else "") + (f"{months}M" if months else "")
    return "P0Y" if text == "P" else sign + text


def to_string(value: Any) -> str:
    """FEEL ``string()`` text of a temporal value or duration (feel-scala format)."""
    if isinstance(value, _dt.datetime):
        return format_date_and_time(value)
    if isinstance(value, _dt.date):
        return format_date(value)
    if isinstance(value, _dt.time):
        return format_time(value)
    if isinstance(value, _dt.timedelta):
        return format_days_time(value)
    if isinstance(value, YearsMonthsDuration):
        return format_years_months(value)
    raise TypeError(f"not a temporal value: {type(value).__name__}")


# ---------------------------------------------------------------- properties

_WEEKDAY = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def time_offset(value: _dt.time | _dt.datetime) -> _dt.timedelta | None:
    """The UTC offset of a time/date and time (zone rules applied), or None when local."""
    if value.tzinfo is None:
        return None
    if isinstance(value, _dt.datetime):
        return value.utcoffset()
    if isinstance(value.tzinfo, ZoneInfo):
        # a time has no date: resolve the zone's rules on a fixed reference day
        return _dt.datetime.combine(_REFERENCE_DAY, value).utcoffset()
    return value.utcoffset()


#: Day used to resolve the offset of a time with a zone id (a time has no date).
_REFERENCE_DAY = _dt.date(1970, 1, 1)


def _timezone_name(value: _dt.time | _dt.datetime) -> str | None:
    # feel-scala: only a zone id is a timezone; an offset (+02:00, Z) gives null
    tz = value.tzinfo
    return tz.key if isinstance(tz, ZoneInfo) else None


def temporal_property(value: Any, name: str) -> tuple[bool, Any]:
    """``value.name`` on a temporal value: (True, result) or (False, None) if no such member.

    Numbers are returned as ``Decimal``; offsets as ``timedelta``.
    """
    if isinstance(value, YearsMonthsDuration):
        if name == "years":
            return True, Decimal(value.years)
        if name == "months":
            return True, Decimal(value.months_part)
        return (name in ("days", "hours", "minutes", "seconds")), None
    if isinstance(value, _dt.timedelta):
        return _timedelta_property(value, name)
    found, result = _date_property(value, name)
    if found:
        return found, result
    return _time_property(value, name)


def _timedelta_property(value: _dt.timedelta, name: str) -> tuple[bool, Any]:
    micros = (value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds
    sign = -1 if micros < 0 else 1
    seconds = abs(micros) // 1_000_000
    parts = {
        "days": seconds // 86400,
        "hours": seconds % 86400 // 3600,
        "minutes": seconds % 3600 // 60,
        "seconds": seconds % 60,
    }
    if name in parts:
        return True, Decimal(sign * parts[name])
    return (name in ("years", "months")), None


def _date_property(value: Any, name: str) -> tuple[bool, Any]:
    if not isinstance(value, _dt.date):
        return False, None
    parts = {"year": value.year, "month": value.month, "day": value.day}
    if name in parts:
        return True, Decimal(parts[name])
    if name == "weekday":
        return True, Decimal(value.isoweekday())
    return False, None


def _time_property(value: Any, name: str) -> tuple[bool, Any]:
    if not isinstance(value, _dt.time | _dt.datetime):
        return False, None
    if name in ("hour", "minute", "second"):
        return True, Decimal(getattr(value, name))
    if name == "time offset":
        return True, time_offset(value)
    if name == "timezone":
        return True, _timezone_name(value)
    return False, None


def weekday_name(value: _dt.date) -> str:
    return _WEEKDAY[value.weekday()]


def zone_id_of(value: _dt.time | _dt.datetime) -> str | None:
    """The IANA zone id of a zoned value (``Europe/Berlin``), None for offsets/local."""
    tz = value.tzinfo
    return tz.key if isinstance(tz, ZoneInfo) else None
