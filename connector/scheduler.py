"""Pollers: one per waiting element instance, with timing, coalescing, backoff and limits.

The scheduler knows nothing about HTTP, FEEL or Zeebe. It drives three injected coroutines
(:class:`PollHooks`):

* ``prepare(targets)`` turns the due targets into bound requests (fetching whatever they need
  in batches) or per-target failures;
* ``execute(requests)`` performs a chunk of requests to one host (the worker runs a chunk as
  one job of its thread pool: one hand-off per chunk instead of one per request);
* ``deliver(target, prepared, response)`` evaluates the response for one target and publishes;
  it returns the outcome at once when there is nothing to wait for, or an awaitable of it.
  An ``asyncio.Future`` is finished from its done callback, any other awaitable in a task of
  its own: a future costs a poll far less than a task (the worker answers with one).

Rules implemented here:

* first poll immediately, then every ``interval`` of the target;
* polls run at a fixed rate (no drift); pollers falling due are gathered into rounds at most
  every ``batch_window`` so that per-round work (reading variables) stays batched;
* identical requests (equal ``coalesce_key``) share one HTTP call per interval: a result is
  reused by every member whose interval has not elapsed since it was fetched, and members take
  the phase of that fetch, so a group settles on one call per interval;
* consecutive failures back off exponentially (``interval * 2**n``, capped), ``retry_after``
  from a 429/503 is honoured, success resets;
* bounded concurrency overall and per host; the per-host limit is taken first so a slow host
  never holds global slots while it queues;
* a host's calls queue for its lanes (a lane runs one chunk of calls at a time in a thread):
  a slow host gets up to ``max_per_host`` lanes, a fast one as few as keep the process busy
  (:func:`lanes_for`), as every extra thread competes for the interpreter;
* a request whose last call took longer than ``slow_call`` (a slow or trickling endpoint)
  runs in lanes of its own (a separate queue of its host), so it delays only itself, not the
  host's other requests; calls not known to be quick (slow or new) together take at most
  ``max_concurrency`` minus ``reserved_fast`` global slots, so slow hosts never take every
  slot from the quick ones;
* with ``split``, due pollers are prepared in two groups (e.g. those that read variables
  from the cluster and those that do not), so a slow preparation holds up only its group;
* schedule lag (how much later than due a poll's answer came, beyond its own call time) is the
  ``schedule_lag_seconds`` gauge (worst of the last second), with a rate-limited warning;
* sharding across replicas by a stable hash of the element instance key (:func:`connector.sharding.owns`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import heapq
import inspect
import logging
import math
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

# Sharding lives in discovery (a lower layer), which keeps only this replica's instances.
from connector.discovery import owns as owns
from connector.discovery import shard_of as shard_of
from connector.errors import ConnectorError
from connector.observability import Metrics, log_event

log = logging.getLogger(__name__)

T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)
# What the hooks pass through the scheduler without it looking inside: a bound request,
# what delivering its answer needs besides the answer (e.g. the variables), an answer.
R = TypeVar("R")
C = TypeVar("C")
S = TypeVar("S")

MAX_RETRY_AFTER = 3600.0
LAG_WARNING_SECONDS = 60.0  # at most one schedule-lag warning per minute
SLOW_SUFFIX = " (slow requests)"  # the queue of a host's slow requests
STOPPED = "stopped"  # outcome of polls abandoned at shutdown before their HTTP call


def backoff_delay(
    interval: float, failures: int, cap: float, retry_after: float | None = None
) -> float:
    """Delay before the next attempt after ``failures`` consecutive failures (>= 1)."""
    delay = interval * (2.0 ** min(failures, 30))
    delay = max(interval, min(cap, delay))
    if retry_after is not None and retry_after > 0:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay


def next_slot(phase: float, interval: float, now: float) -> float:
    """The first time ``phase + k * interval`` (k >= 1) after ``now``: a fixed rate that keeps
    its phase (and so its group) even when a poll overran its interval."""
    slots = max(1, math.floor((now - phase) / interval) + 1)
    return phase + slots * interval


class PollFailure(ConnectorError):
    """A failed poll step; ``outcome`` labels it in metrics, ``retry_after`` in seconds."""

    def __init__(self, outcome: str, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Prepared(Generic[R, C]):
    """A target's bound request: ``coalesce_key`` equal means identical requests."""

    coalesce_key: Hashable
    host: str
    request: R
    context: C


