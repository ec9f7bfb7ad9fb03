"""FEEL (Friendly Enough Expression Language) expressions, as Camunda's feel-scala runs them.

Usage::

    from connector import feel

    expr = feel.compile('="https://api.example.com/orders/" + string(orderId)')
    expr.evaluate({"orderId": 42})          # 'https://api.example.com/orders/42'
    feel.evaluate("body.status = \\"OK\\"", {"body": {"status": "OK"}})   # True

Evaluation never raises for problems in the data: it returns ``None`` and
records warnings (see :meth:`Expression.evaluate_with_warnings`). Syntax errors
raise :class:`FeelSyntaxError` at compile time. An evaluation that *fails* as a
whole (an unfulfilled ``assert``, or a budget that ran out) also gives ``None``
from ``evaluate``; :meth:`Expression.evaluate_checked` raises
:class:`FeelEvaluationError` for it instead.

Budget: each evaluation may take ``budget`` seconds of wall-clock time
(default ``runtime.DEFAULT_TIME_BUDGET``) and build strings/lists up to
``runtime.MAX_TEXT``/``runtime.MAX_ITEMS``; see :mod:`.runtime`.

Values in and out: ``int``/``float``/``Decimal`` numbers (computed as decimals,
floats via their shortest text so ``0.1`` stays ``0.1``), ``str``, ``bool``,
``None``, ``dict``, ``list``/``tuple``, ``datetime.date``/``time``/``datetime``,
``timedelta`` and :class:`YearsMonthsDuration`. Computed numbers come out as
``int`` when integral, as ``float`` when the float is exact, else as ``Decimal``.
Values taken unchanged from the context are returned as the same objects.
The context is read lazily: only the variables an expression uses are touched,
and :attr:`Expression.free_names` tells before evaluating which ones those may be.

Differences from feel-scala, on purpose: there is no entry point for unary tests (they are
read after ``in`` only) and no external (Java) functions; a comparison or interval written
as a value (``< 3``, ``[1..3]``) is a range value, where feel-scala tests the DMN input
variable ``cellInput`` with it; warnings name the types of the values involved, never their
text (values may hold credentials).

Limits: at most ``parser.MAX_NESTING`` (128) nested brackets/sub-expressions
and a syntax tree ``parser.MAX_TREE_DEPTH`` (300) deep, where flat chains
(``a + b + ...``, ``x or y or ...``, ``else if``) count once however long;
beyond them compiling raises :class:`FeelSyntaxError`.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, TypeVar

from .compiler import builtins as _builtin_table
from .compiler import compile_node
from .convert import json_default, to_json_compatible
from .errors import FeelError, FeelEvaluationError, FeelSyntaxError
from .names import free_names
from .parser import parse
from .runtime import DEFAULT_TIME_BUDGET as _DEFAULT_BUDGET
from .runtime import MISSING, WARNINGS_AT, LimitExceeded, new_state
from .values import AssertionFailed, EvaluationAborted, YearsMonthsDuration

__all__ = [
    "Expression",
    "FeelError",
    "FeelEvaluationError",
    "FeelSyntaxError",
    "YearsMonthsDuration",
    "compile",
    "evaluate",
    "evaluate_with_warnings",
    "json_default",
    "to_json_compatible",
]

_DIRECT = frozenset({bool, str, int, type(None)})
_T = TypeVar("_T")
#: Stack depth (in frames) above which a caller counts as "already deep": an
#: evaluation that runs out of stack there is retried on a fresh stack.
_DEEP_CALLER = 150


class Expression:
    """A compiled FEEL expression; evaluate it any number of times (thread-safe)."""

    __slots__ = ("_fn", "_free_names", "_out", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        try:
            self._fn, self._out, self._free_names = _build(text)
        except RecursionError:
            # the caller's own stack is nearly used up: redo the work on a fresh one
            try:
                self._fn, self._out, self._free_names = _on_fresh_stack(lambda: _build(text))
            except RecursionError:
                raise FeelSyntaxError(text, 0, "a less deeply nested expression") from None

    @property
    def free_names(self) -> frozenset[str]:
        """Root names of the input variables the expression may read (see :mod:`.names`).

        ``body.status = "OK"`` gives ``{"body"}``; names bound inside the
        expression (``for x in ...``, function parameters, earlier context
        entries) and built-in function names are not included.
        """
        return self._free_names

    def evaluate(self, context: Mapping[str, Any], *, budget: float | None = None) -> Any:
        """The result as a plain Python value (``None`` when undefined or failed).

        ``budget``: wall-clock seconds the evaluation may take (default
        ``runtime.DEFAULT_TIME_BUDGET``).
        """
        if type(context) is not dict and not isinstance(context, Mapping):
            raise TypeError(f"context must be a mapping, not {type(context).__name__}")
        try:
            # the state built inline (see runtime.new_state): this is the hot path
            seconds = _DEFAULT_BUDGET if budget is None else float(budget)
            result = self._fn([context, None, [0, context, seconds], MISSING])
            if type(result) in _DIRECT:
                return result
            return self._out(result)
        except EvaluationAborted:
            return None
        except RecursionError:
            return self._retry_on_fresh_stack(context, budget)[0]
        except Exception:  # a defect must not take the caller down with it
            return None

    def evaluate_checked(self, context: Mapping[str, Any], *, budget: float | None = None) -> Any:
        """Like :meth:`evaluate`, but a failed evaluation raises :class:`FeelEvaluationError`.

        Failures are an unfulfilled ``assert`` (the error carries its cause) and a time or
        size budget that ran out; missing variables and type mismatches still give ``None``.
        """
        if type(context) is not dict and not isinstance(context, Mapping):
            raise TypeError(f"context must be a mapping, not {type(context).__name__}")
        try:
            result = self._fn([context, None, new_state(context, budget), MISSING])
            if type(result) in _DIRECT:
                return result
            return self._out(result)
        except LimitExceeded as error:
            raise FeelEvaluationError(str(error), budget_exceeded=True) from None
        except EvaluationAborted as error:
            raise FeelEvaluationError(_failure_text(error)) from None
        except RecursionError:
            return self._retry_on_fresh_stack(context, budget)[0]
        except Exception:  # a defect must not take the caller down with it
            return None

    def evaluate_with_warnings(
        self, context: Mapping[str, Any], *, budget: float | None = None
    ) -> tuple[Any, list[str]]:
        """The result and the warnings (missing variables, type mismatches...) it produced."""
        if type(context) is not dict and not isinstance(context, Mapping):
            raise TypeError(f"context must be a mapping, not {type(context).__name__}")
        state = new_state(context, budget)
        try:
            result = self._out(self._fn([context, None, state, MISSING]))
        except LimitExceeded as error:
            state.append(str(error))
            result = None
        except EvaluationAborted as error:
            state.append(_failure_text(error))
            result = None
        except RecursionError:
            return self._retry_on_fresh_stack(context, budget)
        except Exception as error:  # a defect must not take the caller down with it
            state.append(f"internal error: {type(error).__name__}")
            result = None
        return result, [str(w) for w in state[WARNINGS_AT:]]

    def _retry_on_fresh_stack(
        self, context: Mapping[str, Any], budget: float | None
    ) -> tuple[Any, list[str]]:
        """After running out of stack: evaluate again if the caller's stack is to blame."""
        if _stack_depth() > _DEEP_CALLER:
            try:
                return _on_fresh_stack(lambda: self.evaluate_with_warnings(context, budget=budget))
            except RecursionError:
                pass
        return None, ["evaluation nested too deeply"]

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"


