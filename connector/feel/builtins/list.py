"""List functions: membership, aggregation, statistics and list building."""

from __future__ import annotations

import datetime as _dt
import functools
import math
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from connector.feel.builtins._util import (
    Table,
    describe,
    fail,
    fn,
    integer,
    list_arg,
    numbers,
    spread,
    table,
)
from connector.feel.semantics import feel_compare, feel_equal, type_name, zoned_identity
from connector.feel.values import (
    DECIMAL_CONTEXT,
    FeelFunction,
    FeelFunctionError,
    YearsMonthsDuration,
)


def _contains(items: Any, element: Any) -> bool:
    values = list_arg("list contains", items, "list")
    return any(feel_equal(v, element) is True for v in values)


def _count(items: Any) -> Decimal:
    return Decimal(len(list_arg("count", items, "list")))


def _extreme(name: str, want: int) -> Callable[..., Any]:
    def impl(*args: Any) -> Any:
        values = spread(name, args)
        if not values:
            return None
        best = values[0]
        for v in values[1:]:
            order = feel_compare(v, best)
            if order is None:
                raise fail(name, f"cannot compare {describe(v)} with {describe(best)}")
            if order == want:
                best = v
        if feel_compare(best, best) is None:
            raise fail(name, f"cannot compare {describe(best)} values")
        return best

    return impl


def _arith(name: str, op: Callable[[Decimal, Decimal], Decimal], values: list[Decimal]) -> Decimal:
    try:
        return functools.reduce(op, values)
    except (InvalidOperation, ArithmeticError) as exc:
        raise fail(name, "the result is out of range") from exc


def _sum(*args: Any) -> Decimal | None:
    values = numbers("sum", spread("sum", args))
    return _arith("sum", DECIMAL_CONTEXT.add, values) if values else None


def _product(*args: Any) -> Decimal | None:
    values = numbers("product", spread("product", args))
    return _arith("product", DECIMAL_CONTEXT.multiply, values) if values else None


def _mean(*args: Any) -> Decimal | None:
    values = numbers("mean", spread("mean", args))
    if not values:
        return None
    total = _arith("mean", DECIMAL_CONTEXT.add, values)
    return DECIMAL_CONTEXT.divide(total, Decimal(len(values)))


def _median(*args: Any) -> Decimal | None:
    values = sorted(numbers("median", spread("median", args)))
    if not values:
        return None
    middle = len(values) // 2
    if len(values) % 2:
        return values[middle]
    pair = DECIMAL_CONTEXT.add(values[middle - 1], values[middle])
    return DECIMAL_CONTEXT.divide(pair, Decimal(2))


def _stddev(*args: Any) -> Decimal:
    values = numbers("stddev", spread("stddev", args))
    if len(values) < 2:
        raise fail("stddev", "needs at least two numbers")
    ctx = DECIMAL_CONTEXT
    mean = ctx.divide(functools.reduce(ctx.add, values), Decimal(len(values)))
    squares = functools.reduce(ctx.add, (ctx.power(ctx.subtract(v, mean), 2) for v in values))
    # the square root in binary floating point, as feel-scala takes it (Math.sqrt)
    root = math.sqrt(float(ctx.divide(squares, Decimal(len(values) - 1))))
    if not math.isfinite(root):
        raise fail("stddev", "the result is out of range")
    return Decimal(repr(root))


