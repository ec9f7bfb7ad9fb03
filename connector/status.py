"""The ``/inbound`` status document and its HTML page, from a read-only view of the worker.

Each polling element with its pollers, recent activity and health (in the shape of
Camunda's inbound connector runtime, so existing habits carry over), plus the cluster's
connectivity and the shard. The document only reads: :class:`WorkerView` names what it
reads, so it can never change the state it reports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from connector.discovery import Definition, WaitingInstance
from connector.observability import element_health, iso_time
from connector.scheduler import Poller
from connector.statuspage import render_page


class PollerTable(Protocol):
    """The scheduler as the document reads it."""

    @property
    def http_calls(self) -> int: ...

    def __len__(self) -> int: ...

    def snapshot(self) -> Iterable[tuple[Poller[WaitingInstance], float]]: ...


class DeployedState(Protocol):
    """What discovery found last: the polling definitions and when."""

    @property
    def definitions(self) -> Mapping[int, Definition]: ...

    @property
    def last_discovery(self) -> float | None: ...


class HealthState(Protocol):
    """The cluster's connectivity (None: not known yet)."""

    @property
    def rest_up(self) -> bool | None: ...

    @property
    def grpc_up(self) -> bool | None: ...

    @property
    def last_discovery_error(self) -> str | None: ...

    @property
    def grpc_error(self) -> str | None: ...


class ActivityReader(Protocol):
    """An element's recent events and their counts."""

    def events(self, element: str) -> list[dict[str, Any]]: ...

    def counts(self, element: str) -> dict[str, int]: ...


@dataclass(frozen=True, slots=True)
class WorkerView:
    """Everything the status document reads of the worker."""

    pollers: PollerTable
    deployed: DeployedState
    health: HealthState
    activity: ActivityReader
    shard: Callable[[], tuple[int, int]]  # (index, count) now: auto counts change


def inbound_status(view: WorkerView) -> dict[str, Any]:
    """The ``/inbound`` document: each polling element with its pollers."""
    by_element: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for poller, next_wall in view.pollers.snapshot():
        target = poller.target
        by_element.setdefault((target.process_definition_key, target.element_id), []).append(
            {
                "elementInstanceKey": str(target.element_instance_key),
                "processInstanceKey": str(target.process_instance_key),
                "correlationKey": target.correlation_key,
                "lastStatus": poller.last_outcome,
                "lastError": poller.last_error,
                "lastPoll": iso_time(poller.last_poll_wall),
                "nextPoll": iso_time(next_wall),
                "polls": poller.polls,
                "consecutiveFailures": poller.failures,
            }
        )
    elements: list[dict[str, Any]] = []
    for key, definition in sorted(view.deployed.definitions.items()):
        ref = definition.ref
        for config in definition.configs.values():
            label = config.label
            pollers = by_element.get((key, config.element_id), [])
            counts = view.activity.counts(label)
            elements.append(
                {
                    "processDefinitionId": config.process_id,
                    "processDefinitionKey": str(key),
                    "version": ref.version,
                    "elementId": config.element_id,
                    "elementName": config.element_name,
                    "kind": config.kind,
                    "messageName": config.message_name,
                    "interval": config.interval.total_seconds(),
                    "status": "ACTIVE",
                    "pollers": pollers,
                    "polls": sum(n for tag, n in counts.items() if tag != "published"),
                    "counts": counts,
                    "logs": view.activity.events(label),
                }
            )
        for error in definition.errors:
            elements.append(
                {
                    "processDefinitionId": error.process_id,
                    "processDefinitionKey": str(key),
                    "version": ref.version,
                    "elementId": error.element_id,
                    "status": "INVALID",
                    "error": f"property '{error.property}': {error.reason}",
                    "pollers": [],
                    "logs": [],
                }
            )
    for element in elements:
        # Camunda's runtime shape (health + logs), so existing habits carry over.
        state, reason = element_health(element)
        element["health"] = {
            "status": "DOWN" if state == "INVALID" else "UP",
            "state": state,
            "error": None if reason is None else {"message": reason},
            "details": {"Process instances": len(element["pollers"])},
        }
    health = view.health
    shard_index, shard_count = view.shard()
    return {
        "cluster": {
            "rest": _state(health.rest_up),
            "grpc": _state(health.grpc_up),
            "lastDiscovery": iso_time(view.deployed.last_discovery),
            "lastDiscoveryError": health.last_discovery_error,
            "grpcError": health.grpc_error,
        },
        "shard": {"index": shard_index, "count": shard_count},
        "pollers": len(view.pollers),
        "httpCalls": view.pollers.http_calls,
        "elements": elements,
    }


def status_page(doc: Mapping[str, Any]) -> str:
    """The status port's HTML page for ``doc`` (the document as the port shows it)."""
    return render_page(doc)


def _state(up: bool | None) -> str:
    return "UNKNOWN" if up is None else ("UP" if up else "DOWN")
