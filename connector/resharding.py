"""``--shard-count auto``: the shard count follows the StatefulSet's replica count.

At start :func:`resolve_shard_count` reads the count once (a failure is a configuration
error: the worker does not start). While running, :class:`ShardCountWatcher` reads it again
every ``--shard-count-interval``; a change is handed to ``apply`` (the worker re-shards its
discovery and runs a full reconciliation at once) and logged once. A failed read keeps the
last count: warned about once per streak of failures, and once more when it reads again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping

from connector.config import Settings
from connector.kubernetes import KubernetesError, ReplicaCountReader
from connector.observability import log_event

log = logging.getLogger("connector.worker")

ReadCount = Callable[[], int]


def resolve_shard_count(
    settings: Settings, env: Mapping[str, str]
) -> tuple[Settings, ReplicaCountReader | None]:
    """The settings with the replica count as shard count, and the reader to watch it with
    (None without ``--shard-count auto``); raises :class:`KubernetesError`."""
    if not settings.shard_count_auto:
        return settings, None
    reader = ReplicaCountReader.from_env(env)
    count = reader()
    return settings.model_copy(update={"shard_count": count}), reader


def describe_shard(index: int, count: int) -> str | None:
    """Why a replica serves nothing, or None when it serves its shard."""
    if index < count:
        return None
    return (
        f"shard index {index} is not below the shard count {count}: this pod is being "
        "removed by a scale-down (or waits for one to be undone); it serves nothing"
    )


class ShardCountWatcher:
    """Re-reads the replica count and applies a change; :meth:`run` until ``stop``."""

    def __init__(
        self,
        read: ReadCount,
        *,
        index: int,
        count: int,
        interval: float,
        apply: Callable[[int], Awaitable[None]],
    ) -> None:
        self._read = read
        self.index = index
        self.count = count
        self._interval = interval
        self._apply = apply
        self._failing = False

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._interval)
            if stop.is_set():
                return
            await self.check()

    async def check(self) -> None:
        """One read; apply the count when it changed."""
        try:
            count = await asyncio.to_thread(self._read)
        except KubernetesError as exc:
            if not self._failing:
                self._failing = True
                log_event(
                    log,
                    "cannot read the replica count; keeping the shard count",
                    logging.WARNING,
                    shard_count=self.count,
                    error=str(exc),
                )
            return
        if self._failing:
            self._failing = False
            log_event(log, "replica count readable again", shard_count=count)
        if count == self.count:
            return
        log_event(
            log,
            f"shard count {self.count} -> {count}: re-sharding",
            shard_index=self.index,
            old_shard_count=self.count,
            shard_count=count,
        )
        idle = describe_shard(self.index, count)
        if idle is not None:
            log_event(log, idle, logging.WARNING)
        self.count = count
        await self._apply(count)
