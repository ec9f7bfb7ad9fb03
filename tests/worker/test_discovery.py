"""Discovery against the development engine's REST API v2 (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from connector.bpmn import element_ancestors
from connector.devengine.rest import AuthConfig
from connector.devengine.server import DevEngine, DevEngineOptions
from connector.discovery import (
    ClusterAuth,
    ClusterError,
    Discovery,
    RestClient,
    RestV2Source,
)
from tests.helpers.bpmn import HEADER, catch_process, polling_properties

URL = '=base + "/items/" + id'


def discovery(dev: DevEngine, page_size: int = 100, **kwargs: Any) -> Discovery:
    client = RestClient(dev.rest_url, kwargs.pop("auth", None))
    return Discovery(RestV2Source(client, page_size), **kwargs)


def start_many(dev: DevEngine, process_id: str, count: int) -> list[int]:
    return [
        dev.engine.create_process_instance(
            process_id, variables={"base": "http://127.0.0.1:9", "id": f"i{n}"}
        ).process_instance_key
        for n in range(count)
    ]


def test_requests_per_cycle_grow_with_pages_not_instances(dev: DevEngine) -> None:
    dev.engine.deploy([("p.bpmn", catch_process("paged", polling_properties(URL)).encode())])
    start_many(dev, "paged", 250)
    disc = discovery(dev, page_size=100)
    first = disc.cycle()
    assert len(first.waiting) == 250
    assert first.requests == 1 + 1 + 1 + 3  # topology once, definitions, XML once, 3 pages
    second = disc.cycle()
    assert second.requests == 1 + 3  # the XML is cached by key
    assert second.new_definitions == []
    start_many(dev, "paged", 50)
    third = disc.cycle()
    assert len(third.waiting) == 300
    assert third.requests == 1 + math.ceil(300 / 100)  # totalItems spares the empty page


def test_waiting_instances_carry_keys_and_correlation_key(dev: DevEngine) -> None:
    dev.engine.deploy([("p.bpmn", catch_process("keys", polling_properties(URL)).encode())])
    (pik,) = start_many(dev, "keys", 1)
    snapshot = discovery(dev).cycle()
    (waiting,) = snapshot.waiting.values()
    assert waiting.process_instance_key == pik
    assert waiting.correlation_key == "i0"
    assert waiting.element_id == "Wait" and waiting.process_id == "keys"
    assert waiting.config.message_name == "done-msg"


def test_old_versions_with_waiting_instances_are_served(dev: DevEngine) -> None:
    v1 = dev.engine.deploy([("p.bpmn", catch_process("ver", polling_properties(URL)).encode())])
    start_many(dev, "ver", 2)
    changed = catch_process("ver", polling_properties(URL, interval="PT3S"))
    v2 = dev.engine.deploy([("p.bpmn", changed.encode())])
    start_many(dev, "ver", 1)
    snapshot = discovery(dev).cycle()
    k1 = v1.processes[0].process_definition_key
    k2 = v2.processes[0].process_definition_key
    assert set(snapshot.definitions) == {k1, k2}
    intervals = sorted(w.config.interval.total_seconds() for w in snapshot.waiting.values())
    assert intervals == [0.5, 0.5, 3.0]


def test_shards_split_waiting_instances(dev: DevEngine) -> None:
    dev.engine.deploy([("p.bpmn", catch_process("shard", polling_properties(URL)).encode())])
    start_many(dev, "shard", 40)
    parts = [set(discovery(dev, shard_index=i, shard_count=2).cycle().waiting) for i in (0, 1)]
    assert parts[0] and parts[1] and not parts[0] & parts[1]
    assert len(parts[0] | parts[1]) == 40


def test_invalid_element_is_reported_and_not_served(dev: DevEngine) -> None:
    props = polling_properties(URL, interval="every now and then")
    dev.engine.deploy([("p.bpmn", catch_process("broken", props).encode())])
    start_many(dev, "broken", 1)
    snapshot = discovery(dev).cycle()
    assert snapshot.waiting == {}
    (definition,) = snapshot.definitions.values()
    (error,) = definition.errors
    assert error.element_id == "Wait" and error.property == "httpRequestInterval"


def test_variables_are_fetched_in_batches_with_full_values(dev: DevEngine) -> None:
    props = polling_properties(URL, result="={size: string length(big)}")
    dev.engine.deploy([("p.bpmn", catch_process("vars", props).encode())])
    keys = start_many(dev, "vars", 30)
    big = "x" * 20000  # longer than the search's truncation limit
    dev.engine.set_variables(keys[0], {"big": big}, local=False)
    disc = discovery(dev, page_size=500, batch_size=10)
    waiting = list(disc.cycle().waiting.values())
    before = disc.source.requests_made
    values = disc.fetch_variables(waiting)
    assert disc.source.requests_made - before == 3 + 1  # three batches + one full value
    by_pik = {w.process_instance_key: values[w.key] for w in waiting}
    assert by_pik[keys[0]]["big"] == big
    assert by_pik[keys[7]] == {"base": "http://127.0.0.1:9", "id": "i7"}


def test_only_the_variables_the_element_reads_are_fetched(dev: DevEngine) -> None:
    dev.engine.deploy([("p.bpmn", catch_process("few", polling_properties(URL)).encode())])
    keys = start_many(dev, "few", 30)
    for key in keys:  # unread, and too long for the search: each would cost a request
        dev.engine.set_variables(key, {"notes": "x" * 20000, "other": 1}, local=False)
    disc = discovery(dev, page_size=500, batch_size=10)
    waiting = list(disc.cycle().waiting.values())
    assert waiting[0].config.variable_names == {"base", "id"}
    before = disc.source.requests_made
    values = disc.fetch_variables(waiting)
    assert disc.source.requests_made - before == 3  # one per batch, no full values
    by_pik = {w.process_instance_key: values[w.key] for w in waiting}
    assert by_pik[keys[3]] == {"base": "http://127.0.0.1:9", "id": "i3"}


SCOPED = (
    HEADER
    + """  <bpmn:process id="scoped" isExecutable="true">
    <bpmn:startEvent id="Start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Sub" />
    <bpmn:subProcess id="Sub">
      <bpmn:extensionElements>
        <zeebe:ioMapping><zeebe:input source="=&#34;inner&#34;" target="where" /></zeebe:ioMapping>
      </bpmn:extensionElements>
      <bpmn:startEvent id="SubStart"><bpmn:outgoing>s1</bpmn:outgoing></bpmn:startEvent>
      <bpmn:sequenceFlow id="s1" sourceRef="SubStart" targetRef="Wait" />
      <bpmn:intermediateCatchEvent id="Wait">
        <bpmn:extensionElements>
          <zeebe:ioMapping><zeebe:input source="=42" target="local" /></zeebe:ioMapping>
          <zeebe:properties>
