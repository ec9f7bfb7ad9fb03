"""The query side: paging by key, counts, indexes kept right when records change."""

from __future__ import annotations

import time

from tests.devengine.test_engine_support import (
    END,
    START,
    catch_message,
    chain,
    definitions,
    message,
    new_engine,
)

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
