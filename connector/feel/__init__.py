"""FEEL (Friendly Enough Expression Language) expressions, as Camunda's feel-scala runs them.

Usage::

    from connector import feel

    expr = feel.compile('="https://api.example.com/orders/" + string(orderId)')
    expr.evaluate({"orderId": 42})          # 'https://api.example.com/orders/42'
    feel.evaluate("body.status = \\"OK\\"", {"body": {"status": "OK"}})   # True

Evaluation never raises for problems in the data: it returns ``None`` and
records warnings (see :meth:`Expression.evaluate_with_warnings`). Syntax errors
raise :class:`FeelSyntaxError` at compile time.

Values in and out: ``int``/``float``/``Decimal`` numbers (computed as decimals,
floats via their shortest text so ``0.1`` stays ``0.1``), ``str``, ``bool``,
``None``, ``dict``, ``list``/``tuple``, ``datetime.date``/``time``/``datetime``,
``timedelta`` and :class:`YearsMonthsDuration`. Computed numbers come out as
``int`` when integral, as ``float`` when the float is exact, else as ``Decimal``.
Values taken unchanged from the context are returned as the same objects.
The context is read lazily: only the variables an expression uses are touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from .compiler import compile_node
from .convert import json_default, to_json_compatible
from .errors import FeelError, FeelSyntaxError
from .parser import parse
from .runtime import MISSING, LimitExceeded
from .values import YearsMonthsDuration

__all__ = [
    "Expression",
    "FeelError",
    "FeelSyntaxError",
    "YearsMonthsDuration",
    "compile",
    "evaluate",
    "evaluate_with_warnings",
    "json_default",
    "to_json_compatible",
]

_DIRECT = frozenset({bool, str, int, type(None)})


class Expression:
    """A compiled FEEL expression; evaluate it any number of times (thread-safe)."""

    __slots__ = ("_fn", "_out", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        try:
            self._fn, self._out = compile_node(parse(text))
        except RecursionError:
            # only reachable when the caller's own stack is already nearly exhausted
            raise FeelSyntaxError(text, 0, "a less deeply nested expression") from None

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        """The result as a plain Python value (``None`` when undefined)."""
        if type(context) is not dict and not isinstance(context, Mapping):
            raise TypeError(f"context must be a mapping, not {type(context).__name__}")
        state: list[Any] = [0, context]
        try:
            result = self._fn([context, None, state, MISSING])
        except LimitExceeded as error:
            state.append(str(error))
            return None
        except RecursionError:
            state.append("evaluation nested too deeply")
            return None
        except Exception as error:  # a defect must not take the caller down with it
            state.append(f"internal error: {type(error).__name__}")
            return None
        if type(result) in _DIRECT:
            return result
        return self._out(result)

    def evaluate_with_warnings(self, context: Mapping[str, Any]) -> tuple[Any, list[str]]:
        """The result and the warnings (missing variables, type mismatches...) it produced."""
        if type(context) is not dict and not isinstance(context, Mapping):
            raise TypeError(f"context must be a mapping, not {type(context).__name__}")
        state: list[Any] = [0, context]
        try:
            result = self._out(self._fn([context, None, state, MISSING]))
        except LimitExceeded as error:
            state.append(str(error))
            result = None
        except RecursionError:
            state.append("evaluation nested too deeply")
            result = None
        except Exception as error:  # a defect must not take the caller down with it
            state.append(f"internal error: {type(error).__name__}")
            result = None
        return result, [str(w) for w in state[2:]]

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"


def compile(expression: str) -> Expression:
    """Parse and compile ``expression`` (a leading ``=`` is stripped)."""
    if not isinstance(expression, str):
        raise TypeError(f"expression must be a str, not {type(expression).__name__}")
    return _compile_cached(expression)


@lru_cache(maxsize=1024)
def _compile_cached(expression: str) -> Expression:
    text = expression.lstrip()
    if text.startswith("="):
        text = text[1:]
    return Expression(text)


def evaluate(expression: str, context: Mapping[str, Any] | None = None) -> Any:
    """Compile (cached) and evaluate ``expression`` against ``context``."""
    return compile(expression).evaluate({} if context is None else context)


def evaluate_with_warnings(
    expression: str, context: Mapping[str, Any] | None = None
) -> tuple[Any, list[str]]:
    return compile(expression).evaluate_with_warnings({} if context is None else context)
