"""The worker's own REST requests, recorded during an end-to-end run, are ones that every
supported Camunda version accepts (checked against each version's contract tables).

The run exercises every discovery path: latest definitions, the XML, open subscriptions,
variables by batch, and the element-instance lookup of a polling element inside a
sub-process. The engine itself already refuses requests outside the emulated version's
contract; this test also holds the worker to the *other* versions' contracts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from xml.sax.saxutils import quoteattr

import pytest

from connector.devengine.contract import VERSIONS, request_violations
from connector.devengine.server import DevEngine, DevEngineOptions
from tests.worker.bpmn_builder import HEADER, polling_properties
from tests.worker.harness import Endpoint, WorkerProcess, serve_endpoint, until

URL = '=base + "/items/" + id'


def subprocess_bpmn(props: dict[str, str]) -> str:
    """start -> sub-process (start -> polling catch event -> end) -> end."""
    lines = "\n".join(
        f"            <zeebe:property name={quoteattr(k)} value={quoteattr(v)} />"
        for k, v in props.items()
    )
    return (
        HEADER
        + f"""  <bpmn:process id="nested" isExecutable="true">
    <bpmn:startEvent id="Start" />
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Sub" />
    <bpmn:subProcess id="Sub">
      <bpmn:startEvent id="SubStart" />
      <bpmn:sequenceFlow id="s1" sourceRef="SubStart" targetRef="Wait" />
      <bpmn:intermediateCatchEvent id="Wait" name="Wait for done">
        <bpmn:extensionElements>
          <zeebe:properties>
{lines}
          </zeebe:properties>
        </bpmn:extensionElements>
        <bpmn:messageEventDefinition id="med1" messageRef="Msg" />
      </bpmn:intermediateCatchEvent>
      <bpmn:sequenceFlow id="s2" sourceRef="Wait" targetRef="SubEnd" />
      <bpmn:endEvent id="SubEnd" />
    </bpmn:subProcess>
    <bpmn:sequenceFlow id="f2" sourceRef="Sub" targetRef="End" />
    <bpmn:endEvent id="End" />
  </bpmn:process>
  <bpmn:message id="Msg" name="done-msg">
    <bpmn:extensionElements>
      <zeebe:subscription correlationKey="=id" />
    </bpmn:extensionElements>
  </bpmn:message>
</bpmn:definitions>
"""
    )


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    yield from serve_endpoint()


@pytest.mark.parametrize("version", VERSIONS)
def test_every_worker_request_is_accepted_by_every_version(
    version: str, endpoint: Endpoint
) -> None:
    options = DevEngineOptions(camunda_version=version)
    with DevEngine.run_in_thread(options=options) as dev:
        recorded = dev.rest_api.recorded = []
        dev.engine.deploy([("nested.bpmn", subprocess_bpmn(polling_properties(URL)).encode())])
        endpoint.set("/items/a", {"id": "a", "status": "waiting"})
        pik = dev.engine.create_process_instance(
            "nested", variables={"base": endpoint.url, "id": "a"}
        ).process_instance_key
        worker = WorkerProcess(dev.grpc_address, dev.rest_url)
        try:
            until(lambda: endpoint.hits_for("/items/a"), what="a first poll", timeout=30)
            endpoint.set("/items/a", {"id": "a", "status": "done"})
            until(
                lambda: dev.engine.process_instances(key=pik)[0].state == "COMPLETED",
                what="the instance completed",
                timeout=30,
            )
            assert worker.logs("cluster version")
        finally:
            assert worker.stop() == 0
    sent = list(recorded)
    paths = {
        (method, path.rsplit("/", 2)[-2] if path.endswith("/xml") else path)
        for method, path, *_ in sent
    }
    for expected in (
        ("GET", "/v2/topology"),
        ("POST", "/v2/process-definitions/search"),
        ("POST", "/v2/message-subscriptions/search"),
        ("POST", "/v2/variables/search"),
        ("POST", "/v2/element-instances/search"),
    ):
        assert expected in paths, (expected, sorted(paths))
    assert any(path.endswith("/xml") for _, path, *_ in sent), sent
    problems = [
        problem
        for method, path, body, accept in sent
        for other in VERSIONS
        for problem in request_violations(other, method, path, body, accept)
    ]
    assert problems == [], json.dumps(problems, indent=1)
