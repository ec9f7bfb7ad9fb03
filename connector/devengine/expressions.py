"""Zeebe expression values: ``=`` prefix means FEEL, anything else is a static string.

FEEL is compiled once at deployment with ``connector.feel`` and evaluated per use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from connector import feel
from connector.feel import convert
from connector.feel.convert import to_json_compatible

__all__ = ["Expr", "ExpressionError", "parse_expression", "to_json_text", "to_plain"]


class ExpressionError(ValueError):
    """An expression that does not parse; the message names the expression and the problem."""


Evaluator = Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True, slots=True)
class Expr:
    """A parsed Zeebe expression property value."""

    text: str
    is_feel: bool
    _evaluate: Evaluator

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        """Evaluate against the visible variables; data problems give None (FEEL null)."""
        return to_plain(self._evaluate(context))


def parse_expression(text: str) -> Expr:
    """Parse a property value; raise ``ExpressionError`` for invalid FEEL."""
    stripped = text.strip()
    if not stripped.startswith("="):
        return Expr(text, False, lambda _ctx: text)
    body = stripped[1:].strip()
    if not body:
        raise ExpressionError(f"failed to parse expression '{text}': the expression is empty")
    return Expr(text, True, _compile_feel(text, body))


def _compile_feel(text: str, body: str) -> Evaluator:
    try:
        compiled = feel.compile(body)
    except Exception as exc:  # FeelSyntaxError; any parser bug must not crash a deployment
        raise ExpressionError(f"failed to parse expression '{text}': {exc}") from exc

    def run(context: Mapping[str, Any]) -> Any:
        try:
            return compiled.evaluate(context)
        except Exception:  # evaluation must never take the engine down
            return None

    return run


# ---------------------------------------------------------------- plain values


def to_plain(value: Any) -> Any:
    """FEEL output in the form variables are stored in (the one value mapper,
    :mod:`connector.feel.convert`)."""
    return to_json_compatible(value)


def to_json_text(value: Any) -> str:
    """JSON text of a variable value, compact like Zeebe's."""
    return convert.to_json_text(value)
