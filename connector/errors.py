"""Errors shared by the per-instance stages (binding a request, evaluating a response)."""

from __future__ import annotations


class ElementPropertyError(Exception):
    """A property of one polling element gave an unusable value for one instance.

    The message names the element and the property; it never carries secret values.
    """

    def __init__(self, element: str, prop: str, reason: str) -> None:
        super().__init__(f"{element} property '{prop}': {reason}")
        self.element = element
        self.property = prop
        self.reason = reason
