"""FEEL runtime values: the Python types that stand for each FEEL type.

This module is the contract shared by the parser/interpreter and the built-in
function table. Every FEEL value at evaluation time is one of:

=====================  ===================================================
FEEL type              Python representation (internal)
=====================  ===================================================
null                   ``None``
number                 ``decimal.Decimal`` (never ``int``/``float`` inside)
string                 ``str``
boolean                ``bool``
date                   ``datetime.date`` (never a ``datetime``)
time                   ``datetime.time`` (``tzinfo`` set for offset/zone)
date and time          ``datetime.datetime`` (naive = local, else aware)
days and time duration ``datetime.timedelta``
years and months dur.  :class:`YearsMonthsDuration`
list                   ``list`` (treated as immutable: never mutate in place)
context                ``dict[str, Any]`` (insertion ordered, immutable by use)
range                  :class:`Range`
function               :class:`FeelFunction`
=====================  ===================================================

Conversion from caller input (``int``/``float``/...) to these internal forms and
back happens only at the API boundary (``to_feel`` / ``from_feel``).
"""

from __future__ import annotations

import datetime as _dt
import decimal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

#: Decimal context of FEEL numbers: IEEE 754 decimal128 (34 significant digits),
#: half-even rounding, as feel-scala uses.
DECIMAL_CONTEXT = decimal.Context(
    prec=34,
    rounding=decimal.ROUND_HALF_EVEN,
    Emin=-6143,
    Emax=6144,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)


class FeelFunctionError(Exception):
    """Raised by a built-in (or function value) for an invalid invocation.

    The interpreter turns it into ``null`` plus a warning carrying ``str(error)``;
    it never escapes to the caller of ``Expression.evaluate``.
    """


class EvaluationAborted(Exception):
    """Ends the whole evaluation with a failure (feel-scala's fatal ``ValError``).

    Unlike :class:`FeelFunctionError` (null plus a warning), nothing inside the
    expression can recover from it: the public API reports it as a failure.
    """


class AssertionFailed(EvaluationAborted):
    """``assert(value, condition[, cause])`` with an unfulfilled condition."""


@dataclass(frozen=True, slots=True)
class YearsMonthsDuration:
    """A FEEL years-and-months duration, normalised to a signed month count."""

    months: int

    @property
    def years(self) -> int:
        return int(self.months / 12)  # truncates toward zero for negative values

    @property
    def months_part(self) -> int:
        return self.months - self.years * 12

    def __feel_json__(self) -> dict[str, str]:
        """The tagged JSON form (``{"type": ..., "value": "P1Y2M"}``) used by FEEL test kits."""
        from connector.feel.temporal import format_years_months

        return {"type": "years and months duration", "value": format_years_months(self)}


@dataclass(frozen=True, slots=True)
class Range:
    """A FEEL range/interval. ``start``/``end`` of ``None`` mean unbounded."""

    start: Any
    start_included: bool
    end: Any
    end_included: bool


@dataclass(frozen=True, slots=True)
class Param:
    """A formal parameter of a built-in or user-defined function."""

    name: str
    optional: bool = False
    variadic: bool = False


class FeelFunction:
    """A FEEL function value: built-in, user-defined, or a Python callable.

    ``call`` takes already evaluated FEEL values (positional, in ``params``
    order; missing optional parameters are not passed) and returns a FEEL value.
    It raises :class:`FeelFunctionError` for an invalid invocation.
    """

    __slots__ = ("direct", "impl", "name", "params")

    def __init__(
        self,
        name: str,
        params: Sequence[Param],
        impl: Callable[..., Any],
        direct: Callable[[Sequence[Any]], Any] | None = None,
    ) -> None:
        self.name = name
        self.params = tuple(params)
        self.impl = impl
        # ``impl`` taking the argument list as it is: a plain Python call, which
        # (unlike ``impl(*args)``) uses no C stack, so deep recursion of FEEL
        # functions ends in a RecursionError even on a thread with a small stack
        self.direct = direct

    def call(self, args: Sequence[Any]) -> Any:
        if self.direct is not None:
            return self.direct(args)
        return self.impl(*args)

    def __repr__(self) -> str:
        # feel-scala's text of a function value: its parameters only
        names = ", ".join(p.name for p in self.params)
        return f"function({names})"


DATE = _dt.date
TIME = _dt.time
DATETIME = _dt.datetime
TIMEDELTA = _dt.timedelta
