"""One error tree (drawn in connector.errors' docstring) and one list of poll outcomes."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import connector.errors
from connector.binding import BindingError
from connector.bpmn import BpmnError
from connector.config import ConfigError
from connector.correlation import CorrelationError
from connector.discovery import ClusterError
from connector.elements import ElementConfigError, PropertyError
from connector.errors import (
    COUNTED_OUTCOMES,
    ConnectorError,
    ElementPropertyError,
    PollOutcome,
)
from connector.kubernetes import KubernetesError
from connector.publish import PublishError
from connector.scheduler import PollFailure
from connector.secrets import SecretNotFoundError

ROOT = Path(__file__).resolve().parents[2]
CLASSES: dict[str, type[BaseException]] = {
    c.__name__: c
    for c in (
        ConnectorError,
        PropertyError,
        ElementConfigError,
        ElementPropertyError,
        BindingError,
        CorrelationError,
        BpmnError,
        ClusterError,
        PublishError,
        ConfigError,
        KubernetesError,
        SecretNotFoundError,
        PollFailure,
    )
}


def _drawn_tree() -> list[tuple[str, str]]:
    """(child, parent) pairs of the tree drawn in connector.errors' docstring."""
    doc = connector.errors.__doc__ or ""
    pairs: list[tuple[str, str]] = []
    stack: list[tuple[int, str]] = []
    for line in doc.splitlines():
        match = re.match(r"^(\s*)((?:[│ ]   )*)(?:[├└]── )?([A-Z]\w+)\s{2,}", line)
        if not match:
            continue
        depth = len(match.group(2)) // 4 + (1 if "── " in line else 0)
        name = match.group(3)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack:
            pairs.append((name, stack[-1][1]))
        stack.append((depth, name))
    return pairs


def test_the_drawn_tree_is_the_class_tree() -> None:
    pairs = _drawn_tree()
    assert {child for child, _ in pairs} == set(CLASSES) - {"ConnectorError"}
    for child, parent in pairs:
        # The drawn parent is a direct base: no level skipped or invented.
        assert CLASSES[parent] in CLASSES[child].__bases__, (child, parent)


def test_existing_catch_sites_keep_working() -> None:
    assert issubclass(BpmnError, ValueError)
    assert issubclass(SecretNotFoundError, LookupError)
    error = BindingError("process 'p' element 'e'", "url", "is required")
    assert str(error) == "process 'p' element 'e' property 'url': is required"
    assert (error.property, error.prop, error.reason) == ("url", "url", "is required")


def test_element_config_error_is_a_value_and_an_exception() -> None:
    error = ElementConfigError("p", "e", "url", "is required", "a.bpmn")
    assert error == ElementConfigError("p", "e", "url", "is required", "a.bpmn")
    assert len({error, ElementConfigError("p", "e", "url", "is required", "a.bpmn")}) == 1
    assert error.prop == "url"
    with pytest.raises(PropertyError, match=re.escape("a.bpmn: process 'p' element 'e'")):
        raise error


def test_readme_lists_the_counted_outcomes() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"Poll outcomes in `polls_total`:(.*?)\(", readme, re.S)
    assert match, "README lost its list of poll outcomes"
    listed = re.findall(r"`(\w+)`", match.group(1))
    assert listed == [str(o) for o in COUNTED_OUTCOMES]


def _outcome_literals(path: Path) -> set[str]:
    """String literals used as poll outcomes: PollFailure's first argument, ``return "x"``
    in the worker's deliver path, and the STOPPED constant."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "PollFailure"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            found.add(node.args[0].value)
        if isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef) and node.name in (
            "deliver",
            "_publish",
        ):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Return) and isinstance(inner.value, ast.Constant):
                    found.add(inner.value.value)
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "STOPPED" for t in node.targets)
            and isinstance(node.value, ast.Constant)
        ):
            found.add(node.value.value)
    return found


def test_every_outcome_the_code_uses_is_in_the_enum() -> None:
    used = set()
    for name in ("scheduler.py", "worker.py"):
        used |= _outcome_literals(ROOT / "connector" / name)
    assert used, "the scan found no outcomes: did the code move?"
    assert used <= {str(o) for o in PollOutcome}
