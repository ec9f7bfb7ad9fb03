"""Development engine benchmark: publish latency with 100,000 waiting instances.

The issue's target: the embedded engine holds N (default 100,000) process instances waiting at
message catch events of one process without degrading PublishMessage latency by more than 2x.
This script runs two identical development engines on 127.0.0.1, each in its own process
(``DevEngine.run_in_thread`` there), both with the same one-catch-event process deployed: the
baseline engine has a handful of instances waiting, the loaded one a handful plus N. The
waiting instances are created through the engine's Python API in the engine's process (tens of
microseconds each); the first few hundred go through gRPC CreateProcessInstance to show what
that route would cost. A real ``pyzeebe.ZeebeClient`` in this process then times
PublishMessage over gRPC against both engines in alternating blocks, so that load from other
programs on a shared machine falls on both sides alike instead of on whichever phase ran
later. Each block alternates messages that correlate (to a random waiting instance, replaced
afterwards so the number waiting stays constant) and messages whose correlation key matches
nothing; all have TTL 0 so no message buffer grows. REST v2 searches (message-subscription
pages of 100 at the start and in the middle, an element-instance page, the latest process
definition) are timed the same way, and memory per waiting instance is the loaded engine's RSS
growth plus a tracemalloc count on a fresh in-process engine. It prints a table and PASS/FAIL
per target and exits 0 (``--strict``: exit 1 when a target fails).

Usage: ``python bench/devengine_bench.py [--instances 100000] [--samples 1000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import os
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Awaitable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import requests
from pyzeebe import ZeebeClient, create_insecure_channel

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connector.devengine import Engine  # noqa: E402
from connector.devengine.server import DevEngine, DevEngineOptions  # noqa: E402

PROCESS_ID = "bench-wait"
MESSAGE = "bench-msg"
TARGET_RATIO = 2.0
KEEP_ALIVE_ROW = "subscriptions, first page, keep-alive"
_CHUNK = 10_000  # instances created per request to an engine process

BPMN = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="d" targetNamespace="http://bench">
  <bpmn:process id="{PROCESS_ID}" isExecutable="true">
    <bpmn:startEvent id="Start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Wait" />
    <bpmn:intermediateCatchEvent id="Wait">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:messageEventDefinition id="med" messageRef="Msg" />
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="Wait" targetRef="End" />
    <bpmn:endEvent id="End"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
  <bpmn:message id="Msg" name="{MESSAGE}"><bpmn:extensionElements>
    <zeebe:subscription correlationKey="=id" /></bpmn:extensionElements></bpmn:message>
</bpmn:definitions>
""".encode()


# ---------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class Summary:
    median_ms: float
    p95_ms: float


def summarize(samples_ns: list[int]) -> Summary:
    ordered = sorted(samples_ns)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return Summary(statistics.median(ordered) / 1e6, p95 / 1e6)


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# ---------------------------------------------------------------------------- engine process


def _engine_command(engine: Engine, command: str, payload: Any) -> Any:
    if command == "deploy":
        return engine.deploy([("bench.bpmn", BPMN)]).processes[0].process_definition_key
    if command == "create":  # payload: correlation ids -> (instance keys, seconds)
        started = time.perf_counter()
        keys = [
            engine.create_process_instance(PROCESS_ID, variables={"id": ident}).process_instance_key
            for ident in payload
        ]
        return keys, time.perf_counter() - started
    if command == "rss":
        gc.collect()
        return rss_bytes()
    if command == "states":
        return [engine.process_instances(key=key)[0].state for key in payload]
    if command == "waiting":
        return engine.count("message_subscriptions", state="CREATED")
    raise ValueError(f"unknown command {command!r}")


def _serve_engine(conn: Connection) -> None:
    """Body of an engine process: a dev engine plus a command loop on ``conn``."""
    # 8.9's contract: its message-subscription search takes the processDefinitionKey filter
    # the timed searches use (8.8 has none).
    options = DevEngineOptions(camunda_version="8.9")
    with DevEngine.run_in_thread("127.0.0.1", options=options) as dev:
        conn.send((dev.grpc_address, dev.rest_url))
        while True:
            command, payload = conn.recv()
            if command == "stop":
                break
            try:
                conn.send((True, _engine_command(dev.engine, command, payload)))
            except Exception as error:  # reported to the caller, which raises it
                conn.send((False, repr(error)))


class EngineProcess:
    """A development engine in its own process, driven through a pipe."""

    def __init__(self, name: str) -> None:
        self.name = name
        context = multiprocessing.get_context("spawn")  # no fork after grpc is loaded
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve_engine, args=(child,), name=name)
        self._process.start()
        if not self._conn.poll(60):
            raise RuntimeError(f"engine process {name} did not start")
        self.grpc_address, self.rest_url = self._conn.recv()

    def call(self, command: str, payload: Any = None) -> Any:
        self._conn.send((command, payload))
        ok, result = self._conn.recv()
        if not ok:
            raise RuntimeError(f"engine process {self.name}: {command} failed: {result}")
        return result

    def close(self) -> None:
        if self._process.is_alive():
            self._conn.send(("stop", None))
            self._process.join(30)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(10)


