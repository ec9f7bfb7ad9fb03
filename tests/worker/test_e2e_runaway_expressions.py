"""End to end: a runaway expression in one element never stalls the others nor the worker.

The worker evaluates response expressions in its FEEL threads with a time budget
(``connector.elements.EXPRESSION_BUDGET_SECONDS``); an element whose condition loops or
backtracks for ever fails that poll with a clear error, logged once for the element,
while a normal element beside it keeps correlating on schedule and ``/health/live``
keeps answering at once.
"""

from __future__ import annotations

import time

from connector.devengine.server import DevEngine
from tests.worker.bpmn_builder import catch_process, polling_properties
from tests.worker.harness import Endpoint, WorkerProcess, until

#: A loop far longer than the budget (feel-scala would run it; we stop it at the deadline).
LOOP = "=some x in 1..1000000000 satisfies x < 0"
#: Catastrophic backtracking on the response text (stopped by the regex time limit).
BACKTRACK = '=matches(body.text, "^(a|aa)+$")'


def _state(dev: DevEngine, key: int) -> str:
    return dev.engine.process_instances(key=key)[0].state


def _start(dev: DevEngine, process_id: str, variables: dict[str, object]) -> int:
    return dev.engine.create_process_instance(process_id, variables=variables).process_instance_key


def test_runaway_condition_beside_a_normal_element(dev: DevEngine, endpoint: Endpoint) -> None:
    slow = polling_properties(endpoint.url + "/slow", interval="PT0.1S", condition=LOOP)
    regex = polling_properties(endpoint.url + "/regex", interval="PT0.1S", condition=BACKTRACK)
    fast = polling_properties(endpoint.url + "/fast", interval="PT0.2S")
    dev.engine.deploy(
        [
            ("slow.bpmn", catch_process("slow", slow).encode()),
            ("regex.bpmn", catch_process("regex", regex).encode()),
            ("fast.bpmn", catch_process("fast", fast).encode()),
        ]
    )
    endpoint.set("/slow", {"id": "s", "status": "waiting"})
    endpoint.set("/regex", {"id": "r", "status": "waiting", "text": "a" * 64 + "b"})
    endpoint.set("/fast", {"id": "f", "status": "waiting"})
    slow_keys = [_start(dev, "slow", {"id": "s"}) for _ in range(3)]
    regex_key = _start(dev, "regex", {"id": "r"})
    worker = WorkerProcess(dev.grpc_address, dev.rest_url)
    try:
        # the runaway element is being evaluated (and stopped) before the normal one is needed
        budget = worker.wait_log(
            lambda r: "time budget" in str(r.get("message", "")) + str(r.get("reason", "")),
            timeout=30,
        )
        assert "activationCondition" in str(budget)
        fast_key = _start(dev, "fast", {"id": "f"})
        until(lambda: len(endpoint.hits_for("/fast")) >= 1, timeout=15, what="fast polled")

        # health answers at once while the runaway evaluations keep running
        latencies = []
        for _ in range(10):
            started = time.monotonic()
            assert worker.get("/health/live").status_code == 200
            latencies.append(time.monotonic() - started)
        assert max(latencies) < 1.0, latencies

        # the normal element correlates within a few of its intervals
        endpoint.set("/fast", {"id": "f", "status": "done"})
        changed = time.monotonic()
        until(lambda: _state(dev, fast_key) == "COMPLETED", timeout=15, what="fast correlated")
        took = time.monotonic() - changed
        assert took < 8.0, took  # a few 0.2 s intervals, with room for a loaded machine

        # the runaway instances are still waiting, their polls failing with a clear error
        assert all(_state(dev, k) == "ACTIVE" for k in [*slow_keys, regex_key])

        def slow_errors() -> set[str]:
            return {
                p["lastError"] or ""
                for e in worker.inbound()["elements"]
                if e["processDefinitionId"] == "slow"
                for p in e["pollers"]
            }

        until(
            lambda: all("time budget" in e for e in slow_errors()),
            timeout=30,
            what="every runaway instance failing with the budget error",
        )
        # the element-level warning is logged once, however many instances and polls hit it
        warnings = [
            r
            for r in worker.logs()
            if "time budget" in str(r.get("message", "")) and "slow" in str(r.get("message", ""))
        ]
        assert len(warnings) == 1, warnings
    finally:
        assert worker.stop() == 0
