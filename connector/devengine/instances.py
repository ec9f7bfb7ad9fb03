"""The token state machine: element lifecycles, variables, jobs, messages, timers, incidents.

``Runtime`` holds all engine state and is not thread-safe; ``Engine`` serialises access.
Work triggered by a command (activations, completions) is queued on an agenda and drained
before the command returns, so long chains of elements never recurse deeply.
"""

from __future__ import annotations

import logging
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future, InvalidStateError
from contextlib import suppress
from functools import partial
from typing import Any

from .clock import Clock
from .errors import EngineError
from .expressions import Expr, to_json_text, to_plain
from .jobs import Job, JobQueue
from .messages import BufferedMessage, MessageBuffer, Subscription, SubscriptionIndex
from .model import Element, Flow, duration_ms
from .query import Table
from .records import (
    ElementInstanceRecord,
    IncidentRecord,
    MessageSubscriptionRecord,
    ProcessDefinitionRecord,
    ProcessInstanceRecord,
    VariableRecord,
)
from .state import (
    ElementInstance,
    Incident,
    KeyGenerator,
    ProcessDefinition,
    ProcessInstance,
    set_path,
)
from .timers import Timer, TimerQueue

__all__ = ["IncidentRaised", "Runtime"]

log = logging.getLogger(__name__)

# A process looping through gateways without a wait state would otherwise hold the engine
# lock forever; Zeebe keeps such an instance busy, here it gets an incident instead.
MAX_ACTIVATIONS_PER_COMMAND = 10_000


