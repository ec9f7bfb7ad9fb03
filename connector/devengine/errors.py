"""Errors raised by the development engine, classified like Zeebe rejections.

The gateway maps ``code`` onto a gRPC status code and the REST layer onto an HTTP status, so
the code set is the gRPC one and the messages follow Zeebe's wording.
"""

from __future__ import annotations

from typing import Literal

ErrorCode = Literal[
    "NOT_FOUND",
    "INVALID_ARGUMENT",
    "ALREADY_EXISTS",
    "FAILED_PRECONDITION",
    "RESOURCE_EXHAUSTED",
]

__all__ = ["EngineError", "ErrorCode", "rejection"]


class EngineError(Exception):
    """A command the engine refused; ``code`` is a gRPC status name, ``message`` Zeebe's text."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message

    def __repr__(self) -> str:
        return f"EngineError({self.code!r}, {self.message!r})"


_REJECTION_TYPE = {
    "NOT_FOUND": "NOT_FOUND",
    "INVALID_ARGUMENT": "INVALID_ARGUMENT",
    "ALREADY_EXISTS": "ALREADY_EXISTS",
    "FAILED_PRECONDITION": "INVALID_STATE",
}


def rejection(code: ErrorCode, intent: str, reason: str) -> EngineError:
    """Build an error worded like a Zeebe gateway rejection.

    Zeebe's gateway reports broker rejections as
    ``Command '<INTENT>' rejected with code '<TYPE>': <reason>``; clients and users grep for it.
    """
    rejection_type = _REJECTION_TYPE.get(code, code)
    return EngineError(code, f"Command '{intent}' rejected with code '{rejection_type}': {reason}")
