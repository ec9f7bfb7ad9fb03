"""The poll pipeline: the scheduler's hooks, from variables to a published message.

One poll of a waiting instance goes ``prepare`` (read its variables, batched; bind its
request, reusing the last one while its inputs hold) -> ``execute`` (the HTTP call, in the
poll threads) -> ``deliver`` (evaluate the response in the FEEL threads; publish when the
activation condition is met). The scheduler decides when and how often; this module
decides what a poll does and what its outcome is.

Rules implemented here:

* variables of concurrent polls are read together (:mod:`connector.variables`); while the
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
import functools
import json
import logging
import math
import sys
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeVar
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
from connector.journal import ActivationJournal, JournalWriter, Kept
from connector.observability import ActivityLog, Metrics, log_event
from connector.publish import PublishError, PublishOutcome, publish_message
from connector.scheduler import STOPPED, Poller, PollFailure, Prepared, Scheduler
from connector.secrets import SecretProvider
from connector.variables import LoaderClosed, VariableLoader

# The operator sees one logger for everything the worker does.
log = logging.getLogger("connector.worker")

# A request bound with secrets is bound afresh at least this often (rotated secrets).
SECRET_REBIND_SECONDS = 60.0
# A kept activation's publish: each try retries transient errors this long, then the worker
# waits (doubling up to the cap) and tries again while the instance is still waiting.
PUBLISH_TRY_SECONDS = 5.0
PUBLISH_RETRY_CAP = 30.0


#: An instance's variables as its expressions see them: name -> JSON value.
Scope = Mapping[str, Any]
#: (element instance key, element id): one waiting instance.
InstanceKey = tuple[int, str]
#: A bound request and the variables it was bound from (its answer is evaluated with them).
PreparedPoll = Prepared[BoundRequest, Scope]
#: The scheduler that drives this pipeline.
PollScheduler = Scheduler[WaitingInstance, BoundRequest, Scope, HttpResponse]

_EMPTY: Scope = MappingProxyType({})
V = TypeVar("V")


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


@dataclass(slots=True)
class _Bound:
    """What is kept for one instance between its polls: its last bound request (reused while
    the inputs it was bound from hold) and the variables it last read (its request's
    inputs, and the values polls go on with while the cluster is unreachable). One record
    per instance: no per-instance ``Prepared`` nor a second map of variables."""

    config: ElementConfig
    request: BoundRequest | None  # None: its last binding failed
    coalesce_key: str
    host: str
    scope: Scope
    expires: float  # requests with secrets are re-bound now and then (rotated secrets)

    def reusable(self, config: ElementConfig, scope: Scope, now: float) -> bool:
        if self.request is None or config is not self.config or now >= self.expires:
            return False
        before = self.scope
        for name in config.request_variable_names:
            if name in before:
                if name not in scope or not same_value(before[name], scope[name]):
                    return False
            elif name in scope:
                return False
        return True


class BindCache:
    """Each instance's last bound request, reused while the inputs it was bound from hold,
    and the variables it last read.

    Binding costs FEEL, URL parsing and a digest per poll; most polls bind exactly what
    they bound last time. A request is reused while its element's configuration is the
    same object (a redeployment makes a new one) and every variable the request reads is
    the same JSON value (or still absent); a request that uses secrets is bound afresh at
    least every ``rebind_seconds`` (rotated secrets). Variables only the response
    expressions read do not count: they travel in the prepared poll's scope.
    """

    def __init__(self, rebind_seconds: float = SECRET_REBIND_SECONDS) -> None:
        self._rebind_seconds = rebind_seconds
        self._entries: dict[InstanceKey, _Bound] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def reuse(
        self, key: InstanceKey, config: ElementConfig, scope: Scope, now: float
    ) -> PreparedPoll | None:
        """The instance's last request with ``scope`` as its context, if still valid."""
        bound = self._entries.get(key)
        if bound is None or not bound.reusable(config, scope, now):
            return None
        request = bound.request
        if request is None:  # never: reusable() says no
            return None
        # Holding the new scope keeps one variables dict per instance alive, not two.
        bound.scope = scope
        return Prepared(bound.coalesce_key, bound.host, request, scope)

    def store(
        self, key: InstanceKey, config: ElementConfig, prepared: PreparedPoll, now: float
    ) -> None:
        # uses_secrets is computed at load from the property table.
        expires = now + self._rebind_seconds if config.uses_secrets else math.inf
        self._entries[key] = _Bound(
            config,
            prepared.request,
            str(prepared.coalesce_key),
            prepared.host,
            prepared.context,
            expires,
        )

    def failed(self, key: InstanceKey, config: ElementConfig, scope: Scope) -> None:
        """The instance's binding failed: keep only the variables it read."""
        self._entries[key] = _Bound(config, None, "", "", scope, -math.inf)

    def variables(self, key: InstanceKey) -> Scope | None:
        """The variables the instance last read (bound from, or failed to bind with)."""
        bound = self._entries.get(key)
        return None if bound is None else bound.scope

    def forget(self, key: InstanceKey) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()

    def keep_only(self, waiting: Mapping[InstanceKey, WaitingInstance]) -> None:
        _keep_only(self._entries, waiting)


