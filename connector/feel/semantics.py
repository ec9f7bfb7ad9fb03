"""FEEL value semantics: equality, ordering, type names and ``instance of``.

Follows feel-scala where it differs from the DMN specification: ``null = x``
is ``false`` (not ``null``) for a non-null ``x``, and ``null = null`` is
``true``. Values of different FEEL types are not comparable (``None``). Zoned
times and dates and times are equal only with the same offset and zone (Java's
``equals``), though ordered by instant.
"""

from __future__ import annotations

import datetime as _dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from connector.feel.temporal import time_offset
from connector.feel.values import FeelFunction, Range, YearsMonthsDuration

_SIMPLE_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "boolean"),
    (Decimal, "number"),
    (str, "string"),
    # datetime is a subclass of date: it must be tested first
    (_dt.datetime, "date and time"),
    (_dt.date, "date"),
    (_dt.time, "time"),
    (_dt.timedelta, "days and time duration"),
    (YearsMonthsDuration, "years and months duration"),
    (list, "list"),
    (dict, "context"),
    (Range, "range"),
    (FeelFunction, "function"),
)

#: Names accepted by ``instance of`` besides the type names themselves.
_TYPE_ALIASES = {
    "Any": "Any",
    "Null": "null",
    "null": "null",
    "dayTimeDuration": "days and time duration",
    "yearMonthDuration": "years and months duration",
    "dateTime": "date and time",
}


def type_name(value: Any) -> str:
    """The FEEL type name of an internal value."""
    if value is None:
        return "null"
    for python_type, name in _SIMPLE_TYPES:
        if isinstance(value, python_type):
            return name
    if callable(value):
        return "function"
    return "Any"


def _base_type(spec: str) -> str:
    """``list<number>`` -> ``list``; other names unchanged (after alias mapping)."""
    spec = spec.strip()
    for generic in ("list", "context", "range", "function"):
        if spec.startswith(generic + "<"):
            return generic
    return _TYPE_ALIASES.get(spec, spec)


def is_instance_of(value: Any, type_spec: str) -> bool:
    """FEEL ``value instance of type_spec``.

    ``Any`` matches every non-null value, ``Null`` only null. Generic types such
    as ``list<number>`` check the element type of every member.
    """
    base = _base_type(type_spec)
    if base == "Any":
        return value is not None
    if value is None:
        return base == "null"
    if base == "list" and type_spec.strip().startswith("list<"):
        inner = type_spec.strip()[5:-1]
        return isinstance(value, list) and all(
            item is None or is_instance_of(item, inner) for item in value
        )
    if base == "range" and type_spec.strip().startswith("range<"):
        inner = type_spec.strip()[6:-1]
        return isinstance(value, Range) and all(
            point is None or is_instance_of(point, inner) for point in (value.start, value.end)
        )
    return type_name(value) == base


# ---------------------------------------------------------------- equality


def _instant_kind(a: Any, b: Any) -> bool | None:
    """Whether two temporals of one type are both zoned (True), both local (False), or mixed."""
    a_zoned, b_zoned = a.tzinfo is not None, b.tzinfo is not None
    return a_zoned if a_zoned == b_zoned else None


def _time_key(value: _dt.time) -> tuple[int, int]:
    """Seconds since midnight (UTC when the time has an offset) and microseconds."""
    seconds = value.hour * 3600 + value.minute * 60 + value.second
    offset = time_offset(value)
    if offset is not None:
        seconds = (seconds - int(offset.total_seconds())) % 86400
    return seconds, value.microsecond


def zoned_identity(value: _dt.time | _dt.datetime) -> tuple[Any, ...]:
    """What makes two zoned times (or dates and times) equal in feel-scala.

    Java's ``ZonedDateTime.equals``: the same local value, the same offset and the same zone,
    so ``10:00+01:00`` and ``11:00+02:00`` are the same instant but not equal (they are
    ordered as the same instant). A region zone (``@Europe/Berlin``) differs from an offset.
    """
    tz = value.tzinfo
    zone_id = tz.key if isinstance(tz, ZoneInfo) else None
    return value.replace(tzinfo=None), time_offset(value), zone_id


