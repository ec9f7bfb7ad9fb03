"""Driving the development engine directly in tests (no tests here)."""

from __future__ import annotations

from connector.devengine import Engine, ManualClock


def new_engine(**kwargs: object) -> tuple[Engine, ManualClock]:
    clock = ManualClock(1_700_000_000_000)
    return Engine(clock, **kwargs), clock  # type: ignore[arg-type]


def state_of(engine: Engine, process_instance_key: int) -> str:
    return engine.process_instances(key=process_instance_key)[0].state


def active_elements(engine: Engine, process_instance_key: int) -> list[str]:
    return [
        e.element_id
        for e in engine.element_instances(process_instance_key=process_instance_key, state="ACTIVE")
    ]


def root_variables(engine: Engine, process_instance_key: int) -> dict[str, str]:
    return {
        v.name: v.value
        for v in engine.variables(process_instance_key=process_instance_key)
        if v.scope_key == process_instance_key
    }
