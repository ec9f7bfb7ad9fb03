"""Evaluation-time helpers: value conversion, operators on FEEL values, scopes.

Values read from the caller's context are converted lazily: containers
(``dict``/``list``) may hold raw Python scalars (``int``, ``float``), and every
read out of a container or scope passes the value through :func:`cv`. Values
handed to code outside the evaluator (built-ins, semantics) go through
:func:`deep` first, so they only ever see internal FEEL values.

A scope is a 4-item list ``[variables, parent, state, item]``: ``variables`` is
a mapping (the caller's context at the root), ``state`` is shared by the whole
evaluation (``[steps since the last clock check, root variables, budget, *warnings]``) and
``item`` is the current element of a filter (or :data:`MISSING`).

Budget: an evaluation may run for a wall-clock time (its deadline, a ``time.monotonic()``
value) and build strings of at most :data:`MAX_TEXT` characters and lists/contexts of at
most :data:`MAX_ITEMS` entries. Loops, ranges and function calls count steps and read the
clock every :data:`CLOCK_EVERY` steps, so a runaway expression stops within a few
milliseconds of its deadline with :class:`LimitExceeded`, which fails the whole evaluation
(there is no partial result of a runaway loop). No fixed step cap: a legitimate
``count(for x in 0..1000000 return x)`` completes as in feel-scala. Lists are used because they are the cheapest
object Python can allocate per evaluation.
"""

from __future__ import annotations

import calendar
import datetime as _dt
import math
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from . import semantics, temporal
from .values import (
    DECIMAL_CONTEXT,
    EvaluationAborted,
    FeelFunction,
    FeelFunctionError,
    Range,
    YearsMonthsDuration,
)

Scope = list[Any]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
EMPTY: Mapping[str, Any] = {}

#: Wall-clock seconds one evaluation may take unless the caller gives its own budget.
DEFAULT_TIME_BUDGET = 10.0
#: Most characters of a string an evaluation may build.
MAX_TEXT = 10_000_000
#: Most items of a list (or entries of a context) an evaluation may build.
MAX_ITEMS = 2_000_000
#: Steps (iterations, items, calls) between two reads of the clock.
CLOCK_EVERY = 1024
#: Most warnings kept per evaluation.
MAX_WARNINGS = 50

NATIVE: frozenset[type] = frozenset(
    {
        str,
        Decimal,
        bool,
        type(None),
        list,
        dict,
        _dt.date,
        _dt.datetime,
        _dt.time,
        _dt.timedelta,
        YearsMonthsDuration,
        Range,
        FeelFunction,
    }
)

_ADD = DECIMAL_CONTEXT.add
_SUB = DECIMAL_CONTEXT.subtract
_MUL = DECIMAL_CONTEXT.multiply
_DIV = DECIMAL_CONTEXT.divide
_POW = DECIMAL_CONTEXT.power


class LimitExceeded(EvaluationAborted):
    """An evaluation went over its time or size budget; the whole evaluation fails."""


def new_state(root: Any, budget: float | None = None) -> list[Any]:
    """The shared state of one evaluation (see the module docstring).

    The clock is not read here (that would cost a cheap evaluation a third of its time):
    the budget starts at the first clock check, i.e. after the first :data:`CLOCK_EVERY`
    steps, which take well under a millisecond.
    """
    return [0, root, DEFAULT_TIME_BUDGET if budget is None else float(budget)]


# ---------------------------------------------------------------- conversion in


def cv(value: Any) -> Any:
    """Convert one value read from a container/scope to its internal form (shallow)."""
    t = type(value)
    if t in NATIVE:
        return value
    if t is int:
        return Decimal(value)
    if t is float:
        return Decimal(repr(value)) if math.isfinite(value) else None
    return _cv_other(value)


def _cv_other(value: Any) -> Any:
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return Decimal(int(value))
    if isinstance(value, float):
        return cv(float(value))
    if isinstance(value, str):
        return str(value)
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, list | tuple | set | frozenset):
        return list(value)
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, _dt.date | _dt.time | _dt.timedelta):
        return value
    return None


def deep(value: Any) -> Any:
    """Fully convert a value (and everything inside it) to internal FEEL values."""
    t = type(value)
    if t is list:
        return [x if type(x) in _SCALAR_DONE else _deep_item(x) for x in value]
    if t is dict:
        out = {}
        for k, x in value.items():
            if type(k) is not str:
                k = str(k)
            out[k] = x if type(x) in _SCALAR_DONE else _deep_item(x)
        return out
    if t in NATIVE:
        return value
    converted = cv(value)
    if type(converted) is list or type(converted) is dict:
        return deep(converted)
    return converted