def _keep_only(cache: dict[InstanceKey, V], waiting: Mapping[InstanceKey, object]) -> None:
    """Drop the entries of instances not ``waiting`` (cheap when there are none)."""
    if len(cache) > len(waiting):
        for key in [k for k in cache if k not in waiting]:
            cache.pop(key, None)


class Publications:
    """The message published for each element instance, kept while the instance is listed.

    The cluster's query API lags behind the broker: an instance whose message was
    published is still listed, and polled, for a while. Nothing more is published for it
    then, whatever the message TTL: with a TTL of 0 the broker cannot tell a repeat apart.
    The process instance key tells a reused element instance key apart (a new instance).
    A non-interrupting boundary event is the exception: its activity goes on and it may fire
    again (Zeebe's message id de-duplication limits repeats to one per TTL by default).
    """

    def __init__(self) -> None:
        self._published: dict[InstanceKey, tuple[str, int]] = {}  # (message id, instance)

    def __len__(self) -> int:
        return len(self._published)

    def already(self, target: WaitingInstance) -> bool:
        """Whether a message was published for ``target`` (this very process instance) and
        nothing more may be."""
        if not target.config.interrupting:
            return False
        previous = self._published.get(target.key)
        return previous is not None and previous[1] == target.process_instance_key

    def record(self, target: WaitingInstance, message_id: str) -> None:
        self._published[target.key] = (message_id, target.process_instance_key)

    def forget(self, key: InstanceKey) -> None:
        self._published.pop(key, None)

    def clear(self) -> None:
        self._published.clear()


def _settle_from(outcome: asyncio.Future[str], publish: asyncio.Future[str]) -> None:
    """Give ``outcome`` the result (or exception) of the ``publish`` task it waits for."""
    if outcome.done():
        return
    if publish.cancelled():
        outcome.cancel()
        return
    error = publish.exception()
    if error is not None:
        outcome.set_exception(error)
    else:
        outcome.set_result(publish.result())


def message_size(variables: object) -> int:
    """Serialized size of a message's variables, as sent to the gateway (JSON, UTF-8)."""
    return len(json.dumps(variables, separators=(",", ":"), ensure_ascii=False).encode())


@dataclass(slots=True)
class _Journaling:
    """One activation being published, and whether the journal holds it."""

    kept: Kept
    written: bool