class PollHooks(Protocol[T_contra, R, C, S]):
    async def prepare(
        self, targets: Sequence[T_contra]
    ) -> Sequence[Prepared[R, C] | PollFailure]: ...

    async def execute(
        self, requests: Sequence[R]
    ) -> Sequence[tuple[S | PollFailure, float | None]]:
        """Run requests (to one host); per request (response or PollFailure, seconds)."""
        ...

    def deliver(
        self, target: T_contra, prepared: Prepared[R, C], response: S
    ) -> str | Awaitable[str]: ...


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
    request_key: Hashable | None = None  # coalesce key of its last bound request

    def __lt__(self, other: Poller[T]) -> bool:
        # The heap holds the pollers themselves, ordered by due time (no (due, poller) pair
        # per entry): a poller is in the heap at most once, and its due time changes only
        # while it is out of the heap (polling).
        return self.next_due < other.next_due


@dataclass(slots=True)
class _Shared:
    at: float  # the due time of the poll that fetched it (monotonic clock)
    ttl: float
    response: Any = None
    error: PollFailure | None = None


@dataclass(slots=True)
class _Fetch(Generic[T]):
    """One HTTP call to make in a round, and the pollers waiting for its answer."""

    key: Hashable
    prepared: Prepared[Any, Any]
    ttl: float
    due: float
    members: list[tuple[Poller[T], Prepared[Any, Any]]]


@dataclass
class SchedulerLimits:
    max_concurrency: int = 32
    max_per_host: int = 8
    max_backoff: float = 300.0
    batch_window: float = 0.05
    chunk_size: int = 16
    #: A round's calls to one host should take about this long per lane (seconds): a fast
    #: host gets few lanes (threads), a slow one up to ``max_per_host``.
    lane_budget: float = 0.05
    min_lanes: int = 1
    #: A call taking longer (seconds) moves its request to its host's slow queue.
    slow_call: float = 1.0
    #: Global slots slow calls can never take (0: a quarter of ``max_concurrency``).
    reserved_fast: int = 0


class HostLatency:
    """A host's uncontended call time: the fastest call in the last two windows.

    The fastest call rather than the mean: a call's wall time also counts the time its
    thread waited for the interpreter while other lanes ran, which grows with the lanes
    themselves (a mean would keep a fast host on many lanes because it has many lanes).
    A host that turns slow is seen as slow within two windows.
    """

    __slots__ = ("_current", "_previous", "_rotated", "window")

    def __init__(self, now: float, *, window: float = 5.0) -> None:
        self._current = math.inf
        self._previous = math.inf
        self._rotated = now
        self.window = window

    def add(self, seconds: float, now: float) -> None:
        if now - self._rotated >= self.window:
            self._previous, self._current = self._current, math.inf
            self._rotated = now
        if seconds < self._current:
            self._current = seconds

    def estimate(self) -> float | None:
        best = min(self._current, self._previous)
        return None if best == math.inf else best


