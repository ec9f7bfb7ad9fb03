"""Boolean functions: not, get or else, assert (``is defined`` lives in the interpreter)."""

from __future__ import annotations

from typing import Any

from connector.feel.builtins._util import Table, fn, table
from connector.feel.values import AssertionFailed


def _not(negand: Any) -> bool | None:
    # three-valued logic: anything that is not a boolean negates to null
    return (not negand) if isinstance(negand, bool) else None


def _get_or_else(value: Any, default: Any) -> Any:
    return default if value is None else value


def _assert(value: Any, condition: Any, cause: Any = None) -> Any:
    # feel-scala: an unfulfilled assertion fails the whole evaluation (not null), carrying
    # the cause when one is given as a string
    if condition is True:
        return value
    if isinstance(cause, str):
        raise AssertionFailed(cause)
    raise AssertionFailed("The condition is not fulfilled")


BUILTINS: Table = table(
    fn("not", "negand", _not),
    fn("get or else", "value, default", _get_or_else),
    fn("assert", "value, condition", _assert),
    fn("assert", "value, condition, cause", _assert),
)
