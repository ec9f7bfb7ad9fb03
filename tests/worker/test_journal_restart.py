"""An observed activation survives a worker restart during a gateway outage (``--state-dir``),
through the CLI, the dev engine and a local endpoint that reports the state only once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.devengine.server import DevEngine
from connector.journal import ActivationJournal
from tests.worker.bpmn_builder import catch_process, polling_properties
from tests.worker.faults import Reply, Scripted, scripted
from tests.worker.harness import WorkerProcess, until

KEPT = "publish failed, keeping the activation and retrying"
UNPUBLISHED = "observed activation not published before shutdown"


@pytest.fixture
def ep() -> Iterator[Scripted]:
    with scripted() as server:
        yield server


def one_shot(dev: DevEngine, ep: Scripted, name: str) -> int:
    """An instance whose endpoint reports "done" on its first poll only."""
    ep.route(f"/{name}", lambda n: Reply({"id": name, "status": "done" if n == 0 else "waiting"}))
    props = polling_properties(f"{ep.url}/{name}", interval="PT0.2S")
    dev.engine.deploy([(f"{name}.bpmn", catch_process(name, props).encode())])
    created = dev.engine.create_process_instance(name, variables={"id": name})
    return created.process_instance_key


def state(dev: DevEngine, key: int) -> str:
    found = dev.engine.process_instances(key=key)
    return found[0].state if found else "NOT_VISIBLE_YET"


def observe_during_outage(dev: DevEngine, *extra: str) -> WorkerProcess:
    """A worker that observed the activation while the gateway was down, then stopped."""
    dev.set_gateway_available(False)
    worker = WorkerProcess(dev.grpc_address, dev.rest_url, *extra)
    try:
        worker.wait_log(lambda r: r["message"] == KEPT, 30)
    finally:
        assert worker.stop() == 0
    return worker


def test_an_activation_observed_before_a_restart_is_published_after_it(
    dev: DevEngine, ep: Scripted, tmp_path: Path
) -> None:
    key = one_shot(dev, ep, "once")
    state_dir = str(tmp_path / "state")
    first = observe_during_outage(dev, "--state-dir", state_dir)
    (record,) = first.logs(UNPUBLISHED)
    assert record["level"] == "WARNING" and "state directory" in record["reason"]
    assert len(ep.hits("/once")) == 1
    dev.set_gateway_available(True)
    # The endpoint now says "waiting": only the journal knows the instance may move on.
    second = WorkerProcess(dev.grpc_address, dev.rest_url, "--state-dir", state_dir)
    try:
        second.wait_log(lambda r: r["message"].startswith("activations observed before"), 30)
        until(lambda: state(dev, key) == "COMPLETED", 30, "the journaled activation published")
        variables = {v.name: v.value for v in dev.engine.variables(process_instance_key=key)}
        assert variables.get("result") == '"done"'  # the variables observed, not re-polled
        (replayed,) = second.logs("publishing an activation observed before the restart")
        assert replayed["message_id"] == f"Wait{replayed['element_instance_key']}"
        second.wait_log(lambda r: r["message"] == "correlated", 30)
    finally:
        assert second.stop() == 0
    pending, _ = ActivationJournal(Path(state_dir)).load()
    assert pending == {}  # settled once published


def test_a_journaled_activation_whose_instance_left_is_dropped(
    dev: DevEngine, ep: Scripted, tmp_path: Path
) -> None:
    key = one_shot(dev, ep, "left")
    state_dir = str(tmp_path / "state")
    observe_during_outage(dev, "--state-dir", state_dir)
    dev.engine.cancel_process_instance(key)
    dev.set_gateway_available(True)
    worker = WorkerProcess(dev.grpc_address, dev.rest_url, "--state-dir", state_dir)
    try:
        record = worker.wait_log(
            lambda r: r["message"].startswith("journaled activation dropped"), 30
        )
        assert record["process_instance_key"] == str(key)
        assert not worker.logs("correlated")
    finally:
        assert worker.stop() == 0
    pending, _ = ActivationJournal(Path(state_dir)).load()
    assert pending == {}


def test_without_a_state_dir_an_unpublished_activation_is_reported_lost(
    dev: DevEngine, ep: Scripted
) -> None:
    one_shot(dev, ep, "lost")
    try:
        worker = observe_during_outage(dev)
    finally:
        dev.set_gateway_available(True)
    (record,) = worker.logs(UNPUBLISHED)
    assert record["level"] == "ERROR" and "--state-dir" in record["reason"]
    assert record["element_id"] == "Wait"
