"""Runtime state of the engine: definitions, instances, scopes and their variables.

Plain mutable objects owned by the engine under its lock; query records are snapshots taken
from them (see ``records``).
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Literal

from .model import Element, ProcessModel

__all__ = [
    "ElementInstance",
    "Incident",
    "KeyGenerator",
    "ProcessDefinition",
    "ProcessInstance",
    "set_path",
]

# Zeebe keys carry the partition id in the high bits; partition 1 starts at 2^51 + 1.
FIRST_KEY = 2251799813685249

InstanceState = Literal["ACTIVE", "COMPLETED", "TERMINATED"]


class KeyGenerator:
    """Monotonic Zeebe-like keys for everything the engine creates."""

    def __init__(self) -> None:
        self._next = FIRST_KEY

    def __call__(self) -> int:
        key = self._next
        self._next += 1
        return key


@dataclass(slots=True, eq=False)
class ProcessDefinition:
    key: int
    model: ProcessModel
    version: int
    resource_name: str
    xml: str
    tenant_id: str
    deployment_key: int


@dataclass(slots=True, eq=False)
class ElementInstance:
    """An element instance; scopes (process, sub-process) also hold variables and tokens."""

    key: int
    element: Element
    process_instance: ProcessInstance
    flow_scope: ElementInstance | None
    start_ms: int
    state: InstanceState = "ACTIVE"
    end_ms: int | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    variable_keys: dict[str, int] = field(default_factory=dict)
    children: dict[int, ElementInstance] = field(default_factory=dict)
    # parallel-join bookkeeping of this scope: gateway id -> incoming flow id -> tokens
    joins: dict[str, dict[str, int]] = field(default_factory=dict)
    job_key: int | None = None
    subscription_keys: list[int] = field(default_factory=list)
    timer_keys: list[int] = field(default_factory=list)
    incident_key: int | None = None
    # variables delivered by a job or message, applied when the element completes
    pending_variables: dict[str, Any] | None = None

    @property
    def is_active(self) -> bool:
        return self.state == "ACTIVE"

    def visible_variables(self) -> dict[str, Any]:
        """Variables visible here: inner scopes shadow outer ones."""
        chain: list[ElementInstance] = []
        scope: ElementInstance | None = self
        while scope is not None:
            chain.append(scope)
            scope = scope.flow_scope
        result: dict[str, Any] = {}
        for scope in reversed(chain):
            result.update(scope.variables)
        return result

    def pending_join_tokens(self) -> bool:
        return any(count for flows in self.joins.values() for count in flows.values())


@dataclass(slots=True, eq=False)
class ProcessInstance:
    key: int
    definition: ProcessDefinition
    start_ms: int
    root: ElementInstance | None = None
    state: InstanceState = "ACTIVE"
    end_ms: int | None = None
    has_incident: bool = False
    start_message: tuple[str, str] | None = None  # (message name, correlation key) if any
    result_futures: list[tuple[Future[dict[str, Any]], list[str] | None]] = field(
        default_factory=list
    )

    @property
    def tenant_id(self) -> str:
        return self.definition.tenant_id


@dataclass(slots=True, eq=False)
class Incident:
    key: int
    element_instance: ElementInstance
    error_type: str
    error_message: str
    job_key: int | None
    creation_ms: int
    state: Literal["ACTIVE", "RESOLVED"] = "ACTIVE"


def set_path(target: dict[str, Any], path: str, value: Any) -> str:
    """Assign ``value`` at a dotted ``path`` (``a.b.c``) inside ``target``, creating contexts
    on the way as Zeebe's output/input mapping targets do; returns the top-level name."""
    parts = path.split(".")
    if len(parts) == 1:
        target[path] = value
        return path
    head = parts[0]
    current = target.get(head)
    root: dict[str, Any] = dict(current) if isinstance(current, Mapping) else {}
    node = root
    for part in parts[1:-1]:
        child = node.get(part)
        child = dict(child) if isinstance(child, Mapping) else {}
        node[part] = child
        node = child
    node[parts[-1]] = value
    target[head] = root
    return head
