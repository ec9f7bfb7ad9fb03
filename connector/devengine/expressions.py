"""Zeebe expression values: ``=`` prefix means FEEL, anything else is a static string.

FEEL is compiled once at deployment with ``connector.feel`` and evaluated per use.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from connector import feel

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
    """Turn FEEL output into JSON-compatible Python values (Decimal -> int/float, temporals ->
    ISO text), the form variables are stored in."""
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, decimal.Decimal):
        if value == value.to_integral_value():
            return int(value)
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return _iso_duration(value)
    months = getattr(value, "months", None)
    if isinstance(months, int):
        sign = "-" if months < 0 else ""
        years, rest = divmod(abs(months), 12)
        return f"{sign}P{years}Y{rest}M"
    return str(value)


def _iso_duration(value: dt.timedelta) -> str:
    total = value.total_seconds()
    sign = "-" if total < 0 else ""
    total = abs(total)
    days, rem = divmod(total, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, seconds = divmod(rem, 60)
    text = f"{sign}P"
    if days:
        text += f"{int(days)}D"
    clock = ""
    if hours:
        clock += f"{int(hours)}H"
    if minutes:
        clock += f"{int(minutes)}M"
    if seconds or not (days or clock):
        clock += f"{seconds:g}S"
    return text + ("T" + clock if clock else "")


def to_json_text(value: Any) -> str:
    """JSON text of a variable value, compact like Zeebe's."""
    return json.dumps(to_plain(value), separators=(",", ":"), ensure_ascii=False)
