"""A non-interrupting polling boundary event, end to end through the real CLI.

The activity stays active after the boundary fires, so the element keeps waiting: polling
goes on, and the boundary fires again on a later matching poll - once per message TTL with
the default message id (Zeebe refuses a repeated id while the first message is buffered), on
every matching poll with ``messageTtl`` PT0S. On a real cluster the subscription is listed
CORRELATED after the first correlation although it is still open; the dev engine lists it
the same way, so discovery must not take CORRELATED for "closed" here.
"""

from __future__ import annotations

import pytest

from connector.devengine.server import DevEngine
from tests.helpers.bpmn import boundary_process, polling_properties
from tests.worker.harness import Endpoint, WorkerProcess, until

URL = '=base + "/items/" + id'


def fired(dev: DevEngine, key: int) -> int:
    """How often the boundary's path ran (its end event completed)."""
    return sum(
        1
        for e in dev.engine.element_instances(process_instance_key=key)
        if e.element_id == "EndCancelled" and e.state == "COMPLETED"
    )


def task_state(dev: DevEngine, key: int) -> str:
    [task] = [e for e in dev.engine.element_instances(process_instance_key=key, element_id="Task")]
    return task.state


def start(dev: DevEngine, endpoint: Endpoint, process_id: str, item: str) -> int:
    return dev.engine.create_process_instance(
        process_id, variables={"base": endpoint.url, "id": item}
    ).process_instance_key


@pytest.mark.parametrize("mode", ["incremental", "full"])
def test_fires_on_every_matching_poll_with_ttl_zero_until_the_activity_ends(
    dev: DevEngine, endpoint: Endpoint, mode: str
) -> None:
    props = polling_properties(URL, interval="PT0.3S")
    props["messageTtl"] = "PT0S"
    dev.engine.deploy(
        [("n.bpmn", boundary_process("nudge", props, job_type="work", interrupting=False).encode())]
    )
    endpoint.set("/items/a", {"id": "a", "status": "waiting"})
    worker = WorkerProcess(
        dev.grpc_address, dev.rest_url, "--discovery-interval", "0.5", "--discovery-mode", mode
    )
    try:
        key = start(dev, endpoint, "nudge", "a")
        until(lambda: endpoint.hits_for("/items/a"), what="the boundary polled")
        endpoint.set("/items/a", {"id": "a", "status": "done"})
        until(lambda: fired(dev, key) >= 3, what="the boundary fired again and again", timeout=20)
        assert task_state(dev, key) == "ACTIVE"
        # the activity ends: its subscription is DELETED and the worker stops polling it
        [job] = dev.engine.activate_jobs("work", "test", 10_000, 1)
        dev.engine.complete_job(job.key)
        until(lambda: dev.engine.process_instances(key=key)[0].state == "COMPLETED")
        until(lambda: not worker.poller_keys(), what="the poller removed", timeout=20)
        assert worker.logs("poller removed")
    finally:
        assert worker.stop() == 0


def test_default_message_id_fires_once_per_ttl_window_and_keeps_polling(
    dev: DevEngine, endpoint: Endpoint
) -> None:
    props = polling_properties(URL, interval="PT0.3S")  # messageTtl default: PT1H
    dev.engine.deploy(
        [("o.bpmn", boundary_process("once", props, job_type="work", interrupting=False).encode())]
    )
    endpoint.set("/items/b", {"id": "b", "status": "done"})
    worker = WorkerProcess(dev.grpc_address, dev.rest_url, "--discovery-interval", "0.5")
    try:
        key = start(dev, endpoint, "once", "b")
        until(lambda: fired(dev, key) == 1, what="the boundary fired")
        # still waiting (listed CORRELATED) and still polled; the repeats are duplicates of a
        # buffered message id, which Zeebe refuses, so the boundary does not fire again
        polls = len(endpoint.hits_for("/items/b"))
        until(lambda: len(endpoint.hits_for("/items/b")) >= polls + 3, what="polling went on")
        assert fired(dev, key) == 1
        assert task_state(dev, key) == "ACTIVE"
        assert worker.poller_keys()
    finally:
        assert worker.stop() == 0
