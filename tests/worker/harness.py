"""End-to-end harness: a local HTTP endpoint and the worker CLI as a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from connector.jsonendpoint import JsonHandler, serve

ROOT = Path(__file__).resolve().parents[2]


def until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s")
        time.sleep(0.02)


@dataclass
class Hit:
    at: float
    path: str
    headers: dict[str, str]


@dataclass
class Endpoint:
    """A local HTTP server answering JSON per path; records every request."""

    responses: dict[str, tuple[int, Any, dict[str, str]]] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def set(
        self, path: str, body: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> None:
        with self.lock:
            self.responses[path] = (status, body, headers or {})

    def hits_for(self, path: str) -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if h.path == path]

    def answer(self, path: str, headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        with self.lock:
            self.hits.append(Hit(time.monotonic(), path, headers))
            return self.responses.get(path, (404, {"error": "unknown"}, {}))


def _handler(endpoint: Endpoint) -> type[JsonHandler]:
    class Handler(JsonHandler):
        def do_GET(self) -> None:
            status, body, extra = endpoint.answer(self.path, dict(self.headers.items()))
            self.send_json(status, body, extra)

    return Handler


def serve_endpoint() -> Iterator[Endpoint]:
    endpoint = Endpoint()
    with serve(_handler(endpoint)) as url:
        endpoint.url = url
        yield endpoint


class WorkerProcess:
    """``python -m connector.cli run`` with JSON logs collected from stderr."""

    def __init__(
        self,
        grpc: str,
        rest: str,
        *extra: str,
        discovery: float = 0.2,
        env: dict[str, str] | None = None,
    ) -> None:
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("CAMUNDA_", "ZEEBE_"))}
        environ["PYTHONUNBUFFERED"] = "1"
        environ.update(env or {})
        args = [
            sys.executable,
            "-m",
            "connector.cli",
            "run",
            "--grpc-address",
            grpc,
            "--rest-address",
            rest,
            "--discovery-interval",
            str(discovery),
            "--http-port",
            "0",
            "--log-format",
            "json",
            "--shutdown-grace",
            "3",
            # The tests poll fast on purpose (the default floor is 1 s).
            "--min-poll-interval",
            "0.05",
            *extra,
        ]
        self.proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=environ,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.records: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            record = self.wait_log(lambda r: r.get("message") == "status server listening", 20)
        except BaseException:
            self.proc.kill()  # never leave a stray worker behind a failed start
            self.proc.wait()
            raise
        self.port = int(record["port"])

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._lock:
                self.raw.append(line)
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict):
                    self.records.append(record)

    def logs(self, message: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.records if message is None or r.get("message") == message]

    def wait_log(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0
    ) -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            if self.proc.poll() is not None and not self._reader.is_alive():
                raise AssertionError("worker exited early:\n" + "".join(self.raw[-30:]))
            return next((r for r in self.logs() if predicate(r)), None)

        result: dict[str, Any] = until(find, timeout, "log record")
        return result

    def inbound(self) -> dict[str, Any]:
        reply = requests.get(f"http://127.0.0.1:{self.port}/inbound", timeout=5)
        reply.raise_for_status()
        data: dict[str, Any] = reply.json()
        return data

    def get(self, path: str) -> requests.Response:
        return requests.get(f"http://127.0.0.1:{self.port}{path}", timeout=5)

    def poller_keys(self) -> set[str]:
        return {
            p["elementInstanceKey"]
            for element in self.inbound()["elements"]
            for p in element.get("pollers", [])
        }

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("worker did not stop after SIGTERM") from None
        self._reader.join(5)
        return code