def http_failure(exc: Exception) -> PollFailure:
    """The outcome of a failed HTTP call; a 429 or 503 may ask for a pause (Retry-After)."""
    if isinstance(exc, HttpStatusError):
        retry = exc.retry_after if exc.status in (429, 503) else None
        return PollFailure("http_error", str(exc), retry_after=retry)
    if isinstance(exc, HttpTransportError):
        return PollFailure("transport_error", str(exc))
    return PollFailure("transport_error", f"{type(exc).__name__}: {exc}")  # a client bug


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

    ``zeebe`` is set once the gateway channel is open (the worker's startup), before the
    first poll; ``poller`` finds an instance's poller, to tell whether it still waits.
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
        poller: Callable[[InstanceKey], Poller[WaitingInstance] | None],
        journal: ActivationJournal | None = None,
    ) -> None:
        self.zeebe: ZeebeClient | None = None
        self.activity = activity
        self.health = health
        self._settings = settings
        self._http = http
        self._secrets = secrets
        self._evaluator = evaluator
        self._http_pool = http_pool
        self._variables = variables
        self._metrics = metrics
        self._poller = poller
        self.published = Publications()
        # Each instance's last bound request, and its last variables read (used while the
        # cluster is unreachable).
        self.bound = BindCache()
        self._shutting_down = False
        # Kept activations on disk (--state-dir), across restarts.
        self._journal = JournalWriter(journal)
        self._journaled: dict[InstanceKey, Kept] = {}  # from the last run, until replayed
        self._replaying: dict[InstanceKey, asyncio.Future[str]] = {}
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
        self.published.clear()
        self.bound.clear()

    def forget(self, key: InstanceKey) -> None:
        """An instance stopped waiting: drop what was kept for it."""
        self.published.forget(key)
        self.bound.forget(key)

    def keep_only(self, waiting: Mapping[InstanceKey, WaitingInstance]) -> None:
        """Drop what was kept for instances not ``waiting``: a poll binding in a thread
        while its poller was removed may have cached again."""
        self.bound.keep_only(waiting)

    # ------------------------------------------------------------------ prepare

    async def prepare(
        self, targets: Sequence[WaitingInstance]
    ) -> Sequence[PreparedPoll | PollFailure]:
        """Read the variables the targets need (batched), then bind in a poll thread."""
        loop = asyncio.get_running_loop()
        variables: Mapping[InstanceKey, Scope] = {}
        variable_error: PollFailure | None = None
        wanting = [t for t in targets if t.config.needs_variables]
        if wanting:
            try:
                variables = await self._variables.load(wanting)
                self.health.set_rest(True)
            except LoaderClosed:
                return [PollFailure(STOPPED, "shutting down")] * len(targets)
            except ClusterError as exc:
                # Keep polling with the last known values while the cluster is unreachable.
                self.health.set_rest(False, self.health.rest_cause(exc))
                kept: dict[InstanceKey, Scope] = {}
                for t in wanting:
                    last = self.bound.variables(t.key)
                    if last is not None:
                        kept[t.key] = last
                variables = kept
                variable_error = PollFailure("variables_error", f"reading variables failed: {exc}")
        return await loop.run_in_executor(
            self._http_pool, self.bind_all, targets, variables, variable_error
        )

    def bind_all(
        self,
        targets: Sequence[WaitingInstance],
        variables: Mapping[InstanceKey, Scope],
        variable_error: PollFailure | None,
    ) -> list[PreparedPoll | PollFailure]:
        """Bind each target's request (in a poll thread: FEEL, URL parsing, digest)."""
        results: list[PreparedPoll | PollFailure] = []
        now = time.monotonic()
        for target in targets:
            config = target.config
            needs = config.needs_variables
            if needs and variable_error is not None and target.key not in variables:
                self._note_failure(config.label, target, variable_error)
                results.append(variable_error)
                continue
            scope = variables.get(target.key, _EMPTY) if needs else _EMPTY
            reused = self.bound.reuse(target.key, config, scope, now)
            if reused is not None:
                results.append(reused)  # same inputs, same request
                continue
            try:
                request = bind_request(config, scope, self._secrets)
            except BindingError as exc:
                self.bound.failed(target.key, config, scope)
                results.append(self._note_failure(config.label, target, "binding_error", exc))
                continue
            except Exception as exc:  # a binding bug must not stop other instances
                self.bound.failed(target.key, config, scope)
                failure = PollFailure("binding_error", f"{type(exc).__name__}: {exc}")
                results.append(self._note_failure(config.label, target, failure))
                continue
            # One string per host, not per instance: the bound request is kept per instance.
            host = sys.intern(urlsplit(request.url).netloc or request.url)
            prepared = Prepared(request.coalesce_key, host, request, scope)
            self.bound.store(target.key, config, prepared, now)
            results.append(prepared)
        return results

    # ------------------------------------------------------------------ execute

    async def execute(
        self, requests: Sequence[BoundRequest]
    ) -> Sequence[tuple[HttpResponse | PollFailure, float | None]]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._http_pool, self._execute_many, requests)

    def _execute_many(
        self, requests: Sequence[BoundRequest]
    ) -> list[tuple[HttpResponse | PollFailure, float | None]]:
        """Run a chunk of requests (one host) one after the other in this thread."""
        outcomes: list[tuple[HttpResponse | PollFailure, float | None]] = []
        for request in requests:
            if self._shutting_down:
                outcomes.append((PollFailure(STOPPED, "shutting down"), None))
                continue
            started = time.perf_counter()
            try:
                outcomes.append((self._http.execute(request), time.perf_counter() - started))
            except Exception as exc:  # a client bug must not take the chunk down either
                failure = self._note_failure(request.element, None, http_failure(exc))
                # Failed calls are timed too: one that hangs until its deadline marks its
                # request slow. A client bug says nothing about the host.
                answered = isinstance(exc, HttpStatusError | HttpTransportError)
                outcomes.append((failure, time.perf_counter() - started if answered else None))
        return outcomes

    # ------------------------------------------------------------------ deliver

    def deliver(
        self, target: WaitingInstance, prepared: PreparedPoll, response: HttpResponse
    ) -> asyncio.Future[str]:
        """Evaluate ``response`` for ``target`` (in the FEEL threads), then publish.

        Answers with a future the evaluation's callback settles: no task per poll, the
        common "condition not met" ends right there; a publish runs in a task of its own.
        """
        outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._evaluator.submit_then(
            target.config,
            response,
            prepared.context,
            target.element_instance_key,
            functools.partial(self._evaluated, target, response.status, outcome),
        )
        return outcome

    def _evaluated(
        self,
        target: WaitingInstance,
        status: int,
        outcome: asyncio.Future[str],
        ok: bool,
        value: object,
    ) -> None:
        """The evaluation's outcome for ``target``, in the event loop: settles ``outcome``."""
        if outcome.done():  # cancelled: shutting down
            return
        if not ok:
            if isinstance(value, asyncio.CancelledError):  # the evaluator shut down
                outcome.cancel()
            elif isinstance(value, CorrelationError):
                failure = PollFailure("correlation_error", str(value))
                outcome.set_exception(self._note_failure(target.config.label, target, failure))
            else:
                outcome.set_exception(
                    value if isinstance(value, BaseException) else RuntimeError(str(value))
                )
            return
        try:
            result = self._activated(
                target, value if isinstance(value, Activation) else None, status
            )
        except Exception as exc:
            outcome.set_exception(exc)
            return
        if isinstance(result, str):
            outcome.set_result(result)
            return
        publish = asyncio.ensure_future(result)
        publish.add_done_callback(functools.partial(_settle_from, outcome))
        # Cancelling the poll (shutdown grace over) cancels its publish.
        outcome.add_done_callback(lambda done: publish.cancel() if done.cancelled() else None)

    def _activated(
        self, target: WaitingInstance, activation: Activation | None, status: int
    ) -> str | Coroutine[Any, Any, str]:
        """The poll's outcome once evaluated, or the publish (a coroutine) to run for it."""
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
        if self.published.already(target) or target.key in self._replaying:
            # The query API has not caught up yet, or the activation a previous run
            # observed is being published for this instance.
            return "already_published"
        size = message_size(activation.variables)
        if size > self._settings.max_message_bytes:
            # The broker would refuse it every time: a per-element error, not back-pressure.
            self._metrics.inc("publish_failures_total")
            failure = PollFailure(
                "message_too_large",
                f"process '{target.process_id}' element '{target.element_id}': the message "
                f"variables are larger than {self._settings.max_message_bytes} bytes "
                "(max-message-bytes); narrow resultVariable/resultExpression",
            )
            raise self._note_failure(label, target, failure)
        return self._publish(target, activation)

    def _still_waiting(self, target: WaitingInstance) -> bool:
        poller = self._poller(target.key)
        return (
            poller is not None
            and not poller.removed
            and poller.target.process_instance_key == target.process_instance_key
        )

    async def _publish(
        self, target: WaitingInstance, activation: Activation, *, journaled: bool = False
    ) -> str:
        """Publish ``activation``, keeping it (same id and variables) until it is published
        or the instance stops waiting. The poller stays busy meanwhile: no re-poll.

        With a journal, a kept activation is written down when its first publish fails
        (``journaled``: it already was, by a previous run) and settled when it ends; one
        still unpublished at shutdown stays in the journal for the next run.
        """
        entry = _Journaling(
            Kept(
                target.element_instance_key,
                target.element_id,
                target.process_instance_key,
                target.tenant_id,
                activation,
            ),
            journaled,
        )
        try:
            result = await self._publish_kept(target, activation, entry)
        except PollFailure as failure:
            if failure.outcome == STOPPED:
                self._unpublished(target, entry)
            else:  # refused for good: nothing left to publish
                await self._settle(entry, failure.outcome)
            raise
        except asyncio.CancelledError:  # the shutdown grace period is over
            self._unpublished(target, entry)
            raise
        await self._settle(entry, result)
        return result

    async def _publish_kept(
        self, target: WaitingInstance, activation: Activation, entry: _Journaling
    ) -> str:
        zeebe = self.zeebe
        if zeebe is None:  # never: the gateway is opened before the first poll
            raise PollFailure("publish_error", "the gateway client is not open")
        label = target.config.label
        tries = 0
        delay = 1.0
        while True:
            tries += 1
            try:
                outcome = await publish_message(
                    zeebe,
                    activation,
                    tenant_id=target.tenant_id,
                    deadline_seconds=PUBLISH_TRY_SECONDS,
                )
                break
            except PublishError as exc:
                self._metrics.inc("publish_failures_total")
                cause = self.health.grpc_cause(exc)
                # A rejected token is kept like an outage: the activation was observed and
                # must survive until the credentials work again.
                if not (exc.transient or cause.cause in AUTH_CAUSES):
                    failure = PollFailure("publish_error", str(exc))
                    raise self._note_failure(label, target, failure) from None
                self.health.set_grpc(False, cause)
                if not entry.written and self._journal.enabled:
                    entry.written = await self._journal.kept(entry.kept)
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
            self._metrics.inc("publish_retries_total")
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
        self.health.set_grpc(True)
        self.published.record(target, activation.message_id)
        fields = {
            **instance_fields(target),
            "message_name": activation.message_name,
            "correlation_key": activation.correlation_key,
            "message_id": activation.message_id,
        }
        if outcome is PublishOutcome.DUPLICATE and tries == 1:
            # Not a retry of ours: another instance's message holds this id (same name and
            # correlation key), so the broker dropped this one and the instance still waits.
            self._metrics.inc("duplicates_rejected_total")
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
        self._metrics.inc("correlations_total")
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

    # ------------------------------------------------------------------ journal

    def load_journal(self) -> int:
        """Read what a previous run observed and could not publish (``--state-dir``);
        published by :meth:`replay` after the first discovery. Returns how many."""
        self._journaled = self._journal.load()
        return len(self._journaled)

    def replay(self, waiting: Mapping[InstanceKey, WaitingInstance]) -> None:
        """Publish each journaled activation whose instance still waits (same message id,
        same variables); drop the others. Called once, with the first complete snapshot."""
        pending, self._journaled = self._journaled, {}
        for key, kept in pending.items():
            target = waiting.get(key)
            fields: dict[str, Any] = {
                "element_id": kept.element_id,
                "element_instance_key": str(kept.element_instance_key),
                "process_instance_key": str(kept.process_instance_key),
                "message_id": kept.activation.message_id,
            }
            if target is None or target.process_instance_key != kept.process_instance_key:
                log_event(
                    log,
                    "journaled activation dropped: the instance no longer waits here",
                    **fields,
                )
                self._journal.settle_soon(key, "abandoned")
                continue
            log_event(log, "publishing an activation observed before the restart", **fields)
            publish = asyncio.ensure_future(self._publish(target, kept.activation, journaled=True))
            self._replaying[key] = publish
            publish.add_done_callback(functools.partial(self._replayed, key))

    def _replayed(self, key: InstanceKey, publish: asyncio.Future[str]) -> None:
        self._replaying.pop(key, None)
        if not publish.cancelled():
            publish.exception()  # noted by the publish itself; retrieved here

    async def close(self) -> None:
        """End replays still retrying (after :meth:`stop`) and the journal's thread."""
        for publish in list(self._replaying.values()):
            publish.cancel()
        if self._replaying:
            await asyncio.wait(list(self._replaying.values()))
        self._journal.close()

    async def _settle(self, entry: _Journaling, outcome: str) -> None:
        if entry.written:
            await self._journal.settled(entry.kept.key, outcome)

    def _unpublished(self, target: WaitingInstance, entry: _Journaling) -> None:
        """Shutting down with ``entry`` still unpublished: journal it now (a blocking write,
        acceptable while stopping) or say that it is lost."""
        if self._journal.enabled and not entry.written:
            entry.written = self._journal.kept_now(entry.kept)
        kept = entry.written
        log_event(
            log,
            "observed activation not published before shutdown",
            logging.WARNING if kept else logging.ERROR,
            **instance_fields(target),
            message_id=entry.kept.activation.message_id,
            reason="kept in the state directory: published after the restart"
            if kept
            else "no --state-dir: the activation is lost unless the endpoint reports it again",
        )

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