class IncidentRaised(Exception):
    """Raised inside an element's behaviour: the element stays active with an incident."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


def _feel_type(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int | float):
        return "NUMBER"
    if isinstance(value, str):
        return "STRING"
    if isinstance(value, list):
        return "ARRAY"
    if isinstance(value, dict):
        return "OBJECT"
    return type(value).__name__.upper()


def _expression_text(expr: Expr) -> str:
    text = expr.text.strip()
    return text[1:].strip() if expr.is_feel else text


class Runtime:
    """All mutable engine state plus the rules that move tokens."""

    def __init__(self, clock: Clock, query_delay_ms: int = 0) -> None:
        self.clock = clock
        self.next_key = KeyGenerator()
        self.definitions: dict[int, ProcessDefinition] = {}
        self.versions: dict[tuple[str, str], list[ProcessDefinition]] = {}
        self.instances: dict[int, ProcessInstance] = {}  # active only
        self.finished: dict[int, tuple[str, dict[str, Any]]] = {}  # state, root variables
        self.element_instances: dict[int, ElementInstance] = {}  # active only
        self.incidents: dict[int, Incident] = {}  # active only
        self.jobs = JobQueue()
        self.timers = TimerQueue()
        self.subscriptions = SubscriptionIndex()
        self.buffer = MessageBuffer()
        # (tenant, message name) -> bpmn process id -> (latest definition, start event)
        self.start_events: dict[tuple[str, str], dict[str, tuple[ProcessDefinition, Element]]]
        self.start_events = {}
        # (tenant, bpmn process id, correlation key) -> active instance started by that message
        self.message_started: dict[tuple[str, str, str], int] = {}
        self._agenda: deque[Callable[[], None]] = deque()
        # activations per process instance within one command, to stop endless loops
        self._activations: dict[int, int] = {}
        d = query_delay_ms
        self.definition_table: Table[ProcessDefinitionRecord] = Table(
            ("key", "bpmn_process_id", "is_latest", "tenant_id"), d
        )
        self.instance_table: Table[ProcessInstanceRecord] = Table(
            ("key", "process_definition_key", "bpmn_process_id", "state"), d
        )
        self.element_table: Table[ElementInstanceRecord] = Table(
            (
                "key",
                "process_instance_key",
                "process_definition_key",
                "element_id",
                "state",
                "flow_scope_key",
                "bpmn_process_id",
            ),
            d,
            composites=(("process_definition_key", "element_id", "state"),),
        )
        self.subscription_table: Table[MessageSubscriptionRecord] = Table(
            (
                "key",
                "process_instance_key",
                "process_definition_key",
                "element_id",
                "element_instance_key",
                "state",
                "process_definition_id",
                "message_name",
                "correlation_key",
            ),
            d,
            composites=(("process_definition_key", "state"),),
        )
        self.variable_table: Table[VariableRecord] = Table(
            ("key", "process_instance_key", "scope_key", "name"), d
        )
        self.incident_table: Table[IncidentRecord] = Table(
            ("key", "process_instance_key", "state"), d
        )
        # (write time, subscription key) of every subscription version, in write order: a
        # ``lastUpdatedDate > t`` search reads only what changed since t, not every record.
        self.subscription_updates: list[tuple[int, int]] = []
        # Extra visibility lag of subscription records written from now on (with a query
        # delay): one exporter falling behind the others, so a change shows up late.
        self.subscription_lag_ms = 0

    # ------------------------------------------------------------------ agenda

    def now(self) -> int:
        return self.clock.now_ms()

    def run(self) -> None:
        """Drain queued work until every token waits or has ended.

        A step that fails unexpectedly is logged and skipped: one broken instance must not
        stop the others (its elements stay where they were).
        """
        self._activations.clear()
        while self._agenda:
            step = self._agenda.popleft()
            try:
                step()
            except Exception:
                log.exception("engine step failed; the affected element instance stays put")

    def later(self, step: Callable[[], None]) -> None:
        self._agenda.append(step)

    # ------------------------------------------------------------------ records

    def record_instance(self, pi: ProcessInstance) -> None:
        d = pi.definition
        self.instance_table.put(
            pi.key,
            ProcessInstanceRecord(
                key=pi.key,
                bpmn_process_id=d.model.bpmn_process_id,
                process_definition_key=d.key,
                process_definition_name=d.model.name,
                version=d.version,
                version_tag=d.model.version_tag,
                state=pi.state,
                start_ms=pi.start_ms,
                end_ms=pi.end_ms,
                has_incident=pi.has_incident,
                tenant_id=pi.tenant_id,
            ),
            self.now(),
        )

    def record_element(self, ei: ElementInstance) -> None:
        if ei.flow_scope is None:
            return  # the process itself is reported as a process instance
        pi = ei.process_instance
        self.element_table.put(
            ei.key,
            ElementInstanceRecord(
                key=ei.key,
                process_instance_key=pi.key,
                process_definition_key=pi.definition.key,
                bpmn_process_id=pi.definition.model.bpmn_process_id,
                element_id=ei.element.id,
                element_name=ei.element.name,
                type=ei.element.element_type,
                state=ei.state,
                start_ms=ei.start_ms,
                end_ms=ei.end_ms,
                has_incident=ei.incident_key is not None,
                incident_key=ei.incident_key,
                tenant_id=pi.tenant_id,
                flow_scope_key=ei.flow_scope.key,
            ),
            self.now(),
        )

    def record_subscription(self, sub: Subscription) -> None:
        ei = sub.element_instance
        pi = ei.process_instance
        self.subscription_table.put(
            sub.key,
            MessageSubscriptionRecord(
                key=sub.key,
                process_definition_id=pi.definition.model.bpmn_process_id,
                process_definition_key=pi.definition.key,
                process_instance_key=pi.key,
                element_id=sub.element_id,
                element_instance_key=ei.key,
                message_name=sub.message_name,
                correlation_key=sub.correlation_key,
                state=sub.state,  # type: ignore[arg-type]
                last_updated_ms=self.now(),
                tenant_id=sub.tenant_id,
            ),
            self.now(),
            self.subscription_lag_ms,
        )
        entry = (self.now(), sub.key)
        if self.subscription_updates and self.subscription_updates[-1] > entry:
            insort(self.subscription_updates, entry)  # a wall clock stepped back
        else:
            self.subscription_updates.append(entry)

    def subscriptions_updated_since(self, from_ms: int) -> frozenset[int]:
        """Keys of subscriptions written at or after ``from_ms`` (a superset of the visible
        ones updated since then: the caller re-checks the visible record)."""
        start = bisect_left(self.subscription_updates, (from_ms, -(2**63)))
        return frozenset(key for _, key in self.subscription_updates[start:])

    def record_incident(self, incident: Incident) -> None:
        ei = incident.element_instance
        pi = ei.process_instance
        self.incident_table.put(
            incident.key,
            IncidentRecord(
                key=incident.key,
                process_instance_key=pi.key,
                process_definition_key=pi.definition.key,
                bpmn_process_id=pi.definition.model.bpmn_process_id,
                element_id=ei.element.id,
                element_instance_key=ei.key,
                error_type=incident.error_type,
                error_message=incident.error_message,
                job_key=incident.job_key,
                state=incident.state,
                creation_ms=incident.creation_ms,
                tenant_id=pi.tenant_id,
            ),
            self.now(),
        )

    # ------------------------------------------------------------------ variables

    def set_local(self, scope: ElementInstance, name: str, value: Any) -> None:
        key = scope.variable_keys.get(name)
        if key is None:
            key = scope.variable_keys[name] = self.next_key()
        value = to_plain(value)
        scope.variables[name] = value
        pi = scope.process_instance
        self.variable_table.put(
            key,
            VariableRecord(key, name, to_json_text(value), scope.key, pi.key, pi.tenant_id),
            self.now(),
        )

    def propagate(self, start: ElementInstance, variables: Mapping[str, Any]) -> None:
        """Zeebe's rule: each variable updates the nearest scope (from ``start`` outwards)
        that already holds it, otherwise it is created in the process instance scope."""
        for name, value in variables.items():
            scope: ElementInstance | None = start
            target: ElementInstance | None = None
            while scope is not None:
                if name in scope.variables:
                    target = scope
                    break
                if scope.flow_scope is None:
                    target = scope
                scope = scope.flow_scope
            assert target is not None
            self.set_local(target, name, value)

    # ------------------------------------------------------------------ instances

    def start_instance(
        self,
        definition: ProcessDefinition,
        start_element: Element,
        variables: Mapping[str, Any] | None,
        message_variables: Mapping[str, Any] | None = None,
    ) -> ProcessInstance:
        now = self.now()
        key = self.next_key()
        pi = ProcessInstance(key, definition, now)
        root = ElementInstance(key, definition.model.root, pi, None, now)
        pi.root = root
        self.instances[key] = pi
        self.element_instances[key] = root
        self.record_instance(pi)
        for name, value in (variables or {}).items():
            self.set_local(root, name, value)
        start = self.activate(start_element, root)
        if message_variables:
            start.pending_variables = dict(message_variables)
        return pi

    def activate(self, element: Element, scope: ElementInstance) -> ElementInstance:
        ei = ElementInstance(self.next_key(), element, scope.process_instance, scope, self.now())
        scope.children[ei.key] = ei
        self.element_instances[ei.key] = ei
        self.record_element(ei)
        self.later(lambda: self.enter(ei))
        return ei

    def enter(self, ei: ElementInstance) -> None:
        """Run an element's activation behaviour; a failure leaves it with an incident."""
        if not ei.is_active:
            return
        pi_key = ei.process_instance.key
        count = self._activations[pi_key] = self._activations.get(pi_key, 0) + 1
        if count > MAX_ACTIVATIONS_PER_COMMAND:
            self.raise_incident(
                ei,
                "UNKNOWN",
                f"Stopped at '{ei.element.id}': the instance activated more than "
                f"{MAX_ACTIVATIONS_PER_COMMAND} elements without reaching a wait state "
                "(an endless loop?)",
            )
            return
        try:
            self._enter(ei)
        except IncidentRaised as problem:
            self.raise_incident(ei, problem.error_type, problem.message)
        except Exception as exc:  # a bug or odd data must become an incident, not a crash
            log.exception("activating element '%s' failed", ei.element.id)
            self.raise_incident(ei, "UNKNOWN", f"Failed to activate '{ei.element.id}': {exc}")

    def _enter(self, ei: ElementInstance) -> None:
        element = ei.element
        context = ei.flow_scope.visible_variables() if ei.flow_scope else {}
        for mapping in element.inputs:
            value = mapping.source.evaluate(context)
            local: dict[str, Any] = {}
            if "." in mapping.target:
                head = mapping.target.split(".", 1)[0]
                if head in ei.variables:
                    local[head] = ei.variables[head]
            name = set_path(local, mapping.target, value)
            self.set_local(ei, name, local[name])
            context[name] = local[name]
        kind = element.kind
        if kind in ("startEvent", "endEvent", "parallelGateway", "boundaryEvent"):
            self.complete(ei)
        elif kind == "exclusiveGateway":
            # without outgoing flows the token simply ends here (implicit end)
            self.complete(ei, [self._choose_flow(ei)] if element.outgoing else [])
        elif kind == "serviceTask":
            self._open_boundaries(ei)
            self._create_job(ei)
        elif kind == "receiveTask":
            self._open_boundaries(ei)
            self._open_subscription(ei, element)
        elif kind == "intermediateCatchEvent":
            if element.is_message_event:
                self._open_subscription(ei, element)
            else:
                self._start_timer(ei, element)
        elif kind == "subProcess":
            self._open_boundaries(ei)
            start_id = element.none_start_id
            assert start_id is not None
            self.activate(ei.process_instance.definition.model.elements[start_id], ei)
        else:  # pragma: no cover - the model rejects every other kind at deployment
            raise IncidentRaised("UNKNOWN", f"Element '{element.id}' cannot be executed")

    def _choose_flow(self, ei: ElementInstance) -> Flow:
        element = ei.element
        if len(element.outgoing) == 1 and element.outgoing[0].condition is None:
            return element.outgoing[0]
        context = ei.visible_variables()
        default = None
        for flow in element.outgoing:
            if flow.id == element.default_flow:
                default = flow  # its condition, if any, is ignored
                continue
            if flow.condition is None:
                continue
            value = flow.condition.evaluate(context)
            if value is True:
                return flow
            if value is not False:  # null or a non-boolean stops the gateway, as in Zeebe
                raise IncidentRaised(
                    "EXTRACT_VALUE_ERROR",
                    f"Expected result of the expression '{_expression_text(flow.condition)}' "
                    f"to be 'BOOLEAN', but was '{_feel_type(value)}'.",
                )
        if default is not None:
            return default
        raise IncidentRaised(
            "CONDITION_ERROR",
            "Expected at least one condition to evaluate to true, or to have a default flow",
        )

    def complete(self, ei: ElementInstance, flows: list[Flow] | None = None) -> None:
        """Leave an element: apply its variables and output mappings, take outgoing flows."""
        if not ei.is_active:
            return
        try:
            self._apply_outputs(ei)
        except IncidentRaised as problem:
            self.raise_incident(ei, problem.error_type, problem.message)
            return
        self._close_waits(ei)
        ei.state = "COMPLETED"
        ei.end_ms = self.now()
        self._detach(ei)
        self.record_element(ei)
        scope = ei.flow_scope
        if scope is None:
            self._finish_instance(ei.process_instance, "COMPLETED")
            return
        outgoing = ei.element.outgoing if flows is None else flows
        for flow in outgoing:
            self._take_flow(flow, scope)
        self._check_scope_done(scope)

    def _apply_outputs(self, ei: ElementInstance) -> None:
        delivered = ei.pending_variables
        ei.pending_variables = None
        element = ei.element
        if not element.outputs:
            if delivered:
                self.propagate(ei, delivered)
            return
        for name, value in (delivered or {}).items():
            self.set_local(ei, name, value)
        context = ei.visible_variables()
        results: dict[str, Any] = {}
        assert ei.flow_scope is not None or not element.outputs
        outer = ei.flow_scope.visible_variables() if ei.flow_scope else {}
        for mapping in element.outputs:
            value = mapping.source.evaluate(context)
            head = mapping.target.split(".", 1)[0]
            if head not in results and head in outer and "." in mapping.target:
                results[head] = outer[head]
            set_path(results, mapping.target, value)
            context[head] = results[head]  # later mappings see earlier targets (Zeebe order)
        if ei.flow_scope is not None:
            self.propagate(ei.flow_scope, results)

    def _take_flow(self, flow: Flow, scope: ElementInstance) -> None:
        target = scope.process_instance.definition.model.elements[flow.target]
        if target.kind == "parallelGateway" and len(target.incoming) > 1:
            tokens = scope.joins.setdefault(target.id, {})
            tokens[flow.id] = tokens.get(flow.id, 0) + 1
            if all(tokens.get(incoming, 0) > 0 for incoming in target.incoming):
                for incoming in target.incoming:
                    tokens[incoming] -= 1
                self.activate(target, scope)
            return
        self.activate(target, scope)

    def _check_scope_done(self, scope: ElementInstance) -> None:
        if scope.is_active and not scope.children and not scope.pending_join_tokens():
            self.later(lambda: self.complete(scope))

    def _detach(self, ei: ElementInstance) -> None:
        if ei.flow_scope is not None:
            ei.flow_scope.children.pop(ei.key, None)
        self.element_instances.pop(ei.key, None)

    def terminate(self, ei: ElementInstance) -> None:
        """Terminate an element instance and everything inside it."""
        if not ei.is_active:
            return
        for child in list(ei.children.values()):
            self.terminate(child)
        self._close_waits(ei)
        if ei.incident_key is not None:
            self._drop_incident(self.incidents[ei.incident_key])
        ei.state = "TERMINATED"
        ei.end_ms = self.now()
        ei.joins.clear()
        self._detach(ei)
        self.record_element(ei)

    def migrate(
        self, pi: ProcessInstance, target: ProcessDefinition, mapping: Mapping[str, str]
    ) -> None:
        """Move an active instance to ``target`` (element ids through ``mapping``, unmapped
        ones keep their id). As Zeebe records it: each open message subscription whose event
        exists in the target is MIGRATED (it stays open, now at the target's element), a
        boundary subscription without a target event is DELETED."""
        actives = [ei for ei in self.element_instances.values() if ei.process_instance is pi]
        for ei in actives:
            if ei.flow_scope is not None and mapping.get(ei.element.id, ei.element.id) not in (
                target.model.elements
            ):
                raise EngineError(
                    "INVALID_ARGUMENT",
                    f"active element '{ei.element.id}' has no target in process definition "
                    f"'{target.key}'",
                )
        subscriptions = [
            (ei, self.subscriptions.by_key[k])
            for ei in actives
            for k in ei.subscription_keys
            if k in self.subscriptions.by_key
        ]
        for _, sub in subscriptions:
            self.subscriptions.close(sub)  # re-indexed below under the target's process id
        pi.definition = target
        for ei in actives:
            new_id = mapping.get(ei.element.id, ei.element.id)
            ei.element = target.model.elements[new_id]
            self.record_element(ei)
        for ei, sub in subscriptions:
            new_id = mapping.get(sub.element_id, sub.element_id)
            if new_id in target.model.elements:
                sub.element_id = new_id
                sub.state = "MIGRATED"
                self.subscriptions.open(sub)
            else:
                sub.state = "DELETED"
                ei.subscription_keys.remove(sub.key)
            self.record_subscription(sub)
        self.record_instance(pi)

    def cancel_instance(self, pi: ProcessInstance) -> None:
        assert pi.root is not None
        self.terminate(pi.root)
        self._finish_instance(pi, "TERMINATED")

    def _finish_instance(self, pi: ProcessInstance, state: str) -> None:
        assert pi.root is not None
        pi.state = "COMPLETED" if state == "COMPLETED" else "TERMINATED"
        pi.end_ms = self.now()
        self.instances.pop(pi.key, None)
        self.element_instances.pop(pi.key, None)
        variables = dict(pi.root.variables)
        self.finished[pi.key] = (pi.state, variables)
        self.record_instance(pi)
        for future, names in pi.result_futures:
            resolve_result(future, pi.key, pi.state, variables, names)
        pi.result_futures.clear()
        if pi.start_message is not None:
            self._after_message_started_instance(pi)

    def _close_waits(self, ei: ElementInstance) -> None:
        """Cancel the job, subscriptions and timers an element instance owns."""
        if ei.job_key is not None:
            job = self.jobs.jobs.get(ei.job_key)
            if job is not None:
                job.state = "CANCELED"
                self.jobs.remove(job)
            ei.job_key = None
        for key in ei.subscription_keys:
            sub = self.subscriptions.by_key.get(key)
            if sub is not None:
                self.subscriptions.close(sub)
                # whatever it showed (CREATED, MIGRATED, or CORRELATED for a non-interrupting
                # boundary), an open subscription of a left element is DELETED
                sub.state = "DELETED"
                self.record_subscription(sub)
        ei.subscription_keys.clear()
        for key in ei.timer_keys:
            self.timers.cancel(key)
        ei.timer_keys.clear()

    # ------------------------------------------------------------------ incidents

    def raise_incident(
        self, ei: ElementInstance, error_type: str, message: str, job_key: int | None = None
    ) -> Incident:
        incident = Incident(self.next_key(), ei, error_type, message, job_key, self.now())
        self.incidents[incident.key] = incident
        ei.incident_key = incident.key
        pi = ei.process_instance
        pi.has_incident = True
        self.record_incident(incident)
        self.record_element(ei)
        self.record_instance(pi)
        return incident

    def _drop_incident(self, incident: Incident) -> None:
        incident.state = "RESOLVED"
        self.incidents.pop(incident.key, None)
        ei = incident.element_instance
        ei.incident_key = None
        pi = ei.process_instance
        pi.has_incident = any(
            i.element_instance.process_instance is pi for i in self.incidents.values()
        )
        self.record_incident(incident)
        self.record_element(ei)
        self.record_instance(pi)

    def resolve_incident(self, incident: Incident) -> None:
        self._drop_incident(incident)
        ei = incident.element_instance
        if incident.job_key is not None:
            job = self.jobs.jobs.get(incident.job_key)
            if job is not None:
                job.incident_key = None
                self.jobs.make_activatable(job)
            return
        self._close_waits(ei)  # activation is retried from the start
        self.later(lambda: self.enter(ei))

    # ------------------------------------------------------------------ jobs

    def _create_job(self, ei: ElementInstance) -> None:
        element = ei.element
        assert element.job_type is not None
        context = ei.visible_variables()
        job_type = element.job_type.evaluate(context)
        if not isinstance(job_type, str) or not job_type:
            raise IncidentRaised(
                "EXTRACT_VALUE_ERROR",
                f"Expected result of the expression '{_expression_text(element.job_type)}' "
                f"to be 'STRING', but was '{_feel_type(job_type)}'.",
            )
        retries_value: Any = 3
        if element.job_retries is not None:
            retries_value = element.job_retries.evaluate(context)
        try:
            retries = int(retries_value)
        except (TypeError, ValueError):
            raise IncidentRaised(
                "EXTRACT_VALUE_ERROR",
                f"Expected result of the expression 'retries' to be 'NUMBER', "
                f"but was '{_feel_type(retries_value)}'.",
            ) from None
        job = Job(
            self.next_key(),
            job_type,
            retries,
            ei,
            dict(element.headers),
            ei.process_instance.tenant_id,
        )
        ei.job_key = job.key
        self.jobs.add(job)

    def job_completed(self, job: Job, variables: Mapping[str, Any]) -> None:
        ei = job.element_instance
        job.state = "COMPLETED"
        self.jobs.remove(job)
        ei.job_key = None
        ei.pending_variables = dict(variables) if variables else None
        self.complete(ei)

    # ------------------------------------------------------------------ boundary events

    def _open_boundaries(self, ei: ElementInstance) -> None:
        model = ei.process_instance.definition.model
        for boundary_id in ei.element.boundary_ids:
            boundary = model.elements[boundary_id]
            if boundary.is_message_event:
                self._open_subscription(ei, boundary)
            else:
                self._start_timer(ei, boundary)

    def trigger_boundary(
        self, activity: ElementInstance, boundary: Element, variables: Mapping[str, Any] | None
    ) -> None:
        scope = activity.flow_scope
        assert scope is not None
        if boundary.cancel_activity:
            self.terminate(activity)
        event = self.activate(boundary, scope)
        if variables:
            event.pending_variables = dict(variables)

    # ------------------------------------------------------------------ timers

    def _start_timer(self, owner: ElementInstance, event: Element) -> None:
        assert event.timer_duration is not None
        text = event.timer_duration.evaluate(owner.visible_variables())
        try:
            if not isinstance(text, str):
                raise ValueError(f"the value must be a duration, but was '{_feel_type(text)}'")
            delay = duration_ms(text, self.now())
        except Exception as exc:  # isodate raises its own error type
            raise IncidentRaised(
                "EXTRACT_VALUE_ERROR",
                f"Expected a valid timer duration for '{event.id}' from "
                f"'{_expression_text(event.timer_duration)}': {exc}",
            ) from None
        timer = Timer(self.next_key(), owner.key, event.id, self.now() + delay)
        owner.timer_keys.append(timer.key)
        self.timers.add(timer)

    def fire_timer(self, timer: Timer) -> None:
        ei = self.element_instances.get(timer.element_instance_key)
        if ei is None or not ei.is_active:
            return
        if timer.key in ei.timer_keys:
            ei.timer_keys.remove(timer.key)
        if ei.element.id == timer.element_id:
            self.complete(ei)
            return
        boundary = ei.process_instance.definition.model.elements[timer.element_id]
        self.trigger_boundary(ei, boundary, None)

    # ------------------------------------------------------------------ messages

    def _open_subscription(self, owner: ElementInstance, event: Element) -> None:
        assert event.message_name is not None
        # evaluated in the owning element's scope, after its input mappings (as Zeebe does)
        context = owner.visible_variables()
        name = event.message_name.evaluate(context)
        if not isinstance(name, str):
            raise IncidentRaised(
                "EXTRACT_VALUE_ERROR",
                f"Failed to extract the message name for "
                f"'{_expression_text(event.message_name)}': The value must be a string, "
                f"but was '{_feel_type(name)}'.",
            )
        correlation_key = self.extract_correlation_key(event, context)
        pi = owner.process_instance
        sub = Subscription(
            self.next_key(),
            pi.tenant_id,
            name,
            correlation_key,
            owner,
            event.id,
            interrupting=event.kind != "boundaryEvent" or event.cancel_activity,
        )
        owner.subscription_keys.append(sub.key)
        self.subscriptions.open(sub)
        self.record_subscription(sub)
        process_id = pi.definition.model.bpmn_process_id
        for message in self.buffer.candidates(sub.match_key, self.now()):
            if process_id not in message.correlated_processes:
                message.correlated_processes.add(process_id)
                self.later(partial(self.correlate, sub, message.variables))
                break

    @staticmethod
    def extract_correlation_key(event: Element, context: Mapping[str, Any]) -> str:
        assert event.correlation_key is not None
        value = event.correlation_key.evaluate(context)
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(int(value))
        raise IncidentRaised(
            "EXTRACT_VALUE_ERROR",
            f"Failed to extract the correlation key for "
            f"'{_expression_text(event.correlation_key)}': The value must be either a string "
            f"or a number, but was '{_feel_type(value)}'.",
        )

    def correlate(self, sub: Subscription, variables: Mapping[str, Any]) -> None:
        owner = sub.element_instance
        if not owner.is_active or sub.key not in self.subscriptions.by_key:
            return
        if owner.element.id == sub.element_id:  # catch event or receive task
            sub.state = "CORRELATED"
            self.subscriptions.close(sub)
            owner.subscription_keys.remove(sub.key)
            self.record_subscription(sub)
            owner.pending_variables = dict(variables) if variables else None
            self.complete(owner)
            return
        boundary = owner.process_instance.definition.model.elements[sub.element_id]
        # Zeebe writes CORRELATED either way; a non-interrupting boundary's subscription stays
        # open in the engine (it can correlate again), but the query API shows CORRELATED from
        # now on, until the activity is left (DELETED).
        sub.state = "CORRELATED"
        if boundary.cancel_activity:
            self.subscriptions.close(sub)
            owner.subscription_keys.remove(sub.key)
        self.record_subscription(sub)
        self.trigger_boundary(owner, boundary, variables)

    def publish(self, message: BufferedMessage, ttl_ms: int) -> None:
        """Correlate a new message to waiting subscriptions and start events; buffer it."""
        targets = self.subscriptions.first_per_process(message.match_key)
        for sub in targets:
            message.correlated_processes.add(sub.bpmn_process_id)
        starts = self._startable(message)
        for definition, _ in starts:
            message.correlated_processes.add(definition.model.bpmn_process_id)
        if ttl_ms > 0:
            self.buffer.add(message)
        for sub in targets:
            self.correlate(sub, message.variables)
        for definition, start in starts:
            self._start_by_message(definition, start, message)

    def _startable(self, message: BufferedMessage) -> list[tuple[ProcessDefinition, Element]]:
        result = []
        for process_id, (definition, start) in self.start_events.get(
            (message.tenant_id, message.name), {}
        ).items():
            if process_id in message.correlated_processes:
                continue
            key = (message.tenant_id, process_id, message.correlation_key)
            if message.correlation_key and key in self.message_started:
                continue
            result.append((definition, start))
        return result

    def _start_by_message(
        self, definition: ProcessDefinition, start: Element, message: BufferedMessage
    ) -> None:
        pi = self.start_instance(definition, start, None, message.variables)
        pi.start_message = (message.name, message.correlation_key)
        if message.correlation_key:
            key = (message.tenant_id, definition.model.bpmn_process_id, message.correlation_key)
            self.message_started[key] = pi.key

    def _after_message_started_instance(self, pi: ProcessInstance) -> None:
        assert pi.start_message is not None
        name, correlation_key = pi.start_message
        if not correlation_key:
            return
        process_id = pi.definition.model.bpmn_process_id
        self.message_started.pop((pi.tenant_id, process_id, correlation_key), None)
        match = (pi.tenant_id, name, correlation_key)
        for message in self.buffer.candidates(match, self.now()):
            if process_id in message.correlated_processes:
                continue
            entry = self.start_events.get((pi.tenant_id, name), {}).get(process_id)
            # keys are monotonic: a smaller key means published before this deployment, and
            # Zeebe never starts a process with a message published before it was deployed
            if entry is not None and message.key > entry[0].key:
                message.correlated_processes.add(process_id)
                definition, start = entry
                self.later(partial(self._start_by_message, definition, start, message))
            break


def resolve_result(
    future: Future[dict[str, Any]],
    key: int,
    state: str,
    variables: dict[str, Any],
    names: list[str] | None,
) -> None:
    """Complete a create-with-result future from a finished instance (a future the caller
    cancelled meanwhile, from any thread, is left alone)."""
    with suppress(InvalidStateError):
        if state != "COMPLETED":
            future.set_exception(
                EngineError(
                    "FAILED_PRECONDITION",
                    f"Expected to receive the result of process instance with key '{key}', "
                    "but it was terminated",
                )
            )
            return
        if names:
            variables = {n: variables[n] for n in names if n in variables}
        future.set_result(dict(variables))
