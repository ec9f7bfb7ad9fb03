"""Optional auth on the gRPC gateway, and the foreground launcher ``server.main``."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
import requests
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pyzeebe import ZeebeClient
from pyzeebe.errors import UnknownGrpcStatusCodeError

from connector.devengine.rest import AuthConfig
from connector.devengine.server import DevEngine, DevEngineOptions


class _Metadata(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Adds an ``authorization`` header to every unary call."""

    def __init__(self, value: str) -> None:
        self._value = value

    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        metadata = [*(details.metadata or []), ("authorization", self._value)]
        details = grpc.aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )
        return await continuation(details, request)


@pytest.fixture
def secured() -> Iterator[DevEngine]:
    auth = AuthConfig(bearer_token="tok-123")
    with DevEngine.run_in_thread(options=DevEngineOptions(auth=auth)) as dev:
        yield dev


def topology(dev: DevEngine, authorization: str | None) -> Any:
    async def go() -> Any:
        interceptors = [] if authorization is None else [_Metadata(authorization)]
        channel = grpc.aio.insecure_channel(dev.grpc_address, interceptors=interceptors)
        try:
            return await ZeebeClient(channel).topology()
        finally:
            await channel.close()

    return asyncio.run(go())


def test_grpc_calls_need_the_token_when_auth_is_on(secured: DevEngine) -> None:
    with pytest.raises(UnknownGrpcStatusCodeError) as caught:
        topology(secured, None)
    cause = caught.value.grpc_error
    assert cause.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(UnknownGrpcStatusCodeError):
        topology(secured, "Bearer wrong")
    assert topology(secured, "Bearer tok-123").cluster_size == 1


def test_health_service_stays_open_without_credentials(secured: DevEngine) -> None:
    async def go() -> int:
        async with grpc.aio.insecure_channel(secured.grpc_address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            response = await stub.Check(health_pb2.HealthCheckRequest(service=""))
            return int(response.status)

    assert asyncio.run(go()) == health_pb2.HealthCheckResponse.SERVING


def test_main_runs_in_the_foreground_and_stops_on_sigterm() -> None:
    code = "import sys; from connector.devengine.server import main; sys.exit(main(sys.argv[1:]))"
    process = subprocess.Popen(
        [sys.executable, "-c", code, "--grpc-port", "0", "--rest-port", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    lines: list[str] = []
    started = threading.Event()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if "REST API on" in line:
                started.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert started.wait(30), "".join(lines)
        match = re.search(r"gRPC gateway on (\S+), REST API on (http://\S+) ", "".join(lines))
        assert match, "".join(lines)
        grpc_address, rest_url = match.groups()
        body = requests.get(f"{rest_url}/v2/topology", timeout=5).json()
        assert f"127.0.0.1:{body['brokers'][0]['port']}" == grpc_address
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    reader.join(timeout=5)
    assert any("stopped" in line for line in lines), "".join(lines)


def test_main_reports_a_port_in_use_with_exit_code_1() -> None:
    from connector.devengine.server import main

    with DevEngine.run_in_thread() as running:
        started = time.monotonic()
        assert main(["--grpc-port", "0", "--rest-port", str(running.rest_port)]) == 1
        assert time.monotonic() - started < 10
