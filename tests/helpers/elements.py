"""Loading one polling element from a small diagram (for the element-model tests)."""

from __future__ import annotations

from connector.elements import ElementConfig, ElementConfigError, load_elements
from tests.helpers.bpmn import diagram

BASE = {
    "url": "https://api.example.com/orders",
    "correlationKeyExpression": "=body.orderId",
}


def load_one(**props: str) -> ElementConfig:
    configs, errors = load_elements(diagram({**BASE, **props}))
    assert errors == []
    [config] = configs
    return config


def errors_of(**props: str) -> list[ElementConfigError]:
    configs, errors = load_elements(diagram({**BASE, **props}), source="test.bpmn")
    assert configs == []
    assert errors
    return errors
