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
    #: path -> (status, content type, body) answered instead of the target's, or None
    override: Callable[[str], tuple[int, str, bytes] | None] = lambda _path: None
    #: (path, target's body) -> the body to answer
    rewrite: Callable[[str, bytes], bytes] = lambda _path, body: body
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
            own = proxy.override(self.path)
            if own is not None:
                self._send(own[0], own[1], own[2])
                return
            headers = {
                k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")
            }
            # A new connection each time: a restarted target is reached, not a stale one.
            reply = requests.request(
                method, proxy.target + self.path, data=body, headers=headers, timeout=30
            )
            content = proxy.rewrite(self.path, reply.content)
            self._send(reply.status_code, reply.headers.get("Content-Type", "text/plain"), content)

        def _send(self, status: int, content_type: str, content: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

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


def nested_definition(depth: int, process_id: str = "deep") -> str:
    """A process with sub-processes nested ``depth`` levels deep (too deep for recursion)."""
    inner = '<bpmn:startEvent id="S0"/>'
    for level in range(depth):
        inner = f'<bpmn:subProcess id="Sub{level}">{inner}</bpmn:subProcess>'
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="D" '
        'targetNamespace="http://bpmn.io/schema/bpmn">'
        f'<bpmn:process id="{process_id}" isExecutable="true">{inner}</bpmn:process>'
        "</bpmn:definitions>"
    )


def with_extra_definition(key: int, process_id: str) -> Callable[[str, bytes], bytes]:
    """A proxy ``rewrite`` listing one more (fake) definition in definition searches."""

    def rewrite(path: str, body: bytes) -> bytes:
        if not path.startswith("/v2/process-definitions/search"):
            return body
        data = json.loads(body)
        extra = {
            "processDefinitionKey": str(key),
            "processDefinitionId": process_id,
            "version": 1,
            "tenantId": "<default>",
        }
        data["items"] = [extra, *data.get("items", [])]
        return json.dumps(data).encode()

    return rewrite
