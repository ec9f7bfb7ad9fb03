"""Deployment: validation of the supported BPMN subset, versioning, definitions queries."""

from __future__ import annotations

import pytest

from connector.devengine import EngineError
from tests.helpers.bpmn import END, START, catch_message, chain, definitions, message, service_task
from tests.helpers.engine import new_engine

SIMPLE = definitions(START + END + chain("start", "end"), name="Simple")


def test_deploy_returns_metadata_and_first_version() -> None:
    engine, _ = new_engine()
    result = engine.deploy([("simple.bpmn", SIMPLE)])
    (process,) = result.processes
    assert process.bpmn_process_id == "p"
    assert process.version == 1
    assert process.resource_name == "simple.bpmn"
    assert process.tenant_id == "<default>"
    assert process.process_definition_key >= 2251799813685249


def test_identical_redeploy_keeps_version_and_changed_creates_new_one() -> None:
    engine, _ = new_engine()
    first = engine.deploy([("simple.bpmn", SIMPLE)]).processes[0]
    again = engine.deploy([("simple.bpmn", SIMPLE)]).processes[0]
    assert (again.version, again.process_definition_key) == (1, first.process_definition_key)
    changed = definitions(START + service_task("t") + END + chain("start", "t", "end"))
    second = engine.deploy([("simple.bpmn", changed)]).processes[0]
    assert second.version == 2
    assert second.process_definition_key != first.process_definition_key
    latest = engine.process_definitions(is_latest=True)
    assert [(d.bpmn_process_id, d.version) for d in latest] == [("p", 2)]
    assert [d.version for d in engine.process_definitions(bpmn_process_id="p")] == [1, 2]


def test_definition_record_and_xml_served_verbatim() -> None:
    engine, _ = new_engine()
    props = (
        '<bpmn:serviceTask id="t" name="Call"><bpmn:extensionElements>'
        '<zeebe:taskDefinition type="x"/><zeebe:properties>'
        '<zeebe:property name="inbound.type" value="io.camunda:http-polling:1"/>'
        "</zeebe:properties></bpmn:extensionElements></bpmn:serviceTask>"
    )
    xml = definitions(START + props + chain("start", "t"), name="With props")
    key = engine.deploy([("props.bpmn", xml)]).processes[0].process_definition_key
    (record,) = engine.process_definitions(key=key)
    assert record.name == "With props"
    assert record.resource_name == "props.bpmn"
    assert record.is_latest
    assert engine.process_definition_xml(key) == xml.decode()
    with pytest.raises(EngineError) as info:
        engine.process_definition_xml(key + 1000)
    assert info.value.code == "NOT_FOUND"


def test_non_bpmn_resource_is_rejected_naming_it() -> None:
    engine, _ = new_engine()
    with pytest.raises(EngineError) as info:
        engine.deploy([("simple.bpmn", SIMPLE), ("form.json", b"{}")])
    assert info.value.code == "INVALID_ARGUMENT"
    assert "'form.json'" in info.value.message
    assert engine.process_definitions() == []  # atomic: nothing deployed


@pytest.mark.parametrize(
    ("body", "element", "reason"),
    [
        (
            START + '<bpmn:userTask id="approve"/>' + chain("start", "approve"),
            "approve",
            "'userTask' are not supported",
        ),
        (
            START + '<bpmn:serviceTask id="call"/>' + chain("start", "call"),
            "call",
            "zeebe:taskDefinition",
        ),
        (
            START + '<bpmn:intermediateThrowEvent id="throw"/>' + chain("start", "throw"),
            "throw",
            "not supported",
        ),
        (
            START + catch_message("wait", "missing") + chain("start", "wait"),
            "wait",
            "messageRef 'missing' not found",
        ),
        (
            START + '<bpmn:intermediateCatchEvent id="clock"><bpmn:timerEventDefinition>'
            "<bpmn:timeDuration>soon</bpmn:timeDuration></bpmn:timerEventDefinition>"
            "</bpmn:intermediateCatchEvent>" + chain("start", "clock"),
            "clock",
            "Invalid timer duration",
        ),
        (
            START
            + '<bpmn:exclusiveGateway id="gw"/>'
            + END
            + '<bpmn:endEvent id="end2"/>'
            + chain("start", "gw")
            + '<bpmn:sequenceFlow id="a" sourceRef="gw" targetRef="end"/>'
            + '<bpmn:sequenceFlow id="b" sourceRef="gw" targetRef="end2"/>',
            "a",
            "Must have a condition or be the default flow",
        ),
        (
            START + '<bpmn:sequenceFlow id="dangling" sourceRef="start" targetRef="nowhere"/>',
            "dangling",
            "'nowhere'",
        ),
        ("", "p", "at least one start event"),
    ],
)
def test_invalid_bpmn_is_rejected_naming_element_and_reason(
    body: str, element: str, reason: str
) -> None:
    engine, _ = new_engine()
    with pytest.raises(EngineError) as info:
        engine.deploy([("bad.bpmn", definitions(body))])
    assert info.value.code == "INVALID_ARGUMENT"
    assert f"Element: {element}" in info.value.message
    assert reason in info.value.message
    assert "'bad.bpmn'" in info.value.message


