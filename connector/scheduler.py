"""Pollers: one per waiting element instance, with timing, coalescing, backoff and limits.

The scheduler knows nothing about HTTP, FEEL or Zeebe. It drives three injected coroutines
(:class:`PollHooks`):

* ``prepare(targets)`` turns the due targets into bound requests (fetching whatever they need
  in batches) or per-target failures;
* ``execute(request)`` performs one request (the worker runs it in a thread pool);
* ``deliver(target, prepared, response)`` evaluates the response for one target and publishes.

Rules implemented here:

* first poll immediately, then every ``interval`` of the target;
* identical requests (equal ``coalesce_key``) share one ``execute`` per interval: a result is
  reused by every member whose interval has not elapsed since it was fetched, and members align
  to the fetch time, so a group settles on one call per interval;
* consecutive failures back off exponentially (``interval * 2**n``, capped), ``retry_after``
  from a 429/503 is honoured, success resets;
* bounded concurrency overall and per host; the per-host limit is taken first so a slow host
  never holds global slots while it queues;
* sharding across replicas by a stable hash of the element instance key (:func:`owns`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import heapq
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from connector.observability import Metrics, log_event

log = logging.getLogger(__name__)

T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)

MAX_RETRY_AFTER = 3600.0
STOPPED = "stopped"  # outcome of polls abandoned at shutdown before their HTTP call


def shard_of(element_instance_key: int, shard_count: int) -> int:
    """Stable shard of an element instance key: same answer on every replica and restart."""
    digest = hashlib.blake2b(str(element_instance_key).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shard_count


def owns(element_instance_key: int, shard_index: int, shard_count: int) -> bool:
    return shard_count <= 1 or shard_of(element_instance_key, shard_count) == shard_index


def backoff_delay(
    interval: float, failures: int, cap: float, retry_after: float | None = None
) -> float:
    """Delay before the next attempt after ``failures`` consecutive failures (>= 1)."""
    delay = interval * (2.0 ** min(failures, 30))
    delay = max(interval, min(cap, delay))
    if retry_after is not None and retry_after > 0:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay


class PollFailure(Exception):
    """A failed poll step; ``outcome`` labels it in metrics, ``retry_after`` in seconds."""

    def __init__(self, outcome: str, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Prepared:
    """A target's bound request: ``coalesce_key`` equal means identical requests."""

    coalesce_key: Hashable
    host: str
    request: Any
    context: Any = None


class PollHooks(Protocol[T_contra]):
    async def prepare(self, targets: Sequence[T_contra]) -> Sequence[Prepared | PollFailure]: ...

    async def execute(self, request: Any) -> Any: ...

    async def deliver(self, target: T_contra, prepared: Prepared, response: Any) -> str: ...


@dataclass(slots=True, eq=False)
class Poller(Generic[T]):
    """The state of one waiting element instance's poller."""

    key: Hashable
    target: T
    interval: float
    next_due: float
    failures: int = 0
    in_flight: bool = False
    removed: bool = False
    polls: int = 0
    last_outcome: str | None = None
    last_error: str | None = None
    last_poll_wall: float | None = None


@dataclass(slots=True)
class _Shared:
    at: float  # the due time of the poll that fetched it (monotonic clock)
    ttl: float
    response: Any = None
    error: PollFailure | None = None


@dataclass
class SchedulerLimits:
    max_concurrency: int = 32
    max_per_host: int = 8
    max_backoff: float = 300.0
    batch_window: float = 0.05


@dataclass
class _Round:
    pollers: list[Poller[Any]] = field(default_factory=list)


