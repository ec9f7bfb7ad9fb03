"""Logs, metrics, health and the ``/inbound`` status page.

* Logging: one line per event, plain text or JSON lines; identifiers travel as fields
  (``log_event(logger, "poller added", process_id=..., element_id=...)``).
* Metrics: a tiny in-process registry rendered as Prometheus text (no extra dependency).
* HTTP: an optional asyncio server with ``/health/live``, ``/health/ready``, ``/metrics``
  and ``/inbound``; it only reads state through callables, so it never blocks the worker.
"""

from __future__ import annotations

import asyncio
import bisect
import datetime as dt
import json
import logging
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from connector.feel.convert import json_default

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
    handler.setFormatter(JsonFormatter() if fmt == "json" else PlainFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Library chatter would drown the one-line-per-event log.
    for noisy in ("urllib3", "grpc", "asyncio", "pyzeebe"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


# ---------------------------------------------------------------------------- metrics

Labels = tuple[tuple[str, str], ...]

DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def _labels(labels: Mapping[str, str]) -> Labels:
    return tuple(sorted(labels.items()))


def _render_labels(labels: Labels, extra: Sequence[tuple[str, str]] = ()) -> str:
    items = list(labels) + list(extra)
    if not items:
        return ""
    body = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in items
    )
    return "{" + body + "}"


class Histogram:
    def __init__(self, buckets: Sequence[float]) -> None:
        self.buckets = tuple(buckets)
        self.counts = [0] * len(self.buckets)
        self.total = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        index = bisect.bisect_left(self.buckets, value)
        if index < len(self.counts):
            self.counts[index] += 1
        self.total += 1
        self.sum += value


class Metrics:
    """Counters, gauges and histograms; thread-safe; rendered as Prometheus text 0.0.4."""

    PREFIX = "http_polling_"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._help: dict[str, tuple[str, str]] = {}
        self._counters: dict[str, dict[Labels, float]] = {}
        self._gauges: dict[str, dict[Labels, float]] = {}
        self._gauge_fns: dict[str, Callable[[], float]] = {}
        self._hists: dict[str, dict[Labels, Histogram]] = {}
        self._buckets: dict[str, Sequence[float]] = {}
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

    def declare(
        self, name: str, kind: str, help_text: str, buckets: Sequence[float] = DEFAULT_BUCKETS
    ) -> None:
        self._help[name] = (kind, help_text)
        if kind == "histogram":
            self._buckets[name] = buckets

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = _labels(labels)
        with self._lock:
            series = self._counters.setdefault(name, {})
            series[key] = series.get(key, 0.0) + amount

    def set(self, name: str, value: float, **labels: str) -> None:
        with self._lock:
            self._gauges.setdefault(name, {})[_labels(labels)] = value

    def gauge_function(self, name: str, fn: Callable[[], float]) -> None:
        self._gauge_fns[name] = fn

    def observe(self, name: str, value: float, **labels: str) -> None:
        key = _labels(labels)
        with self._lock:
            series = self._hists.setdefault(name, {})
            hist = series.get(key)
            if hist is None:
                hist = series[key] = Histogram(self._buckets.get(name, DEFAULT_BUCKETS))
            hist.observe(value)

    def value(self, name: str, **labels: str) -> float:
        """Current value of a counter or gauge series (0 if never touched); for tests."""
        key = _labels(labels)
        with self._lock:
            if name in self._gauge_fns:
                return float(self._gauge_fns[name]())
            for table in (self._counters, self._gauges):
                if name in table and key in table[name]:
                    return table[name][key]
        return 0.0

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            gauges = {k: dict(v) for k, v in self._gauges.items()}
            for name, fn in self._gauge_fns.items():
                try:
                    gauges[name] = {(): float(fn())}
                except Exception:  # a status callback must never break /metrics
                    continue
            for name, (kind, help_text) in self._help.items():
                full = self.PREFIX + name
                lines.append(f"# HELP {full} {help_text}")
                lines.append(f"# TYPE {full} {kind}")
                if kind == "counter":
                    for labels, value in sorted(self._counters.get(name, {}).items()):
                        lines.append(f"{full}{_render_labels(labels)} {value:g}")
                elif kind == "gauge":
                    for labels, value in sorted(gauges.get(name, {}).items()):
                        lines.append(f"{full}{_render_labels(labels)} {value:g}")
                else:
                    for labels, hist in sorted(self._hists.get(name, {}).items()):
                        cumulative = 0
                        for bound, count in zip(hist.buckets, hist.counts, strict=True):
                            cumulative += count
                            le = _render_labels(labels, [("le", f"{bound:g}")])
                            lines.append(f"{full}_bucket{le} {cumulative}")
                        inf = _render_labels(labels, [("le", "+Inf")])
                        lines.append(f"{full}_bucket{inf} {hist.total}")
                        lines.append(f"{full}_sum{_render_labels(labels)} {hist.sum:g}")
                        lines.append(f"{full}_count{_render_labels(labels)} {hist.total}")
        return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- HTTP status


class StatusServer:
    """Minimal HTTP/1.1 server for probes, metrics and the inbound status (GET only)."""

    def __init__(
        self,
        metrics: Metrics,
        ready: Callable[[], bool],
        inbound: Callable[[], Any],
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._metrics = metrics
        self._ready = ready
        self._inbound = inbound
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("server not started")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self._host, self._port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

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
            return 200, "text/plain; version=0.0.4; charset=utf-8", self._metrics.render().encode()
        if path == "/inbound":
            body = json.dumps(self._inbound(), default=_json_default).encode()
            return 200, "application/json", body
        return 404, "application/json", b'{"status":404,"title":"Not Found"}'

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), timeout=10)
            while True:  # drain headers; bodies are not used
                line = await asyncio.wait_for(reader.readline(), timeout=10)
                if line in (b"\r\n", b"\n", b""):
                    break
            parts = request_line.decode("latin-1").split()
            if len(parts) < 2:
                status, ctype, body = 400, "text/plain", b"bad request"
            elif parts[0] not in ("GET", "HEAD"):
                status, ctype, body = 405, "text/plain", b"method not allowed"
            else:
                status, ctype, body = self.route(parts[1])
                if parts[0] == "HEAD":
                    body = b""
            reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
            head = (
                f"HTTP/1.1 {status} {reason.get(status, 'Service Unavailable')}\r\n"
                f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        except Exception:  # never let a status request disturb the worker
            logging.getLogger(__name__).exception("status request failed")
        finally:
            writer.close()
