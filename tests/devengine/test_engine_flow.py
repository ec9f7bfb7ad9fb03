"""Control flow, scopes, timers, cancellation, results, limits and the query side."""

from __future__ import annotations

import threading

import pytest

from connector.devengine import EngineError
from tests.helpers.bpmn import (
    END,
    START,
    boundary,
    catch_message,
    catch_timer,
    chain,
    definitions,
    flow,
    io_mapping,
    message,
    service_task,
)
from tests.helpers.engine import active_elements, new_engine, root_variables, state_of

GATEWAY = definitions(
    START
    + '<bpmn:exclusiveGateway id="gw" default="to_c"/>'
    + '<bpmn:endEvent id="a"/><bpmn:endEvent id="b"/><bpmn:endEvent id="c"/>'
    + chain("start", "gw")
    + flow("to_a", "gw", "a", "=amount > 100")
    + flow("to_b", "gw", "b", "=amount > 10")
    + flow("to_c", "gw", "c")
)


def ended_at(engine, pi: int) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        e.element_id
        for e in engine.element_instances(process_instance_key=pi, state="COMPLETED")
        if e.type == "END_EVENT"
    ]


@pytest.mark.parametrize(("amount", "end"), [(500, "a"), (50, "b"), (5, "c")])
def test_exclusive_gateway_takes_first_true_condition_else_default(
    amount: object, end: str
) -> None:
    engine, _ = new_engine()
    engine.deploy([("g.bpmn", GATEWAY)])
    pi = engine.create_process_instance("p", variables={"amount": amount}).process_instance_key
    assert state_of(engine, pi) == "COMPLETED"
    assert ended_at(engine, pi) == [end]


@pytest.mark.parametrize(("amount", "kind"), [(None, "NULL"), ("99", "NULL")])
def test_gateway_condition_that_is_not_boolean_is_an_incident_despite_default(
    amount: object, kind: str
) -> None:
    engine, _ = new_engine()
    engine.deploy([("g.bpmn", GATEWAY)])
    pi = engine.create_process_instance("p", variables={"amount": amount}).process_instance_key
    (incident,) = engine.incidents(process_instance_key=pi)
    assert (incident.error_type, incident.element_id) == ("EXTRACT_VALUE_ERROR", "gw")
    assert incident.error_message == (
        f"Expected result of the expression 'amount > 100' to be 'BOOLEAN', but was '{kind}'."
    )
    engine.set_variables(pi, {"amount": 500})
    engine.resolve_incident(incident.key)
    assert ended_at(engine, pi) == ["a"]


def test_condition_on_default_flow_is_accepted_and_ignored() -> None:
    engine, _ = new_engine()
    xml = definitions(
        START
        + '<bpmn:exclusiveGateway id="gw" default="dflt"/>'
        + '<bpmn:endEvent id="a"/><bpmn:endEvent id="b"/>'
        + chain("start", "gw")
        + flow("to_a", "gw", "a", "=x = 1")
        + flow("dflt", "gw", "b", "=x = 1")
    )
    engine.deploy([("d.bpmn", xml)])
    pi = engine.create_process_instance("p", variables={"x": 2}).process_instance_key
    assert ended_at(engine, pi) == ["b"]


def test_exclusive_gateway_without_match_or_default_raises_incident() -> None:
    engine, _ = new_engine()
    xml = definitions(
        START
        + '<bpmn:exclusiveGateway id="gw"/><bpmn:endEvent id="a"/><bpmn:endEvent id="b"/>'
        + chain("start", "gw")
        + flow("to_a", "gw", "a", "=x = 1")
        + flow("to_b", "gw", "b", "=x = 2")
    )
    engine.deploy([("g.bpmn", xml)])
    pi = engine.create_process_instance("p", variables={"x": 3}).process_instance_key
    (incident,) = engine.incidents(process_instance_key=pi)
    assert (incident.error_type, incident.element_id) == ("CONDITION_ERROR", "gw")
    assert active_elements(engine, pi) == ["gw"]
    engine.set_variables(pi, {"x": 2})
    engine.resolve_incident(incident.key)
    assert ended_at(engine, pi) == ["b"]


def test_parallel_gateway_forks_and_joins() -> None:
    engine, _ = new_engine()
    xml = definitions(
        START
        + '<bpmn:parallelGateway id="fork"/><bpmn:parallelGateway id="join"/>'
        + service_task("left", job_type="left")
        + service_task("right", job_type="right")
        + END
        + chain("start", "fork")
        + chain("fork", "left", "join")
        + chain("fork", "right", "join")
        + chain("join", "end")
    )
    engine.deploy([("par.bpmn", xml)])
    pi = engine.create_process_instance("p").process_instance_key
    assert sorted(active_elements(engine, pi)) == ["left", "right"]
    (left,) = engine.activate_jobs("left", "w", 1000, 1)
    engine.complete_job(left.key, {"l": 1})
    assert active_elements(engine, pi) == ["right"]
    assert engine.element_instances(process_instance_key=pi, element_id="join") == []
    (right,) = engine.activate_jobs("right", "w", 1000, 1)
    engine.complete_job(right.key, {"r": 2})
    assert len(engine.element_instances(process_instance_key=pi, element_id="join")) == 1
    assert state_of(engine, pi) == "COMPLETED"
    assert set(root_variables(engine, pi)) == {"l", "r"}


