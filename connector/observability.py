"""Logs, metrics, health and the ``/inbound`` status page.

* Logging: one line per event, plain text or JSON lines; identifiers travel as fields
  (``log_event(logger, "poller added", process_id=..., element_id=...)``).
* Metrics: ``prometheus_client`` families (standard ``_total`` / ``_seconds`` names, process
  metrics) behind a small name-based facade, so call sites need no metric objects.
* Activity: per polling element, a short ring of recent events (polled, condition not met /
  met, published, errors) for ``/inbound`` and the status page.
* HTTP: a small hardened asyncio server for ``/health/live``, ``/health/ready``,
  ``/metrics``, ``/inbound`` and the HTML status page ``/``. It only reads state through
  callables, so it never blocks the worker; connections, header size and read time are
  capped so that a flood of status clients cannot take the file descriptors polls need.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import datetime as dt
import functools
import hmac
import json
import logging
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import prometheus_client
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

from connector.feel.convert import json_default
from connector.redaction import RedactingFormatter, redact

FIELDS_ATTR = "fields"


# ---------------------------------------------------------------------------- logging


def log_event(
    logger: logging.Logger, message: str, level: int = logging.INFO, **fields: Any
) -> None:
    """Log ``message`` with structured ``fields`` (None values are dropped)."""
    if logger.isEnabledFor(level):
        clean = {k: v for k, v in fields.items() if v is not None}
        logger.log(level, message, extra={FIELDS_ATTR: clean})


def _timestamp(record: logging.LogRecord) -> str:
    return (
        dt.datetime.fromtimestamp(record.created, tz=dt.UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _json_default(value: Any) -> Any:
    """FEEL values as the value mapper renders them; anything else as its text."""
    try:
        return json_default(value)
    except TypeError:
        return str(value)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    value = getattr(record, FIELDS_ATTR, None)
    return dict(value) if isinstance(value, Mapping) else {}


class PlainFormatter(logging.Formatter):
    """``2026-01-01T00:00:00.000Z INFO  connector.worker poller added key=value ...``."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [_timestamp(record), f"{record.levelname:<5}", record.name, record.getMessage()]
        for key, value in _fields(record).items():
            text = value if isinstance(value, str) else json.dumps(value, default=_json_default)
            if isinstance(value, str) and (" " in value or not value):
                text = json.dumps(value)
            parts.append(f"{key}={text}")
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, then the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in _fields(record).items():
            data.setdefault(key, value)
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=_json_default)


