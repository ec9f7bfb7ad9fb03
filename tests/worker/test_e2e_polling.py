"""End to end through the CLI: coalescing, Retry-After, per-instance binding errors."""

from __future__ import annotations

from connector.devengine.server import DevEngine
from tests.helpers.bpmn import catch_process, polling_properties
from tests.worker.harness import Endpoint, WorkerProcess, until


def start(dev: DevEngine, process_id: str, variables: dict[str, object]) -> int:
    return dev.engine.create_process_instance(process_id, variables=variables).process_instance_key


def state(dev: DevEngine, key: int) -> str:
    return dev.engine.process_instances(key=key)[0].state


def test_instances_sharing_one_endpoint_share_one_call(dev: DevEngine, endpoint: Endpoint) -> None:
    # One ticket list for everybody; each instance looks for its own ticket in it.
    props = polling_properties(
        endpoint.url + "/tickets",
        condition="=list contains(body.closed, ticket)",
        correlation="=ticket",
        result=None,
    )
    dev.engine.deploy(
        [("t.bpmn", catch_process("tickets", props, subscription_key="=ticket").encode())]
    )
    endpoint.set("/tickets", {"closed": []})
    keys = {f"T-{n}": start(dev, "tickets", {"ticket": f"T-{n}"}) for n in range(25)}
    worker = WorkerProcess(dev.grpc_address, dev.rest_url)
    try:
        until(lambda: len(endpoint.hits_for("/tickets")) >= 2, what="shared polls")
        first = endpoint.hits_for("/tickets")[-1].at
        until(lambda: len(endpoint.hits_for("/tickets")) >= 8, timeout=15, what="more polls")
        hits = [h.at for h in endpoint.hits_for("/tickets") if h.at >= first]
        # 25 instances at PT0.5S: one call per interval, not 25.
        assert len(hits) - 1 <= (hits[-1] - first) / 0.5 + 1.5
        endpoint.set("/tickets", {"closed": ["T-3", "T-17"]})
        until(lambda: state(dev, keys["T-3"]) == state(dev, keys["T-17"]) == "COMPLETED")
        assert sum(state(dev, k) == "ACTIVE" for k in keys.values()) == 23
        until(lambda: worker.inbound()["pollers"] == 23, what="correlated pollers removed")
    finally:
        assert worker.stop() == 0


def test_retry_after_and_backoff_on_429(dev: DevEngine, endpoint: Endpoint) -> None:
    props = polling_properties('=base + "/busy"', interval="PT0.2S")
    dev.engine.deploy([("b.bpmn", catch_process("busy", props).encode())])
    endpoint.set("/busy", {"error": "slow down"}, status=429, headers={"Retry-After": "2"})
    start(dev, "busy", {"base": endpoint.url, "id": "b"})
    worker = WorkerProcess(dev.grpc_address, dev.rest_url)
    try:
        until(lambda: len(endpoint.hits_for("/busy")) >= 2, timeout=10, what="a retry")
        first, second = endpoint.hits_for("/busy")[:2]
        assert second.at - first.at >= 1.9  # honoured, though the interval is 0.2 s
        record = worker.wait_log(lambda r: r["message"] == "poll failed")
        assert record["outcome"] == "http_error" and "429" in record["reason"]
        assert len(worker.logs("poll failed")) == 1  # logged once, not per retry
        endpoint.set("/busy", {"id": "b", "status": "waiting"})
        worker.wait_log(lambda r: r["message"] == "poller recovered", timeout=10)
        (element,) = worker.inbound()["elements"]
        (poller,) = element["pollers"]
        assert poller["lastStatus"] == "not_met" and poller["lastError"] is None
    finally:
        assert worker.stop() == 0


def test_binding_error_stays_with_its_instance(dev: DevEngine, endpoint: Endpoint) -> None:
    props = polling_properties('=base + "/items/" + id')
    dev.engine.deploy([("e.bpmn", catch_process("partial", props).encode())])
    endpoint.set("/items/ok", {"id": "ok", "status": "done"})
    broken = start(dev, "partial", {"id": "nobase"})  # no "base": the URL cannot be bound
    good = start(dev, "partial", {"base": endpoint.url, "id": "ok"})
    worker = WorkerProcess(dev.grpc_address, dev.rest_url)
    try:
        until(lambda: state(dev, good) == "COMPLETED", what="the good instance correlated")
        record = worker.wait_log(
            lambda r: r["message"] == "poll failed" and r["process_instance_key"] == str(broken)
        )
        assert record["outcome"] == "binding_error" and "url" in record["reason"]
        assert state(dev, broken) == "ACTIVE"
    finally:
        assert worker.stop() == 0
