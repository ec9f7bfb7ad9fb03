"""End to end through the CLI: ``http-polling-connector run`` against the development engine.

Every test starts the worker as a subprocess, a local HTTP endpoint and the development
engine on free ports, and synchronises only by polling state until a deadline.
"""

from __future__ import annotations

import json
import time
from typing import Any

from connector.devengine.server import DevEngine
from tests.helpers.bpmn import boundary_process, catch_process, polling_properties
from tests.worker.harness import Endpoint, WorkerProcess, until

URL = '=base + "/items/" + id'


def deploy(dev: DevEngine, xml: str, name: str = "process.bpmn") -> int:
    result = dev.engine.deploy([(name, xml.encode())])
    return result.processes[0].process_definition_key


def start(dev: DevEngine, process_id: str, endpoint: Endpoint, item: str) -> int:
    info = dev.engine.create_process_instance(
        process_id, variables={"base": endpoint.url, "id": item}
    )
    return info.process_instance_key


def state(dev: DevEngine, key: int) -> str:
    return dev.engine.process_instances(key=key)[0].state


def variables(dev: DevEngine, key: int) -> dict[str, Any]:
    return {v.name: json.loads(v.value) for v in dev.engine.variables(process_instance_key=key)}


def waiting_key(dev: DevEngine, process_instance_key: int) -> str:
    subs = dev.engine.message_subscriptions(process_instance_key=process_instance_key)
    return str(subs[0].element_instance_key)


def test_catch_event_correlates_to_the_right_instance(dev: DevEngine, endpoint: Endpoint) -> None:
    deploy(dev, catch_process("basic", polling_properties(URL)))
    endpoint.set("/items/a", {"id": "a", "status": "waiting"})
    endpoint.set("/items/b", {"id": "b", "status": "waiting"})
    worker = WorkerProcess(dev.grpc_address, dev.rest_url)
    try:
        a = start(dev, "basic", endpoint, "a")
        b = start(dev, "basic", endpoint, "b")
        a_key = waiting_key(dev, a)
        until(lambda: len(endpoint.hits_for("/items/a")) >= 2, what="repeated polls of a")
        assert state(dev, a) == "ACTIVE"

        endpoint.set("/items/a", {"id": "a", "status": "done"})
        until(lambda: state(dev, a) == "COMPLETED", what="instance a completed")
        assert variables(dev, a)["result"] == "done"
        assert state(dev, b) == "ACTIVE"
        until(lambda: a_key not in worker.poller_keys(), what="poller of a removed")
        assert worker.wait_log(
            lambda r: r["message"] == "correlated" and r["process_instance_key"] == str(a)
        )
        assert worker.wait_log(
            lambda r: r["message"] == "poller removed" and r["element_instance_key"] == a_key
        )

        endpoint.set("/items/b", {"id": "b", "status": "done"})
        until(lambda: state(dev, b) == "COMPLETED", what="instance b completed")
        assert worker.get("/health/ready").status_code == 200
        # The engine may complete b before the worker has read the publish's answer.
        until(
            lambda: "http_polling_correlations_total 2" in worker.get("/metrics").text,
            what="two correlations counted",
        )
        metrics = worker.get("/metrics").text
        assert 'http_polling_polls_total{outcome="not_met"}' in metrics
    finally:
        assert worker.stop() == 0
    assert worker.logs("worker stopped")


def test_cancelled_instance_loses_its_poller(dev: DevEngine, endpoint: Endpoint) -> None:
    deploy(dev, catch_process("cancel", polling_properties(URL)))
    endpoint.set("/items/gone", {"id": "gone", "status": "waiting"})
    endpoint.set("/items/stays", {"id": "stays", "status": "waiting"})
    worker = WorkerProcess(dev.grpc_address, dev.rest_url)
    try:
        gone = start(dev, "cancel", endpoint, "gone")
        start(dev, "cancel", endpoint, "stays")
        gone_key = waiting_key(dev, gone)
        until(lambda: gone_key in worker.poller_keys(), what="poller listed")
        until(lambda: endpoint.hits_for("/items/gone"), what="first poll")

        dev.engine.cancel_process_instance(gone)
        started = time.monotonic()
        until(lambda: gone_key not in worker.poller_keys(), timeout=5, what="poller removed")
        assert time.monotonic() - started < 2.0  # within a discovery interval or so
        hits = len(endpoint.hits_for("/items/gone"))
        control = len(endpoint.hits_for("/items/stays"))
        until(lambda: len(endpoint.hits_for("/items/stays")) >= control + 3, what="control polls")
        assert len(endpoint.hits_for("/items/gone")) <= hits + 1
    finally:
        assert worker.stop() == 0


def test_new_instance_is_polled_within_one_discovery_interval(
    dev: DevEngine, endpoint: Endpoint
) -> None:
    deploy(dev, catch_process("fresh", polling_properties(URL, interval="PT30S")))
    endpoint.set("/items/n", {"id": "n", "status": "waiting"})
    worker = WorkerProcess(dev.grpc_address, dev.rest_url, discovery=1.0)
    try:
        worker.wait_log(lambda r: r["message"] == "cluster REST API available")
        created = time.monotonic()
        start(dev, "fresh", endpoint, "n")
        hit = until(lambda: endpoint.hits_for("/items/n"), timeout=5, what="first poll")[0]
        assert hit.at - created <= 1.0 + 1.0  # one discovery interval, plus slack for load
    finally:
        assert worker.stop() == 0


