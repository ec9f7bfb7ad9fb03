"""Worker pieces without a cluster: variable needs, batched variable loading."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from typing import Any

import pytest

from connector.config import Settings
from connector.discovery import WaitingInstance
from connector.elements import load_elements
from connector.pipeline import same_value
from connector.scheduler import Prepared
from connector.variables import VariableLoader
from connector.worker import Worker
from tests.helpers.bpmn import catch_process, polling_properties

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
    running = threading.Event()

    def fetch(instances: list[WaitingInstance]) -> dict[tuple[int, str], dict[str, Any]]:
        running.set()
        gate.wait(5)
        calls.append(len(instances))
        return {i.key: {"n": i.element_instance_key} for i in instances}

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        loader = VariableLoader(fetch, pool, parallel=1)
        first = asyncio.ensure_future(loader.load([_instance(0)]))
        deadline = time.monotonic() + 5
        while not running.is_set():  # the first fetch is now running and blocked
            assert time.monotonic() < deadline, "the first fetch never started"
            await asyncio.sleep(0.001)
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


def _worker() -> Worker:
    # Nothing is contacted before run(): the addresses only have to be well-formed.
    return Worker(Settings(grpc_address="127.0.0.1:9", rest_address="http://127.0.0.1:9"))


def _request(result: Any) -> Any:
    assert isinstance(result, Prepared), result
    return result.request


def test_a_bound_request_is_reused_while_its_inputs_hold() -> None:
    worker = _worker()
    config = _config('=base + "/items/" + id', correlation="=body.id + suffix")
    target = WaitingInstance(7, 7, 1, "p", "Wait", "m", None, None, config)
    scope = {"base": "http://127.0.0.1:9", "id": "a", "suffix": "-1"}
    try:
        [first] = worker.pipeline.bind_all([target], {target.key: scope}, None)
        # A variable only the correlation reads changed: same request, new context.
        changed = {**scope, "suffix": "-2"}
        [second] = worker.pipeline.bind_all([target], {target.key: changed}, None)
        assert _request(second) is _request(first)
        assert isinstance(second, Prepared) and second.context == changed
        # A variable the request reads changed: bound afresh.
        [third] = worker.pipeline.bind_all([target], {target.key: {**changed, "id": "b"}}, None)
        assert _request(third).url.endswith("/items/b")
        # Equal in Python, not in FEEL: 1 and true render differently.
        numbers = _config('=base + "/n/" + string(id)')
        other = WaitingInstance(8, 8, 1, "p", "Wait", "m", None, None, numbers)
        [one] = worker.pipeline.bind_all([other], {other.key: {"base": "http://h", "id": 1}}, None)
        [true] = worker.pipeline.bind_all(
            [other], {other.key: {"base": "http://h", "id": True}}, None
        )
        assert (_request(one).url, _request(true).url) == ("http://h/n/1", "http://h/n/true")
    finally:
        asyncio.run(worker.close())


def test_same_value_is_strict_about_json_types() -> None:
    assert same_value({"a": [1, "x"]}, {"a": [1, "x"]})
    assert not same_value(1, True) and not same_value(1, 1.0) and not same_value([1], [1, 2])
    assert not same_value({"a": 1}, {"a": True}) and not same_value({"a": 1}, {"b": 1})
