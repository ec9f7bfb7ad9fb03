"""The poll pipeline: the scheduler's hooks, from variables to a published message.

One poll of a waiting instance goes ``prepare`` (read its variables, batched; bind its
request, reusing the last one while its inputs hold) -> ``execute`` (the HTTP call, in the
poll threads) -> ``deliver`` (evaluate the response in the FEEL threads; publish when the
activation condition is met). The scheduler decides when and how often; this module
decides what a poll does and what its outcome is.

Rules implemented here:

* variables of concurrent polls are read together (:class:`VariableLoader`); while the
  cluster is unreachable polls go on with the last values read;
* a bound request is reused while the variables it was bound from are the same JSON values
  (``1``, ``1.0`` and ``true`` differ), and bound afresh now and then when it uses secrets
  (rotated secrets);
* an observed activation is never lost nor published twice: a publish that fails is retried
  with the same message id and variables (no re-poll meanwhile) until it succeeds or the
  instance stops waiting, and nothing more is published for an element instance while the
  cluster still lists it as waiting, whatever the message TTL.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from pyzeebe import ZeebeClient

from connector.binding import BindingError, BoundRequest, bind_request
from connector.cluster_health import ClusterHealth
from connector.config import Settings
from connector.connection_errors import AUTH_CAUSES
from connector.correlation import Activation, CorrelationError, ResponseEvaluator
from connector.discovery import ClusterError, WaitingInstance
from connector.elements import ElementConfig
from connector.http import HttpClient, HttpResponse, HttpStatusError, HttpTransportError
from connector.observability import ActivityLog, Metrics, log_event
from connector.publish import PublishError, PublishOutcome, publish_message
from connector.scheduler import STOPPED, Poller, PollFailure, Prepared
from connector.secrets import SecretProvider

# The operator sees one logger for everything the worker does.
log = logging.getLogger("connector.worker")

# A request bound with secrets is bound afresh at least this often (rotated secrets).
SECRET_REBIND_SECONDS = 60.0
# A kept activation's publish: each try retries transient errors this long, then the worker
# waits (doubling up to the cap) and tries again while the instance is still waiting.
PUBLISH_TRY_SECONDS = 5.0
PUBLISH_RETRY_CAP = 30.0


class LoaderClosed(Exception):
    """The worker is shutting down: no more variable reads."""


class VariableLoader:
    """Merges concurrent variable reads into few batched fetches.

    Pollers fall due one by one; reading each one's variables separately would cost one
    REST request per poll. Requests that arrive while fetches are running wait and go
    together in the next fetch (at most ``max_batch`` instances, ``parallel`` fetches).
    """

    def __init__(
        self,
        fetch: Callable[[list[WaitingInstance]], dict[tuple[int, str], dict[str, Any]]],
        executor: concurrent.futures.Executor,
        *,
        max_batch: int = 1000,
        parallel: int = 2,
    ) -> None:
        self._fetch = fetch
        self._executor = executor
        self._max_batch = max_batch
        self._parallel = parallel
        self._pending: list[tuple[list[WaitingInstance], asyncio.Future[Any]]] = []
        self._running = 0
        self._closed = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.fetches = 0

    def close(self) -> None:
        """Fail queued loads at once (shutdown); a fetch already running finishes."""
        self._closed = True
        pending, self._pending = self._pending, []
        for _, future in pending:
            if not future.done():
                future.set_exception(LoaderClosed())

    async def load(
        self, targets: Sequence[WaitingInstance]
    ) -> dict[tuple[int, str], dict[str, Any]]:
        if self._closed:
            raise LoaderClosed()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((list(targets), future))
        while self._running < self._parallel and self._pending:
            self._running += 1
            task = asyncio.ensure_future(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        result: dict[tuple[int, str], dict[str, Any]] = await future
        return result

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch: list[tuple[list[WaitingInstance], asyncio.Future[Any]]] = []
                size = 0
                while self._pending and (not batch or size < self._max_batch):
                    item = self._pending.pop(0)
                    batch.append(item)
                    size += len(item[0])
                instances = [t for targets, _ in batch for t in targets]
                self.fetches += 1
                try:
                    values = await loop.run_in_executor(self._executor, self._fetch, instances)
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for _, future in batch:
                    if not future.done():
                        future.set_result(values)
        finally:
            self._running -= 1


_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(slots=True)
class _Bound:
    """An instance's last bound request, reused while the inputs it was bound from hold."""

    config: ElementConfig
    prepared: Prepared
    expires: float  # requests with secrets are re-bound now and then (rotated secrets)

    def reusable(self, config: ElementConfig, scope: Mapping[str, Any], now: float) -> bool:
        if config is not self.config or now >= self.expires:
            return False
        before = self.prepared.context
        assert isinstance(before, Mapping)
        for name in config.request_variable_names:
            if name in before:
                if name not in scope or not same_value(before[name], scope[name]):
                    return False
            elif name in scope:
                return False
        return True


