"""The two scenarios of the user documentation, end to end through the CLI.

The BPMN files are the ones modelled with Camunda's own polling template (core fixtures);
only the request interval is shortened so the test runs in seconds.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

from connector.devengine.server import DevEngine
from tests.worker.harness import Endpoint, WorkerProcess, until

FIXTURES = Path(__file__).resolve().parents[1] / "core" / "fixtures"


def fixture(name: str) -> bytes:
    xml = (FIXTURES / name).read_text(encoding="utf-8")
    xml = re.sub(r'(name="httpRequestInterval" value=")[^"]*"', r'\g<1>PT0.5S"', xml, count=1)
    return xml.encode()


def variables(dev: DevEngine, key: int) -> dict[str, Any]:
    return {v.name: json.loads(v.value) for v in dev.engine.variables(process_instance_key=key)}


def state(dev: DevEngine, key: int) -> str:
    return dev.engine.process_instances(key=key)[0].state


def test_github_issue_closed_with_needs_review_label(dev: DevEngine, endpoint: Endpoint) -> None:
    dev.engine.deploy([("github.bpmn", fixture("camunda-github-issue.bpmn"))])
    path = "/repos/acme/widgets/issues/{}"
    for number in (41, 42):
        endpoint.set(path.format(number), {"number": number, "state": "open", "labels": []})
    keys = {
        number: dev.engine.create_process_instance(
            "github-issue-review", variables={"apiBase": endpoint.url, "issueNumber": number}
        ).process_instance_key
        for number in (41, 42)
    }
    worker = WorkerProcess(
        dev.grpc_address, dev.rest_url, env={"SECRET_BEARER_TOKEN": "gh-token-123"}
    )
    try:
        until(lambda: endpoint.hits_for(path.format(42)), what="issue polled")
        hit = endpoint.hits_for(path.format(42))[0]
        assert hit.headers.get("Authorization") == "Bearer gh-token-123"
        endpoint.set(
            path.format(42),
            {
                "number": 42,
                "state": "closed",
                "html_url": "https://example.test/acme/widgets/issues/42",
                "labels": [{"name": "bug"}, {"name": "needs review"}],
            },
        )
        until(lambda: state(dev, keys[42]) == "COMPLETED", what="issue 42 instance completed")
        result = variables(dev, keys[42])
        assert result["needsReview"] is True
        assert result["issueUrl"] == "https://example.test/acme/widgets/issues/42"
        assert state(dev, keys[41]) == "ACTIVE"
        assert not any("gh-token-123" in line for line in worker.raw)
    finally:
        assert worker.stop() == 0


def test_stock_level_below_ten(dev: DevEngine, endpoint: Endpoint) -> None:
    dev.engine.deploy([("stock.bpmn", fixture("camunda-stock-level.bpmn"))])
    path = "/api/v2/products/{}/stock"
    endpoint.set(path.format("P-7"), {"productID": "P-7", "stockLevel": 25})
    endpoint.set(path.format("P-8"), {"productID": "P-8", "stockLevel": 30})
    keys = {
        product: dev.engine.create_process_instance(
            "stock-monitor", variables={"inventoryBase": endpoint.url, "productID": product}
        ).process_instance_key
        for product in ("P-7", "P-8")
    }
    worker = WorkerProcess(dev.grpc_address, dev.rest_url, env={"SECRET_PASSWORD": "pw-999"})
    try:
        until(lambda: len(endpoint.hits_for(path.format("P-7"))) >= 2, what="stock polled")
        auth = endpoint.hits_for(path.format("P-7"))[0].headers.get("Authorization", "")
        assert base64.b64decode(auth.removeprefix("Basic ")) == b"inventory-api:pw-999"
        assert state(dev, keys["P-7"]) == "ACTIVE"
        endpoint.set(path.format("P-7"), {"productID": "P-7", "stockLevel": 9})
        until(lambda: state(dev, keys["P-7"]) == "COMPLETED", what="low stock correlated")
        assert variables(dev, keys["P-7"])["stockLevelResponse"] == 9
        assert state(dev, keys["P-8"]) == "ACTIVE"
        assert not any("pw-999" in line for line in worker.raw)
    finally:
        assert worker.stop() == 0
