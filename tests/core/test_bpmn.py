"""Reading polling elements out of BPMN XML."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.bpmn import (
    BpmnError,
    element_ancestors,
    find_polling_elements,
    parse_definitions,
)

FIXTURES = Path(__file__).with_name("fixtures")
EXAMPLE = Path(__file__).resolve().parents[2] / "connector" / "examples" / "order-status.bpmn"

HEAD = (
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="d">'
)


def polling_props(extra: str = "", inbound: str = "io.camunda:http-polling:1") -> str:
    return (
        "<bpmn:extensionElements><zeebe:properties>"
        f'<zeebe:property name="inbound.type" value="{inbound}" />{extra}'
        "</zeebe:properties></bpmn:extensionElements>"
    )


def test_camunda_modeler_intermediate_fixture() -> None:
    [element] = find_polling_elements((FIXTURES / "camunda-github-issue.bpmn").read_bytes())
    assert element.process_id == "github-issue-review"
    assert element.element_id == "Event_WaitIssueClosed"
    assert element.element_name == "Issue closed"
    assert element.kind == "intermediate"
    assert element.attached_to is None
    assert element.message_name == "5f0c8e0e-4b6e-4c7c-9d0a-2f7b7d1f2a11"
    assert element.subscription_correlation_key == "=issueNumber"
    assert element.properties["authentication.token"] == "{{secrets.BEARER_TOKEN}}"
    assert element.properties["activationCondition"] == '=(body.state = "closed")'
    assert element.properties["processPollingInterval"] == "PT5S"


def test_camunda_modeler_boundary_fixture_inside_subprocess() -> None:
    [element] = find_polling_elements((FIXTURES / "camunda-boundary-oauth.bpmn").read_text())
    assert element.kind == "boundary"
    assert element.attached_to == "Activity_Pack"
    assert element.process_id == "order-fulfilment"
    assert element.subscription_correlation_key == "=orderId"
    # Newlines encoded by the modeler as &#10; come back as newlines.
    assert element.properties["resultExpression"].count("\n") == 3


def test_example_uses_our_template() -> None:
    [element] = find_polling_elements(EXAMPLE.read_bytes())
    assert element.properties["url"] == "=statusUrl"
    assert element.message_name == "order-shipped"


def test_only_http_polling_message_events() -> None:
    xml = f"""{HEAD}
      <bpmn:process id="p">
        <bpmn:intermediateCatchEvent id="timer">{polling_props()}
          <bpmn:timerEventDefinition /></bpmn:intermediateCatchEvent>
        <bpmn:intermediateCatchEvent id="webhook">
          {polling_props(inbound="io.camunda:webhook:1")}
          <bpmn:messageEventDefinition messageRef="m" /></bpmn:intermediateCatchEvent>
        <bpmn:intermediateCatchEvent id="plain">
          <bpmn:messageEventDefinition messageRef="m" /></bpmn:intermediateCatchEvent>
        <bpmn:receiveTask id="task" messageRef="m">{polling_props()}</bpmn:receiveTask>
        <bpmn:intermediateCatchEvent id="yes">{polling_props()}
          <bpmn:messageEventDefinition messageRef="m" /></bpmn:intermediateCatchEvent>
      </bpmn:process>
      <bpmn:message id="m" name="msg" />
    </bpmn:definitions>"""
    assert [e.element_id for e in find_polling_elements(xml)] == ["yes"]


def test_nested_subprocesses_and_multiple_processes() -> None:
    xml = f"""{HEAD}
      <bpmn:process id="p1">
        <bpmn:subProcess id="s1"><bpmn:subProcess id="s2">
          <bpmn:intermediateCatchEvent id="deep">{polling_props()}
            <bpmn:messageEventDefinition messageRef="m" /></bpmn:intermediateCatchEvent>
        </bpmn:subProcess></bpmn:subProcess>
      </bpmn:process>
      <bpmn:process id="p2">
        <bpmn:serviceTask id="t" />
        <bpmn:boundaryEvent id="b" attachedToRef="t" cancelActivity="false">
          {polling_props()}<bpmn:messageEventDefinition messageRef="m" /></bpmn:boundaryEvent>
      </bpmn:process>
      <bpmn:message id="m" name="msg" />
    </bpmn:definitions>"""
    found = [
        (e.process_id, e.element_id, e.kind, e.attached_to) for e in find_polling_elements(xml)
    ]
    assert found == [("p1", "deep", "intermediate", None), ("p2", "b", "boundary", "t")]


def test_missing_message_and_duplicate_property() -> None:
    extra = '<zeebe:property name="url" value="http://first" />'
    extra += '<zeebe:property name="url" value="http://second" />'
    xml = f"""{HEAD}<bpmn:process id="p">
        <bpmn:intermediateCatchEvent id="e">{polling_props(extra)}
          <bpmn:messageEventDefinition /></bpmn:intermediateCatchEvent>
      </bpmn:process></bpmn:definitions>"""
    [element] = find_polling_elements(xml)
    assert element.message_name is None
    assert element.subscription_correlation_key is None
    assert element.properties["url"] == "http://first"


@pytest.mark.parametrize(
    "xml",
    [
        "not xml",
        "<bpmn:definitions",
        "<other/>",
        '<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>',
    ],
)
def test_unreadable_documents(xml: str) -> None:
    with pytest.raises(BpmnError):
        find_polling_elements(xml)


SCOPES = f"""{HEAD}
  <bpmn:process id="p">
    <bpmn:serviceTask id="top" />
    <bpmn:subProcess id="outer">
      <bpmn:transaction id="tx">
        <bpmn:adHocSubProcess id="adhoc"><bpmn:serviceTask id="inner" /></bpmn:adHocSubProcess>
      </bpmn:transaction>
      <bpmn:serviceTask id="task" />
      <bpmn:boundaryEvent id="b" attachedToRef="task" />
    </bpmn:subProcess>
    <bpmn:subProcess id="events" triggeredByEvent="true">
      <bpmn:intermediateCatchEvent id="wait" />
    </bpmn:subProcess>
  </bpmn:process>
</bpmn:definitions>"""


def test_element_ancestors_innermost_first_through_every_container() -> None:
    ancestors = element_ancestors(SCOPES)
    assert ancestors["top"] == ()
    assert ancestors["outer"] == ()
    assert ancestors["inner"] == ("adhoc", "tx", "outer")
    assert ancestors["wait"] == ("events",)
    # a boundary event lives in its activity's scope
    assert ancestors["b"] == ancestors["task"] == ("outer",)


def test_one_parsed_document_serves_elements_and_ancestors() -> None:
    xml = f"""{HEAD}<bpmn:process id="p"><bpmn:subProcess id="s">
        <bpmn:intermediateCatchEvent id="e">{polling_props()}
          <bpmn:messageEventDefinition messageRef="m" /></bpmn:intermediateCatchEvent>
      </bpmn:subProcess></bpmn:process><bpmn:message id="m" name="msg" /></bpmn:definitions>"""
    root = parse_definitions(xml)
    assert [e.element_id for e in find_polling_elements(root)] == ["e"]
    assert element_ancestors(root) == element_ancestors(xml) == {"s": (), "e": ("s",)}


@pytest.mark.parametrize("xml", ["not xml", "<other/>"])
def test_element_ancestors_of_unreadable_documents(xml: str) -> None:
    with pytest.raises(BpmnError):
        element_ancestors(xml)
