"""Range functions (DMN 1.4 interval algebra): before, after, meets, overlaps, ...

Every function accepts the point/range combinations of the specification; the
overloads of one name share one implementation that dispatches on the argument
types, so a positional call works whichever overload the caller picked.
An unbounded range end (``None``) compares as minus/plus infinity.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from connector.feel.builtins._util import Table, describe, fail, fn, table
from connector.feel.semantics import feel_compare
from connector.feel.values import Range, YearsMonthsDuration


@dataclass(frozen=True, slots=True)
class _Span:
    """A range normalised for comparison: ``None`` ends become infinities."""

    s: Any
    si: bool
    e: Any
    ei: bool


_NEG_INF = object()
_POS_INF = object()


def _span(r: Range) -> _Span:
    start = _NEG_INF if r.start is None else r.start
    end = _POS_INF if r.end is None else r.end
    return _Span(start, r.start_included, end, r.end_included)


class _Cmp:
    """Comparisons of points for one function call; incomparable values raise."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, a: Any, b: Any) -> int:
        if a is _NEG_INF or b is _POS_INF:
            return 0 if a is b else -1
        if a is _POS_INF or b is _NEG_INF:
            return 0 if a is b else 1
        order = feel_compare(a, b)
        if order is None:
            raise fail(self.name, f"cannot compare {describe(a)} with {describe(b)}")
        return order

    def lt(self, a: Any, b: Any) -> bool:
        return self(a, b) < 0

    def eq(self, a: Any, b: Any) -> bool:
        return self(a, b) == 0

    def gt(self, a: Any, b: Any) -> bool:
        return self(a, b) > 0


def _point(name: str, value: Any) -> Any:
    if value is None or isinstance(value, Range):
        raise fail(name, f"expected a point value, got {describe(value)}")
    return value


def _point_kind(value: Any) -> str | None:
    """The kind of a point value (feel-scala: numbers, temporals, durations), else None.

    Strings and booleans are no points: ``before("a", "b")`` is null, as in feel-scala.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal | int | float):
        return "number"
    if isinstance(value, _dt.datetime):
        return "local date-time" if value.tzinfo is None else "date-time"
    if isinstance(value, _dt.date):
        return "date"
    if isinstance(value, _dt.time):
        return "local time" if value.tzinfo is None else "time"
    if isinstance(value, _dt.timedelta):
        return "days-time duration"
    if isinstance(value, YearsMonthsDuration):
        return "years-months duration"
    return None


def _representative(value: Any) -> Any:
    """A point standing for ``value``: itself, or a range's (first bounded) endpoint."""
    if isinstance(value, Range):
        return value.start if value.start is not None else value.end
    return value


def _comparable(name: str, a: Any, b: Any) -> None:
    kind_a = _point_kind(_representative(a))
    kind_b = _point_kind(_representative(b))
    if kind_a is None or kind_a != kind_b:
        raise fail(name, f"not defined for ({describe(a)}, {describe(b)})")


def _dispatch(
    name: str,
    pp: Callable[[_Cmp, Any, Any], bool] | None,
    pr: Callable[[_Cmp, Any, _Span], bool] | None,
    rp: Callable[[_Cmp, _Span, Any], bool] | None,
    rr: Callable[[_Cmp, _Span, _Span], bool] | None,
) -> Callable[[Any, Any], bool]:
    def impl(a: Any, b: Any) -> bool:
        _comparable(name, a, b)
        c = _Cmp(name)
        a_range, b_range = isinstance(a, Range), isinstance(b, Range)
        if a_range and b_range and rr is not None:
            return rr(c, _span(a), _span(b))
        if a_range and not b_range and rp is not None:
            return rp(c, _span(a), _point(name, b))
        if b_range and not a_range and pr is not None:
            return pr(c, _point(name, a), _span(b))
        if not a_range and not b_range and pp is not None:
            return pp(c, _point(name, a), _point(name, b))
        raise fail(name, f"not defined for ({describe(a)}, {describe(b)})")

    return impl


def _includes_point(c: _Cmp, r: _Span, p: Any) -> bool:
    return (c.lt(r.s, p) and c.gt(r.e, p)) or (c.eq(r.s, p) and r.si) or (c.eq(r.e, p) and r.ei)


def _includes_range(c: _Cmp, a: _Span, b: _Span) -> bool:
    starts_ok = c.lt(a.s, b.s) or (c.eq(a.s, b.s) and (a.si or not b.si))
    ends_ok = c.gt(a.e, b.e) or (c.eq(a.e, b.e) and (a.ei or not b.ei))
    return starts_ok and ends_ok


def _overlaps(c: _Cmp, a: _Span, b: _Span) -> bool:
    right = c.gt(a.e, b.s) or (c.eq(a.e, b.s) and a.ei and b.si)
    left = c.lt(a.s, b.e) or (c.eq(a.s, b.e) and a.si and b.ei)
    return right and left


