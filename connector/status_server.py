"""The status port: a small hardened asyncio HTTP server for ``/health/live``,
``/health/ready``, ``/metrics``, ``/inbound`` and the HTML status page ``/``.

It only reads state through callables, so it never blocks the worker; connections, header
size and read time are capped so that a flood of status clients cannot take the file
descriptors polls need. Documents leave through :func:`redact_document` (no response
excerpts, no correlation keys unless asked for).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hmac
import json
import logging
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from connector.observability import (
    METRICS_CONTENT_TYPE,
    Metrics,
    RateLimitedLog,
    json_fallback,
)
from connector.redaction import redact

REDACTED = "(hidden)"
# Anywhere in the text: health reasons quote the error after their own words.
_STATUS_EXCERPT = re.compile(r"(HTTP \d{3}\b[^:]*?(?: from \S+?)?): .*$", re.DOTALL)
_TEXT_KEYS = frozenset({"lastError", "error", "message", "lastDiscoveryError", "reason"})
_KEY_KEYS = frozenset({"correlationKey"})


def hide_excerpt(text: str) -> str:
    """``HTTP 500 Server Error from URL: <body>`` without the body excerpt."""
    return _STATUS_EXCERPT.sub(r"\1: (response body hidden)", text)


def redact_document(value: Any) -> Any:
    """The status document without correlation keys (often e-mail addresses or customer
    ids) and without response-body excerpts; what the status port shows by default."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key in _KEY_KEYS and item is not None:
                out[key] = REDACTED
            elif key in _TEXT_KEYS and isinstance(item, str):
                out[key] = hide_excerpt(item)
            else:
                out[key] = redact_document(item)
        return out
    if isinstance(value, list | tuple):
        return [redact_document(v) for v in value]
    return value


# ---------------------------------------------------------------------------- HTTP status


@dataclass(frozen=True)
class StatusLimits:
    """Bounds of the status port (its file descriptors are taken from the polls' budget)."""

    max_connections: int = 64
    max_header_bytes: int = 8192
    read_timeout: float = 5.0  # for the whole request head, not per read (slow clients)
    write_timeout: float = 10.0


@dataclass(frozen=True)
class StatusAuth:
    """Optional protection of ``/``, ``/inbound`` and ``/metrics`` (probes stay open)."""

    token: str | None = None
    basic: str | None = None  # "user:password"

    @property
    def enabled(self) -> bool:
        return bool(self.token or self.basic)

    def allows(self, authorization: str | None) -> bool:
        if not self.enabled:
            return True
        if not authorization:
            return False
        scheme, _, value = authorization.strip().partition(" ")
        value = value.strip()
        if self.token and scheme.lower() == "bearer":
            return hmac.compare_digest(value.encode(), self.token.encode())
        if self.basic and scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(value, validate=True)
            except ValueError:
                return False
            return hmac.compare_digest(decoded, self.basic.encode())
        return False

    def challenge(self) -> str:
        return 'Basic realm="http-polling-connector"' if self.basic else "Bearer"


class BadRequest(Exception):
    """A malformed status request; the message is safe to log (no request content)."""


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}
_PUBLIC_PATHS = frozenset({"/health/live", "/health/ready"})


def parse_request_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    """(method, target, lower-cased headers) of an HTTP/1.x request head; BadRequest else."""
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        raise BadRequest("undecodable request") from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest("malformed request line")
    method, target, _ = parts
    if not method.isalpha() or not target.startswith("/"):
        raise BadRequest("malformed request line")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest("malformed header line")
        headers[name.lower()] = value.strip()
    return method, target, headers


class _Connection:
    __slots__ = ("reading", "writer")

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.reading = True


