"""Calling FEEL built-ins directly in tests.

``call`` picks an overload the way the interpreter does (arity for positional
arguments, parameter names for named ones) and converts Python numbers to the
internal ``Decimal`` form, so the tests read like FEEL invocations.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from connector.feel.builtins import BUILTINS
from connector.feel.values import FeelFunction


def feel(value: Any) -> Any:
    """Python test data -> internal FEEL values (ints and floats become Decimals)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, list):
        return [feel(v) for v in value]
    if isinstance(value, dict):
        return {k: feel(v) for k, v in value.items()}
    return value


def _accepts(f: FeelFunction, count: int) -> bool:
    required = len([p for p in f.params if not (p.optional or p.variadic)])
    if f.params and f.params[-1].variadic:
        return count >= required
    return required <= count <= len(f.params)


def _accepts_names(f: FeelFunction, names: tuple[str, ...]) -> bool:
    required = {p.name for p in f.params if not (p.optional or p.variadic)}
    return required <= set(names) <= {p.name for p in f.params}


def overload(name: str, count: int, names: tuple[str, ...] = ()) -> FeelFunction:
    for f in BUILTINS[name]:
        if names:
            if _accepts_names(f, names):
                return f
        elif _accepts(f, count):
            return f
    raise LookupError(f"no overload {name}/{count} {names}")


def call(name: str, *args: Any, **named: Any) -> Any:
    """Invoke a built-in positionally, or by name (``_`` in keywords stands for a space;
    a trailing ``_`` avoids Python keywords: ``from_``)."""
    if named:
        by_name = {k.rstrip("_").replace("_", " "): feel(v) for k, v in named.items()}
        f = overload(name, len(by_name), tuple(by_name))
        return f.call(
            [by_name.get(p.name) for p in f.params if not p.optional or p.name in by_name]
        )
    values = [feel(a) for a in args]
    return overload(name, len(values)).call(values)
