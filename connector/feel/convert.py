"""The one value mapper: FEEL value -> JSON-compatible value, for everything leaving the engine.

Every exit uses it: published message variables (result variable, result expression),
request bodies, query parameters and headers, the development engine's variable store,
``/inbound`` and logs. Renderings follow Zeebe's own mapping of FEEL results to process
variables (its FEEL-to-MessagePack transformer), i.e. what a process receives when Camunda
stores a FEEL value:

=========================  ==================================================================
FEEL value                 JSON rendering
=========================  ==================================================================
null                       ``null``
boolean, string            themselves
number, integral           an integer, exact (``42``)
number, with a fraction    a float, i.e. a double as Zeebe stores it (``0.1``)
number, not finite         ``null`` - NaN/Infinity (only from caller-supplied floats, or a
                           decimal beyond the double range) are never emitted as JSON
                           numbers; JSON has no such numbers and Zeebe rejects them
date                       ``"2024-03-31"``
local time                 Java's ``LocalTime`` text: ``"14:55"``, ``"14:55:30"``,
                           ``"14:55:30.250"`` (seconds only when not zero, fraction in groups
                           of three digits)
time with offset / zone    FEEL text: ``"14:55:00+02:00"``, ``"14:55:00Z"``,
                           ``"14:55:00@Europe/Berlin"``
local date and time        ``"2024-03-31T14:55:00"`` (ISO local date-time, fraction trimmed)
date and time with offset  ``"2024-03-31T14:55:00+02:00"`` (``Z`` for UTC)
date and time with zone    ``"2024-03-31T14:55:00+02:00[Europe/Berlin]"`` (offset *and* zone
                           id: the zone is never lost)
days-time duration         FEEL text: ``"P1DT2H30M"``, ``"PT0.5S"``, ``"-PT1H"``, ``"P0D"``
years-months duration      FEEL text: ``"P1Y2M"``, ``"-P2M"``, ``"P0Y"``
list / context             list / object, members mapped the same way (keys as text)
range, function            ``null`` (Zeebe stores no value for them)
=========================  ==================================================================

Text exits (query parameters, headers, form fields) use :func:`to_text`: strings as they
are, ``true``/``false``, numbers in plain decimal notation, temporal values as above, lists
and contexts as compact JSON text.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from . import temporal
from .values import FeelFunction, Range, YearsMonthsDuration

__all__ = ["json_default", "to_json_compatible", "to_json_text", "to_text"]

#: Integers with more digits than this are not written as JSON integers (Python refuses to
#: print them by default, and no consumer could read them); they become floats.
_MAX_INT_DIGITS = 4000


def to_json_compatible(value: Any) -> Any:
    """A deep copy of ``value`` made only of JSON types (dict, list, str, int, float, bool, None)."""
    t = type(value)
    if value is None or t is str or t is bool or t is int:
        return value
    if t is dict or isinstance(value, Mapping):
        return {str(k): to_json_compatible(v) for k, v in value.items()}
    if t is list or isinstance(value, list | tuple):
        return [to_json_compatible(v) for v in value]
    return _scalar(value)


def json_default(value: Any) -> Any:
    """A ``json.dumps(default=...)`` hook: the JSON form of a value ``json`` cannot write."""
    return to_json_compatible(value)


def to_json_text(value: Any) -> str:
    """Compact JSON text of ``value`` (UTF-8 characters kept, never NaN/Infinity)."""
    return json.dumps(
        to_json_compatible(value), ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )


def to_text(value: Any) -> str:
    """``value`` as the text of a query parameter, header or form field.

    The text of the value's JSON rendering: a number the same double the JSON form holds
    (in plain decimal notation, never an exponent), ``null`` for what renders as null.
    """
    mapped = to_json_compatible(value)
    if isinstance(mapped, str):
        return mapped
    if isinstance(mapped, bool):
        return "true" if mapped else "false"
    if mapped is None:
        return "null"
    if isinstance(mapped, int | float):
        return _number_text(mapped)
    return to_json_text(mapped)


# ---------------------------------------------------------------- scalars


def _scalar(value: Any) -> Any:
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        return str(value)
    if isinstance(value, Decimal):
        return _decimal(value)
    if isinstance(value, _dt.datetime):
        return _date_and_time(value)
    if isinstance(value, _dt.date):
        return temporal.format_date(value)
    if isinstance(value, _dt.time):
        return _time(value)
    if isinstance(value, _dt.timedelta):
        return temporal.format_days_time(value)
    if isinstance(value, YearsMonthsDuration):
        return temporal.format_years_months(value)
    if isinstance(value, Range | FeelFunction):
        return None
    raise TypeError(f"a {type(value).__name__} value is not a FEEL value")


def _decimal(value: Decimal) -> int | float | None:
    if not value.is_finite():
        return None
    if value == value.to_integral_value() and value.adjusted() < _MAX_INT_DIGITS:
        return int(value)
    as_float = float(value)
    return as_float if math.isfinite(as_float) else None


def _time(value: _dt.time) -> str:
    if value.tzinfo is not None:
        return temporal.format_time(value)
    # Zeebe stores a local time as Java's LocalTime.toString() gives it
    text = f"{value.hour:02d}:{value.minute:02d}"
    if value.second or value.microsecond:
        text += f":{value.second:02d}"
    if value.microsecond:
        micro = value.microsecond
        text += f".{micro // 1000:03d}" if micro % 1000 == 0 else f".{micro:06d}"
    return text


def _date_and_time(value: _dt.datetime) -> str:
    tz = value.tzinfo
    if tz is None or not isinstance(tz, ZoneInfo):
        # local, or with an offset: the FEEL text is the ISO text
        return temporal.format_date_and_time(value)
    offset = value.utcoffset()
    assert offset is not None
    # ISO_ZONED_DATE_TIME: the offset in force, then the zone id
    fixed = value.replace(tzinfo=_dt.timezone(offset))
    return f"{temporal.format_date_and_time(fixed)}[{tz.key}]"


def _number_text(value: int | float) -> str:
    """Plain decimal notation: integral numbers without a fraction, never an exponent."""
    if isinstance(value, int):
        return str(value)
    exact = Decimal(repr(value))  # the shortest decimal that is this double
    if exact == exact.to_integral_value():
        return str(int(exact))
    return format(exact.normalize(), "f")
