"""Fault-injecting local servers for the hardening and chaos tests (127.0.0.1, port 0).

* :class:`Scripted`: answers per path from a function of the hit number, and can delay
  or trickle the answer; records every request (path, query, headers, body).
* :class:`RestProxy`: forwards to the dev engine's REST API, optionally hanging the
  requests whose path matches (a slow cluster).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

import requests

from connector.jsonendpoint import JsonHandler, serve


@dataclass
class Reply:
    body: Any = None
    status: int = 200
    delay: float = 0.0  # seconds before the answer starts
    trickle: float | None = None  # seconds between single bytes of the body


@dataclass
class Request:
    at: float
    path: str
    raw: str  # path with query string
    headers: dict[str, str]
    body: bytes


@dataclass
class Scripted:
    routes: dict[str, Callable[[int], Reply]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""
    stopping: threading.Event = field(default_factory=threading.Event)

    def route(self, path: str, answer: Callable[[int], Reply]) -> None:
        with self.lock:
            self.routes[path] = answer

    def hits(self, path: str | None = None) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if path is None or r.path == path]

    def _answer(self, handler: JsonHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        path = urlsplit(handler.path).path
        with self.lock:
            n = sum(1 for r in self.requests if r.path == path)
            self.requests.append(
                Request(time.monotonic(), path, handler.path, dict(handler.headers.items()), body)
            )
            answer = self.routes.get(path)
        reply = answer(n) if answer is not None else Reply({"error": "unknown"}, 404)
        if reply.delay and self.stopping.wait(reply.delay):
            return
        if reply.trickle is None:
            handler.send_json(reply.status, reply.body)
            return
        data = json.dumps(reply.body).encode()
        handler.send_response(reply.status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        with contextlib.suppress(OSError):
            for i in range(len(data)):
                handler.wfile.write(data[i : i + 1])
                handler.wfile.flush()
                if self.stopping.wait(reply.trickle):
                    return


def _scripted_handler(server: Scripted) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        def do_GET(self) -> None:
            server._answer(self, "GET")

        def do_POST(self) -> None:
            server._answer(self, "POST")

    return Handler


@contextlib.contextmanager
def scripted() -> Iterator[Scripted]:
    server = Scripted()
    with serve(_scripted_handler(server), name="scripted") as url:
        server.url = url
        try:
            yield server
        finally:
            server.stopping.set()  # hanging and trickling answers end now


@dataclass
class RestProxy:
    target: str
    hang: Callable[[str], bool] = lambda _path: False
    hang_seconds: float = 30.0
    url: str = ""
    hung: int = 0
    stopping: threading.Event = field(default_factory=threading.Event)


def _proxy_handler(proxy: RestProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        def _forward(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            if proxy.hang(self.path):
                proxy.hung += 1
                if proxy.stopping.wait(proxy.hang_seconds):
                    return
            headers = {
                k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")
            }
            # A new connection each time: a restarted target is reached, not a stale one.
            reply = requests.request(
                method, proxy.target + self.path, data=body, headers=headers, timeout=30
            )
            self.send_response(reply.status_code)
            self.send_header("Content-Type", reply.headers.get("Content-Type", "text/plain"))
            self.send_header("Content-Length", str(len(reply.content)))
            self.end_headers()
            self.wfile.write(reply.content)

        def do_GET(self) -> None:
            self._forward("GET")

        def do_POST(self) -> None:
            self._forward("POST")

    return Handler


@contextlib.contextmanager
def rest_proxy(target: str) -> Iterator[RestProxy]:
    proxy = RestProxy(target)
    with serve(_proxy_handler(proxy), name="rest-proxy") as url:
        proxy.url = url
        try:
            yield proxy
        finally:
            proxy.stopping.set()


def gaps(times: list[float], after: float = 0.0) -> float:
    """The longest time between consecutive entries of ``times`` later than ``after``."""
    later = sorted(t for t in times if t >= after)
    return max((b - a for a, b in itertools.pairwise(later)), default=0.0)