def setup_logging(fmt: str = "plain", level: str = "INFO", stream: TextIO | None = None) -> None:
    """Configure the root logger once (replacing earlier handlers)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    formatter = JsonFormatter() if fmt == "json" else PlainFormatter()
    # Every line passes the one redaction point: no credential reaches the log.
    handler.setFormatter(RedactingFormatter(formatter))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Library chatter would drown the one-line-per-event log.
    for noisy in ("urllib3", "grpc", "asyncio", "pyzeebe"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


# ---------------------------------------------------------------------------- metrics

DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# ``*_created`` series double the output and no dashboard of this worker uses them.
prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]


class Metrics:
    """Counters, gauges and histograms by name, exposed through ``prometheus_client``.

    Call sites say ``metrics.inc("polls_total", outcome="not_met")``; the family is created
    on first use (label names from that first call) unless :meth:`declare` named it before.
    Each instance has its own registry, so tests and embedded workers never share series.
    """

    PREFIX = "http_polling_"

    def __init__(self, *, process_metrics: bool = True) -> None:
        self._lock = threading.Lock()
        self.registry = CollectorRegistry(auto_describe=True)
        self._declared: dict[str, tuple[str, str, Sequence[float]]] = {}
        self._families: dict[str, Counter | Gauge | Histogram] = {}
        self._labelnames: dict[str, tuple[str, ...]] = {}
        if process_metrics:
            # process_cpu_seconds_total, process_resident_memory_bytes, open fds, python_info.
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
        self._declare_defaults()

    def _declare_defaults(self) -> None:
        self.declare("pollers", "gauge", "Waiting element instances with an active poller.")
        self.declare("polls_total", "counter", "Polls by outcome.")
        self.declare("http_requests_total", "counter", "HTTP calls made to polled endpoints.")
        self.declare("http_request_duration_seconds", "histogram", "Latency of polled HTTP calls.")
        self.declare("correlations_total", "counter", "Messages published after activation.")
        self.declare("publish_failures_total", "counter", "Message publications that failed.")
        self.declare("discovery_duration_seconds", "histogram", "Duration of discovery cycles.")
        self.declare("discovery_requests_total", "counter", "REST requests made by discovery.")
        self.declare("discovery_failures_total", "counter", "Discovery cycles that failed.")
        self.declare("cluster_up", "gauge", "1 when the last discovery cycle succeeded.")
        self.declare("invalid_elements", "gauge", "Polling elements with configuration errors.")
        self.declare(
            "status_requests_rejected_total",
            "counter",
            "Status-port connections refused or closed: malformed, oversized, slow, evicted.",
        )
        self.declare(
            "discovery_repaired_total",
            "counter",
            "Waiting instances a full reconciliation found the incremental sync had missed.",
        )
        # Families that always have series (no labels) exist from the start, so a scrape
        # right after start-up already shows them at zero.
        for name in ("pollers", "cluster_up", "invalid_elements", "correlations_total"):
            self._family(name, ())
        for name in ("publish_failures_total", "http_requests_total"):
            self._family(name, ())
        for name in (
            "discovery_requests_total",
            "discovery_failures_total",
            "discovery_repaired_total",
        ):
            self._family(name, ())
        for name in ("http_request_duration_seconds", "discovery_duration_seconds"):
            self._family(name, ())
        self._family("polls_total", ("outcome",))
        self._family("status_requests_rejected_total", ("reason",))

    def declare(
        self, name: str, kind: str, help_text: str, buckets: Sequence[float] = DEFAULT_BUCKETS
    ) -> None:
        if kind not in ("counter", "gauge", "histogram"):
            raise ValueError(f"metric {name}: unknown kind {kind!r}")
        self._declared[name] = (kind, help_text, buckets)

    def _family(self, name: str, labelnames: tuple[str, ...]) -> Counter | Gauge | Histogram:
        with self._lock:
            family = self._families.get(name)
            if family is not None:
                return family
            kind, help_text, buckets = self._declared.get(
                name, ("counter" if name.endswith("_total") else "gauge", name, DEFAULT_BUCKETS)
            )
            full = self.PREFIX + name
            created: Counter | Gauge | Histogram
            if kind == "counter":
                created = Counter(full, help_text, labelnames, registry=self.registry)
            elif kind == "gauge":
                created = Gauge(full, help_text, labelnames, registry=self.registry)
            else:
                created = Histogram(
                    full, help_text, labelnames, registry=self.registry, buckets=buckets
                )
            self._families[name] = created
            self._labelnames[name] = labelnames
            return created

    def _series(self, name: str, labels: Mapping[str, str]) -> Any:
        family = self._family(name, tuple(sorted(labels)))
        return family.labels(**labels) if labels else family

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        self._series(name, labels).inc(amount)

    def series(self, name: str, **labels: str) -> Any:
        """One series, to keep and update directly where it changes on every poll (a
        lookup by name and labels costs several times the update itself)."""
        return self._series(name, labels)

    def set(self, name: str, value: float, **labels: str) -> None:
        self._series(name, labels).set(value)

    def gauge_function(self, name: str, fn: Callable[[], float]) -> None:
        """The gauge reads ``fn()`` at scrape time (a failing callback reads as NaN)."""

        def safe() -> float:
            try:
                return float(fn())
            except Exception:  # a status callback must never break /metrics
                return float("nan")

        gauge = self._family(name, ())
        assert isinstance(gauge, Gauge)
        gauge.set_function(safe)

    def observe(self, name: str, value: float, **labels: str) -> None:
        self._series(name, labels).observe(value)

    def value(self, name: str, **labels: str) -> float:
        """Current value of a counter or gauge series (0 if never touched); for tests."""
        full = self.PREFIX + name
        found = self.registry.get_sample_value(full, dict(labels))
        return 0.0 if found is None else float(found)

    def render(self) -> str:
        """Prometheus text exposition format 0.0.4."""
        return prometheus_client.generate_latest(self.registry).decode()


METRICS_CONTENT_TYPE = prometheus_client.CONTENT_TYPE_LATEST


# ---------------------------------------------------------------------------- activity

ACTIVITY_SIZE = 20


@dataclass(slots=True)
class Activity:
    """One event of a polling element, in the shape of Camunda's inbound activity log."""

    timestamp: float
    severity: str  # INFO | WARNING | ERROR
    tag: str
    message: str
    count: int = 1
    element_instance_key: str | None = None
    correlation_key: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "timestamp": iso_time(self.timestamp),
            "severity": self.severity,
            "tag": self.tag,
            "message": self.message,
            "count": self.count,
            "elementInstanceKey": self.element_instance_key,
            "correlationKey": self.correlation_key,
        }