def _mode(*args: Any) -> list[Decimal]:
    values = numbers("mode", spread("mode", args))
    counts: dict[Decimal, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    if not counts:
        return []
    top = max(counts.values())
    return sorted(v for v, c in counts.items() if c == top)


def _all(name: str) -> Callable[..., bool | None]:
    def impl(*args: Any) -> bool | None:
        values = spread(name, args)
        if any(v is False for v in values):
            return False
        return True if all(v is True for v in values) else None

    return impl


def _any(name: str) -> Callable[..., bool | None]:
    def impl(*args: Any) -> bool | None:
        values = spread(name, args)
        if any(v is True for v in values):
            return True
        return False if all(v is False for v in values) else None

    return impl


def _position(name: str, size: int, position: Any, param: str, allow_end: bool = False) -> int:
    """0-based index of a 1-based (negative: from the end) FEEL position."""
    p = integer(name, position, param)
    index = p - 1 if p > 0 else size + p
    limit = size if allow_end else size - 1
    if p == 0 or index < 0 or index > limit:
        raise fail(name, f"position {p} is outside the list of size {size}")
    return index


def _sublist(items: Any, start: Any, length: Any = None) -> list[Any]:
    values = list_arg("sublist", items, "list")
    index = _position("sublist", len(values), start, "start position")
    if length is None:
        return values[index:]
    count = integer("sublist", length, "length")
    if count < 0 or index + count > len(values):
        raise fail("sublist", f"length {count} is outside the list")
    return values[index : index + count]


def _append(items: Any, *new_items: Any) -> list[Any]:
    return [*list_arg("append", items, "list"), *new_items]


def _concatenate(*lists: Any) -> list[Any]:
    result: list[Any] = []
    for item in lists:
        result.extend(list_arg("concatenate", item, "lists"))
    return result


def _insert_before(items: Any, position: Any, new_item: Any) -> list[Any]:
    values = list_arg("insert before", items, "list")
    index = _position("insert before", len(values), position, "position", allow_end=True)
    return [*values[:index], new_item, *values[index:]]


def _remove(items: Any, position: Any) -> list[Any]:
    values = list_arg("remove", items, "list")
    index = _position("remove", len(values), position, "position")
    return [*values[:index], *values[index + 1 :]]


def _reverse(items: Any) -> list[Any]:
    return list(reversed(list_arg("reverse", items, "list")))


def _index_of(items: Any, match: Any) -> list[Decimal]:
    values = list_arg("index of", items, "list")
    return [Decimal(i) for i, v in enumerate(values, 1) if feel_equal(v, match) is True]


_HASHABLE = (bool, Decimal, str, _dt.date, _dt.time, _dt.timedelta, YearsMonthsDuration)


#: Type names of the values whose Python hash and equality agree with FEEL's as they are.
_PLAIN_KEYS: dict[type, str] = {
    Decimal: "number",
    str: "string",
    bool: "boolean",
    _dt.date: "date",
    _dt.timedelta: "days and time duration",
    YearsMonthsDuration: "years and months duration",
}


def _key(value: Any) -> tuple[str, Any] | None:
    """A hash key that agrees with FEEL equality, or None for lists/contexts/others.

    The type name is part of the key because Python treats ``True == 1``.
    """
    name = _PLAIN_KEYS.get(type(value))
    if name is not None:
        return (name, value)
    if value is None:
        return ("null", None)
    if isinstance(value, _dt.datetime | _dt.time) and value.tzinfo is not None:
        # Python hashes the instant; FEEL equality also needs offset and zone
        return (type_name(value), zoned_identity(value))
    if isinstance(value, _HASHABLE):
        return (type_name(value), value)
    return None


def _distinct(values: list[Any]) -> list[Any]:
    result: list[Any] = []
    seen: set[tuple[str, Any]] = set()
    unhashable: list[Any] = []
    for v in values:
        key = _key(v)
        if key is not None:
            if key in seen:
                continue
            seen.add(key)
        elif any(feel_equal(v, other) is True for other in unhashable):
            continue
        else:
            unhashable.append(v)
        result.append(v)
    return result


def _union(*lists: Any) -> list[Any]:
    return _distinct(_concatenate(*lists))


def _distinct_values(items: Any) -> list[Any]:
    return _distinct(list_arg("distinct values", items, "list"))


def _duplicate_values(items: Any) -> list[Any]:
    values = list_arg("duplicate values", items, "list")
    counts: dict[tuple[str, Any], int] = {}
    unhashable: list[list[Any]] = []  # [value, count] pairs
    for v in values:
        key = _key(v)
        if key is not None:
            counts[key] = counts.get(key, 0) + 1
            continue
        for entry in unhashable:
            if feel_equal(v, entry[0]) is True:
                entry[1] += 1
                break
        else:
            unhashable.append([v, 1])
    repeated = {k for k, c in counts.items() if c > 1}
    repeated_other = [entry[0] for entry in unhashable if entry[1] > 1]
    result = []
    for v in _distinct(values):
        key = _key(v)
        if (key in repeated) if key is not None else any(v is r for r in repeated_other):
            result.append(v)
    return result


def _flatten(items: Any) -> list[Any]:
    result: list[Any] = []
    # explicit stack: deep nesting must not hit Python's recursion limit
    stack = [iter(list_arg("flatten", items, "list"))]
    while stack:
        for v in stack[-1]:
            if isinstance(v, list):
                stack.append(iter(v))
                break
            result.append(v)
        else:
            stack.pop()
    return result


def _call(function: Any, args: list[Any]) -> Any:
    if isinstance(function, FeelFunction):
        return function.call(args)
    return function(*args)


def _sort(items: Any, precedes: Any) -> list[Any]:
    values = list_arg("sort", items, "list")
    if not (isinstance(precedes, FeelFunction) or callable(precedes)):
        raise fail("sort", f"parameter 'precedes' must be a function, got {describe(precedes)}")

    def compare(a: Any, b: Any) -> int:
        # sorted() only asks "a < b?", so one call of precedes per comparison suffices
        result = _call(precedes, [a, b])
        if not isinstance(result, bool):
            raise fail("sort", "'precedes' must return a boolean")
        return -1 if result else 1

    try:
        return sorted(values, key=functools.cmp_to_key(compare))
    except FeelFunctionError as exc:
        raise fail("sort", str(exc)) from exc


def _is_empty(items: Any) -> bool:
    return not list_arg("is empty", items, "list")


def _partition(items: Any, size: Any) -> list[list[Any]]:
    values = list_arg("partition", items, "list")
    n = integer("partition", size, "size")
    if n <= 0:
        raise fail("partition", "parameter 'size' must be positive")
    return [values[i : i + n] for i in range(0, len(values), n)]


BUILTINS: Table = table(
    fn("list contains", "list, element", _contains),
    fn("count", "list", _count),
    fn("min", "list...", _extreme("min", -1)),
    fn("max", "list...", _extreme("max", 1)),
    fn("sum", "list...", _sum),
    fn("product", "list...", _product),
    fn("mean", "list...", _mean),
    fn("median", "list...", _median),
    fn("stddev", "list...", _stddev),
    fn("mode", "list...", _mode),
    fn("and", "list...", _all("and")),
    fn("all", "list...", _all("all")),
    fn("or", "list...", _any("or")),
    fn("any", "list...", _any("any")),
    fn("sublist", "list, start position", _sublist),
    fn("sublist", "list, start position, length", _sublist),
    fn("append", "list, items...", _append),
    fn("concatenate", "lists...", _concatenate),
    fn("insert before", "list, position, newItem", _insert_before),
    fn("remove", "list, position", _remove),
    fn("reverse", "list", _reverse),
    fn("index of", "list, match", _index_of),
    fn("union", "lists...", _union),
    fn("distinct values", "list", _distinct_values),
    fn("duplicate values", "list", _duplicate_values),
    fn("flatten", "list", _flatten),
    fn("sort", "list, precedes", _sort),
    fn("is empty", "list", _is_empty),
    fn("partition", "list, size", _partition),
)