def lanes_for(
    calls: int, latency: float | None, limits: SchedulerLimits, cpu_per_call: float | None = None
) -> int:
    """How many lanes (threads, one chunk of calls at a time each) serve one host.

    Unknown latency: as many as allowed (a slow host must not queue behind itself).
    Known: enough for a round's ``calls`` to take about ``lane_budget``, but no more than
    it takes to keep the process busy while calls wait for the host (``latency`` over the
    process's CPU time per call: Little's law): every further thread only competes for
    the interpreter. At least ``min_lanes``, so the host's answer time overlaps our work.
    """
    if calls <= 1:
        return max(0, calls)
    if latency is None:
        return max(min(calls, limits.max_per_host), -(-calls // limits.chunk_size))
    wanted = math.ceil(calls * latency / limits.lane_budget)
    if cpu_per_call is not None and cpu_per_call > 0:
        wanted = min(wanted, math.ceil(latency / cpu_per_call))
    return max(1, min(calls, limits.max_per_host, max(wanted, limits.min_lanes)))


class Scheduler(Generic[T, R, C, S]):
    """Runs every poller; ``sync`` adds/removes them, ``run`` drives them until ``stop``."""

    def __init__(
        self,
        hooks: PollHooks[T, R, C, S],
        *,
        interval_of: Callable[[T], float],
        describe: Callable[[T], Mapping[str, Any]] = lambda _t: {},
        limits: SchedulerLimits | None = None,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
        split: Callable[[T], bool] | None = None,
    ) -> None:
        self._hooks = hooks
        self._split = split
        self._interval_of = interval_of
        self._describe = describe
        self._limits = limits or SchedulerLimits()
        self._metrics = metrics or Metrics()
        self._metrics.declare(
            "schedule_lag_seconds",
            "gauge",
            "Worst delay between a poll being due and its HTTP call starting (last second).",
        )
        self._clock = clock
        self._pollers: dict[Hashable, Poller[T]] = {}
        # One float object per distinct interval, not one per poller.
        self._intervals: dict[float, float] = {}
        # Pollers ordered by due time (see Poller.__lt__).
        self._heap: list[Poller[T]] = []
        self._wake = asyncio.Event()
        self._stopping = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._waiting: set[asyncio.Future[str]] = set()  # deliveries answered with a future
        self._shared: dict[Hashable, _Shared] = {}
        self._inflight: dict[Hashable, _Fetch[T]] = {}  # queued or running calls by key
        # Pollers per request key: responses are kept for reuse only when a key is shared,
        # so 10,000 distinct requests do not keep 10,000 response bodies in memory.
        self._key_counts: dict[Hashable, int] = {}
        self._global = asyncio.Semaphore(self._limits.max_concurrency)
        total = self._limits.max_concurrency
        reserved = self._limits.reserved_fast or max(1, total // 4)
        self._slow_global = asyncio.Semaphore(max(1, total - reserved))
        self._slow_keys: set[Hashable] = set()
        # Requests in use not known to be quick (never called, or last call slow): empty
        # in a steady state, where a set of the quick ones would hold every request.
        self._unproven: set[Hashable] = set()
        self._lag_max = 0.0
        self._lag_warned = -math.inf
        self._lag_reported = 0.0
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._latency: dict[str, HostLatency] = {}
        self._queues: dict[str, collections.deque[_Fetch[T]]] = {}
        self._lanes: dict[str, int] = {}  # running lanes per host
        self._wanted: dict[str, int] = {}  # lanes per host the last round asked for
        # The process's CPU seconds per HTTP call (all its work, measured every second).
        self._cpu_mark = (time.process_time(), 0)
        self._cpu_per_call: float | None = None
        self._last_prune = 0.0
        self.http_calls = 0
        # Series updated on every poll, looked up once (by outcome for polls_total).
        self._poll_series: dict[str, Any] = {}
        self._call_seconds = self._metrics.series("http_request_duration_seconds")

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
            self._set_request_key(poller, None)
            removed.append(poller.target)
        now = self._clock()
        for key, target in targets.items():
            existing = self._pollers.get(key)
            if existing is not None:
                existing.target = target
                existing.interval = self._interval(target)
                continue
            poller = Poller(key=key, target=target, interval=self._interval(target), next_due=now)
            self._pollers[key] = poller
            self._push(poller)
            added.append(target)
        if added:
            self._wake.set()
        self._metrics.set("pollers", float(len(self._pollers)))
        return added, removed

    def _interval(self, target: T) -> float:
        interval = self._interval_of(target)
        return self._intervals.setdefault(interval, interval)

    def _push(self, poller: Poller[T]) -> None:
        heapq.heappush(self._heap, poller)

    # ------------------------------------------------------------------ main loop

    async def run(self) -> None:
        """Poll until :meth:`stop`; never raises because of one poll."""
        window = self._limits.batch_window
        while not self._stopping:
            now = self._clock()
            self._prune(now)
            due = self._pop_due(now)
            if due:
                if self._split is None:
                    self._spawn(self._round(due))
                else:
                    first = [p for p in due if self._split(p.target)]
                    rest = [p for p in due if not self._split(p.target)]
                    for part in (first, rest):
                        if part:
                            self._spawn(self._round(part))
                # At most one round per window: pollers falling due meanwhile go together
                # in the next one, so per-round work (reading variables) stays batched.
                await asyncio.sleep(window)
                continue
            delay = 1.0
            if self._heap:
                delay = min(delay, max(0.0, self._heap[0].next_due - self._clock()))
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
        running: set[asyncio.Future[Any]] = {*self._tasks, *self._waiting}
        if not running:
            return True
        _done, pending = await asyncio.wait(running, timeout=timeout)
        for task in pending:
            task.cancel()
        return not pending

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _pop_due(self, horizon: float) -> list[Poller[T]]:
        due: list[Poller[T]] = []
        while self._heap and self._heap[0].next_due <= horizon:
            poller = heapq.heappop(self._heap)
            if poller.removed or poller.in_flight:
                continue  # stale heap entry
            poller.in_flight = True
            due.append(poller)
        return due

    def _prune(self, now: float) -> None:
        if now - self._last_prune < 1.0:
            return
        self._last_prune = now
        cpu, calls = time.process_time(), self.http_calls
        if calls - self._cpu_mark[1] >= 10:  # too few calls say little about their cost
            self._cpu_per_call = (cpu - self._cpu_mark[0]) / (calls - self._cpu_mark[1])
            self._cpu_mark = (cpu, calls)
        for key in [k for k, s in self._shared.items() if now - s.at > s.ttl]:
            del self._shared[key]
        self._slow_keys &= self._key_counts.keys()  # forget requests no poller makes
        self._release_tables()
        self._metrics.set("schedule_lag_seconds", self._lag_max)
        self._lag_reported, self._lag_max = self._lag_max, 0.0

    def _release_tables(self) -> None:
        """Replace emptied maps by new ones: a dict or set keeps the table of its largest
        size, and the first polls of many new pollers fill these all at once (10,000 new
        requests leave a 512 KiB set behind)."""
        if not self._unproven:
            self._unproven = set()
        if not self._inflight:
            self._inflight = {}
        if not self._shared:
            self._shared = {}

    def _note_lag(self, lag: float, interval: float) -> None:
        """Record how late a poll's call starts; warn (rate-limited) when later than its
        interval: more polls are due than the limits let run."""
        if lag > self._lag_max:
            self._lag_max = lag
        if lag > max(1.0, interval):
            now = self._clock()
            if now - self._lag_warned >= LAG_WARNING_SECONDS:
                self._lag_warned = now
                log_event(
                    log,
                    "polls are running late (overloaded: raise max-concurrency, add replicas "
                    "or lengthen intervals)",
                    logging.WARNING,
                    lag_seconds=round(lag, 3),
                    interval=interval,
                    pollers=len(self._pollers),
                )

    def lag(self) -> float:
        """The worst schedule lag of the last second (seconds)."""
        return max(self._lag_max, self._lag_reported)

    # ------------------------------------------------------------------ one round

    async def _round(self, pollers: list[Poller[T]]) -> None:
        try:
            results = await self._hooks.prepare([p.target for p in pollers])
        except Exception as exc:  # the hook failed as a whole: every poller retries later
            log.exception("preparing polls failed")
            failure = PollFailure("prepare_error", f"preparing the request failed: {exc}")
            results = [failure] * len(pollers)
        groups: dict[Hashable, list[tuple[Poller[T], Prepared[Any, Any]]]] = {}
        for poller, result in zip(pollers, results, strict=True):
            if isinstance(result, PollFailure):
                self._finish(poller, result, self._clock())
            else:
                self._set_request_key(poller, result.coalesce_key)
                groups.setdefault(result.coalesce_key, []).append((poller, result))
        now = self._clock()
        fetches: dict[str, list[_Fetch[T]]] = {}
        for key, members in groups.items():
            shared = self._shared.get(key)
            if shared is not None and all(now - shared.at < p.interval for p, _ in members):
                self._deliver_members(members, shared)  # fresh: no HTTP call
                continue
            running = self._inflight.get(key)
            if running is not None:  # the same request is on its way: share its answer
                running.members.extend(members)
                continue
            if self._stopping:
                self._abandon(members)  # shutting down: no new HTTP calls
                continue
            if len(members) == 1:
                first = members[0][0]
                ttl, due = first.interval, first.next_due
            else:
                ttl = max(p.interval for p, _ in members)
                due = min(p.next_due for p, _ in members)
            prepared = members[0][1]
            fetch = self._inflight[key] = _Fetch(key, prepared, ttl, due, members)
            lane_host = prepared.host + SLOW_SUFFIX if key in self._slow_keys else prepared.host
            host_fetches = fetches.get(lane_host)
            if host_fetches is None:
                fetches[lane_host] = [fetch]
            else:
                host_fetches.append(fetch)
        for host, items in fetches.items():
            queue = self._queues.get(host)
            if queue is None:
                queue = self._queues[host] = collections.deque()
            queue.extend(items)
            self._start_lanes(host, queue, len(items))

    def _start_lanes(self, host: str, queue: collections.deque[_Fetch[T]], new: int) -> None:
        """Make sure enough lanes drain ``host``'s queue for the ``new`` calls of this round.

        Lanes persist across rounds, so a fast host keeps its few threads busy rather than
        gaining more. Sized by the round, not by the backlog: a backlog means the worker
        is short of CPU, and more threads would only compete for it.
        """
        latency = self._latency.get(host)
        estimate = latency.estimate() if latency is not None else None
        wanted = lanes_for(new, estimate, self._limits, self._cpu_per_call)
        self._wanted[host] = wanted
        while self._lanes.get(host, 0) < wanted:
            self._lanes[host] = self._lanes.get(host, 0) + 1
            self._spawn(self._lane(host, queue))

    async def _lane(self, host: str, queue: collections.deque[_Fetch[T]]) -> None:
        """Run ``host``'s queued calls a chunk (one executor job) at a time until none are
        left, or until the host needs fewer lanes than it has.

        The next chunk is started before the answers of the last one are delivered, so a
        lane's calls overlap the evaluation of their predecessors.
        """
        current = self._next_chunk(host, queue)
        try:
            while current is not None:
                chunk, started, call = current
                current = None
                try:
                    outcomes = await call
                except asyncio.CancelledError:
                    call.cancel()
                    self._drop(chunk)
                    raise
                current = self._next_chunk(host, queue)
                self._complete(host, chunk, outcomes, started)
        except asyncio.CancelledError:
            if current is not None:
                current[2].cancel()
                self._drop(current[0])
            self._drop(list(queue))  # shutting down: nothing queued for this host will run
            queue.clear()
            raise
        finally:
            left = self._lanes.get(host, 1) - 1
            if left > 0:
                self._lanes[host] = left
            else:
                self._lanes.pop(host, None)

    def _next_chunk(
        self, host: str, queue: collections.deque[_Fetch[T]]
    ) -> tuple[list[_Fetch[T]], float, asyncio.Future[list[tuple[Any, float | None]]]] | None:
        """Take and start the lane's next chunk; None when the lane should stop."""
        lanes = max(1, self._lanes.get(host, 1))
        if not queue or lanes > self._wanted.get(host, lanes):
            return None
        size = max(1, min(self._limits.chunk_size, -(-len(queue) // lanes)))
        chunk = [queue.popleft() for _ in range(min(size, len(queue)))]
        call = asyncio.ensure_future(self._call(host, chunk))
        return chunk, self._clock(), call

    def _drop(self, chunk: list[_Fetch[T]]) -> None:
        for fetch in chunk:
            self._inflight.pop(fetch.key, None)
            self._abandon(fetch.members)

    def _complete(
        self,
        host: str,
        chunk: list[_Fetch[T]],
        outcomes: Sequence[tuple[Any, float | None]],
        started: float,
    ) -> None:
        now = self._clock()
        latency = self._latency.get(host)
        if latency is None:
            latency = self._latency[host] = HostLatency(now)
        # Calls without their own time (transport errors): the chunk's mean per call.
        mean = (now - started) / max(1, len(chunk))
        for _, seconds in outcomes:
            latency.add(mean if seconds is None else seconds, now)
        for fetch, (result, seconds) in zip(chunk, outcomes, strict=True):
            took = mean if seconds is None else seconds
            # Lag: how much later than due the answer came, beyond the call's own time
            # (waits for lanes, slots, variables and the calls before it in its chunk).
            self._note_lag(now - fetch.due - took, fetch.ttl)
            if took > self._limits.slow_call:
                self._slow_keys.add(fetch.key)
                if fetch.key in self._key_counts:
                    self._unproven.add(fetch.key)
            else:
                self._slow_keys.discard(fetch.key)
                self._unproven.discard(fetch.key)
            if isinstance(result, PollFailure):
                shared = _Shared(at=fetch.due, ttl=fetch.ttl, error=result)
            else:
                shared = _Shared(at=fetch.due, ttl=fetch.ttl, response=result)
            if seconds is not None:
                self._call_seconds.observe(seconds)
            stopped = shared.error is not None and shared.error.outcome == STOPPED
            if not stopped and self._key_counts.get(fetch.key, 0) > 1:
                self._shared[fetch.key] = shared
            else:
                self._shared.pop(fetch.key, None)
            self._inflight.pop(fetch.key, None)
            self._deliver_members(fetch.members, shared)
        self._release_tables()

    async def _call(
        self, host: str, chunk: list[_Fetch[T]]
    ) -> list[tuple[Any | PollFailure, float | None]]:
        """Run one chunk of requests to ``host`` within the concurrency limits."""
        requests = [f.prepared.request for f in chunk]
        host_limit = self._hosts.get(host)
        if host_limit is None:
            host_limit = self._hosts[host] = asyncio.Semaphore(self._limits.max_per_host)
        # Requests not known to be quick (slow, or never called) first take one of the
        # slots they may share, then a global one: the reserved slots stay for quick ones.
        unproven = self._unproven
        quick = not host.endswith(SLOW_SUFFIX) and not any(f.key in unproven for f in chunk)
        slow: contextlib.AbstractAsyncContextManager[Any] = (
            contextlib.nullcontext() if quick else self._slow_global
        )
        async with host_limit, slow, self._global:
            if self._stopping:
                return [(PollFailure(STOPPED, "shutting down"), None)] * len(requests)
            self.http_calls += len(requests)
            self._metrics.inc("http_requests_total", float(len(requests)))
            try:
                outcomes = await self._hooks.execute(requests)
            except Exception as exc:  # the hook broke as a whole: every call counts as failed
                failure = PollFailure("transport_error", f"{type(exc).__name__}: {exc}")
                return [(failure, None)] * len(requests)
        return list(outcomes)

    def _deliver_members(
        self, members: list[tuple[Poller[T], Prepared[Any, Any]]], shared: _Shared
    ) -> None:
        """Hand the response to every member; only deliveries that must wait get a task."""
        for poller, prepared in members:
            if shared.error is not None:
                self._finish(poller, shared.error, shared.at)
                continue
            try:
                outcome = self._hooks.deliver(poller.target, prepared, shared.response)
            except PollFailure as failure:
                self._finish(poller, failure, self._clock())
                continue
            except Exception as exc:
                log.exception("delivering a response failed")
                self._finish(poller, PollFailure("internal_error", str(exc)), self._clock())
                continue
            if isinstance(outcome, asyncio.Future):
                # A future is finished from its callback: no task per poll (see PollHooks).
                self._waiting.add(outcome)
                outcome.add_done_callback(functools.partial(self._delivered, poller, shared))
            elif inspect.isawaitable(outcome):
                self._spawn(self._deliver_later(poller, outcome, shared))
            else:
                self._finish(poller, None, shared.at, outcome)

    def _delivered(self, poller: Poller[T], shared: _Shared, outcome: asyncio.Future[str]) -> None:
        """:meth:`_deliver_later` for a delivery that answered with a future."""
        self._waiting.discard(outcome)
        if outcome.cancelled():
            poller.in_flight = False
            return
        error = outcome.exception()
        if error is None:
            self._finish(poller, None, shared.at, outcome.result())
        elif isinstance(error, PollFailure):
            self._finish(poller, error, self._clock())
        else:
            log.error("delivering a response failed", exc_info=error)
            self._finish(poller, PollFailure("internal_error", str(error)), self._clock())

    async def _deliver_later(
        self, poller: Poller[T], outcome: Awaitable[str], shared: _Shared
    ) -> None:
        try:
            result = await outcome
        except asyncio.CancelledError:
            poller.in_flight = False
            raise
        except PollFailure as failure:
            self._finish(poller, failure, self._clock())
            return
        except Exception as exc:
            log.exception("delivering a response failed")
            self._finish(poller, PollFailure("internal_error", str(exc)), self._clock())
            return
        self._finish(poller, None, shared.at, result)

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
            self._count(outcome)
            next_due = next_slot(at, poller.interval, now)
        else:
            poller.failures += 1
            poller.last_outcome = failure.outcome
            self._count(failure.outcome)
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

    def _count(self, outcome: str) -> None:
        series = self._poll_series.get(outcome)
        if series is None:
            series = self._poll_series[outcome] = self._metrics.series(
                "polls_total", outcome=outcome
            )
        series.inc()

    def _set_request_key(self, poller: Poller[T], key: Hashable | None) -> None:
        old = poller.request_key
        if old == key:
            return
        if old is not None:
            left = self._key_counts.get(old, 1) - 1
            if left > 0:
                self._key_counts[old] = left
            else:
                self._key_counts.pop(old, None)
                self._unproven.discard(old)
        if key is not None:
            count = self._key_counts.get(key, 0)
            if not count:
                self._unproven.add(key)  # a new request: not known to be quick yet
            self._key_counts[key] = count + 1
        poller.request_key = key

    def _abandon(self, members: list[tuple[Poller[T], Prepared[Any, Any]]]) -> None:
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
