"""Worker pieces without a cluster: variable needs, batched variable loading."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any

import pytest

from connector.discovery import WaitingInstance
from connector.elements import load_elements
from connector.worker import VariableLoader
from tests.worker.bpmn_builder import catch_process, polling_properties

pytestmark = pytest.mark.anyio


def _config(url: str, **kwargs: Any) -> Any:
    configs, errors = load_elements(catch_process("p", polling_properties(url, **kwargs)))
    assert not errors, errors
    return configs[0]


def test_needs_variables() -> None:
    assert _config('=base + "/x"').needs_variables
    assert not _config("http://127.0.0.1/x").needs_variables
    assert _config("http://127.0.0.1/x", correlation="=orderId").needs_variables
    assert not _config("http://127.0.0.1/x", condition="=status = 200").needs_variables
    # names inside strings, function names and context keys are not variables
    quoted = _config('="http://h/" + "status"', condition="={base: 1}.base = 1")
    assert not quoted.needs_variables


def _instance(n: int) -> WaitingInstance:
    return WaitingInstance(n, n, 1, "p", "Wait", "m", None, None, _config("http://x/"))


async def test_variable_loader_merges_concurrent_requests() -> None:
    calls: list[int] = []
    gate = threading.Event()

    def fetch(instances: list[WaitingInstance]) -> dict[tuple[int, str], dict[str, Any]]:
        gate.wait(5)
        calls.append(len(instances))
        return {i.key: {"n": i.element_instance_key} for i in instances}

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        loader = VariableLoader(fetch, pool, parallel=1)
        first = asyncio.ensure_future(loader.load([_instance(0)]))
        await asyncio.sleep(0.05)  # the first fetch is now running and blocked
        rest = [asyncio.ensure_future(loader.load([_instance(n)])) for n in range(1, 30)]
        gate.set()
        results = await asyncio.gather(first, *rest)
    assert calls == [1, 29]  # everything that queued up went in one fetch
    assert results[5][(5, "Wait")] == {"n": 5}


async def test_variable_loader_propagates_errors() -> None:
    def fetch(instances: list[WaitingInstance]) -> dict[tuple[int, str], dict[str, Any]]:
        raise RuntimeError("cluster down")

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        loader = VariableLoader(fetch, pool)
        with pytest.raises(RuntimeError, match="cluster down"):
            await loader.load([_instance(1)])
        with pytest.raises(RuntimeError):
            await loader.load([_instance(2)])  # and the loader keeps working afterwards
