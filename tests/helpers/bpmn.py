"""The one BPMN builder of the tests: small documents, shaped as Camunda Modeler writes them.

* polling elements for the worker: :func:`polling_properties`, :func:`catch_process`,
  :func:`boundary_process`; a compact multi-element diagram for the element model:
  :func:`diagram`;
* snippets for the development engine: :func:`definitions` around a body built from
  :func:`message`, :func:`flow`, :func:`chain`, :func:`service_task`, ... .
"""

from __future__ import annotations

from html import escape
from itertools import pairwise
from xml.sax.saxutils import quoteattr

HEADER = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="Definitions_1" '
    'targetNamespace="http://bpmn.io/schema/bpmn">\n'
)


def _properties(props: dict[str, str]) -> str:
    lines = [
        f"        <zeebe:property name={quoteattr(name)} value={quoteattr(value)} />"
        for name, value in props.items()
    ]
    return "\n".join(lines)


def polling_properties(
    url: str,
    *,
    interval: str = "PT0.5S",
    condition: str = '=body.status = "done"',
    correlation: str = "=body.id",
    result: str | None = "={result: body.status}",
) -> dict[str, str]:
    props = {
        "inbound.type": "io.camunda:http-polling:1",
        "authentication.type": "noAuth",
        "method": "GET",
        "url": url,
        "httpRequestInterval": interval,
        "processPollingInterval": "PT5S",
        "activationCondition": condition,
        "correlationKeyExpression": correlation,
    }
    if result is not None:
        props["resultExpression"] = result
    return props


def catch_process(
    process_id: str,
    props: dict[str, str],
    *,
    message: str = "done-msg",
    subscription_key: str = "=id",
) -> str:
    """start -> polling intermediate catch event -> end."""
    return (
        HEADER
        + f"""  <bpmn:process id="{process_id}" isExecutable="true">
    <bpmn:startEvent id="Start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Wait" />
    <bpmn:intermediateCatchEvent id="Wait" name="Wait for done">
      <bpmn:extensionElements>
        <zeebe:properties>
{_properties(props)}
        </zeebe:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:messageEventDefinition id="med1" messageRef="Msg" />
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="Wait" targetRef="End" />
    <bpmn:endEvent id="End"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
  <bpmn:message id="Msg" name="{message}">
    <bpmn:extensionElements>
      <zeebe:subscription correlationKey="{subscription_key}" />
    </bpmn:extensionElements>
  </bpmn:message>
</bpmn:definitions>
"""
    )


def boundary_process(
    process_id: str,
    props: dict[str, str],
    *,
    job_type: str = "never-done",
    message: str = "cancel-msg",
    subscription_key: str = "=id",
    interrupting: bool = True,
) -> str:
    """start -> service task (nobody works on it) with a polling boundary (interrupting by
    default) that leads to ``EndCancelled``."""
    cancel = "" if interrupting else ' cancelActivity="false"'

    return (
        HEADER
        + f"""  <bpmn:process id="{process_id}" isExecutable="true">
    <bpmn:startEvent id="Start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Task" />
    <bpmn:serviceTask id="Task" name="Long work">
      <bpmn:extensionElements>
        <zeebe:taskDefinition type="{job_type}" />
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Task" targetRef="EndNormal" />
    <bpmn:endEvent id="EndNormal"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:boundaryEvent id="Cancelled" name="Cancelled" attachedToRef="Task"{cancel}>
      <bpmn:extensionElements>
        <zeebe:properties>
{_properties(props)}
        </zeebe:properties>
      </bpmn:extensionElements>
      <bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:messageEventDefinition id="med1" messageRef="Msg" />
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f3" sourceRef="Cancelled" targetRef="EndCancelled" />
    <bpmn:endEvent id="EndCancelled"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
  <bpmn:message id="Msg" name="{message}">
    <bpmn:extensionElements>
      <zeebe:subscription correlationKey="{subscription_key}" />
    </bpmn:extensionElements>
  </bpmn:message>
</bpmn:definitions>
"""
    )


def diagram(*elements: dict[str, str], boundary: bool = False) -> str:
    """A diagram with one polling catch event (or boundary event) per ``elements`` entry."""
    nodes = []
    for index, props in enumerate(elements):
        rendered = "".join(
            f"<zeebe:property name={quoteattr(k)} value={quoteattr(v)} />" for k, v in props.items()
        )
        ext = (
            "<bpmn:extensionElements><zeebe:properties>"
            '<zeebe:property name="inbound.type" value="io.camunda:http-polling:1" />'
            f"{rendered}</zeebe:properties></bpmn:extensionElements>"
        )
        tag = "boundaryEvent" if boundary else "intermediateCatchEvent"
        attached = ' attachedToRef="task"' if boundary else ""
        nodes.append(
            f'<bpmn:{tag} id="e{index}"{attached}>{ext}'
            f'<bpmn:messageEventDefinition messageRef="m" /></bpmn:{tag}>'
        )
    return (
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="d">'
        '<bpmn:process id="p"><bpmn:serviceTask id="task" />' + "".join(nodes) + "</bpmn:process>"
        '<bpmn:message id="m" name="msg"><bpmn:extensionElements>'
        '<zeebe:subscription correlationKey="=orderId" /></bpmn:extensionElements></bpmn:message>'
        "</bpmn:definitions>"
    )


# -- development engine snippets ---------------------------------------------------------


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
