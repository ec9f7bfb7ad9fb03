"""Shared fixtures of the worker tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connector.devengine.contract import DEFAULT_VERSION, VERSIONS, request_violations
from connector.devengine.server import DevEngine, DevEngineOptions
from tests.worker.harness import Endpoint, serve_endpoint


@pytest.fixture
def anyio_backend() -> str:
    # Async tests run on asyncio through anyio's pytest plugin (anyio ships with pyzeebe).
    return "asyncio"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # The end-to-end tests run against every emulated Camunda version.
    if "dev" in metafunc.fixturenames and metafunc.module.__name__.split(".")[-1].startswith(
        "test_e2e"
    ):
        metafunc.parametrize("dev", VERSIONS, indirect=True)


@pytest.fixture
def dev(request: pytest.FixtureRequest) -> Iterator[DevEngine]:
    """The development engine on free ports of 127.0.0.1, in a background thread (the 8.8
    contract unless parametrized). Every REST request made during the test must be one that
    every supported Camunda version accepts."""
    version = getattr(request, "param", DEFAULT_VERSION)
    options = DevEngineOptions(camunda_version=version)
    with DevEngine.run_in_thread("127.0.0.1", options=options) as engine:
        recorded = engine.rest_api.recorded = []
        yield engine
    problems = [
        problem
        for method, path, body, accept in recorded
        for other in VERSIONS
        for problem in request_violations(other, method, path, body, accept)
    ]
    assert problems == [], problems


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    yield from serve_endpoint()