def _failure_text(error: EvaluationAborted) -> str:
    if isinstance(error, AssertionFailed):
        return f"assertion failed: {error}"
    return str(error)


def _build(text: str) -> tuple[Callable[[Any], Any], Callable[[Any], Any], frozenset[str]]:
    node = parse(text)
    fn, out = compile_node(node)
    return fn, out, free_names(node, _builtin_table().keys())


def _stack_depth() -> int:
    frame = sys._getframe()
    depth = 0
    while frame is not None:
        depth += 1
        frame = frame.f_back  # type: ignore[assignment]
    return depth


def _on_fresh_stack(task: Callable[[], _T]) -> _T:
    """Run ``task`` in a new thread, whose stack starts empty, and hand back its outcome.

    Only used when the caller's own stack ran out: then the work that needs a
    bounded amount of stack still succeeds, however deep the caller is.
    """
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append((True, task()))
        except BaseException as error:  # handed to the calling thread below
            outcome.append((False, error))

    worker = threading.Thread(target=run, name="feel-fresh-stack", daemon=True)
    try:
        worker.start()
        worker.join()
    except RuntimeError as error:  # cannot start a thread, or no stack left to do so
        raise RecursionError("no stack left") from error
    ok, value = outcome[0]
    if ok:
        result: _T = value
        return result
    raise value


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


def evaluate(
    expression: str, context: Mapping[str, Any] | None = None, *, budget: float | None = None
) -> Any:
    """Compile (cached) and evaluate ``expression`` against ``context``."""
    return compile(expression).evaluate({} if context is None else context, budget=budget)


def evaluate_with_warnings(
    expression: str, context: Mapping[str, Any] | None = None, *, budget: float | None = None
) -> tuple[Any, list[str]]:
    return compile(expression).evaluate_with_warnings(
        {} if context is None else context, budget=budget
    )