#: Types that :func:`deep` can keep as they are without looking inside.
_SCALAR_DONE: frozenset[type] = NATIVE - {list, dict}


def _deep_item(value: Any) -> Any:
    t = type(value)
    if t is int:
        return Decimal(value)
    if t is list or t is dict:
        return deep(value)
    return deep(value) if t is not float else cv(value)


# ---------------------------------------------------------------- conversion out


def number_out(value: Decimal) -> int | float | Decimal | None:
    if not value.is_finite():
        return None
    if value.adjusted() >= 4000:
        # ints this long exceed Python's int-to-text limit (json.dumps would fail)
        return value
    if value == value.to_integral_value():
        return int(value)
    as_float = float(value)
    if Decimal(repr(as_float)) == value:
        return as_float
    return value


#: Output types that need no conversion (containers need a look inside).
_PLAIN_OUT: frozenset[type] = frozenset({str, int, bool, type(None)})


def from_feel(value: Any) -> Any:
    """Internal (possibly lazily converted) value -> plain Python value for the caller."""
    t = type(value)
    if t is str or t is bool or value is None or t is int:
        return value
    if t is Decimal:
        return number_out(value)
    if t is list:
        for x in value:
            if type(x) not in _PLAIN_OUT:
                return [from_feel(x) for x in value]
        return value  # already plain: hand it out without copying
    if t is dict:
        for k, x in value.items():
            if type(x) not in _PLAIN_OUT or type(k) is not str:
                return {k if type(k) is str else str(k): from_feel(x) for k, x in value.items()}
        return value
    if t is float:
        return value if math.isfinite(value) else None
    if t in NATIVE:
        return value
    converted = cv(value)
    return None if converted is None else from_feel(converted)


# ---------------------------------------------------------------- scopes


#: Index of the first warning in an evaluation's state.
WARNINGS_AT = 3


def warn(scope: Scope, message: str) -> None:
    state = scope[2]
    if len(state) < MAX_WARNINGS + WARNINGS_AT:
        state.append(message)


def count_steps(scope: Scope, n: int) -> None:
    """Account ``n`` steps of work; every :data:`CLOCK_EVERY` steps the deadline is checked."""
    state = scope[2]
    state[0] += n
    if state[0] >= CLOCK_EVERY:
        state[0] = 0
        check_clock(state)


def check_clock(state: list[Any]) -> None:
    # state[2]: the budget in seconds (>= 0) until the first check, then -deadline
    now = time.monotonic()
    limit = state[2]
    if limit >= 0:
        state[2] = -(now + limit)
    elif now > -limit:
        raise LimitExceeded("evaluation exceeded its time budget")


def check_size(value: Any) -> Any:
    """``value`` itself, unless it is a string/list/context over the size budget."""
    t = type(value)
    if t is str:
        if len(value) > MAX_TEXT:
            raise LimitExceeded(f"a string grew past {MAX_TEXT} characters")
    elif (t is list or t is dict) and len(value) > MAX_ITEMS:
        raise LimitExceeded(f"a {'list' if t is list else 'context'} grew past {MAX_ITEMS} items")
    return value


def lookup(scope: Scope | None, name: str) -> Any:
    """Raw value of ``name`` from ``scope`` outwards, or MISSING."""
    while scope is not None:
        value = scope[0].get(name, MISSING)
        if value is not MISSING:
            return value
        scope = scope[1]
    return MISSING


def lookup_item(scope: Scope | None) -> Any:
    """``item``: the innermost filter element (a context key named item wins)."""
    while scope is not None:
        value = scope[0].get("item", MISSING)
        if value is not MISSING:
            return value
        if scope[3] is not MISSING:
            return scope[3]
        scope = scope[1]
    return MISSING


# ---------------------------------------------------------------- members


def member(value: Any, key: str, scope: Scope) -> Any:
    """``value.key`` for any value: context entry, list projection, temporal property."""
    t = type(value)
    if t is dict:
        result = value.get(key, MISSING)
        if result is MISSING:
            warn(scope, f"No context entry found with key '{key}'")
            return None
        return cv(result)
    if t is list:
        out = []
        for item in value:
            if type(item) is dict:
                r = item.get(key)
                out.append(r if type(r) in NATIVE else cv(r))
            else:
                out.append(member(cv(item), key, scope) if item is not None else None)
        return out
    if value is None:
        return None
    if isinstance(value, Mapping):
        return member(cv(value), key, scope)
    if isinstance(value, Range):
        return _range_property(value, key, scope)
    if isinstance(value, _dt.date | _dt.time | _dt.timedelta | YearsMonthsDuration):
        found, result = temporal.temporal_property(value, key)
        if not found:
            # values may be sensitive: name their type only
            warn(scope, f"No property found with name '{key}' of a {semantics.type_name(value)}")
        return result
    converted = cv(value)
    if converted is not value and converted is not None:
        return member(converted, key, scope)
    warn(scope, f"No context entry found with key '{key}' on a {semantics.type_name(value)}")
    return None


