"""The status page in a real headless browser (Debian's ``chromium``) against a running worker.

Three processes on the embedded engine: one healthy (its endpoint answers, the condition is
not met yet), one failing (its endpoint answers 500) and one invalid (a bad interval). The
rendered DOM must show each with its health, and a screenshot is kept as a test artifact
(``build/test-artifacts/status-page.png``; ``docs/status-page.png`` is a copy of one).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest

from connector.devengine.server import DevEngine
from tests.worker.bpmn_builder import catch_process, polling_properties
from tests.worker.harness import ROOT, Endpoint, WorkerProcess, serve_endpoint, until

ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", ROOT / "build" / "test-artifacts"))


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI") == "true":  # CI installs it (.ci/run): never skip there
        pytest.fail("chromium is not installed (apt-get install chromium)")
    pytest.skip("chromium is not installed")


def _browse(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as profile:
        command = [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            *args,
            url,
        ]
        return subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)


def _text(dom: str) -> str:
    """The page's visible text, whitespace collapsed."""
    body = re.sub(r"(?s)<(style|script)[^>]*>.*?</\1>", " ", dom)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", body)))


@pytest.fixture
def dev() -> Iterator[DevEngine]:
    with DevEngine.run_in_thread("127.0.0.1") as engine:
        yield engine


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    yield from serve_endpoint()


def test_status_page_in_chromium(dev: DevEngine, endpoint: Endpoint) -> None:
    _chromium()
    healthy = polling_properties('=base + "/healthy/" + id', interval="PT0.3S")
    failing = polling_properties('=base + "/failing/" + id', interval="PT0.3S")
    invalid = polling_properties('=base + "/invalid/" + id', interval="every now and then")
    dev.engine.deploy(
        [
            ("healthy.bpmn", catch_process("healthy-orders", healthy).encode()),
            ("failing.bpmn", catch_process("failing-orders", failing).encode()),
            ("invalid.bpmn", catch_process("invalid-orders", invalid).encode()),
        ]
    )
    endpoint.set("/healthy/A-1", {"id": "A-1", "status": "waiting"})
    endpoint.set("/failing/B-1", {"error": "database unavailable"}, status=500)
    for process, key in (("healthy-orders", "A-1"), ("failing-orders", "B-1")):
        dev.engine.create_process_instance(process, variables={"base": endpoint.url, "id": key})
    dev.engine.create_process_instance("invalid-orders", variables={"base": endpoint.url})
    worker = WorkerProcess(dev.grpc_address, dev.rest_url)
    try:

        def settled() -> bool:
            elements = worker.inbound()["elements"]
            states = {e["processDefinitionId"]: e["health"]["state"] for e in elements}
            polled = all(e.get("logs") for e in elements if e["status"] == "ACTIVE")
            return polled and states == {
                "healthy-orders": "OK",
                "failing-orders": "DEGRADED",
                "invalid-orders": "INVALID",
            }

        until(settled, timeout=30, what="three elements with their health")
        # /inbound shows the same data, with the failing endpoint's body hidden everywhere.
        assert "database unavailable" not in json.dumps(worker.inbound())
        url = f"http://127.0.0.1:{worker.port}/"
        result = _browse(url, "--dump-dom")
        assert result.returncode == 0, result.stderr[-2000:]
        text = _text(result.stdout)
        assert "HTTP polling connector" in text
        healthy_part = text[text.index("healthy-orders") :]
        assert re.search(r"healthy-orders v1 · Wait \(Wait for done\) OK", text), text
        assert "polled: HTTP 200, activation condition not met" in healthy_part
        assert re.search(r"failing-orders v1 · Wait \(Wait for done\) DEGRADED", text), text
        assert "1 of 1 instance(s) failing: HTTP 500" in text
        assert "(response body hidden)" in text and "database unavailable" not in text
        assert re.search(r"invalid-orders v1 · Wait INVALID", text), text
        assert "httpRequestInterval" in text
        assert "waiting instances" in text and "correlations" in text

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "status-page.png"
        shot.unlink(missing_ok=True)
        result = _browse(url, f"--screenshot={shot}", "--window-size=1100,1300")
        assert result.returncode == 0, result.stderr[-2000:]
        assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        assert worker.stop() == 0
