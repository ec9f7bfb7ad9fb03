"""Small BPMN documents with one polling element, shaped as Camunda Modeler writes them."""

from __future__ import annotations

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
) -> str:
    """start -> service task (nobody works on it) with an interrupting polling boundary."""
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
    <bpmn:boundaryEvent id="Cancelled" name="Cancelled" attachedToRef="Task">
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
