"""Each REST v2 answer has exactly the field names and JSON types of the Camunda 8.8 and 8.9
APIs: 8.8 leaves absent optional fields out, 8.9 sends them as null and has a few more fields.

The expected shapes below are written down from the public 8.8 Orchestration Cluster REST API
reference (OpenAPI schemas ``TopologyResponse``, ``ProcessDefinitionResult``,
``ProcessInstanceResult``, ``ElementInstanceResult``, ``MessageSubscriptionResult``,
``VariableSearchResult``, ``VariableResult``, ``CreateProcessInstanceResult``,
``MessagePublicationResult``, ``SearchQueryPageResponse`` and RFC 9457 ``ProblemDetail``).
Keys are strings of digits, dates RFC 3339 strings; nullable fields accept ``None``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
import requests

from connector.devengine.rest_query import format_date
from connector.devengine.server import DevEngine, DevEngineOptions

from .conftest import (
    create_instance,
    deploy,
    incident_from_failed_job,
    message_catch_process,
    rest_search,
    service_task_process,
)

Check = Callable[[Any], bool]


def key(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,25}", value) is not None


def date(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


class Optional:
    """A nullable field: absent in 8.8 when it has no value, null in 8.9."""

    def __init__(self, check: Check) -> None:
        self.check = check

    def __call__(self, value: Any) -> bool:
        return value is None or self.check(value)


def optional(check: Check) -> Check:
    return Optional(check)


def of(*types: type) -> Check:
    return lambda value: (
        isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    )


def one_of(*choices: str) -> Check:
    return lambda value: value in choices


STRING, INT, BOOL = of(str), of(int), of(bool)

PAGE = {
    "totalItems": INT,
    "hasMoreTotalItems": BOOL,
    "startCursor": optional(STRING),
    "endCursor": optional(STRING),
}
PROCESS_DEFINITION = {
    "name": optional(STRING),
    "resourceName": STRING,
    "version": INT,
    "versionTag": optional(STRING),
    "processDefinitionId": STRING,
    "tenantId": STRING,
    "processDefinitionKey": key,
    "hasStartForm": BOOL,
}
PROCESS_INSTANCE = {
    "processDefinitionId": STRING,
    "processDefinitionName": STRING,
    "processDefinitionVersion": INT,
    "processDefinitionVersionTag": optional(STRING),
    "startDate": date,
    "endDate": optional(date),
    "state": one_of("ACTIVE", "COMPLETED", "TERMINATED"),
    "hasIncident": BOOL,
    "tenantId": STRING,
    "processInstanceKey": key,
    "processDefinitionKey": key,
    "parentProcessInstanceKey": optional(key),
    "parentElementInstanceKey": optional(key),
}
ELEMENT_INSTANCE = {
    "processDefinitionId": STRING,
    "startDate": date,
    "endDate": optional(date),
    "elementId": STRING,
    "elementName": STRING,
    "type": STRING,
    "state": one_of("ACTIVE", "COMPLETED", "TERMINATED"),
    "hasIncident": BOOL,
    "tenantId": STRING,
    "elementInstanceKey": key,
    "processInstanceKey": key,
    "processDefinitionKey": key,
    "incidentKey": optional(key),
}
MESSAGE_SUBSCRIPTION = {
    "messageSubscriptionKey": key,
    "processDefinitionId": STRING,
    "processDefinitionKey": key,
    "processInstanceKey": key,
    "elementId": STRING,
    "elementInstanceKey": key,
    "messageSubscriptionState": one_of("CREATED", "CORRELATED", "DELETED", "MIGRATED"),
    "lastUpdatedDate": date,
    "messageName": STRING,
    "correlationKey": STRING,
    "tenantId": STRING,
}
VARIABLE_BASE = {
    "name": STRING,
    "value": STRING,
    "tenantId": STRING,
    "variableKey": key,
    "scopeKey": key,
    "processInstanceKey": key,
}
VARIABLE_SEARCH_ITEM = {**VARIABLE_BASE, "isTruncated": BOOL}
INCIDENT = {
    "processDefinitionId": STRING,
    "errorType": STRING,
    "errorMessage": STRING,
    "elementId": STRING,
    "creationTime": date,
    "state": one_of("ACTIVE", "MIGRATED", "PENDING", "RESOLVED", "UNKNOWN"),
    "tenantId": STRING,
    "incidentKey": key,
    "processDefinitionKey": key,
    "processInstanceKey": key,
    "elementInstanceKey": key,
    "jobKey": optional(key),
}
# Fields only 8.9 answers have (required there, possibly null).
EXTRA_89: dict[str, dict[str, Check]] = {
    "definition": {"state": one_of("ACTIVE", "DRAINING", "DELETED")},
    "instance": {
        "rootProcessInstanceKey": optional(key),
        "tags": lambda value: value == [],
        "businessId": optional(STRING),
    },
    "element": {"rootProcessInstanceKey": optional(key)},
    "subscription": {"rootProcessInstanceKey": optional(key)},
    "incident": {"rootProcessInstanceKey": optional(key)},
    "variable": {"rootProcessInstanceKey": optional(key)},
    "createdInstance": {"tags": lambda value: value == [], "businessId": optional(STRING)},
    "topology": {"clusterId": optional(STRING)},
}
VERSION = "8.8"  # set per test by the ``dev`` fixture below


@pytest.fixture(params=["8.8", "8.9"])
def dev(request: pytest.FixtureRequest) -> Any:
    """The dev engine under each emulated version."""
    global VERSION
    VERSION = request.param
    options = DevEngineOptions(long_poll_ms=2_000, camunda_version=request.param)
    with DevEngine.run_in_thread(options=options) as running:
        yield running


def versioned(shape: dict[str, Check], extra: str | None = None) -> dict[str, Check]:
    if VERSION == "8.9" and extra is not None:
        return {**shape, **EXTRA_89[extra]}
    return shape


PROBLEM = {"type": STRING, "title": STRING, "status": INT, "detail": STRING, "instance": STRING}


def assert_shape(value: Any, shape: dict[str, Check], where: str = "body") -> None:
    assert isinstance(value, dict), f"{where} is not an object: {value!r}"
    if VERSION == "8.8":
        # absent optional fields are left out, never null
        required = {name for name, check in shape.items() if not isinstance(check, Optional)}
        assert required <= set(value) <= set(shape), f"{where} fields: {sorted(value)}"
        assert None not in value.values(), f"{where} has nulls: {value!r}"
    else:
        assert set(value) == set(shape), f"{where} fields: {sorted(value)} vs {sorted(shape)}"
    for name, check in shape.items():
        if name in value:
            assert check(value[name]), f"{where}.{name} has a wrong type/value: {value[name]!r}"


def assert_search_shape(body: dict[str, Any], item_shape: dict[str, Check]) -> None:
    assert set(body) == {"items", "page"}
    assert_shape(body["page"], PAGE, "page")
    assert body["items"], "expected at least one item to check"
    for index, item in enumerate(body["items"]):
        assert_shape(item, item_shape, f"items[{index}]")


@pytest.fixture
def waiting(dev: DevEngine, bpmn_file: Callable[[str, str], str]) -> str:
    """One instance of wait-process waiting at its message catch event; returns its key."""
    deploy(dev, [bpmn_file("wait.bpmn", message_catch_process())])
    return create_instance(dev, "wait-process", {"orderId": "o-1", "total": 10})


def test_topology_shape(dev: DevEngine) -> None:
    response = requests.get(f"{dev.rest_url}/v2/topology", timeout=5)
    assert response.status_code == 200
    body = response.json()
    broker_shape = {
        "nodeId": INT,
        "host": STRING,
        "port": INT,
        "partitions": lambda value: isinstance(value, list) and len(value) == 1,
        "version": STRING,
    }
    assert_shape(
        body,
        {
            "brokers": lambda value: isinstance(value, list) and len(value) == 1,
            "clusterSize": INT,
            "partitionsCount": INT,
            "replicationFactor": INT,
            "gatewayVersion": STRING,
            "lastCompletedChangeId": STRING,
        }
        | versioned({}, "topology"),
    )
    assert body["gatewayVersion"].startswith(VERSION + ".")
    broker = body["brokers"][0]
    assert_shape(broker, broker_shape, "brokers[0]")
    assert broker["port"] == dev.grpc_port
    assert_shape(
        broker["partitions"][0],
        {
            "partitionId": INT,
            "role": one_of("leader", "follower", "inactive"),
            "health": one_of("healthy", "unhealthy", "dead"),
        },
        "partitions[0]",
    )


def test_process_definition_search_shape(dev: DevEngine, waiting: str) -> None:
    body = rest_search(dev, "process-definitions", {})
    assert_search_shape(body, versioned(PROCESS_DEFINITION, "definition"))
    [definition] = body["items"]
    assert definition["processDefinitionId"] == "wait-process"
    assert definition["name"] == "Wait"
    assert definition["resourceName"] == "wait.bpmn"
    assert definition["version"] == 1


def test_process_definition_get_and_xml_shape(dev: DevEngine, waiting: str) -> None:
    [definition] = rest_search(dev, "process-definitions", {})["items"]
    url = f"{dev.rest_url}/v2/process-definitions/{definition['processDefinitionKey']}"
    single = requests.get(url, timeout=5)
    assert single.status_code == 200
    assert_shape(single.json(), versioned(PROCESS_DEFINITION, "definition"))
    xml = requests.get(f"{url}/xml", timeout=5)
    assert xml.status_code == 200
    assert xml.headers["Content-Type"].startswith("text/xml")
    assert xml.text == message_catch_process()  # served back verbatim


def test_process_instance_search_and_get_shape(dev: DevEngine, waiting: str) -> None:
    body = rest_search(dev, "process-instances", {})
    assert_search_shape(body, versioned(PROCESS_INSTANCE, "instance"))
    single = requests.get(f"{dev.rest_url}/v2/process-instances/{waiting}", timeout=5)
    assert single.status_code == 200
    assert_shape(single.json(), versioned(PROCESS_INSTANCE, "instance"))
    assert single.json()["state"] == "ACTIVE"


def test_element_instance_search_and_get_shape(dev: DevEngine, waiting: str) -> None:
    body = rest_search(dev, "element-instances", {"filter": {"elementId": "wait"}})
    assert_search_shape(body, versioned(ELEMENT_INSTANCE, "element"))
    [item] = body["items"]
    assert item["type"] == "INTERMEDIATE_CATCH_EVENT"
    assert item["elementName"] == "Wait for payment"
    assert item["state"] == "ACTIVE"
    url = f"{dev.rest_url}/v2/element-instances/{item['elementInstanceKey']}"
    single = requests.get(url, timeout=5)
    assert single.status_code == 200
    assert_shape(single.json(), versioned(ELEMENT_INSTANCE, "element"))


def test_message_subscription_search_shape(dev: DevEngine, waiting: str) -> None:
    body = rest_search(dev, "message-subscriptions", {})
    assert_search_shape(body, versioned(MESSAGE_SUBSCRIPTION, "subscription"))
    [item] = body["items"]
    assert item["messageName"] == "order-paid"
    assert item["correlationKey"] == "o-1"
    assert item["messageSubscriptionState"] == "CREATED"
    assert item["processInstanceKey"] == waiting


def test_variable_search_and_get_shape(dev: DevEngine, waiting: str) -> None:
    body = rest_search(dev, "variables", {"filter": {"processInstanceKey": waiting}})
    assert_search_shape(body, versioned(VARIABLE_SEARCH_ITEM, "variable"))
    values = {item["name"]: item["value"] for item in body["items"]}
    assert values == {"orderId": '"o-1"', "total": "10"}  # JSON text, as the API serves it
    first = body["items"][0]
    single = requests.get(f"{dev.rest_url}/v2/variables/{first['variableKey']}", timeout=5)
    assert single.status_code == 200
    assert_shape(single.json(), versioned(VARIABLE_BASE, "variable"))


def test_message_publication_shape(dev: DevEngine) -> None:
    response = requests.post(
        f"{dev.rest_url}/v2/messages/publication",
        json={"name": "m", "correlationKey": "k", "timeToLive": 1000, "variables": {"a": 1}},
        timeout=5,
    )
    assert response.status_code == 200
    assert_shape(response.json(), {"messageKey": key, "tenantId": STRING})


def test_create_and_cancel_process_instance_shape(dev: DevEngine, waiting: str) -> None:
    response = requests.post(
        f"{dev.rest_url}/v2/process-instances",
        json={"processDefinitionId": "wait-process", "variables": {"orderId": "o-2"}},
        timeout=5,
    )
    assert response.status_code == 200
    body = response.json()
    assert_shape(
        body,
        {
            "processDefinitionId": STRING,
            "processDefinitionVersion": INT,
            "processDefinitionKey": key,
            "processInstanceKey": key,
            "tenantId": STRING,
            "variables": of(dict),
        }
        | versioned({}, "createdInstance"),
    )
    url = f"{dev.rest_url}/v2/process-instances/{body['processInstanceKey']}/cancellation"
    cancelled = requests.post(url, timeout=5)
    assert cancelled.status_code == 204
    assert cancelled.content == b""


def test_incident_search_and_get_shape(
    dev: DevEngine, bpmn_file: Callable[[str, str], str]
) -> None:
    pi, job_key = incident_from_failed_job(dev, bpmn_file("double.bpmn", service_task_process()))
    body = rest_search(dev, "incidents", {"filter": {"processInstanceKey": pi}})
    assert_search_shape(body, versioned(INCIDENT, "incident"))
    [item] = body["items"]
    assert item["errorType"] == "JOB_NO_RETRIES"
    assert item["jobKey"] == str(job_key)
    assert item["elementId"] == "double"
    single = requests.get(f"{dev.rest_url}/v2/incidents/{item['incidentKey']}", timeout=5)
    assert single.status_code == 200
    assert_shape(single.json(), versioned(INCIDENT, "incident"))


def test_problem_shape(dev: DevEngine) -> None:
    response = requests.get(f"{dev.rest_url}/v2/nowhere", timeout=5)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"
    assert_shape(response.json(), PROBLEM)
    assert response.json()["instance"] == "/v2/nowhere"


@pytest.mark.parametrize(
    ("epoch_ms", "text"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (1_700_000_000_123, "2023-11-14T22:13:20.123Z"),
        (1_700_000_000_999, "2023-11-14T22:13:20.999Z"),
        (1_700_000_001_000, "2023-11-14T22:13:21.000Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
        (None, None),
    ],
)
def test_dates_are_rfc3339_utc_with_milliseconds(epoch_ms: int | None, text: str | None) -> None:
    assert format_date(epoch_ms) == text
