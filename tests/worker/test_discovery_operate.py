"""The Operate API v1 source against a small local Operate-shaped server (real HTTP)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from connector.discovery import ClusterAuth, ClusterError, Discovery, OperateV1Source, RestClient
from tests.helpers.bpmn import boundary_process, catch_process, polling_properties

URL = '=base + "/items/" + id'

DEFINITIONS = [
    {"key": 101, "bpmnProcessId": "op", "version": 1, "tenantId": "<default>"},
    {"key": 102, "bpmnProcessId": "op", "version": 2, "tenantId": "<default>"},
    {"key": 201, "bpmnProcessId": "bnd", "version": 1, "tenantId": "<default>"},
    {"key": 301, "bpmnProcessId": "secret", "version": 1, "tenantId": "<default>"},  # 403
]
XML = {
    101: catch_process("op", polling_properties(URL)),
    102: catch_process("op", polling_properties(URL, interval="PT2S", result="={count: n}")),
    201: boundary_process("bnd", polling_properties(URL)),
}
FLOW_NODES = [
    {"key": 1001, "processInstanceKey": 1000, "processDefinitionKey": 101, "flowNodeId": "Wait"},
    {"key": 2001, "processInstanceKey": 2000, "processDefinitionKey": 102, "flowNodeId": "Wait"},
    {"key": 2101, "processInstanceKey": 2100, "processDefinitionKey": 102, "flowNodeId": "Wait"},
    {"key": 3001, "processInstanceKey": 3000, "processDefinitionKey": 201, "flowNodeId": "Task"},
]
VARIABLES = [
    {"key": 9001, "processInstanceKey": 1000, "scopeKey": 1000, "name": "id", "value": '"a"'},
    {"key": 9002, "processInstanceKey": 1000, "scopeKey": 1001, "name": "id", "value": '"local"'},
    {"key": 9003, "processInstanceKey": 2000, "scopeKey": 2000, "name": "id", "value": '"b"'},
    {"key": 9004, "processInstanceKey": 2000, "scopeKey": 2000, "name": "n", "value": "4"},
    # read by version 2's result expression only: not a variable of instance 1000's poll
    {"key": 9005, "processInstanceKey": 1000, "scopeKey": 1000, "name": "n", "value": "5"},
]


def _search(items: list[dict[str, Any]], body: dict[str, Any]) -> dict[str, Any]:
    """Exact-match filter, key order, ``size`` + ``searchAfter`` paging, as Operate v1."""
    wanted = body.get("filter") or {}
    found = [i for i in items if all(i.get(k) == v for k, v in wanted.items() if k != "state")]
    found.sort(key=lambda i: i["key"])
    after = body.get("searchAfter")
    if after:
        found = [i for i in found if i["key"] > after[0]]
    page = found[: body.get("size", 10)]
    return {
        "items": page,
        "sortValues": [page[-1]["key"]] if page else [],
        "total": len(found),
    }


@pytest.fixture
def operate() -> Iterator[dict[str, Any]]:
    state: dict[str, Any] = {"requests": []}

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int, data: bytes, ctype: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            state["requests"].append(("GET", self.path))
            parts = self.path.strip("/").split("/")
            if parts[:3] == ["v1", "process-definitions", "301"]:
                self._reply(403, b'{"status":403,"message":"Forbidden"}')
                return
            if parts[:2] == ["v1", "process-definitions"] and parts[-1] == "xml":
                xml = XML.get(int(parts[2]))
                if xml is not None:
                    self._reply(200, xml.encode(), "text/xml")
                    return
            self._reply(404, b'{"status":404,"message":"not found"}')

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            state["requests"].append(("POST", self.path))
            if self.path.startswith("/api/login"):
                ok = self.path == "/api/login?username=demo&password=demo"
                self.send_response(204 if ok else 401)
                if ok:
                    self.send_header("Set-Cookie", "OPERATE-SESSION=s1; Path=/")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if state.get("require_cookie") and "OPERATE-SESSION=s1" not in (
                self.headers.get("Cookie") or ""
            ):
                self._reply(401, b'{"status":401}')
                return
            tables = {
                "/v1/process-definitions/search": DEFINITIONS,
                "/v1/flownode-instances/search": FLOW_NODES,
                "/v1/variables/search": VARIABLES,
            }
            table = tables.get(self.path)
            if table is None:
                self._reply(404, b"{}")
                return
            self._reply(200, json.dumps(_search(table, body)).encode())

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def test_operate_source_finds_waiting_instances_of_every_version(
    operate: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    disc = Discovery(OperateV1Source(RestClient(operate["url"]), page_size=1))
    snapshot = disc.cycle()  # one forbidden definition does not stop the others
    assert "cannot read the XML of definition 301" in caplog.text
    found = {
        (w.element_instance_key, w.process_definition_key, w.element_id)
        for w in snapshot.waiting.values()
    }
    assert found == {
        (1001, 101, "Wait"),
        (2001, 102, "Wait"),
        (2101, 102, "Wait"),
        (3001, 201, "Cancelled"),  # the boundary event waits on its activity's instance
    }
    assert all(w.correlation_key is None for w in snapshot.waiting.values())
    intervals = {
        w.element_instance_key: w.config.interval.total_seconds() for w in snapshot.waiting.values()
    }
    assert intervals[1001] == 0.5 and intervals[2001] == 2.0
    # page size 1: the three definitions took several pages, each XML was fetched once
    xml_gets = [p for m, p in operate["requests"] if m == "GET"]
    assert sorted(xml_gets) == [f"/v1/process-definitions/{k}/xml" for k in (101, 102, 201, 301)]
    disc.cycle()  # cached XML is not fetched again; the forbidden one is retried
    assert len([p for m, p in operate["requests"] if m == "GET"]) == 5


def test_operate_source_reads_variables_with_scopes(operate: dict[str, Any]) -> None:
    disc = Discovery(OperateV1Source(RestClient(operate["url"]), page_size=10))
    waiting = {w.element_instance_key: w for w in disc.cycle().waiting.values()}
    values = disc.fetch_variables([waiting[1001], waiting[2001]])
    # the local scope hides the root one; only the names each element reads are kept
    assert values[waiting[1001].key] == {"id": "local"}
    assert values[waiting[2001].key] == {"id": "b", "n": 4}


def test_operate_basic_login_uses_the_session_cookie(operate: dict[str, Any]) -> None:
    operate["require_cookie"] = True
    with pytest.raises(ClusterError) as info:
        Discovery(OperateV1Source(RestClient(operate["url"]))).cycle()
    assert info.value.status == 401
    auth = ClusterAuth(method="basic", username="demo", password="demo")
    client = RestClient(operate["url"], auth, login_path="/api/login")
    snapshot = Discovery(OperateV1Source(client)).cycle()
    assert len(snapshot.waiting) == 4
    assert [p for m, p in operate["requests"] if p.startswith("/api/login")] == [
        "/api/login?username=demo&password=demo"
    ]
