"""BPMN snippets and helpers shared by the engine tests (no tests here)."""

from __future__ import annotations

from html import escape
from itertools import pairwise

from connector.devengine import Engine, ManualClock

HEADER = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="defs" '
    'targetNamespace="http://example.com/bpmn">\n'
)


def definitions(body: str, process_id: str = "p", messages: str = "", name: str = "") -> bytes:
    """A definitions document with one executable process around ``body``."""
    name_attr = f' name="{name}"' if name else ""
    return (
        HEADER
        + messages
        + f'<bpmn:process id="{process_id}"{name_attr} isExecutable="true">\n'
        + body
        + "\n</bpmn:process>\n</bpmn:definitions>\n"
    ).encode()


def message(message_id: str, name: str, correlation_key: str | None = "=key") -> str:
    subscription = (
        f'<bpmn:extensionElements><zeebe:subscription correlationKey="{correlation_key}"/>'
        "</bpmn:extensionElements>"
        if correlation_key is not None
        else ""
    )
    return f'<bpmn:message id="{message_id}" name="{escape(name)}">{subscription}</bpmn:message>\n'


def flow(flow_id: str, source: str, target: str, condition: str | None = None) -> str:
    if condition is None:
        return f'<bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}"/>\n'
    return (
        f'<bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}">'
        f"<bpmn:conditionExpression>{escape(condition)}</bpmn:conditionExpression>"
        "</bpmn:sequenceFlow>\n"
    )


def chain(*ids: str) -> str:
    """Sequence flows linking ``ids`` in order."""
    return "".join(flow(f"f_{a}_{b}", a, b) for a, b in pairwise(ids))


def service_task(
    task_id: str, job_type: str = "work", retries: str = "3", extra: str = "", headers: str = ""
) -> str:
    return (
        f'<bpmn:serviceTask id="{task_id}" name="Task {task_id}"><bpmn:extensionElements>'
        f'<zeebe:taskDefinition type="{job_type}" retries="{retries}"/>'
        f"{headers}{extra}</bpmn:extensionElements></bpmn:serviceTask>\n"
    )


def catch_message(event_id: str, message_ref: str, extra: str = "") -> str:
    ext = f"<bpmn:extensionElements>{extra}</bpmn:extensionElements>" if extra else ""
    return (
        f'<bpmn:intermediateCatchEvent id="{event_id}" name="Wait {event_id}">{ext}'
        f'<bpmn:messageEventDefinition id="{event_id}_def" messageRef="{message_ref}"/>'
        "</bpmn:intermediateCatchEvent>\n"
    )


def catch_timer(event_id: str, duration: str) -> str:
    return (
        f'<bpmn:intermediateCatchEvent id="{event_id}"><bpmn:timerEventDefinition>'
        f"<bpmn:timeDuration>{duration}</bpmn:timeDuration></bpmn:timerEventDefinition>"
        "</bpmn:intermediateCatchEvent>\n"
    )


def boundary(
    event_id: str, attached_to: str, *, message_ref: str = "", duration: str = "", cancel=True
) -> str:
    if message_ref:
        definition = f'<bpmn:messageEventDefinition messageRef="{message_ref}"/>'
    else:
        definition = (
            "<bpmn:timerEventDefinition>"
            f"<bpmn:timeDuration>{duration}</bpmn:timeDuration></bpmn:timerEventDefinition>"
        )
    return (
        f'<bpmn:boundaryEvent id="{event_id}" attachedToRef="{attached_to}" '
        f'cancelActivity="{"true" if cancel else "false"}">{definition}</bpmn:boundaryEvent>\n'
    )


def io_mapping(inputs: dict[str, str] | None = None, outputs: dict[str, str] | None = None) -> str:
    parts = ["<zeebe:ioMapping>"]
    for target, source in (inputs or {}).items():
        parts.append(f'<zeebe:input source="{escape(source)}" target="{target}"/>')
    for target, source in (outputs or {}).items():
        parts.append(f'<zeebe:output source="{escape(source)}" target="{target}"/>')
    parts.append("</zeebe:ioMapping>")
    return "".join(parts)


START = '<bpmn:startEvent id="start"/>\n'
END = '<bpmn:endEvent id="end"/>\n'


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
