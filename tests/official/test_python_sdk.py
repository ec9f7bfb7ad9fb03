"""Camunda's official Python SDK (``camunda-orchestration-sdk``) against the dev engine.

SDK major version 9 is typed against the Camunda 8.9 REST API, so it checks the engine in its
8.9 mode from a second, independent code base (beside the Node clients in
``test_official_clients.py``):

* every request the worker sends during an end-to-end run is re-expressed with the SDK's
  typed request models - a field the 8.9 API does not define would land in a model's
  ``additional_properties`` - and replayed through the SDK, which must parse each answer;
* the calls a user makes around the worker (deploy, start, publish, look up, the error paths)
  behave as the SDK expects, including against an engine guarding its API with OAuth.

The SDK is part of the ``test`` extra, so CI always has it; a missing SDK fails the test.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import camunda_orchestration_sdk as sdk
import httpx
import pytest
from camunda_orchestration_sdk import errors as sdk_errors
from camunda_orchestration_sdk.models import (
    ElementInstanceSearchQuery,
    MessageSubscriptionSearchQuery,
    ProcessDefinitionSearchQuery,
    SearchVariablesData,
)
from camunda_orchestration_sdk.types import Unset

from connector.devengine.oauth import OAuthServerConfig
from connector.devengine.server import DevEngine, DevEngineOptions
from tests.official.test_worker_requests import URL, subprocess_bpmn
from tests.worker.bpmn_builder import polling_properties
from tests.worker.harness import Endpoint, WorkerProcess, serve_endpoint, until

VERSION = "8.9"

#: The worker's search endpoints and the SDK's typed request model and call for each.
SEARCHES: dict[str, tuple[Any, str]] = {
    "/v2/process-definitions/search": (ProcessDefinitionSearchQuery, "search_process_definitions"),
    "/v2/message-subscriptions/search": (
        MessageSubscriptionSearchQuery,
        "search_message_subscriptions",
    ),
    "/v2/variables/search": (SearchVariablesData, "search_variables"),
    "/v2/element-instances/search": (ElementInstanceSearchQuery, "search_element_instances"),
}


def client_for(rest_url: str, **extra: str) -> sdk.CamundaClient:
    configuration: dict[str, str] = {
        "CAMUNDA_REST_ADDRESS": rest_url,
        "CAMUNDA_AUTH_STRATEGY": "NONE",
        **extra,
    }
    return sdk.CamundaClient(configuration=configuration)  # type: ignore[arg-type]


def undefined_fields(model: Any, where: str = "$") -> list[str]:
    """Paths of fields the SDK's models do not define (kept in ``additional_properties``)."""
    found: list[str] = []
    extra = getattr(model, "additional_properties", None)
    if isinstance(extra, dict):
        found += [f"{where}.{name}" for name in extra]
    if hasattr(model, "__attrs_attrs__"):
        for attribute in model.__attrs_attrs__:
            if attribute.name != "additional_properties":
                value = getattr(model, attribute.name)
                found += undefined_fields(value, f"{where}.{attribute.name}")
    elif isinstance(model, list):
        for item in model:
            found += undefined_fields(item, f"{where}[*]")
    return sorted(set(found))


#: Answer fields the SDK (typed as of 8.9.0) does not define but the engine sends on purpose:
#: Camunda's Node client for 8.9 (9.1.5) requires a process definition's ``state``.
EXPECTED_EXTRA_FIELDS = {"/v2/process-definitions/search": ["$.items[*].state"]}