def same_value(a: Any, b: Any) -> bool:
    """Equal and of the same JSON types all the way down (``1 == 1.0 == True`` in Python,
    but FEEL renders them differently)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_value(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@dataclass
class _Published:
    """A message published for an element instance (kept while the instance is listed)."""

    message_id: str
    process_instance_key: int


def message_size(variables: Any) -> int:
    """Serialized size of a message's variables, as sent to the gateway (JSON, UTF-8)."""
    return len(json.dumps(variables, separators=(",", ":"), ensure_ascii=False).encode())


def instance_fields(target: WaitingInstance) -> dict[str, Any]:
    """The log fields naming one waiting instance."""
    return {
        "process_id": target.process_id,
        "element_id": target.element_id,
        "element_instance_key": str(target.element_instance_key),
        "process_instance_key": str(target.process_instance_key),
    }


class PollPipeline:
    """The scheduler's hooks (:class:`connector.scheduler.PollHooks`) for waiting instances.

    ``zeebe`` is set once the gateway channel is open (the worker's startup); ``poller``
    finds an instance's poller, to tell whether it still waits.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        http: HttpClient,
        secrets: SecretProvider,
        evaluator: ResponseEvaluator,
        http_pool: concurrent.futures.Executor,
        variables: VariableLoader,
        health: ClusterHealth,
        activity: ActivityLog,
        metrics: Metrics,
        poller: Callable[[tuple[int, str]], Poller[WaitingInstance] | None],
    ) -> None:
        self.settings = settings
        self.http = http
        self.secrets = secrets
        self.zeebe: ZeebeClient | None = None
        self._evaluator = evaluator
        self._http_pool = http_pool
        self._variables = variables
        self._health = health
        self.activity = activity
        self.metrics = metrics
        self._poller = poller
        self._published: dict[tuple[int, str], _Published] = {}
        self._last_vars: dict[tuple[int, str], dict[str, Any]] = {}
        self._bound: dict[tuple[int, str], _Bound] = {}
        self._shutting_down = False
        metrics.declare(
            "publish_retries_total", "counter", "Retries of kept activations' publishes."
        )
        metrics.declare(
            "duplicates_rejected_total",
            "counter",
            "Messages the broker dropped: same name, correlation key and message id.",
        )

    def stop(self) -> None:
        """Shutting down: no new variable reads, HTTP calls nor publish retries."""
        self._shutting_down = True
        self._variables.close()

    # ------------------------------------------------------------------ instance state

    def reset(self) -> None:
        """Forget everything kept per instance (the cluster's keys start again)."""
        self._published.clear()
        self._bound.clear()
        self._last_vars.clear()

    def forget(self, key: tuple[int, str]) -> None:
        """An instance stopped waiting: drop what was kept for it."""
        self._published.pop(key, None)
        self._last_vars.pop(key, None)
        self._bound.pop(key, None)

    def keep_only(self, waiting: Mapping[tuple[int, str], WaitingInstance]) -> None:
        """Drop what was kept for instances not ``waiting``: a poll binding in a thread
        while its poller was removed may have cached again."""
        for cache in (self._bound, self._last_vars):
            if len(cache) > len(waiting):
                for key in [k for k in cache if k not in waiting]:
                    cache.pop(key, None)

    # ------------------------------------------------------------------ prepare

    async def prepare(self, targets: Sequence[WaitingInstance]) -> Sequence[Prepared | PollFailure]:
        loop = asyncio.get_running_loop()
        variables: dict[tuple[int, str], dict[str, Any]] = {}
        variable_error: PollFailure | None = None
        wanting = [t for t in targets if t.config.needs_variables]
        if wanting:
            try:
                variables = await self._variables.load(wanting)
                self._health.set_rest(True)
                self._last_vars.update(variables)
            except LoaderClosed:
                return [PollFailure(STOPPED, "shutting down")] * len(targets)
            except ClusterError as exc:
                # Keep polling with the last known values while the cluster is unreachable.
                self._health.set_rest(False, self._health.rest_cause(exc))
                variables = {
                    t.key: self._last_vars[t.key] for t in wanting if t.key in self._last_vars
                }
                variable_error = PollFailure("variables_error", f"reading variables failed: {exc}")
        return await loop.run_in_executor(
            self._http_pool, self.bind_all, targets, variables, variable_error
        )

    def bind_all(
        self,
        targets: Sequence[WaitingInstance],
        variables: Mapping[tuple[int, str], dict[str, Any]],
        variable_error: PollFailure | None,
    ) -> list[Prepared | PollFailure]:
        """Bind each target's request (in a poll thread: FEEL, URL parsing, digest)."""
        results: list[Prepared | PollFailure] = []
        now = time.monotonic()
        for target in targets:
            config = target.config
            needs = config.needs_variables
            if needs and variable_error is not None and target.key not in variables:
                self._note_failure(config.label, target, variable_error)
                results.append(variable_error)
                continue
            scope = variables.get(target.key, _EMPTY) if needs else _EMPTY
            bound = self._bound.get(target.key)
            if bound is not None and bound.reusable(config, scope, now):
                # Same inputs, same request: skip the FEEL, the URL parsing and the digest.
                # Holding the new scope keeps one variables dict per instance alive, not two.
                old = bound.prepared
                bound.prepared = Prepared(old.coalesce_key, old.host, old.request, scope)
                results.append(bound.prepared)
                continue
            try:
                request = bind_request(config, scope, self.secrets)
            except BindingError as exc:
                results.append(self._note_failure(config.label, target, "binding_error", exc))
                continue
            except Exception as exc:  # a binding bug must not stop other instances
                failure = PollFailure("binding_error", f"{type(exc).__name__}: {exc}")
                results.append(self._note_failure(config.label, target, failure))
                continue
            host = urlsplit(request.url).netloc or request.url
            prepared = Prepared(request.coalesce_key, host, request, scope)
            expires = now + SECRET_REBIND_SECONDS if self._uses_secrets(config) else math.inf
            self._bound[target.key] = _Bound(config, prepared, expires)
            results.append(prepared)
        return results

    def _uses_secrets(self, config: ElementConfig) -> bool:
        return config.uses_secrets  # computed at load from the property table

    # ------------------------------------------------------------------ execute

    async def execute(self, requests: Sequence[Any]) -> Sequence[tuple[Any, float | None]]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._http_pool, self._execute_many, requests)

    def _execute_many(self, requests: Sequence[Any]) -> list[tuple[Any, float | None]]:
        """Run a chunk of requests (one host) one after the other in this thread."""
        outcomes: list[tuple[Any, float | None]] = []
        for request in requests:
            assert isinstance(request, BoundRequest)
            if self._shutting_down:
                outcomes.append((PollFailure(STOPPED, "shutting down"), None))
                continue
            started = time.perf_counter()
            try:
                outcomes.append((self.http.execute(request), time.perf_counter() - started))
            except HttpStatusError as exc:
                retry = exc.retry_after if exc.status in (429, 503) else None
                failure = PollFailure("http_error", str(exc), retry_after=retry)
                self._note_failure(request.element, None, failure)
                outcomes.append((failure, time.perf_counter() - started))
            except HttpTransportError as exc:
                # Timed too: a call that hangs until its deadline marks its request slow.
                failure = PollFailure("transport_error", str(exc))
                self._note_failure(request.element, None, failure)
                outcomes.append((failure, time.perf_counter() - started))
            except Exception as exc:  # a client bug must not take the chunk down
                failure = PollFailure("transport_error", f"{type(exc).__name__}: {exc}")
                outcomes.append((self._note_failure(request.element, None, failure), None))
        return outcomes

    # ------------------------------------------------------------------ deliver

    def deliver(
        self, target: WaitingInstance, prepared: Prepared, response: Any
    ) -> str | Awaitable[str]:
        """Evaluate ``response`` for ``target`` (in the FEEL threads), then publish."""
        assert isinstance(response, HttpResponse)
        context = prepared.context if isinstance(prepared.context, Mapping) else {}
        evaluation = self._evaluator.submit(
            target.config, response, context, target.element_instance_key
        )
        return self._evaluate_and_publish(target, evaluation, response.status)

    async def _evaluate_and_publish(
        self, target: WaitingInstance, evaluation: Awaitable[Activation | None], status: int
    ) -> str:
        try:
            activation = await evaluation
        except CorrelationError as exc:
            failure = PollFailure("correlation_error", str(exc))
            raise self._note_failure(target.config.label, target, failure) from None
        label, polled = target.config.label, f"polled: HTTP {status}"
        if activation is None:
            self.activity.record(
                label,
                "not_met",
                f"{polled}, activation condition not met",
                element_instance_key=target.element_instance_key,
            )
            return "not_met"
        self.activity.record(
            label,
            "met",
            f"{polled}, activation condition met",
            element_instance_key=target.element_instance_key,
            correlation_key=activation.correlation_key,
        )
        previous = self._published.get(target.key)
        if previous is not None and previous.process_instance_key == target.process_instance_key:
            # Published already; the query API has not caught up yet. Never again while the
            # instance is listed: with a TTL of 0 the broker cannot tell a repeat apart.
            return "already_published"
        size = message_size(activation.variables)
        if size > self.settings.max_message_bytes:
            # The broker would refuse it every time: a per-element error, not back-pressure.
            self.metrics.inc("publish_failures_total")
            failure = PollFailure(
                "message_too_large",
                f"process '{target.process_id}' element '{target.element_id}': the message "
                f"variables are larger than {self.settings.max_message_bytes} bytes "
                "(max-message-bytes); narrow resultVariable/resultExpression",
            )
            raise self._note_failure(label, target, failure)
        return await self._publish(target, activation)

    def _still_waiting(self, target: WaitingInstance) -> bool:
        poller = self._poller(target.key)
        return (
            poller is not None
            and not poller.removed
            and getattr(poller.target, "process_instance_key", None) == target.process_instance_key
        )

    async def _publish(self, target: WaitingInstance, activation: Activation) -> str:
        """Publish ``activation``, keeping it (same id and variables) until it is published
        or the instance stops waiting. The poller stays busy meanwhile: no re-poll."""
        assert self.zeebe is not None
        label = target.config.label
        tries = 0
        delay = 1.0
        while True:
            tries += 1
            try:
                outcome = await publish_message(
                    self.zeebe,
                    activation,
                    tenant_id=target.tenant_id,
                    deadline_seconds=PUBLISH_TRY_SECONDS,
                )
                break
            except PublishError as exc:
                self.metrics.inc("publish_failures_total")
                cause = self._health.grpc_cause(exc)
                # A rejected token is kept like an outage: the activation was observed and
                # must survive until the credentials work again.
                if not (exc.transient or cause.cause in AUTH_CAUSES):
                    failure = PollFailure("publish_error", str(exc))
                    raise self._note_failure(label, target, failure) from None
                self._health.set_grpc(False, cause)
                if tries == 1:
                    self._note_failure(label, target, "publish_error", exc)
                    log_event(
                        log,
                        "publish failed, keeping the activation and retrying",
                        logging.WARNING,
                        **instance_fields(target),
                        message_id=activation.message_id,
                        reason=str(exc),
                    )
            self.metrics.inc("publish_retries_total")
            waited = 0.0
            while waited < delay:
                if self._shutting_down:
                    raise PollFailure(STOPPED, "shutting down")
                if not self._still_waiting(target):
                    log_event(
                        log,
                        "activation dropped: the instance no longer waits",
                        **instance_fields(target),
                        message_id=activation.message_id,
                    )
                    return "abandoned"
                step = min(0.5, delay - waited)
                await asyncio.sleep(step)
                waited += step
            delay = min(delay * 2, PUBLISH_RETRY_CAP)
        self._health.set_grpc(True)
        self._published[target.key] = _Published(activation.message_id, target.process_instance_key)
        fields = {
            **instance_fields(target),
            "message_name": activation.message_name,
            "correlation_key": activation.correlation_key,
            "message_id": activation.message_id,
        }
        if outcome is PublishOutcome.DUPLICATE and tries == 1:
            # Not a retry of ours: another instance's message holds this id (same name and
            # correlation key), so the broker dropped this one and the instance still waits.
            self.metrics.inc("duplicates_rejected_total")
            self.activity.record(
                label,
                "duplicate_rejected",
                f"message '{activation.message_name}' rejected as a duplicate message id: "
                "make messageIdExpression unique per instance",
                "ERROR",
                element_instance_key=target.element_instance_key,
                correlation_key=activation.correlation_key,
            )
            log_event(
                log,
                "message rejected as duplicate",
                logging.WARNING,
                **fields,
                property="messageIdExpression",
                reason="another message with the same name, correlation key and message id "
                "is still buffered; make messageIdExpression unique per instance",
            )
            return "duplicate_rejected"
        self.metrics.inc("correlations_total")
        self.activity.record(
            label,
            "published",
            f"message '{activation.message_name}' published"
            + (f" after {tries} tries" if tries > 1 else ""),
            element_instance_key=target.element_instance_key,
            correlation_key=activation.correlation_key,
        )
        log_event(log, "correlated", **fields, retried=tries > 1 or None)
        return "activated"

    def _note_failure(
        self,
        element: str,
        target: WaitingInstance | None,
        failure: PollFailure | str,
        exc: Exception | None = None,
    ) -> PollFailure:
        """Record a failed poll step in the element's activity log; returns the failure."""
        if not isinstance(failure, PollFailure):
            failure = PollFailure(failure, str(exc))
        key = None if target is None else target.element_instance_key
        self.activity.record(
            element, failure.outcome, failure.reason, "ERROR", element_instance_key=key
        )
        return failure
