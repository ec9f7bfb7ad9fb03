"""Plain data the engine hands out: command results and query records.

Everything here is immutable. Keys are Python ints (Zeebe int64 keys); timestamps are epoch
milliseconds (``*_ms``); the REST layer turns them into strings / RFC 3339 dates.
Variable values in ``VariableRecord`` are JSON text, as the REST API serves them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "DEFAULT_TENANT",
    "ActivatedJob",
    "BrokerInfo",
    "DeploymentResult",
    "ElementInstanceRecord",
    "ElementInstanceState",
    "IncidentRecord",
    "InstanceInfo",
    "MessageSubscriptionRecord",
    "ProcessDefinitionRecord",
    "ProcessInstanceRecord",
    "ProcessMetadata",
    "SubscriptionState",
    "Topology",
    "VariableRecord",
]

DEFAULT_TENANT = "<default>"

ElementInstanceState = Literal["ACTIVE", "COMPLETED", "TERMINATED"]
SubscriptionState = Literal["CREATED", "CORRELATED", "DELETED"]


# ---------------------------------------------------------------- command results


@dataclass(frozen=True, slots=True)
class ProcessMetadata:
    bpmn_process_id: str
    version: int
    process_definition_key: int
    resource_name: str
    tenant_id: str


@dataclass(frozen=True, slots=True)
class DeploymentResult:
    key: int
    processes: tuple[ProcessMetadata, ...]
    tenant_id: str


@dataclass(frozen=True, slots=True)
class InstanceInfo:
    process_instance_key: int
    process_definition_key: int
    bpmn_process_id: str
    version: int
    tenant_id: str


@dataclass(frozen=True, slots=True)
class ActivatedJob:
    key: int
    type: str
    process_instance_key: int
    bpmn_process_id: str
    process_definition_version: int
    process_definition_key: int
    element_id: str
    element_instance_key: int
    custom_headers: dict[str, str]
    worker: str
    retries: int
    deadline_ms: int
    variables: dict[str, Any]
    tenant_id: str


@dataclass(frozen=True, slots=True)
class BrokerInfo:
    node_id: int
    host: str
    port: int
    version: str
    partition_id: int = 1
    role: Literal["leader", "follower", "inactive"] = "leader"
    health: Literal["healthy", "unhealthy", "dead"] = "healthy"


@dataclass(frozen=True, slots=True)
class Topology:
    brokers: tuple[BrokerInfo, ...]
    cluster_size: int = 1
    partitions_count: int = 1
    replication_factor: int = 1
    gateway_version: str = "8.8.21"


# ---------------------------------------------------------------- query records


@dataclass(frozen=True, slots=True)
class ProcessDefinitionRecord:
    key: int
    bpmn_process_id: str
    name: str | None
    version: int
    version_tag: str | None
    resource_name: str
    tenant_id: str
    is_latest: bool
    deployment_key: int


@dataclass(frozen=True, slots=True)
class ProcessInstanceRecord:
    key: int
    bpmn_process_id: str
    process_definition_key: int
    process_definition_name: str | None
    version: int
    version_tag: str | None
    state: ElementInstanceState
    start_ms: int
    end_ms: int | None
    has_incident: bool
    tenant_id: str
    parent_process_instance_key: int | None = None
    parent_element_instance_key: int | None = None


@dataclass(frozen=True, slots=True)
class ElementInstanceRecord:
    """One element instance; ``type`` uses the Camunda 8.8 element type enum."""

    key: int
    process_instance_key: int
    process_definition_key: int
    bpmn_process_id: str
    element_id: str
    element_name: str | None
    type: str
    state: ElementInstanceState
    start_ms: int
    end_ms: int | None
    has_incident: bool
    incident_key: int | None
    tenant_id: str
    flow_scope_key: int | None


@dataclass(frozen=True, slots=True)
class MessageSubscriptionRecord:
    key: int
    process_definition_id: str
    process_definition_key: int
    process_instance_key: int
    element_id: str
    element_instance_key: int
    message_name: str
    correlation_key: str
    state: SubscriptionState
    last_updated_ms: int
    tenant_id: str


@dataclass(frozen=True, slots=True)
class VariableRecord:
    """A variable; ``value`` is its JSON serialisation (never truncated here)."""

    key: int
    name: str
    value: str
    scope_key: int
    process_instance_key: int
    tenant_id: str


@dataclass(frozen=True, slots=True)
class IncidentRecord:
    key: int
    process_instance_key: int
    process_definition_key: int
    bpmn_process_id: str
    element_id: str
    element_instance_key: int
    error_type: str
    error_message: str
    job_key: int | None
    state: Literal["ACTIVE", "RESOLVED"]
    creation_ms: int
    tenant_id: str
