"""Camunda's official clients against the dev engine, under each emulated version.

``@camunda8/orchestration-cluster-api`` (8.8.x for 8.8, 9.x for 8.9) with request and response
validation ``strict`` walks every endpoint and filter the worker uses plus the 400/401/404
paths (``rest_client.mjs``); ``@camunda8/sdk`` drives the gRPC side (``grpc_client.mjs``).
The clients are installed by ``.ci/run`` (``npm ci --prefix tests/official``). Without node
these tests skip locally, but fail under CI (``CI`` set) so they can never silently vanish.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.devengine.rest import AuthConfig
from connector.devengine.server import DevEngine, DevEngineOptions

HERE = Path(__file__).parent
MODULES = HERE / "node_modules"
PACKAGES = {
    "8.8": "orchestration-cluster-api-8.8",
    "8.9": "orchestration-cluster-api-8.9",
}
NODE_TIMEOUT_S = 120

SUBPROCESS_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="defs"
    targetNamespace="http://example.com/official-clients">
  <bpmn:message id="msg" name="official-done">
    <bpmn:extensionElements>
      <zeebe:subscription correlationKey="=orderId"/>
    </bpmn:extensionElements>
  </bpmn:message>
  <bpmn:process id="official-p" name="Official" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="sub"/>
    <bpmn:subProcess id="sub">
      <bpmn:startEvent id="subStart"/>
      <bpmn:sequenceFlow id="s1" sourceRef="subStart" targetRef="wait"/>
      <bpmn:intermediateCatchEvent id="wait">
        <bpmn:messageEventDefinition messageRef="msg"/>
      </bpmn:intermediateCatchEvent>
      <bpmn:sequenceFlow id="s2" sourceRef="wait" targetRef="subEnd"/>
      <bpmn:endEvent id="subEnd"/>
    </bpmn:subProcess>
    <bpmn:sequenceFlow id="f2" sourceRef="sub" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def node_or_skip() -> str:
    """The node binary with the clients installed; skip locally, fail under CI."""
    node = shutil.which("node")
    if node is not None and all((MODULES / name).is_dir() for name in PACKAGES.values()):
        return node
    reason = "node and the official clients (npm ci --prefix tests/official) are required"
    if os.environ.get("CI"):
        pytest.fail(reason + " under CI")
    pytest.skip(reason)


@pytest.fixture(params=["8.8", "8.9"])
def version(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def engines(version: str) -> Iterator[tuple[DevEngine, DevEngine]]:
    """An open engine with two waiting instances, and one that demands basic auth."""
    options = DevEngineOptions(long_poll_ms=1_000, camunda_version=version, truncation_limit=16)
    secured = DevEngineOptions(
        camunda_version=version, auth=AuthConfig(username="demo", password="demo-secret")
    )
    with (
        DevEngine.run_in_thread(options=options) as dev,
        DevEngine.run_in_thread(options=secured) as locked,
    ):
        dev.engine.deploy([("official.bpmn", SUBPROCESS_BPMN.encode())])
        for order in ("o-1", "o-2"):
            dev.engine.create_process_instance(
                "official-p", variables={"orderId": order, "big": "x" * 100, "other": 1}
            )
        yield dev, locked


def run_node(node: str, script: str, env: dict[str, str]) -> str:
    completed = subprocess.run(
        [node, str(HERE / script)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT_S,
        cwd=HERE,
        check=False,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    return output


def test_official_rest_client_accepts_every_answer_the_worker_reads(
    version: str, engines: tuple[DevEngine, DevEngine]
) -> None:
    node = node_or_skip()
    dev, locked = engines
    output = run_node(
        node,
        "rest_client.mjs",
        {
            "CLIENT_PACKAGE": PACKAGES[version],
            "REST_URL": dev.rest_url,
            "EXPECT_VERSION": version,
            "PROCESS_ID": "official-p",
            "MESSAGE_NAME": "official-done",
            "SUBPROCESS_ID": "sub",
            "WAIT_ELEMENT_ID": "wait",
            "AUTH_REST_URL": locked.rest_url,
            "AUTH_USER": "demo",
            "AUTH_PASSWORD": "demo-secret",
        },
    )
    assert "all checks passed" in output
    # the published message completed the second instance
    completed = dev.engine.process_instances(bpmn_process_id="official-p", state="COMPLETED")
    assert len(completed) == 1


GRPC_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="defs"
    targetNamespace="http://example.com/official-clients">
  <bpmn:message id="msg" name="grpc-done">
    <bpmn:extensionElements>
      <zeebe:subscription correlationKey="=orderId"/>
    </bpmn:extensionElements>
  </bpmn:message>
  <bpmn:process id="grpc-p" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="task"/>
    <bpmn:serviceTask id="task">
      <bpmn:extensionElements>
        <zeebe:taskDefinition type="grpc-job"/>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="task" targetRef="wait"/>
    <bpmn:intermediateCatchEvent id="wait">
      <bpmn:messageEventDefinition messageRef="msg"/>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f3" sourceRef="wait" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_official_grpc_client_runs_a_process_to_the_end(version: str, tmp_path: Path) -> None:
    node = node_or_skip()
    bpmn = tmp_path / "grpc.bpmn"
    bpmn.write_text(GRPC_BPMN)
    options = DevEngineOptions(long_poll_ms=1_000, camunda_version=version)
    with DevEngine.run_in_thread(options=options) as dev:
        output = run_node(
            node,
            "grpc_client.mjs",
            {"GRPC_ADDRESS": dev.grpc_address, "EXPECT_VERSION": version, "BPMN_PATH": str(bpmn)},
        )
        assert "all checks passed" in output
        [done] = dev.engine.process_instances(bpmn_process_id="grpc-p")
        assert done.state == "COMPLETED"
        variables = {v.name: v.value for v in dev.engine.variables(process_instance_key=done.key)}
        assert variables["handled"] == "true" and variables["status"] == '"done"'
