"""The per-poll hot path of HttpClient: a bound request prepared once and sent on pooled
keep-alive connections, with everything that changes per poll still applied per poll."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from connector.http import BasicAuth, HttpClient, HttpTransportError, OAuthClientCredentials
from connector.http.request import BoundRequest
from tests.core.localserver import LocalServer, Reply, local_server
from tests.core.test_http import FakeClock, TokenEndpoint, oauth_client, req


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with local_server() as srv:
        yield srv


def test_a_reused_bound_request_is_prepared_once_and_sent_identically(
    server: LocalServer,
) -> None:
    server.route("/items", Reply(200, {"status": "waiting"}))
    request = req(
        server.url + "/items",
        query=(("q", "a b"),),
        headers=(("X-Trace", "t1"),),
        auth=BasicAuth("user", "pass"),
    )
    with HttpClient() as client:
        first = client.execute(request)
        wire = request.wire
        second = client.execute(request)
    assert wire is not None and request.wire is wire  # prepared once, then reused
    assert first.body == second.body == {"status": "waiting"}
    hits = server.hits("/items")
    assert [hit.raw_path for hit in hits] == ["/items?q=a+b"] * 2
    assert hits[0].headers == hits[1].headers
    assert hits[0].headers["X-Trace"] == "t1"
    assert hits[0].headers["Authorization"].startswith("Basic ")
    # Both polls went over one keep-alive connection.
    assert hits[0].client_port == hits[1].client_port


def test_requests_with_equal_headers_share_one_header_block(server: LocalServer) -> None:
    server.route("/a", Reply(200, {}))
    server.route("/b", Reply(200, {}))
    first, second = req(server.url + "/a"), req(server.url + "/b")
    with HttpClient() as client:
        client.execute(first)
        client.execute(second)
    assert first.wire is not None and second.wire is not None
    assert first.wire.headers is second.wire.headers  # memory per instance: one dict
    # ... and one rendering of everything after the request line
    assert first.wire.tail is not None and first.wire.tail is second.wire.tail


def test_oauth_token_is_applied_per_poll_on_a_reused_request(server: LocalServer) -> None:
    endpoint = TokenEndpoint(server, expires_in=60)
    clock = FakeClock()
    auth = OAuthClientCredentials(endpoint.url, "my-id", "my-secret")
    request = req(server.url + "/api", auth=auth)
    with oauth_client(clock) as client:
        first = client.execute(request)
        clock.now += 55  # past expires_in - margin: a new token for the same request
        second = client.execute(request)
    assert first.body == {"seen": "Bearer tok-1"}
    assert second.body == {"seen": "Bearer tok-2"}
    assert request.wire is not None
    assert "Authorization" not in request.wire.headers  # the token is never cached there


def test_a_pool_evicted_by_other_origins_is_replaced(server: LocalServer) -> None:
    with local_server() as other:
        server.route("/p", Reply(200, {"at": "server"}))
        other.route("/p", Reply(200, {"at": "other"}))
        mine, theirs = req(server.url + "/p"), req(other.url + "/p")
        # One pool per client: the second origin evicts (and closes) the first one's pool.
        with HttpClient(pool_size=1) as client:
            for _ in range(3):
                assert client.execute(mine).body == {"at": "server"}
                assert client.execute(theirs).body == {"at": "other"}
        assert len(server.hits("/p")) == len(other.hits("/p")) == 3


def test_a_connection_closed_by_the_server_is_replaced(server: LocalServer) -> None:
    server.route("/c", Reply(200, {"ok": True}, headers=[("Connection", "close")]))
    request = req(server.url + "/c")
    with HttpClient() as client:
        for _ in range(3):
            assert client.execute(request).body == {"ok": True}
    assert len(server.hits("/c")) == 3


class RawServer:
    """Answers every connection with one fixed byte string (for malformed responses)."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                conn.sendall(self.answer)

    def close(self) -> None:
        self.listener.close()


def test_a_small_length_does_not_lift_the_cap_of_a_chunked_body() -> None:
    # Transfer-Encoding wins over Content-Length; the body read must still be capped.
    big = b"x" * 5000
    answer = (
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n" + f"{len(big):x}\r\n".encode() + big + b"\r\n0\r\n\r\n"
    )
    raw = RawServer(answer)
    try:
        with (
            HttpClient(max_response_bytes=4096) as client,
            pytest.raises(HttpTransportError) as exc,
        ):
            client.execute(req(raw.url + "/x"))
        assert exc.value.kind == "too_large"
    finally:
        raw.close()


def test_a_garbage_answer_is_a_connection_error_without_the_query() -> None:
    raw = RawServer(b"NOT HTTP AT ALL\r\n\r\n")
    try:
        with HttpClient() as client, pytest.raises(HttpTransportError) as exc:
            client.execute(req(raw.url + "/x?token=SECRET123"))
        assert exc.value.kind == "connection"
        assert "SECRET123" not in str(exc.value)
    finally:
        raw.close()


def test_a_redirected_request_is_prepared_afresh(server: LocalServer) -> None:
    server.route("/from", Reply(302, b"", headers=[("Location", "/to")]))
    server.route("/to", Reply(200, {"here": True}))
    request = BoundRequest(method="GET", url=server.url + "/from", follow_redirects=True)
    with HttpClient() as client:
        for _ in range(2):
            assert client.execute(request).body == {"here": True}
    assert request.wire is not None and request.wire.target == "/from"
    assert [hit.raw_path for hit in server.hits("/to")] == ["/to", "/to"]
