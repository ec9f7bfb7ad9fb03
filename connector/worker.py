"""The worker: discovery -> pollers -> HTTP (thread pool) -> correlation -> publish.

Lifecycle rules:

* the cluster (REST or gRPC) being unavailable never stops anything: discovery retries with
  backoff while the pollers keep their last known set, and each connectivity change is
  logged once (not once per poll);
* an observed activation is never lost nor published twice: a publish that fails is retried
  with the same message id and variables (no re-poll meanwhile) until it succeeds or the
  instance stops waiting, and nothing more is published for an element instance while the
  cluster still lists it as waiting, whatever the message TTL;
* SIGTERM/SIGINT stop the scheduling; in-flight polls and publishes get a grace period;
  the process then exits 0;
* stateless: everything is rebuilt from the cluster on start.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import json
import logging
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import grpc
from pyzeebe import ZeebeClient

from connector.binding import BindingError, BoundRequest, bind_request
from connector.config import Settings
from connector.connection_errors import AUTH_CAUSES, Cause, explain_rest
from connector.correlation import Activation, CorrelationError, ResponseEvaluator
from connector.discovery import (
    ClusterError,
    Definition,
    Discovery,
    Snapshot,
    WaitingInstance,
    build_source,
)
from connector.discovery_sync import build_discovery
from connector.elements import ElementConfig
from connector.http import HttpClient, HttpResponse, HttpStatusError, HttpTransportError
from connector.http.oauth import SHARED_PROVIDER
from connector.observability import (
    ActivityLog,
    Metrics,
    StatusAuth,
    StatusLimits,
    StatusServer,
    element_health,
    log_event,
)
from connector.publish import PublishError, PublishOutcome, publish_message
from connector.scheduler import STOPPED, PollFailure, Prepared, Scheduler, SchedulerLimits
from connector.secrets import EnvSecretProvider, SecretProvider
from connector.zeebe_client import build_zeebe_client, cluster_auth, grpc_cause

log = logging.getLogger("connector.worker")
#: Threads that evaluate response expressions (activation condition, keys, result mapping).
_FEEL_THREADS = 4

# A request bound with secrets is bound afresh at least this often (rotated secrets).
SECRET_REBIND_SECONDS = 60.0
# Discovery retries back off up to 10 discovery intervals, and never beyond a minute.
MAX_DISCOVERY_BACKOFF = 60.0
DISCOVERY_BACKOFF_INTERVALS = 10
# A kept activation's publish: each try retries transient errors this long, then the worker
# waits (doubling up to the cap) and tries again while the instance is still waiting.
PUBLISH_TRY_SECONDS = 5.0
PUBLISH_RETRY_CAP = 30.0
# After SIGTERM the process exits at the latest this long after the grace period, even when
# a thread is stuck in a trickling response or a hung cluster call.
HARD_EXIT_MARGIN = 3.0


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


def message_size(variables: Any) -> int:
    """Serialized size of a message's variables, as sent to the gateway (JSON, UTF-8)."""
    return len(json.dumps(variables, separators=(",", ":"), ensure_ascii=False).encode())


def _instance_fields(target: WaitingInstance) -> dict[str, Any]:
    return {
        "process_id": target.process_id,
        "element_id": target.element_id,
        "element_instance_key": str(target.element_instance_key),
        "process_instance_key": str(target.process_instance_key),
    }


# ---------------------------------------------------------------------------- the worker


