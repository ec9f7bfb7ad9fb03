"""Exceptions raised by the FEEL engine's public API."""

from __future__ import annotations


class FeelError(Exception):
    """Base class of every error the FEEL engine raises on purpose."""


class FeelSyntaxError(FeelError):
    """An expression that cannot be parsed (or is too large / too deeply nested).

    ``line`` and ``column`` are 1-based; ``expected`` names what the parser
    looked for at that position.
    """

    def __init__(self, expression: str, offset: int, expected: str, found: str = "") -> None:
        self.expression = expression
        self.offset = offset
        self.line, self.column = _line_column(expression, offset)
        self.expected = expected
        self.found = found
        super().__init__(self._render())

    def _render(self) -> str:
        lines = self.expression.split("\n")
        shown = lines[self.line - 1] if 0 < self.line <= len(lines) else ""
        if len(shown) > 200:
            start = max(0, self.column - 100)
            shown, caret_col = shown[start : start + 200], self.column - start
        else:
            caret_col = self.column
        found = f", found {self.found}" if self.found else ""
        return (
            f"failed to parse FEEL expression at line {self.line}, column {self.column}: "
            f"expected {self.expected}{found}\n  {shown}\n  {' ' * (caret_col - 1)}^"
        )


def _line_column(text: str, offset: int) -> tuple[int, int]:
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    last_nl = text.rfind("\n", 0, offset)
    return line, offset - last_nl


class FeelEvaluationError(FeelError):
    """An evaluation that failed as a whole (not merely null): an unfulfilled ``assert``
    or a time/size budget that ran out. Raised only by ``Expression.evaluate_checked``.

    ``budget_exceeded`` tells a runaway expression from an assertion.
    """

    def __init__(self, message: str, *, budget_exceeded: bool = False) -> None:
        super().__init__(message)
        self.budget_exceeded = budget_exceeded
