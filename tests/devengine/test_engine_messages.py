"""Message semantics: subscriptions, matching, TTL buffering, ids, boundaries, start events."""

from __future__ import annotations

import json
import time

import pytest

from connector.devengine import Engine, EngineError
from tests.helpers.bpmn import (
    END,
    START,
    boundary,
    catch_message,
    chain,
    definitions,
    flow,
    io_mapping,
    message,
    service_task,
)
from tests.helpers.engine import active_elements, new_engine, root_variables, state_of

WAIT = definitions(
    START + catch_message("wait", "m") + END + chain("start", "wait", "end"),
    messages=message("m", "order-paid", "=orderId"),
)


def waiting_engine() -> Engine:
    engine, _ = new_engine()
    engine.deploy([("wait.bpmn", WAIT)])
    return engine


def test_catch_event_opens_subscription_with_evaluated_correlation_key() -> None:
    engine = waiting_engine()
    pi = engine.create_process_instance("p", variables={"orderId": "A-1"}).process_instance_key
    (sub,) = engine.message_subscriptions(process_instance_key=pi)
    assert (sub.message_name, sub.correlation_key, sub.state) == ("order-paid", "A-1", "CREATED")
    assert sub.element_id == "wait"
    (waiting,) = engine.element_instances(process_instance_key=pi, state="ACTIVE")
    assert waiting.key == sub.element_instance_key
    assert waiting.type == "INTERMEDIATE_CATCH_EVENT"


def test_message_correlates_on_name_and_key_and_propagates_variables() -> None:
    engine = waiting_engine()
    a = engine.create_process_instance("p", variables={"orderId": "A"}).process_instance_key
    b = engine.create_process_instance("p", variables={"orderId": "B"}).process_instance_key
    engine.publish_message("other-name", "A", variables={"x": 0})
    engine.publish_message("order-paid", "C", variables={"x": 0})
    assert state_of(engine, a) == state_of(engine, b) == "ACTIVE"
    engine.publish_message("order-paid", "A", variables={"amount": 12.5})
    assert state_of(engine, a) == "COMPLETED"
    assert state_of(engine, b) == "ACTIVE"
    assert root_variables(engine, a)["amount"] == "12.5"
    (sub,) = engine.message_subscriptions(process_instance_key=a)
    assert sub.state == "CORRELATED"


def test_tenant_is_part_of_the_match() -> None:
    engine = waiting_engine()
    pi = engine.create_process_instance("p", variables={"orderId": "A"}).process_instance_key
    engine.publish_message("order-paid", "A", tenant_id="other")
    assert state_of(engine, pi) == "ACTIVE"


def test_numeric_correlation_key_becomes_integer_text() -> None:
    engine = waiting_engine()
    pi = engine.create_process_instance("p", variables={"orderId": 42}).process_instance_key
    assert engine.message_subscriptions(process_instance_key=pi)[0].correlation_key == "42"
    engine.publish_message("order-paid", "42")
    assert state_of(engine, pi) == "COMPLETED"


@pytest.mark.parametrize(("value", "kind"), [(None, "NULL"), (True, "BOOLEAN"), ([1], "ARRAY")])
def test_invalid_correlation_key_raises_incident_and_opens_nothing(
    value: object, kind: str
) -> None:
    engine = waiting_engine()
    pi = engine.create_process_instance("p", variables={"orderId": value}).process_instance_key
    assert engine.message_subscriptions(process_instance_key=pi) == []
    (incident,) = engine.incidents(process_instance_key=pi)
    assert incident.error_type == "EXTRACT_VALUE_ERROR"
    assert incident.element_id == "wait"
    assert f"but was '{kind}'." in incident.error_message
    (element,) = engine.element_instances(process_instance_key=pi, element_id="wait")
    assert element.has_incident and element.incident_key == incident.key
    # fixing the variable and resolving retries the activation
    engine.set_variables(pi, {"orderId": "fixed"})
    engine.resolve_incident(incident.key)
    assert engine.message_subscriptions(process_instance_key=pi)[0].correlation_key == "fixed"
    assert not engine.process_instances(key=pi)[0].has_incident


def test_subscription_keeps_the_key_evaluated_on_entry() -> None:
    engine = waiting_engine()
    pi = engine.create_process_instance("p", variables={"orderId": "old"}).process_instance_key
    engine.set_variables(pi, {"orderId": "new"})
    engine.publish_message("order-paid", "new")
    assert state_of(engine, pi) == "ACTIVE"
    engine.publish_message("order-paid", "old")
    assert state_of(engine, pi) == "COMPLETED"


