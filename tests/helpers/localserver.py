"""A real HTTP server on 127.0.0.1 for tests: routes are plain functions, requests are recorded."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: list[tuple[str, str]]
    raw_path: str
    headers: dict[str, str]
    body: bytes
    client_port: int

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode()))


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | Any = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    reason: str | None = None
    chunked: bool = False

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


Route = Callable[[Request], Reply]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeouts, size cap) is expected in these tests.
        pass


class LocalServer:
    """``routes`` maps ``"METHOD /path"`` (or ``"/path"`` for any method) to a handler."""

    def __init__(self, tls: tuple[str, str] | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Request(
                    method=self.command,
                    path=parts.path,
                    query=parse_qsl(parts.query, keep_blank_values=True),
                    raw_path=self.path,
                    headers={k: v for k, v in self.headers.items()},
                    body=body,
                    client_port=self.client_address[1],
                )
                with server._lock:
                    server.requests.append(request)
                route = server.routes.get(f"{self.command} {parts.path}") or server.routes.get(
                    parts.path
                )
                reply = route(request) if route else Reply(404, {"error": "no route"})
                payload = reply.encoded()
                self.send_response(reply.status, reply.reason)
                names = {k.lower() for k, _ in reply.headers}
                for name, value in reply.headers:
                    self.send_header(name, value)
                if "content-type" not in names and not isinstance(reply.body, bytes | str):
                    self.send_header("Content-Type", "application/json")
                if reply.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    if self.command == "HEAD":
                        return
                    for start in range(0, len(payload), 4096):
                        piece = payload[start : start + 4096]
                        self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"

    def route(self, key: str, reply: Reply | Route) -> None:
        self.routes[key] = reply if callable(reply) else (lambda _req, r=reply: r)

    def hits(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]


@contextmanager
def local_server(tls: tuple[str, str] | None = None) -> Iterator[LocalServer]:
    """A running server; ``tls`` = (certificate file, key file) serves HTTPS."""
    server = LocalServer(tls)
    thread = threading.Thread(target=server.httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
        thread.join(5)
