"""``POST /v2/deployments``: a multipart form of BPMN resources, as Camunda's REST clients
(the official SDKs, Modeler) deploy; one atomic deployment like gRPC's DeployResource."""

from __future__ import annotations

import requests

from connector.devengine.server import DevEngine

from .conftest import message_catch_process, service_task_process


def post_form(
    dev: DevEngine, files: list[tuple[str, tuple[str | None, bytes, str]]]
) -> requests.Response:
    return requests.post(f"{dev.rest_url}/v2/deployments", files=files, timeout=10)


def test_deploys_every_resource_of_the_form_atomically(dev: DevEngine) -> None:
    reply = post_form(
        dev,
        [
            ("resources", ("double.bpmn", service_task_process().encode(), "application/xml")),
            ("resources", ("catch.bpmn", message_catch_process().encode(), "application/xml")),
        ],
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert set(body) == {"deploymentKey", "tenantId", "deployments"}
    assert body["tenantId"] == "<default>" and body["deploymentKey"].isdigit()
    deployed = [item["processDefinition"] for item in body["deployments"]]
    assert [(d["processDefinitionId"], d["resourceName"]) for d in deployed] == [
        ("double-process", "double.bpmn"),
        ("wait-process", "catch.bpmn"),
    ]
    for definition in deployed:
        assert definition["processDefinitionVersion"] == 1
        assert dev.engine.process_definitions(key=int(definition["processDefinitionKey"]))


def test_an_invalid_resource_deploys_nothing(dev: DevEngine) -> None:
    reply = post_form(
        dev,
        [
            ("resources", ("double.bpmn", service_task_process().encode(), "application/xml")),
            ("resources", ("broken.bpmn", b"<not-bpmn", "application/xml")),
        ],
    )
    assert reply.status_code == 400
    assert reply.headers["Content-Type"].startswith("application/problem+json")
    assert "broken.bpmn" in reply.json()["detail"]
    assert dev.engine.process_definitions() == []


def test_a_form_without_resources_or_with_unknown_fields_is_refused(dev: DevEngine) -> None:
    empty = post_form(dev, [("tenantId", (None, b"<default>", "text/plain"))])
    assert empty.status_code == 400 and "at least one resource" in empty.json()["detail"]
    unknown = post_form(
        dev,
        [
            ("resources", ("double.bpmn", service_task_process().encode(), "application/xml")),
            ("comment", (None, b"hello", "text/plain")),
        ],
    )
    assert unknown.status_code == 400 and "'comment'" in unknown.json()["detail"]


def test_a_body_that_is_not_a_form_is_refused(dev: DevEngine) -> None:
    as_json = requests.post(f"{dev.rest_url}/v2/deployments", json={"resources": []}, timeout=10)
    assert as_json.status_code == 400
    assert "multipart/form-data" in as_json.json()["detail"]
    truncated = requests.post(
        f"{dev.rest_url}/v2/deployments",
        data=b'--b\r\nContent-Disposition: form-data; name="resources"\r\n\r\nxx',
        headers={"Content-Type": "multipart/form-data; boundary=b"},
        timeout=10,
    )
    assert truncated.status_code == 400
    assert dev.engine.process_definitions() == []