def test_buffered_message_correlates_when_subscription_opens_until_ttl() -> None:
    engine, clock = new_engine()
    engine.deploy([("wait.bpmn", WAIT)])
    engine.publish_message("order-paid", "early", time_to_live_ms=10_000, variables={"v": 1})
    clock.advance(5_000)
    first = engine.create_process_instance("p", variables={"orderId": "early"})
    assert state_of(engine, first.process_instance_key) == "COMPLETED"
    assert root_variables(engine, first.process_instance_key)["v"] == "1"
    # at most once per process id: a second instance of the same process does not get it
    second = engine.create_process_instance("p", variables={"orderId": "early"})
    assert state_of(engine, second.process_instance_key) == "ACTIVE"


def test_expired_or_zero_ttl_messages_do_not_correlate_later() -> None:
    engine, clock = new_engine()
    engine.deploy([("wait.bpmn", WAIT)])
    engine.publish_message("order-paid", "zero", time_to_live_ms=0)
    engine.publish_message("order-paid", "short", time_to_live_ms=1_000)
    clock.advance(1_000)
    engine.tick()
    for key in ("zero", "short"):
        pi = engine.create_process_instance("p", variables={"orderId": key})
        assert state_of(engine, pi.process_instance_key) == "ACTIVE"


def test_buffered_message_correlates_once_per_process_but_to_each_process() -> None:
    engine, _ = new_engine()
    engine.deploy([("wait.bpmn", WAIT)])
    other = definitions(
        START + catch_message("wait", "m") + END + chain("start", "wait", "end"),
        process_id="other",
        messages=message("m", "order-paid", "=orderId"),
    )
    engine.deploy([("other.bpmn", other)])
    a1 = engine.create_process_instance("p", variables={"orderId": "K"}).process_instance_key
    a2 = engine.create_process_instance("p", variables={"orderId": "K"}).process_instance_key
    engine.publish_message("order-paid", "K", time_to_live_ms=60_000)
    states = sorted([state_of(engine, a1), state_of(engine, a2)])
    assert states == ["ACTIVE", "COMPLETED"]
    assert state_of(engine, a1) == "COMPLETED"  # the oldest subscription wins
    b = engine.create_process_instance("other", variables={"orderId": "K"}).process_instance_key
    assert state_of(engine, b) == "COMPLETED"  # still buffered: another process may take it


def test_duplicate_message_id_while_buffered_is_already_exists() -> None:
    engine, clock = new_engine()
    engine.publish_message("n", "k", time_to_live_ms=1_000, message_id="id-1")
    with pytest.raises(EngineError) as info:
        engine.publish_message("n", "k", time_to_live_ms=1_000, message_id="id-1")
    assert info.value.code == "ALREADY_EXISTS"
    assert "with id 'id-1'" in info.value.message
    # other key, other name or TTL 0 are separate messages
    engine.publish_message("n", "k2", time_to_live_ms=1_000, message_id="id-1")
    engine.publish_message("n2", "k", time_to_live_ms=1_000, message_id="id-1")
    engine.publish_message("z", "k", time_to_live_ms=0, message_id="id-0")
    engine.publish_message("z", "k", time_to_live_ms=0, message_id="id-0")
    clock.advance(1_000)
    engine.tick()
    engine.publish_message("n", "k", time_to_live_ms=1_000, message_id="id-1")


def test_message_output_mapping_limits_propagation() -> None:
    engine, _ = new_engine()
    xml = definitions(
        START
        + catch_message("wait", "m", extra=io_mapping(outputs={"paid": "=amount"}))
        + END
        + chain("start", "wait", "end"),
        messages=message("m", "pay", "=key"),
    )
    engine.deploy([("o.bpmn", xml)])
    pi = engine.create_process_instance("p", variables={"key": "k"}).process_instance_key
    engine.publish_message("pay", "k", variables={"amount": 3, "noise": True})
    variables = root_variables(engine, pi)
    assert variables["paid"] == "3"
    assert "noise" not in variables and "amount" not in variables


