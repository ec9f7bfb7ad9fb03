"""REST v2 behaviour: filters, sorting, offset and cursor paging, XML, variables, commands,
errors (problem documents naming the field)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
import requests
from pyzeebe.proto import gateway_pb2 as pb
from pyzeebe.proto.gateway_pb2_grpc import GatewayStub

from connector.devengine.rest import DEFAULT_TRUNCATION_LIMIT, Request, RestApi
from connector.devengine.server import DevEngine, DevEngineOptions

from .conftest import (
    create_instance,
    deploy,
    incident_from_failed_job,
    message_catch_process,
    rest_search,
    service_task_process,
    wait_until,
    zeebe,
)

BpmnFile = Callable[[str, str], str]


def post(dev: DevEngine, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
    return requests.post(f"{dev.rest_url}{path}", json=body, timeout=10, **kwargs)


@pytest.fixture
def five_waiting(dev: DevEngine, bpmn_file: BpmnFile) -> list[str]:
    deploy(dev, [bpmn_file("wait.bpmn", message_catch_process())])
    return [create_instance(dev, "wait-process", {"orderId": f"o-{n}"}) for n in range(5)]


def keys(body: dict[str, Any], field: str = "elementInstanceKey") -> list[str]:
    return [item[field] for item in body["items"]]


# ---------------------------------------------------------------- paging


def test_cursor_paging_walks_every_item_once_in_key_order(
    dev: DevEngine, five_waiting: list[str]
) -> None:
    query: dict[str, Any] = {"filter": {"elementId": "wait", "state": "ACTIVE"}}
    first = rest_search(dev, "element-instances", {**query, "page": {"limit": 2}})
    assert first["page"]["totalItems"] == 5
    assert first["page"]["hasMoreTotalItems"] is False
    collected = keys(first)
    cursor = first["page"]["endCursor"]
    pages = 1
    while True:
        page = rest_search(
            dev, "element-instances", {**query, "page": {"limit": 2, "after": cursor}}
        )
        if not page["items"]:
            assert "endCursor" not in page["page"]  # 8.8 leaves absent fields out
            break
        pages += 1
        collected += keys(page)
        cursor = page["page"]["endCursor"]
    assert pages == 3
    assert len(collected) == 5 == len(set(collected))
    assert collected == sorted(collected, key=int)
    instance_keys = [
        item["processInstanceKey"] for item in rest_search(dev, "element-instances", query)["items"]
    ]
    assert sorted(instance_keys, key=int) == sorted(five_waiting, key=int)


def test_before_cursor_and_offset_paging(dev: DevEngine, five_waiting: list[str]) -> None:
    query: dict[str, Any] = {"filter": {"elementId": "wait"}}
    everything = keys(rest_search(dev, "element-instances", query))
    last_page = rest_search(dev, "element-instances", {**query, "page": {"from": 3, "limit": 2}})
    assert keys(last_page) == everything[3:5]
    before = rest_search(
        dev,
        "element-instances",
        {**query, "page": {"limit": 2, "before": last_page["page"]["startCursor"]}},
    )
    assert keys(before) == everything[1:3]


def test_sort_descending_by_process_instance_key(dev: DevEngine, five_waiting: list[str]) -> None:
    body = rest_search(
        dev,
        "message-subscriptions",
        {"sort": [{"field": "processInstanceKey", "order": "DESC"}], "page": {"limit": 3}},
    )
    got = keys(body, "processInstanceKey")
    assert got == sorted(five_waiting, key=int, reverse=True)[:3]
    nxt = rest_search(
        dev,
        "message-subscriptions",
        {
            "sort": [{"field": "processInstanceKey", "order": "DESC"}],
            "page": {"limit": 3, "after": body["page"]["endCursor"]},
        },
    )
    assert keys(nxt, "processInstanceKey") == sorted(five_waiting, key=int, reverse=True)[3:]


# ---------------------------------------------------------------- filters


def test_message_subscription_filters(dev: DevEngine, five_waiting: list[str]) -> None:
    target = five_waiting[2]
    by_instance = rest_search(
        dev,
        "message-subscriptions",
        {"filter": {"processInstanceKey": target, "messageSubscriptionState": "CREATED"}},
    )
    [item] = by_instance["items"]
    assert item["correlationKey"] == "o-2"
    assert item["elementId"] == "wait"
    definition_key = item["processDefinitionKey"]
    by_definition_body = {"filter": {"processDefinitionKey": definition_key, "elementId": "wait"}}
    # 8.8 has no processDefinitionKey filter on subscriptions; 8.9 added it
    assert post(dev, "/v2/message-subscriptions/search", by_definition_body).status_code == 400
    by_definition = RestApi(dev.engine, camunda_version="8.9").handle(
        Request("POST", "/v2/message-subscriptions/search", {}, by_definition_body)
    )
    assert by_definition.status == 200, by_definition.body
    assert by_definition.body["page"]["totalItems"] == 5
    advanced = rest_search(
        dev,
        "message-subscriptions",
        {"filter": {"correlationKey": {"$in": ["o-1", "o-3"]}, "elementId": {"$like": "wa*"}}},
    )
    assert sorted(i["correlationKey"] for i in advanced["items"]) == ["o-1", "o-3"]
    none = rest_search(
        dev, "message-subscriptions", {"filter": {"messageSubscriptionState": "CORRELATED"}}
    )
    assert none["items"] == [] and none["page"]["totalItems"] == 0


def test_correlated_subscription_and_completed_element_are_reported(
    dev: DevEngine, five_waiting: list[str]
) -> None:
    published = post(
        dev, "/v2/messages/publication", {"name": "order-paid", "correlationKey": "o-4"}
    )
    assert published.status_code == 200
    target = five_waiting[4]
    [sub] = rest_search(dev, "message-subscriptions", {"filter": {"processInstanceKey": target}})[
        "items"
    ]
    assert sub["messageSubscriptionState"] == "CORRELATED"
    [element] = rest_search(
        dev, "element-instances", {"filter": {"processInstanceKey": target, "elementId": "wait"}}
    )["items"]
    assert element["state"] == "COMPLETED"
    assert element["endDate"] is not None
    still_waiting = rest_search(
        dev, "element-instances", {"filter": {"elementId": "wait", "state": "ACTIVE"}}
    )
    assert target not in keys(still_waiting, "processInstanceKey")
    assert still_waiting["page"]["totalItems"] == 4


def test_process_definition_latest_version_filter(dev: DevEngine, bpmn_file: BpmnFile) -> None:
    deploy(dev, [bpmn_file("wait.bpmn", message_catch_process())])
    deploy(dev, [bpmn_file("wait.bpmn", message_catch_process(message="order-shipped"))])
    deploy(dev, [bpmn_file("other.bpmn", message_catch_process(process_id="other"))])
    everything = rest_search(dev, "process-definitions", {})
    assert everything["page"]["totalItems"] == 3
    latest = rest_search(
        dev,
        "process-definitions",
        {"filter": {"isLatestVersion": True}, "sort": [{"field": "processDefinitionId"}]},
    )
    assert [(i["processDefinitionId"], i["version"]) for i in latest["items"]] == [
        ("other", 1),
        ("wait-process", 2),
    ]
    by_id = rest_search(
        dev, "process-definitions", {"filter": {"processDefinitionId": "wait-process"}}
    )
    assert sorted(i["version"] for i in by_id["items"]) == [1, 2]
    old_key = next(i for i in by_id["items"] if i["version"] == 1)["processDefinitionKey"]
    by_key = rest_search(dev, "process-definitions", {"filter": {"processDefinitionKey": old_key}})
    assert [i["version"] for i in by_key["items"]] == [1]
    xml = requests.get(f"{dev.rest_url}/v2/process-definitions/{old_key}/xml", timeout=5)
    assert 'name="order-paid"' in xml.text
    assert 'zeebe:property name="inbound.type" value="io.camunda:http-polling:1"' in xml.text


# ---------------------------------------------------------------- variables


def test_long_variable_values_are_truncated_in_searches_only(
    dev: DevEngine, bpmn_file: BpmnFile
) -> None:
    deploy(dev, [bpmn_file("wait.bpmn", message_catch_process())])
    long_text = "x" * (DEFAULT_TRUNCATION_LIMIT + 100)
    pi = create_instance(dev, "wait-process", {"orderId": "o", "payload": long_text})
    query = {"filter": {"processInstanceKey": pi, "scopeKey": pi, "name": "payload"}}
    [item] = rest_search(dev, "variables", query)["items"]
    assert item["isTruncated"] is True
    assert len(item["value"]) <= DEFAULT_TRUNCATION_LIMIT
    full = requests.get(f"{dev.rest_url}/v2/variables/{item['variableKey']}", timeout=5)
    assert json.loads(full.json()["value"]) == long_text
    untruncated = post(dev, "/v2/variables/search?truncateValues=false", query).json()
    assert untruncated["items"][0]["isTruncated"] is False
    assert json.loads(untruncated["items"][0]["value"]) == long_text
    [short] = rest_search(
        dev, "variables", {"filter": {"processInstanceKey": pi, "name": "orderId"}}
    )["items"]
    assert short["isTruncated"] is False and short["value"] == '"o"'


# ---------------------------------------------------------------- commands


def test_create_with_await_completion_returns_variables(
    dev: DevEngine, five_waiting: list[str]
) -> None:
    # Publish with a TTL first: the new instance correlates on entering the catch event and
    # completes at once, so awaitCompletion returns.
    post(
        dev,
        "/v2/messages/publication",
        {
            "name": "order-paid",
            "correlationKey": "fast",
            "timeToLive": 60_000,
            "variables": {"p": 1},
        },
    )
    response = post(
        dev,
        "/v2/process-instances",
        {
            "processDefinitionId": "wait-process",
            "variables": {"orderId": "fast"},
            "awaitCompletion": True,
            "requestTimeout": 5_000,
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["variables"] == {"orderId": "fast", "p": 1}


def test_duplicate_message_id_is_conflict(dev: DevEngine) -> None:
    body = {"name": "m", "correlationKey": "k", "messageId": "same", "timeToLive": 60_000}
    assert post(dev, "/v2/messages/publication", body).status_code == 200
    again = post(dev, "/v2/messages/publication", body)
    assert again.status_code == 409
    assert again.json()["title"] == "ALREADY_EXISTS"


def test_unknown_things_are_404_problems(dev: DevEngine) -> None:
    for method, path in [
        ("GET", "/v2/process-definitions/123/xml"),
        ("GET", "/v2/variables/123"),
        ("GET", "/v2/no-such-endpoint"),
        ("POST", "/v2/process-instances/123/cancellation"),
    ]:
        response = requests.request(method, f"{dev.rest_url}{path}", timeout=5)
        assert response.status_code == 404, path
        assert response.headers["Content-Type"] == "application/problem+json"
        assert response.json()["status"] == 404


@pytest.mark.parametrize(
    ("path", "body", "named"),
    [
        ("/v2/element-instances/search", {"filter": {"bogus": 1}}, "bogus"),
        ("/v2/element-instances/search", {"page": {"limit": 0}}, "page.limit"),
        ("/v2/element-instances/search", {"page": {"from": 1, "after": "x"}}, "page"),
        ("/v2/element-instances/search", {"page": {"after": "not-a-cursor"}}, "page.after"),
        (
            "/v2/element-instances/search",
            {"filter": {"processInstanceKey": "abc"}},
            "filter.processInstanceKey",
        ),
        ("/v2/element-instances/search", {"filter": {"state": {"$gt": "A"}}}, "filter.state"),
        ("/v2/element-instances/search", {"sort": [{"field": "nope"}]}, "sort[0].field"),
        ("/v2/variables/search", {"filter": {"isTruncated": "yes"}}, "filter.isTruncated"),
        ("/v2/messages/publication", {"correlationKey": "k"}, "name"),
        ("/v2/messages/publication", {"name": "m", "variables": [1]}, "variables"),
        ("/v2/messages/publication", {"name": "m", "timeToLive": "soon"}, "timeToLive"),
        ("/v2/process-instances", {"variables": {}}, "processDefinitionId"),
    ],
)
def test_bad_bodies_are_400_naming_the_field(
    dev: DevEngine, path: str, body: dict[str, Any], named: str
) -> None:
    response = post(dev, path, body)
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["status"] == 400
    assert named in problem["detail"]


def test_body_that_is_not_json_is_400(dev: DevEngine) -> None:
    response = requests.post(
        f"{dev.rest_url}/v2/process-definitions/search",
        data=b"{oops",
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert response.status_code == 400
    assert "JSON" in response.json()["detail"]


def test_create_instance_of_unknown_process_is_404(dev: DevEngine) -> None:
    response = post(dev, "/v2/process-instances", {"processDefinitionId": "ghost"})
    assert response.status_code == 404
    assert response.json()["title"] == "NOT_FOUND"


def test_query_visibility_delay_hides_fresh_records(bpmn_file: BpmnFile) -> None:
    options = DevEngineOptions(query_visibility_delay_ms=300)
    with DevEngine.run_in_thread(options=options) as dev:
        deploy(dev, [bpmn_file("wait.bpmn", message_catch_process())])
        pi = create_instance(dev, "wait-process", {"orderId": "late"})
        query = {"filter": {"processInstanceKey": pi}}
        assert rest_search(dev, "message-subscriptions", query)["items"] == []
        wait_until(
            lambda: rest_search(dev, "message-subscriptions", query)["items"],
            what="the subscription to become visible",
        )


def test_load_limit_is_503_resource_exhausted(bpmn_file: BpmnFile) -> None:
    options = DevEngineOptions(max_active_instances=1)
    with DevEngine.run_in_thread(options=options) as dev:
        deploy(dev, [bpmn_file("wait.bpmn", message_catch_process())])
        create_instance(dev, "wait-process", {"orderId": "a"})
        refused = post(
            dev, "/v2/process-instances", {"processDefinitionId": "wait-process", "variables": {}}
        )
        assert refused.status_code == 503
        assert refused.json()["title"] == "RESOURCE_EXHAUSTED"


def test_element_instance_scope_key_lists_direct_children(
    dev: DevEngine, five_waiting: list[str]
) -> None:
    pi = five_waiting[0]
    children = rest_search(dev, "element-instances", {"filter": {"elementInstanceScopeKey": pi}})
    assert sorted((i["elementId"], i["state"]) for i in children["items"]) == [
        ("start", "COMPLETED"),
        ("wait", "ACTIVE"),
    ]
    assert {i["processInstanceKey"] for i in children["items"]} == {pi}
    advanced = post(
        dev, "/v2/element-instances/search", {"filter": {"elementInstanceScopeKey": {"$in": [pi]}}}
    )
    assert advanced.status_code == 400
    assert "elementInstanceScopeKey" in advanced.json()["detail"]


def test_incident_is_resolved_over_rest_after_retries_are_restored(
    dev: DevEngine, bpmn_file: BpmnFile
) -> None:
    pi, job_key = incident_from_failed_job(dev, bpmn_file("double.bpmn", service_task_process()))
    active = {"filter": {"processInstanceKey": pi, "state": "ACTIVE"}}
    [incident] = rest_search(dev, "incidents", active)["items"]

    async def restore_retries() -> None:
        async with zeebe(dev) as (_, channel):
            stub = GatewayStub(channel)
            await stub.UpdateJobRetries(pb.UpdateJobRetriesRequest(jobKey=job_key, retries=2))

    asyncio.run(restore_retries())
    resolved = post(dev, f"/v2/incidents/{incident['incidentKey']}/resolution")
    assert resolved.status_code == 204, resolved.text
    assert rest_search(dev, "incidents", active)["items"] == []
    again = post(dev, f"/v2/incidents/{incident['incidentKey']}/resolution")
    assert again.status_code == 404


def test_set_variables_on_an_element_instance(dev: DevEngine, five_waiting: list[str]) -> None:
    pi = five_waiting[0]
    url = f"{dev.rest_url}/v2/element-instances/{pi}/variables"
    response = requests.put(
        url, json={"variables": {"orderId": "changed", "extra": [1]}}, timeout=5
    )
    assert response.status_code == 204, response.text
    items = rest_search(dev, "variables", {"filter": {"scopeKey": pi}})["items"]
    assert {i["name"]: json.loads(i["value"]) for i in items} == {
        "orderId": "changed",
        "extra": [1],
    }
    bad = requests.put(url, json={"variables": "x"}, timeout=5)
    assert bad.status_code == 400 and "variables" in bad.json()["detail"]
