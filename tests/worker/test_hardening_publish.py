"""Nothing observed is lost nor published twice: through the CLI, the dev engine and local
endpoints (issue 10, lost or wrong messages)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connector.devengine.server import DevEngine, DevEngineOptions
from tests.worker.bpmn_builder import catch_process, polling_properties
from tests.worker.faults import Reply, Scripted, rest_proxy, scripted
from tests.worker.harness import WorkerProcess, until


def start(dev: DevEngine, process_id: str, variables: dict[str, object]) -> int:
    return dev.engine.create_process_instance(process_id, variables=variables).process_instance_key


def state(dev: DevEngine, key: int) -> str:
    found = dev.engine.process_instances(key=key)
    return found[0].state if found else "NOT_VISIBLE_YET"


def metric(worker: WorkerProcess, name: str) -> float:
    for line in worker.get("/metrics").text.splitlines():
        if line.split(" ")[0].split("{")[0].endswith(name) and not line.startswith("#"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.fixture
def ep() -> Iterator[Scripted]:
    with scripted() as server:
        yield server


@pytest.fixture
def lagging() -> Iterator[DevEngine]:
    """A dev engine whose query API shows changes 3 s late (as Zeebe's exporters do)."""
    options = DevEngineOptions(query_visibility_delay_ms=3000)
    with DevEngine.run_in_thread("127.0.0.1", options=options) as engine:
        yield engine


def test_one_shot_activation_survives_a_gateway_outage(dev: DevEngine, ep: Scripted) -> None:
    # The endpoint reports the state on the first poll only.
    ep.route("/order", lambda n: Reply({"id": "o1", "status": "done" if n == 0 else "waiting"}))
    props = polling_properties(ep.url + "/order", interval="PT0.2S")
    dev.engine.deploy([("o.bpmn", catch_process("order", props).encode())])
    key = start(dev, "order", {"id": "o1"})
    dev.set_gateway_available(False)
    worker = WorkerProcess(dev.grpc_address, dev.rest_url)
    try:
        record = worker.wait_log(
            lambda r: r["message"] == "publish failed, keeping the activation and retrying", 30
        )
        assert record["element_id"] == "Wait"
        until(lambda: metric(worker, "publish_retries_total") >= 2, 30, "two publish retries")
        assert len(ep.hits("/order")) == 1  # kept, not re-polled
        assert state(dev, key) == "ACTIVE"
        dev.set_gateway_available(True)
        until(lambda: state(dev, key) == "COMPLETED", 30, "correlation after the outage")
        # the log line follows the publish answer: wait for it, then check it is the only one
        worker.wait_log(lambda r: r["message"] == "correlated", 30)
        (correlated,) = worker.logs("correlated")
        assert correlated["retried"] is True
        variables = {v.name: v.value for v in dev.engine.variables(process_instance_key=key)}
        assert variables.get("result") == '"done"'  # the kept activation's variables
    finally:
        dev.set_gateway_available(True)
        assert worker.stop() == 0


def test_kept_activation_is_dropped_when_the_instance_stops_waiting(
    dev: DevEngine, ep: Scripted
) -> None:
    ep.route("/gone", lambda n: Reply({"id": "g", "status": "done"}))
    props = polling_properties(ep.url + "/gone", interval="PT0.2S")
    dev.engine.deploy([("g.bpmn", catch_process("gone", props).encode())])
    key = start(dev, "gone", {"id": "g"})
    dev.set_gateway_available(False)
    worker = WorkerProcess(dev.grpc_address, dev.rest_url)
    try:
        worker.wait_log(
            lambda r: r["message"] == "publish failed, keeping the activation and retrying", 30
        )
        dev.engine.cancel_process_instance(key)  # the instance stops waiting meanwhile
        record = worker.wait_log(
            lambda r: r["message"] == "activation dropped: the instance no longer waits", 30
        )
        assert record["process_instance_key"] == str(key)
        dev.set_gateway_available(True)
        worker.wait_log(lambda r: r["message"] == "poller removed", 30)
        assert not worker.logs("correlated")
        assert len(ep.hits("/gone")) == 1
    finally:
        dev.set_gateway_available(True)
        assert worker.stop() == 0


def test_ttl_zero_is_published_once_while_still_listed(lagging: DevEngine, ep: Scripted) -> None:
    dev = lagging
    ep.route("/a", lambda n: Reply({"id": "X", "status": "done"}))
    ep.route("/b", lambda n: Reply({"id": "X", "status": "waiting"}))
    props = polling_properties('=base + "/" + which', interval="PT0.2S")
    props["messageTtl"] = "PT0S"
    dev.engine.deploy([("p.bpmn", catch_process("pay", props).encode())])
    a = start(dev, "pay", {"id": "X", "base": ep.url, "which": "a"})
    b = start(dev, "pay", {"id": "X", "base": ep.url, "which": "b"})
    worker = WorkerProcess(dev.grpc_address, dev.rest_url)
    try:
        worker.wait_log(lambda r: r["message"] == "correlated", 30)
        seen = len(ep.hits("/a"))
        # The query API still lists A as waiting for 3 s: it is polled, never published again.
        until(lambda: len(ep.hits("/a")) >= seen + 3, 30, "A polled while still listed")
        until(lambda: state(dev, a) == "COMPLETED", 30, "A completed")
        until(lambda: len(worker.poller_keys()) == 1, 30, "A's poller removed")
        assert state(dev, b) == "ACTIVE"  # no second message correlated B
        assert len(worker.logs("correlated")) == 1
        assert metric(worker, "correlations_total") == 1
    finally:
        assert worker.stop() == 0


def test_message_id_collision_is_reported_as_rejected_duplicate(
    dev: DevEngine, ep: Scripted
) -> None:
    ep.route("/s", lambda n: Reply({"id": "K", "status": "done"}))
    props = polling_properties(ep.url + "/s", interval="PT0.2S")
    props["messageIdExpression"] = '="same-id"'
    props["messageTtl"] = "PT1H"
    dev.engine.deploy([("c.bpmn", catch_process("collide", props).encode())])
    keys = [start(dev, "collide", {"id": "K"}) for _ in range(2)]
    worker = WorkerProcess(dev.grpc_address, dev.rest_url)
    try:
        record = worker.wait_log(lambda r: r["message"] == "message rejected as duplicate", 30)
        assert record["element_id"] == "Wait" and record["property"] == "messageIdExpression"
        assert record["message_id"] == "same-id"
        until(lambda: sorted(state(dev, k) for k in keys) == ["ACTIVE", "COMPLETED"], 30)
        # the log line follows the publish answer: wait for it, then check it is the only one
        worker.wait_log(lambda r: r["message"] == "correlated", 30)
        (correlated,) = worker.logs("correlated")
        assert "duplicate" not in correlated
        assert metric(worker, "duplicates_rejected_total") == 1
    finally:
        assert worker.stop() == 0


def test_oversized_variables_are_a_per_element_error(dev: DevEngine, ep: Scripted) -> None:
    ep.route("/big", lambda n: Reply({"id": "B", "status": "done", "blob": "x" * 5000}))
    props = polling_properties(ep.url + "/big", interval="PT0.2S", result="={blob: body.blob}")
    dev.engine.deploy([("b.bpmn", catch_process("big", props).encode())])
    key = start(dev, "big", {"id": "B"})
    worker = WorkerProcess(dev.grpc_address, dev.rest_url, "--max-message-bytes", "1000")
    try:
        record = worker.wait_log(
            lambda r: r["message"] == "poll failed" and r["outcome"] == "message_too_large", 30
        )
        assert "element 'Wait'" in record["reason"] and "1000" in record["reason"]
        until(lambda: len(ep.hits("/big")) >= 2, 30, "a later poll")
        assert state(dev, key) == "ACTIVE"
        assert not worker.logs("cluster gRPC gateway unavailable")
        assert not worker.logs("publish failed, keeping the activation and retrying")
    finally:
        assert worker.stop() == 0


def test_cluster_reset_reloads_a_reused_definition_key(ep: Scripted) -> None:
    ep.route("/one", lambda n: Reply({"id": "R", "status": "waiting"}))
    ep.route("/two", lambda n: Reply({"id": "R", "status": "done"}))
    with DevEngine.run_in_thread("127.0.0.1") as first:
        grpc_port, rest_port = first.grpc_port, first.rest_port
        # Through a proxy that opens a new connection per request: the dev engine's REST
        # server would keep serving its old state on a kept-alive connection.
        proxy_cm = rest_proxy(first.rest_url)
        proxy = proxy_cm.__enter__()
        props = polling_properties(ep.url + "/one", interval="PT0.2S")
        first.engine.deploy([("1.bpmn", catch_process("first", props).encode())])
        old = first.engine.create_process_instance("first", variables={"id": "R"})
        worker = WorkerProcess(first.grpc_address, proxy.url)
        try:
            until(lambda: len(ep.hits("/one")) >= 2, 30, "polls of the first process")
        except BaseException:
            worker.stop()
            proxy_cm.__exit__(None, None, None)
            raise
    try:
        # The cluster comes back empty on the same addresses and hands out the same keys.
        with DevEngine.run_in_thread("127.0.0.1", grpc_port, rest_port) as second:
            props = polling_properties(ep.url + "/two", interval="PT0.2S")
            second.engine.deploy([("2.bpmn", catch_process("second", props).encode())])
            new = second.engine.create_process_instance("second", variables={"id": "R"})
            assert new.process_instance_key == old.process_instance_key  # keys reused
            until(
                lambda: (
                    second.engine.process_instances(key=new.process_instance_key)[0].state
                    == "COMPLETED"
                ),
                40,
                "the new process served",
            )
            assert worker.logs("definition loaded")[-1]["process_id"] == "second"
            assert any("cluster state reset detected" in line for line in worker.raw)
    finally:
        assert worker.stop() == 0
        proxy_cm.__exit__(None, None, None)
