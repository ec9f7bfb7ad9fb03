"""Fixtures for the wire-level dev engine tests: a running engine on free loopback ports,
BPMN documents written to files (pyzeebe deploys from paths) and polling helpers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest
import requests
from pyzeebe import ZeebeClient, create_insecure_channel
from pyzeebe.proto import gateway_pb2 as pb
from pyzeebe.proto.gateway_pb2_grpc import GatewayStub

from connector.devengine.server import DevEngine, DevEngineOptions

T = TypeVar("T")

HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"
                  id="defs" targetNamespace="http://example.com/devengine-tests">
"""
FOOTER = "</bpmn:definitions>\n"


def service_task_process(process_id: str = "double-process", job_type: str = "double-it") -> str:
    """start -> service task (input x->value, output doubled->result, a header) -> end."""
    return f"""{HEADER}
  <bpmn:process id="{process_id}" name="Double" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="double"/>
    <bpmn:serviceTask id="double" name="Double it">
      <bpmn:extensionElements>
        <zeebe:taskDefinition type="{job_type}" retries="3"/>
        <zeebe:taskHeaders>
          <zeebe:header key="mode" value="fast"/>
        </zeebe:taskHeaders>
        <zeebe:ioMapping>
          <zeebe:input source="=x" target="value"/>
          <zeebe:output source="=doubled" target="result"/>
        </zeebe:ioMapping>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="double" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
{FOOTER}"""


def message_catch_process(
    process_id: str = "wait-process", message: str = "order-paid", name: str = "Wait for payment"
) -> str:
    """start -> intermediate message catch (correlation key = orderId) -> end."""
    return f"""{HEADER}
  <bpmn:message id="msg" name="{message}">
    <bpmn:extensionElements>
      <zeebe:subscription correlationKey="=orderId"/>
    </bpmn:extensionElements>
  </bpmn:message>
  <bpmn:process id="{process_id}" name="Wait" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
    <bpmn:intermediateCatchEvent id="wait" name="{name}">
      <bpmn:extensionElements>
        <zeebe:properties>
          <zeebe:property name="inbound.type" value="io.camunda:http-polling:1"/>
        </zeebe:properties>
      </bpmn:extensionElements>
      <bpmn:messageEventDefinition messageRef="msg"/>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
{FOOTER}"""


def message_start_process(process_id: str = "msg-start-process", message: str = "kick") -> str:
    """message start event -> intermediate catch "never" (keeps the instance visible) -> end."""
    return f"""{HEADER}
  <bpmn:message id="kick" name="{message}"/>
  <bpmn:message id="never" name="never-sent">
    <bpmn:extensionElements>
      <zeebe:subscription correlationKey="=ref"/>
    </bpmn:extensionElements>
  </bpmn:message>
  <bpmn:process id="{process_id}" isExecutable="true">
    <bpmn:startEvent id="start">
      <bpmn:messageEventDefinition messageRef="kick"/>
    </bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="hold"/>
    <bpmn:intermediateCatchEvent id="hold">
      <bpmn:messageEventDefinition messageRef="never"/>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="hold" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
{FOOTER}"""


def unsupported_element_process(process_id: str = "bad-process") -> str:
    """A process with a user task, which the development engine does not support."""
    return f"""{HEADER}
  <bpmn:process id="{process_id}" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="approveInvoice"/>
    <bpmn:userTask id="approveInvoice"/>
    <bpmn:sequenceFlow id="f2" sourceRef="approveInvoice" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
{FOOTER}"""


@pytest.fixture
def bpmn_file(tmp_path: Path) -> Callable[[str, str], str]:
    """Write a BPMN document to a file and return its path (pyzeebe deploys from paths)."""

    def write(name: str, xml: str) -> str:
        path = tmp_path / name
        path.write_text(xml, encoding="utf-8")
        return str(path)

    return write


@pytest.fixture
def dev() -> Iterator[DevEngine]:
    """A fresh dev engine on free ports, short long-polling so workers stop quickly."""
    with DevEngine.run_in_thread(options=DevEngineOptions(long_poll_ms=2_000)) as running:
        yield running


def wait_until(probe: Callable[[], T | None], timeout_s: float = 5.0, what: str = "") -> T:
    """Poll ``probe`` until it returns something truthy, or fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what or probe}")
        time.sleep(0.02)


def rest_search(dev: DevEngine, resource: str, body: dict[str, Any]) -> dict[str, Any]:
    response = requests.post(f"{dev.rest_url}/v2/{resource}/search", json=body, timeout=10)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def deploy(dev: DevEngine, paths: list[str]) -> list[Any]:
    """Deploy BPMN files through the gRPC gateway with pyzeebe; returns the process metadata."""

    async def go() -> list[Any]:
        channel = create_insecure_channel(grpc_address=dev.grpc_address)
        try:
            client = ZeebeClient(channel)
            result = await client.deploy_resource(*paths)
            return list(result.deployments)
        finally:
            await channel.close()

    return asyncio.run(go())


def create_instance(dev: DevEngine, process_id: str, variables: dict[str, Any]) -> str:
    """Start an instance through REST v2; returns its key."""
    body = {"processDefinitionId": process_id, "variables": variables}
    response = requests.post(f"{dev.rest_url}/v2/process-instances", json=body, timeout=10)
    assert response.status_code == 200, response.text
    key: str = response.json()["processInstanceKey"]
    return key


def timer_process(process_id: str = "timer-process", duration: str = "PT0.3S") -> str:
    """start -> timer intermediate catch (duration) -> end."""
    return f"""{HEADER}
  <bpmn:process id="{process_id}" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="pause"/>
    <bpmn:intermediateCatchEvent id="pause">
      <bpmn:timerEventDefinition>
        <bpmn:timeDuration>{duration}</bpmn:timeDuration>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="pause" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
{FOOTER}"""


def incident_from_failed_job(dev: DevEngine, bpmn_path: str) -> tuple[str, int]:
    """Deploy the service-task process, start it and fail its job with no retries left.

    Returns the process instance key (REST form) and the job key.
    """

    async def go() -> tuple[str, int]:
        channel = create_insecure_channel(grpc_address=dev.grpc_address)
        try:
            client = ZeebeClient(channel)
            await client.deploy_resource(bpmn_path)
            created = await client.run_process("double-process", {"x": 1})
            stub = GatewayStub(channel)
            request = pb.ActivateJobsRequest(
                type="double-it", worker="w", timeout=30_000, maxJobsToActivate=1
            )
            [job] = [j async for response in stub.ActivateJobs(request) for j in response.jobs]
            await stub.FailJob(pb.FailJobRequest(jobKey=job.key, retries=0, errorMessage="down"))
            return str(created.process_instance_key), job.key
        finally:
            await channel.close()

    return asyncio.run(go())


@asynccontextmanager
async def zeebe(dev: DevEngine) -> AsyncIterator[tuple[ZeebeClient, grpc.aio.Channel]]:
    """A pyzeebe client and its channel to the dev engine (closed on exit)."""
    channel = create_insecure_channel(grpc_address=dev.grpc_address)
    try:
        yield ZeebeClient(channel), channel
    finally:
        await channel.close()


def run(coroutine: Any) -> Any:
    """Run a gRPC scenario on a fresh event loop, bounded in time."""
    return asyncio.run(asyncio.wait_for(coroutine, timeout=30))
