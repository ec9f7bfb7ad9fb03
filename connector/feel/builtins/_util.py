"""Shared helpers of the built-in function modules: declaration and argument checks."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from connector.feel.semantics import type_name
from connector.feel.values import FeelFunction, FeelFunctionError, Param

Table = dict[str, list[FeelFunction]]


def fn(name: str, params: str, impl: Callable[..., Any]) -> FeelFunction:
    """Declare one overload. ``params`` is a comma separated list of parameter names;
    a trailing ``...`` marks the variadic parameter (``"list, items..."``), a trailing
    ``?`` an optional one."""
    declared: list[Param] = []
    for raw in (p.strip() for p in params.split(",")):
        if not raw:
            continue
        if raw.endswith("..."):
            declared.append(Param(raw[:-3], variadic=True))
        elif raw.endswith("?"):
            declared.append(Param(raw[:-1], optional=True))
        else:
            declared.append(Param(raw))
    return FeelFunction(name, declared, impl)


def table(*functions: FeelFunction) -> Table:
    """Group overloads by name, keeping declaration order."""
    result: Table = {}
    for f in functions:
        result.setdefault(f.name, []).append(f)
    return result


def fail(function: str, message: str) -> FeelFunctionError:
    return FeelFunctionError(f"{function}: {message}")


def describe(value: Any) -> str:
    """A short, secret-free description of a value for error messages (type only)."""
    return type_name(value)


def describe_text(text: str) -> str:
    """A string argument in an error message: its length, never its content.

    Argument values can carry credentials (tokens in URLs, headers) and error
    messages end up in logs, so they are described, not quoted.
    """
    return f"a string of {len(text)} character{'' if len(text) == 1 else 's'}"


_QUOTED = re.compile(r"'([^']*)'|\"([^\"]*)\"")


def redact_quotes(message: str) -> str:
    """``message`` (from a library) with quoted text longer than a few characters elided."""

    def replace(match: re.Match[str]) -> str:
        quoted = match.group(1) if match.group(1) is not None else match.group(2)
        return match.group(0) if len(quoted) <= 3 else f"({describe_text(quoted)})"

    return _QUOTED.sub(replace, message)


def number(function: str, value: Any, param: str) -> Decimal:
    if isinstance(value, Decimal):
        return value
    raise fail(function, f"parameter '{param}' must be a number, got {describe(value)}")


def integer(function: str, value: Any, param: str) -> int:
    """A number parameter used as an integer: fractions are truncated, as feel-scala does."""
    n = number(function, value, param)
    if not n.is_finite():
        raise fail(function, f"parameter '{param}' must be a finite number")
    return int(n)


def string(function: str, value: Any, param: str) -> str:
    if isinstance(value, str):
        return value
    raise fail(function, f"parameter '{param}' must be a string, got {describe(value)}")


def boolean(function: str, value: Any, param: str) -> bool:
    if isinstance(value, bool):
        return value
    raise fail(function, f"parameter '{param}' must be a boolean, got {describe(value)}")


def list_arg(function: str, value: Any, param: str) -> list[Any]:
    if isinstance(value, list):
        return value
    raise fail(function, f"parameter '{param}' must be a list, got {describe(value)}")


def context_arg(function: str, value: Any, param: str) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    raise fail(function, f"parameter '{param}' must be a context, got {describe(value)}")


def spread(function: str, args: tuple[Any, ...]) -> list[Any]:
    """Items of a list-or-varargs parameter: ``f([1, 2])`` and ``f(1, 2)`` mean the same.

    A call without any argument is invalid (``f([])`` is the empty list)."""
    if not args:
        raise fail(function, "expects a list or at least one value")
    if len(args) == 1 and isinstance(args[0], list):
        return args[0]
    return list(args)


def numbers(function: str, items: Iterable[Any]) -> list[Decimal]:
    result = []
    for item in items:
        if not isinstance(item, Decimal):
            raise fail(function, f"all items must be numbers, got {describe(item)}")
        result.append(item)
    return result
