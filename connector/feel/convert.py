"""Turning FEEL results into JSON-ready values.

``Expression.evaluate`` already returns plain Python values; what JSON cannot
carry are decimals that do not fit a float exactly and temporal values. Here
temporal values become their ISO-8601 text (as feel-scala's ``string()``) and
such decimals become ``int``/``float`` when exact, else their exact text.
"""

from __future__ import annotations

import datetime as _dt
import math
from decimal import Decimal
from typing import Any

from . import temporal
from .runtime import number_out
from .values import Range, YearsMonthsDuration


def to_json_compatible(value: Any) -> Any:
    """A deep copy of ``value`` made only of JSON types (dict, list, str, numbers, bool, None)."""
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): to_json_compatible(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_compatible(v) for v in value]
    return json_default(value)


def json_default(value: Any) -> Any:
    """A ``json.dumps(default=...)`` hook for the non-JSON values FEEL produces.

    A :class:`~decimal.Decimal` that has no exact float form is rendered as its
    exact decimal text (a JSON string), never silently rounded.
    """
    if isinstance(value, Decimal):
        out = number_out(value)
        return str(out) if isinstance(out, Decimal) else out
    if isinstance(value, _dt.datetime):
        return temporal.format_date_and_time(value)
    if isinstance(value, _dt.date):
        return temporal.format_date(value)
    if isinstance(value, _dt.time):
        return temporal.format_time(value)
    if isinstance(value, _dt.timedelta):
        return temporal.format_days_time(value)
    if isinstance(value, YearsMonthsDuration):
        return temporal.format_years_months(value)
    if isinstance(value, Range):
        return {
            "start": to_json_compatible(value.start),
            "startIncluded": value.start_included,
            "end": to_json_compatible(value.end),
            "endIncluded": value.end_included,
        }
    raise TypeError(f"a {type(value).__name__} value is not JSON serialisable")