SUB = definitions(
    START
    + '<bpmn:subProcess id="sub"><bpmn:extensionElements>'
    + io_mapping(inputs={"inner": "=outer"})
    + "</bpmn:extensionElements>"
    + '<bpmn:startEvent id="s_start"/>'
    + catch_message("s_wait", "m")
    + '<bpmn:endEvent id="s_end"/>'
    + chain("s_start", "s_wait", "s_end")
    + "</bpmn:subProcess>"
    + END
    + chain("start", "sub", "end"),
    messages=message("m", "inside", "=inner"),
)


def test_embedded_sub_process_has_its_own_scope() -> None:
    engine, _ = new_engine()
    engine.deploy([("sub.bpmn", SUB)])
    pi = engine.create_process_instance("p", variables={"outer": "k"}).process_instance_key
    (sub,) = engine.element_instances(process_instance_key=pi, element_id="sub")
    (wait,) = engine.element_instances(process_instance_key=pi, element_id="s_wait")
    assert sub.type == "SUB_PROCESS" and wait.flow_scope_key == sub.key
    assert [v.name for v in engine.variables(scope_key=sub.key)] == ["inner"]
    assert engine.message_subscriptions(process_instance_key=pi)[0].correlation_key == "k"
    assert [e.element_id for e in engine.element_instances(flow_scope_key=sub.key)] == [
        "s_start",
        "s_wait",
    ]
    engine.set_variables(wait.key, {"inner": "changed", "fresh": 1})
    assert engine.variables(scope_key=sub.key, name="inner")[0].value == '"changed"'
    assert root_variables(engine, pi)["fresh"] == "1"
    engine.set_variables(wait.key, {"mine": True}, local=True)
    assert [v.name for v in engine.variables(scope_key=wait.key)] == ["mine"]
    engine.publish_message("inside", "k")
    assert state_of(engine, pi) == "COMPLETED"
    assert engine.element_instances(key=sub.key)[0].state == "COMPLETED"


def test_timer_catch_event_fires_on_the_clock() -> None:
    engine, clock = new_engine()
    xml = definitions(START + catch_timer("wait", "PT10S") + END + chain("start", "wait", "end"))
    engine.deploy([("t.bpmn", xml)])
    pi = engine.create_process_instance("p").process_instance_key
    assert engine.next_due_ms() == clock.now_ms() + 10_000
    clock.advance(9_999)
    engine.tick()
    assert active_elements(engine, pi) == ["wait"]
    clock.advance(1)
    engine.tick()
    assert state_of(engine, pi) == "COMPLETED"


def test_timer_duration_from_feel_and_invalid_value_incident() -> None:
    engine, clock = new_engine()
    xml = definitions(START + catch_timer("wait", "=delay") + chain("start", "wait"))
    engine.deploy([("t.bpmn", xml)])
    pi = engine.create_process_instance("p", variables={"delay": "PT1M"}).process_instance_key
    clock.advance(60_000)
    engine.tick()
    assert state_of(engine, pi) == "COMPLETED"
    bad = engine.create_process_instance("p", variables={"delay": 5}).process_instance_key
    (incident,) = engine.incidents(process_instance_key=bad)
    assert incident.element_id == "wait"


def test_timer_boundary_interrupting_and_non_interrupting() -> None:
    engine, clock = new_engine()
    xml = definitions(
        START
        + service_task("task")
        + boundary("remind", "task", duration="PT1M", cancel=False)
        + boundary("give_up", "task", duration="PT5M")
        + END
        + '<bpmn:endEvent id="e_remind"/><bpmn:endEvent id="e_give_up"/>'
        + chain("start", "task", "end")
        + flow("fr", "remind", "e_remind")
        + flow("fg", "give_up", "e_give_up")
    )
    engine.deploy([("b.bpmn", xml)])
    pi = engine.create_process_instance("p").process_instance_key
    clock.advance(60_000)
    engine.tick()
    assert active_elements(engine, pi) == ["task"]
    assert len(engine.element_instances(process_instance_key=pi, element_id="remind")) == 1
    clock.advance(240_000)
    engine.tick()
    assert state_of(engine, pi) == "COMPLETED"
    (task,) = engine.element_instances(process_instance_key=pi, element_id="task")
    assert task.state == "TERMINATED"
    assert engine.activate_jobs("work", "w", 1000, 1) == []