def test_old_process_version_is_still_served(dev: DevEngine, endpoint: Endpoint) -> None:
    v1 = deploy(dev, catch_process("versioned", polling_properties('=base + "/v1/" + id')))
    old = start(dev, "versioned", endpoint, "x")
    v2 = deploy(dev, catch_process("versioned", polling_properties('=base + "/v2/" + id')))
    assert v1 != v2
    new = start(dev, "versioned", endpoint, "y")
    endpoint.set("/v1/x", {"id": "x", "status": "waiting"})
    endpoint.set("/v2/y", {"id": "y", "status": "waiting"})
    # Started after both deployments: a fresh worker rebuilds everything from the cluster.
    worker = WorkerProcess(dev.grpc_address, dev.rest_url)
    try:
        until(lambda: endpoint.hits_for("/v1/x") and endpoint.hits_for("/v2/y"), what="polls")
        assert not endpoint.hits_for("/v2/x")  # each instance polled with its own version
        # While both wait, both versions' elements are active (once nothing waits in v1 any
        # more, its element is deactivated, so this is checked before they complete).
        keys = {e["processDefinitionKey"] for e in worker.inbound()["elements"]}
        assert {str(v1), str(v2)} <= keys
        endpoint.set("/v1/x", {"id": "x", "status": "done"})
        endpoint.set("/v2/y", {"id": "y", "status": "done"})
        until(lambda: state(dev, old) == state(dev, new) == "COMPLETED", what="both completed")
    finally:
        assert worker.stop() == 0


def test_boundary_event_interrupts_the_service_task(dev: DevEngine, endpoint: Endpoint) -> None:
    deploy(dev, boundary_process("boundary", polling_properties(URL)))
    endpoint.set("/items/job", {"id": "job", "status": "waiting"})
    worker = WorkerProcess(dev.grpc_address, dev.rest_url)
    try:
        key = start(dev, "boundary", endpoint, "job")
        until(lambda: endpoint.hits_for("/items/job"), what="boundary polled")
        endpoint.set("/items/job", {"id": "job", "status": "done"})
        until(lambda: state(dev, key) == "COMPLETED", what="completed through the boundary")
        ends = {
            e.element_id: e.state
            for e in dev.engine.element_instances(process_instance_key=key)
            if e.element_id in ("Task", "EndCancelled", "EndNormal")
        }
        assert ends == {"Task": "TERMINATED", "EndCancelled": "COMPLETED"}
        assert variables(dev, key)["result"] == "done"
    finally:
        assert worker.stop() == 0


def test_replicas_split_instances_by_shard(dev: DevEngine, endpoint: Endpoint) -> None:
    deploy(dev, catch_process("sharded", polling_properties(URL, interval="PT30S")))
    keys = set()
    for n in range(12):
        endpoint.set(f"/items/s{n}", {"id": f"s{n}", "status": "waiting"})
        keys.add(waiting_key(dev, start(dev, "sharded", endpoint, f"s{n}")))
    first = WorkerProcess(
        dev.grpc_address, dev.rest_url, "--shard-count", "2", "--shard-index", "0"
    )
    second = WorkerProcess(
        dev.grpc_address, dev.rest_url, "--shard-count", "2", "--shard-index", "1"
    )
    try:
        until(
            lambda: first.poller_keys() | second.poller_keys() == keys, what="all instances owned"
        )
        one, two = first.poller_keys(), second.poller_keys()
        assert one and two and not one & two
        until(lambda: len(endpoint.hits) >= 12, what="every instance polled")
        assert sorted(h.path for h in endpoint.hits[:12]) == sorted(
            f"/items/s{n}" for n in range(12)
        )
    finally:
        assert first.stop() == 0
        assert second.stop() == 0


def test_worker_recovers_when_the_engine_restarts(endpoint: Endpoint) -> None:
    endpoint.set("/items/r", {"id": "r", "status": "waiting"})
    with DevEngine.run_in_thread("127.0.0.1") as dev:
        engine, grpc_port, rest_port = dev.engine, dev.grpc_port, dev.rest_port
        deploy(dev, catch_process("restart", polling_properties(URL)))
        key = start(dev, "restart", endpoint, "r")
        worker = WorkerProcess(dev.grpc_address, dev.rest_url)
        until(lambda: endpoint.hits_for("/items/r"), what="first poll")
    try:
        # Kept-alive connections may outlive the server for a few seconds: allow for that.
        worker.wait_log(
            lambda r: r["message"].startswith("cluster REST API unavailable"), timeout=30
        )
        polls = len(endpoint.hits_for("/items/r"))
        until(lambda: len(endpoint.hits_for("/items/r")) > polls, what="polling goes on")
        endpoint.set("/items/r", {"id": "r", "status": "done"})
        with DevEngine.run_in_thread("127.0.0.1", grpc_port, rest_port, engine=engine) as restarted:
            until(lambda: state(restarted, key) == "COMPLETED", timeout=20, what="correlated")
            assert len(worker.logs("cluster REST API available")) == 2
        unavailable = [r for r in worker.logs() if "unavailable" in r["message"]]
        assert len(unavailable) <= 2  # once per outage and interface, not once per poll
    finally:
        assert worker.stop() == 0
