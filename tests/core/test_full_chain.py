"""The two scenarios of the user documentation, end to end.

Camunda-Modeler BPMN (Camunda's own polling template) -> dev engine (gRPC + REST v2) ->
load_elements -> bind_request -> HttpClient.execute against a local HTTP server ->
evaluate_response -> publish_message -> the right instance moves on with the result.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pyzeebe import ZeebeClient, create_insecure_channel

from connector.binding import bind_request, merge_scopes
from connector.correlation import evaluate_response
from connector.devengine.server import DevEngine
from connector.elements import ElementConfig, load_elements
from connector.http import HttpClient
from connector.publish import PublishOutcome, publish_message
from connector.secrets import MappingSecretProvider
from tests.helpers.localserver import LocalServer, Reply, Request, local_server

FIXTURES = Path(__file__).with_name("fixtures")
EXAMPLE = Path(__file__).resolve().parents[2] / "connector" / "examples" / "order-status.bpmn"
SECRETS = MappingSecretProvider({"BEARER_TOKEN": "gh-t0ken", "PASSWORD": "inv-pw"})


class Chain:
    """One worker pass, written out: discover -> bind -> request -> evaluate -> publish."""

    def __init__(
        self, dev: DevEngine, zeebe: ZeebeClient, http: HttpClient, secrets: MappingSecretProvider
    ) -> None:
        self.rest = dev.rest_url + "/v2"
        self.zeebe = zeebe
        self.http = http
        self.secrets = secrets

    def post(self, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        response = requests.post(self.rest + path, json=body, timeout=10)
        response.raise_for_status()
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    def get(self, path: str) -> Any:
        response = requests.get(self.rest + path, timeout=10)
        response.raise_for_status()
        return response.json() if "json" in response.headers["Content-Type"] else response.text

    def configs(self, process_id: str) -> tuple[int, list[ElementConfig]]:
        [definition] = self.post(
            "/process-definitions/search", {"filter": {"processDefinitionId": process_id}}
        )
        key = int(definition["processDefinitionKey"])
        configs, errors = load_elements(self.get(f"/process-definitions/{key}/xml"))
        assert errors == []
        return key, configs

    def variables(self, instance_key: int, element_instance_key: int) -> dict[str, Any]:
        found = self.post(
            "/variables/search",
            {"filter": {"processInstanceKey": str(instance_key)}, "page": {"limit": 1000}},
        )
        scopes: dict[int, dict[str, Any]] = {}
        for item in found:
            scope = scopes.setdefault(int(item["scopeKey"]), {})
            scope[item["name"]] = json.loads(item["value"])
        return merge_scopes([scopes.get(element_instance_key, {}), scopes.get(instance_key, {})])

    async def poll_once(self, process_id: str) -> list[PublishOutcome]:
        _, [config] = self.configs(process_id)
        waiting = self.post(
            "/message-subscriptions/search",
            {
                "filter": {
                    # 8.8 has no processDefinitionKey filter on subscriptions
                    "processDefinitionId": process_id,
                    "elementId": config.element_id,
                    "messageSubscriptionState": "CREATED",
                }
            },
        )
        outcomes = []
        for subscription in waiting:
            instance = int(subscription["processInstanceKey"])
            element_instance = int(subscription["elementInstanceKey"])
            variables = self.variables(instance, element_instance)
            request = bind_request(config, variables, self.secrets)
            response = await asyncio.to_thread(self.http.execute, request)
            activation = evaluate_response(
                config, response, variables, element_instance_key=element_instance
            )
            if activation is not None:
                outcomes.append(await publish_message(self.zeebe, activation))
        return outcomes

    async def wait_state(self, instance_key: int, state: str) -> dict[str, Any]:
        deadline = time.monotonic() + 10
        while True:
            instance: dict[str, Any] = self.get(f"/process-instances/{instance_key}")
            if instance["state"] == state or time.monotonic() > deadline:
                return instance
            await asyncio.sleep(0.02)

    def instance_variables(self, instance_key: int) -> dict[str, Any]:
        return self.variables(instance_key, instance_key)


def run_chain(
    fixture: str,
    body: Callable[[Chain, ZeebeClient], Awaitable[None]],
    secrets: MappingSecretProvider = SECRETS,
) -> None:
    async def main() -> None:
        async with DevEngine.start() as dev:
            channel = create_insecure_channel(grpc_address=dev.grpc_address)
            zeebe = ZeebeClient(channel, max_connection_retries=-1)
            try:
                await zeebe.deploy_resource(str(FIXTURES / fixture))
                with HttpClient() as http:
                    await body(Chain(dev, zeebe, http, secrets), zeebe)
            finally:
                await channel.close()

    asyncio.run(main())


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with local_server() as srv:
        yield srv


def test_github_issue_closed_with_needs_review(server: LocalServer) -> None:
    issues: dict[int, dict[str, Any]] = {
        212: {"number": 212, "title": "Important Issue", "state": "closed"},
        300: {"number": 300, "title": "Other", "state": "open"},
    }
    issues[212]["labels"] = [{"name": "bug"}, {"name": "needs review"}]
    issues[300]["labels"] = [{"name": "bug"}]
    for number, issue in issues.items():
        issue["html_url"] = f"https://github.com/acme/widgets/issues/{number}"

    def issue(request: Request) -> Reply:
        return Reply(200, issues[int(request.path.rsplit("/", 1)[1])])

    for number in issues:
        server.route(f"GET /repos/acme/widgets/issues/{number}", issue)

    async def scenario(chain: Chain, zeebe: ZeebeClient) -> None:
        closed = await zeebe.run_process(
            "github-issue-review", {"issueNumber": 212, "apiBase": server.url}
        )
        still_open = await zeebe.run_process(
            "github-issue-review", {"issueNumber": 300, "apiBase": server.url}
        )
        assert await chain.poll_once("github-issue-review") == [PublishOutcome.PUBLISHED]

        done = await chain.wait_state(closed.process_instance_key, "COMPLETED")
        assert done["state"] == "COMPLETED"
        result = chain.instance_variables(closed.process_instance_key)
        assert result["issueUrl"] == "https://github.com/acme/widgets/issues/212"
        assert result["needsReview"] is True

        waiting = await chain.wait_state(still_open.process_instance_key, "ACTIVE")
        assert waiting["state"] == "ACTIVE"
        assert "issueUrl" not in chain.instance_variables(still_open.process_instance_key)

        # Issue 300 gets closed (without the label): the next poll moves the second instance.
        issues[300]["state"] = "closed"
        assert await chain.poll_once("github-issue-review") == [PublishOutcome.PUBLISHED]
        second = await chain.wait_state(still_open.process_instance_key, "COMPLETED")
        assert second["state"] == "COMPLETED"
        assert chain.instance_variables(still_open.process_instance_key)["needsReview"] is False

    run_chain("camunda-github-issue.bpmn", scenario)
    hits = server.requests
    assert {h.headers["Authorization"] for h in hits} == {"Bearer gh-t0ken"}
    assert {h.headers["X-GitHub-Api-Version"] for h in hits} == {"2022-11-28"}


def test_stock_level_below_10(server: LocalServer) -> None:
    stock = {12345: 8, 67890: 42}

    def product(request: Request) -> Reply:
        product_id = int(request.path.split("/")[4])
        return Reply(
            200,
            {
                "productID": product_id,
                "productName": "Wireless Bluetooth Earbuds",
                "stockLevel": stock[product_id],
                "lastUpdated": "2023-09-17T11:20:32Z",
            },
        )

    for product_id in stock:
        server.route(f"GET /api/v2/products/{product_id}/stock", product)

    async def scenario(chain: Chain, zeebe: ZeebeClient) -> None:
        low = await zeebe.run_process(
            "stock-monitor", {"productID": 12345, "inventoryBase": server.url}
        )
        plenty = await zeebe.run_process(
            "stock-monitor", {"productID": 67890, "inventoryBase": server.url}
        )
        assert await chain.poll_once("stock-monitor") == [PublishOutcome.PUBLISHED]
        done = await chain.wait_state(low.process_instance_key, "COMPLETED")
        assert done["state"] == "COMPLETED"
        assert chain.instance_variables(low.process_instance_key)["stockLevelResponse"] == 8
        waiting = await chain.wait_state(plenty.process_instance_key, "ACTIVE")
        assert waiting["state"] == "ACTIVE"
        assert "stockLevelResponse" not in chain.instance_variables(plenty.process_instance_key)

    run_chain("camunda-stock-level.bpmn", scenario)
    expected = "Basic " + base64.b64encode(b"inventory-api:inv-pw").decode()
    assert {h.headers["Authorization"] for h in server.requests} == {expected}
    assert sorted(h.path for h in server.requests) == [
        "/api/v2/products/12345/stock",
        "/api/v2/products/67890/stock",
    ]


def test_camunda_boundary_template_with_oauth(server: LocalServer) -> None:
    """Camunda's boundary template inside a sub-process: OAuth, POST body, TTL 0, result."""
    orders = {"A-1": "CANCELLED", "B-2": "PACKING"}
    tokens: list[dict[str, str]] = []

    def token(request: Request) -> Reply:
        tokens.append(request.form())
        return Reply(200, {"access_token": "oauth-t0k", "expires_in": 300})

    def status(request: Request) -> Reply:
        if request.headers.get("Authorization") != "Bearer oauth-t0k":
            return Reply(401, {"error": "unauthorized"})
        order_id = request.json()["orderId"]
        return Reply(200, {"orderId": order_id, "state": orders[order_id], "reason": "late"})

    server.route("POST /oauth/token", token)
    server.route("POST /orders/status", status)

    async def scenario(chain: Chain, zeebe: ZeebeClient) -> None:
        variables = {"tokenUrl": server.url + "/oauth/token", "ordersApi": server.url}
        cancelled = await zeebe.run_process("order-fulfilment", {"orderId": "A-1", **variables})
        packing = await zeebe.run_process("order-fulfilment", {"orderId": "B-2", **variables})
        assert await chain.poll_once("order-fulfilment") == [PublishOutcome.PUBLISHED]
        done = await chain.wait_state(cancelled.process_instance_key, "COMPLETED")
        assert done["state"] == "COMPLETED"
        result = chain.instance_variables(cancelled.process_instance_key)
        assert result["cancelReason"] == "late"
        assert result["cancellation"]["status"] == 200
        assert result["cancellation"]["body"]["state"] == "CANCELLED"
        waiting = await chain.wait_state(packing.process_instance_key, "ACTIVE")
        assert waiting["state"] == "ACTIVE"

    run_chain(
        "camunda-boundary-oauth.bpmn", scenario, MappingSecretProvider({"CLIENT_SECRET": "cs-1"})
    )
    assert tokens == [
        {
            "grant_type": "client_credentials",
            "audience": "orders-api",
            "scope": "orders:read",
            "client_id": "orders-worker",
            "client_secret": "cs-1",
        }
    ]  # one token for both polls: cached
    polls = server.hits("/orders/status")
    assert [p.query for p in polls] == [[("verbose", "true")]] * 2
    assert {p.headers["X-Request-Source"] for p in polls} == {"polling"}


def test_example_with_our_template(server: LocalServer) -> None:
    """The demo diagram: the payload key comes from the instance's own variables."""
    server.route("/orders/1", Reply(200, {"status": "SHIPPED", "trackingNumber": "TRK-1"}))
    server.route("/orders/2", Reply(200, {"status": "PACKING"}))

    async def scenario(chain: Chain, zeebe: ZeebeClient) -> None:
        shipped = await zeebe.run_process(
            "order-status", {"orderId": "o-1", "statusUrl": server.url + "/orders/1"}
        )
        packing = await zeebe.run_process(
            "order-status", {"orderId": "o-2", "statusUrl": server.url + "/orders/2"}
        )
        assert await chain.poll_once("order-status") == [PublishOutcome.PUBLISHED]
        done = await chain.wait_state(shipped.process_instance_key, "COMPLETED")
        assert done["state"] == "COMPLETED"
        result = chain.instance_variables(shipped.process_instance_key)
        assert (result["orderStatus"], result["trackingNumber"]) == ("SHIPPED", "TRK-1")
        waiting = await chain.wait_state(packing.process_instance_key, "ACTIVE")
        assert waiting["state"] == "ACTIVE"

    run_chain(str(EXAMPLE), scenario)
