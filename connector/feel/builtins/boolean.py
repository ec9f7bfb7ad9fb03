"""Boolean functions: not, get or else, assert (``is defined`` lives in the interpreter)."""

from __future__ import annotations

from typing import Any

from connector.feel.builtins._util import Table, fail, fn, table


def _not(negand: Any) -> bool | None:
    # three-valued logic: anything that is not a boolean negates to null
    return (not negand) if isinstance(negand, bool) else None


def _get_or_else(value: Any, default: Any) -> Any:
    return default if value is None else value


def _assert(value: Any, condition: Any, cause: Any = None) -> Any:
    if condition is True:
        return value
    if cause is None:
        raise fail("assert", "the condition is not fulfilled")
    raise fail("assert", f"the condition is not fulfilled: {cause}")


BUILTINS: Table = table(
    fn("not", "negand", _not),
    fn("get or else", "value, default", _get_or_else),
    fn("assert", "value, condition", _assert),
    fn("assert", "value, condition, cause", _assert),
)