# ---------------------------------------------------------------------------- one engine side


@dataclass
class Side:
    """One engine under test, its client and its waiting instances (correlation id -> key)."""

    label: str
    engine: EngineProcess
    client: ZeebeClient
    definition_key: int = 0
    ids: list[str] = field(default_factory=list)
    keys: dict[str, int] = field(default_factory=dict)
    serial: int = 0
    correlated: list[int] = field(default_factory=list)
    publish: dict[str, list[int]] = field(default_factory=dict)
    rest: dict[str, list[int]] = field(default_factory=dict)

    def new_ids(self, count: int) -> list[str]:
        ids = [f"k{n}" for n in range(self.serial, self.serial + count)]
        self.serial += count
        return ids

    def adopt(self, ids: list[str], keys: list[int]) -> None:
        self.ids.extend(ids)
        self.keys.update(zip(ids, keys, strict=True))

    def create(self, count: int) -> float:
        """Make ``count`` more instances wait (engine API); returns seconds spent in the engine."""
        spent = 0.0
        while count > 0:
            ids = self.new_ids(min(count, _CHUNK))
            keys, seconds = self.engine.call("create", ids)
            self.adopt(ids, keys)
            spent += seconds
            count -= len(ids)
        return spent

    def take_random(self, rng: random.Random) -> str:
        index = rng.randrange(len(self.ids))
        self.ids[index], self.ids[-1] = self.ids[-1], self.ids[index]
        return self.ids.pop()

    def verify(self) -> None:
        """Every correlating message completed its instance; nothing else correlated."""
        states = self.engine.call("states", self.correlated)
        wrong = [
            key for key, state in zip(self.correlated, states, strict=True) if state != "COMPLETED"
        ]
        if wrong:
            raise RuntimeError(
                f"{self.label}: {len(wrong)} instances did not complete, e.g. {wrong[0]}"
            )
        waiting = self.engine.call("waiting")
        if waiting != len(self.ids):
            raise RuntimeError(
                f"{self.label}: {waiting} subscriptions open, expected {len(self.ids)}"
            )


async def timed(call: Awaitable[Any]) -> int:
    """Nanoseconds to await ``call`` (a coroutine object: nothing runs before the await)."""
    started = time.perf_counter_ns()
    await call
    return time.perf_counter_ns() - started


async def publish_block(side: Side, count: int, rng: random.Random, record: bool) -> None:
    """``count`` correlating publishes alternating with ``count`` that match nothing."""
    for _ in range(count):
        ident = side.take_random(rng)
        took = await timed(
            side.client.publish_message(MESSAGE, ident, time_to_live_in_milliseconds=0)
        )
        side.correlated.append(side.keys.pop(ident))
        side.create(1)  # untimed: keeps the number waiting constant
        miss = await timed(
            side.client.publish_message(
                MESSAGE, f"none-{side.serial}-{rng.random()}", time_to_live_in_milliseconds=0
            )
        )
        if record:
            side.publish.setdefault("correlates", []).append(took)
            side.publish.setdefault("matches nothing", []).append(miss)


