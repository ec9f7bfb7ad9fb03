"""Shared fixtures of the worker tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connector.devengine.server import DevEngine
from tests.worker.harness import Endpoint, serve_endpoint


@pytest.fixture
def anyio_backend() -> str:
    # Async tests run on asyncio through anyio's pytest plugin (anyio ships with pyzeebe).
    return "asyncio"


@pytest.fixture
def dev() -> Iterator[DevEngine]:
    """The development engine on free ports of 127.0.0.1, in a background thread."""
    with DevEngine.run_in_thread("127.0.0.1") as engine:
        yield engine


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    yield from serve_endpoint()
