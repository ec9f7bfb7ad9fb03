"""Service tasks and jobs: activation, headers, retries, back-off, timeouts, incidents."""

from __future__ import annotations

import json

import pytest

from connector.devengine import EngineError
from tests.helpers.bpmn import END, START, chain, definitions, io_mapping, service_task
from tests.helpers.engine import active_elements, new_engine, root_variables, state_of

HEADERS = (
    '<zeebe:taskHeaders><zeebe:header key="url" value="http://127.0.0.1/x"/>'
    '<zeebe:header key="mode" value="fast"/></zeebe:taskHeaders>'
)
TASK = definitions(
    START
    + service_task("t", job_type="pay", retries="2", headers=HEADERS)
    + END
    + chain("start", "t", "end")
)


def started(**variables: object):  # type: ignore[no-untyped-def]
    engine, clock = new_engine()
    engine.deploy([("t.bpmn", TASK)])
    pi = engine.create_process_instance("p", variables=variables).process_instance_key
    return engine, clock, pi


def test_job_carries_definition_headers_retries_and_visible_variables() -> None:
    engine, clock, pi = started(a=1, b="two")
    (job,) = engine.activate_jobs("pay", "worker-1", 30_000, 5)
    assert job.type == "pay"
    assert job.retries == 2
    assert job.custom_headers == {"url": "http://127.0.0.1/x", "mode": "fast"}
    assert job.variables == {"a": 1, "b": "two"}
    assert job.worker == "worker-1"
    assert job.deadline_ms == clock.now_ms() + 30_000
    assert (job.process_instance_key, job.bpmn_process_id, job.element_id) == (pi, "p", "t")
    (task,) = engine.element_instances(process_instance_key=pi, element_id="t")
    assert job.element_instance_key == task.key
    assert engine.activate_jobs("pay", "worker-2", 30_000, 5) == []  # already activated


def test_fetch_variables_limits_job_variables() -> None:
    engine, _, _ = started(a=1, b=2, c=3)
    (job,) = engine.activate_jobs("pay", "w", 1000, 1, fetch_variables=["b", "zzz"])
    assert job.variables == {"b": 2}


def test_complete_job_merges_variables_and_continues() -> None:
    engine, _, pi = started(a=1)
    (job,) = engine.activate_jobs("pay", "w", 1000, 1)
    engine.complete_job(job.key, {"a": 5, "result": {"ok": True}})
    assert state_of(engine, pi) == "COMPLETED"
    variables = root_variables(engine, pi)
    assert variables["a"] == "5"
    assert json.loads(variables["result"]) == {"ok": True}


def test_unknown_job_is_not_found_and_completed_job_cannot_complete_twice() -> None:
    engine, _, _ = started()
    for call in (
        lambda: engine.complete_job(999),
        lambda: engine.fail_job(999, 1),
        lambda: engine.throw_error(999, "E"),
        lambda: engine.update_job_retries(999, 1),
    ):
        with pytest.raises(EngineError) as info:
            call()
        assert info.value.code == "NOT_FOUND"
        assert "job with key '999'" in info.value.message
    (job,) = engine.activate_jobs("pay", "w", 1000, 1)
    engine.complete_job(job.key)
    with pytest.raises(EngineError) as info:
        engine.complete_job(job.key)
    assert info.value.code == "NOT_FOUND"


def test_fail_with_retries_and_back_off_reactivates_later() -> None:
    engine, clock, pi = started()
    (job,) = engine.activate_jobs("pay", "w", 1000, 1)
    engine.fail_job(
        job.key, retries=1, error_message="boom", retry_back_off_ms=5_000, variables={"n": 1}
    )
    (task,) = engine.element_instances(process_instance_key=pi, element_id="t")
    assert [(v.name, v.scope_key) for v in engine.variables(name="n")] == [("n", task.key)]
    engine.tick()
    assert engine.activate_jobs("pay", "w", 1000, 1) == []
    clock.advance(5_000)
    engine.tick()
    (again,) = engine.activate_jobs("pay", "w", 1000, 1)
    assert (again.key, again.retries) == (job.key, 1)
    assert state_of(engine, pi) == "ACTIVE"


def test_fail_with_no_retries_raises_incident_resolved_after_retries_update() -> None:
    engine, _, pi = started()
    (job,) = engine.activate_jobs("pay", "w", 1000, 1)
    engine.fail_job(job.key, retries=0, error_message="server said 500")
    (incident,) = engine.incidents(process_instance_key=pi, state="ACTIVE")
    assert (incident.error_type, incident.error_message) == ("JOB_NO_RETRIES", "server said 500")
    assert incident.job_key == job.key and incident.element_id == "t"
    assert engine.process_instances(key=pi)[0].has_incident
    assert engine.activate_jobs("pay", "w", 1000, 1) == []
    with pytest.raises(EngineError) as info:
        engine.resolve_incident(incident.key)
    assert info.value.code == "FAILED_PRECONDITION"
    with pytest.raises(EngineError) as info:
        engine.update_job_retries(job.key, 0)
    assert info.value.code == "INVALID_ARGUMENT"
    engine.update_job_retries(job.key, 3)
    engine.resolve_incident(incident.key)
    (again,) = engine.activate_jobs("pay", "w", 1000, 1)
    assert again.retries == 3
    engine.complete_job(again.key)
    assert state_of(engine, pi) == "COMPLETED"
    assert not engine.process_instances(key=pi)[0].has_incident


