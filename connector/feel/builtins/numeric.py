"""Numeric functions: rounding, abs, modulo, sqrt, log, exp, parity, random."""

from __future__ import annotations

import datetime as _dt
import decimal
import math
import random
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from connector.feel.builtins._util import Table, describe, fail, fn, integer, number, table
from connector.feel.values import DECIMAL_CONTEXT, YearsMonthsDuration

#: Scale bounds of the DMN specification (decimal128 exponent range).
_MIN_SCALE, _MAX_SCALE = -6111, 6176

_MODES = {
    "UP": decimal.ROUND_UP,
    "DOWN": decimal.ROUND_DOWN,
    "CEILING": decimal.ROUND_CEILING,
    "FLOOR": decimal.ROUND_FLOOR,
    "HALF_UP": decimal.ROUND_HALF_UP,
    "HALF_DOWN": decimal.ROUND_HALF_DOWN,
    "HALF_EVEN": decimal.ROUND_HALF_EVEN,
}


def round_to_scale(name: str, value: Any, scale: Any, rounding: str) -> Decimal:
    n = number(name, value, "n")
    s = integer(name, scale, "scale")
    if not _MIN_SCALE <= s <= _MAX_SCALE:
        raise fail(name, f"parameter 'scale' must be between {_MIN_SCALE} and {_MAX_SCALE}")
    exponent = n.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -s and s >= 0:
        return n  # already has at most `scale` fraction digits
    ctx = DECIMAL_CONTEXT.copy()
    ctx.rounding = rounding
    try:
        return n.quantize(Decimal(1).scaleb(-s), context=ctx)
    except decimal.InvalidOperation as exc:
        raise fail(name, "the result does not fit into 34 digits") from exc


def _rounding(name: str, rounding: str) -> Callable[..., Decimal]:
    def impl(value: Any, scale: Any = Decimal(0)) -> Decimal:
        return round_to_scale(name, value, scale, rounding)

    return impl


def _decimal(value: Any, scale: Any, mode: Any = None) -> Decimal:
    rounding = decimal.ROUND_HALF_EVEN
    key = mode.upper() if isinstance(mode, str) else None
    if mode is not None:
        if key not in _MODES and key != "UNNECESSARY":
            names = ", ".join([*_MODES, "UNNECESSARY"])
            raise fail("decimal", f"unknown rounding mode, use one of {names}")
        rounding = _MODES.get(key or "", decimal.ROUND_HALF_EVEN)
    result = round_to_scale("decimal", value, scale, rounding)
    if key == "UNNECESSARY" and result != value:
        raise fail("decimal", "rounding mode 'UNNECESSARY' but rounding is necessary")
    return result


def _abs(value: Any) -> Any:
    if isinstance(value, Decimal):
        return abs(value)
    if isinstance(value, _dt.timedelta):
        return abs(value)
    if isinstance(value, YearsMonthsDuration):
        return YearsMonthsDuration(abs(value.months))
    raise fail("abs", f"parameter 'n' must be a number or a duration, got {describe(value)}")


def _modulo(dividend: Any, divisor: Any) -> Decimal:
    a = number("modulo", dividend, "dividend")
    b = number("modulo", divisor, "divisor")
    if b.is_zero():
        raise fail("modulo", "division by zero")
    ctx = DECIMAL_CONTEXT
    # floored modulo: the result has the sign of the divisor, as in feel-scala
    try:
        quotient = ctx.divide(a, b).to_integral_value(rounding=decimal.ROUND_FLOOR)
        return ctx.subtract(a, ctx.multiply(b, quotient))
    except decimal.InvalidOperation as exc:
        raise fail("modulo", "the result is out of range") from exc


def _math(
    name: str, op: Callable[[Decimal], Decimal], check: Callable[[Decimal], bool], why: str
) -> Callable[[Any], Decimal]:
    def impl(value: Any) -> Decimal:
        n = number(name, value, "number")
        if not check(n):
            raise fail(name, why)
        try:
            return op(n)
        except (decimal.InvalidOperation, ArithmeticError) as exc:
            raise fail(name, "the result is out of range") from exc

    return impl


def _parity(name: str, remainder: int) -> Callable[[Any], bool]:
    def impl(value: Any) -> bool:
        n = number(name, value, "number")
        if n != n.to_integral_value():
            return False
        return int(n) % 2 == remainder

    return impl


def _double(op: Callable[[float], float]) -> Callable[[Decimal], Decimal]:
    """``op`` in binary floating point, as feel-scala computes sqrt, log and exp (Java's
    Math functions): sqrt(2) is 1.4142135623730951, the same digits a modeller sees there."""

    def impl(n: Decimal) -> Decimal:
        result = op(float(n))
        if not math.isfinite(result):
            raise OverflowError("the result is out of range")
        return Decimal(repr(result))

    return impl


def _random_number() -> Decimal:
    return Decimal(repr(random.random()))


BUILTINS: Table = table(
    fn("decimal", "n, scale", _decimal),
    fn("decimal", "n, scale, mode", _decimal),
    fn("floor", "n", _rounding("floor", decimal.ROUND_FLOOR)),
    fn("floor", "n, scale", _rounding("floor", decimal.ROUND_FLOOR)),
    fn("ceiling", "n", _rounding("ceiling", decimal.ROUND_CEILING)),
    fn("ceiling", "n, scale", _rounding("ceiling", decimal.ROUND_CEILING)),
    fn("round up", "n", _rounding("round up", decimal.ROUND_UP)),
    fn("round up", "n, scale", _rounding("round up", decimal.ROUND_UP)),
    fn("round down", "n", _rounding("round down", decimal.ROUND_DOWN)),
    fn("round down", "n, scale", _rounding("round down", decimal.ROUND_DOWN)),
    fn("round half up", "n", _rounding("round half up", decimal.ROUND_HALF_UP)),
    fn("round half up", "n, scale", _rounding("round half up", decimal.ROUND_HALF_UP)),
    fn("round half down", "n", _rounding("round half down", decimal.ROUND_HALF_DOWN)),
    fn("round half down", "n, scale", _rounding("round half down", decimal.ROUND_HALF_DOWN)),
    fn("abs", "n", _abs),
    fn("abs", "number", _abs),
    fn("modulo", "dividend, divisor", _modulo),
    fn("sqrt", "number", _math("sqrt", _double(math.sqrt), lambda n: n >= 0, "negative number")),
    fn("log", "number", _math("log", _double(math.log), lambda n: n > 0, "number must be > 0")),
    fn("exp", "number", _math("exp", _double(math.exp), lambda n: True, "")),
    fn("odd", "number", _parity("odd", 1)),
    fn("even", "number", _parity("even", 0)),
    fn("random number", "", _random_number),
)
