"""Independent review of the dev engine against documented Zeebe semantics, over the wire.

Every test drives a running dev engine through its real network interfaces (the gRPC gateway
with pyzeebe's ZeebeClient / ZeebeWorker or the raw gateway stub pyzeebe ships, and REST v2
with requests) and asserts one rule of the Camunda 8 documentation, cited above each test.
These tests exist to keep the engine honest: end-to-end tests built on it are only as true as
its semantics.

Doc references are paths of docs.camunda.io (Camunda 8.8 docs unless said otherwise).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Iterator
from html import escape
from pathlib import Path
from typing import Any

import grpc
import pytest
import requests
from pyzeebe import ZeebeClient, ZeebeWorker, create_insecure_channel
from pyzeebe.errors import MessageAlreadyExistsError, ProcessTimeoutError
from pyzeebe.proto import gateway_pb2 as pb
from pyzeebe.proto.gateway_pb2_grpc import GatewayStub

from connector.devengine.clock import ManualClock
from connector.devengine.server import DevEngine, DevEngineOptions

from .conftest import wait_until

# ---------------------------------------------------------------------------- BPMN builders

_HEADER = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'id="defs" targetNamespace="http://example.com/zeebe-semantics">\n'
)


def bpmn(process_id: str, body: str, messages: str = "") -> str:
    return (
        f'{_HEADER}{messages}<bpmn:process id="{process_id}" isExecutable="true">\n'
        f"{body}</bpmn:process>\n</bpmn:definitions>\n"
    )


def msg(ref: str, name: str, key: str | None = "=orderId") -> str:
    sub = (
        ""
        if key is None
        else f'<bpmn:extensionElements><zeebe:subscription correlationKey="{escape(key)}"/>'
        "</bpmn:extensionElements>"
    )
    return f'<bpmn:message id="{ref}" name="{escape(name)}">{sub}</bpmn:message>\n'


def seq(source: str, target: str, condition: str | None = None, flow_id: str = "") -> str:
    flow_id = flow_id or f"{source}_to_{target}"
    if condition is None:
        return f'<bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}"/>\n'
    return (
        f'<bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}">'
        f'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{escape(condition)}'
        "</bpmn:conditionExpression></bpmn:sequenceFlow>\n"
    )


def io(inputs: dict[str, str] | None = None, outputs: dict[str, str] | None = None) -> str:
    """zeebe:ioMapping; keys are targets, values are FEEL sources."""
    lines = [f'<zeebe:input source="{escape(s)}" target="{t}"/>' for t, s in (inputs or {}).items()]
    lines += [
        f'<zeebe:output source="{escape(s)}" target="{t}"/>' for t, s in (outputs or {}).items()
    ]
    return f"<zeebe:ioMapping>{''.join(lines)}</zeebe:ioMapping>"


def task(task_id: str, job_type: str, mapping: str = "") -> str:
    return (
        f'<bpmn:serviceTask id="{task_id}"><bpmn:extensionElements>'
        f'<zeebe:taskDefinition type="{job_type}" retries="3"/>{mapping}'
        "</bpmn:extensionElements></bpmn:serviceTask>\n"
    )


def catch(event_id: str, message_ref: str, mapping: str = "") -> str:
    ext = f"<bpmn:extensionElements>{mapping}</bpmn:extensionElements>" if mapping else ""
    return (
        f'<bpmn:intermediateCatchEvent id="{event_id}">{ext}'
        f'<bpmn:messageEventDefinition messageRef="{message_ref}"/>'
        "</bpmn:intermediateCatchEvent>\n"
    )


def message_boundary(event_id: str, attached_to: str, message_ref: str, interrupting: bool) -> str:
    return (
        f'<bpmn:boundaryEvent id="{event_id}" attachedToRef="{attached_to}" '
        f'cancelActivity="{"true" if interrupting else "false"}">'
        f'<bpmn:messageEventDefinition messageRef="{message_ref}"/></bpmn:boundaryEvent>\n'
    )


def timer_boundary(event_id: str, attached_to: str, duration: str, interrupting: bool) -> str:
    return (
        f'<bpmn:boundaryEvent id="{event_id}" attachedToRef="{attached_to}" '
        f'cancelActivity="{"true" if interrupting else "false"}">'
        f"<bpmn:timerEventDefinition><bpmn:timeDuration>{duration}</bpmn:timeDuration>"
        "</bpmn:timerEventDefinition></bpmn:boundaryEvent>\n"
    )


def sub_process(sub_id: str, inner: str, mapping: str = "") -> str:
    ext = f"<bpmn:extensionElements>{mapping}</bpmn:extensionElements>" if mapping else ""
    return f'<bpmn:subProcess id="{sub_id}">{ext}{inner}</bpmn:subProcess>\n'


START = '<bpmn:startEvent id="start"/>\n'
END = '<bpmn:endEvent id="end"/>\n'


def catch_process(process_id: str, message_name: str, key: str = "=orderId") -> str:
    """start -> message catch 'wait' -> end."""
    body = START + catch("wait", "m") + END + seq("start", "wait") + seq("wait", "end")
    return bpmn(process_id, body, msg("m", message_name, key))


def changed(xml: str) -> str:
    """The same process with a cosmetic change (a name on the end event): a new resource."""
    return xml.replace('<bpmn:endEvent id="end"/>', '<bpmn:endEvent id="end" name="Done"/>')


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# ---------------------------------------------------------------------------- wire helpers


class Wire:
    """pyzeebe's client and the gateway stub on one channel, driven from synchronous tests,
    plus REST v2 calls with requests."""

    def __init__(self, dev: DevEngine, tmp_path: Path) -> None:
        self.dev = dev
        self.rest = dev.rest_url
        self._tmp = tmp_path
        self._loop = asyncio.new_event_loop()
        self.channel: grpc.aio.Channel = self.run(self._open())
        self.client = ZeebeClient(self.channel)
        self.stub = GatewayStub(self.channel)

    async def _open(self) -> grpc.aio.Channel:
        return create_insecure_channel(grpc_address=self.dev.grpc_address)

    def run(self, coroutine: Any) -> Any:
        return self._loop.run_until_complete(asyncio.wait_for(coroutine, timeout=20))

    def close(self) -> None:
        self.run(self.channel.close())
        self._loop.close()

    # -------------------------------------------------------------- gRPC

    def deploy(self, name: str, xml: str) -> Any:
        path = self._tmp / f"{name}.bpmn"
        path.write_text(xml, encoding="utf-8")
        [deployment] = self.run(self.client.deploy_resource(str(path))).deployments
        return deployment

    def start(self, process_id: str, variables: dict[str, Any] | None = None) -> int:
        created = self.run(self.client.run_process(process_id, variables or {}))
        return int(created.process_instance_key)

    def publish(
        self,
        name: str,
        key: str,
        ttl_ms: int = 0,
        variables: dict[str, Any] | None = None,
        message_id: str | None = None,
    ) -> int:
        response = self.run(
            self.client.publish_message(
                name,
                key,
                variables or {},
                time_to_live_in_milliseconds=ttl_ms,
                message_id=message_id,
            )
        )
        return int(response.key)

    def activate(self, job_type: str, timeout_ms: int = 30_000, max_jobs: int = 10) -> list[Any]:
        """Activate what is activatable now (requestTimeout < 0 disables long polling)."""
        request = pb.ActivateJobsRequest(
            type=job_type,
            worker="semantics-test",
            timeout=timeout_ms,
            maxJobsToActivate=max_jobs,
            requestTimeout=-1,
        )

        async def go() -> list[Any]:
            return [
                job async for response in self.stub.ActivateJobs(request) for job in response.jobs
            ]

        jobs: list[Any] = self.run(go())
        return jobs

    def call(self, rpc: str, request: Any) -> grpc.StatusCode:
        """Call a unary gateway RPC; returns OK or the error code."""
        return self.call_detailed(rpc, request)[0]

    def call_detailed(self, rpc: str, request: Any) -> tuple[grpc.StatusCode, str]:
        """Call a unary gateway RPC; returns (OK, "") or the error code and details."""

        async def go() -> tuple[grpc.StatusCode, str]:
            try:
                await getattr(self.stub, rpc)(request)
            except grpc.aio.AioRpcError as error:
                return error.code(), error.details() or ""
            return grpc.StatusCode.OK, ""

        result: tuple[grpc.StatusCode, str] = self.run(go())
        return result

    def complete(self, job_key: int, variables: dict[str, Any] | None = None) -> grpc.StatusCode:
        return self.call(
            "CompleteJob",
            pb.CompleteJobRequest(jobKey=job_key, variables=json.dumps(variables or {})),
        )

    def set_variables(self, scope_key: int, variables: dict[str, Any], local: bool) -> None:
        request = pb.SetVariablesRequest(
            elementInstanceKey=scope_key, variables=json.dumps(variables), local=local
        )
        assert self.call("SetVariables", request) == grpc.StatusCode.OK

    # -------------------------------------------------------------- REST v2

    def search(self, resource: str, filter_: dict[str, Any]) -> list[dict[str, Any]]:
        response = requests.post(
            f"{self.rest}/v2/{resource}/search",
            json={"filter": filter_, "page": {"limit": 1000}},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    def elements(self, pi: int, element_id: str, state: str | None = None) -> list[dict[str, Any]]:
        filter_: dict[str, Any] = {"processInstanceKey": str(pi), "elementId": element_id}
        if state:
            filter_["state"] = state
        return self.search("element-instances", filter_)

    def element_key(self, pi: int, element_id: str) -> int:
        [item] = self.elements(pi, element_id, "ACTIVE")
        return int(item["elementInstanceKey"])

    def instance_state(self, pi: int) -> str:
        response = requests.get(f"{self.rest}/v2/process-instances/{pi}", timeout=10)
        assert response.status_code == 200, response.text
        state: str = response.json()["state"]
        return state

    def instances_of(self, process_id: str) -> list[dict[str, Any]]:
        return self.search("process-instances", {"processDefinitionId": process_id})

    def scope_variables(self, pi: int, scope_key: int | None = None) -> dict[str, Any]:
        """Variables held by one scope (default: the process instance scope), decoded."""
        items = self.search(
            "variables",
            {"processInstanceKey": str(pi), "scopeKey": str(scope_key if scope_key else pi)},
        )
        return {item["name"]: json.loads(item["value"]) for item in items}

    def subscriptions(self, **filter_: Any) -> list[dict[str, Any]]:
        return self.search("message-subscriptions", filter_)

    def incidents(self, pi: int) -> list[dict[str, Any]]:
        return self.search("incidents", {"processInstanceKey": str(pi)})


@pytest.fixture
def wire(tmp_path: Path) -> Iterator[Wire]:
    """A fresh engine on real time."""
    with DevEngine.run_in_thread(options=DevEngineOptions(long_poll_ms=1_000)) as dev:
        connection = Wire(dev, tmp_path)
        try:
            yield connection
        finally:
            connection.close()


@pytest.fixture
def clocked(tmp_path: Path) -> Iterator[tuple[Wire, ManualClock]]:
    """A fresh engine on a manual clock: time moves only when the test says so."""
    clock = ManualClock()
    options = DevEngineOptions(long_poll_ms=1_000, tick_interval_s=0.01)
    with DevEngine.run_in_thread(clock=clock, options=options) as dev:
        connection = Wire(dev, tmp_path)
        try:
            yield connection, clock
        finally:
            connection.close()


def waiting_at(wire: Wire, pi: int, element_id: str) -> bool:
    return len(wire.elements(pi, element_id, "ACTIVE")) == 1


def passed(wire: Wire, pi: int, element_id: str) -> int:
    """How many times the element completed in this instance."""
    return len(wire.elements(pi, element_id, "COMPLETED"))


def eventually(probe: Callable[[], Any], what: str) -> Any:
    return wait_until(probe, timeout_s=5.0, what=what)


# ============================================================================ messages
# Doc: components/concepts/messages.md ("Message cardinality", "Message buffering",
# "Message uniqueness") and components/modeler/bpmn/message-events/message-events.md.


def test_message_correlates_once_per_bpmn_process_id_across_instances_and_versions(
    wire: Wire,
) -> None:
    # messages.md "Message cardinality": a message is correlated only once to a process (by
    # BPMN process ID), across all versions; if several subscriptions of the same process are
    # open, only one of them receives it. Subscriptions of different processes all receive it.
    name = unique("paid")
    first = wire.deploy("p", catch_process("card-p", name))
    a = wire.start("card-p", {"orderId": "o-1"})
    second = wire.deploy("p2", changed(catch_process("card-p", name)))
    assert second.version == first.version + 1, "a changed resource is a new version"
    b = wire.start("card-p", {"orderId": "o-1"})
    wire.deploy("q", catch_process("card-q", name))
    c = wire.start("card-q", {"orderId": "o-1"})

    wire.publish(name, "o-1", ttl_ms=0)

    completed = [pi for pi in (a, b) if wire.instance_state(pi) == "COMPLETED"]
    assert len(completed) == 1, "exactly one instance of card-p must receive the message"
    assert wire.instance_state(c) == "COMPLETED", "card-q is another process and receives it too"


def test_buffered_message_correlates_once_per_process_but_to_other_processes_later(
    wire: Wire,
) -> None:
    # messages.md "Message buffering" + "Message cardinality": within its TTL a buffered
    # message correlates to subscriptions opened later, but never twice to the same process.
    name = unique("paid")
    wire.deploy("p", catch_process("buf-p", name))
    wire.deploy("q", catch_process("buf-q", name))
    wire.publish(name, "o-2", ttl_ms=60_000, variables={"paid": True})

    a = wire.start("buf-p", {"orderId": "o-2"})
    assert wire.instance_state(a) == "COMPLETED"
    assert wire.scope_variables(a)["paid"] is True

    b = wire.start("buf-p", {"orderId": "o-2"})
    assert waiting_at(wire, b, "wait"), "the message already correlated to buf-p"

    c = wire.start("buf-q", {"orderId": "o-2"})
    assert wire.instance_state(c) == "COMPLETED", "buf-q had not received it yet"


def test_buffered_messages_are_taken_first_published_first(wire: Wire) -> None:
    # messages.md "Message buffering": when several buffered messages match a new
    # subscription, the first published one is correlated (like a FIFO queue).
    name = unique("paid")
    wire.deploy("p", catch_process("fifo-p", name))
    wire.publish(name, "o-3", ttl_ms=60_000, variables={"n": 1})
    wire.publish(name, "o-3", ttl_ms=60_000, variables={"n": 2})

    a = wire.start("fifo-p", {"orderId": "o-3"})
    b = wire.start("fifo-p", {"orderId": "o-3"})
    c = wire.start("fifo-p", {"orderId": "o-3"})

    assert wire.scope_variables(a)["n"] == 1
    assert wire.scope_variables(b)["n"] == 2, "message 1 already went to fifo-p; next is 2"
    assert waiting_at(wire, c, "wait")


def test_message_with_ttl_zero_only_correlates_to_open_subscriptions(wire: Wire) -> None:
    # messages.md "Message buffering": with TTL zero buffering is disabled; if no proper
    # subscription is open the message is discarded.
    name = unique("paid")
    wire.deploy("p", catch_process("ttl0-p", name))
    wire.publish(name, "o-4", ttl_ms=0)
    pi = wire.start("ttl0-p", {"orderId": "o-4"})
    assert waiting_at(wire, pi, "wait"), "a TTL 0 message published earlier must be gone"

    wire.publish(name, "o-4", ttl_ms=0)
    assert wire.instance_state(pi) == "COMPLETED"


def test_buffered_message_expires_after_its_ttl(clocked: tuple[Wire, ManualClock]) -> None:
    # messages.md "Message buffering": the TTL says how long a message is buffered; within
    # this time it can be correlated, afterwards not.
    wire, clock = clocked
    name = unique("paid")
    wire.deploy("p", catch_process("exp-p", name))
    wire.publish(name, "o-5", ttl_ms=10_000)
    clock.advance(10_001)
    pi = wire.start("exp-p", {"orderId": "o-5"})
    assert waiting_at(wire, pi, "wait")


def test_message_id_is_unique_only_while_the_message_is_buffered(
    clocked: tuple[Wire, ManualClock],
) -> None:
    # messages.md "Message uniqueness": a message is rejected if a message with the same name,
    # correlation key and ID is already buffered; after it is discarded from the buffer the
    # same one can be published again. gRPC: ALREADY_EXISTS (pyzeebe MessageAlreadyExistsError).
    wire, clock = clocked
    name = unique("paid")
    wire.publish(name, "k", ttl_ms=5_000, message_id="id-1")
    with pytest.raises(MessageAlreadyExistsError):
        wire.publish(name, "k", ttl_ms=5_000, message_id="id-1")
    # uniqueness is per name + correlation key + id
    wire.publish(name, "other-key", ttl_ms=5_000, message_id="id-1")
    wire.publish(unique("other-name"), "k", ttl_ms=5_000, message_id="id-1")
    # Zeebe drops expired messages with a periodic checker (default every minute), so only
    # claim the id is free again once that has surely run.
    clock.advance(5_000 + 60_000 + 1)
    wire.publish(name, "k", ttl_ms=5_000, message_id="id-1")


def test_message_id_of_a_correlated_but_still_buffered_message_is_rejected(wire: Wire) -> None:
    # messages.md "Message buffering" + "Message uniqueness": correlation does not remove a
    # message from the buffer (it stays for its TTL), so its id stays taken.
    name = unique("paid")
    wire.deploy("p", catch_process("cid-p", name))
    pi = wire.start("cid-p", {"orderId": "o-6"})
    wire.publish(name, "o-6", ttl_ms=60_000, message_id="once")
    assert wire.instance_state(pi) == "COMPLETED"
    with pytest.raises(MessageAlreadyExistsError):
        wire.publish(name, "o-6", ttl_ms=60_000, message_id="once")


def test_message_id_never_collides_with_ttl_zero(wire: Wire) -> None:
    # messages.md "Message correlation overview": with TTL 0 nothing is buffered, so only an
    # equal message *in the buffer* could block it; two TTL-0 publishes with one id both pass.
    name = unique("paid")
    wire.deploy("p", catch_process("id0-p", name))
    a = wire.start("id0-p", {"orderId": "o-7"})
    wire.publish(name, "o-7", ttl_ms=0, message_id="same")
    b = wire.start("id0-p", {"orderId": "o-7"})
    wire.publish(name, "o-7", ttl_ms=0, message_id="same")
    assert wire.instance_state(a) == "COMPLETED"
    assert wire.instance_state(b) == "COMPLETED"


def test_rejected_duplicate_is_not_correlated(wire: Wire) -> None:
    # messages.md "Message uniqueness": a duplicate is "rejected and not correlated".
    name = unique("paid")
    wire.deploy("p", catch_process("dup-p", name))
    wire.deploy("q", catch_process("dup-q", name))
    wire.publish(name, "o-8", ttl_ms=60_000, message_id="m", variables={"v": "first"})
    pi = wire.start("dup-p", {"orderId": "o-8"})
    other = wire.start("dup-q", {"orderId": "o-8"})
    assert wire.scope_variables(pi)["v"] == "first"
    assert wire.scope_variables(other)["v"] == "first"
    # the buffered message is used up for dup-q, so this one waits for a new message
    late = wire.start("dup-q", {"orderId": "o-8"})
    assert waiting_at(wire, late, "wait")
    with pytest.raises(MessageAlreadyExistsError):
        wire.publish(name, "o-8", ttl_ms=0, message_id="m", variables={"v": "second"})
    assert waiting_at(wire, late, "wait"), "the rejected duplicate must not reach anyone"
    wire.publish(name, "o-8", ttl_ms=0, message_id="another", variables={"v": "third"})
    assert wire.scope_variables(late)["v"] == "third"


def test_correlation_key_is_evaluated_once_on_entering_the_catch_event(wire: Wire) -> None:
    # messages.md "Message subscriptions": the correlation key expression is evaluated on
    # activating the catch event; after the subscription is opened it is not updated when the
    # referenced variable changes.
    name = unique("paid")
    wire.deploy("p", catch_process("key-p", name))
    pi = wire.start("key-p", {"orderId": "before"})
    [sub] = wire.subscriptions(processInstanceKey=str(pi))
    assert sub["correlationKey"] == "before"
    wire.set_variables(pi, {"orderId": "after"}, local=False)

    wire.publish(name, "after", ttl_ms=0)
    assert waiting_at(wire, pi, "wait")
    wire.publish(name, "before", ttl_ms=0)
    assert wire.instance_state(pi) == "COMPLETED"


def test_numeric_correlation_key_is_used_as_its_text(wire: Wire) -> None:
    # message-events.md "Messages": the correlation key must evaluate to a string or a
    # number; a number is matched by its text ("42").
    name = unique("paid")
    wire.deploy("p", catch_process("num-p", name))
    pi = wire.start("num-p", {"orderId": 42})
    [sub] = wire.subscriptions(processInstanceKey=str(pi))
    assert sub["correlationKey"] == "42"
    wire.publish(name, "42", ttl_ms=0)
    assert wire.instance_state(pi) == "COMPLETED"


@pytest.mark.parametrize(
    ("value", "feel_type"),
    [(True, "BOOLEAN"), (None, "NULL"), ({"id": 1}, "OBJECT"), ([1], "ARRAY")],
)
def test_correlation_key_of_other_type_is_an_incident_and_opens_nothing(
    wire: Wire, value: Any, feel_type: str
) -> None:
    # message-events.md "Messages" (must result in a string or a number) and
    # concepts/incidents.md: a failing expression raises an incident on the element
    # (EXTRACT_VALUE_ERROR); no subscription is opened.
    name = unique("paid")
    wire.deploy("p", catch_process("bad-key-p", name))
    pi = wire.start("bad-key-p", {"orderId": value})
    [incident] = wire.incidents(pi)
    assert incident["errorType"] == "EXTRACT_VALUE_ERROR"
    assert incident["elementId"] == "wait"
    assert incident["state"] == "ACTIVE"
    # Zeebe 8.x wording (ExpressionProcessor.evaluateMessageCorrelationKeyExpression); it may
    # append the FEEL evaluation warnings after this sentence.
    assert incident["errorMessage"].startswith(
        "Failed to extract the correlation key for 'orderId': The value must be either a "
        f"string or a number, but was '{feel_type}'."
    ), incident["errorMessage"]
    [element] = wire.elements(pi, "wait", "ACTIVE")
    assert element["hasIncident"] is True
    assert wire.subscriptions(processInstanceKey=str(pi), messageSubscriptionState="CREATED") == []


def test_message_variables_propagate_from_the_catch_event_to_the_nearest_scope(
    wire: Wire,
) -> None:
    # concepts/variables.md "Variable propagation" + message-events.md "Variable mappings":
    # without output mappings all message variables are merged into the instance; each one
    # updates the nearest enclosing scope that already has it, else it is created at the root.
    name = unique("paid")
    inner = (
        '<bpmn:startEvent id="sub_start"/>\n'
        + catch("wait", "m")
        + task("hold", unique("hold"))
        + '<bpmn:endEvent id="sub_end"/>\n'
        + seq("sub_start", "wait")
        + seq("wait", "hold")
        + seq("hold", "sub_end")
    )
    body = (
        START
        + sub_process("sub", inner, io(inputs={"status": '="local"'}))
        + END
        + seq("start", "sub")
        + seq("sub", "end")
    )
    wire.deploy("p", bpmn("prop-p", body, msg("m", name)))
    pi = wire.start("prop-p", {"orderId": "o-9", "total": 1})
    sub_key = wire.element_key(pi, "sub")

    wire.publish(name, "o-9", variables={"status": "paid", "total": 2, "fresh": "yes"})

    assert waiting_at(wire, pi, "hold")
    assert wire.scope_variables(pi, sub_key) == {"status": "paid"}
    assert wire.scope_variables(pi) == {"orderId": "o-9", "total": 2, "fresh": "yes"}
    # the catch event itself keeps nothing once it completed
    [event] = wire.elements(pi, "wait", "COMPLETED")
    assert wire.scope_variables(pi, int(event["elementInstanceKey"])) == {}


def test_message_output_mappings_propagate_only_the_mapped_results(wire: Wire) -> None:
    # concepts/variables.md "Output mappings": with output mappings the message variables
    # become local to the event; only the mapping results are merged into the parent scope.
    name = unique("paid")
    body = (
        START
        + catch("wait", "m", io(outputs={"paidAmount": "=amount * 2"}))
        + task("hold", unique("hold"))
        + END
        + seq("start", "wait")
        + seq("wait", "hold")
        + seq("hold", "end")
    )
    wire.deploy("p", bpmn("out-p", body, msg("m", name)))
    pi = wire.start("out-p", {"orderId": "o-10"})
    wire.publish(name, "o-10", variables={"amount": 21, "note": "x"})
    assert waiting_at(wire, pi, "hold")
    assert wire.scope_variables(pi) == {"orderId": "o-10", "paidAmount": 42}


def test_non_interrupting_message_boundary_keeps_activity_and_subscription(wire: Wire) -> None:
    # message-events.md "Message boundary events": if a non-interrupting boundary event is
    # triggered the activity is not terminated and multiple messages can be correlated.
    name, job_type = unique("remind"), unique("work")
    body = (
        START
        + task("work", job_type)
        + message_boundary("remind", "work", "m", interrupting=False)
        + '<bpmn:endEvent id="reminded"/>\n'
        + END
        + seq("start", "work")
        + seq("work", "end")
        + seq("remind", "reminded")
    )
    wire.deploy("p", bpmn("nonint-p", body, msg("m", name)))
    pi = wire.start("nonint-p", {"orderId": "o-11"})
    [job] = wire.activate(job_type)

    wire.publish(name, "o-11", variables={"n": 1})
    wire.publish(name, "o-11", variables={"n": 2})

    assert passed(wire, pi, "reminded") == 2
    assert waiting_at(wire, pi, "work")
    [sub] = wire.subscriptions(processInstanceKey=str(pi), elementId="remind")
    assert sub["messageSubscriptionState"] in ("CREATED", "CORRELATED")
    assert wire.complete(job.key) == grpc.StatusCode.OK
    assert wire.instance_state(pi) == "COMPLETED"


def test_interrupting_message_boundary_terminates_activity_and_its_job(wire: Wire) -> None:
    # message-events.md "Message boundary events" + BPMN interrupting semantics: the activity
    # is terminated (its job is cancelled, so completing it afterwards is NOT_FOUND) and the
    # boundary's outgoing flow is taken with the message variables.
    name, job_type = unique("cancel"), unique("work")
    body = (
        START
        + task("work", job_type)
        + message_boundary("cancelled", "work", "m", interrupting=True)
        + '<bpmn:endEvent id="aborted"/>\n'
        + END
        + seq("start", "work")
        + seq("work", "end")
        + seq("cancelled", "aborted")
    )
    wire.deploy("p", bpmn("int-p", body, msg("m", name)))
    pi = wire.start("int-p", {"orderId": "o-12"})
    [job] = wire.activate(job_type)
    # the waiting element is the activity; the subscription names the boundary event
    [sub] = wire.subscriptions(processInstanceKey=str(pi), messageSubscriptionState="CREATED")
    assert sub["elementId"] == "cancelled"
    assert sub["elementInstanceKey"] == str(wire.element_key(pi, "work"))

    wire.publish(name, "o-12", variables={"reason": "customer"})

    assert [e["state"] for e in wire.elements(pi, "work")] == ["TERMINATED"]
    assert passed(wire, pi, "aborted") == 1
    assert wire.instance_state(pi) == "COMPLETED"
    assert wire.scope_variables(pi)["reason"] == "customer"
    assert wire.complete(job.key) == grpc.StatusCode.NOT_FOUND
    assert wire.subscriptions(processInstanceKey=str(pi), messageSubscriptionState="CREATED") == []


def message_start_process(process_id: str, message_name: str, job_type: str) -> str:
    """message start -> service task 'hold' (keeps the instance active) -> end."""
    body = (
        '<bpmn:startEvent id="start"><bpmn:messageEventDefinition messageRef="s"/>'
        "</bpmn:startEvent>\n"
        + task("hold", job_type)
        + END
        + seq("start", "hold")
        + seq("hold", "end")
    )
    return bpmn(process_id, body, msg("s", message_name, key=None))


def test_message_start_event_creates_instance_with_message_variables(wire: Wire) -> None:
    # message-events.md "Message start events": on correlating the message a new instance is
    # created; the message variables are the instance's variables (variables.md: start events
    # propagate the correlated payload).
    name, job_type = unique("order"), unique("hold")
    wire.deploy("p", message_start_process("ms-p", name, job_type))
    wire.publish(name, "", variables={"item": "book"})
    wire.publish(name, "", variables={"item": "pen"})
    instances = wire.instances_of("ms-p")
    assert len(instances) == 2, "an empty correlation key always creates a new instance"
    items = sorted(wire.scope_variables(int(i["processInstanceKey"]))["item"] for i in instances)
    assert items == ["book", "pen"]


def test_message_start_with_correlation_key_is_single_instance_while_active(wire: Wire) -> None:
    # message-events.md "Message start events": if an instance of this process is active and
    # was triggered by a message with the same correlationKey, the message is not correlated;
    # with TTL > 0 it is buffered and correlated (new instance) when the active one ends.
    name, job_type = unique("order"), unique("hold")
    wire.deploy("p", message_start_process("single-p", name, job_type))
    wire.publish(name, "c-1", ttl_ms=0, variables={"n": 1})
    wire.publish(name, "c-1", ttl_ms=0, variables={"n": 2})  # discarded
    wire.publish(name, "c-1", ttl_ms=60_000, variables={"n": 3})  # buffered
    wire.publish(name, "c-2", ttl_ms=0, variables={"n": 4})  # another key: new instance
    instances = wire.instances_of("single-p")
    assert sorted(wire.scope_variables(int(i["processInstanceKey"]))["n"] for i in instances) == [
        1,
        4,
    ]
    [first] = [
        int(i["processInstanceKey"])
        for i in instances
        if wire.scope_variables(int(i["processInstanceKey"]))["n"] == 1
    ]
    assert wire.call(
        "CancelProcessInstance", pb.CancelProcessInstanceRequest(processInstanceKey=first)
    ) == (grpc.StatusCode.OK)
    values = sorted(
        wire.scope_variables(int(i["processInstanceKey"]))["n"]
        for i in wire.instances_of("single-p")
    )
    assert values == [1, 3, 4]


def test_message_published_before_deployment_does_not_start_the_process(wire: Wire) -> None:
    # message-events.md "Message start events / Message correlation": messages are NOT
    # correlated if they were published before the process was deployed.
    name, job_type = unique("order"), unique("hold")
    wire.publish(name, "early", ttl_ms=60_000)
    wire.deploy("p", message_start_process("late-p", name, job_type))
    assert wire.instances_of("late-p") == []
    wire.publish(name, "now", ttl_ms=0)
    assert len(wire.instances_of("late-p")) == 1


def test_message_start_event_of_previous_version_is_closed(wire: Wire) -> None:
    # message-events.md "Message start events": deploying a process opens a subscription for
    # each message start event and closes those of the previous version; a new version
    # without a proper start event takes no messages.
    name, job_type = unique("order"), unique("hold")
    v1 = wire.deploy("p", message_start_process("ver-p", name, job_type))
    v2 = wire.deploy("p", changed(message_start_process("ver-p", name, job_type)))
    assert v2.version == v1.version + 1
    wire.publish(name, "")
    [instance] = wire.instances_of("ver-p")
    assert instance["processDefinitionKey"] == str(v2.process_definition_key)

    none_start = bpmn("ver-p", START + END + seq("start", "end"))
    wire.deploy("p", none_start)
    wire.publish(name, "")
    assert len(wire.instances_of("ver-p")) == 1


def test_one_message_reaches_only_one_of_two_subscriptions_of_the_same_instance(
    wire: Wire,
) -> None:
    # messages.md "Message cardinality": "If multiple subscriptions for the same process are
    # opened (by multiple process instances or within one instance), the message is
    # correlated only to one of the subscriptions."
    name = unique("paid")
    body = (
        START
        + '<bpmn:parallelGateway id="fork"/>\n'
        + catch("left", "m")
        + catch("right", "m")
        + '<bpmn:endEvent id="end_left"/><bpmn:endEvent id="end_right"/>\n'
        + seq("start", "fork")
        + seq("fork", "left")
        + seq("fork", "right")
        + seq("left", "end_left")
        + seq("right", "end_right")
    )
    wire.deploy("p", bpmn("twice-p", body, msg("m", name)))
    pi = wire.start("twice-p", {"orderId": "o-13"})
    assert len(wire.subscriptions(processInstanceKey=str(pi))) == 2
    wire.publish(name, "o-13", ttl_ms=0)
    assert passed(wire, pi, "left") + passed(wire, pi, "right") == 1
    wire.publish(name, "o-13", ttl_ms=0)
    assert wire.instance_state(pi) == "COMPLETED"


def test_subscription_is_closed_when_its_element_is_left(wire: Wire) -> None:
    # messages.md "Message subscriptions": a subscription is closed when the corresponding
    # element or its scope is left; a later message does not trigger the boundary event.
    name, job_type = unique("remind"), unique("work")
    body = (
        START
        + task("work", job_type)
        + message_boundary("remind", "work", "m", interrupting=False)
        + '<bpmn:endEvent id="reminded"/>\n'
        + task("after", unique("after"))
        + END
        + seq("start", "work")
        + seq("work", "after")
        + seq("after", "end")
        + seq("remind", "reminded")
    )
    wire.deploy("p", bpmn("close-p", body, msg("m", name)))
    pi = wire.start("close-p", {"orderId": "o-14"})
    [job] = wire.activate(job_type)
    assert wire.complete(job.key) == grpc.StatusCode.OK
    assert waiting_at(wire, pi, "after")
    assert wire.subscriptions(processInstanceKey=str(pi), messageSubscriptionState="CREATED") == []
    wire.publish(name, "o-14", ttl_ms=0)
    assert passed(wire, pi, "reminded") == 0


def test_interrupting_boundary_on_sub_process_terminates_inner_jobs(wire: Wire) -> None:
    # BPMN interrupting boundary event (message-events.md "Message boundary events"): the
    # attached activity and everything inside it is terminated; the inner job is gone.
    name, job_type = unique("abort"), unique("inner")
    inner = (
        '<bpmn:startEvent id="sub_start"/>\n'
        + task("inner", job_type)
        + '<bpmn:endEvent id="sub_end"/>\n'
        + seq("sub_start", "inner")
        + seq("inner", "sub_end")
    )
    body = (
        START
        + sub_process("sub", inner)
        + message_boundary("abort", "sub", "m", interrupting=True)
        + '<bpmn:endEvent id="aborted"/>\n'
        + END
        + seq("start", "sub")
        + seq("sub", "end")
        + seq("abort", "aborted")
    )
    wire.deploy("p", bpmn("subint-p", body, msg("m", name)))
    pi = wire.start("subint-p", {"orderId": "o-15"})
    [job] = wire.activate(job_type)
    wire.publish(name, "o-15", ttl_ms=0)
    assert [e["state"] for e in wire.elements(pi, "inner")] == ["TERMINATED"]
    assert [e["state"] for e in wire.elements(pi, "sub")] == ["TERMINATED"]
    assert passed(wire, pi, "aborted") == 1
    assert wire.complete(job.key) == grpc.StatusCode.NOT_FOUND


# ============================================================================ variables
# Doc: components/concepts/variables.md.


def sub_with_task(process_id: str, job_type: str, sub_inputs: dict[str, str]) -> str:
    """start -> sub-process (input mappings) [start -> task 'inner' -> task 'hold' -> end]
    -> task 'after' -> end. Job types: job_type, job_type-hold, job_type-after."""
    inner = (
        '<bpmn:startEvent id="sub_start"/>\n'
        + task("inner", job_type)
        + task("hold", f"{job_type}-hold")
        + '<bpmn:endEvent id="sub_end"/>\n'
        + seq("sub_start", "inner")
        + seq("inner", "hold")
        + seq("hold", "sub_end")
    )
    body = (
        START
        + sub_process("sub", inner, io(inputs=sub_inputs))
        + task("after", f"{job_type}-after")
        + END
        + seq("start", "sub")
        + seq("sub", "after")
        + seq("after", "end")
    )
    return bpmn(process_id, body)


def test_job_variables_update_the_nearest_scope_holding_them_else_the_root(wire: Wire) -> None:
    # variables.md "Variable propagation": on job completion each variable propagates from
    # the activity scope upwards; propagation ends at the first scope with a variable of that
    # name (updated there); otherwise it is created in the root scope.
    job_type = unique("inner")
    wire.deploy("p", sub_with_task("jobprop-p", job_type, {"status": '="draft"'}))
    pi = wire.start("jobprop-p", {"total": 1})
    sub_key = wire.element_key(pi, "sub")
    [job] = wire.activate(job_type)
    assert wire.complete(job.key, {"status": "done", "total": 2, "created": True}) == (
        grpc.StatusCode.OK
    )
    assert waiting_at(wire, pi, "hold")
    assert wire.scope_variables(pi, sub_key) == {"status": "done"}
    assert wire.scope_variables(pi) == {"total": 2, "created": True}


def test_sub_process_locals_are_updated_by_inner_job_and_discarded_when_it_completes(
    wire: Wire,
) -> None:
    # variables.md "Variable propagation by BPMN element": an embedded sub-process propagates
    # nothing by default; its local variables are discarded when it completes.
    job_type = unique("inner")
    wire.deploy("p", sub_with_task("locals-p", job_type, {"status": '="draft"'}))
    pi = wire.start("locals-p")
    sub_key = wire.element_key(pi, "sub")
    assert wire.scope_variables(pi, sub_key) == {"status": "draft"}
    [job] = wire.activate(job_type)
    assert json.loads(job.variables) == {"status": "draft"}
    wire.complete(job.key, {"status": "done"})
    [hold] = wire.activate(f"{job_type}-hold")
    assert json.loads(hold.variables) == {"status": "done"}
    wire.complete(hold.key)
    [after] = wire.activate(f"{job_type}-after")
    assert "status" not in json.loads(after.variables)
    assert "status" not in wire.scope_variables(pi)


def test_set_variables_local_versus_propagated(wire: Wire) -> None:
    # variables.md "Local variables" and the gateway API's SetVariables `local` flag: local
    # creates/updates the variable in the given scope only (covering outer ones); non-local
    # updates the nearest scope that has it, else creates it at the root.
    job_type = unique("inner")
    wire.deploy("p", sub_with_task("setvars-p", job_type, {"bar": "=1"}))
    pi = wire.start("setvars-p", {"foo": 2})
    sub_key = wire.element_key(pi, "sub")

    wire.set_variables(sub_key, {"foo": 5}, local=False)
    assert wire.scope_variables(pi) == {"foo": 5}
    assert wire.scope_variables(pi, sub_key) == {"bar": 1}

    wire.set_variables(sub_key, {"foo": 7, "only_here": "x"}, local=True)
    assert wire.scope_variables(pi) == {"foo": 5}
    assert wire.scope_variables(pi, sub_key) == {"bar": 1, "foo": 7, "only_here": "x"}

    wire.set_variables(sub_key, {"bar": 3, "brand_new": True}, local=False)
    assert wire.scope_variables(pi, sub_key) == {"bar": 3, "foo": 7, "only_here": "x"}
    assert wire.scope_variables(pi) == {"foo": 5, "brand_new": True}

    # the inner job sees the innermost value of a covered variable
    [job] = wire.activate(job_type)
    assert json.loads(job.variables)["foo"] == 7


def test_task_output_mappings_replace_job_result_propagation(wire: Wire) -> None:
    # variables.md "Output mappings": with output mappings the job variables become local to
    # the task, the mappings are applied and only their results are merged into the parent
    # scope; job variables without a mapping are not merged. Input mappings create locals.
    job_type = unique("calc")
    body = (
        START
        + task("calc", job_type, io(inputs={"value": "=x"}, outputs={"result": "=doubled + 1"}))
        + task("after", f"{job_type}-after")
        + END
        + seq("start", "calc")
        + seq("calc", "after")
        + seq("after", "end")
    )
    wire.deploy("p", bpmn("outmap-p", body))
    pi = wire.start("outmap-p", {"x": 20})
    [job] = wire.activate(job_type)
    assert json.loads(job.variables) == {"x": 20, "value": 20}
    wire.complete(job.key, {"doubled": 40, "noise": "dropped"})
    assert waiting_at(wire, pi, "after")
    assert wire.scope_variables(pi) == {"x": 20, "result": 41}


def test_output_mapping_with_nested_target_merges_into_existing_object(wire: Wire) -> None:
    # variables.md "Nested variables in mappings": an output mapping target like
    # `order.status` sets only that property and keeps the sibling properties.
    job_type = unique("ship")
    body = (
        START
        + task("ship", job_type, io(outputs={"order.status": "=state"}))
        + task("after", f"{job_type}-after")
        + END
        + seq("start", "ship")
        + seq("ship", "after")
        + seq("after", "end")
    )
    wire.deploy("p", bpmn("nested-p", body))
    pi = wire.start("nested-p", {"order": {"id": "A1", "status": "new"}})
    [job] = wire.activate(job_type)
    wire.complete(job.key, {"state": "shipped"})
    assert wire.scope_variables(pi)["order"] == {"id": "A1", "status": "shipped"}


def test_fail_job_variables_are_set_on_the_task_scope_only(wire: Wire) -> None:
    # Gateway API FailJob.variables: "JSON document that will instantiate the variables at the
    # local scope of the job's associated task" (zeebe-api gateway reference).
    job_type = unique("flaky")
    wire.deploy("p", sub_with_task("failvars-p", job_type, {}))
    pi = wire.start("failvars-p")
    [job] = wire.activate(job_type)
    assert wire.call(
        "FailJob",
        pb.FailJobRequest(
            jobKey=job.key, retries=2, errorMessage="boom", variables=json.dumps({"attempt": 1})
        ),
    ) == (grpc.StatusCode.OK)
    task_key = wire.element_key(pi, "inner")
    assert wire.scope_variables(pi, task_key) == {"attempt": 1}
    assert "attempt" not in wire.scope_variables(pi)
    [again] = wire.activate(job_type)
    assert again.retries == 2
    assert json.loads(again.variables)["attempt"] == 1


# ============================================================================ gateways
# Doc: components/modeler/bpmn/exclusive-gateways/exclusive-gateways.md.


def gateway_process(process_id: str, default_condition: str | None = None) -> str:
    """start -> gw -> big (=amount > 100) | medium (=amount > 10) | default -> small."""
    default_flow = seq("gw", "small", default_condition, flow_id="to_small")
    body = (
        START
        + '<bpmn:exclusiveGateway id="gw" default="to_small"/>\n'
        + '<bpmn:endEvent id="big"/><bpmn:endEvent id="medium"/><bpmn:endEvent id="small"/>\n'
        + seq("start", "gw")
        + seq("gw", "big", "=amount > 100")
        + seq("gw", "medium", "=amount > 10")
        + default_flow
    )
    return bpmn(process_id, body)


@pytest.mark.parametrize(("amount", "end"), [(500, "big"), (50, "medium"), (5, "small")])
def test_exclusive_gateway_takes_first_fulfilled_condition_in_xml_order_else_default(
    wire: Wire, amount: int, end: str
) -> None:
    # exclusive-gateways.md: conditions are evaluated in BPMN XML order and the first flow
    # whose condition is fulfilled is taken (500 fulfils both); if none is, the default flow.
    wire.deploy("p", gateway_process("xor-p"))
    pi = wire.start("xor-p", {"amount": amount})
    assert wire.instance_state(pi) == "COMPLETED"
    ended = [e for e in ("big", "medium", "small") if passed(wire, pi, e)]
    assert ended == [end]


def test_exclusive_gateway_without_fulfilled_condition_or_default_raises_incident(
    wire: Wire,
) -> None:
    # exclusive-gateways.md: no condition fulfilled and no default flow -> an incident
    # (concepts/incidents.md); after fixing the data and resolving it, the gateway is
    # evaluated again and the instance continues.
    body = (
        START
        + '<bpmn:exclusiveGateway id="gw"/>\n'
        + '<bpmn:endEvent id="big"/><bpmn:endEvent id="negative"/>\n'
        + seq("start", "gw")
        + seq("gw", "big", "=amount > 100")
        + seq("gw", "negative", "=amount < 0")
    )
    wire.deploy("p", bpmn("xor-inc-p", body))
    pi = wire.start("xor-inc-p", {"amount": 5})
    [incident] = wire.incidents(pi)
    assert incident["errorType"] == "CONDITION_ERROR"
    assert incident["elementId"] == "gw"
    assert wire.instance_state(pi) == "ACTIVE"

    wire.set_variables(pi, {"amount": -1}, local=False)
    assert wire.call(
        "ResolveIncident", pb.ResolveIncidentRequest(incidentKey=int(incident["incidentKey"]))
    ) == (grpc.StatusCode.OK)
    assert wire.instance_state(pi) == "COMPLETED"
    assert passed(wire, pi, "negative") == 1


@pytest.mark.parametrize("variables", [{"amount": "99"}, {}], ids=["string", "missing"])
def test_condition_not_evaluating_to_a_boolean_is_an_incident_even_with_default_flow(
    wire: Wire, variables: dict[str, Any]
) -> None:
    # A condition must evaluate to a boolean. components/operate/userguide/
    # resolve-incidents-update-variables.md shows the incident a gateway raises for
    # `orderValue >= 100` with orderValue "99": "Expected result of the expression
    # 'orderValue >= 100' to be 'BOOLEAN', but was 'NULL'" (type EXTRACT_VALUE_ERROR; a missing
    # variable gives NULL too, variables.md). Zeebe stops at that failure; it does not treat
    # NULL as false and does not fall back to the default flow.
    wire.deploy("p", gateway_process("xor-null-p"))
    pi = wire.start("xor-null-p", variables)
    [incident] = wire.incidents(pi)
    assert incident["errorType"] == "EXTRACT_VALUE_ERROR"
    assert incident["elementId"] == "gw"
    assert "BOOLEAN" in incident["errorMessage"]
    assert passed(wire, pi, "small") == 0

    wire.set_variables(pi, {"amount": 99}, local=False)
    resolve = pb.ResolveIncidentRequest(incidentKey=int(incident["incidentKey"]))
    assert wire.call("ResolveIncident", resolve) == grpc.StatusCode.OK
    assert passed(wire, pi, "medium") == 1


def test_resolving_without_fixing_the_cause_creates_a_new_incident(wire: Wire) -> None:
    # concepts/incidents.md "Resolving": marking the incident resolved retries the execution;
    # "If the problem still exists, a new incident is created."
    wire.deploy("p", gateway_process("xor-again-p"))
    pi = wire.start("xor-again-p", {"amount": "not a number"})
    [first] = wire.incidents(pi)
    resolve = pb.ResolveIncidentRequest(incidentKey=int(first["incidentKey"]))
    assert wire.call("ResolveIncident", resolve) == grpc.StatusCode.OK
    incidents = {i["incidentKey"]: i["state"] for i in wire.incidents(pi)}
    assert incidents.pop(first["incidentKey"]) == "RESOLVED"
    assert list(incidents.values()) == ["ACTIVE"], "a new incident for the same problem"
    assert wire.call("ResolveIncident", resolve) == grpc.StatusCode.NOT_FOUND


def test_condition_on_the_default_flow_is_not_evaluated(wire: Wire) -> None:
    # exclusive-gateways.md: "The default flow should not have a condition, so the system does
    # not evaluate it." Zeebe accepts such a model (camunda/camunda#10966, fixed by PR #10968:
    # the default flow may carry a condition, which is ignored).
    wire.deploy("p", gateway_process("xor-dc-p", default_condition="=false"))
    pi = wire.start("xor-dc-p", {"amount": 1})
    assert passed(wire, pi, "small") == 1


# ============================================================================ timers
# Doc: components/modeler/bpmn/timer-events/timer-events.md.


def test_timer_catch_event_waits_for_its_duration(clocked: tuple[Wire, ManualClock]) -> None:
    # timer-events.md "Intermediate timer catch events": the event waits until the duration
    # from entering it has passed, then continues.
    wire, clock = clocked
    body = (
        START + '<bpmn:intermediateCatchEvent id="pause"><bpmn:timerEventDefinition>'
        "<bpmn:timeDuration>PT10S</bpmn:timeDuration></bpmn:timerEventDefinition>"
        "</bpmn:intermediateCatchEvent>\n" + END + seq("start", "pause") + seq("pause", "end")
    )
    wire.deploy("p", bpmn("timer-p", body))
    pi = wire.start("timer-p")
    clock.advance(9_000)
    wire.dev.engine.tick()  # what the tick driver does; nothing is due yet
    assert waiting_at(wire, pi, "pause")
    clock.advance(1_000)
    eventually(lambda: wire.instance_state(pi) == "COMPLETED", "the timer to fire")


def timer_boundary_process(process_id: str, job_type: str, interrupting: bool) -> str:
    body = (
        START
        + task("work", job_type)
        + timer_boundary("late", "work", "PT1M", interrupting)
        + task("escalate", f"{job_type}-escalate")
        + END
        + '<bpmn:endEvent id="escalated"/>\n'
        + seq("start", "work")
        + seq("work", "end")
        + seq("late", "escalate")
        + seq("escalate", "escalated")
    )
    return bpmn(process_id, body)


def test_interrupting_timer_boundary_terminates_task_and_job(
    clocked: tuple[Wire, ManualClock],
) -> None:
    # timer-events.md "Timer boundary events": an interrupting timer terminates the activity
    # when it fires (its job is cancelled: completing it is NOT_FOUND).
    wire, clock = clocked
    job_type = unique("slow")
    wire.deploy("p", timer_boundary_process("tint-p", job_type, interrupting=True))
    pi = wire.start("tint-p")
    [job] = wire.activate(job_type)
    clock.advance(60_000)
    eventually(lambda: waiting_at(wire, pi, "escalate"), "the boundary timer to fire")
    assert [e["state"] for e in wire.elements(pi, "work")] == ["TERMINATED"]
    assert wire.complete(job.key) == grpc.StatusCode.NOT_FOUND


def test_non_interrupting_timer_duration_boundary_fires_once_and_keeps_task(
    clocked: tuple[Wire, ManualClock],
) -> None:
    # timer-events.md "Timer boundary events": a non-interrupting timer with a duration fires
    # once; the activity stays active and its job can still be completed.
    wire, clock = clocked
    job_type = unique("slow")
    wire.deploy("p", timer_boundary_process("tnon-p", job_type, interrupting=False))
    pi = wire.start("tnon-p")
    [job] = wire.activate(job_type)
    clock.advance(60_000)
    eventually(lambda: waiting_at(wire, pi, "escalate"), "the boundary timer to fire")
    clock.advance(120_000)
    wire.dev.engine.tick()
    assert len(wire.elements(pi, "escalate")) == 1, "a duration timer fires only once"
    assert waiting_at(wire, pi, "work")
    assert wire.complete(job.key) == grpc.StatusCode.OK
    assert passed(wire, pi, "end") == 1


# ============================================================================ jobs, incidents
# Doc: components/concepts/job-workers.md ("Completing or failing jobs", "Timeouts"),
# components/concepts/incidents.md.


def single_task_process(process_id: str, job_type: str) -> str:
    body = START + task("work", job_type) + END + seq("start", "work") + seq("work", "end")
    return bpmn(process_id, body)


def test_failed_job_with_retries_waits_for_its_back_off(
    clocked: tuple[Wire, ManualClock],
) -> None:
    # job-workers.md "Completing or failing jobs": a failed job with retries left is retried
    # (activatable again) once the retry back-off has elapsed, with the retries given.
    wire, clock = clocked
    job_type = unique("flaky")
    wire.deploy("p", single_task_process("backoff-p", job_type))
    wire.start("backoff-p")
    [job] = wire.activate(job_type)
    assert job.retries == 3
    request = pb.FailJobRequest(jobKey=job.key, retries=2, errorMessage="503", retryBackOff=30_000)
    assert wire.call("FailJob", request) == grpc.StatusCode.OK
    assert wire.activate(job_type) == []
    clock.advance(30_000)
    [again] = eventually(lambda: wire.activate(job_type), "the back-off to elapse")
    assert again.key == job.key
    assert again.retries == 2


def test_job_without_retries_raises_incident_until_retries_updated_and_resolved(
    wire: Wire,
) -> None:
    # incidents.md + job-workers.md: failing a job with no retries left creates an incident
    # (JOB_NO_RETRIES) and the job is not activated; to continue, increase the retries and
    # resolve the incident.
    job_type = unique("broken")
    wire.deploy("p", single_task_process("noretry-p", job_type))
    pi = wire.start("noretry-p")
    [job] = wire.activate(job_type)
    request = pb.FailJobRequest(jobKey=job.key, retries=0, errorMessage="down")
    assert wire.call("FailJob", request) == grpc.StatusCode.OK
    [incident] = wire.incidents(pi)
    assert incident["errorType"] == "JOB_NO_RETRIES"
    assert incident["jobKey"] == str(job.key)
    assert wire.activate(job_type) == []
    [element] = wire.elements(pi, "work", "ACTIVE")
    assert (element["hasIncident"], element["incidentKey"]) == (True, incident["incidentKey"])
    [instance] = wire.instances_of("noretry-p")
    assert instance["hasIncident"] is True
    # a failed job is not ACTIVATABLE/ACTIVATED: completing it is rejected (INVALID_STATE)
    assert wire.complete(job.key) == grpc.StatusCode.FAILED_PRECONDITION

    resolve = pb.ResolveIncidentRequest(incidentKey=int(incident["incidentKey"]))
    # Zeebe rejects it (INVALID_STATE) while the job has no retries left
    code, details = wire.call_detailed("ResolveIncident", resolve)
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert "no retries left" in details
    retries = pb.UpdateJobRetriesRequest(jobKey=job.key, retries=2)
    assert wire.call("UpdateJobRetries", retries) == grpc.StatusCode.OK
    assert wire.activate(job_type) == [], "retries alone do not resolve the incident"
    assert wire.call("ResolveIncident", resolve) == grpc.StatusCode.OK
    [again] = wire.activate(job_type)
    assert again.retries == 2
    assert wire.complete(again.key) == grpc.StatusCode.OK
    assert wire.instance_state(pi) == "COMPLETED"
    [instance] = wire.instances_of("noretry-p")
    assert instance["hasIncident"] is False
    [resolved] = wire.incidents(pi)
    assert resolved["state"] == "RESOLVED"


def test_activated_job_times_out_and_becomes_activatable_again(
    clocked: tuple[Wire, ManualClock],
) -> None:
    # job-workers.md "Timeouts": if a job is not completed or failed within the activation
    # timeout, it can be activated again (by another worker); retries are not consumed.
    wire, clock = clocked
    job_type = unique("slow")
    wire.deploy("p", single_task_process("timeout-p", job_type))
    wire.start("timeout-p")
    [job] = wire.activate(job_type, timeout_ms=5_000)
    assert wire.activate(job_type) == []
    clock.advance(5_001)
    [again] = eventually(lambda: wire.activate(job_type), "the activation to time out")
    assert (again.key, again.retries) == (job.key, job.retries)
    # "only one worker successfully completes the job. The other `complete job` command is
    # rejected with a NOT FOUND error."
    assert wire.complete(again.key) == grpc.StatusCode.OK
    assert wire.complete(job.key) == grpc.StatusCode.NOT_FOUND


def test_uncaught_bpmn_error_from_a_job_raises_an_incident(wire: Wire) -> None:
    # components/modeler/bpmn/error-events/error-events.md "Unhandled errors": a thrown error
    # that no error catch event catches raises an incident (UNHANDLED_ERROR_EVENT) on the task.
    job_type = unique("thrower")
    wire.deploy("p", single_task_process("throw-p", job_type))
    pi = wire.start("throw-p")
    [job] = wire.activate(job_type)
    request = pb.ThrowErrorRequest(jobKey=job.key, errorCode="NOT_FOUND", errorMessage="gone")
    assert wire.call("ThrowError", request) == grpc.StatusCode.OK
    [incident] = wire.incidents(pi)
    assert (incident["errorType"], incident["elementId"]) == ("UNHANDLED_ERROR_EVENT", "work")
    assert wire.instance_state(pi) == "ACTIVE"
    assert wire.activate(job_type) == [], "throwing the error disables the job"
    assert wire.complete(job.key) == grpc.StatusCode.FAILED_PRECONDITION
    # "When you resolve the incident attached to a task, it ignores the error, re-enables the
    # job, and allows it to be activated and completed by a job worker once again."
    resolve = pb.ResolveIncidentRequest(incidentKey=int(incident["incidentKey"]))
    assert wire.call("ResolveIncident", resolve) == grpc.StatusCode.OK
    [again] = wire.activate(job_type)
    assert again.key == job.key
    assert wire.complete(again.key) == grpc.StatusCode.OK
    assert wire.instance_state(pi) == "COMPLETED"


# ============================================================================ create with result


def test_create_process_instance_with_result_returns_root_variables(wire: Wire) -> None:
    # zeebe-api gateway reference CreateProcessInstanceWithResult: the response holds the
    # variables of the root scope at completion; `fetchVariables` limits them to the names
    # given. Driven by pyzeebe's ZeebeClient.run_process_with_result and a ZeebeWorker.
    job_type = unique("double")
    body = (
        START
        + task("double", job_type, io(inputs={"value": "=x"}, outputs={"result": "=doubled"}))
        + END
        + seq("start", "double")
        + seq("double", "end")
    )
    wire.deploy("p", bpmn("result-p", body))

    async def scenario() -> tuple[Any, Any]:
        worker = ZeebeWorker(wire.channel, name="semantics-worker", poll_retry_delay=0)

        @worker.task(task_type=job_type)  # type: ignore[arg-type]  # pyzeebe decorator typing
        async def double(value: int) -> dict[str, Any]:
            return {"doubled": value * 2}

        working = asyncio.create_task(worker.work())
        try:
            full = await wire.client.run_process_with_result("result-p", {"x": 21}, timeout=10_000)
            some = await wire.client.run_process_with_result(
                "result-p", {"x": 1, "y": "kept?"}, timeout=10_000, variables_to_fetch=["result"]
            )
            return full, some
        finally:
            await worker.stop()
            await working

    full, some = wire.run(scenario())
    assert full.variables == {"x": 21, "result": 42}
    assert some.variables == {"result": 2}


def test_create_with_result_times_out_but_the_instance_keeps_running(wire: Wire) -> None:
    # zeebe-api CreateProcessInstanceWithResult.requestTimeout: the request is closed if the
    # process is not completed in time (DEADLINE_EXCEEDED; pyzeebe ProcessTimeoutError); the
    # instance itself continues (REST create-process-instance docs: "The process instance
    # will continue to run in the background regardless of the timeout").
    job_type = unique("never")
    wire.deploy("p", single_task_process("slow-result-p", job_type))
    with pytest.raises(ProcessTimeoutError):
        wire.run(wire.client.run_process_with_result("slow-result-p", {}, timeout=300))
    [instance] = wire.instances_of("slow-result-p")
    assert instance["state"] == "ACTIVE"
    [job] = wire.activate(job_type)
    wire.complete(job.key)
    assert wire.instance_state(int(instance["processInstanceKey"])) == "COMPLETED"


# ============================================================================ deployment


def test_redeploying_identical_xml_keeps_version_and_key(wire: Wire) -> None:
    # components/concepts/process-definitions (versioning) / deploy resource API: deploying a
    # resource identical to the latest version creates no new version (same key); a changed
    # one is the next version. REST `isLatestVersion` only lists the latest.
    xml = single_task_process("ver-same-p", unique("t"))
    first = wire.deploy("p", xml)
    again = wire.deploy("p", xml)
    assert (again.version, again.process_definition_key) == (
        first.version,
        first.process_definition_key,
    )
    newer = wire.deploy("p", changed(xml))
    assert newer.version == first.version + 1
    assert newer.process_definition_key != first.process_definition_key
    all_versions = wire.search("process-definitions", {"processDefinitionId": "ver-same-p"})
    assert sorted(d["version"] for d in all_versions) == [1, 2]
    latest = wire.search(
        "process-definitions", {"processDefinitionId": "ver-same-p", "isLatestVersion": True}
    )
    assert [(d["version"], d["processDefinitionKey"]) for d in latest] == [
        (2, str(newer.process_definition_key))
    ]


# ============================================================================ REST v2 shapes
# Doc: apis-tools/orchestration-cluster-api-rest (8.8) search endpoints.


def test_rest_search_pages_and_items_have_the_v2_shape(wire: Wire) -> None:
    # REST v2 search responses: {items: [...], page: {totalItems, startCursor?, endCursor?}};
    # keys are strings; variable values are the JSON text of the value; message
    # subscriptions name the catch event and carry the evaluated correlation key.
    name = unique("paid")
    wire.deploy("p", catch_process("shape-p", name))
    pi = wire.start("shape-p", {"orderId": "o-99", "amount": 12.5})

    response = requests.post(
        f"{wire.rest}/v2/message-subscriptions/search",
        json={"filter": {"processInstanceKey": str(pi)}, "page": {"limit": 10}},
        timeout=10,
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"items", "page"}
    assert body["page"]["totalItems"] == 1
    [sub] = body["items"]
    assert sub["processInstanceKey"] == str(pi)
    assert isinstance(sub["messageSubscriptionKey"], str)
    assert isinstance(sub["elementInstanceKey"], str)
    assert (sub["elementId"], sub["messageName"], sub["correlationKey"]) == ("wait", name, "o-99")
    assert sub["messageSubscriptionState"] == "CREATED"
    assert sub["processDefinitionId"] == "shape-p"
    assert sub["tenantId"] == "<default>"

    values = {
        v["name"]: v["value"] for v in wire.search("variables", {"processInstanceKey": str(pi)})
    }
    assert values == {"orderId": '"o-99"', "amount": "12.5"}

    [element] = wire.elements(pi, "wait")
    assert element["type"] == "INTERMEDIATE_CATCH_EVENT"
    assert element["state"] == "ACTIVE"
    assert element["elementInstanceKey"] == sub["elementInstanceKey"]

    # Field names of the 8.8 result schemas (all keys are strings of digits).
    assert set(sub) >= {
        "messageSubscriptionKey",
        "processDefinitionId",
        "processDefinitionKey",
        "processInstanceKey",
        "elementId",
        "elementInstanceKey",
        "messageSubscriptionState",
        "lastUpdatedDate",
        "messageName",
        "correlationKey",
        "tenantId",
    }
    assert set(element) >= {
        "processDefinitionId",
        "startDate",
        "elementId",
        "elementName",
        "type",
        "state",
        "hasIncident",
        "tenantId",
        "elementInstanceKey",
        "processInstanceKey",
        "processDefinitionKey",
    }
    [variable, *_] = wire.search("variables", {"processInstanceKey": str(pi)})
    assert set(variable) >= {
        "name",
        "value",
        "isTruncated",
        "tenantId",
        "variableKey",
        "scopeKey",
        "processInstanceKey",
    }
    [definition] = wire.search("process-definitions", {"processDefinitionId": "shape-p"})
    # an unnamed process has no "name": 8.8 leaves absent fields out
    assert set(definition) >= {
        "resourceName",
        "version",
        "processDefinitionId",
        "tenantId",
        "processDefinitionKey",
        "hasStartForm",
    }
    for item in (sub, element, variable, definition):
        for field, value in item.items():
            if field.endswith("Key") and field != "correlationKey" and value is not None:
                assert isinstance(value, str) and value.isdigit(), (field, value)


# ============================================================================ more messages


def test_message_aggregator_pattern_start_event_then_catch_event(wire: Wire) -> None:
    # messages.md "Message patterns > Message aggregator": messages with TTL > 0 and one
    # correlation key; the first creates an instance, the following ones correlate to the
    # waiting catch event of that instance (not a second instance, and the starting message
    # is not correlated a second time to the catch event of the instance it started).
    name = unique("item")
    body = (
        '<bpmn:startEvent id="start"><bpmn:messageEventDefinition messageRef="s"/>'
        "</bpmn:startEvent>\n"
        + catch("next", "c", io(outputs={"items": "=append(items, n)"}))
        + task("hold", unique("hold"))
        + END
        + seq("start", "next")
        + seq("next", "hold")
        + seq("hold", "end")
    )
    messages = msg("s", name, key=None) + msg("c", name, key="=group")
    wire.deploy("p", bpmn("agg-p", body, messages))
    wire.publish(name, "g-1", ttl_ms=60_000, variables={"group": "g-1", "n": 1, "items": [1]})
    [instance] = wire.instances_of("agg-p")
    pi = int(instance["processInstanceKey"])
    assert waiting_at(wire, pi, "next"), "the starting message must not also complete 'next'"
    wire.publish(name, "g-1", ttl_ms=60_000, variables={"group": "g-1", "n": 2})
    assert len(wire.instances_of("agg-p")) == 1
    assert waiting_at(wire, pi, "hold")
    assert wire.scope_variables(pi)["items"] == [1, 2]


def test_resolving_a_correlation_key_incident_evaluates_the_key_again(wire: Wire) -> None:
    # incidents.md: after the cause is fixed (variables updated) and the incident resolved,
    # the failed step is retried: the catch event is activated again and its correlation key
    # evaluated with the new value.
    name = unique("paid")
    wire.deploy("p", catch_process("retry-key-p", name))
    pi = wire.start("retry-key-p", {"orderId": None})
    [incident] = wire.incidents(pi)
    wire.set_variables(pi, {"orderId": "o-fixed"}, local=False)
    resolve = pb.ResolveIncidentRequest(incidentKey=int(incident["incidentKey"]))
    assert wire.call("ResolveIncident", resolve) == grpc.StatusCode.OK
    [sub] = wire.subscriptions(processInstanceKey=str(pi), messageSubscriptionState="CREATED")
    assert sub["correlationKey"] == "o-fixed"
    wire.publish(name, "o-fixed")
    assert wire.instance_state(pi) == "COMPLETED"


def test_rest_publication_defaults_to_ttl_zero(wire: Wire) -> None:
    # REST v2 "Publish message" (MessagePublicationRequest): timeToLive defaults to 0, i.e.
    # no buffering; the answer carries the message key as a string and the tenant.
    name = unique("paid")
    wire.deploy("p", catch_process("rest-pub-p", name))
    response = requests.post(
        f"{wire.rest}/v2/messages/publication",
        json={"name": name, "correlationKey": "o-20", "variables": {"via": "rest"}},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body["messageKey"], str) and body["messageKey"].isdigit()
    assert body["tenantId"] == "<default>"
    pi = wire.start("rest-pub-p", {"orderId": "o-20"})
    assert waiting_at(wire, pi, "wait"), "a message without timeToLive is not buffered"
    response = requests.post(
        f"{wire.rest}/v2/messages/publication",
        json={"name": name, "correlationKey": "o-20", "variables": {"via": "rest"}},
        timeout=10,
    )
    assert response.status_code == 200
    assert wire.scope_variables(pi)["via"] == "rest"


def test_cancelling_an_instance_terminates_its_jobs_and_subscriptions(wire: Wire) -> None:
    # CancelProcessInstance (zeebe-api gateway reference): the instance and all its active
    # elements are terminated; its job is gone (NOT_FOUND) and its subscriptions closed.
    name, job_type = unique("remind"), unique("work")
    body = (
        START
        + task("work", job_type)
        + message_boundary("remind", "work", "m", interrupting=True)
        + END
        + '<bpmn:endEvent id="reminded"/>\n'
        + seq("start", "work")
        + seq("work", "end")
        + seq("remind", "reminded")
    )
    wire.deploy("p", bpmn("cancel-p", body, msg("m", name)))
    pi = wire.start("cancel-p", {"orderId": "o-21"})
    [job] = wire.activate(job_type)
    cancel = pb.CancelProcessInstanceRequest(processInstanceKey=pi)
    assert wire.call("CancelProcessInstance", cancel) == grpc.StatusCode.OK
    assert wire.instance_state(pi) == "TERMINATED"
    assert wire.complete(job.key) == grpc.StatusCode.NOT_FOUND
    assert wire.subscriptions(processInstanceKey=str(pi), messageSubscriptionState="CREATED") == []
    assert wire.call("CancelProcessInstance", cancel) == grpc.StatusCode.NOT_FOUND


def test_missing_mapping_sources_resolve_to_null(wire: Wire) -> None:
    # variables.md "Input/output variable mappings": if the variable or nested property of a
    # source doesn't exist, the value resolves to null (no incident).
    job_type = unique("nulls")
    body = (
        START
        + task(
            "work",
            job_type,
            io(inputs={"local": "=customer.name"}, outputs={"result": "=notReturned"}),
        )
        + task("after", f"{job_type}-after")
        + END
        + seq("start", "work")
        + seq("work", "after")
        + seq("after", "end")
    )
    wire.deploy("p", bpmn("nulls-p", body))
    pi = wire.start("nulls-p")
    [job] = wire.activate(job_type)
    assert json.loads(job.variables) == {"local": None}
    wire.complete(job.key, {})
    assert waiting_at(wire, pi, "after")
    assert wire.scope_variables(pi) == {"result": None}
    assert wire.incidents(pi) == []


def test_empty_correlation_key_matches_only_empty_key_messages(wire: Wire) -> None:
    # messages.md "Message correlation overview": with an empty-string correlation key "the
    # message is correlated if a matching subscription to the empty string is active".
    name = unique("ping")
    wire.deploy("p", catch_process("empty-key-p", name, key='=""'))
    pi = wire.start("empty-key-p")
    [sub] = wire.subscriptions(processInstanceKey=str(pi))
    assert sub["correlationKey"] == ""
    wire.publish(name, "not-empty")
    assert waiting_at(wire, pi, "wait")
    wire.publish(name, "")
    assert wire.instance_state(pi) == "COMPLETED"


def test_one_message_starts_one_process_and_reaches_another_process_waiting(
    wire: Wire,
) -> None:
    # messages.md "Message cardinality": subscriptions of different processes all receive the
    # message, whether the subscription is a message start event or an intermediate event.
    name, job_type = unique("order"), unique("hold")
    wire.deploy("s", message_start_process("both-start-p", name, job_type))
    wire.deploy("c", catch_process("both-catch-p", name))
    waiting = wire.start("both-catch-p", {"orderId": "k-1"})
    wire.publish(name, "k-1", variables={"from": "message"})
    assert wire.instance_state(waiting) == "COMPLETED"
    [started] = wire.instances_of("both-start-p")
    assert wire.scope_variables(int(started["processInstanceKey"])) == {"from": "message"}


def test_sub_process_output_mappings_propagate_its_locals(wire: Wire) -> None:
    # variables.md "Output mappings": for a sub-process there are no result variables, but
    # output mappings can propagate its local variables to the higher scope when it completes.
    job_type = unique("inner")
    inner = (
        '<bpmn:startEvent id="sub_start"/>\n'
        + task("inner", job_type)
        + '<bpmn:endEvent id="sub_end"/>\n'
        + seq("sub_start", "inner")
        + seq("inner", "sub_end")
    )
    body = (
        START
        + sub_process(
            "sub", inner, io(inputs={"status": '="draft"'}, outputs={"finalStatus": "=status"})
        )
        + task("after", f"{job_type}-after")
        + END
        + seq("start", "sub")
        + seq("sub", "after")
        + seq("after", "end")
    )
    wire.deploy("p", bpmn("subout-p", body))
    pi = wire.start("subout-p")
    [job] = wire.activate(job_type)
    wire.complete(job.key, {"status": "approved"})
    assert waiting_at(wire, pi, "after")
    assert wire.scope_variables(pi) == {"finalStatus": "approved"}


def test_buffered_message_does_not_correlate_again_to_a_later_catch_event_of_the_instance(
    wire: Wire,
) -> None:
    # messages.md "Message cardinality": correlated only once to a process, so a buffered
    # message that completed one catch event does not also complete the next catch event
    # (same name and key) of that instance; a new message does.
    name, job_type = unique("tick"), unique("between")
    body = (
        START
        + catch("first", "m")
        + task("between", job_type)
        + catch("second", "m")
        + END
        + seq("start", "first")
        + seq("first", "between")
        + seq("between", "second")
        + seq("second", "end")
    )
    wire.deploy("p", bpmn("again-p", body, msg("m", name)))
    pi = wire.start("again-p", {"orderId": "o-30"})
    wire.publish(name, "o-30", ttl_ms=60_000)
    [job] = wire.activate(job_type)
    wire.complete(job.key)
    assert waiting_at(wire, pi, "second")
    wire.publish(name, "o-30", ttl_ms=60_000)
    assert wire.instance_state(pi) == "COMPLETED"


def test_gateway_rejections_use_zeebe_codes_and_wording(wire: Wire) -> None:
    # Gateway error mapping (zeebe-api "Technical error handling" + the gateway's rejection
    # format "Command '<INTENT>' rejected with code '<TYPE>': <reason>"): a duplicate buffered
    # message id is ALREADY_EXISTS, an unknown job NOT_FOUND.
    name = unique("dup")
    publish = pb.PublishMessageRequest(
        name=name, correlationKey="k", timeToLive=60_000, messageId="same", variables="{}"
    )
    assert wire.call_detailed("PublishMessage", publish)[0] == grpc.StatusCode.OK
    code, details = wire.call_detailed("PublishMessage", publish)
    assert code == grpc.StatusCode.ALREADY_EXISTS
    assert details == (
        "Command 'PUBLISH' rejected with code 'ALREADY_EXISTS': Expected to publish a new "
        "message with id 'same', but a message with that id was already published"
    )
    missing = pb.CompleteJobRequest(jobKey=2251799813685249 + 424_242, variables="{}")
    code, details = wire.call_detailed("CompleteJob", missing)
    assert code == grpc.StatusCode.NOT_FOUND
    assert details.startswith("Command 'COMPLETE' rejected with code 'NOT_FOUND': ")


def test_rest_publication_of_a_duplicate_buffered_message_id_is_a_conflict(wire: Wire) -> None:
    # REST v2 error mapping (Orchestration Cluster API conventions): an ALREADY_EXISTS
    # rejection answers 409 with an application/problem+json body keeping the rejection text.
    body = {"name": unique("dup"), "correlationKey": "k", "timeToLive": 60_000, "messageId": "x"}
    first = requests.post(f"{wire.rest}/v2/messages/publication", json=body, timeout=10)
    assert first.status_code == 200, first.text
    second = requests.post(f"{wire.rest}/v2/messages/publication", json=body, timeout=10)
    assert second.status_code == 409, second.text
    assert second.headers["Content-Type"].startswith("application/problem+json")
    problem = second.json()
    assert problem["status"] == 409
    assert "already published" in problem["detail"]


def test_buffered_message_triggers_interrupting_boundary_when_activity_is_entered(
    wire: Wire,
) -> None:
    # messages.md "Message buffering" + message-events.md "Message boundary events": the
    # boundary subscription opened on entering the activity polls the buffer; a buffered
    # match interrupts the activity at once, so its job is never worked on.
    name, job_type = unique("cancel"), unique("work")
    body = (
        START
        + task("work", job_type)
        + message_boundary("cancelled", "work", "m", interrupting=True)
        + '<bpmn:endEvent id="aborted"/>\n'
        + END
        + seq("start", "work")
        + seq("work", "end")
        + seq("cancelled", "aborted")
    )
    wire.deploy("p", bpmn("early-int-p", body, msg("m", name)))
    wire.publish(name, "o-40", ttl_ms=60_000)
    pi = wire.start("early-int-p", {"orderId": "o-40"})
    assert wire.instance_state(pi) == "COMPLETED"
    assert passed(wire, pi, "aborted") == 1
    assert wire.activate(job_type) == []


def test_mappings_are_evaluated_in_order_and_see_previous_targets(wire: Wire) -> None:
    # variables.md "Input/output variable mappings": "Variable mappings are evaluated in the
    # defined order. Therefore, a source expression can access the target variable of a
    # previous mapping." Holds for input and for output mappings.
    job_type = unique("chain")
    mapping = io(
        inputs={"a": "=x + 1", "b": "=a * 10"},
        outputs={"total": "=price * 2", "label": '="total " + string(total)'},
    )
    body = (
        START
        + task("work", job_type, mapping)
        + task("after", f"{job_type}-after")
        + END
        + seq("start", "work")
        + seq("work", "after")
        + seq("after", "end")
    )
    wire.deploy("p", bpmn("order-p", body))
    pi = wire.start("order-p", {"x": 1})
    [job] = wire.activate(job_type)
    assert json.loads(job.variables) == {"x": 1, "a": 2, "b": 20}
    wire.complete(job.key, {"price": 5})
    assert waiting_at(wire, pi, "after")
    assert wire.scope_variables(pi) == {"x": 1, "total": 10, "label": "total 10"}


def test_nested_output_target_merges_into_the_parent_value_not_the_local_one(
    wire: Wire,
) -> None:
    # variables.md "Nested variables in mappings": an output target `a.b` updates only that
    # property and merges it into the existing variable, leaving siblings untouched; the
    # sibling that only the element's own local `a` had does not leak out
    # (camunda/camunda#35251, NestedOutputPathPropagationTest).
    job_type = unique("hold")
    inner = (
        '<bpmn:startEvent id="sub_start"/>\n'
        + task("inner", job_type)
        + '<bpmn:endEvent id="sub_end"/>\n'
        + seq("sub_start", "inner")
        + seq("inner", "sub_end")
    )
    body = (
        START
        + sub_process("sub", inner, io(inputs={"a": "={p: 0}"}, outputs={"a.b": "=1"}))
        + task("after", f"{job_type}-after")
        + END
        + seq("start", "sub")
        + seq("sub", "after")
        + seq("after", "end")
    )
    wire.deploy("p", bpmn("nested-sub-p", body))
    pi = wire.start("nested-sub-p", {"a": {"c": 2}})
    [job] = wire.activate(job_type)
    wire.complete(job.key)
    assert waiting_at(wire, pi, "after")
    assert wire.scope_variables(pi)["a"] == {"c": 2, "b": 1}


def test_parallel_gateway_joins_after_a_token_on_every_incoming_flow(wire: Wire) -> None:
    # components/modeler/bpmn/parallel-gateways/parallel-gateways.md: a joining parallel gateway
    # waits until a token arrived on each incoming sequence flow, then continues once.
    left, right = unique("left"), unique("right")
    body = (
        START
        + '<bpmn:parallelGateway id="fork"/><bpmn:parallelGateway id="join"/>\n'
        + task("a", left)
        + task("b", right)
        + END
        + seq("start", "fork")
        + seq("fork", "a")
        + seq("fork", "b")
        + seq("a", "join")
        + seq("b", "join")
        + seq("join", "end")
    )
    wire.deploy("p", bpmn("join-p", body))
    pi = wire.start("join-p")
    [job_a] = wire.activate(left)
    [job_b] = wire.activate(right)
    wire.complete(job_a.key, {"fromA": 1})
    assert wire.instance_state(pi) == "ACTIVE"
    assert passed(wire, pi, "join") == 0
    wire.complete(job_b.key, {"fromB": 2})
    assert wire.instance_state(pi) == "COMPLETED"
    assert passed(wire, pi, "join") == 1
    assert passed(wire, pi, "end") == 1
    assert wire.scope_variables(pi) == {"fromA": 1, "fromB": 2}


def test_receive_task_waits_for_its_message_and_maps_it(wire: Wire) -> None:
    # components/modeler/bpmn/receive-tasks/receive-tasks.md: a receive task opens a message
    # subscription on entering and completes when the message is correlated; output mappings
    # apply to the message variables as for a catch event; it can carry boundary events.
    name, reminder = unique("reply"), unique("nudge")
    body = (
        START
        + '<bpmn:receiveTask id="reply" messageRef="m"><bpmn:extensionElements>'
        + io(outputs={"answer": "=text"})
        + "</bpmn:extensionElements></bpmn:receiveTask>\n"
        + message_boundary("nudge", "reply", "n", interrupting=False)
        + '<bpmn:endEvent id="nudged"/>\n'
        + END
        + seq("start", "reply")
        + seq("reply", "end")
        + seq("nudge", "nudged")
    )
    wire.deploy("p", bpmn("recv-p", body, msg("m", name) + msg("n", reminder)))
    pi = wire.start("recv-p", {"orderId": "o-50"})
    subs = wire.subscriptions(processInstanceKey=str(pi), messageSubscriptionState="CREATED")
    assert sorted(s["elementId"] for s in subs) == ["nudge", "reply"]
    wire.publish(reminder, "o-50")
    assert passed(wire, pi, "nudged") == 1
    assert waiting_at(wire, pi, "reply")
    wire.publish(name, "o-50", variables={"text": "yes", "noise": 1})
    assert wire.instance_state(pi) == "COMPLETED"
    assert wire.scope_variables(pi) == {"orderId": "o-50", "answer": "yes"}


def test_message_subscription_search_lists_process_instance_subscriptions_only(
    wire: Wire,
) -> None:
    # REST v2 8.8 `POST /v2/message-subscriptions/search` returns the subscriptions of process
    # instances (a `processInstanceKey` and `elementInstanceKey` each); message start event
    # subscriptions are not part of it in 8.8 (a `messageSubscriptionType` to tell them apart
    # only came with 8.10).
    name, job_type = unique("order"), unique("hold")
    wire.deploy("s", message_start_process("sub-kind-p", name, job_type))
    assert wire.subscriptions(messageName=name) == []
    wire.deploy("c", catch_process("sub-kind-c", name))
    pi = wire.start("sub-kind-c", {"orderId": "k"})
    [sub] = wire.subscriptions(messageName=name)
    assert sub["processInstanceKey"] == str(pi)