def comparable(value: Any) -> Any:
    """JSON with date-times as instants (the SDK re-renders ``...Z`` as ``...+00:00``)."""
    if isinstance(value, dict):
        return {key: comparable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [comparable(item) for item in value]
    if isinstance(value, str) and len(value) >= 20 and value[4:5] == "-" and value[10:11] == "T":
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    yield from serve_endpoint()


def test_sdk_accepts_every_worker_request_and_parses_every_answer(endpoint: Endpoint) -> None:
    """Record the worker's REST requests against an 8.9 engine, then replay them typed."""
    with DevEngine.run_in_thread(options=DevEngineOptions(camunda_version=VERSION)) as dev:
        recorded = dev.rest_api.recorded = []
        dev.engine.deploy([("nested.bpmn", subprocess_bpmn(polling_properties(URL)).encode())])
        endpoint.set("/items/a", {"id": "a", "status": "waiting"})
        endpoint.set("/items/b", {"id": "b", "status": "waiting"})
        waiting = dev.engine.create_process_instance(
            "nested", variables={"base": endpoint.url, "id": "a", "note": "x" * 300}
        ).process_instance_key
        done = dev.engine.create_process_instance(
            "nested", variables={"base": endpoint.url, "id": "b"}
        ).process_instance_key
        worker = WorkerProcess(dev.grpc_address, dev.rest_url)
        try:
            until(lambda: endpoint.hits_for("/items/a"), what="a first poll", timeout=30)
            endpoint.set("/items/b", {"id": "b", "status": "done"})
            until(
                lambda: dev.engine.process_instances(key=done)[0].state == "COMPLETED",
                what="the instance completed",
                timeout=30,
            )
        finally:
            assert worker.stop() == 0
        sent = list(recorded)
        dev.rest_api.recorded = None

        with client_for(dev.rest_url) as client:
            replayed: set[str] = set()
            for method, path, body, _accept in sent:
                replayed.add(replay(client, method, path, body))
            # the worker's main reads were all among them, and each one parsed
            for kind in (
                "GET /v2/topology",
                "GET xml",
                *(f"POST {search}" for search in SEARCHES),
            ):
                assert kind in replayed, (kind, sorted(replayed))
            # the still-waiting instance is visible through the SDK as the worker saw it
            subscriptions = client.search_message_subscriptions(
                data=MessageSubscriptionSearchQuery.from_dict(
                    {"filter": {"processInstanceKey": str(waiting)}}
                )
            )
            assert not isinstance(subscriptions.items, Unset)
            [subscription] = subscriptions.items
            assert subscription.message_name == "done-msg"
            assert str(subscription.message_subscription_state) == "CREATED"


def replay(client: sdk.CamundaClient, method: str, path: str, body: Any) -> str:
    """Send one recorded worker request through the SDK; return its kind."""
    if method == "GET" and path == "/v2/topology":
        topology = client.get_topology()
        assert undefined_fields(topology) == []
        assert topology.gateway_version.startswith(VERSION), topology.gateway_version
        return "GET /v2/topology"
    if method == "GET" and path.endswith("/xml"):
        key = path.split("/")[-2]
        xml = client.get_process_definition_xml(
            process_definition_key=sdk.ProcessDefinitionKey(key)
        )
        assert "<bpmn:definitions" in xml
        return "GET xml"
    if method == "GET" and path.startswith("/v2/variables/"):
        variable = client.get_variable(variable_key=sdk.VariableKey(path.rsplit("/", 1)[1]))
        assert undefined_fields(variable) == []
        assert json.loads(variable.value) is not None or variable.value == "null"
        return "GET variable"
    assert method == "POST" and path in SEARCHES, (method, path)
    model, call = SEARCHES[path]
    query = model.from_dict(body)
    assert undefined_fields(query) == [], (path, json.dumps(body))
    assert comparable(query.to_dict()) == comparable(body), (path, json.dumps(body))
    result = getattr(client, call)(data=query)
    assert not isinstance(result.page, Unset) and result.page.total_items >= 0
    # the answer has no field the 8.9 API does not define
    assert undefined_fields(result) == EXPECTED_EXTRA_FIELDS.get(path, []), path
    return f"POST {path}"


BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="defs"
    targetNamespace="http://example.com/python-sdk">
  <bpmn:message id="msg" name="sdk-done">
    <bpmn:extensionElements>
      <zeebe:subscription correlationKey="=orderId"/>
    </bpmn:extensionElements>
  </bpmn:message>
  <bpmn:process id="sdk-p" name="SDK" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
    <bpmn:intermediateCatchEvent id="wait">
      <bpmn:messageEventDefinition messageRef="msg"/>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def user_round_trip(client: sdk.CamundaClient, bpmn: Path) -> None:
    """Deploy, start, look up, publish, see it complete; then the error paths."""
    deployment = client.deploy_resources_from_files([str(bpmn)])
    assert deployment.additional_properties == {}
    assert undefined_fields(deployment.deployments) == []
    [process] = deployment.processes
    assert process.process_definition_id == "sdk-p"
    definition = client.get_process_definition(
        process_definition_key=process.process_definition_key
    )
    assert definition.version == 1 and definition.name == "SDK"
    assert undefined_fields(definition) == ["$.state"]  # see EXPECTED_EXTRA_FIELDS
    started = client.create_process_instance(
        data=sdk.ProcessCreationByKey.from_dict(
            {
                "processDefinitionKey": process.process_definition_key,
                "variables": {"orderId": "o-1", "nested": {"list": [1, 2.5, None, True]}},
            }
        )
    )
    assert undefined_fields(started) == []
    instance = client.get_process_instance(process_instance_key=started.process_instance_key)
    assert str(instance.state) == "ACTIVE"
    assert undefined_fields(instance) == []
    variables = client.search_variables(
        data=SearchVariablesData.from_dict(
            {"filter": {"processInstanceKey": started.process_instance_key}}
        ),
        truncate_values=False,
    )
    assert undefined_fields(variables) == []
    assert not isinstance(variables.items, Unset)
    values = {item.name: json.loads(item.value) for item in variables.items}
    assert values == {"orderId": "o-1", "nested": {"list": [1, 2.5, None, True]}}
    client.publish_message(
        data=sdk.MessagePublicationRequest(
            name="sdk-done", correlation_key="o-1", time_to_live=0, message_id="sdk-m-1"
        )
    )

    def completed() -> bool:
        state = client.get_process_instance(process_instance_key=started.process_instance_key)
        return str(state.state) == "COMPLETED"

    until(completed, what="the instance completed", timeout=30)
    with pytest.raises(sdk_errors.NotFoundError):
        client.get_process_definition_xml(
            process_definition_key=sdk.ProcessDefinitionKey("2251799813999999")
        )
    with pytest.raises(sdk_errors.BadRequestError):
        client.search_process_definitions(
            data=ProcessDefinitionSearchQuery.from_dict({"filter": {"nonsense": 1}})
        )


def test_sdk_user_round_trip_on_an_open_engine(tmp_path: Path) -> None:
    bpmn = tmp_path / "sdk.bpmn"
    bpmn.write_text(BPMN)
    with (
        DevEngine.run_in_thread(options=DevEngineOptions(camunda_version=VERSION)) as dev,
        client_for(dev.rest_url) as client,
    ):
        user_round_trip(client, bpmn)


def test_sdk_user_round_trip_with_oauth(tmp_path: Path) -> None:
    """The engine as an OAuth-protected cluster: the SDK's own token flow works against it,
    and a wrong secret is refused."""
    bpmn = tmp_path / "sdk.bpmn"
    bpmn.write_text(BPMN)
    oauth = OAuthServerConfig(client_id="sdk", client_secret="sdk-secret", audience="zeebe-api")
    options = DevEngineOptions(camunda_version=VERSION, oauth=oauth)
    with DevEngine.run_in_thread(options=options) as dev:
        settings = {
            "CAMUNDA_AUTH_STRATEGY": "OAUTH",
            "CAMUNDA_OAUTH_URL": str(dev.token_url),
            "CAMUNDA_CLIENT_ID": "sdk",
            "CAMUNDA_CLIENT_SECRET": "sdk-secret",
            "CAMUNDA_TOKEN_AUDIENCE": "zeebe-api",
        }
        with client_for(dev.rest_url, **settings) as client:
            user_round_trip(client, bpmn)
        wrong = {**settings, "CAMUNDA_CLIENT_SECRET": "wrong"}
        with (
            client_for(dev.rest_url, **wrong) as client,
            pytest.raises(httpx.HTTPStatusError) as refused,
        ):
            client.get_topology()
        assert refused.value.response.status_code == 401
        assert refused.value.request.url.path.endswith("/oauth/token")
