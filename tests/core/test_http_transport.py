"""The transport under HttpClient: the first request on a connection goes through urllib3,
later ones on the kept-alive connection are pre-rendered bytes parsed by http.client.
Both must put the same bytes on the wire and read answers the same way."""

from __future__ import annotations

import gzip
import json
import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from connector.http import BasicAuth, HttpClient, HttpStatusError, HttpTransportError
from connector.http.request import BoundRequest
from connector.http.transport import group_headers

Answer = bytes | Callable[[socket.socket], None]


def answer(
    body: bytes,
    *,
    status: str = "200 OK",
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),),
    length: int | None = None,
) -> bytes:
    head = [f"HTTP/1.1 {status}"]
    head += [f"{k}: {v}" for k, v in headers]
    if not any(k.lower() in ("content-length", "transfer-encoding") for k, _ in headers):
        head.append(f"Content-Length: {len(body) if length is None else length}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class ScriptedServer:
    """Records every request's exact bytes with its connection number, and answers the
    n-th request with the n-th scripted answer (bytes, or a function of the socket)."""

    def __init__(self, answers: list[Answer]) -> None:
        self.answers = answers
        self.requests: list[tuple[int, bytes]] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self._lock = threading.Lock()
        self._connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self._connections += 1
            number = self._connections
            threading.Thread(target=self._serve, args=(conn, number), daemon=True).start()

    def _serve(self, conn: socket.socket, number: int) -> None:
        with conn:
            buffer = b""
            while True:
                while b"\r\n\r\n" not in buffer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, _, rest = buffer.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(rest) < length:
                    rest += conn.recv(65536)
                with self._lock:
                    self.requests.append((number, head + b"\r\n\r\n" + rest[:length]))
                    reply = self.answers[len(self.requests) - 1]
                buffer = rest[length:]
                if callable(reply):
                    reply(conn)
                    return
                conn.sendall(reply)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def scripted() -> Iterator[Callable[[list[Answer]], ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def make(answers: list[Answer]) -> ScriptedServer:
        servers.append(ScriptedServer(answers))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def test_a_kept_alive_poll_writes_the_bytes_urllib3_wrote(
    scripted: Callable[[list[Answer]], ScriptedServer],
) -> None:
    server = scripted([answer(b"{}")] * 2)
    request = BoundRequest(
        method="POST",
        url=server.url + "/api/items?fixed=1",
        query=(("q", "a b"), ("q", "ü")),
        headers=(("X-Trace", "t1"), ("Content-Type", "application/json")),
        body=b'{"id": 7}',
        auth=BasicAuth("user", "pass"),
    )
    with HttpClient() as client:
        client.execute(request)  # a new connection: urllib3 writes the request
        client.execute(request)  # the kept-alive one: the bytes rendered from the first
    (first_conn, first), (second_conn, second) = server.requests
    assert first_conn == second_conn  # one keep-alive connection
    assert second == first
    assert request.wire is not None and request.wire.request_bytes() == first  # rendered once
    assert first.startswith(b"POST /api/items?fixed=1&q=a+b&q=%C3%BC HTTP/1.1\r\nHost: 127.0.0.1:")
    assert first.endswith(b'\r\n\r\n{"id": 7}')


def test_a_compressed_answer_on_a_kept_connection_is_decoded(
    scripted: Callable[[list[Answer]], ScriptedServer],
) -> None:
    packed = gzip.compress(json.dumps({"status": "done"}).encode())
    server = scripted(
        [
            answer(b'{"status": "waiting"}'),
            answer(
                packed,
                headers=(("Content-Type", "application/json"), ("Content-Encoding", "gzip")),
            ),
            answer(b'{"status": "again"}'),
        ]
    )
    request = BoundRequest(method="GET", url=server.url + "/s")
    with HttpClient() as client:
        bodies = [client.execute(request).body for _ in range(3)]
    assert bodies == [{"status": "waiting"}, {"status": "done"}, {"status": "again"}]
    assert len({number for number, _ in server.requests}) == 1


def test_a_chunked_answer_on_a_kept_connection(
    scripted: Callable[[list[Answer]], ScriptedServer],
) -> None:
    chunked = b'7\r\n{"a": 1\r\n1\r\n}\r\n0\r\n\r\n'
    server = scripted(
        [
            answer(b"{}"),
            answer(chunked, headers=(("Transfer-Encoding", "chunked"),)),
            answer(b'{"b": 2}'),
        ]
    )
    request = BoundRequest(method="GET", url=server.url + "/c")
    with HttpClient() as client:
        bodies = [client.execute(request).body for _ in range(3)]
    assert bodies == [{}, {"a": 1}, {"b": 2}]


def test_a_body_cut_short_on_a_kept_connection_is_a_protocol_error(
    scripted: Callable[[list[Answer]], ScriptedServer],
) -> None:
    def cut(conn: socket.socket) -> None:
        conn.sendall(answer(b'{"partial":', length=100))

    server = scripted([answer(b"{}"), cut, answer(b'{"after": true}')])
    request = BoundRequest(method="GET", url=server.url + "/cut")
    with HttpClient() as client:
        client.execute(request)
        with pytest.raises(HttpTransportError) as exc:
            client.execute(request)
        assert exc.value.kind == "protocol"
        # The broken connection is not reused: the next poll connects again.
        assert client.execute(request).body == {"after": True}
    assert [number for number, _ in server.requests] == [1, 1, 2]


def test_no_answer_on_a_kept_connection_is_a_read_timeout(
    scripted: Callable[[list[Answer]], ScriptedServer],
) -> None:
    released = threading.Event()
    server = scripted([answer(b"{}"), lambda conn: released.wait(10)])
    request = BoundRequest(
        method="GET", url=server.url + "/slow?token=SECRET1", connect_timeout=5, read_timeout=0.2
    )
    try:
        with HttpClient() as client:
            client.execute(request)
            with pytest.raises(HttpTransportError) as exc:
                client.execute(request)
        assert exc.value.kind == "read_timeout"
        assert "SECRET1" not in str(exc.value)
    finally:
        released.set()


def test_a_status_error_on_a_kept_connection(
    scripted: Callable[[list[Answer]], ScriptedServer],
) -> None:
    server = scripted(
        [
            answer(b"{}"),
            answer(b"slow down", status="429 Too Many Requests", headers=(("Retry-After", "7"),)),
        ]
    )
    request = BoundRequest(method="GET", url=server.url + "/busy")
    with HttpClient() as client:
        client.execute(request)
        with pytest.raises(HttpStatusError) as exc:
            client.execute(request)
    assert (exc.value.status, exc.value.retry_after) == (429, 7.0)
    assert exc.value.body_excerpt == "slow down"


def test_head_on_a_kept_connection_reads_no_body(
    scripted: Callable[[list[Answer]], ScriptedServer],
) -> None:
    server = scripted([answer(b"", length=50)] * 2 + [answer(b'{"x": 1}')])
    head = BoundRequest(method="HEAD", url=server.url + "/h")
    with HttpClient() as client:
        assert client.execute(head).body is None
        assert client.execute(head).body is None
        assert client.execute(BoundRequest(method="GET", url=server.url + "/h")).body == {"x": 1}
    assert len({number for number, _ in server.requests}) == 1


def test_headers_are_grouped_as_sent_and_read_joined() -> None:
    grouped, values = group_headers(
        [("Set-Cookie", "a=1"), ("X-One", "1"), ("set-cookie", "b=2"), ("SET-COOKIE", "c=3")]
    )
    assert grouped == {"Set-Cookie": ["a=1", "b=2", "c=3"], "X-One": "1"}
    assert values == {"set-cookie": "a=1, b=2, c=3", "x-one": "1"}


def _trickle(head: bytes, step: float, stop: threading.Event) -> Callable[[socket.socket], None]:
    """An answer sending ``head`` whole, then a header line a byte every ``step`` seconds
    (each byte well within the read timeout), for far longer than the total timeout."""

    def send(conn: socket.socket) -> None:
        try:
            conn.sendall(head)
            for byte in b"X-Pad: " + b"p" * 400:
                if stop.wait(step):
                    return
                conn.sendall(bytes([byte]))
        except OSError:
            return  # the client gave up and closed the connection

    return send


def _trickled(
    scripted: Callable[[list[Answer]], ScriptedServer], answers: list[Answer], kept: bool
) -> HttpTransportError:
    server = scripted(answers)
    # Total timeout: connect + read = 1.2 s; the trickle would take 20 s.
    request = BoundRequest(
        method="GET", url=server.url + "/t?token=SECRET2", connect_timeout=0.4, read_timeout=0.8
    )
    with HttpClient() as client:
        if kept:
            client.execute(request)
        with pytest.raises(HttpTransportError) as exc:
            client.execute(request)
    assert "SECRET2" not in str(exc.value)
    return exc.value


@pytest.mark.parametrize("kept", [True, False], ids=["kept-connection", "new-connection"])
def test_a_trickled_header_block_stops_at_the_total_deadline(
    scripted: Callable[[list[Answer]], ScriptedServer], kept: bool
) -> None:
    stop = threading.Event()
    trickle = _trickle(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", 0.05, stop)
    try:
        error = _trickled(scripted, [answer(b"{}"), trickle] if kept else [trickle], kept)
    finally:
        stop.set()
    assert error.kind == "deadline"


def test_a_trickled_status_line_stops_at_the_total_deadline(
    scripted: Callable[[list[Answer]], ScriptedServer],
) -> None:
    stop = threading.Event()

    def status_line(conn: socket.socket) -> None:
        try:
            for byte in b"HTTP/1.1 200 " + b"O" * 400:
                if stop.wait(0.05):
                    return
                conn.sendall(bytes([byte]))
        except OSError:
            return

    try:
        error = _trickled(scripted, [answer(b"{}"), status_line], True)
    finally:
        stop.set()
    assert error.kind == "deadline"


def test_endless_interim_answers_stop_at_the_total_deadline(
    scripted: Callable[[list[Answer]], ScriptedServer],
) -> None:
    stop = threading.Event()

    def continues(conn: socket.socket) -> None:
        try:
            while not stop.wait(0.05):
                conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        except OSError:
            return

    try:
        error = _trickled(scripted, [continues], False)
    finally:
        stop.set()
    assert error.kind == "deadline"