class StatusServer:
    """The status port: probes, metrics, ``/inbound`` and the HTML page (GET/HEAD only).

    Kept in-house rather than taking a web framework: it serves five read-only routes, and
    its safety needs (a hard cap on open connections with eviction of idle ones, a deadline
    for the whole request head, a header size cap, one rate-limited log line per bad
    request, never a traceback) are a few dozen lines here, while a framework would add
    several dependencies and still need most of this around it.
    """

    def __init__(
        self,
        metrics: Metrics,
        ready: Callable[[], bool],
        inbound: Callable[[], Any],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        limits: StatusLimits | None = None,
        auth: StatusAuth | None = None,
        show_details: bool = False,
        page: Callable[[Mapping[str, Any]], str] | None = None,
    ) -> None:
        self._metrics = metrics
        self._ready = ready
        self._inbound = inbound
        self._host = host
        self._port = port
        self._limits = limits or StatusLimits()
        self._auth = auth or StatusAuth()
        self._show_details = show_details
        self._page = page
        self._socket: socket.socket | None = None
        self._acceptor: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._connections: dict[_Connection, None] = {}  # insertion order = age
        self._log = logging.getLogger(__name__)
        self.rejections = RateLimitedLog(self._log)

    @property
    def port(self) -> int:
        if self._socket is None:
            raise RuntimeError("server not started")
        return int(self._socket.getsockname()[1])

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    async def start(self) -> None:
        family = socket.getaddrinfo(self._host, self._port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.create_server(
            (self._host, self._port), family=family, backlog=self._limits.max_connections
        )
        sock.setblocking(False)
        self._socket = sock
        self._acceptor = asyncio.ensure_future(self._accept_loop(sock))

    async def stop(self) -> None:
        if self._acceptor is not None:
            self._acceptor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._acceptor
            self._acceptor = None
        for connection in list(self._connections):
            connection.writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    async def _accept_loop(self, sock: socket.socket) -> None:
        """Accept one connection at a time and make room for it *before* the next accept.

        asyncio's own server accepts a backlog's worth at once and runs the handlers later,
        so under CPU load a flood of idle clients gets far past any cap enforced in the
        handler; here the count is exact at every accept.
        """
        loop = asyncio.get_running_loop()
        while True:
            try:
                client, _ = await loop.sock_accept(sock)
            except asyncio.CancelledError:
                raise
            except OSError as exc:  # EMFILE and friends: back off instead of spinning
                self._reject("accept", f"accept failed: {exc.strerror or exc}")
                await asyncio.sleep(0.1)
                continue
            if not self._make_room():
                self._reject("busy", "too many status connections")
                client.close()
                continue
            reader = asyncio.StreamReader(limit=self._limits.max_header_bytes)
            protocol = asyncio.StreamReaderProtocol(reader)
            try:
                transport, _ = await loop.connect_accepted_socket(
                    functools.partial(_same, protocol), client
                )
            except OSError:
                client.close()
                continue
            writer = asyncio.StreamWriter(transport, protocol, reader, loop)
            connection = _Connection(writer)
            self._connections[connection] = None
            task = asyncio.ensure_future(self._handle(connection, reader))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def document(self) -> Any:
        """The ``/inbound`` document as this port shows it: credentials always scrubbed
        (the one redaction point), correlation keys and bodies hidden unless enabled."""
        doc = json.loads(redact(json.dumps(self._inbound(), default=json_fallback)))
        return doc if self._show_details else redact_document(doc)

    def route(self, path: str) -> tuple[int, str, bytes]:
        """(status, content type, body) for a GET of ``path``; pure, easy to test."""
        path = path.split("?", 1)[0].rstrip("/") or "/"
        if path == "/health/live":
            return 200, "application/json", b'{"status":"UP"}'
        if path == "/health/ready":
            ok = self._ready()
            body = json.dumps({"status": "UP" if ok else "DOWN"}).encode()
            return (200 if ok else 503), "application/json", body
        if path == "/metrics":
            return 200, METRICS_CONTENT_TYPE, self._metrics.render().encode()
        if path == "/inbound":
            body = json.dumps(self.document(), default=str).encode()
            return 200, "application/json", body
        if path == "/" and self._page is not None:
            return 200, "text/html; charset=utf-8", self._page(self.document()).encode()
        return 404, "application/json", b'{"status":404,"title":"Not Found"}'

    def _make_room(self) -> bool:
        """Room for one more connection: evict the oldest one still reading its request."""
        if len(self._connections) < self._limits.max_connections:
            return True
        victim = next((c for c in self._connections if c.reading), None)
        if victim is None:  # every slot is busy writing: refuse the newcomer instead
            return False
        self._reject("evicted", "too many status connections; closed the oldest idle one")
        self._connections.pop(victim, None)
        victim.writer.transport.abort()
        return True

    def _reject(self, reason: str, message: str, peer: str | None = None) -> None:
        self._metrics.inc("status_requests_rejected_total", reason=reason)
        self.rejections.emit("status request rejected", reason=reason, detail=message, peer=peer)

    async def _handle(self, connection: _Connection, reader: asyncio.StreamReader) -> None:
        writer = connection.writer
        peer = _peer(writer)
        try:
            try:
                async with asyncio.timeout(self._limits.read_timeout):
                    head = await reader.readuntil(b"\r\n\r\n")
                method, target, headers = parse_request_head(head[:-4])
            except TimeoutError:
                self._reject("timeout", "request head not received in time", peer)
                return
            except asyncio.LimitOverrunError:
                self._reject("too_large", "request head too large", peer)
                await self._respond(connection, 431, "text/plain", b"request head too large")
                return
            except asyncio.IncompleteReadError as exc:
                if exc.partial:  # a bare connect-and-close (port check) is not worth a line
                    self._reject("incomplete", "connection closed mid-request", peer)
                return
            except BadRequest as exc:
                self._reject("malformed", str(exc), peer)
                await self._respond(connection, 400, "text/plain", b"bad request")
                return
            await self._serve(connection, method, target, headers)
        except (ConnectionError, TimeoutError, asyncio.CancelledError):
            pass
        except Exception as exc:  # never a traceback per request, never disturb the worker
            self._reject("error", f"{type(exc).__name__} while answering", peer)
        finally:
            self._connections.pop(connection, None)
            writer.close()

    async def _serve(
        self, connection: _Connection, method: str, target: str, headers: Mapping[str, str]
    ) -> None:
        if method not in ("GET", "HEAD"):
            await self._respond(connection, 405, "text/plain", b"method not allowed")
            return
        path = target.split("?", 1)[0].rstrip("/") or "/"
        if path not in _PUBLIC_PATHS and not self._auth.allows(headers.get("authorization")):
            extra = {"WWW-Authenticate": self._auth.challenge()}
            await self._respond(connection, 401, "text/plain", b"unauthorized", extra)
            return
        status, ctype, body = self.route(target)
        await self._respond(connection, status, ctype, b"" if method == "HEAD" else body)

    async def _respond(
        self,
        connection: _Connection,
        status: int,
        ctype: str,
        body: bytes,
        extra: Mapping[str, str] | None = None,
    ) -> None:
        connection.reading = False
        lines = [
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}",
            f"Content-Type: {ctype}",
            f"Content-Length: {len(body)}",
            "Cache-Control: no-store",
            "X-Content-Type-Options: nosniff",
            "Connection: close",
        ]
        lines += [f"{k}: {v}" for k, v in (extra or {}).items()]
        connection.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        async with asyncio.timeout(self._limits.write_timeout):
            await connection.writer.drain()


def _same(protocol: asyncio.StreamReaderProtocol) -> asyncio.StreamReaderProtocol:
    return protocol


def _peer(writer: asyncio.StreamWriter) -> str | None:
    info = writer.get_extra_info("peername")
    if isinstance(info, tuple) and len(info) >= 2:
        return f"{info[0]}:{info[1]}"
    return None
