"""The query side: paging by key, counts, indexes kept right when records change."""

from __future__ import annotations

import time

from tests.helpers.bpmn import END, START, catch_message, chain, definitions, message
from tests.helpers.engine import new_engine

WAIT = definitions(
    START + catch_message("wait", "m") + END + chain("start", "wait", "end"),
    messages=message("m", "go", "=k"),
)


def test_paging_by_after_key_and_limit_and_counts() -> None:
    engine, _ = new_engine()
    engine.deploy([("w.bpmn", WAIT)])
    keys = [
        engine.create_process_instance("p", variables={"k": str(i)}).process_instance_key
        for i in range(7)
    ]
    engine.publish_message("go", "3")
    open_subs = engine.message_subscriptions(state="CREATED")
    assert [s.process_instance_key for s in open_subs] == keys[:3] + keys[4:]
    page1 = engine.message_subscriptions(state="CREATED", limit=4)
    page2 = engine.message_subscriptions(state="CREATED", after_key=page1[-1].key, limit=4)
    assert page1 + page2 == open_subs and len(page2) == 2
    assert engine.count("message_subscriptions", state="CREATED") == 6
    assert engine.count("message_subscriptions", state="CORRELATED") == 1
    assert engine.count("message_subscriptions", state="CREATED", correlation_key="5") == 1
    assert engine.count("process_instances") == 7
    waiting = engine.element_instances(element_id="wait", state="ACTIVE", bpmn_process_id="p")
    assert len(waiting) == 6
    assert engine.element_instances(element_id="wait", state="ACTIVE", limit=0) == []
    (correlated,) = engine.message_subscriptions(message_name="go", correlation_key="3")
    assert correlated.state == "CORRELATED"


def test_a_page_costs_the_same_with_many_records() -> None:
    def page_seconds(instances: int) -> float:
        engine, _ = new_engine()
        engine.deploy([("w.bpmn", WAIT)])
        for i in range(instances):
            engine.create_process_instance("p", variables={"k": str(i)})
        definition_key = engine.process_definitions()[0].key
        samples = []
        for _ in range(30):
            started = time.perf_counter()
            engine.element_instances(
                process_definition_key=definition_key, element_id="wait", state="ACTIVE", limit=50
            )
            samples.append(time.perf_counter() - started)
        return sorted(samples)[15]

    small, large = page_seconds(200), page_seconds(10_000)
    assert large < 3 * small + 0.0005, (small, large)


def test_any_of_filters_and_capped_counts() -> None:
    engine, _ = new_engine()
    engine.deploy([("w.bpmn", WAIT)])
    keys = [
        engine.create_process_instance("p", variables={"k": str(i)}).process_instance_key
        for i in range(6)
    ]
    wanted = [keys[4], keys[1], 999]
    variables = engine.variables(process_instance_key=wanted, name="k")
    assert [(v.process_instance_key, v.value) for v in variables] == [
        (keys[1], '"1"'),
        (keys[4], '"4"'),
    ]
    assert engine.variables(process_instance_key=[]) == []
    assert len(engine.process_instances(key=set(keys[:3]))) == 3
    waiting = engine.element_instances(
        process_instance_key=tuple(keys), element_id=["wait", "nope"], state="ACTIVE"
    )
    assert [e.process_instance_key for e in waiting] == keys
    assert engine.count("element_instances", element_id="wait", state="ACTIVE") == 6
    assert engine.count("element_instances", element_id="wait", state="ACTIVE", limit=4) == 4
    assert engine.count("element_instances", limit=3) == 3
    assert engine.count("variables", process_instance_key=wanted) == 2
    definition_key = engine.process_definitions()[0].key
    engine.publish_message("go", "2")
    assert engine.count("element_instances", element_id="wait", state="ACTIVE") == 5
    # composite indexes answer these combinations and follow state changes
    by_element = {"process_definition_key": definition_key, "element_id": "wait"}
    assert engine.count("element_instances", state="ACTIVE", **by_element) == 5
    assert engine.count("element_instances", state="COMPLETED", **by_element) == 1
    for state, expected in (("CREATED", 5), ("CORRELATED", 1)):
        assert (
            engine.count(
                "message_subscriptions", process_definition_key=definition_key, state=state
            )
            == expected
        )
    open_subs = engine.message_subscriptions(process_definition_key=definition_key, state="CREATED")
    assert [s.correlation_key for s in open_subs] == ["0", "1", "3", "4", "5"]
    assert engine.count("message_subscriptions", state=["CORRELATED", "DELETED"]) == 1
