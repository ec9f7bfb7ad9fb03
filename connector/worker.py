"""The worker: discovery -> pollers -> HTTP (thread pool) -> correlation -> publish.

Lifecycle rules:

* the cluster (REST or gRPC) being unavailable never stops anything: discovery retries with
  backoff while the pollers keep their last known set, and each connectivity change is
  logged once (not once per poll);
* an observed activation is never lost nor published twice (see :mod:`connector.pipeline`);
* SIGTERM/SIGINT stop the scheduling; in-flight polls and publishes get a grace period;
  the process then exits 0;
* stateless: everything is rebuilt from the cluster on start.

The parts: :mod:`connector.tracker` (discovery loop -> pollers), :mod:`connector.scheduler`
(when to poll), :mod:`connector.pipeline` (what a poll does), :mod:`connector.cluster_health`
(connectivity) and :mod:`connector.status` (the ``/inbound`` document). This module builds
them and runs them in three phases: startup, main loop, shutdown.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

from pyzeebe import ZeebeClient

from connector.cluster_health import ClusterHealth
from connector.config import Settings
from connector.correlation import ResponseEvaluator
from connector.discovery import Discovery, RestClient, build_discovery, build_source
from connector.http import HttpClient
from connector.http.oauth import SHARED_PROVIDER
from connector.journal import ActivationJournal
from connector.observability import ActivityLog, Metrics, log_event
from connector.pipeline import PollPipeline, PollScheduler, instance_fields
from connector.resharding import ReadCount, ShardCountWatcher, describe_shard
from connector.scheduler import Scheduler, SchedulerLimits
from connector.secrets import EnvSecretProvider, SecretProvider
from connector.status import WorkerView, inbound_status, status_page
from connector.status_server import StatusAuth, StatusLimits, StatusServer
from connector.tracker import InstanceTracker
from connector.variables import VariableLoader
from connector.zeebe_client import Gateway, cluster_auth

log = logging.getLogger("connector.worker")
#: Threads that evaluate response expressions (activation condition, keys, result mapping).
_FEEL_THREADS = 4
# After SIGTERM the process exits at the latest this long after the grace period, even when
# a thread is stuck in a trickling response or a hung cluster call.
HARD_EXIT_MARGIN = 3.0


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
        shard_count_reader: ReadCount | None = None,
    ) -> None:
        self.settings = settings
        # --shard-count auto: reads the replica count again while running.
        self._shard_count_reader = shard_count_reader
        self.metrics = metrics or Metrics()
        self._gateway = None if zeebe is None else Gateway(zeebe)
        self._rest_client: RestClient | None = None
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
        self.activity = ActivityLog()  # recent events per element, for /inbound and the page
        self.health = ClusterHealth(settings)
        journal = (
            None if settings.state_dir is None else ActivationJournal(Path(settings.state_dir))
        )
        self.pipeline = PollPipeline(
            settings,
            http=self.http,
            secrets=self.secrets,
            evaluator=self._evaluator,
            http_pool=self._http_pool,
            variables=VariableLoader(
                self.discovery.fetch_variables, self._cluster_pool, parallel=2
            ),
            health=self.health,
            activity=self.activity,
            metrics=self.metrics,
            poller=lambda key: self.scheduler.get(key),
            journal=journal,
        )
        self.scheduler: PollScheduler = Scheduler(
            self.pipeline,
            interval_of=lambda t: max(
                settings.min_poll_interval, t.config.interval.total_seconds()
            ),
            describe=instance_fields,
            limits=SchedulerLimits(
                max_concurrency=settings.max_concurrency,
                max_per_host=settings.max_per_host,
                max_backoff=settings.max_backoff,
            ),
            metrics=self.metrics,
            # Polls that read no variables never wait for the cluster's REST API.
            split=lambda t: t.config.needs_variables,
        )
        self.tracker = InstanceTracker(
            settings,
            self.discovery,
            executor=self._discovery_pool,
            scheduler=self.scheduler,
            pipeline=self.pipeline,
            health=self.health,
            activity=self.activity,
            metrics=self.metrics,
        )
        self.status_server: StatusServer | None = None
        self.metrics.gauge_function("pollers", lambda: float(len(self.scheduler)))
        self.metrics.gauge_function("cluster_up", lambda: 1.0 if self.health.rest_up else 0.0)

    # ------------------------------------------------------------------ lifecycle

    async def run(self, stop: asyncio.Event) -> int:
        gateway = await self.startup()
        await self.main_loop(stop, gateway)
        await self.shutdown()
        return 0

    async def startup(self) -> Gateway:
        """Open the gateway channel and the status port; nothing is polled yet."""
        if self._gateway is None:
            self._gateway = Gateway.open(self.settings, self._auth)
        self.pipeline.zeebe = self._gateway.client
        journaled = self.pipeline.load_journal()
        if journaled:
            log_event(
                log,
                "activations observed before the restart, to publish after discovery",
                count=journaled,
                state_dir=self.settings.state_dir,
            )
        if self.settings.http_port is not None:
            view = WorkerView(
                pollers=self.scheduler,
                deployed=self.tracker,
                health=self.health,
                activity=self.activity,
                shard=self.shard,
            )
            self.status_server = StatusServer(
                self.metrics,
                ready=self.ready,
                inbound=functools.partial(inbound_status, view),
                host=self.settings.http_host,
                port=self.settings.http_port,
                limits=StatusLimits(max_connections=self.settings.status_max_connections),
                auth=StatusAuth(self.settings.status_token, self.settings.status_basic_auth),
                show_details=self.settings.status_show_details,
                page=status_page,
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
            shard="{}/{}".format(*self.shard()),
        )
        idle = describe_shard(*self.shard())
        if idle is not None:
            log_event(log, idle, logging.WARNING)
        return self._gateway

    def shard(self) -> tuple[int, int]:
        """(index, count) served now: the count changes with --shard-count auto."""
        return self.discovery.shard_index, self.discovery.shard_count

    async def _reshard(self, count: int) -> None:
        """Serve the shard of the new count: drop what is no longer owned, and reconcile
        at once for what is now (on the discovery thread, between cycles)."""
        loop = asyncio.get_running_loop()
        index = self.settings.shard_index
        await loop.run_in_executor(self._discovery_pool, self.discovery.reshard, index, count)
        self.tracker.nudge()

    async def main_loop(self, stop: asyncio.Event, gateway: Gateway) -> None:
        """Discover and poll until ``stop``; then stop scheduling new polls."""
        scheduler_task = asyncio.ensure_future(
            self._supervise("scheduler", self.scheduler.run, stop)
        )
        discovery_task = asyncio.ensure_future(
            self._supervise("discovery", lambda: self.tracker.run(stop, gateway.client), stop)
        )
        watcher_task = self._watch_shard_count(stop)
        await stop.wait()
        if watcher_task is not None:
            watcher_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher_task
        log_event(log, "stopping", grace_seconds=self.settings.shutdown_grace)
        self.scheduler.stop()
        self.pipeline.stop()
        discovery_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await discovery_task
        with contextlib.suppress(asyncio.CancelledError):
            await scheduler_task

    def _watch_shard_count(self, stop: asyncio.Event) -> asyncio.Future[None] | None:
        """With --shard-count auto: follow the replica count until ``stop``."""
        if self._shard_count_reader is None:
            return None
        watcher = ShardCountWatcher(
            self._shard_count_reader,
            index=self.settings.shard_index,
            count=self.discovery.shard_count,
            interval=self.settings.shard_count_interval,
            apply=self._reshard,
        )
        return asyncio.ensure_future(
            self._supervise("shard count", lambda: watcher.run(stop), stop)
        )

    async def shutdown(self) -> None:
        """Give in-flight polls and publishes the grace period, then close everything."""
        finished = await self.scheduler.drain(self.settings.shutdown_grace)
        if not finished:
            log_event(log, "grace period over, abandoning in-flight polls", logging.WARNING)
        await self.close()
        log_event(log, "worker stopped")

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
        await self.pipeline.close()
        if self.status_server is not None:
            await self.status_server.stop()
        if self._gateway is not None:
            await self._gateway.close()
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
        health = self.health
        return self.tracker.applied and bool(health.rest_up) and health.grpc_up is not False


async def run_worker(settings: Settings, shard_count_reader: ReadCount | None = None) -> int:
    """Run until SIGTERM/SIGINT; returns the exit code."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    worker = Worker(settings, shard_count_reader=shard_count_reader)
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