class ActivityLog:
    """The last ``size`` events per element label, plus running counts; thread-safe.

    Consecutive events with the same severity, tag and message collapse into one with a
    count, so a thousand instances that all see "condition not met" do not push the one
    error out of the ring (the reference runtime's 100 "Polled url" lines do exactly that).
    """

    def __init__(self, size: int = ACTIVITY_SIZE) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._events: dict[str, collections.deque[Activity]] = {}
        self._counts: dict[str, collections.Counter[str]] = {}

    def record(
        self,
        element: str,
        tag: str,
        message: str,
        severity: str = "INFO",
        *,
        element_instance_key: int | str | None = None,
        correlation_key: str | None = None,
    ) -> None:
        now = time.time()
        instance = None if element_instance_key is None else str(element_instance_key)
        with self._lock:
            ring = self._events.get(element)
            if ring is None:
                ring = self._events[element] = collections.deque(maxlen=self._size)
                self._counts[element] = collections.Counter()
            self._counts[element][tag] += 1
            last = ring[-1] if ring else None
            if last is not None and (last.severity, last.tag, last.message) == (
                severity,
                tag,
                message,
            ):
                last.count += 1
                last.timestamp = now
                last.element_instance_key = instance
                last.correlation_key = correlation_key
                return
            ring.append(Activity(now, severity, tag, message, 1, instance, correlation_key))

    def events(self, element: str) -> list[dict[str, Any]]:
        """Newest first."""
        with self._lock:
            return [e.as_json() for e in reversed(self._events.get(element, ()))]

    def counts(self, element: str) -> dict[str, int]:
        with self._lock:
            return dict(self._counts.get(element, {}))

    def forget(self, keep: set[str]) -> None:
        """Drop elements no longer deployed (bounded memory across redeployments)."""
        with self._lock:
            for element in [e for e in self._events if e not in keep]:
                del self._events[element]
                del self._counts[element]


def iso_time(wall: float | None) -> str | None:
    if wall is None:
        return None
    return dt.datetime.fromtimestamp(wall, tz=dt.UTC).isoformat(timespec="milliseconds")


# Poll outcomes that are not failures (the rest are errors of some kind).
OK_OUTCOMES = frozenset({"activated", "not_met", "already_published", "ok"})


def element_health(element: Mapping[str, Any]) -> tuple[str, str | None]:
    """(OK | DEGRADED | INVALID, reason) of one ``/inbound`` element entry."""
    if element.get("status") == "INVALID":
        return "INVALID", str(element.get("error") or "invalid configuration")
    failing = [p for p in element.get("pollers", ()) if p.get("consecutiveFailures")]
    if failing:
        first = failing[0]
        reason = f"{len(failing)} of {len(element.get('pollers', ()))} instance(s) failing"
        if first.get("lastError"):
            reason += f": {first['lastError']}"
        return "DEGRADED", reason
    return "OK", None


# ---------------------------------------------------------------------------- redaction

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


class RateLimitedLog:
    """At most ``burst`` lines per ``window`` seconds; then one line saying how many were
    suppressed. A flood of bad status requests must not become a flood of log lines."""

    def __init__(
        self,
        logger: logging.Logger,
        burst: int = 10,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._burst = burst
        self._window = window
        self._clock = clock
        self._start = clock()
        self._used = 0
        self.suppressed = 0

    def emit(self, message: str, **fields: Any) -> bool:
        now = self._clock()
        if now - self._start >= self._window:
            if self.suppressed:
                log_event(
                    self._logger,
                    f"{message}: more suppressed",
                    logging.WARNING,
                    suppressed=self.suppressed,
                    window_seconds=self._window,
                )
            self._start, self._used, self.suppressed = now, 0, 0
        if self._used >= self._burst:
            self.suppressed += 1
            return False
        self._used += 1
        log_event(self._logger, message, logging.WARNING, **fields)
        return True


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
        doc = json.loads(redact(json.dumps(self._inbound(), default=_json_default)))
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