def test_activation_timeout_makes_job_activatable_again() -> None:
    engine, clock, _ = started()
    (job,) = engine.activate_jobs("pay", "slow", 1_000, 1)
    clock.advance(999)
    engine.tick()
    assert engine.activate_jobs("pay", "w", 1000, 1) == []
    clock.advance(1)
    engine.tick()
    (again,) = engine.activate_jobs("pay", "fast", 1000, 1)
    assert again.key == job.key and again.worker == "fast"


def test_throw_error_without_catch_raises_unhandled_error_incident() -> None:
    engine, _, pi = started()
    (job,) = engine.activate_jobs("pay", "w", 1000, 1)
    engine.throw_error(job.key, "NOT_PAID", "card declined")
    (incident,) = engine.incidents(process_instance_key=pi)
    assert incident.error_type == "UNHANDLED_ERROR_EVENT"
    assert "'NOT_PAID'" in incident.error_message


def test_wait_for_jobs_resolves_when_job_created() -> None:
    engine, _ = new_engine()
    engine.deploy([("t.bpmn", TASK)])
    waiter = engine.wait_for_jobs("pay")
    given_up = engine.wait_for_jobs("pay")
    assert given_up.cancel()  # a caller that stopped waiting must not break job creation
    assert not waiter.done()
    engine.create_process_instance("p")
    assert waiter.result(timeout=1) is None
    assert engine.wait_for_jobs("pay").done()  # one is activatable right now


def test_max_jobs_and_tenant_filter() -> None:
    engine, _ = new_engine()
    engine.deploy([("t.bpmn", TASK)])
    for _ in range(3):
        engine.create_process_instance("p")
    assert len(engine.activate_jobs("pay", "w", 1000, 2)) == 2
    assert engine.activate_jobs("pay", "w", 1000, 5, tenant_ids=["other"]) == []
    assert len(engine.activate_jobs("pay", "w", 1000, 5)) == 1
    with pytest.raises(EngineError) as info:
        engine.activate_jobs("pay", "w", 1000, 0)
    assert info.value.code == "INVALID_ARGUMENT"


def test_job_type_and_retries_from_feel_expressions() -> None:
    engine, _ = new_engine()
    xml = definitions(
        START + service_task("t", job_type="=kind", retries="=tries") + chain("start", "t")
    )
    engine.deploy([("f.bpmn", xml)])
    engine.create_process_instance("p", variables={"kind": "dynamic", "tries": 7})
    (job,) = engine.activate_jobs("dynamic", "w", 1000, 1)
    assert job.retries == 7
    pi = engine.create_process_instance("p", variables={"tries": 1}).process_instance_key
    (incident,) = engine.incidents(process_instance_key=pi)
    assert incident.error_type == "EXTRACT_VALUE_ERROR"
    assert incident.element_id == "t"


def test_input_and_output_mappings_scope_job_variables() -> None:
    engine, _ = new_engine()
    mapping = io_mapping(
        inputs={"url": "=endpoint", "limit": "=10", "auth.user": '="bob"'},
        outputs={"status": "=response", "meta.count": "=limit", "label": '="s" + string(status)'},
    )
    xml = definitions(START + service_task("t", extra=mapping) + END + chain("start", "t", "end"))
    engine.deploy([("io.bpmn", xml)])
    pi = engine.create_process_instance(
        "p", variables={"endpoint": "http://127.0.0.1/", "meta": {"keep": 1}}
    ).process_instance_key
    (job,) = engine.activate_jobs("work", "w", 1000, 1)
    assert job.variables["url"] == "http://127.0.0.1/"
    assert job.variables["limit"] == 10
    assert job.variables["auth"] == {"user": "bob"}
    (task,) = engine.element_instances(process_instance_key=pi, element_id="t")
    assert {v.name for v in engine.variables(scope_key=task.key)} == {"url", "limit", "auth"}
    engine.complete_job(job.key, {"response": 200, "ignored": True})
    variables = root_variables(engine, pi)
    assert variables["status"] == "200"
    assert variables["label"] == '"s200"'  # a mapping sees the targets of earlier ones
    assert json.loads(variables["meta"]) == {"keep": 1, "count": 10}
    assert "ignored" not in variables and "url" not in variables


def test_job_variables_without_outputs_update_local_input_first() -> None:
    """Zeebe rule: a completed job's variable updates the nearest scope that has it."""
    engine, _ = new_engine()
    xml = definitions(
        START
        + service_task("t", extra=io_mapping(inputs={"x": "=1"}))
        + END
        + chain("start", "t", "end")
    )
    engine.deploy([("l.bpmn", xml)])
    pi = engine.create_process_instance("p").process_instance_key
    (job,) = engine.activate_jobs("work", "w", 1000, 1)
    engine.complete_job(job.key, {"x": 2, "y": 3})
    variables = root_variables(engine, pi)
    assert "x" not in variables  # stayed in the task's local scope
    assert variables["y"] == "3"
    assert active_elements(engine, pi) == []