BOUNDARY = definitions(
    START
    + service_task("task")
    + boundary("cancelled", "task", message_ref="m")
    + boundary("nudged", "task", message_ref="n", cancel=False)
    + END
    + '<bpmn:endEvent id="end_cancel"/><bpmn:endEvent id="end_nudge"/>'
    + chain("start", "task", "end")
    + flow("fc", "cancelled", "end_cancel")
    + flow("fn", "nudged", "end_nudge"),
    messages=message("m", "cancel", "=key") + message("n", "nudge", "=key"),
)


def test_interrupting_boundary_message_terminates_activity() -> None:
    engine, _ = new_engine()
    engine.deploy([("b.bpmn", BOUNDARY)])
    pi = engine.create_process_instance("p", variables={"key": "k"}).process_instance_key
    subs = engine.message_subscriptions(process_instance_key=pi, state="CREATED")
    (task,) = engine.element_instances(process_instance_key=pi, element_id="task")
    assert {s.element_id for s in subs} == {"cancelled", "nudged"}
    assert all(s.element_instance_key == task.key for s in subs)
    engine.publish_message("cancel", "k", variables={"why": "user"})
    assert engine.element_instances(key=task.key)[0].state == "TERMINATED"
    assert state_of(engine, pi) == "COMPLETED"
    assert root_variables(engine, pi)["why"] == '"user"'
    assert engine.activate_jobs("work", "w", 1000, 10) == []  # the job went away
    states = {s.element_id: s.state for s in engine.message_subscriptions(process_instance_key=pi)}
    assert states == {"cancelled": "CORRELATED", "nudged": "DELETED"}


def test_non_interrupting_boundary_keeps_activity_and_subscription() -> None:
    engine, _ = new_engine()
    engine.deploy([("b.bpmn", BOUNDARY)])
    pi = engine.create_process_instance("p", variables={"key": "k"}).process_instance_key
    engine.publish_message("nudge", "k")
    engine.publish_message("nudge", "k")
    nudges = engine.element_instances(process_instance_key=pi, element_id="nudged")
    assert [n.state for n in nudges] == ["COMPLETED", "COMPLETED"]
    assert active_elements(engine, pi) == ["task"]
    # as on a real cluster: the correlated non-interrupting subscription stays open but is
    # listed as CORRELATED (Zeebe writes no new CREATED record for it)
    listed = engine.message_subscriptions(process_instance_key=pi)
    assert {(s.element_id, s.state) for s in listed} == {
        ("cancelled", "CREATED"),
        ("nudged", "CORRELATED"),
    }
    (job,) = engine.activate_jobs("work", "w", 1000, 10)
    engine.complete_job(job.key)
    assert state_of(engine, pi) == "COMPLETED"
    closed = engine.message_subscriptions(process_instance_key=pi, state="DELETED")
    assert {s.element_id for s in closed} == {"cancelled", "nudged"}


START_BY_MESSAGE = definitions(
    '<bpmn:startEvent id="start"><bpmn:messageEventDefinition messageRef="s"/>'
    "</bpmn:startEvent>" + service_task("t") + END + chain("start", "t", "end"),
    process_id="starter",
    messages=message("s", "begin", correlation_key=None),
)


def test_message_start_event_creates_instances_with_message_variables() -> None:
    engine, _ = new_engine()
    engine.deploy([("s.bpmn", START_BY_MESSAGE)])
    engine.publish_message("begin", "", variables={"n": 1})
    engine.publish_message("begin", "", variables={"n": 2})
    instances = engine.process_instances(bpmn_process_id="starter")
    assert len(instances) == 2
    assert [root_variables(engine, i.key)["n"] for i in instances] == ["1", "2"]


def test_message_start_with_key_waits_for_active_instance_to_end() -> None:
    engine, _ = new_engine()
    engine.deploy([("s.bpmn", START_BY_MESSAGE)])
    engine.publish_message("begin", "k1", time_to_live_ms=60_000, variables={"n": 1})
    engine.publish_message("begin", "k1", time_to_live_ms=60_000, variables={"n": 2})
    (first,) = engine.process_instances(bpmn_process_id="starter")
    (job,) = engine.activate_jobs("work", "w", 1000, 10)
    engine.complete_job(job.key)
    assert state_of(engine, first.key) == "COMPLETED"
    instances = engine.process_instances(bpmn_process_id="starter")
    assert len(instances) == 2
    assert root_variables(engine, instances[1].key)["n"] == "2"


