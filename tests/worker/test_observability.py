"""Log formats, Prometheus text and the status HTTP server (real sockets on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest

from connector.observability import Metrics, log_event, setup_logging
from connector.status_server import StatusServer

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _restore_root_logger() -> object:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield None
    root.handlers[:] = handlers
    root.setLevel(level)


def _capture(fmt: str) -> tuple[io.StringIO, logging.Logger]:
    stream = io.StringIO()
    setup_logging(fmt, "INFO", stream=stream)
    return stream, logging.getLogger("connector.test")


def test_json_lines_carry_fields() -> None:
    stream, logger = _capture("json")
    log_event(logger, "poller added", process_id="order", element_instance_key="42", gone=None)
    record = json.loads(stream.getvalue().strip())
    assert record["message"] == "poller added"
    assert record["level"] == "INFO"
    assert record["process_id"] == "order"
    assert record["element_instance_key"] == "42"
    assert "gone" not in record


def test_plain_lines_carry_fields() -> None:
    stream, logger = _capture("plain")
    log_event(logger, "poll failed", logging.WARNING, reason="HTTP 500 Server Error")
    line = stream.getvalue().strip()
    assert " WARNING connector.test poll failed " in line.replace("WARNING ", "WARNING ")
    assert 'reason="HTTP 500 Server Error"' in line


def test_prometheus_text() -> None:
    metrics = Metrics()
    metrics.inc("polls_total", outcome="not_met")
    metrics.inc("polls_total", outcome="not_met")
    metrics.observe("http_request_duration_seconds", 0.02)
    metrics.observe("http_request_duration_seconds", 3.0)
    metrics.gauge_function("pollers", lambda: 7)
    text = metrics.render()
    assert 'http_polling_polls_total{outcome="not_met"} 2' in text
    assert "# TYPE http_polling_http_request_duration_seconds histogram" in text
    assert 'http_polling_http_request_duration_seconds_bucket{le="0.025"} 1' in text
    assert 'http_polling_http_request_duration_seconds_bucket{le="+Inf"} 2' in text
    assert "http_polling_http_request_duration_seconds_count 2" in text
    assert "http_polling_pollers 7" in text
    assert metrics.value("polls_total", outcome="not_met") == 2


async def _get(port: int, path: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


async def test_status_server_endpoints() -> None:
    state = {"ready": False}
    metrics = Metrics()
    server = StatusServer(
        metrics, ready=lambda: state["ready"], inbound=lambda: {"elements": []}, port=0
    )
    await server.start()
    try:
        assert await _get(server.port, "/health/live") == (200, b'{"status":"UP"}')
        status, _ = await _get(server.port, "/health/ready")
        assert status == 503
        state["ready"] = True
        status, _ = await _get(server.port, "/health/ready")
        assert status == 200
        status, body = await _get(server.port, "/metrics")
        assert status == 200 and b"# TYPE http_polling_pollers gauge" in body
        status, body = await _get(server.port, "/inbound")
        assert status == 200 and json.loads(body) == {"elements": []}
        status, _ = await _get(server.port, "/nope")
        assert status == 404
    finally:
        await server.stop()


def test_prometheus_client_exposition_keeps_names_and_adds_process_metrics() -> None:
    metrics = Metrics()
    metrics.inc("polls_total", outcome="activated")
    metrics.inc("discovery_requests_total", 3.0)
    metrics.gauge_function("pollers", lambda: 1 / 0)  # a broken callback never breaks a scrape
    text = metrics.render()
    for name in (
        "http_polling_pollers",
        "http_polling_polls_total",
        "http_polling_http_requests_total",
        "http_polling_http_request_duration_seconds",
        "http_polling_correlations_total",
        "http_polling_publish_failures_total",
        "http_polling_discovery_duration_seconds",
        "http_polling_discovery_requests_total",
        "http_polling_discovery_failures_total",
        "http_polling_cluster_up",
        "http_polling_invalid_elements",
        "http_polling_status_requests_rejected_total",
    ):
        assert f"# HELP {name} " in text, name
    assert "http_polling_discovery_requests_total 3.0" in text
    assert "http_polling_pollers NaN" in text
    assert "process_resident_memory_bytes " in text and "process_open_fds " in text
    assert "python_info{" in text
    assert "_created" not in text
    # Series that exist from the start read 0 before anything happened.
    assert "http_polling_correlations_total 0.0" in text
