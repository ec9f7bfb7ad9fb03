"""Logs, metrics, the per-element activity log and element health.

* Logging: one line per event, plain text or JSON lines; identifiers travel as fields
  (``log_event(logger, "poller added", process_id=..., element_id=...)``).
* Metrics: ``prometheus_client`` families (standard ``_total`` / ``_seconds`` names, process
  metrics) behind a small name-based facade, so call sites need no metric objects.
* Activity: per polling element, a short ring of recent events (polled, condition not met /
  met, published, errors) for ``/inbound`` and the status page.
* ``RateLimitedLog``: at most a burst of lines per window (floods of bad input).

The status port's HTTP server is :mod:`connector.status_server`.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import logging
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
from connector.redaction import RedactingFormatter

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


def json_fallback(value: Any) -> Any:
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
            text = value if isinstance(value, str) else json.dumps(value, default=json_fallback)
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
        return json.dumps(data, default=json_fallback)


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