def rest_queries(side: Side) -> dict[str, tuple[str, dict[str, Any], Any]]:
    """Name -> (path, body, requests or a Session) of the timed REST v2 searches.

    A new connection per request keeps the numbers about the engine: on a reused connection a
    server that writes headers and body separately without TCP_NODELAY waits for the client's
    delayed ACK (~40 ms on Linux); the keep-alive row shows whether that happens.
    """
    open_subscriptions = {
        "processDefinitionKey": str(side.definition_key),
        "messageSubscriptionState": "CREATED",
    }
    first_page = {"filter": open_subscriptions, "page": {"limit": 100}}
    first = rest_post(side, "/v2/message-subscriptions/search", first_page, requests)
    waiting = len(side.ids)
    # Beyond its cap (10,000, as 8.8 on Elasticsearch) the total stays at the cap and
    # hasMoreTotalItems says there are more.
    page = first["page"]
    total_ok = page["totalItems"] == waiting or (
        page["hasMoreTotalItems"] and page["totalItems"] < waiting
    )
    if not total_ok or len(first["items"]) != min(100, waiting):
        raise RuntimeError(f"{side.label}: search saw {page} for {waiting} waiting")
    middle = rest_post(
        side,
        "/v2/message-subscriptions/search",
        {"filter": open_subscriptions, "page": {"limit": 1, "from": waiting // 2}},
        requests,
    )
    mid_page = {
        "filter": open_subscriptions,
        "page": {"limit": 100, "after": middle["page"]["endCursor"]},
    }
    waiting_elements = {
        "filter": {
            "processDefinitionKey": str(side.definition_key),
            "elementId": "Wait",
            "state": "ACTIVE",
        },
        "page": {"limit": 100},
    }
    latest = {"filter": {"processDefinitionId": PROCESS_ID, "isLatestVersion": True}}
    return {
        "subscriptions, first page of 100": (
            "/v2/message-subscriptions/search",
            first_page,
            requests,
        ),
        "subscriptions, mid page (after)": ("/v2/message-subscriptions/search", mid_page, requests),
        "element instances, page of 100": (
            "/v2/element-instances/search",
            waiting_elements,
            requests,
        ),
        "process definitions, latest": ("/v2/process-definitions/search", latest, requests),
        KEEP_ALIVE_ROW: ("/v2/message-subscriptions/search", first_page, requests.Session()),
    }


def rest_post(side: Side, path: str, body: dict[str, Any], session: Any) -> dict[str, Any]:
    response = session.post(side.engine.rest_url + path, json=body, timeout=120)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def time_rest(sides: list[Side], repeats: int) -> None:
    """Each query ``repeats`` times per side, alternating sides request by request."""
    plans = [rest_queries(side) for side in sides]
    for name in plans[0]:
        for side, plan in zip(sides, plans, strict=True):
            path, body, session = plan[name]
            rest_post(side, path, body, session)  # warm-up, opens the keep-alive connection
        for n in range(repeats):
            order = list(zip(sides, plans, strict=True))
            for side, plan in order if n % 2 == 0 else reversed(order):
                path, body, session = plan[name]
                started = time.perf_counter_ns()
                rest_post(side, path, body, session)
                side.rest.setdefault(name, []).append(time.perf_counter_ns() - started)


def traced_bytes_per_instance(count: int) -> float:
    """Python heap growth per waiting instance, measured on a fresh in-process engine."""
    engine = Engine()
    engine.deploy([("bench.bpmn", BPMN)])
    engine.create_process_instance(PROCESS_ID, variables={"id": "first"})  # one-off caches
    gc.collect()
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    for n in range(count):
        engine.create_process_instance(PROCESS_ID, variables={"id": f"k{n}"})
    gc.collect()
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return (after - before) / count


# ---------------------------------------------------------------------------- report


@dataclass(frozen=True)
class LoadResult:
    grpc_created: int
    grpc_us_each: float
    api_created: int
    api_us_each: float
    rss_delta: int


def report(
    args: argparse.Namespace,
    base: Side,
    loaded: Side,
    loading: LoadResult,
    traced: float,
    elapsed: float,
) -> bool:
    width = 40
    print()
    print(f"Dev engine benchmark: {args.instances:,} instances waiting at one message catch event")
    print(
        f"  gRPC: {args.samples} publishes per row and side, {args.rounds} alternating blocks, "
        f"{args.warmup} warm-up, TTL 0"
    )
    print(f"  REST: {args.rest_repeats} per row and side, a new connection per request")
    print(
        f"  pyzeebe {_pyzeebe_version()}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print()
    head_base = f"baseline ({len(base.ids):,} waiting)"
    head_load = f"loaded ({len(loaded.ids):,} waiting)"
    print(f"{'latency in ms':<{width}} {head_base:>22} {head_load:>26} {'ratio':>7}")
    rows = [
        (f"gRPC PublishMessage, {kind}", base.publish[kind], loaded.publish[kind])
        for kind in base.publish
    ]
    rows += [(f"REST {name}", base.rest[name], loaded.rest[name]) for name in base.rest]
    ratios: dict[str, tuple[float, float]] = {}
    for name, before_ns, after_ns in rows:
        before, after = summarize(before_ns), summarize(after_ns)
        ratios[name] = (after.median_ms / before.median_ms, after.p95_ms / before.p95_ms)
        print(name)
        print(
            f"{'  median':<{width}} {before.median_ms:>22.3f} {after.median_ms:>26.3f}"
            f" {ratios[name][0]:>6.2f}x"
        )
        print(
            f"{'  p95':<{width}} {before.p95_ms:>22.3f} {after.p95_ms:>26.3f} {ratios[name][1]:>6.2f}x"
        )
    print()
    print("Making the instances wait")
    if loading.grpc_created:
        print(
            f"  {loading.grpc_created:,} via gRPC CreateProcessInstance (pyzeebe run_process): "
            f"{loading.grpc_us_each:,.0f} us each; all {args.instances:,} this way would take "
            f"~{loading.grpc_us_each * args.instances / 1e6:.0f} s"
        )
    print(
        f"  {loading.api_created:,} via Engine.create_process_instance in the engine process: "
        f"{loading.api_us_each:,.0f} us each"
    )
    print()
    print("Memory per waiting instance")
    print(
        f"  loaded engine process RSS growth over {args.instances:,}: "
        f"{loading.rss_delta / 2**20:,.1f} MiB = {loading.rss_delta / args.instances:,.0f} B/instance"
    )
    print(f"  tracemalloc over {args.trace_sample:,} on a fresh engine: {traced:,.0f} B/instance")
    print()
    print(
        f"Targets (issue 3: publish latency with {args.instances:,} waiting at most {TARGET_RATIO}x)"
    )
    ok = True
    for kind in base.publish:
        name = f"gRPC PublishMessage, {kind}"
        for stat, ratio in zip(("median", "p95"), ratios[name], strict=True):
            passed = ratio <= TARGET_RATIO
            ok &= passed
            print(f"  [{'PASS' if passed else 'FAIL'}] {name}, {stat}: {ratio:.2f}x")
    print(f"For information, not issue targets (REST page latency, same {TARGET_RATIO}x yardstick)")
    for name in base.rest:
        ratio = ratios[f"REST {name}"][0]
        print(
            f"  [{'ok  ' if ratio <= TARGET_RATIO else 'SLOW'}] REST {name}, median: {ratio:.2f}x"
        )
    print()
    print(f"Total run time {elapsed:.0f} s")
    return ok


def _pyzeebe_version() -> str:
    from importlib.metadata import version

    return version("pyzeebe")


# ---------------------------------------------------------------------------- main


async def load(loaded: Side, instances: int, via_grpc: int) -> LoadResult:
    """Make ``instances`` more instances wait on ``loaded``: ``via_grpc`` over gRPC first."""
    rss_before = loaded.engine.call("rss")
    via_grpc = min(via_grpc, instances)
    started = time.perf_counter()
    for ident in loaded.new_ids(via_grpc):
        response = await loaded.client.run_process(PROCESS_ID, variables={"id": ident})
        loaded.adopt([ident], [response.process_instance_key])
    grpc_s = time.perf_counter() - started
    api_s = loaded.create(instances - via_grpc)
    return LoadResult(
        via_grpc,
        grpc_s / max(1, via_grpc) * 1e6,
        instances - via_grpc,
        api_s / max(1, instances - via_grpc) * 1e6,
        loaded.engine.call("rss") - rss_before,
    )


async def run(sides: list[Side], args: argparse.Namespace) -> bool:
    started = time.perf_counter()
    rng = random.Random(args.seed)
    base, loaded = sides
    for side in sides:
        side.definition_key = side.engine.call("deploy")
        side.create(args.handful)
        await side.client.topology()
    print(f"making {args.instances:,} instances wait on the loaded engine ...", flush=True)
    loading = await load(loaded, args.instances, args.grpc_create)
    print("timing PublishMessage on both engines ...", flush=True)
    for side in sides:
        await publish_block(side, args.warmup, rng, record=False)
    block = max(1, args.samples // args.rounds)
    for n in range(args.rounds):
        for side in sides if n % 2 == 0 else reversed(sides):
            await publish_block(side, block, rng, record=True)
    for side in sides:
        side.verify()
    print("timing REST v2 searches on both engines ...", flush=True)
    time_rest(sides, args.rest_repeats)
    print(f"tracemalloc over {args.trace_sample:,} instances ...", flush=True)
    traced = traced_bytes_per_instance(args.trace_sample)
    return report(args, base, loaded, loading, traced, time.perf_counter() - started)


async def with_clients(engines: list[EngineProcess], args: argparse.Namespace) -> bool:
    sides = [
        Side(label, engine, ZeebeClient(create_insecure_channel(grpc_address=engine.grpc_address)))
        for label, engine in zip(("baseline", "loaded"), engines, strict=True)
    ]
    return await run(sides, args)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, default=100_000, help="instances to hold")
    parser.add_argument("--samples", type=int, default=1000, help="publishes per kind and side")
    parser.add_argument("--rounds", type=int, default=10, help="alternating blocks")
    parser.add_argument("--warmup", type=int, default=200, help="untimed publishes per side")
    parser.add_argument("--handful", type=int, default=5, help="instances waiting at baseline")
    parser.add_argument("--rest-repeats", type=int, default=30, help="samples per REST query")
    parser.add_argument("--grpc-create", type=int, default=500, help="instances made over gRPC")
    parser.add_argument("--trace-sample", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args()
    if min(args.instances, args.samples, args.rounds, args.handful, args.trace_sample) < 1:
        parser.error("--instances, --samples, --rounds, --handful, --trace-sample must be >= 1")
    engines: list[EngineProcess] = []
    try:
        engines = [EngineProcess("baseline-engine"), EngineProcess("loaded-engine")]
        ok = asyncio.run(with_clients(engines, args))
    finally:
        for engine in engines:
            engine.close()
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