PROPS
          </zeebe:properties>
        </bpmn:extensionElements>
        <bpmn:incoming>s1</bpmn:incoming>
        <bpmn:outgoing>s2</bpmn:outgoing>
        <bpmn:messageEventDefinition id="med" messageRef="Msg" />
      </bpmn:intermediateCatchEvent>
      <bpmn:sequenceFlow id="s2" sourceRef="Wait" targetRef="SubEnd" />
      <bpmn:endEvent id="SubEnd"><bpmn:incoming>s2</bpmn:incoming></bpmn:endEvent>
    </bpmn:subProcess>
    <bpmn:sequenceFlow id="f3" sourceRef="Sub" targetRef="End" />
    <bpmn:endEvent id="End"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
  <bpmn:message id="Msg" name="m"><bpmn:extensionElements>
    <zeebe:subscription correlationKey="=id" /></bpmn:extensionElements></bpmn:message>
</bpmn:definitions>
"""
)


def test_variables_follow_zeebe_scopes(dev: DevEngine) -> None:
    props = "\n".join(
        f'<zeebe:property name="{k}" value="{v.replace(chr(34), "&#34;")}" />'
        for k, v in polling_properties(URL, result="={w: where, l: local}").items()
    )
    xml = SCOPED.replace("PROPS", props)
    assert element_ancestors(xml)["Wait"] == ("Sub",)
    dev.engine.deploy([("s.bpmn", xml.encode())])
    dev.engine.create_process_instance(
        "scoped", variables={"where": "outer", "id": "s", "base": "b"}
    )
    disc = discovery(dev)
    (waiting,) = disc.cycle().waiting.values()
    values = disc.fetch_variables([waiting])[waiting.key]
    assert values == {"where": "inner", "local": 42, "id": "s", "base": "b"}


# ---------------------------------------------------------------------------- auth


@pytest.fixture
def token_endpoint() -> Iterator[dict[str, Any]]:
    state: dict[str, Any] = {"calls": 0, "forms": []}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            state["calls"] += 1
            state["forms"].append(self.rfile.read(length).decode())
            data = json.dumps({"access_token": "cluster-token", "expires_in": 300}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}/oauth/token"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def test_oauth_client_credentials_against_a_protected_engine(
    token_endpoint: dict[str, Any],
) -> None:
    options = DevEngineOptions(auth=AuthConfig(bearer_token="cluster-token"))
    with DevEngine.run_in_thread("127.0.0.1", options=options) as dev:
        with pytest.raises(ClusterError) as info:
            discovery(dev).cycle()
        assert info.value.status == 401 and not info.value.transient
        auth = ClusterAuth(
            method="oidc",
            client_id="worker",
            client_secret="s3cret",
            token_url=token_endpoint["url"],
            audience="orchestration-api",
        )
        disc = discovery(dev, auth=auth)
        disc.cycle()
        disc.cycle()
    assert token_endpoint["calls"] == 1  # cached until it nears expiry
    form = token_endpoint["forms"][0]
    assert "grant_type=client_credentials" in form and "audience=orchestration-api" in form


def test_basic_auth_against_a_protected_engine() -> None:
    options = DevEngineOptions(auth=AuthConfig(username="demo", password="demo"))
    with DevEngine.run_in_thread("127.0.0.1", options=options) as dev:
        auth = ClusterAuth(method="basic", username="demo", password="demo")
        assert discovery(dev, auth=auth).cycle().waiting == {}


def test_unreachable_cluster_is_a_transient_error() -> None:
    disc = Discovery(RestV2Source(RestClient("http://127.0.0.1:9", timeout=2)))
    with pytest.raises(ClusterError) as info:
        disc.cycle()
    assert info.value.transient
