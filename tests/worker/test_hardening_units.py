"""Hardening building blocks: message size, key reuse, retried duplicates, the total request
deadline (over a real local socket) and the slow-request queue of the scheduler."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from typing import Any

import grpc
import pytest

from connector.binding import BoundRequest
from connector.discovery import DefinitionRef, reuses_key
from connector.http import HttpClient, HttpTransportError
from connector.pipeline import message_size
from connector.publish import PublishOutcome, publish_message
from connector.scheduler import PollFailure, Prepared, Scheduler, SchedulerLimits
from tests.core.test_publish import ACTIVATION, run_with_gateway
from tests.worker.faults import Reply, scripted
from tests.worker.harness import until


def test_message_size_is_the_serialized_json() -> None:
    assert message_size({"a": "é"}) == len('{"a":"é"}'.encode())
    assert message_size({"blob": "x" * 5000}) > 5000


def test_key_reuse_needs_another_process_version_or_tenant() -> None:
    old = DefinitionRef(1, "order", 1, "<default>")
    assert not reuses_key(old, DefinitionRef(1, "order", 1, "<default>"))
    assert not reuses_key(old, DefinitionRef(1, "", None, None))  # from a waiting row
    assert reuses_key(old, DefinitionRef(1, "invoice", 1, "<default>"))
    assert reuses_key(old, DefinitionRef(1, "order", 2, "<default>"))
    assert reuses_key(old, DefinitionRef(1, "order", 1, "other"))


def test_duplicate_after_a_failed_attempt_is_our_own_message() -> None:
    script = [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ALREADY_EXISTS]
    outcome, gateway = run_with_gateway(
        script, lambda c: publish_message(c, ACTIVATION, initial_backoff_seconds=0.01)
    )
    assert outcome is PublishOutcome.RETRIED_DUPLICATE
    assert len(gateway.requests) == 2


def test_trickling_body_is_cut_at_the_total_deadline() -> None:
    with scripted() as server:
        server.route("/t", lambda n: Reply({"pad": "y" * 500}, trickle=0.2))
        request = BoundRequest("GET", server.url + "/t", connect_timeout=0.5, read_timeout=1.0)
        started = time.monotonic()
        with HttpClient() as client, pytest.raises(HttpTransportError) as caught:
            client.execute(request)
        # Each byte came well within the read timeout; the whole took over 1.5 s.
        assert 1.5 <= time.monotonic() - started < 5
        assert "total timeout" in str(caught.value)


class SlowHooks:
    """Requests named ``slow*`` take 1.5 s, others 10 ms (in threads, like the worker)."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, str]] = []

    async def prepare(self, targets: Sequence[str]) -> Sequence[Prepared | PollFailure]:
        return [Prepared(t, "one-host", t, None) for t in targets]

    async def execute(self, requests: Sequence[Any]) -> Sequence[tuple[Any, float | None]]:
        return await asyncio.to_thread(self._run, list(requests))

    def _run(self, requests: list[str]) -> list[tuple[Any, float | None]]:
        out: list[tuple[Any, float | None]] = []
        for request in requests:
            self.calls.append((time.monotonic(), request))
            seconds = 1.5 if request.startswith("slow") else 0.01
            time.sleep(seconds)  # the endpoint's answer time
            out.append(("ok", seconds))
        return out

    def deliver(self, target: str, prepared: Prepared, response: Any) -> str:
        return "not_met"


@pytest.mark.anyio
async def test_a_slow_request_moves_to_its_own_queue() -> None:
    hooks = SlowHooks()
    limits = SchedulerLimits(max_concurrency=4, max_per_host=2, batch_window=0.01)
    scheduler: Scheduler[str] = Scheduler(hooks, interval_of=lambda t: 0.1, limits=limits)
    scheduler.sync({"slow": "slow", "quick": "quick"})
    runner = asyncio.ensure_future(scheduler.run())
    try:
        await asyncio.to_thread(
            until, lambda: sum(r == "slow" for _, r in hooks.calls) >= 2, 20, "two slow calls"
        )
        mark = time.monotonic()
        await asyncio.to_thread(until, lambda: time.monotonic() - mark > 2, 5, "measuring")
        quick = sorted(at for at, r in hooks.calls if r == "quick" and at >= mark)
        worst = max(b - a for a, b in itertools.pairwise(quick))
        assert len(quick) >= 8 and worst < 0.8, f"quick request waited {worst:.2f}s"
    finally:
        scheduler.stop()
        await scheduler.drain(5)
        runner.cancel()