class Scheduler(Generic[T]):
    """Runs every poller; ``sync`` adds/removes them, ``run`` drives them until ``stop``."""

    def __init__(
        self,
        hooks: PollHooks[T],
        *,
        interval_of: Callable[[T], float],
        describe: Callable[[T], Mapping[str, Any]] = lambda _t: {},
        limits: SchedulerLimits | None = None,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._hooks = hooks
        self._interval_of = interval_of
        self._describe = describe
        self._limits = limits or SchedulerLimits()
        self._metrics = metrics or Metrics()
        self._clock = clock
        self._pollers: dict[Hashable, Poller[T]] = {}
        self._heap: list[tuple[float, int, Poller[T]]] = []
        self._seq = 0
        self._wake = asyncio.Event()
        self._stopping = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._shared: dict[Hashable, _Shared] = {}
        self._inflight: dict[Hashable, asyncio.Future[_Shared]] = {}
        self._global = asyncio.Semaphore(self._limits.max_concurrency)
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._last_prune = 0.0
        self.http_calls = 0

    # ------------------------------------------------------------------ membership

    def __len__(self) -> int:
        return len(self._pollers)

    def pollers(self) -> list[Poller[T]]:
        return list(self._pollers.values())

    def get(self, key: Hashable) -> Poller[T] | None:
        return self._pollers.get(key)

    def sync(self, targets: Mapping[Any, T]) -> tuple[list[T], list[T]]:
        """Make the pollers match ``targets``; returns (added, removed) targets.

        Existing pollers keep their timing but take the new target object (a redeployed
        definition or a changed correlation key is picked up without a restart).
        """
        added: list[T] = []
        removed: list[T] = []
        for key in [k for k in self._pollers if k not in targets]:
            poller = self._pollers.pop(key)
            poller.removed = True
            removed.append(poller.target)
        now = self._clock()
        for key, target in targets.items():
            existing = self._pollers.get(key)
            if existing is not None:
                existing.target = target
                existing.interval = self._interval_of(target)
                continue
            poller = Poller(
                key=key, target=target, interval=self._interval_of(target), next_due=now
            )
            self._pollers[key] = poller
            self._push(poller)
            added.append(target)
        if added:
            self._wake.set()
        self._metrics.set("pollers", float(len(self._pollers)))
        return added, removed

    def _push(self, poller: Poller[T]) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (poller.next_due, self._seq, poller))

    # ------------------------------------------------------------------ main loop

    async def run(self) -> None:
        """Poll until :meth:`stop`; never raises because of one poll."""
        window = self._limits.batch_window
        while not self._stopping:
            now = self._clock()
            self._prune(now)
            due = self._pop_due(now)
            if due:
                self._spawn(self._round(due))
                # At most one round per window: pollers falling due meanwhile go together
                # in the next one, so per-round work (reading variables) stays batched.
                await asyncio.sleep(window)
                continue
            delay = 1.0
            if self._heap:
                delay = min(delay, max(0.0, self._heap[0][0] - self._clock()))
            if delay > 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=delay)

    def stop(self) -> None:
        """Stop scheduling new polls (in-flight ones continue; see :meth:`drain`)."""
        self._stopping = True
        self._wake.set()

    async def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for in-flight polls and publishes; cancel the rest.

        Returns True when everything finished in time.
        """
        if not self._tasks:
            return True
        _done, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in pending:
            task.cancel()
        return not pending

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _pop_due(self, horizon: float) -> list[Poller[T]]:
        due: list[Poller[T]] = []
        while self._heap and self._heap[0][0] <= horizon:
            when, _seq, poller = heapq.heappop(self._heap)
            if poller.removed or poller.in_flight or when != poller.next_due:
                continue  # stale heap entry
            poller.in_flight = True
            due.append(poller)
        return due

    def _prune(self, now: float) -> None:
        if now - self._last_prune < 1.0:
            return
        self._last_prune = now
        for key in [k for k, s in self._shared.items() if now - s.at > s.ttl]:
            del self._shared[key]

    # ------------------------------------------------------------------ one round

    async def _round(self, pollers: list[Poller[T]]) -> None:
        try:
            results = await self._hooks.prepare([p.target for p in pollers])
        except Exception as exc:  # the hook failed as a whole: every poller retries later
            log.exception("preparing polls failed")
            failure = PollFailure("prepare_error", f"preparing the request failed: {exc}")
            results = [failure] * len(pollers)
        groups: dict[Hashable, list[tuple[Poller[T], Prepared]]] = {}
        for poller, result in zip(pollers, results, strict=True):
            if isinstance(result, PollFailure):
                self._finish(poller, result, self._clock())
            else:
                groups.setdefault(result.coalesce_key, []).append((poller, result))
        for key, members in groups.items():
            self._spawn(self._serve_group(key, members))

    async def _serve_group(self, key: Hashable, members: list[tuple[Poller[T], Prepared]]) -> None:
        try:
            now = self._clock()
            shared = self._shared.get(key)
            need_fetch = shared is None or any(now - shared.at >= p.interval for p, _ in members)
            if need_fetch and self._stopping:
                self._abandon(members)  # shutting down: no new HTTP calls
                return
            if need_fetch:
                ttl = max(p.interval for p, _ in members)
                due = min(p.next_due for p, _ in members)
                shared = await self._fetch(key, members[0][1], ttl, due)
            assert shared is not None
            if len(members) == 1:
                await self._deliver(members[0][0], members[0][1], shared)
            else:
                await asyncio.gather(*(self._deliver(p, prep, shared) for p, prep in members))
        except asyncio.CancelledError:
            for poller, _ in members:
                poller.in_flight = False
            raise
        except Exception as exc:  # defensive: a poller must never die
            log.exception("poll round failed")
            for poller, _ in members:
                self._finish(poller, PollFailure("internal_error", str(exc)), self._clock())

    async def _fetch(self, key: Hashable, prepared: Prepared, ttl: float, due: float) -> _Shared:
        running = self._inflight.get(key)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[_Shared] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            shared = await self._call(prepared, ttl, due)
            future.set_result(shared)
            self._shared[key] = shared
            return shared
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            del self._inflight[key]

    async def _call(self, prepared: Prepared, ttl: float, due: float) -> _Shared:
        """Run one request; the result is stamped with the due time that triggered it, so
        every member of the group keeps that phase (fixed rate, no drift)."""
        host_limit = self._hosts.get(prepared.host)
        if host_limit is None:
            host_limit = self._hosts[prepared.host] = asyncio.Semaphore(self._limits.max_per_host)
        async with host_limit, self._global:
            if self._stopping:
                return _Shared(at=due, ttl=ttl, error=PollFailure(STOPPED, "shutting down"))
            started = self._clock()
            self.http_calls += 1
            self._metrics.inc("http_requests_total")
            try:
                response = await self._hooks.execute(prepared.request)
                error = None
            except PollFailure as failure:
                response, error = None, failure
            except Exception as exc:  # unexpected errors still count as a failed poll
                response, error = None, PollFailure("transport_error", str(exc))
            finished = self._clock()
            self._metrics.observe("http_request_duration_seconds", max(0.0, finished - started))
        return _Shared(at=due, ttl=ttl, response=response, error=error)

    async def _deliver(self, poller: Poller[T], prepared: Prepared, shared: _Shared) -> None:
        if shared.error is not None:
            self._finish(poller, shared.error, shared.at)
            return
        try:
            outcome = await self._hooks.deliver(poller.target, prepared, shared.response)
        except PollFailure as failure:
            self._finish(poller, failure, self._clock())
            return
        except Exception as exc:
            log.exception("delivering a response failed")
            self._finish(poller, PollFailure("internal_error", str(exc)), self._clock())
            return
        self._finish(poller, None, shared.at, outcome)

    def _finish(
        self,
        poller: Poller[T],
        failure: PollFailure | None,
        at: float,
        outcome: str = "ok",
    ) -> None:
        """Record one poll's result and schedule the next one."""
        if failure is not None and failure.outcome == STOPPED:
            poller.in_flight = False
            return
        poller.in_flight = False
        poller.polls += 1
        poller.last_poll_wall = time.time()
        now = self._clock()
        if failure is None:
            if poller.failures:
                log_event(log, "poller recovered", **self._fields(poller), failures=poller.failures)
            poller.failures = 0
            poller.last_outcome = outcome
            poller.last_error = None
            self._metrics.inc("polls_total", outcome=outcome)
            # Fixed rate in the group's phase; an overrun poll is repeated at once.
            next_due = max(at + poller.interval, now)
        else:
            poller.failures += 1
            poller.last_outcome = failure.outcome
            self._metrics.inc("polls_total", outcome=failure.outcome)
            delay = backoff_delay(
                poller.interval, poller.failures, self._limits.max_backoff, failure.retry_after
            )
            # Log a failure when it starts or its reason changes, not on every retry.
            level = logging.WARNING if failure.reason != poller.last_error else logging.DEBUG
            log_event(
                log,
                "poll failed",
                level,
                **self._fields(poller),
                outcome=failure.outcome,
                reason=failure.reason,
                failures=poller.failures,
                retry_in=round(delay, 3),
            )
            poller.last_error = failure.reason
            next_due = now + delay
        if poller.removed or self._stopping:
            return
        poller.next_due = next_due
        self._push(poller)
        self._wake.set()

    def _abandon(self, members: list[tuple[Poller[T], Prepared]]) -> None:
        for poller, _ in members:
            poller.in_flight = False

    def _fields(self, poller: Poller[T]) -> dict[str, Any]:
        try:
            return dict(self._describe(poller.target))
        except Exception:
            return {}

    def snapshot(self, now_wall: float | None = None) -> Iterable[tuple[Poller[T], float]]:
        """(poller, wall-clock time of its next poll) pairs for the status page."""
        wall = time.time() if now_wall is None else now_wall
        mono = self._clock()
        for poller in list(self._pollers.values()):
            yield poller, wall + max(0.0, poller.next_due - mono)
