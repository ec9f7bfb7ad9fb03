"""Which instances are polled: the discovery loop and how its snapshots are applied.

Every discovery interval the cluster is asked for the polling definitions and the instances
waiting at them; the snapshot replaces the pollers' set (added instances start polling,
removed ones stop and are forgotten). The cluster being unavailable never stops anything:
discovery retries with backoff while the pollers keep their last known set.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Mapping

from pyzeebe import ZeebeClient

from connector.cluster_health import ClusterHealth
from connector.config import Settings
from connector.discovery import ClusterError, Definition, Discovery, Snapshot, WaitingInstance
from connector.observability import ActivityLog, Metrics, log_event
from connector.pipeline import PollPipeline, PollScheduler, instance_fields

# The operator sees one logger for everything the worker does.
log = logging.getLogger("connector.worker")

# Discovery retries back off up to 10 discovery intervals, and never beyond a minute.
MAX_DISCOVERY_BACKOFF = 60.0
DISCOVERY_BACKOFF_INTERVALS = 10


class InstanceTracker:
    """Runs discovery and keeps the scheduler's pollers in line with its snapshots."""

    def __init__(
        self,
        settings: Settings,
        discovery: Discovery,
        *,
        executor: concurrent.futures.Executor,
        scheduler: PollScheduler,
        pipeline: PollPipeline,
        health: ClusterHealth,
        activity: ActivityLog,
        metrics: Metrics,
    ) -> None:
        self.settings = settings
        self.discovery = discovery
        self._executor = executor
        self._scheduler = scheduler
        self._pipeline = pipeline
        self._health = health
        self._activity = activity
        self._metrics = metrics
        self.definitions: dict[int, Definition] = {}
        self.last_discovery: float | None = None
        self.applied = False  # a first snapshot was applied
        self._active_elements: set[tuple[int, str]] = set()
        self._nudged = asyncio.Event()  # run the next cycle now (after a re-shard)

    async def run(self, stop: asyncio.Event, zeebe: ZeebeClient) -> None:
        """Discover until ``stop``; probe the gateway while it is not known to be up."""
        loop = asyncio.get_running_loop()
        interval = self.settings.discovery_interval
        failures = 0
        while not stop.is_set():
            started = time.monotonic()
            try:
                snapshot = await loop.run_in_executor(self._executor, self.discovery.cycle)
            except Exception as exc:  # ClusterError or anything unexpected: retry, never die
                failures += 1
                self._metrics.inc("discovery_failures_total")
                if not isinstance(exc, ClusterError):
                    log.exception("discovery failed unexpectedly")
                self._health.set_rest(False, self._health.rest_cause(exc))
                cap = min(MAX_DISCOVERY_BACKOFF, interval * DISCOVERY_BACKOFF_INTERVALS)
                delay = min(cap, interval * 2 ** min(failures, 10))
            else:
                failures = 0
                self._health.set_rest(True)
                self.apply(snapshot)
                self._metrics.observe("discovery_duration_seconds", snapshot.duration)
                self._metrics.inc("discovery_requests_total", float(snapshot.requests))
                self._metrics.inc("discovery_repaired_total", float(snapshot.repaired))
                # The smallest processPollingInterval of the live elements (incremental).
                pace = self.discovery.next_interval(interval)
                delay = max(0.0, pace - (time.monotonic() - started))
            if self._health.grpc_up is not True:
                await self._health.check_grpc(zeebe)
            await self._pause(stop, delay)

    def nudge(self) -> None:
        """Start the next discovery cycle now instead of after the interval."""
        self._nudged.set()

    async def _pause(self, stop: asyncio.Event, delay: float) -> None:
        """Wait ``delay`` seconds, or less when stopped or nudged."""
        waits = (asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._nudged.wait()))
        try:
            await asyncio.wait(waits, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        self._nudged.clear()

    def apply(self, snapshot: Snapshot) -> None:
        self.last_discovery = time.time()
        if snapshot.reset_reason is not None:
            # Reused keys: a record of "published for instance K" would suppress the
            # publish of a new instance that got key K.
            log_event(
                log,
                "cluster state reset detected, forgetting published messages and bound requests",
                logging.WARNING,
                reason=snapshot.reset_reason,
            )
            self._pipeline.reset()
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
        self._activity.forget(
            {c.label for d in snapshot.definitions.values() for c in d.configs.values()}
        )
        self._metrics.set(
            "invalid_elements",
            float(sum(len(d.errors) for d in snapshot.definitions.values())),
        )
        added, removed = self._scheduler.sync(dict(snapshot.waiting))
        for target in added:
            log_event(
                log,
                "poller added",
                **instance_fields(target),
                correlation_key=target.correlation_key,
            )
        for target in removed:
            self._pipeline.forget(target.key)
            log_event(log, "poller removed", **instance_fields(target))
        self._pipeline.keep_only(snapshot.waiting)
        self._log_element_changes(snapshot.waiting)
        if not self.applied:
            # The first snapshot is complete: activations a previous run observed and
            # could not publish go to the instances that still wait.
            self._pipeline.replay(snapshot.waiting)
        self.applied = True

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