def _range_property(value: Range, key: str, scope: Scope) -> Any:
    if key == "start":
        return value.start
    if key == "end":
        return value.end
    if key == "start included":
        return value.start_included
    if key == "end included":
        return value.end_included
    warn(scope, f"No property found with name '{key}' of a range")
    return None


# ---------------------------------------------------------------- comparison


def equal(a: Any, b: Any, scope: Scope) -> bool | None:
    ta = type(a)
    if ta is type(b) and (ta is str or ta is Decimal or ta is bool):
        return bool(a == b)
    if a is None or b is None:
        return a is None and b is None
    result: bool | None = semantics.feel_equal(deep(a), deep(b))
    if result is None:
        warn(
            scope,
            f"Can't compare a {semantics.type_name(cv(a))} with a {semantics.type_name(cv(b))}",
        )
    return result


def compare(a: Any, b: Any, scope: Scope) -> int | None:
    ta = type(a)
    if ta is type(b) and (ta is Decimal or ta is str):
        return int((a > b) - (a < b))
    if a is None or b is None:
        return None
    a, b = cv(a), cv(b)
    result: int | None = semantics.feel_compare(a, b)
    if result is None:
        warn(scope, f"Can't compare a {semantics.type_name(a)} with a {semantics.type_name(b)}")
    return result


def in_range(value: Any, rng: Range, scope: Scope) -> bool | None:
    if rng.start is not None:
        c = compare(rng.start, value, scope)
        if c is None:
            return None
        if c > 0 or (c == 0 and not rng.start_included):
            return False
    if rng.end is not None:
        c = compare(value, rng.end, scope)
        if c is None:
            return None
        if c > 0 or (c == 0 and not rng.end_included):
            return False
    return True


# ---------------------------------------------------------------- arithmetic


def arith(op: str, a: Any, b: Any, scope: Scope) -> Any:
    """Slow path of ``+ - * / **`` for every type combination (fast paths inline)."""
    if a is None or b is None:
        return None
    try:
        if type(a) is Decimal and type(b) is Decimal:
            return _number_op(op, a, b, scope)
        result = _TEMPORAL_OPS[op](a, b)
        if type(result) is str:
            check_size(result)
    except (ArithmeticError, ValueError, OverflowError):
        warn(scope, f"Arithmetic '{op}' out of range or undefined")
        return None
    if result is NotImplemented:
        warn(
            scope,
            f"Can't apply '{op}' to a {semantics.type_name(a)} and a {semantics.type_name(b)}",
        )
        return None
    return result


def _number_op(op: str, a: Decimal, b: Decimal, scope: Scope) -> Decimal | None:
    if op == "+":
        return _ADD(a, b)
    if op == "-":
        return _SUB(a, b)
    if op == "*":
        return _MUL(a, b)
    if op == "/":
        if not b:
            warn(scope, "Division by zero")
            return None
        return _DIV(a, b)
    return power(a, b, scope)


def power(a: Decimal, b: Decimal, scope: Scope) -> Decimal | None:
    if b == b.to_integral_value() and abs(b) <= 999_999_999:
        return _POW(a, b)
    # non-integer exponents: like feel-scala, computed in binary floating point
    try:
        result = float(a) ** float(b)
    except (OverflowError, ZeroDivisionError):
        warn(scope, "Arithmetic '**' out of range")
        return None
    if not isinstance(result, float) or not math.isfinite(result):
        warn(scope, "Arithmetic '**' out of range or undefined")
        return None
    return DECIMAL_CONTEXT.create_decimal(repr(result))


def negate(value: Any, scope: Scope) -> Any:
    t = type(value)
    if t is Decimal:
        return -value
    if t is _dt.timedelta:
        return -value
    if t is YearsMonthsDuration:
        return YearsMonthsDuration(-value.months)
    if value is not None:
        warn(scope, f"Can't negate a {semantics.type_name(value)}")
    return None


def add_months(value: Any, months: int) -> Any:
    total = value.year * 12 + value.month - 1 + months
    year, month0 = divmod(total, 12)
    day = min(value.day, calendar.monthrange(year, month0 + 1)[1])
    return value.replace(year=year, month=month0 + 1, day=day)


def _is_dt(v: Any) -> bool:
    return type(v) is _dt.datetime or isinstance(v, _dt.datetime)


def _is_date(v: Any) -> bool:
    return isinstance(v, _dt.date) and not isinstance(v, _dt.datetime)


