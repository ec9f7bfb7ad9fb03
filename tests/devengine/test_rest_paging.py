"""REST v2 paging at scale and the HTTP transport: pages read from the engine by key, totals
capped like Camunda on Elasticsearch (``hasMoreTotalItems``), one write per response with
TCP_NODELAY on keep-alive connections."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any, cast

import pytest
import requests

from connector.devengine.engine import Engine
from connector.devengine.rest import AuthConfig, Request, RestApi
from connector.devengine.rest_server import RestServer, _Handler
from connector.devengine.server import DevEngine

from .conftest import create_instance, deploy, message_catch_process, rest_search

BpmnFile = Callable[[str, str], str]
SUBSCRIPTIONS = "message-subscriptions"


@pytest.fixture
def five_waiting(dev: DevEngine, bpmn_file: BpmnFile) -> list[str]:
    deploy(dev, [bpmn_file("wait.bpmn", message_catch_process())])
    return [create_instance(dev, "wait-process", {"orderId": f"o-{n}"}) for n in range(5)]


@contextmanager
def rest_over(engine: Any, total_items_cap: int) -> Iterator[str]:
    """A second REST server over the same engine with another total cap; yields its URL."""
    server = RestServer(RestApi(cast(Engine, engine), total_items_cap=total_items_cap))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def search_at(url: str, resource: str, body: dict[str, Any]) -> dict[str, Any]:
    response = requests.post(f"{url}/v2/{resource}/search", json=body, timeout=10)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def definition_key(dev: DevEngine) -> str:
    [item] = rest_search(dev, "process-definitions", {})["items"]
    key: str = item["processDefinitionKey"]
    return key


def discovery(dev: DevEngine) -> dict[str, Any]:
    """Two pushed-down equality filters (8.8 has no processDefinitionKey filter here)."""
    return {"elementId": "wait", "messageSubscriptionState": "CREATED"}


# ---------------------------------------------------------------- totals


@pytest.mark.parametrize(
    ("cap", "total", "more"),
    [(3, 3, True), (4, 4, True), (5, 5, False), (10_000, 5, False)],
)
def test_total_is_capped_and_flags_more_items(
    dev: DevEngine, five_waiting: list[str], cap: int, total: int, more: bool
) -> None:
    two_filters = {"filter": discovery(dev), "page": {"limit": 2}}
    one_filter = {"filter": {"elementId": "wait"}, "page": {"limit": 2}}
    in_list = {"filter": {"elementId": {"$in": ["wait", "other"]}}, "page": {"limit": 2}}
    generic = {"filter": {"elementId": {"$like": "wai?"}}, "page": {"limit": 2}}
    descending = {"sort": [{"field": "messageSubscriptionKey", "order": "DESC"}]}
    with rest_over(dev.engine, cap) as url:
        first = search_at(url, SUBSCRIPTIONS, two_filters)
        after = {**two_filters, "page": {"limit": 2, "after": first["page"]["endCursor"]}}
        for body in (two_filters, after, one_filter, in_list, generic, descending):
            page = search_at(url, SUBSCRIPTIONS, body)["page"]
            assert (page["totalItems"], page["hasMoreTotalItems"]) == (total, more), body


def test_short_first_page_and_empty_results_count_exactly(
    dev: DevEngine, five_waiting: list[str]
) -> None:
    with rest_over(dev.engine, 2) as url:
        one = search_at(url, SUBSCRIPTIONS, {"filter": {"processInstanceKey": five_waiting[0]}})
        assert (one["page"]["totalItems"], one["page"]["hasMoreTotalItems"]) == (1, False)
        none = search_at(url, SUBSCRIPTIONS, {"filter": {"correlationKey": "nobody"}})
        assert none["items"] == []
        assert (none["page"]["totalItems"], none["page"]["hasMoreTotalItems"]) == (0, False)


# ---------------------------------------------------------------- pages by key


class QuerySpy:
    """The engine, recording the keyword arguments of every query and count."""

    QUERIES = frozenset({"message_subscriptions", "element_instances", "variables", "count"})

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._engine, name)
        if name not in self.QUERIES:
            return target

        def recorded(*args: Any, **arguments: Any) -> Any:
            self.calls.append((name, {**arguments, **dict(enumerate(args))}))
            return target(*args, **arguments)

        return recorded


def spied_search(spy: QuerySpy, resource: str, body: dict[str, Any]) -> dict[str, Any]:
    response = RestApi(cast(Engine, spy), total_items_cap=3).handle(
        Request("POST", f"/v2/{resource}/search", {}, body)
    )
    assert response.status == 200, response.body
    result: dict[str, Any] = response.body
    return result


def test_discovery_pages_are_read_from_the_engine_by_key_and_limit(
    dev: DevEngine, five_waiting: list[str]
) -> None:
    spy = QuerySpy(dev.engine)
    filters = discovery(dev)

    def page(extra: dict[str, Any]) -> dict[str, Any]:
        body = {"filter": filters, "page": {"limit": 2, **extra}}
        return spied_search(spy, SUBSCRIPTIONS, body)

    first = page({})
    second = page({"after": first["page"]["endCursor"]})
    page({"from": 1})
    assert spy.calls, "the search did not query the engine"
    assert all(call["limit"] is not None for _, call in spy.calls), spy.calls
    assert max(call["limit"] for _, call in spy.calls) <= 3 + 1  # the cap, plus one for "more"
    last_first_key = int(first["items"][-1]["messageSubscriptionKey"])
    assert any(call.get("after_key") == last_first_key for _, call in spy.calls)
    assert [i["processInstanceKey"] for i in first["items"] + second["items"]] == five_waiting[:4]


def test_in_filters_on_keys_are_answered_from_the_engine_indexes(
    dev: DevEngine, five_waiting: list[str]
) -> None:
    """The worker reads the variables of a batch of waiting instances with one `$in` search."""
    spy = QuerySpy(dev.engine)
    batch = [five_waiting[1], five_waiting[3]]
    variables = spied_search(
        spy, "variables", {"filter": {"processInstanceKey": {"$in": batch}, "name": "orderId"}}
    )
    got = {(i["processInstanceKey"], i["value"]) for i in variables["items"]}
    assert got == {(five_waiting[1], '"o-1"'), (five_waiting[3], '"o-3"')}
    assert variables["page"]["totalItems"] == 2
    elements = spied_search(
        spy,
        SUBSCRIPTIONS,
        {
            "filter": {
                "processInstanceKey": {"$in": [*batch, "1"]},
                "elementId": {"$in": ["wait", "elsewhere"]},
                "messageSubscriptionState": "CREATED",
            }
        },
    )
    assert sorted(i["processInstanceKey"] for i in elements["items"]) == sorted(batch, key=int)
    assert {i["elementId"] for i in elements["items"]} == {"wait"}
    # every engine call was narrowed to the batch: no call read all instances
    for name, call in spy.calls:
        assert isinstance(call.get("process_instance_key"), list), (name, call)
    nothing = spied_search(spy, "variables", {"filter": {"processInstanceKey": {"$in": []}}})
    assert nothing["items"] == [] and nothing["page"]["totalItems"] == 0


def test_bad_in_member_is_400_naming_it(dev: DevEngine, five_waiting: list[str]) -> None:
    response = requests.post(
        f"{dev.rest_url}/v2/variables/search",
        json={"filter": {"processInstanceKey": {"$in": [five_waiting[0], "seven"]}}},
        timeout=10,
    )
    assert response.status_code == 400
    problem = response.json()
    assert problem["detail"] == "Request property [filter.processInstanceKey] cannot be parsed"
    assert problem["title"] == "Bad Request"


def test_key_order_pages_equal_the_generic_path(dev: DevEngine, five_waiting: list[str]) -> None:
    """Pushed-down equalities page in the engine; an equivalent ``$like`` filter takes the
    generic path (filter and sort every item). Both give the same items and interchangeable
    cursors."""
    fast = {"processInstanceKey": {"$in": five_waiting}, "elementId": "wait"}
    generic = {"processInstanceKey": {"$in": five_waiting}, "elementId": {"$like": "wai?"}}

    def walk(filters: dict[str, Any], mode: str, cursor: str | None) -> dict[str, Any]:
        page: dict[str, Any] = {"limit": 2}
        if cursor is not None:
            page[mode] = cursor
        return rest_search(dev, SUBSCRIPTIONS, {"filter": filters, "page": page})

    first_fast, first_generic = walk(fast, "after", None), walk(generic, "after", None)
    assert first_fast == first_generic
    cursor = first_fast["page"]["endCursor"]
    assert walk(fast, "after", cursor) == walk(generic, "after", cursor)
    last = walk(fast, "after", walk(fast, "after", cursor)["page"]["endCursor"])
    assert [i["processInstanceKey"] for i in last["items"]] == five_waiting[4:]
    back = last["page"]["startCursor"]
    assert walk(fast, "before", back) == walk(generic, "before", back)
    assert [i["processInstanceKey"] for i in walk(fast, "before", back)["items"]] == five_waiting[
        2:4
    ]
    offset = {"filter": fast, "page": {"from": 3, "limit": 10}}
    items = rest_search(dev, SUBSCRIPTIONS, offset)["items"]
    assert [i["processInstanceKey"] for i in items] == five_waiting[3:]


# ---------------------------------------------------------------- transport


class CountingSocket(socket.socket):
    """A socket that counts the writes made on it (``send`` and ``sendall`` calls)."""

    writes = 0

    def send(self, data: Any, flags: int = 0) -> int:
        self.writes += 1
        return super().send(data, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        self.writes += 1
        super().sendall(data, flags)


def read_responses(stream: socket.socket, count: int) -> list[tuple[bytes, bytes]]:
    """``count`` HTTP responses (status line, body) read off a client socket until EOF."""
    data = b""
    while chunk := stream.recv(65536):
        data += chunk
    responses = []
    for _ in range(count):
        head, _, data = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        length = next(
            int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length")
        )
        responses.append((lines[0], data[:length]))
        data = data[length:]
    assert data == b""
    return responses


def test_handler_sets_nodelay_and_writes_each_response_at_once(
    dev: DevEngine, five_waiting: list[str]
) -> None:
    body = json.dumps({"filter": {"elementId": "wait"}, "page": {"limit": 2}}).encode()
    search = (
        b"POST /v2/message-subscriptions/search HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    missing = b"GET /v2/nothing-here HTTP/1.1\r\nHost: localhost\r\n\r\n"
    with (
        socket.create_server(("127.0.0.1", 0)) as listener,
        socket.create_connection(listener.getsockname()[:2], timeout=10) as client,
    ):
        accepted, address = listener.accept()
        with CountingSocket(fileno=accepted.detach()) as connection:
            # three requests on one keep-alive connection, then the client is done
            client.sendall(search + missing + search)
            client.shutdown(socket.SHUT_WR)
            server = SimpleNamespace(api=RestApi(dev.engine), auth=AuthConfig())
            _Handler(connection, address, server)  # type: ignore[arg-type]
            assert connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
            assert connection.writes == 3
        responses = read_responses(client, 3)
    assert [status for status, _ in responses] == [
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 404 Not Found",
        b"HTTP/1.1 200 OK",
    ]
    assert len(json.loads(responses[0][1])["items"]) == 2
    assert json.loads(responses[1][1])["status"] == 404


def test_keep_alive_session_serves_sequential_requests(
    dev: DevEngine, five_waiting: list[str]
) -> None:
    """20 requests on one connection, mixing bodies, problems and empty answers: every answer
    is framed right (a wrong Content-Length would desynchronise the following ones)."""
    with requests.Session() as session:
        for n in range(20):
            if n % 4 == 3:
                response = session.get(f"{dev.rest_url}/v2/nothing-here", timeout=10)
                assert response.status_code == 404
                assert response.headers["Content-Type"] == "application/problem+json"
            elif n % 4 == 2:
                response = session.get(f"{dev.rest_url}/v2/status", timeout=10)
                assert response.status_code == 204 and response.content == b""
            else:
                response = session.post(
                    f"{dev.rest_url}/v2/message-subscriptions/search",
                    json={"page": {"limit": 1 + n % 5}},
                    timeout=10,
                )
                assert response.status_code == 200
                assert len(response.json()["items"]) == 1 + n % 5