def test_cancel_terminates_everything_and_unknown_is_not_found() -> None:
    engine, _ = new_engine()
    engine.deploy([("sub.bpmn", SUB)])
    pi = engine.create_process_instance("p", variables={"outer": "k"}).process_instance_key
    engine.cancel_process_instance(pi)
    assert state_of(engine, pi) == "TERMINATED"
    states = {e.element_id: e.state for e in engine.element_instances(process_instance_key=pi)}
    assert states == {
        "start": "COMPLETED",
        "sub": "TERMINATED",
        "s_start": "COMPLETED",
        "s_wait": "TERMINATED",
    }
    assert engine.message_subscriptions(process_instance_key=pi)[0].state == "DELETED"
    engine.publish_message("inside", "k")  # nothing left to correlate to
    for call in (
        lambda: engine.cancel_process_instance(pi),
        lambda: engine.cancel_process_instance(123),
    ):
        with pytest.raises(EngineError) as info:
            call()
        assert info.value.code == "NOT_FOUND"


def test_await_result_resolves_on_completion_and_fails_on_cancel() -> None:
    engine, _ = new_engine()
    xml = definitions(START + service_task("t") + END + chain("start", "t", "end"))
    engine.deploy([("r.bpmn", xml)])
    pi = engine.create_process_instance("p", variables={"a": 1}).process_instance_key
    result = engine.await_instance_result(pi, fetch_variables=["b"])
    assert not result.done()
    (job,) = engine.activate_jobs("work", "w", 1000, 1)
    engine.complete_job(job.key, {"b": 2})
    assert result.result(timeout=1) == {"b": 2}
    assert engine.await_instance_result(pi).result(timeout=1) == {"a": 1, "b": 2}
    other = engine.create_process_instance("p").process_instance_key
    pending = engine.await_instance_result(other)
    engine.cancel_process_instance(other)
    with pytest.raises(EngineError):
        pending.result(timeout=1)


def test_instance_without_wait_states_completes_synchronously() -> None:
    engine, _ = new_engine()
    engine.deploy([("s.bpmn", definitions(START + END + chain("start", "end")))])
    pi = engine.create_process_instance("p", variables={"v": "x"}).process_instance_key
    assert engine.await_instance_result(pi).result(timeout=1) == {"v": "x"}


def test_max_active_instances_is_resource_exhausted() -> None:
    engine, _ = new_engine(max_active_instances=2)
    xml = definitions(START + service_task("t") + chain("start", "t"))
    engine.deploy([("r.bpmn", xml)])
    engine.create_process_instance("p")
    engine.create_process_instance("p")
    with pytest.raises(EngineError) as info:
        engine.create_process_instance("p")
    assert info.value.code == "RESOURCE_EXHAUSTED"


def test_query_visibility_delay_shows_records_late() -> None:
    engine, clock = new_engine(query_visibility_delay_ms=1_000)
    xml = definitions(START + service_task("t") + END + chain("start", "t", "end"))
    engine.deploy([("v.bpmn", xml)])
    assert engine.process_definitions() == []
    clock.advance(1_000)
    assert len(engine.process_definitions()) == 1
    pi = engine.create_process_instance("p").process_instance_key
    assert engine.element_instances(process_instance_key=pi) == []
    clock.advance(1_000)
    (task,) = engine.element_instances(process_instance_key=pi, element_id="t")
    assert task.state == "ACTIVE"
    (job,) = engine.activate_jobs("work", "w", 1000, 1)
    engine.complete_job(job.key)
    assert engine.element_instances(key=task.key)[0].state == "ACTIVE"  # stale, like Operate
    assert engine.element_instances(key=task.key, state="COMPLETED") == []
    clock.advance(1_000)
    assert engine.element_instances(key=task.key)[0].state == "COMPLETED"
    assert engine.element_instances(process_instance_key=pi, state="ACTIVE") == []


def test_set_variables_on_unknown_element_is_not_found() -> None:
    engine, _ = new_engine()
    with pytest.raises(EngineError) as info:
        engine.set_variables(42, {"a": 1})
    assert info.value.code == "NOT_FOUND"


def test_concurrent_commands_from_threads_keep_state_consistent() -> None:
    engine, _ = new_engine()
    xml = definitions(START + service_task("t") + END + chain("start", "t", "end"))
    engine.deploy([("c.bpmn", xml)])
    errors: list[BaseException] = []

    def run() -> None:
        try:
            for _ in range(50):
                engine.create_process_instance("p")
                for job in engine.activate_jobs("work", "w", 10_000, 5):
                    engine.complete_job(job.key)
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    while jobs := engine.activate_jobs("work", "w", 10_000, 100):
        for job in jobs:
            engine.complete_job(job.key)
    assert len(engine.process_instances(state="COMPLETED")) == 200


def test_endless_loop_without_wait_state_becomes_an_incident() -> None:
    engine, _ = new_engine()
    xml = definitions(
        START
        + '<bpmn:exclusiveGateway id="loop" default="back"/>'
        + '<bpmn:parallelGateway id="again"/>'
        + END
        + chain("start", "loop")
        + flow("back", "loop", "again")
        + flow("out", "loop", "end", "=false")
        + chain("again", "loop")
    )
    engine.deploy([("loop.bpmn", xml)])
    pi = engine.create_process_instance("p").process_instance_key
    (incident,) = engine.incidents(process_instance_key=pi)
    assert "endless loop" in incident.error_message
    assert state_of(engine, pi) == "ACTIVE"