def _plus_duration(value: _dt.datetime, delta: _dt.timedelta) -> _dt.datetime:
    tz = value.tzinfo
    if tz is None or isinstance(tz, _dt.timezone):
        return value + delta
    # zone ids: add on the instant time line, as java.time does
    return (value.astimezone(_dt.UTC) + delta).astimezone(tz)


def _time_plus(value: _dt.time, delta: _dt.timedelta) -> _dt.time:
    moved = _dt.datetime.combine(_dt.date(2000, 1, 1), value.replace(tzinfo=None)) + delta
    return moved.time().replace(tzinfo=value.tzinfo)


def _add(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta is str and tb is str:
        return a + b
    if isinstance(b, _dt.date | _dt.time) and not isinstance(a, _dt.date | _dt.time):
        a, b = b, a
        ta, tb = tb, ta
    if tb is _dt.timedelta:
        if ta is _dt.timedelta:
            return a + b
        if _is_dt(a):
            return _plus_duration(a, b)
        if _is_date(a):
            return a + _dt.timedelta(days=(b // _dt.timedelta(days=1)))
        if isinstance(a, _dt.time):
            return _time_plus(a, b)
    if tb is YearsMonthsDuration:
        if ta is YearsMonthsDuration:
            return YearsMonthsDuration(a.months + b.months)
        if isinstance(a, _dt.date):
            return add_months(a, b.months)
    return NotImplemented


def _sub(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if tb is _dt.timedelta or tb is YearsMonthsDuration:
        if isinstance(a, _dt.date | _dt.time) or ta is tb:
            return _add(a, -b if tb is _dt.timedelta else YearsMonthsDuration(-b.months))
        return NotImplemented
    if _is_dt(a) and _is_dt(b):
        if (a.tzinfo is None) != (b.tzinfo is None):
            return NotImplemented
        return a - b
    if _is_date(a) and _is_date(b):
        return a - b
    if _is_date(a) and _is_dt(b) and b.tzinfo is None:
        return _dt.datetime.combine(a, _dt.time()) - b
    if _is_dt(a) and _is_date(b) and a.tzinfo is None:
        return a - _dt.datetime.combine(b, _dt.time())
    if isinstance(a, _dt.time) and isinstance(b, _dt.time) and not _is_dt(a):
        if (a.tzinfo is None) != (b.tzinfo is None):
            return NotImplemented
        day = _dt.date(2000, 1, 1)
        return _dt.datetime.combine(day, a) - _dt.datetime.combine(day, b)
    return NotImplemented


def _scale_td(delta: _dt.timedelta, factor: Decimal) -> _dt.timedelta:
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return _dt.timedelta(microseconds=int(DECIMAL_CONTEXT.multiply(Decimal(micros), factor)))


def _mul(a: Any, b: Any) -> Any:
    if type(a) is Decimal:
        a, b = b, a
    if type(b) is not Decimal:
        return NotImplemented
    if type(a) is _dt.timedelta:
        return _scale_td(a, b)
    if type(a) is YearsMonthsDuration:
        return YearsMonthsDuration(int(DECIMAL_CONTEXT.multiply(Decimal(a.months), b)))
    return NotImplemented


def _div(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta is _dt.timedelta and tb is Decimal:
        return None if not b else _scale_td(a, DECIMAL_CONTEXT.divide(Decimal(1), b))
    if ta is YearsMonthsDuration and tb is Decimal:
        return None if not b else YearsMonthsDuration(int(DECIMAL_CONTEXT.divide(a.months, b)))
    if ta is _dt.timedelta and tb is _dt.timedelta:
        if not b:
            return None
        return DECIMAL_CONTEXT.divide(_micros(a), _micros(b))
    if ta is YearsMonthsDuration and tb is YearsMonthsDuration:
        return None if not b.months else DECIMAL_CONTEXT.divide(a.months, b.months)
    return NotImplemented


def _micros(delta: _dt.timedelta) -> Decimal:
    return Decimal((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds)


def _pow(a: Any, b: Any) -> Any:
    return NotImplemented


_TEMPORAL_OPS = {"+": _add, "-": _sub, "*": _mul, "/": _div, "**": _pow}


# ---------------------------------------------------------------- temporal literals


def parse_temporal_literal(text: str) -> Any:
    return temporal.parse_temporal_literal(text)


def call_failed(scope: Scope, name: str, error: Exception) -> None:
    if isinstance(error, EvaluationAborted | RecursionError):
        raise error
    if isinstance(error, FeelFunctionError):
        warn(scope, f"Failed to invoke function '{name}': {error}")
    else:
        warn(scope, f"Failed to invoke function '{name}': {type(error).__name__}")
    return None
