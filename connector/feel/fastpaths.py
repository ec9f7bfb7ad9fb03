"""Specialised closures for the shapes connector expressions take most often.

``body.status = "OK"``, ``items[price > 10]``, ``string(orderId)``: each is
compiled to one closure that handles the common value types inline and falls
back to the general evaluation for everything else, so results are identical
to the general path (see :mod:`connector.feel.compiler`).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from . import ast as A
from .runtime import (
    EMPTY,
    MISSING,
    NATIVE,
    Scope,
    call_failed,
    compare,
    cv,
    deep,
    equal,
    from_feel,
    member,
    warn,
)

Fn = Callable[[Scope], Any]

FLAT: frozenset[type] = NATIVE - {list, dict}
ORDER_TESTS: dict[str, Callable[[int], bool]] = {
    "<": lambda c: c < 0,
    "<=": lambda c: c <= 0,
    ">": lambda c: c > 0,
    ">=": lambda c: c >= 0,
}


def root_lookup(name: str, message: str, raw: bool) -> Fn:
    """A name no enclosing construct binds: read it straight from the caller's context."""
    if raw:

        def root_raw(s: Scope) -> Any:
            v = s[2][1].get(name, MISSING)
            if v is MISSING:
                warn(s, message)
                return None
            return v

        return root_raw

    def root_value(s: Scope) -> Any:
        v = s[2][1].get(name, MISSING)
        if v is MISSING:
            warn(s, message)
            return None
        return v if type(v) in NATIVE else cv(v)

    return root_value


# A filter ``list[member op constant]`` is the most common filter shape. Its loop
# is generated once per operator (from this fixed template, never from user
# text) so the comparison is inlined; elements that are not contexts, lack the
# member, or hold another type go through ``slow`` (the general evaluation).
_MEMBER_FILTER_TEMPLATE = """
def loop(items, name, type_a, const_a, type_b, const_b, type_c, const_c, scope, cond):
    out = []
    append = out.append
    for it in items:
        if type(it) is dict:
            a = it.get(name, MISSING)
            t = type(a)
            if t is type_a:
                if a {op} const_a:
                    append(it)
                continue
            if t is type_b:
                if a {op} const_b:
                    append(it)
                continue
            if t is type_c:
                # floats: `a - a == 0` rules out inf/nan, which FEEL reads as null
                if a - a == 0 and a {op} const_c:
                    append(it)
                continue
        it = cv(it)
        if cond([it if type(it) is dict else EMPTY, scope, scope[2], it]) is True:
            append(it)
    return out
"""


def _make_member_loop(op: str) -> Callable[..., list[Any]]:
    namespace: dict[str, Any] = {"MISSING": MISSING, "EMPTY": EMPTY, "cv": cv}
    exec(_MEMBER_FILTER_TEMPLATE.format(op="==" if op == "=" else op), namespace)
    loop: Callable[..., list[Any]] = namespace["loop"]
    return loop


_MEMBER_LOOPS = {op: _make_member_loop(op) for op in ("=", "!=", "<", "<=", ">", ">=")}


class _Never:
    """A type no value has: disables a fast-path slot."""


def float_twin(const: Decimal) -> float | None:
    """A float that orders like ``const`` against any float's shortest decimal form.

    A decimal of at most 15 significant digits survives the trip through a
    float unchanged, so comparing a float ``f`` with ``float(const)`` gives the
    same answer as comparing ``Decimal(repr(f))`` with ``const``.
    """
    if not const.is_finite() or len(const.normalize().as_tuple().digits) > 15:
        return None
    twin = float(const)
    return twin if 1e-300 < abs(twin) < 1e300 or twin == 0 else None


def member_filter(
    node: A.Node,
) -> tuple[Callable[..., list[Any]], str, type, Any, type, Any, type, Any] | None:
    if not (
        isinstance(node, A.Compare)
        and isinstance(node.left, A.Name)
        and node.left.name not in ("item", "?")
        and isinstance(node.right, A.Const)
    ):
        return None
    name, const, loop = node.left.name, node.right.value, _MEMBER_LOOPS[node.op]
    if type(const) is Decimal:
        as_int = int(const) if const == const.to_integral_value() else const
        twin = float_twin(const)
        float_type = float if twin is not None else _Never
        return loop, name, int, as_int, Decimal, const, float_type, twin
    if type(const) is str and node.op in ("=", "!="):
        return loop, name, str, const, str, const, str, const
    return None


