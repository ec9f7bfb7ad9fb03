"""Scheduler rules with fake hooks: timing, coalescing, backoff, limits, sharding, removal."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from connector.scheduler import (
    HostLatency,
    PollFailure,
    Prepared,
    Scheduler,
    SchedulerLimits,
    backoff_delay,
    lanes_for,
    next_slot,
    owns,
    shard_of,
)

pytestmark = pytest.mark.anyio


@dataclass(frozen=True)
class Target:
    name: str
    request: str
    host: str = "a"
    interval: float = 0.1


@dataclass
class FakeHooks:
    """Records every call; ``behaviour`` decides what one execute does."""

    behaviour: Callable[[str], Awaitable[Any]] | None = None
    executes: list[tuple[float, str]] = field(default_factory=list)
    delivered: list[tuple[float, str]] = field(default_factory=list)
    prepare_fail: set[str] = field(default_factory=set)

    async def prepare(self, targets: Sequence[Target]) -> Sequence[Prepared | PollFailure]:
        out: list[Prepared | PollFailure] = []
        for t in targets:
            if t.name in self.prepare_fail:
                out.append(PollFailure("binding_error", f"cannot bind {t.name}"))
            else:
                out.append(Prepared(t.request, t.host, t.request, None))
        return out

    async def execute(self, requests: Sequence[Any]) -> Sequence[tuple[Any, float | None]]:
        outcomes: list[tuple[Any, float | None]] = []
        for request in requests:  # one after the other, as the worker's thread does
            self.executes.append((time.monotonic(), request))
            try:
                if self.behaviour is not None:
                    outcomes.append((await self.behaviour(request), 0.001))
                else:
                    outcomes.append((f"response:{request}", 0.001))
            except PollFailure as failure:
                outcomes.append((failure, 0.001))
        return outcomes

    async def deliver(self, target: Target, prepared: Prepared, response: Any) -> str:
        self.delivered.append((time.monotonic(), target.name))
        return "not_met"


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached before the deadline")
        await asyncio.sleep(0.005)


def make(hooks: FakeHooks, **limits: Any) -> Scheduler[Target]:
    return Scheduler(
        hooks,
        interval_of=lambda t: t.interval,
        limits=SchedulerLimits(**limits),
    )


async def running(scheduler: Scheduler[Target]) -> asyncio.Task[None]:
    return asyncio.ensure_future(scheduler.run())


async def finish(scheduler: Scheduler[Target], task: asyncio.Task[None]) -> None:
    scheduler.stop()
    await task
    await scheduler.drain(1.0)


def test_backoff_delay_grows_caps_and_honours_retry_after() -> None:
    assert backoff_delay(1.0, 1, 100) == 2.0
    assert backoff_delay(1.0, 3, 100) == 8.0
    assert backoff_delay(1.0, 20, 100) == 100
    assert backoff_delay(50.0, 5, 10) == 50.0  # never below the interval
    assert backoff_delay(1.0, 1, 100, retry_after=30) == 30
    assert backoff_delay(1.0, 1, 100, retry_after=10**9) == 3600


def test_next_slot_keeps_the_phase() -> None:
    assert next_slot(10.0, 1.0, 10.2) == 11.0
    assert next_slot(10.0, 1.0, 13.5) == 14.0  # overran: skip to the next slot of the phase
    assert next_slot(10.0, 1.0, 9.0) == 11.0  # never earlier than one interval


def test_shards_are_stable_disjoint_and_balanced() -> None:
    keys = [2251799813685249 + n for n in range(4000)]
    shards = [[k for k in keys if owns(k, i, 3)] for i in range(3)]
    assert sum(len(s) for s in shards) == len(keys)
    assert all(1100 < len(s) < 1550 for s in shards)
    assert [shard_of(k, 3) for k in keys[:50]] == [shard_of(k, 3) for k in keys[:50]]
    assert all(owns(k, 0, 1) for k in keys[:10])


async def test_first_poll_is_immediate_then_every_interval() -> None:
    hooks = FakeHooks()
    scheduler = make(hooks)
    task = await running(scheduler)
    started = time.monotonic()
    scheduler.sync({"t": Target("t", "r1", interval=0.1)})
    await until(lambda: len(hooks.executes) >= 4)
    await finish(scheduler, task)
    times = [t for t, _ in hooks.executes]
    assert times[0] - started < 0.05
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(gap >= 0.09 for gap in gaps), gaps
    assert all(gap < 0.3 for gap in gaps), gaps


async def test_identical_requests_share_one_call_per_interval() -> None:
    hooks = FakeHooks()
    scheduler = make(hooks)
    task = await running(scheduler)
    # Added at different times: they must still settle on one call per interval.
    scheduler.sync({f"a{i}": Target(f"a{i}", "same", interval=0.2) for i in range(20)})
    await asyncio.sleep(0.05)
    scheduler.sync({f"a{i}": Target(f"a{i}", "same", interval=0.2) for i in range(40)})
    await until(lambda: sum(1 for _, n in hooks.delivered if n == "a39") >= 4)
    await finish(scheduler, task)
    calls = len(hooks.executes)
    elapsed = hooks.executes[-1][0] - hooks.executes[0][0]
    assert calls <= elapsed / 0.2 + 2, (calls, elapsed)
    assert len(hooks.delivered) >= 40 * 3


async def test_different_requests_are_not_coalesced_nor_kept() -> None:
    hooks = FakeHooks()
    scheduler = make(hooks)
    task = await running(scheduler)
    scheduler.sync({"x": Target("x", "r1", interval=1), "y": Target("y", "r2", interval=1)})
    await until(lambda: len(hooks.delivered) >= 2)
    await finish(scheduler, task)
    assert sorted(r for _, r in hooks.executes) == ["r1", "r2"]
    assert scheduler._shared == {}  # nobody else could reuse them: not kept in memory


async def test_a_new_poller_joins_the_phase_of_an_identical_request() -> None:
    hooks = FakeHooks()
    scheduler = make(hooks)
    task = await running(scheduler)
    scheduler.sync({"a": Target("a", "same", interval=0.2)})
    await until(lambda: len(hooks.executes) >= 2)
    scheduler.sync({"a": Target("a", "same", interval=0.2), "b": Target("b", "same", interval=0.2)})
    await until(lambda: sum(1 for _, n in hooks.delivered if n == "b") >= 4)
    start = len(hooks.executes)
    await until(lambda: sum(1 for _, n in hooks.delivered if n == "b") >= 9)
    await finish(scheduler, task)
    # five more polls of each instance, about five calls (not ten) once aligned
    assert len(hooks.executes) - start <= 6


async def test_failures_back_off_exponentially_and_reset_on_success() -> None:
    state = {"fail": True}

    async def behaviour(request: str) -> str:
        if state["fail"]:
            raise PollFailure("http_error", "HTTP 500")
        return "ok"

    hooks = FakeHooks(behaviour=behaviour)
    scheduler = make(hooks, max_backoff=0.32)
    task = await running(scheduler)
    scheduler.sync({"t": Target("t", "r", interval=0.02)})
    await until(lambda: len(hooks.executes) >= 5)
    poller = scheduler.get("t")
    assert poller is not None and poller.failures >= 4
    times = [t for t, _ in hooks.executes]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[0] >= 0.035  # 2 x interval
    assert gaps[1] >= 0.075  # 4 x interval
    assert gaps[2] >= 0.15  # 8 x interval
    state["fail"] = False
    await until(lambda: poller.failures == 0, timeout=3)
    count = len(hooks.executes)
    await until(lambda: len(hooks.executes) >= count + 3)
    recent = [t for t, _ in hooks.executes[-3:]]
    assert recent[-1] - recent[0] < 0.2  # back to the normal interval
    await finish(scheduler, task)
    assert poller.last_error is None


async def test_retry_after_is_honoured() -> None:
    async def behaviour(request: str) -> str:
        raise PollFailure("http_error", "HTTP 429", retry_after=0.4)

    hooks = FakeHooks(behaviour=behaviour)
    scheduler = make(hooks)
    task = await running(scheduler)
    scheduler.sync({"t": Target("t", "r", interval=0.01)})
    await until(lambda: len(hooks.executes) >= 2, timeout=3)
    await finish(scheduler, task)
    assert hooks.executes[1][0] - hooks.executes[0][0] >= 0.39


async def test_prepare_failure_is_per_target() -> None:
    hooks = FakeHooks(prepare_fail={"bad"})
    scheduler = make(hooks)
    task = await running(scheduler)
    scheduler.sync({"bad": Target("bad", "r1", interval=0.05), "ok": Target("ok", "r2")})
    await until(lambda: any(n == "ok" for _, n in hooks.delivered))
    await until(lambda: (p := scheduler.get("bad")) is not None and p.failures >= 1)
    await finish(scheduler, task)
    bad = scheduler.get("bad")
    assert bad is not None and bad.last_outcome == "binding_error"
    assert bad.last_error == "cannot bind bad"
    assert all(r != "r1" for _, r in hooks.executes)


async def test_slow_host_does_not_delay_others_and_limits_hold() -> None:
    release = asyncio.Event()
    active = {"slow": 0, "max_slow": 0, "all": 0, "max_all": 0}

    async def behaviour(request: str) -> str:
        active["all"] += 1
        active["max_all"] = max(active["max_all"], active["all"])
        try:
            if request.startswith("slow"):
                active["slow"] += 1
                active["max_slow"] = max(active["max_slow"], active["slow"])
                try:
                    await release.wait()
                finally:
                    active["slow"] -= 1
            return "ok"
        finally:
            active["all"] -= 1

    hooks = FakeHooks(behaviour=behaviour)
    scheduler = make(hooks, max_concurrency=4, max_per_host=2)
    task = await running(scheduler)
    targets = {f"s{i}": Target(f"s{i}", f"slow{i}", host="slow", interval=10) for i in range(6)}
    targets.update(
        {f"f{i}": Target(f"f{i}", f"fast{i}", host="fast", interval=10) for i in range(6)}
    )
    scheduler.sync(targets)
    await until(lambda: sum(1 for _, n in hooks.delivered if n.startswith("f")) == 6)
    assert active["max_slow"] == 2
    assert active["max_all"] <= 4
    release.set()
    await until(lambda: len(hooks.delivered) == 12)
    await finish(scheduler, task)


async def test_removed_pollers_stop_polling() -> None:
    hooks = FakeHooks()
    scheduler = make(hooks)
    task = await running(scheduler)
    scheduler.sync({"a": Target("a", "ra", interval=0.03), "b": Target("b", "rb", interval=0.03)})
    await until(lambda: sum(1 for _, r in hooks.executes if r == "rb") >= 2)
    added, removed = scheduler.sync({"a": Target("a", "ra", interval=0.03)})
    assert added == [] and [t.name for t in removed] == ["b"]
    count_b = sum(1 for _, r in hooks.executes if r == "rb")
    count_a = sum(1 for _, r in hooks.executes if r == "ra")
    await until(lambda: sum(1 for _, r in hooks.executes if r == "ra") >= count_a + 3)
    await finish(scheduler, task)
    assert sum(1 for _, r in hooks.executes if r == "rb") <= count_b + 1  # at most one in flight
    assert len(scheduler) == 1


async def test_drain_waits_for_in_flight_work() -> None:
    release = asyncio.Event()
    finished: list[str] = []

    async def behaviour(request: str) -> str:
        await release.wait()
        finished.append(request)
        return "ok"

    hooks = FakeHooks(behaviour=behaviour)
    scheduler = make(hooks)
    task = await running(scheduler)
    scheduler.sync({"a": Target("a", "ra", interval=5)})
    await until(lambda: len(hooks.executes) == 1)
    scheduler.stop()
    await task
    asyncio.get_running_loop().call_later(0.05, release.set)
    assert await scheduler.drain(2.0) is True
    assert finished == ["ra"]
    assert [n for _, n in hooks.delivered] == ["a"]


@pytest.mark.parametrize("count", [1, 3])
def test_owns_partition(count: int) -> None:
    keys = range(1000, 1300)
    owners = [[i for i in range(count) if owns(k, i, count)] for k in keys]
    assert all(len(o) == 1 for o in owners)


# ---------------------------------------------------------------------------- lanes


def test_lanes_follow_the_host_latency() -> None:
    limits = SchedulerLimits(max_per_host=8, lane_budget=0.05, chunk_size=16, min_lanes=1)
    assert lanes_for(0, None, limits) == 0 and lanes_for(1, 0.5, limits) == 1
    assert lanes_for(40, None, limits) == 8  # unknown host: as many as allowed
    assert lanes_for(40, 0.001, limits) == 1  # 40 fast calls fit one lane's budget
    assert lanes_for(40, 0.5, limits) == 8  # a slow host gets every lane it may have
    assert lanes_for(3, 0.5, limits) == 3  # never more lanes than calls
    # CPU-bound: no more lanes than keep the process busy while calls wait (Little's law)
    assert lanes_for(1000, 0.001, limits, cpu_per_call=0.001) == 1
    assert lanes_for(1000, 0.004, limits, cpu_per_call=0.001) == 4
    assert lanes_for(1000, 0.5, limits, cpu_per_call=0.001) == 8


def test_host_latency_is_the_fastest_recent_call() -> None:
    latency = HostLatency(0.0, window=5.0)
    assert latency.estimate() is None
    for seconds in (0.02, 0.001, 0.3):  # slow calls of a contended process do not count
        latency.add(seconds, 1.0)
    assert latency.estimate() == 0.001
    latency.add(0.4, 6.0)  # next window: the previous one still counts
    assert latency.estimate() == 0.001
    latency.add(0.5, 11.0)  # two windows of slow calls: the host is slow now
    assert latency.estimate() == 0.4


async def test_a_fast_host_is_served_by_one_lane_once_its_latency_is_known() -> None:
    active = {"now": 0, "max": 0}

    async def behaviour(request: str) -> str:
        active["now"] += 1
        active["max"] = max(active["max"], active["now"])
        await asyncio.sleep(0)  # let any other lane run its calls meanwhile
        active["now"] -= 1
        return "ok"

    hooks = FakeHooks(behaviour=behaviour)
    scheduler = make(hooks, max_per_host=8, max_concurrency=8)
    task = await running(scheduler)
    scheduler.sync({f"t{i}": Target(f"t{i}", f"r{i}", interval=0.2) for i in range(40)})
    await until(lambda: len(hooks.delivered) >= 40)
    assert active["max"] > 1  # first round: the latency is unknown, every lane is used
    active["max"] = 0
    await until(lambda: len(hooks.delivered) >= 160)
    await finish(scheduler, task)
    assert active["max"] == 1  # reported 1 ms per call: one lane has the budget for 40


@dataclass
class SyncDeliverHooks(FakeHooks):
    """deliver answers at once, except for targets whose name starts with "pub"."""

    async def publish(self, name: str) -> str:
        await asyncio.sleep(0)
        self.delivered.append((time.monotonic(), name))
        return "activated"

    def deliver(self, target: Target, prepared: Prepared, response: Any) -> Any:  # type: ignore[override]
        if target.name.startswith("pub"):
            return self.publish(target.name)
        if target.name.startswith("bad"):
            raise PollFailure("correlation_error", "no key")
        self.delivered.append((time.monotonic(), target.name))
        return "not_met"


async def test_deliver_may_answer_at_once_or_with_an_awaitable() -> None:
    hooks = SyncDeliverHooks()
    scheduler = make(hooks)
    task = await running(scheduler)
    scheduler.sync(
        {n: Target(n, f"r-{n}", interval=0.05) for n in ("plain", "pub", "bad")},
    )
    await until(lambda: {n for _, n in hooks.delivered} == {"plain", "pub"})
    await until(lambda: getattr(scheduler.get("bad"), "failures", 0) >= 1)
    await finish(scheduler, task)
    plain, pub = scheduler.get("plain"), scheduler.get("pub")
    assert plain is not None and plain.last_outcome == "not_met"
    assert pub is not None and pub.last_outcome == "activated" and pub.failures == 0
    bad = scheduler.get("bad")
    assert bad is not None and bad.last_outcome == "correlation_error"


@dataclass
class FutureDeliverHooks(FakeHooks):
    """deliver answers with a future, settled by the test (as the worker's evaluation)."""

    pending: dict[str, asyncio.Future[str]] = field(default_factory=dict)

    def deliver(self, target: Target, prepared: Prepared, response: Any) -> Any:  # type: ignore[override]
        self.delivered.append((time.monotonic(), target.name))
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.pending[target.name] = future
        return future


async def test_a_delivery_answered_with_a_future_ends_when_it_is_settled() -> None:
    hooks = FutureDeliverHooks()
    scheduler = make(hooks)
    task = await running(scheduler)
    scheduler.sync({n: Target(n, f"r-{n}", interval=0.05) for n in ("ok", "failed", "broken")})
    await until(lambda: len(hooks.pending) == 3)
    polls = {n: len([d for d in hooks.delivered if d[1] == n]) for n in hooks.pending}
    assert polls == {"ok": 1, "failed": 1, "broken": 1}  # in flight: no second poll
    hooks.pending.pop("ok").set_result("activated")
    hooks.pending.pop("failed").set_exception(PollFailure("publish_error", "refused"))
    hooks.pending.pop("broken").set_exception(RuntimeError("a bug"))
    await until(lambda: all(getattr(scheduler.get(n), "polls", 0) >= 1 for n in polls))
    ok, failed, broken = (scheduler.get(n) for n in ("ok", "failed", "broken"))
    assert ok is not None and (ok.last_outcome, ok.failures) == ("activated", 0)
    assert failed is not None and (failed.last_outcome, failed.failures) == ("publish_error", 1)
    assert broken is not None and broken.last_outcome == "internal_error"
    for future in hooks.pending.values():
        future.set_result("not_met")
    await finish(scheduler, task)


async def test_drain_waits_for_a_future_delivery_and_cancels_it_at_the_deadline() -> None:
    hooks = FutureDeliverHooks()
    scheduler = make(hooks)
    task = await running(scheduler)
    scheduler.sync({"slow": Target("slow", "r-slow")})
    await until(lambda: "slow" in hooks.pending)
    scheduler.stop()
    await task
    assert await scheduler.drain(0.05) is False  # never settled: cancelled at the deadline
    assert hooks.pending["slow"].cancelled()
    await asyncio.sleep(0)  # the future's callbacks run in the next loop iteration
    slow = scheduler.get("slow")
    assert slow is not None and not slow.in_flight and slow.polls == 0


async def test_only_requests_not_known_to_be_quick_are_listed() -> None:
    # Memory per waiting instance: a steady state of quick requests lists none of them.
    targets = {f"t{n}": Target(f"t{n}", f"r-{n}", interval=0.05) for n in range(20)}
    for slow_call, listed in ((1.0, set()), (0.0005, {f"r-{n}" for n in range(20)})):
        scheduler = make(FakeHooks(), slow_call=slow_call)  # FakeHooks: 1 ms per call
        task = await running(scheduler)
        scheduler.sync(targets)
        await until(lambda s=scheduler: all(getattr(s.get(n), "polls", 0) >= 2 for n in targets))
        assert scheduler._unproven == listed
        scheduler.sync({})
        assert scheduler._unproven == set()  # no poller makes them any more
        await finish(scheduler, task)
