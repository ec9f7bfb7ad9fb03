"""Embedded, Zeebe-compatible development engine (in memory, single partition).

``Engine`` is the pure-Python core; the gRPC gateway and the REST v2 server wrap it.
All state lives in memory and is gone when the process ends.

Executable BPMN subset: none and message start events, end events, sequence flows,
exclusive gateways (FEEL conditions, default flow), parallel gateways, service tasks
(``zeebe:taskDefinition`` type/retries, ``zeebe:taskHeaders``), receive tasks, message and
timer (duration) intermediate catch events, interrupting and non-interrupting message and
timer boundary events, embedded sub-processes and ``zeebe:ioMapping``. Anything else is
rejected at deployment naming the element.

Semantics follow Zeebe: variables propagate to the nearest scope holding them, else to the
process instance; correlation keys are evaluated when the waiting element is entered (string
or number, else an EXTRACT_VALUE_ERROR incident); messages match on tenant, name and
correlation key, correlate at most once per BPMN process id, are buffered for their TTL and
their id is unique while buffered; failing a job with no retries left raises an incident.
Layout: ``model`` (BPMN -> executable model), ``deployments``, ``instances`` (token state
machine), ``jobs``, ``messages``, ``timers``, ``query`` (indexed records for searches),
``expressions`` (FEEL glue), ``clock``, ``errors``, ``records`` (plain result types).
"""

from .clock import Clock, ManualClock, SystemClock
from .engine import Engine
from .errors import EngineError, ErrorCode
from .records import (
    DEFAULT_TENANT,
    ActivatedJob,
    BrokerInfo,
    DeploymentResult,
    ElementInstanceRecord,
    IncidentRecord,
    InstanceInfo,
    MessageSubscriptionRecord,
    ProcessDefinitionRecord,
    ProcessInstanceRecord,
    ProcessMetadata,
    Topology,
    VariableRecord,
)

__all__ = [
    "DEFAULT_TENANT",
    "ActivatedJob",
    "BrokerInfo",
    "Clock",
    "DeploymentResult",
    "ElementInstanceRecord",
    "Engine",
    "EngineError",
    "ErrorCode",
    "IncidentRecord",
    "InstanceInfo",
    "ManualClock",
    "MessageSubscriptionRecord",
    "ProcessDefinitionRecord",
    "ProcessInstanceRecord",
    "ProcessMetadata",
    "SystemClock",
    "Topology",
    "VariableRecord",
]