def _overlaps_before(c: _Cmp, a: _Span, b: _Span) -> bool:
    return (
        (c.lt(a.s, b.s) or (c.eq(a.s, b.s) and a.si and not b.si))
        and (c.gt(a.e, b.s) or (c.eq(a.e, b.s) and a.ei and b.si))
        and (c.lt(a.e, b.e) or (c.eq(a.e, b.e) and (not a.ei or b.ei)))
    )


def _finishes(c: _Cmp, a: _Span, b: _Span) -> bool:
    return (
        a.ei == b.ei
        and c.eq(a.e, b.e)
        and (c.gt(a.s, b.s) or (c.eq(a.s, b.s) and (not a.si or b.si)))
    )


def _starts(c: _Cmp, a: _Span, b: _Span) -> bool:
    return (
        a.si == b.si
        and c.eq(a.s, b.s)
        and (c.lt(a.e, b.e) or (c.eq(a.e, b.e) and (not a.ei or b.ei)))
    )


_before = _dispatch(
    "before",
    lambda c, a, b: c.lt(a, b),
    lambda c, p, r: c.lt(p, r.s) or (c.eq(p, r.s) and not r.si),
    lambda c, r, p: c.lt(r.e, p) or (c.eq(r.e, p) and not r.ei),
    lambda c, a, b: c.lt(a.e, b.s) or ((not a.ei or not b.si) and c.eq(a.e, b.s)),
)
_after = _dispatch(
    "after",
    lambda c, a, b: c.gt(a, b),
    lambda c, p, r: c.gt(p, r.e) or (c.eq(p, r.e) and not r.ei),
    lambda c, r, p: c.gt(r.s, p) or (c.eq(r.s, p) and not r.si),
    lambda c, a, b: c.gt(a.s, b.e) or ((not a.si or not b.ei) and c.eq(a.s, b.e)),
)
_meets = _dispatch("meets", None, None, None, lambda c, a, b: a.ei and b.si and c.eq(a.e, b.s))
_met_by = _dispatch("met by", None, None, None, lambda c, a, b: a.si and b.ei and c.eq(a.s, b.e))
_overlaps_fn = _dispatch("overlaps", None, None, None, _overlaps)
_overlaps_before_fn = _dispatch("overlaps before", None, None, None, _overlaps_before)
_overlaps_after_fn = _dispatch(
    "overlaps after", None, None, None, lambda c, a, b: _overlaps_before(c, b, a)
)
_finishes_fn = _dispatch("finishes", None, lambda c, p, r: r.ei and c.eq(r.e, p), None, _finishes)
_finished_by = _dispatch(
    "finished by",
    None,
    None,
    lambda c, r, p: r.ei and c.eq(r.e, p),
    lambda c, a, b: _finishes(c, b, a),
)
_includes = _dispatch("includes", None, None, _includes_point, _includes_range)
_during = _dispatch(
    "during",
    None,
    lambda c, p, r: _includes_point(c, r, p),
    None,
    lambda c, a, b: _includes_range(c, b, a),
)
_starts_fn = _dispatch("starts", None, lambda c, p, r: r.si and c.eq(r.s, p), None, _starts)
_started_by = _dispatch(
    "started by",
    None,
    None,
    lambda c, r, p: r.si and c.eq(r.s, p),
    lambda c, a, b: _starts(c, b, a),
)
_coincides = _dispatch(
    "coincides",
    lambda c, a, b: c.eq(a, b),
    None,
    None,
    lambda c, a, b: c.eq(a.s, b.s) and a.si == b.si and c.eq(a.e, b.e) and a.ei == b.ei,
)

BUILTINS: Table = table(
    fn("before", "point1, point2", _before),
    fn("before", "point, range", _before),
    fn("before", "range, point", _before),
    fn("before", "range1, range2", _before),
    fn("after", "point1, point2", _after),
    fn("after", "point, range", _after),
    fn("after", "range, point", _after),
    fn("after", "range1, range2", _after),
    fn("meets", "range1, range2", _meets),
    fn("met by", "range1, range2", _met_by),
    fn("overlaps", "range1, range2", _overlaps_fn),
    fn("overlaps before", "range1, range2", _overlaps_before_fn),
    fn("overlaps after", "range1, range2", _overlaps_after_fn),
    fn("finishes", "point, range", _finishes_fn),
    fn("finishes", "range1, range2", _finishes_fn),
    fn("finished by", "range, point", _finished_by),
    fn("finished by", "range1, range2", _finished_by),
    fn("includes", "range, point", _includes),
    fn("includes", "range1, range2", _includes),
    fn("during", "point, range", _during),
    fn("during", "range1, range2", _during),
    fn("starts", "point, range", _starts_fn),
    fn("starts", "range1, range2", _starts_fn),
    fn("started by", "range, point", _started_by),
    fn("started by", "range1, range2", _started_by),
    fn("coincides", "point1, point2", _coincides),
    fn("coincides", "range1, range2", _coincides),
)