class Worker:
    """Owns every component and the lifecycle; ``await run(stop)`` until ``stop`` is set."""

    def __init__(
        self,
        settings: Settings,
        *,
        zeebe: ZeebeClient | None = None,
        discovery: Discovery | None = None,
        http: HttpClient | None = None,
        secrets: SecretProvider | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self._channel: grpc.aio.Channel | None = None
        self._zeebe = zeebe
        self._rest_client = None
        # One identity for both APIs: REST and gRPC share its token (and its TLS trust).
        self._auth = cluster_auth(settings)
        if discovery is None:
            source, self._rest_client = build_source(settings, self._auth)
            discovery = build_discovery(source, settings)
        self.discovery = discovery
        self.http = http or HttpClient(
            max_response_bytes=settings.max_response_bytes,
            pool_size=settings.max_concurrency,
            token_provider=SHARED_PROVIDER,  # one token cache for elements and the cluster
        )
        self.secrets = secrets or EnvSecretProvider(prefix=settings.secret_prefix)
        self._http_pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=settings.max_concurrency, thread_name_prefix="poll"
        )
        # Cluster calls get their own threads so busy polls never delay them, and discovery
        # has its own so variable reads never delay it (nor it them).
        self._cluster_pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=2, thread_name_prefix="variables"
        )
        self._discovery_pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="discovery"
        )
        # Response expressions are evaluated off the event loop, so a slow one never delays
        # other elements' polls or the status endpoints (see ResponseEvaluator).
        self._evaluator = ResponseEvaluator(_FEEL_THREADS)
        self.scheduler: Scheduler[WaitingInstance] = Scheduler(
            self,
            interval_of=lambda t: max(
                settings.min_poll_interval, t.config.interval.total_seconds()
            ),
            describe=_instance_fields,
            limits=SchedulerLimits(
                max_concurrency=settings.max_concurrency,
                max_per_host=settings.max_per_host,
                max_backoff=settings.max_backoff,
            ),
            metrics=self.metrics,
            # Polls that read no variables never wait for the cluster's REST API.
            split=lambda t: t.config.needs_variables,
        )
        self.definitions: dict[int, Definition] = {}
        self._variables = VariableLoader(
            self.discovery.fetch_variables, self._cluster_pool, parallel=2
        )
        self._published: dict[tuple[int, str], _Published] = {}
        self._last_vars: dict[tuple[int, str], dict[str, Any]] = {}
        self._bound: dict[tuple[int, str], _Bound] = {}
        self._shutting_down = False
        self._rest_up: bool | None = None
        self._grpc_up: bool | None = None
        self._rest_why: str | None = None
        self._grpc_why: str | None = None
        self._grpc_error: str | None = None
        self._ready = False
        self._last_discovery: float | None = None
        self._last_discovery_error: str | None = None
        self._active_elements: set[tuple[int, str]] = set()
        self.status_server: StatusServer | None = None
        self.activity = ActivityLog()  # recent events per element, for /inbound and the page
        self.metrics.declare(
            "publish_retries_total", "counter", "Retries of kept activations' publishes."
        )
        self.metrics.declare(
            "duplicates_rejected_total",
            "counter",
            "Messages the broker dropped: same name, correlation key and message id.",
        )
        self.metrics.gauge_function("pollers", lambda: float(len(self.scheduler)))
        self.metrics.gauge_function("cluster_up", lambda: 1.0 if self._rest_up else 0.0)

    # ------------------------------------------------------------------ lifecycle

    async def run(self, stop: asyncio.Event) -> int:
        if self._zeebe is None:
            self._zeebe, self._channel = build_zeebe_client(self.settings, self._auth)
        if self.settings.http_port is not None:
            self.status_server = StatusServer(
                self.metrics,
                ready=self.ready,
                inbound=self.inbound_status,
                host=self.settings.http_host,
                port=self.settings.http_port,
                limits=StatusLimits(max_connections=self.settings.status_max_connections),
                auth=StatusAuth(self.settings.status_token, self.settings.status_basic_auth),
                show_details=self.settings.status_show_details,
                page=_status_page,
            )
            await self.status_server.start()
            log_event(
                log,
                "status server listening",
                host=self.settings.http_host,
                port=self.status_server.port,
            )
        log_event(
            log,
            "worker started",
            rest=self.settings.rest_base,
            grpc=self.settings.grpc_address,
            source=self.settings.discovery_source,
            shard=f"{self.settings.shard_index}/{self.settings.shard_count}",
        )
        scheduler_task = asyncio.ensure_future(
            self._supervise("scheduler", self.scheduler.run, stop)
        )
        discovery_task = asyncio.ensure_future(
            self._supervise("discovery", lambda: self._discovery_loop(stop), stop)
        )
        await stop.wait()
        log_event(log, "stopping", grace_seconds=self.settings.shutdown_grace)
        self.scheduler.stop()
        self._shutting_down = True
        self._variables.close()
        discovery_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await discovery_task
        with contextlib.suppress(asyncio.CancelledError):
            await scheduler_task
        finished = await self.scheduler.drain(self.settings.shutdown_grace)
        if not finished:
            log_event(log, "grace period over, abandoning in-flight polls", logging.WARNING)
        await self.close()
        log_event(log, "worker stopped")
        return 0

    async def _supervise(
        self, name: str, body: Callable[[], Awaitable[None]], stop: asyncio.Event
    ) -> None:
        """Run ``body`` until ``stop``; a crash is logged and the loop restarted, never fatal."""
        while not stop.is_set():
            try:
                await body()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s loop crashed; restarting it", name)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0)

    async def close(self) -> None:
        if self.status_server is not None:
            await self.status_server.stop()
        if self._channel is not None:
            await self._channel.close()
        self._http_pool.shutdown(wait=False, cancel_futures=True)
        self._cluster_pool.shutdown(wait=False, cancel_futures=True)
        self._discovery_pool.shutdown(wait=False, cancel_futures=True)
        self._evaluator.close()
        self.http.close()
        if self._rest_client is not None:
            self._rest_client.close()
        if self._auth.session is not None:
            self._auth.session.close()

    def ready(self) -> bool:
        # Not ready while either API is known to be down (e.g. credentials rejected).
        return self._ready and bool(self._rest_up) and self._grpc_up is not False

    # ------------------------------------------------------------------ discovery

    async def _discovery_loop(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        interval = self.settings.discovery_interval
        failures = 0
        while not stop.is_set():
            started = time.monotonic()
            try:
                snapshot = await loop.run_in_executor(self._discovery_pool, self.discovery.cycle)
            except Exception as exc:  # ClusterError or anything unexpected: retry, never die
                failures += 1
                self.metrics.inc("discovery_failures_total")
                if not isinstance(exc, ClusterError):
                    log.exception("discovery failed unexpectedly")
                self._set_rest_state(False, self._rest_cause(exc))
                cap = min(MAX_DISCOVERY_BACKOFF, interval * DISCOVERY_BACKOFF_INTERVALS)
                delay = min(cap, interval * 2 ** min(failures, 10))
            else:
                failures = 0
                self._set_rest_state(True)
                self._apply(snapshot)
                self.metrics.observe("discovery_duration_seconds", snapshot.duration)
                self.metrics.inc("discovery_requests_total", float(snapshot.requests))
                self.metrics.inc("discovery_repaired_total", float(snapshot.repaired))
                # The smallest processPollingInterval of the live elements (incremental).
                pace = self.discovery.next_interval(interval)
                delay = max(0.0, pace - (time.monotonic() - started))
            if self._grpc_up is not True:
                await self._check_grpc()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)

    async def _check_grpc(self) -> None:
        """Probe the gateway until it is known to be up (publishes report later outages)."""
        assert self._zeebe is not None
        try:
            await asyncio.wait_for(self._zeebe.topology(), timeout=5)
        except Exception as exc:
            self._set_grpc_state(False, grpc_cause(exc, self.settings.auth_method))
        else:
            self._set_grpc_state(True)

    def _rest_cause(self, exc: BaseException) -> Cause:
        if isinstance(exc, ClusterError):
            return explain_rest(str(exc), exc.status, self.settings.auth_method)
        return Cause("unexpected error", repr(exc)[:200])

    def _set_rest_state(self, up: bool, cause: Cause | None = None) -> None:
        """Log each change once: up/down, and a different cause while down (never per retry)."""
        self._last_discovery_error = None if cause is None else str(cause)
        if up == self._rest_up and (up or cause is None or cause.cause == self._rest_why):
            return
        previous = self._rest_up
        self._rest_up = up
        self._rest_why = None if cause is None else cause.cause
        fields = {} if cause is None else {"reason": cause.cause, "detail": cause.detail}
        if up:
            log_event(log, "cluster REST API available", url=self.settings.rest_base)
        elif previous is None:
            log_event(log, "cluster REST API unavailable, retrying", logging.WARNING, **fields)
        elif previous is False:
            log_event(log, "cluster REST API failing differently", logging.WARNING, **fields)
        else:
            log_event(
                log,
                "cluster REST API unavailable, keeping pollers and retrying",
                logging.WARNING,
                **fields,
            )

    def _set_grpc_state(self, up: bool, cause: Cause | None = None) -> None:
        """Like :meth:`_set_rest_state`, for the gRPC gateway."""
        if up == self._grpc_up and (up or cause is None or cause.cause == self._grpc_why):
            return
        previous = self._grpc_up
        self._grpc_up = up
        self._grpc_why = None if cause is None else cause.cause
        self._grpc_error = None if cause is None else str(cause)
        fields = {} if cause is None else {"reason": cause.cause, "detail": cause.detail}
        if up:
            log_event(log, "cluster gRPC gateway available", address=self.settings.grpc_address)
        elif previous is False:
            log_event(log, "cluster gRPC gateway failing differently", logging.WARNING, **fields)
        else:
            log_event(log, "cluster gRPC gateway unavailable", logging.WARNING, **fields)

    def _apply(self, snapshot: Snapshot) -> None:
        self._last_discovery = time.time()
        if snapshot.reset_reason is not None:
            # Reused keys: a record of "published for instance K" would suppress the
            # publish of a new instance that got key K.
            log_event(
                log,
                "cluster state reset detected, forgetting published messages and bound requests",
                logging.WARNING,
                reason=snapshot.reset_reason,
            )
            self._published.clear()
            self._bound.clear()
            self._last_vars.clear()
        for definition in snapshot.new_definitions:
            ref = definition.ref
            log_event(
                log,
                "definition loaded",
                process_id=ref.process_id or None,
                process_definition_key=str(ref.key),
                version=ref.version,
                polling_elements=len(definition.configs),
            )
            for config in definition.configs.values():
                configured = config.interval.total_seconds()
                if configured < self.settings.min_poll_interval:
                    log_event(
                        log,
                        "polling interval below the minimum, raised",
                        logging.WARNING,
                        process_id=config.process_id,
                        element_id=config.element_id,
                        property="httpRequestInterval",
                        configured=configured,
                        used=self.settings.min_poll_interval,
                        process_definition_key=str(ref.key),
                    )
            for error in definition.errors:
                log_event(
                    log,
                    "invalid polling element",
                    logging.WARNING,
                    process_id=error.process_id,
                    element_id=error.element_id,
                    property=error.property,
                    reason=error.reason,
                    process_definition_key=str(ref.key),
                )
        self.definitions = snapshot.definitions
        self.activity.forget(
            {c.label for d in snapshot.definitions.values() for c in d.configs.values()}
        )
        self.metrics.set(
            "invalid_elements",
            float(sum(len(d.errors) for d in snapshot.definitions.values())),
        )
        added, removed = self.scheduler.sync(dict(snapshot.waiting))
        for target in added:
            log_event(
                log,
                "poller added",
                **_instance_fields(target),
                correlation_key=target.correlation_key,
            )
        for target in removed:
            self._published.pop(target.key, None)
            self._last_vars.pop(target.key, None)
            self._bound.pop(target.key, None)
            log_event(log, "poller removed", **_instance_fields(target))
        # A poll binding in a thread while its poller was removed may have cached again.
        for cache in (self._bound, self._last_vars):
            if len(cache) > len(snapshot.waiting):
                for key in [k for k in cache if k not in snapshot.waiting]:
                    cache.pop(key, None)
        self._log_element_changes(snapshot.waiting)
        self._ready = True

    def _log_element_changes(self, waiting: Mapping[tuple[int, str], WaitingInstance]) -> None:
        active = {(w.process_definition_key, w.element_id) for w in waiting.values()}
        for key, element_id in sorted(active - self._active_elements):
            log_event(
                log,
                "element activated",
                process_definition_key=str(key),
                element_id=element_id,
                process_id=self._process_id(key),
            )
        for key, element_id in sorted(self._active_elements - active):
            log_event(
                log,
                "element deactivated",
                process_definition_key=str(key),
                element_id=element_id,
                process_id=self._process_id(key),
            )
        self._active_elements = active

    def _process_id(self, definition_key: int) -> str | None:
        definition = self.discovery.definition(definition_key)
        if definition is None:
            return None
        return definition.ref.process_id or next(
            (c.process_id for c in definition.configs.values()), None
        )

    # ------------------------------------------------------------------ poll hooks

    async def prepare(self, targets: Sequence[WaitingInstance]) -> Sequence[Prepared | PollFailure]:
        loop = asyncio.get_running_loop()
        variables: dict[tuple[int, str], dict[str, Any]] = {}
        variable_error: PollFailure | None = None
        wanting = [t for t in targets if t.config.needs_variables]
        if wanting:
            try:
                variables = await self._variables.load(wanting)
                self._set_rest_state(True)
                self._last_vars.update(variables)
            except LoaderClosed:
                return [PollFailure(STOPPED, "shutting down")] * len(targets)
            except ClusterError as exc:
                # Keep polling with the last known values while the cluster is unreachable.
                self._set_rest_state(False, self._rest_cause(exc))
                variables = {
                    t.key: self._last_vars[t.key] for t in wanting if t.key in self._last_vars
                }
                variable_error = PollFailure("variables_error", f"reading variables failed: {exc}")
        return await loop.run_in_executor(
            self._http_pool, self._bind_all, targets, variables, variable_error
        )

    def _bind_all(
        self,
        targets: Sequence[WaitingInstance],
        variables: Mapping[tuple[int, str], dict[str, Any]],
        variable_error: PollFailure | None,
    ) -> list[Prepared | PollFailure]:
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
            # One string per host, not per instance: the bound request is kept per instance.
            host = sys.intern(urlsplit(request.url).netloc or request.url)
            prepared = Prepared(request.coalesce_key, host, request, scope)
            expires = now + SECRET_REBIND_SECONDS if self._uses_secrets(config) else math.inf
            self._bound[target.key] = _Bound(config, prepared, expires)
            results.append(prepared)
        return results

    def _uses_secrets(self, config: ElementConfig) -> bool:
        return config.uses_secrets  # computed at load from the property table

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

    def deliver(
        self, target: WaitingInstance, prepared: Prepared, response: Any
    ) -> str | Awaitable[str]:
        """Evaluate ``response`` for ``target`` (in the FEEL threads), then publish.

        Answers with a future the evaluation's callback settles: no task per poll, the
        common "condition not met" ends right there; a publish runs in a task of its own.
        """
        assert isinstance(response, HttpResponse)
        context = prepared.context if isinstance(prepared.context, Mapping) else {}
        outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._evaluator.submit_then(
            target.config,
            response,
            context,
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
        value: Any,
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
                outcome.set_exception(value)
            return
        try:
            result = self._activated(target, value, status)
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
        return self._publish(target, activation)

    def _still_waiting(self, target: WaitingInstance) -> bool:
        poller = self.scheduler.get(target.key)
        return (
            poller is not None
            and not poller.removed
            and getattr(poller.target, "process_instance_key", None) == target.process_instance_key
        )

    async def _publish(self, target: WaitingInstance, activation: Activation) -> str:
        """Publish ``activation``, keeping it (same id and variables) until it is published
        or the instance stops waiting. The poller stays busy meanwhile: no re-poll."""
        assert self._zeebe is not None
        label = target.config.label
        tries = 0
        delay = 1.0
        while True:
            tries += 1
            try:
                outcome = await publish_message(
                    self._zeebe,
                    activation,
                    tenant_id=target.tenant_id,
                    deadline_seconds=PUBLISH_TRY_SECONDS,
                )
                break
            except PublishError as exc:
                self.metrics.inc("publish_failures_total")
                cause = grpc_cause(exc, self.settings.auth_method)
                # A rejected token is kept like an outage: the activation was observed and
                # must survive until the credentials work again.
                if not (exc.transient or cause.cause in AUTH_CAUSES):
                    failure = PollFailure("publish_error", str(exc))
                    raise self._note_failure(label, target, failure) from None
                self._set_grpc_state(False, cause)
                if tries == 1:
                    self._note_failure(label, target, "publish_error", exc)
                    log_event(
                        log,
                        "publish failed, keeping the activation and retrying",
                        logging.WARNING,
                        **_instance_fields(target),
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
                        **_instance_fields(target),
                        message_id=activation.message_id,
                    )
                    return "abandoned"
                step = min(0.5, delay - waited)
                await asyncio.sleep(step)
                waited += step
            delay = min(delay * 2, PUBLISH_RETRY_CAP)
        self._set_grpc_state(True)
        self._published[target.key] = _Published(activation.message_id, target.process_instance_key)
        fields = {
            **_instance_fields(target),
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

    # ------------------------------------------------------------------ status

    def inbound_status(self) -> dict[str, Any]:
        """The ``/inbound`` document: each polling element with its pollers."""
        by_element: dict[tuple[int, str], list[dict[str, Any]]] = {}
        for poller, next_wall in self.scheduler.snapshot():
            target = poller.target
            by_element.setdefault((target.process_definition_key, target.element_id), []).append(
                {
                    "elementInstanceKey": str(target.element_instance_key),
                    "processInstanceKey": str(target.process_instance_key),
                    "correlationKey": target.correlation_key,
                    "lastStatus": poller.last_outcome,
                    "lastError": poller.last_error,
                    "lastPoll": _iso(poller.last_poll_wall),
                    "nextPoll": _iso(next_wall),
                    "polls": poller.polls,
                    "consecutiveFailures": poller.failures,
                }
            )
        elements: list[dict[str, Any]] = []
        for key, definition in sorted(self.definitions.items()):
            ref = definition.ref
            for config in definition.configs.values():
                label = config.label
                pollers = by_element.get((key, config.element_id), [])
                counts = self.activity.counts(label)
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
                        "logs": self.activity.events(label),
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
        return {
            "cluster": {
                "rest": _state(self._rest_up),
                "grpc": _state(self._grpc_up),
                "lastDiscovery": _iso(self._last_discovery),
                "lastDiscoveryError": self._last_discovery_error,
                "grpcError": self._grpc_error,
            },
            "shard": {"index": self.settings.shard_index, "count": self.settings.shard_count},
            "pollers": len(self.scheduler),
            "httpCalls": self.scheduler.http_calls,
            "elements": elements,
        }


def _status_page(doc: Mapping[str, Any]) -> str:
    from connector.statuspage import render_page

    return render_page(doc)


def _state(up: bool | None) -> str:
    return "UNKNOWN" if up is None else ("UP" if up else "DOWN")


def _iso(wall: float | None) -> str | None:
    if wall is None:
        return None
    import datetime as dt

    return dt.datetime.fromtimestamp(wall, tz=dt.UTC).isoformat(timespec="milliseconds")


async def run_worker(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT; returns the exit code."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    worker = Worker(settings)
    watchdog = asyncio.ensure_future(_exit_watchdog(stop, settings.shutdown_grace))
    try:
        return await worker.run(stop)
    finally:
        watchdog.cancel()


async def _exit_watchdog(stop: asyncio.Event, grace: float) -> None:
    """Once stopping, end the process after the grace period plus a margin whatever is
    still running: a thread stuck in a trickling response or a hung cluster call cannot be
    interrupted, and the interpreter would wait for it at exit."""
    await stop.wait()
    timer = threading.Timer(grace + HARD_EXIT_MARGIN, _hard_exit)
    timer.daemon = True
    timer.start()


def _hard_exit() -> None:
    log_event(log, "threads still busy after the grace period, exiting", logging.WARNING)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