def root_path(name: str, key: str, raw: bool, out: bool = False) -> Fn:
    """``variable.key`` for a caller's variable: one closure for both steps."""
    no_var = f"No variable found with name '{name}'"
    no_key = f"No context entry found with key '{key}'"

    def root_path(s: Scope) -> Any:
        v = s[2][1].get(name, MISSING)
        if type(v) is dict:
            r = v.get(key, MISSING)
            if r is not MISSING:
                return r if raw or type(r) in NATIVE else cv(r)
            warn(s, no_key)
            return None
        if v is MISSING:
            warn(s, no_var)
            return None
        r = member(v, key, s)
        if out:
            return from_feel(r)
        return r if raw or type(r) in NATIVE else cv(r)

    return root_path


def root_path_compare(name: str, key: str, op: str, const: Any, general: Fn) -> Fn:
    """``variable.key op constant`` (``body.status = "OK"``) as one closure.

    Handles a member of the constant's own type inline; anything else (missing
    variable or member, other types) goes through ``general``.
    """
    fast = PY_OPS[op]
    t_const = type(const)
    if t_const is Decimal:
        if const != const.to_integral_value():
            return general
        const, t_const = int(const), int
    elif t_const is not str or op not in ("=", "!="):
        return general

    def root_path_compare(s: Scope) -> Any:
        v = s[2][1].get(name)
        if type(v) is dict:
            a = v.get(key)
            if type(a) is t_const:
                return fast(a, const)
        return general(s)

    return root_path_compare


def arg(value: Any) -> Any:
    return value if type(value) in FLAT else deep(value)


def _shortcut_string(args: list[Fn], impl: Callable[..., Any], name: str) -> Fn:
    """``string(x)``: strings and integers need no general formatting."""
    a0 = args[0]

    def string(s: Scope) -> Any:
        x = a0(s)
        t = type(x)
        if t is str:
            return x
        if t is int:
            return str(x)
        try:
            return impl(arg(x))
        except Exception as error:
            return call_failed(s, name, error)

    return string


def _shortcut_list_contains(args: list[Fn], impl: Callable[..., Any], name: str) -> Fn:
    """``list contains(list, "text")``: a string equals only an equal string."""
    a0, a1 = args

    def list_contains(s: Scope) -> Any:
        items = a0(s)
        x = a1(s)
        if type(items) is list and type(x) is str:
            return x in items
        try:
            return impl(arg(items), arg(x))
        except Exception as error:
            return call_failed(s, name, error)

    return list_contains


SHORTCUTS: dict[tuple[str, int], Callable[[list[Fn], Callable[..., Any], str], Fn]] = {
    ("string", 1): _shortcut_string,
    ("list contains", 2): _shortcut_list_contains,
}


def compare_const(op: str, left: Fn, const: Any) -> Fn:
    """``x op constant``: the usual shape of conditions; avoids converting ``x``."""
    if type(const) is str:
        if op == "=":

            def eq_str(s: Scope) -> Any:
                a = left(s)
                if type(a) is str:
                    return a == const
                return equal(cv(a), const, s)

            return eq_str
        if op == "!=":

            def ne_str(s: Scope) -> Any:
                a = left(s)
                if type(a) is str:
                    return a != const
                r = equal(cv(a), const, s)
                return None if r is None else not r

            return ne_str
    if type(const) is Decimal:
        as_int = int(const) if const == const.to_integral_value() else None
        twin = float_twin(const)
        fast = PY_OPS[op]
        test = ORDER_TESTS.get(op)

        def cmp_num(s: Scope) -> Any:
            a = left(s)
            t = type(a)
            if t is float and twin is not None and a - a == 0:
                return fast(a, twin)
            if t is int:
                return fast(a, const if as_int is None else as_int)
            if t is Decimal:
                return fast(a, const)
            a = cv(a)
            if test is None:
                r = equal(a, const, s)
                if op == "!=" and r is not None:
                    return not r
                return r
            c = compare(a, const, s)
            return None if c is None else test(c)

        return cmp_num
    if op == "=":
        return lambda s: equal(cv(left(s)), const, s)
    if op == "!=":

        def ne_const(s: Scope) -> Any:
            r = equal(cv(left(s)), const, s)
            return None if r is None else not r

        return ne_const
    order_test = ORDER_TESTS[op]

    def order_const(s: Scope) -> Any:
        c = compare(cv(left(s)), const, s)
        return None if c is None else order_test(c)

    return order_const


PY_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