def test_catch_event_without_correlation_key_is_rejected() -> None:
    engine, _ = new_engine()
    xml = definitions(
        START + catch_message("wait", "m") + chain("start", "wait"),
        messages=message("m", "go", correlation_key=None),
    )
    with pytest.raises(EngineError) as info:
        engine.deploy([("m.bpmn", xml)])
    assert "Element: wait" in info.value.message
    assert "correlation key" in info.value.message


def test_malformed_xml_and_doctype_are_rejected_without_crashing() -> None:
    engine, _ = new_engine()
    for content in (b"<not-closed", b'<!DOCTYPE x [<!ENTITY a "b">]><x/>', b"\xff\xfe"):
        with pytest.raises(EngineError) as info:
            engine.deploy([("x.bpmn", content)])
        assert info.value.code == "INVALID_ARGUMENT"


def test_create_instance_errors() -> None:
    engine, _ = new_engine()
    with pytest.raises(EngineError) as info:
        engine.create_process_instance("nope")
    assert info.value.code == "NOT_FOUND"
    assert "process ID 'nope'" in info.value.message
    engine.deploy([("simple.bpmn", SIMPLE)])
    with pytest.raises(EngineError) as info:
        engine.create_process_instance("p", version=7)
    assert info.value.code == "NOT_FOUND"
    with pytest.raises(EngineError) as info:
        engine.create_process_instance(process_definition_key=12345)
    assert info.value.code == "NOT_FOUND"
    started = engine.create_process_instance("p", version=1)
    assert started.version == 1


def test_topology_is_single_partition() -> None:
    engine, _ = new_engine()
    topology = engine.topology()
    assert (topology.cluster_size, topology.partitions_count, topology.replication_factor) == (
        1,
        1,
        1,
    )
    (broker,) = topology.brokers
    assert (broker.partition_id, broker.role, broker.health) == (1, "leader", "healthy")


MODELER_STYLE = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
    xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"
    xmlns:modeler="http://camunda.org/schema/modeler/1.0"
    id="Definitions_1" targetNamespace="http://bpmn.io/schema/bpmn"
    modeler:executionPlatform="Camunda Cloud" modeler:executionPlatformVersion="8.6.0">
  <bpmn:process id="modeled" name="Modeled" isExecutable="true">
    <bpmn:extensionElements><zeebe:versionTag value="v1"/></bpmn:extensionElements>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:subProcess id="sub" name="Sub">
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:startEvent id="s_start"><bpmn:outgoing>s1</bpmn:outgoing></bpmn:startEvent>
      <bpmn:endEvent id="s_end"><bpmn:incoming>s1</bpmn:incoming></bpmn:endEvent>
      <bpmn:sequenceFlow id="s1" sourceRef="s_start" targetRef="s_end"/>
    </bpmn:subProcess>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="sub"/>
    <bpmn:sequenceFlow id="f2" sourceRef="sub" targetRef="end"/>
  </bpmn:process>
  <bpmndi:BPMNDiagram id="d"><bpmndi:BPMNPlane id="pl" bpmnElement="modeled">
    <bpmndi:BPMNShape id="s" bpmnElement="start"><dc:Bounds x="1" y="1" width="36" height="36"/>
    </bpmndi:BPMNShape></bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


def test_modeler_style_xml_with_incoming_outgoing_and_diagram_deploys_and_runs() -> None:
    engine, _ = new_engine()
    (process,) = engine.deploy([("modeled.bpmn", MODELER_STYLE)]).processes
    assert engine.process_definitions(key=process.process_definition_key)[0].version_tag == "v1"
    pi = engine.create_process_instance("modeled").process_instance_key
    assert engine.process_instances(key=pi)[0].state == "COMPLETED"
    ids = [e.element_id for e in engine.element_instances(process_instance_key=pi)]
    assert ids == ["start", "sub", "s_start", "s_end", "end"]


def nested_sub_processes(depth: int) -> bytes:
    """``depth`` sub-processes, each started inside the previous one, a timer innermost."""
    body = (
        '<bpmn:startEvent id="in"/><bpmn:sequenceFlow id="fin" sourceRef="in" targetRef="w"/>'
        '<bpmn:intermediateCatchEvent id="w"><bpmn:timerEventDefinition><bpmn:timeDuration>'
        "PT1H</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
    )
    for i in reversed(range(depth)):
        body = (
            f'<bpmn:startEvent id="s{i}"/>'
            f'<bpmn:sequenceFlow id="f{i}" sourceRef="s{i}" targetRef="sp{i}"/>'
            f'<bpmn:subProcess id="sp{i}">{body}</bpmn:subProcess>'
        )
    return definitions(body)


def test_deep_nesting_runs_up_to_the_limit_and_beyond_is_a_clear_error() -> None:
    engine, _ = new_engine()
    engine.deploy([("deep.bpmn", nested_sub_processes(190))])
    key = engine.create_process_instance("p").process_instance_key
    assert engine.process_instances(key=key)[0].state == "ACTIVE"
    for depth in (400, 5_000):  # 1,200 once raised RecursionError out of the engine
        with pytest.raises(EngineError) as refused:
            engine.deploy([("deeper.bpmn", nested_sub_processes(depth))])
        assert "nested deeper than 200 levels" in str(refused.value)
        assert "deeper.bpmn" in str(refused.value)