def test_message_published_before_deployment_never_starts_the_process() -> None:
    engine, _ = new_engine()
    engine.publish_message("begin", "k", time_to_live_ms=60_000, variables={"n": 7})
    engine.deploy([("s.bpmn", START_BY_MESSAGE)])
    assert engine.process_instances(bpmn_process_id="starter") == []
    # nor later, when an instance with the same correlation key ends
    engine.publish_message("begin", "k", time_to_live_ms=60_000, variables={"n": 8})
    (job,) = engine.activate_jobs("work", "w", 1000, 1)
    engine.complete_job(job.key)
    (instance,) = engine.process_instances(bpmn_process_id="starter")
    assert root_variables(engine, instance.key)["n"] == "8"


def test_publish_latency_does_not_grow_with_waiting_instances() -> None:
    """Publishing to one of N waiting instances costs the same for small and large N."""

    def median_publish_seconds(waiting: int) -> float:
        engine = waiting_engine()
        for i in range(waiting):
            engine.create_process_instance("p", variables={"orderId": f"o{i}"})
        samples = []
        for i in range(200):
            started = time.perf_counter()
            engine.publish_message("order-paid", f"o{i}", variables={"i": i})
            samples.append(time.perf_counter() - started)
        samples.sort()
        return samples[len(samples) // 2]

    small = median_publish_seconds(400)
    large = median_publish_seconds(20_000)
    assert large < 2 * small + 0.0001, (small, large)


def test_variables_record_value_is_json_text() -> None:
    engine = waiting_engine()
    pi = engine.create_process_instance(
        "p", variables={"orderId": "x", "doc": {"a": [1, "b"]}}
    ).process_instance_key
    (record,) = engine.variables(process_instance_key=pi, name="doc")
    assert json.loads(record.value) == {"a": [1, "b"]}
    assert engine.variable(record.key) == record


def test_receive_task_waits_for_message_and_boundary_key_sees_activity_inputs() -> None:
    engine, _ = new_engine()
    receive = (
        '<bpmn:receiveTask id="recv" messageRef="r"><bpmn:extensionElements>'
        + io_mapping(inputs={"localKey": '="L-" + id'})
        + "</bpmn:extensionElements></bpmn:receiveTask>"
    )
    xml = definitions(
        START
        + receive
        + boundary("stop", "recv", message_ref="s")
        + END
        + '<bpmn:endEvent id="stopped"/>'
        + chain("start", "recv", "end")
        + flow("fs", "stop", "stopped"),
        messages=message("r", "reply", "=localKey") + message("s", "stop", "=localKey"),
    )
    engine.deploy([("r.bpmn", xml)])
    pi = engine.create_process_instance("p", variables={"id": "7"}).process_instance_key
    subs = engine.message_subscriptions(process_instance_key=pi)
    assert {(s.element_id, s.correlation_key) for s in subs} == {("recv", "L-7"), ("stop", "L-7")}
    (task,) = engine.element_instances(process_instance_key=pi, state="ACTIVE")
    assert task.type == "RECEIVE_TASK"
    engine.publish_message("reply", "L-7", variables={"answer": "yes"})
    assert state_of(engine, pi) == "COMPLETED"
    assert root_variables(engine, pi)["answer"] == '"yes"'
    states = {s.element_id: s.state for s in engine.message_subscriptions(process_instance_key=pi)}
    assert states == {"recv": "CORRELATED", "stop": "DELETED"}


def test_message_name_from_feel_expression() -> None:
    engine, _ = new_engine()
    xml = definitions(
        START + catch_message("wait", "m") + END + chain("start", "wait", "end"),
        messages=message("m", '="reply-" + kind', "=key"),
    )
    engine.deploy([("n.bpmn", xml)])
    pi = engine.create_process_instance("p", variables={"kind": "a", "key": "k"})
    (sub,) = engine.message_subscriptions(process_instance_key=pi.process_instance_key)
    assert sub.message_name == "reply-a"
    engine.publish_message("reply-a", "k")
    assert state_of(engine, pi.process_instance_key) == "COMPLETED"


def test_invalid_feel_is_rejected_at_deployment() -> None:
    engine, _ = new_engine()
    xml = definitions(
        START + catch_message("wait", "m") + chain("start", "wait"),
        messages=message("m", "x", "=order.("),
    )
    with pytest.raises(EngineError) as info:
        engine.deploy([("f.bpmn", xml)])
    assert info.value.code == "INVALID_ARGUMENT"
    assert "Element: wait" in info.value.message
    assert "correlationKey" in info.value.message
