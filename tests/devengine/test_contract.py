"""The dev engine refuses, under each emulated version, every class of request a real Camunda
refuses, with a Camunda-shaped problem; so a worker change that would break on a real cluster
fails here first. Also: content negotiation, unknown routes, cursors, topology version."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
import requests
from pyzeebe.proto import gateway_pb2 as pb
from pyzeebe.proto.gateway_pb2_grpc import GatewayStub

from connector.devengine.contract import VERSIONS, request_violations
from connector.devengine.server import DevEngine, DevEngineOptions
from connector.discovery import ClusterError, RestV2Source

from .conftest import create_instance, deploy, message_catch_process

BpmnFile = Callable[[str, str], str]
DEFINITIONS = "/v2/process-definitions/search"
SUBSCRIPTIONS = "/v2/message-subscriptions/search"
ELEMENTS = "/v2/element-instances/search"
VARIABLES = "/v2/variables/search"
LATEST = {"isLatestVersion": True}


@pytest.fixture(params=VERSIONS)
def dev(request: pytest.FixtureRequest) -> Iterator[DevEngine]:
    options = DevEngineOptions(long_poll_ms=1_000, camunda_version=request.param)
    with DevEngine.run_in_thread(options=options) as running:
        yield running


@pytest.fixture
def waiting(dev: DevEngine, bpmn_file: BpmnFile) -> str:
    deploy(dev, [bpmn_file("wait.bpmn", message_catch_process())])
    return create_instance(dev, "wait-process", {"orderId": "o-1"})


def post(dev: DevEngine, path: str, body: Any) -> requests.Response:
    return requests.post(f"{dev.rest_url}{path}", json=body, timeout=10)


def assert_problem(response: requests.Response, title: str, detail: str) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert set(problem) == {"type", "title", "status", "detail", "instance"}
    assert problem["title"] == title and problem["status"] == 400
    assert detail in problem["detail"], problem


# (path, body, problem title, text the detail contains)
REJECTED: list[tuple[str, dict[str, Any], str, str]] = [
    # unknown filter property
    (ELEMENTS, {"filter": {"bogus": "x"}}, "Bad Request", "[filter.bogus]"),
    (VARIABLES, {"filter": {"scope": "1"}}, "Bad Request", "[filter.scope]"),
    # an operator the property does not take
    (
        ELEMENTS,
        {"filter": {"processInstanceKey": {"$in": ["1"]}}},
        "Bad Request",
        "[filter.processInstanceKey]",
    ),
    (ELEMENTS, {"filter": {"elementId": {"$in": ["a"]}}}, "Bad Request", "[filter.elementId]"),
    (
        SUBSCRIPTIONS,
        {"filter": {"processInstanceKey": {"$like": "1*"}}},
        "Bad Request",
        "[filter.processInstanceKey]",
    ),
    (ELEMENTS, {"filter": {"state": {"$gt": "ACTIVE"}}}, "Bad Request", "[filter.state]"),
    # no type coercion: keys are strings
    (
        VARIABLES,
        {"filter": {"processInstanceKey": 1}},
        "Bad Request",
        "[filter.processInstanceKey]",
    ),
    # disallowed sort
    (VARIABLES, {"sort": [{"field": "name", "order": "asc"}]}, "Bad Request", "[sort[0].order]"),
    (
        SUBSCRIPTIONS,
        {"sort": [{"field": "processDefinitionKey"}]},
        "Bad Request",
        "[sort[0].field]",
    ),
    (
        DEFINITIONS,
        {"filter": LATEST, "sort": [{"field": "processDefinitionKey"}]},
        "INVALID_ARGUMENT",
        "processDefinitionId, tenantId",
    ),
    (
        DEFINITIONS,
        {"filter": LATEST, "sort": [{"field": "version", "order": "DESC"}]},
        "INVALID_ARGUMENT",
        "isLatestVersion",
    ),
    # invalid enum value
    (
        SUBSCRIPTIONS,
        {"filter": {"messageSubscriptionState": "WAITING"}},
        "Bad Request",
        "[filter.messageSubscriptionState]",
    ),
    (
        ELEMENTS,
        {"filter": {"state": {"$in": ["ACTIVE", "RUNNING"]}}},
        "Bad Request",
        "[filter.state]",
    ),
    (ELEMENTS, {"filter": {"type": "CATCH_EVENT"}}, "Bad Request", "[filter.type]"),
    # isLatestVersion with a non-forward page
    (
        DEFINITIONS,
        {"filter": LATEST, "page": {"from": 5, "limit": 5}},
        "INVALID_ARGUMENT",
        "forward",
    ),
    (
        DEFINITIONS,
        {"filter": LATEST, "page": {"before": "WzFd", "limit": 5}},
        "INVALID_ARGUMENT",
        "forward",
    ),
    # unknown request and page properties
    (ELEMENTS, {"size": 10}, "Bad Request", "[size]"),
    (ELEMENTS, {"page": {"searchAfter": ["1"]}}, "Bad Request", "[page.searchAfter]"),
]


@pytest.mark.parametrize(("path", "body", "title", "detail"), REJECTED)
def test_requests_real_clusters_refuse_are_refused(
    dev: DevEngine, path: str, body: dict[str, Any], title: str, detail: str
) -> None:
    assert_problem(post(dev, path, body), title, detail)
    # the tables behind the engine say the same (what the worker's requests are checked with)
    assert request_violations(dev.rest_api.version, "POST", path, body)


def test_filter_only_8_9_has_is_refused_by_8_8(dev: DevEngine, waiting: str) -> None:
    body = {"filter": {"processDefinitionKey": "2251799813685249"}}
    response = post(dev, SUBSCRIPTIONS, body)
    if dev.rest_api.version == "8.8":
        assert_problem(response, "Bad Request", "[filter.processDefinitionKey]")
    else:
        assert response.status_code == 200, response.text


def test_the_allowed_forms_are_accepted(dev: DevEngine, waiting: str) -> None:
    """What the worker sends, and the forward paging that comes with isLatestVersion."""
    sort = [{"field": "processDefinitionId"}, {"field": "tenantId", "order": "DESC"}]
    first = post(dev, DEFINITIONS, {"filter": LATEST, "sort": sort, "page": {"limit": 1}})
    assert first.status_code == 200, first.text
    page = first.json()["page"]
    assert "startCursor" not in page or page["startCursor"] is None  # forward only
    with_zero = post(dev, DEFINITIONS, {"filter": LATEST, "page": {"from": 0, "limit": 1}})
    assert with_zero.status_code == 200, with_zero.text  # the 8.8 client's default page
    after = {"filter": LATEST, "sort": sort, "page": {"limit": 1, "after": page["endCursor"]}}
    assert post(dev, DEFINITIONS, after).status_code == 200
    for path, body in (
        (SUBSCRIPTIONS, {"filter": {"messageSubscriptionState": {"$in": ["CREATED"]}}}),
        (VARIABLES, {"filter": {"processInstanceKey": {"$in": [waiting]}, "name": {"$in": ["a"]}}}),
        (
            ELEMENTS,
            {"filter": {"processInstanceKey": waiting, "elementId": "wait", "state": "ACTIVE"}},
        ),
        (
            ELEMENTS,
            {
                "filter": {
                    "state": {"$in": ["ACTIVE"]},
                    "startDate": {"$gt": "2020-01-01T00:00:00Z"},
                }
            },
        ),
    ):
        response = post(dev, path, body)
        assert response.status_code == 200, (path, response.text)


def test_cursors_are_standard_base64(dev: DevEngine, bpmn_file: BpmnFile) -> None:
    deploy(dev, [bpmn_file("wait.bpmn", message_catch_process())])
    for n in range(3):
        create_instance(dev, "wait-process", {"orderId": f"o-{n}"})
    body = post(dev, SUBSCRIPTIONS, {"page": {"limit": 2}}).json()
    for cursor in (body["page"]["startCursor"], body["page"]["endCursor"]):
        assert base64.b64encode(base64.b64decode(cursor, validate=True)).decode() == cursor
    empty = post(dev, SUBSCRIPTIONS, {"filter": {"correlationKey": "nobody"}}).json()["page"]
    if dev.rest_api.version == "8.8":
        assert "startCursor" not in empty and "endCursor" not in empty
    else:
        assert empty["startCursor"] is None and empty["endCursor"] is None


def test_xml_is_negotiated_like_camunda(dev: DevEngine, waiting: str) -> None:
    [item] = post(dev, DEFINITIONS, {}).json()["items"]
    url = f"{dev.rest_url}/v2/process-definitions/{item['processDefinitionKey']}/xml"
    as_json = requests.get(url, headers={"Accept": "application/json"}, timeout=10)
    assert as_json.status_code == 406
    assert as_json.headers["Content-Type"] == "application/problem+json"
    for accept in ("text/xml", "text/xml, application/problem+json", "*/*", "text/*"):
        response = requests.get(url, headers={"Accept": accept}, timeout=10)
        assert response.status_code == 200, accept
        assert response.headers["Content-Type"].startswith("text/xml")
    missing = requests.get(
        f"{dev.rest_url}/v2/process-definitions/1/xml", headers={"Accept": "text/xml"}, timeout=10
    )
    assert missing.status_code == 404
    assert missing.json()["title"] == "NOT_FOUND"
    assert request_violations(dev.rest_api.version, "GET", "/v2/x/1/xml", None, "application/json")


def test_unknown_route_is_404_whatever_the_body(dev: DevEngine) -> None:
    response = requests.post(
        f"{dev.rest_url}/v2/documents",
        data=b"--boundary\r\nContent-Disposition: form-data; name=resources\r\n\r\nx\r\n",
        headers={"Content-Type": "multipart/form-data; boundary=boundary"},
        timeout=10,
    )
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"


def test_topology_reports_the_emulated_version(dev: DevEngine) -> None:
    body = requests.get(f"{dev.rest_url}/v2/topology", timeout=10).json()
    version = dev.rest_api.version
    assert body["gatewayVersion"].startswith(version + ".")
    assert all(b["version"] == body["gatewayVersion"] for b in body["brokers"])
    assert ("clusterId" in body) == (version == "8.9")
    with grpc.insecure_channel(dev.grpc_address) as channel:
        reply = GatewayStub(channel).Topology(pb.TopologyRequest(), timeout=10)
    assert reply.gatewayVersion == body["gatewayVersion"]
    assert {broker.version for broker in reply.brokers} == {body["gatewayVersion"]}


class RecordingClient:
    """Stands in for RestClient: records what the source sends, answers empty pages."""

    requests = 0

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Any]] = []

    def post(self, path: str, body: dict[str, Any]) -> Any:
        self.sent.append(("POST", path, body))
        return {"items": [], "page": {"totalItems": 0}}

    def get_json(self, path: str) -> Any:
        self.sent.append(("GET", path, None))
        return {"gatewayVersion": "8.8.0"}


@pytest.mark.parametrize("tenants", [(), ("tenant-a", "<default>")])
@pytest.mark.parametrize("version", VERSIONS)
def test_the_worker_request_builders_fit_every_version(
    version: str, tenants: tuple[str, ...]
) -> None:
    """Fast and exhaustive: each request RestV2Source builds, against each contract."""
    client = RecordingClient()
    source = RestV2Source(client, page_size=50, tenant_ids=tenants)  # type: ignore[arg-type]
    source.definitions()
    list(source.waiting({}))
    source.variables([1, 2, 3], ["a", "b"])
    source.variables([4], None)
    source.scope_keys([1, 2], ["Sub", "Inner"])
    posted = [(path, body) for method, path, body in client.sent if method == "POST"]
    assert {path for path, _ in posted} == {DEFINITIONS, SUBSCRIPTIONS, VARIABLES, ELEMENTS}
    for path, body in posted:
        assert request_violations(version, "POST", path, body) == [], (path, body)


def test_version_option_is_checked() -> None:
    from connector.devengine.server import _build_parser

    assert _build_parser().parse_args(["--camunda-version", "8.9"]).camunda_version == "8.9"
    assert _build_parser().parse_args([]).camunda_version == "8.8"
    with pytest.raises(SystemExit):
        _build_parser().parse_args(["--camunda-version", "8.7"])
    with pytest.raises(ValueError, match="camunda_version"):
        DevEngineOptions(camunda_version="8.7")


class OldCluster(RecordingClient):
    def get_json(self, path: str) -> Any:
        self.sent.append(("GET", path, None))
        return {"gatewayVersion": "8.7.12"}


def test_a_cluster_older_than_8_8_stops_discovery_with_the_fix_named() -> None:
    client = OldCluster()
    source = RestV2Source(client)  # type: ignore[arg-type]
    for _ in range(2):  # every cycle, but the version is asked only once
        with pytest.raises(ClusterError) as raised:
            source.definitions()
        assert not raised.value.transient
        assert "8.7.12" in str(raised.value) and "--discovery-source operate" in str(raised.value)
    assert [path for _, path, _ in client.sent] == ["/v2/topology"]


def test_8_9_definition_state_filter(dev: DevEngine, waiting: str) -> None:
    body = {"filter": {"isLatestVersion": True, "state": "ACTIVE"}, "page": {"limit": 5}}
    response = post(dev, DEFINITIONS, body)
    if dev.rest_api.version == "8.8":
        assert_problem(response, "Bad Request", "[filter.state]")
    else:
        assert response.status_code == 200, response.text
        assert [i["state"] for i in response.json()["items"]] == ["ACTIVE"]
        deleted = post(dev, DEFINITIONS, {"filter": {"state": "DELETED"}}).json()
        assert deleted["items"] == []