def _compare_keys(a: Any, b: Any) -> int:
    return int((a > b) - (a < b))


def _temporal_compare(a: Any, b: Any) -> int | None:
    """Order two values of the same temporal type, or None when not comparable."""
    if isinstance(a, _dt.datetime):
        if not isinstance(b, _dt.datetime) or _instant_kind(a, b) is None:
            return None
        return _compare_keys(a, b)
    if isinstance(a, _dt.date):
        if not isinstance(b, _dt.date) or isinstance(b, _dt.datetime):
            return None
        return _compare_keys(a, b)
    if isinstance(a, _dt.time):
        if not isinstance(b, _dt.time) or _instant_kind(a, b) is None:
            return None
        return _compare_keys(_time_key(a), _time_key(b))
    if isinstance(a, _dt.timedelta):
        return _compare_keys(a, b) if isinstance(b, _dt.timedelta) else None
    if isinstance(a, YearsMonthsDuration):
        return _compare_keys(a.months, b.months) if isinstance(b, YearsMonthsDuration) else None
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, Decimal)


def feel_compare(a: Any, b: Any) -> int | None:
    """-1/0/1 for ``<``/``=``/``>`` ordering, or None when the values are not ordered.

    Numbers, strings, dates, times, dates and times and durations (of the same
    kind) are ordered; booleans, lists, contexts, ranges and null are not.
    """
    kind = type(a)
    if kind is type(b) and (kind is Decimal or kind is str):
        return int((a > b) - (a < b))  # fast path: the common case in filters
    if a is None or b is None or isinstance(a, bool) or isinstance(b, bool):
        return None
    if _is_number(a):
        return _compare_keys(a, b) if _is_number(b) else None
    if isinstance(a, str):
        return _compare_keys(a, b) if isinstance(b, str) else None
    return _temporal_compare(a, b)


def _all_equal(pairs: Any) -> bool | None:
    undecided = False
    for x, y in pairs:
        result = feel_equal(x, y)
        if result is False:
            return False
        if result is None:
            undecided = True
    return None if undecided else True


def _members_equal(pairs: Any) -> bool:
    # feel-scala compares list items / context entries with `equals`, where two values
    # that cannot be compared are simply not equal: [1] = [true] is false, not null
    return all(feel_equal(x, y) is True for x, y in pairs)


def feel_equal(a: Any, b: Any) -> bool | None:
    """FEEL ``a = b``: True/False, or None when the values are not comparable."""
    kind = type(a)
    if kind is type(b) and (kind is Decimal or kind is str or kind is bool):
        return bool(a == b)  # fast path: the common case in conditions
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b if isinstance(a, bool) and isinstance(b, bool) else None
    if _is_number(a) or isinstance(a, str):
        return (a == b) if type(a) is type(b) else None
    if isinstance(a, list):
        if not isinstance(b, list):
            return None
        return len(a) == len(b) and _members_equal(zip(a, b, strict=True))
    if isinstance(a, dict):
        if not isinstance(b, dict):
            return None
        if a.keys() != b.keys():
            return False
        return _members_equal((a[k], b[k]) for k in a)
    if isinstance(a, Range):
        return _range_equal(a, b)
    if isinstance(a, FeelFunction) or callable(a):
        return a is b
    order = _temporal_compare(a, b)
    if order is None:
        return None
    if isinstance(a, _dt.datetime | _dt.time) and a.tzinfo is not None:
        return zoned_identity(a) == zoned_identity(b)
    return order == 0


def _range_equal(a: Range, b: Any) -> bool | None:
    if not isinstance(b, Range):
        return None
    if a.start_included != b.start_included or a.end_included != b.end_included:
        return False
    return _all_equal(((a.start, b.start), (a.end, b.end)))
