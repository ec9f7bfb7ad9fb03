"""The development engine's public API: one object, thread-safe, no network.

Every public method takes the engine's re-entrant lock, so the gRPC and REST layers may call
it from any thread. State is kept in memory only and is lost when the process exits.

Errors are ``EngineError`` with a gRPC status name in ``code`` and Zeebe's wording in
``message``. Keys are Zeebe-like int64 values of partition 1 (2251799813685249 + n).
Times are epoch milliseconds from the injected clock.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import Future
from typing import Any, Literal

from .clock import Clock, SystemClock
from .deployments import deploy, parse_resources
from .errors import EngineError, rejection
from .instances import Runtime, resolve_result
from .jobs import Job
from .messages import BufferedMessage
from .query import Table
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
    Topology,
    VariableRecord,
)
from .state import ProcessDefinition

__all__ = ["Engine", "KeyFilter", "QueryTable", "TextFilter"]

KeyFilter = int | Collection[int] | None
TextFilter = str | Collection[str] | None
QueryTable = Literal[
    "process_definitions",
    "process_instances",
    "element_instances",
    "message_subscriptions",
    "variables",
    "incidents",
]


class Engine:
    """An in-memory, single-partition Zeebe look-alike.

    ``clock``: time source (``SystemClock`` by default; ``ManualClock`` in tests).
    ``max_active_instances``: optional load limit; creating an instance beyond it raises
    ``RESOURCE_EXHAUSTED`` (Zeebe's backpressure answer).
    ``query_visibility_delay_ms``: query methods only see a record version once it is this old,
    mimicking the eventually consistent secondary storage behind REST v2 searches.
    ``gateway_version``: version reported by ``topology()``.
    """

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        max_active_instances: int | None = None,
        query_visibility_delay_ms: int = 0,
        gateway_version: str = "8.8.21",
    ) -> None:
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._lock = threading.RLock()
        self._max_active = max_active_instances
        self._gateway_version = gateway_version
        self._rt = Runtime(self._clock, query_visibility_delay_ms)

    # ------------------------------------------------------------------ cluster

    def topology(self, host: str = "127.0.0.1", port: int = 26500) -> Topology:
        """One broker, one partition (leader, healthy), replication factor 1."""
        return Topology(
            brokers=(BrokerInfo(0, host, port, self._gateway_version),),
            gateway_version=self._gateway_version,
        )

    # ------------------------------------------------------------------ deployment

    def deploy(
        self, resources: Sequence[tuple[str, bytes]], tenant_id: str = DEFAULT_TENANT
    ) -> DeploymentResult:
        """Deploy BPMN resources ``(name, content)`` atomically.

        A resource whose name does not end in ``.bpmn`` (or ``.bpmn20.xml``), or that is not valid
        executable BPMN, rejects the whole deployment with INVALID_ARGUMENT naming the resource,
        the element id and the reason. A process identical to its latest version keeps that
        version (same key); a changed one gets version + 1.
        """
        with self._lock:
            return deploy(self._rt, parse_resources(resources), tenant_id)

    # ------------------------------------------------------------------ instances

    def create_process_instance(
        self,
        bpmn_process_id: str | None = None,
        version: int = -1,
        process_definition_key: int | None = None,
        variables: Mapping[str, Any] | None = None,
        tenant_id: str = DEFAULT_TENANT,
    ) -> InstanceInfo:
        """Start an instance at the process's none start event.

        Either ``process_definition_key`` or ``bpmn_process_id`` (with ``version`` -1 = latest).
        NOT_FOUND when no such definition; INVALID_ARGUMENT when the process has no none start
        event; RESOURCE_EXHAUSTED when ``max_active_instances`` is reached.
        The instance runs synchronously until every token waits (job, message, timer) or ends.
        """
        with self._lock:
            definition = self._find_definition(
                bpmn_process_id, version, process_definition_key, tenant_id
            )
            start_id = definition.model.root.none_start_id
            if start_id is None:
                raise rejection(
                    "INVALID_ARGUMENT",
                    "CREATE",
                    "Expected to create instance of process with none start event, "
                    "but there is no such event",
                )
            self._check_capacity()
            rt = self._rt
            pi = rt.start_instance(
                definition, definition.model.elements[start_id], _object(variables)
            )
            rt.run()
            return InstanceInfo(
                pi.key,
                definition.key,
                definition.model.bpmn_process_id,
                definition.version,
                definition.tenant_id,
            )

    def await_instance_result(
        self, process_instance_key: int, fetch_variables: Sequence[str] | None = None
    ) -> Future[dict[str, Any]]:
        """A future resolved with the root-scope variables when the instance completes.

        Resolves at once if it already completed. If the instance is terminated the future fails
        with an ``EngineError`` (FAILED_PRECONDITION). ``fetch_variables`` limits the names
        returned. NOT_FOUND for an unknown key. The caller applies any timeout.
        """
        with self._lock:
            future: Future[dict[str, Any]] = Future()
            names = list(fetch_variables) if fetch_variables else None
            pi = self._rt.instances.get(process_instance_key)
            if pi is not None:
                pi.result_futures.append((future, names))
                return future
            finished = self._rt.finished.get(process_instance_key)
            if finished is None:
                raise EngineError(
                    "NOT_FOUND",
                    f"Expected to find process instance with key '{process_instance_key}', "
                    "but none found",
                )
            state, variables = finished
            resolve_result(future, process_instance_key, state, variables, names)
            return future

    def cancel_process_instance(self, process_instance_key: int) -> None:
        """Terminate an active instance and everything in it; NOT_FOUND when not active."""
        with self._lock:
            pi = self._rt.instances.get(process_instance_key)
            if pi is None:
                raise rejection(
                    "NOT_FOUND",
                    "CANCEL",
                    f"Expected to cancel a process instance with key '{process_instance_key}', "
                    "but no such process was found",
                )
            self._rt.cancel_instance(pi)
            self._rt.run()

    def lag_subscription_records(self, extra_ms: int) -> None:
        """Make subscription records written from now on visible ``extra_ms`` later than the
        query visibility delay (0 ends it): a lagging exporter, for tests of the discovery's
        overlap window. Needs ``query_visibility_delay_ms`` > 0."""
        with self._lock:
            self._rt.subscription_lag_ms = max(0, extra_ms)

    def migrate_process_instance(
        self,
        process_instance_key: int,
        target_process_definition_key: int,
        mapping: Mapping[str, str] | None = None,
    ) -> None:
        """Migrate an active instance to another definition (element ids through ``mapping``,
        unmapped ones keep their id); message subscriptions are recorded MIGRATED."""
        with self._lock:
            pi = self._rt.instances.get(process_instance_key)
            target = self._rt.definitions.get(target_process_definition_key)
            if pi is None or target is None:
                raise rejection(
                    "NOT_FOUND",
                    "MIGRATE",
                    f"Expected to migrate process instance '{process_instance_key}' to "
                    f"process definition '{target_process_definition_key}', but one of them "
                    "was not found",
                )
            self._rt.migrate(pi, target, mapping or {})
            self._rt.run()

    def set_variables(
        self, element_instance_key: int, variables: Mapping[str, Any], local: bool = False
    ) -> int:
        """Set variables on an active element instance (or process instance) scope.

        ``local=True`` writes them in that scope; otherwise each propagates to the nearest scope
        already holding it, else to the process instance. Returns the command key.
        NOT_FOUND when the element instance is not active.
        """
        with self._lock:
            rt = self._rt
            values = _object(variables)
            ei = rt.element_instances.get(element_instance_key)
            if ei is None or not ei.is_active:
                raise rejection(
                    "NOT_FOUND",
                    "UPDATE",
                    f"Expected to update variables for element with key "
                    f"'{element_instance_key}', but no such element was found",
                )
            if local:
                for name, value in values.items():
                    rt.set_local(ei, name, value)
            else:
                rt.propagate(ei, values)
            return rt.next_key()

    def resolve_incident(self, incident_key: int) -> None:
        """Resolve an incident and retry the step that raised it (job incidents need retries
        > 0 first, as in Zeebe). NOT_FOUND for an unknown or already resolved incident."""
        with self._lock:
            incident = self._rt.incidents.get(incident_key)
            if incident is None:
                raise rejection(
                    "NOT_FOUND",
                    "RESOLVE",
                    f"Expected to resolve incident with key '{incident_key}', "
                    "but no such incident was found",
                )
            if incident.job_key is not None:
                job = self._rt.jobs.jobs.get(incident.job_key)
                if job is not None and job.retries <= 0:
                    raise rejection(
                        "FAILED_PRECONDITION",
                        "RESOLVE",
                        f"Expected to resolve incident with key '{incident_key}', but job "
                        f"with key '{job.key}' has no retries left; update its retries first",
                    )
            self._rt.resolve_incident(incident)
            self._rt.run()

    # ------------------------------------------------------------------ messages

    def publish_message(
        self,
        name: str,
        correlation_key: str = "",
        time_to_live_ms: int = 0,
        message_id: str = "",
        variables: Mapping[str, Any] | None = None,
        tenant_id: str = DEFAULT_TENANT,
    ) -> int:
        """Publish a message and correlate it; returns the message key.

        Correlates to open subscriptions with the same tenant, name and correlation key (at most
        one per BPMN process id) and to message start events. With ``time_to_live_ms > 0`` it is
        buffered until expiry and correlates to subscriptions opened later. A non-empty
        ``message_id`` equal to a still-buffered message's (same tenant, name, key) raises
        ALREADY_EXISTS.
        """
        with self._lock:
            rt = self._rt
            now = rt.now()
            rt.buffer.expire(now)
            match = (tenant_id, name, correlation_key)
            if rt.buffer.has_id(match, message_id):
                raise rejection(
                    "ALREADY_EXISTS",
                    "PUBLISH",
                    f"Expected to publish a new message with id '{message_id}', "
                    "but a message with that id was already published",
                )
            message = BufferedMessage(
                rt.next_key(),
                tenant_id,
                name,
                correlation_key,
                _object(variables),
                message_id,
                now + max(0, time_to_live_ms),
            )
            rt.publish(message, time_to_live_ms)
            rt.run()
            return message.key

    # ------------------------------------------------------------------ jobs

    def activate_jobs(
        self,
        job_type: str,
        worker: str,
        timeout_ms: int,
        max_jobs: int,
        fetch_variables: Sequence[str] | None = None,
        tenant_ids: Sequence[str] | None = None,
    ) -> list[ActivatedJob]:
        """Activate up to ``max_jobs`` activatable jobs of ``job_type`` (oldest first).

        A job is activatable when created (or timed out / failed with retries left and its
        back-off elapsed). ``tenant_ids`` None or empty means ``<default>``. Never blocks: use
        ``wait_for_jobs`` for long polling.
        """
        if max_jobs < 1:
            raise EngineError(
                "INVALID_ARGUMENT",
                f"Expected to activate jobs with maxJobsToActivate > 0, but was {max_jobs}",
            )
        if not job_type:
            raise EngineError("INVALID_ARGUMENT", "Expected a non-empty job type, but was ''")
        tenants = set(tenant_ids) if tenant_ids else {DEFAULT_TENANT}
        names = list(fetch_variables) if fetch_variables else None
        with self._lock:
            rt = self._rt
            now = rt.now()
            activated: list[ActivatedJob] = []
            for job in rt.jobs.activatable(job_type):
                if len(activated) >= max_jobs:
                    break
                if job.tenant_id not in tenants:
                    continue
                rt.jobs.activate(job, worker, now + max(0, timeout_ms))
                activated.append(_activated(job, names))
            return activated

    def wait_for_jobs(self, job_type: str) -> Future[None]:
        """A future resolved as soon as a job of ``job_type`` may be activatable.

        Resolved immediately if one already is. Callers re-check with ``activate_jobs`` (another
        worker may win the race) and cancel the future (``Future.cancel``) when they give up.
        """
        with self._lock:
            return self._rt.jobs.waiter(job_type)

    def complete_job(self, job_key: int, variables: Mapping[str, Any] | None = None) -> None:
        """Complete an activated job; its variables propagate from the task (output mappings
        apply). NOT_FOUND for an unknown job; FAILED_PRECONDITION when it is not activated."""
        with self._lock:
            job = self._job(job_key, "COMPLETE", "complete")
            values = _object(variables)
            if job.state not in ("CREATED", "ACTIVATED") or job.incident_key is not None:
                raise rejection(
                    "FAILED_PRECONDITION",
                    "COMPLETE",
                    f"Expected to complete job with key '{job_key}', but it is in state "
                    f"'{_job_state(job)}'",
                )
            self._rt.job_completed(job, values)
            self._rt.run()

    def fail_job(
        self,
        job_key: int,
        retries: int,
        error_message: str = "",
        retry_back_off_ms: int = 0,
        variables: Mapping[str, Any] | None = None,
    ) -> None:
        """Fail a job. ``retries > 0``: activatable again after ``retry_back_off_ms``;
        ``retries <= 0``: an incident on the task. Variables are set locally on the task."""
        with self._lock:
            rt = self._rt
            job = self._job(job_key, "FAIL", "fail")
            values = _object(variables)
            if job.state != "ACTIVATED":
                raise rejection(
                    "FAILED_PRECONDITION",
                    "FAIL",
                    f"Expected to fail job with key '{job_key}', but it is in state "
                    f"'{_job_state(job)}'",
                )
            ei = job.element_instance
            for name, value in values.items():
                rt.set_local(ei, name, value)
            job.state = "FAILED"
            job.retries = retries
            job.error_message = error_message
            job.worker = ""
            job.deadline_ms = -1
            if retries > 0:
                if retry_back_off_ms > 0:
                    rt.jobs.back_off(job, rt.now() + retry_back_off_ms)
                else:
                    rt.jobs.make_activatable(job)
            else:
                incident = rt.raise_incident(
                    ei, "JOB_NO_RETRIES", error_message or "No more retries left.", job.key
                )
                job.incident_key = incident.key
            rt.run()

    def throw_error(
        self,
        job_key: int,
        error_code: str,
        error_message: str = "",
        variables: Mapping[str, Any] | None = None,
    ) -> None:
        """Throw a BPMN error from a job. Error boundary events are not supported by this engine,
        so the error is never caught and raises an UNHANDLED_ERROR_EVENT incident, as Zeebe does
        for an uncaught error."""
        with self._lock:
            rt = self._rt
            job = self._job(job_key, "THROW_ERROR", "throw an error for")
            values = _object(variables)
            if job.state not in ("CREATED", "ACTIVATED") or job.incident_key is not None:
                raise rejection(
                    "FAILED_PRECONDITION",
                    "THROW_ERROR",
                    f"Expected to throw an error for job with key '{job_key}', but it is in "
                    f"state '{_job_state(job)}'",
                )
            ei = job.element_instance
            for name, value in values.items():
                rt.set_local(ei, name, value)
            job.state = "ERROR_THROWN"
            job.error_message = error_message
            job.worker = ""
            job.deadline_ms = -1
            incident = rt.raise_incident(
                ei,
                "UNHANDLED_ERROR_EVENT",
                f"Expected to throw an error event with the code '{error_code}' with message "
                f"'{error_message}', but it was not caught. "
                "No error events are available in the scope.",
                job.key,
            )
            job.incident_key = incident.key
            rt.run()

    def update_job_retries(self, job_key: int, retries: int) -> None:
        """Set a job's retries (must be > 0 -> INVALID_ARGUMENT otherwise). NOT_FOUND for an
        unknown job. A failed job with an incident becomes activatable after the incident is
        resolved."""
        with self._lock:
            job = self._job(job_key, "UPDATE_RETRIES", "update retries for")
            if retries < 1:
                raise rejection(
                    "INVALID_ARGUMENT",
                    "UPDATE_RETRIES",
                    f"Expected to update retries for job with key '{job_key}' with a positive "
                    f"amount of retries, but the amount given was '{retries}'",
                )
            job.retries = retries

    # ------------------------------------------------------------------ time

    def tick(self) -> None:
        """Process everything due at ``clock.now_ms()``: timers, job timeouts, retry back-offs,
        expired buffered messages. Cheap when nothing is due."""
        with self._lock:
            rt = self._rt
            now = rt.now()
            rt.jobs.due(now)
            rt.buffer.expire(now)
            while (timer := rt.timers.pop_due(now)) is not None:
                rt.fire_timer(timer)
                rt.run()
            rt.run()

    def next_due_ms(self) -> int | None:
        """Earliest time something is due (for a tick driver to sleep until), or None."""
        with self._lock:
            rt = self._rt
            times = [
                t
                for t in (rt.jobs.next_due_ms(), rt.timers.next_due_ms(), rt.buffer.next_due_ms())
                if t is not None
            ]
            return min(times) if times else None

    # ------------------------------------------------------------------ queries
    # Each returns a list sorted by key (ascending), filtered on the named (indexed) fields:
    # None = no filter, a list/tuple/set/frozenset = any of those values ($in), anything else =
    # equality. ``after_key``/``limit`` page through the result
    # cheaply (records with key > after_key, at most limit). Only record versions older than
    # the visibility delay are seen. ``count`` gives the total for the same filters.

    def count(self, table: QueryTable, *, limit: int | None = None, **filters: Any) -> int:
        """Number of visible records of ``table`` matching ``filters`` (the same keyword names
        and value forms as the listing method, without paging); with ``limit``, counting stops
        there (for capped totals like Camunda's 10,000)."""
        with self._lock:
            tables: dict[str, Table[Any]] = {
                "process_definitions": self._rt.definition_table,
                "process_instances": self._rt.instance_table,
                "element_instances": self._rt.element_table,
                "message_subscriptions": self._rt.subscription_table,
                "variables": self._rt.variable_table,
                "incidents": self._rt.incident_table,
            }
            return tables[table].count(self._rt.now(), filters, limit)

    def process_definitions(
        self,
        *,
        key: KeyFilter = None,
        bpmn_process_id: TextFilter = None,
        is_latest: bool | None = None,
        tenant_id: TextFilter = None,
        after_key: int | None = None,
        limit: int | None = None,
    ) -> list[ProcessDefinitionRecord]:
        with self._lock:
            filters = {
                "key": key,
                "bpmn_process_id": bpmn_process_id,
                "is_latest": is_latest,
                "tenant_id": tenant_id,
            }
            return self._rt.definition_table.find(self._rt.now(), filters, after_key, limit)

    def process_definition_xml(self, key: int) -> str:
        """The deployed XML verbatim; NOT_FOUND for an unknown key."""
        with self._lock:
            if self._rt.definition_table.get(key, self._rt.now()) is None:
                raise EngineError("NOT_FOUND", f"Process definition with key '{key}' not found")
            return self._rt.definitions[key].xml

    def process_instances(
        self,
        *,
        key: KeyFilter = None,
        process_definition_key: KeyFilter = None,
        bpmn_process_id: TextFilter = None,
        state: TextFilter = None,
        after_key: int | None = None,
        limit: int | None = None,
    ) -> list[ProcessInstanceRecord]:
        with self._lock:
            filters = {
                "key": key,
                "process_definition_key": process_definition_key,
                "bpmn_process_id": bpmn_process_id,
                "state": state,
            }
            return self._rt.instance_table.find(self._rt.now(), filters, after_key, limit)

    def element_instances(
        self,
        *,
        key: KeyFilter = None,
        process_instance_key: KeyFilter = None,
        process_definition_key: KeyFilter = None,
        element_id: TextFilter = None,
        state: TextFilter = None,
        flow_scope_key: KeyFilter = None,
        bpmn_process_id: TextFilter = None,
        type: TextFilter = None,
        after_key: int | None = None,
        limit: int | None = None,
    ) -> list[ElementInstanceRecord]:
        with self._lock:
            filters = {
                "key": key,
                "process_instance_key": process_instance_key,
                "process_definition_key": process_definition_key,
                "element_id": element_id,
                "state": state,
                "flow_scope_key": flow_scope_key,
                "bpmn_process_id": bpmn_process_id,
                "type": type,
            }
            return self._rt.element_table.find(self._rt.now(), filters, after_key, limit)

    def message_subscriptions(
        self,
        *,
        key: KeyFilter = None,
        process_instance_key: KeyFilter = None,
        process_definition_key: KeyFilter = None,
        element_id: TextFilter = None,
        element_instance_key: KeyFilter = None,
        state: TextFilter = None,
        process_definition_id: TextFilter = None,
        message_name: TextFilter = None,
        correlation_key: TextFilter = None,
        updated_from_ms: int | None = None,
        after_key: int | None = None,
        limit: int | None = None,
    ) -> list[MessageSubscriptionRecord]:
        """``updated_from_ms``: only records written at or after it may match (the REST
        layer still checks the visible record's ``lastUpdatedDate`` exactly)."""
        with self._lock:
            if updated_from_ms is not None:
                changed = self._rt.subscriptions_updated_since(updated_from_ms)
                if key is not None:
                    wanted = key if isinstance(key, list | tuple | set | frozenset) else (key,)
                    changed = changed & frozenset(wanted)
                key = changed
            filters = {
                "key": key,
                "process_instance_key": process_instance_key,
                "process_definition_key": process_definition_key,
                "element_id": element_id,
                "element_instance_key": element_instance_key,
                "state": state,
                "process_definition_id": process_definition_id,
                "message_name": message_name,
                "correlation_key": correlation_key,
            }
            return self._rt.subscription_table.find(self._rt.now(), filters, after_key, limit)

    def variables(
        self,
        *,
        key: KeyFilter = None,
        process_instance_key: KeyFilter = None,
        scope_key: KeyFilter = None,
        name: TextFilter = None,
        after_key: int | None = None,
        limit: int | None = None,
    ) -> list[VariableRecord]:
        with self._lock:
            filters = {
                "key": key,
                "process_instance_key": process_instance_key,
                "scope_key": scope_key,
                "name": name,
            }
            return self._rt.variable_table.find(self._rt.now(), filters, after_key, limit)

    def variable(self, key: int) -> VariableRecord:
        """One variable by key; NOT_FOUND when unknown (or not visible yet)."""
        with self._lock:
            record = self._rt.variable_table.get(key, self._rt.now())
            if record is None:
                raise EngineError("NOT_FOUND", f"Variable with key '{key}' not found")
            return record

    def incidents(
        self,
        *,
        key: KeyFilter = None,
        process_instance_key: KeyFilter = None,
        state: TextFilter = None,
        after_key: int | None = None,
        limit: int | None = None,
    ) -> list[IncidentRecord]:
        with self._lock:
            filters = {"key": key, "process_instance_key": process_instance_key, "state": state}
            return self._rt.incident_table.find(self._rt.now(), filters, after_key, limit)

    # ------------------------------------------------------------------ helpers

    def _find_definition(
        self,
        bpmn_process_id: str | None,
        version: int,
        process_definition_key: int | None,
        tenant_id: str,
    ) -> ProcessDefinition:
        rt = self._rt
        if process_definition_key:
            definition = rt.definitions.get(process_definition_key)
            if definition is None:
                raise rejection(
                    "NOT_FOUND",
                    "CREATE",
                    f"Expected to find process definition with key '{process_definition_key}', "
                    "but none found",
                )
            return definition
        if not bpmn_process_id:
            raise EngineError(
                "INVALID_ARGUMENT",
                "Expected either a process definition key or a BPMN process id, but got neither",
            )
        versions = rt.versions.get((tenant_id, bpmn_process_id), [])
        if version is None or version < 0:
            if versions:
                return versions[-1]
            raise rejection(
                "NOT_FOUND",
                "CREATE",
                f"Expected to find process definition with process ID '{bpmn_process_id}', "
                "but none found",
            )
        for definition in versions:
            if definition.version == version:
                return definition
        raise rejection(
            "NOT_FOUND",
            "CREATE",
            f"Expected to find process definition with process ID '{bpmn_process_id}' and "
            f"version '{version}', but none found",
        )

    def _check_capacity(self) -> None:
        if self._max_active is not None and len(self._rt.instances) >= self._max_active:
            raise EngineError(
                "RESOURCE_EXHAUSTED",
                f"Expected to create a process instance, but the engine already runs "
                f"{len(self._rt.instances)} active instances (limit {self._max_active}); "
                "retry later",
            )

    def _job(self, job_key: int, intent: str, verb: str) -> Job:
        job = self._rt.jobs.jobs.get(job_key)
        if job is None:
            raise rejection(
                "NOT_FOUND",
                intent,
                f"Expected to {verb} job with key '{job_key}', but no such job was found",
            )
        return job


def _object(variables: Mapping[str, Any] | None) -> dict[str, Any]:
    if variables is None:
        return {}
    if not isinstance(variables, Mapping):
        raise EngineError(
            "INVALID_ARGUMENT",
            f"Expected variables to be a JSON object, but was {type(variables).__name__}",
        )
    return {str(k): v for k, v in variables.items()}


def _job_state(job: Job) -> str:
    if job.incident_key is not None:
        return "FAILED"
    return "ACTIVATABLE" if job.state == "CREATED" else job.state


def _activated(job: Job, names: list[str] | None) -> ActivatedJob:
    ei = job.element_instance
    pi = ei.process_instance
    variables = ei.visible_variables()
    if names is not None:
        variables = {n: variables[n] for n in names if n in variables}
    return ActivatedJob(
        key=job.key,
        type=job.type,
        process_instance_key=pi.key,
        bpmn_process_id=pi.definition.model.bpmn_process_id,
        process_definition_version=pi.definition.version,
        process_definition_key=pi.definition.key,
        element_id=ei.element.id,
        element_instance_key=ei.key,
        custom_headers=dict(job.custom_headers),
        worker=job.worker,
        retries=job.retries,
        deadline_ms=job.deadline_ms,
        variables=variables,
        tenant_id=job.tenant_id,
    )
