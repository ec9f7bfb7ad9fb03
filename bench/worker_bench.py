"""Worker benchmark: cost per poll against the Python floor, throughput, memory, discovery
cost and coalescing.

Runs everything on 127.0.0.1: the development engine (in this process, on a thread), a
polled HTTP server (its own process) and the worker (``http-polling-connector run`` as a
subprocess, so it has its own interpreter like in production). Prints:

0. CPU per request of :class:`HttpClient` (bound requests reused, as the worker reuses
   them) against a raw ``http.client`` keep-alive loop on the same server in the same run
   (the floor), for an own URL per instance and a shared URL, with and without basic
   auth: median ratio of several runs, its spread (target <= 2), requests/s per core;
   0b. the same for the running worker process: CPU per poll (own URL: per HTTP call;
   shared URL: per instance poll served by the coalesced call) against the floor;
1. polls/second with N waiting instances (default 10,000) at a 1 s request interval, each
   with its own URL, as a ratio to a bare ``requests.Session`` loop against the same server
   in the same run (target >= 0.7);
2. worker memory per waiting instance once every instance has been polled (interval
   60 s, so the worker keeps up): Python objects by tracemalloc (an in-process worker,
   from before its first discovery cycle: discovery state, poller, bound request,
   variables) and RSS of the running worker process, at 10,000 and 100,000 waiting
   instances (target < 2 KiB);
3. REST requests per discovery cycle at 100 / 1,000 / 10,000 waiting instances (target:
   grows with result pages, not with instances);
4. HTTP calls per interval when every waiting instance polls the same endpoint (target: 1).

Usage: ``python bench/worker_bench.py [--instances 10000] [--window 15] [--runs 5] [--quick]
[--floor-only | --cost-only | --memory-only] [--memory-sizes 10000,100000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import html
import http.client
import json
import math
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connector.config import Settings  # noqa: E402
from connector.devengine.server import DevEngine  # noqa: E402
from connector.discovery import Discovery, RestClient, RestV2Source  # noqa: E402
from connector.http import BasicAuth, BoundRequest, HttpClient, NoAuth  # noqa: E402
from connector.jsonendpoint import JsonHandler  # noqa: E402
from connector.worker import Worker  # noqa: E402

PROPS = """
          <zeebe:property name="inbound.type" value="io.camunda:http-polling:1" />
          <zeebe:property name="method" value="GET" />
          <zeebe:property name="url" value="{url}" />
          <zeebe:property name="httpRequestInterval" value="{interval}" />
          <zeebe:property name="activationCondition" value="=body.status = &#34;done&#34;" />
          <zeebe:property name="correlationKeyExpression" value="=body.id" />
"""

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="d" targetNamespace="http://bench">
  <bpmn:process id="{pid}" isExecutable="true">
    <bpmn:startEvent id="Start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Wait" />
    <bpmn:intermediateCatchEvent id="Wait">
      <bpmn:extensionElements><zeebe:properties>{props}</zeebe:properties></bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:messageEventDefinition id="med" messageRef="Msg" />
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="Wait" targetRef="End" />
    <bpmn:endEvent id="End"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
  <bpmn:message id="Msg" name="bench-{pid}"><bpmn:extensionElements>
    <zeebe:subscription correlationKey="=id" /></bpmn:extensionElements></bpmn:message>
</bpmn:definitions>
"""


AUTH_PROPS = """
          <zeebe:property name="authentication.type" value="basic" />
          <zeebe:property name="authentication.username" value="bench" />
          <zeebe:property name="authentication.password" value="bench-password" />
"""


def bpmn(pid: str, url: str, *, auth: bool = False, interval: str = "PT1S") -> bytes:
    props = PROPS.format(url=html.escape(url, quote=True), interval=interval)
    props += AUTH_PROPS if auth else ""
    return BPMN.format(pid=pid, props=props).encode()


# ---------------------------------------------------------------------------- polled server


def _serve(port_queue: Any) -> None:
    hits = [0]
    lock = threading.Lock()
    body = json.dumps({"id": "x", "status": "waiting"}).encode()

    class Handler(JsonHandler):
        def do_GET(self) -> None:
            if self.path == "/__hits":
                with lock:
                    data = str(hits[0]).encode()
            else:
                with lock:
                    hits[0] += 1
                data = body
            self.send_json(200, data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_queue.put(server.server_address[1])
    server.serve_forever()


class PolledServer:
    def __init__(self) -> None:
        queue: Any = multiprocessing.Queue()
        self.process = multiprocessing.Process(target=_serve, args=(queue,), daemon=True)
        self.process.start()
        self.url = f"http://127.0.0.1:{queue.get(timeout=20)}"
        self.stats = requests.Session()

    def hits(self) -> int:
        return int(self.stats.get(self.url + "/__hits", timeout=10).text)

    def close(self) -> None:
        self.process.terminate()
        self.process.join(5)


# ---------------------------------------------------------------------------- helpers


def worker_process(dev: DevEngine, *extra: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAMUNDA_", "ZEEBE_"))}
    args = [
        sys.executable,
        "-m",
        "connector.cli",
        "run",
        "--grpc-address",
        dev.grpc_address,
        "--rest-address",
        dev.rest_url,
        "--log-level",
        "WARNING",
        "--discovery-interval",
        "5",
        *extra,
    ]
    return subprocess.Popen(args, cwd=ROOT, env=env)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rate(
    server: PolledServer, window: float, settle: float, pid: int | None = None
) -> tuple[float, float | None]:
    """(hits per second over ``window`` s, CPU seconds of ``pid`` per hit) once polling runs."""
    deadline = time.monotonic() + 120
    first = server.hits()
    while server.hits() == first:
        if time.monotonic() > deadline:
            raise RuntimeError("the worker never polled")
        time.sleep(0.2)
    time.sleep(settle)
    cpu = process_cpu(pid) if pid else 0.0
    start_hits, start = server.hits(), time.monotonic()
    time.sleep(window)
    hits = server.hits() - start_hits
    per_hit = (process_cpu(pid) - cpu) / max(1, hits) if pid else None
    return hits / (time.monotonic() - start), per_hit


def baseline(server: PolledServer, count: int, window: float) -> tuple[float, float]:
    """(requests per second, CPU seconds per request) of a bare requests.Session loop."""
    session = requests.Session()
    n = 0
    cpu = time.process_time()
    start = time.monotonic()
    while time.monotonic() - start < window:
        session.get(f"{server.url}/items/i{n % count}", timeout=10).json()
        n += 1
    return n / (time.monotonic() - start), (time.process_time() - cpu) / max(1, n)


def create(dev: DevEngine, pid: str, count: int, base: str) -> None:
    for n in range(count):
        dev.engine.create_process_instance(pid, variables={"base": base, "id": f"i{n}"})


# ---------------------------------------------------------------------------- the floor

#: Client-level variants: (label, path of request n, authentication).
VARIANTS: list[tuple[str, Any, Any]] = [
    ("own URL, no auth", lambda n: f"/items/i{n}", NoAuth()),
    ("own URL, basic auth", lambda n: f"/items/i{n}", BasicAuth("bench", "bench-password")),
    ("shared URL, no auth", lambda n: "/shared", NoAuth()),
    ("shared URL, basic auth", lambda n: "/shared", BasicAuth("bench", "bench-password")),
]


def floor_loop(server: PolledServer, count: int, requests_: int, auth: bool) -> float:
    """CPU seconds per request of a raw ``http.client`` keep-alive loop: the Python floor.

    One persistent connection, a fixed header block, the body read and parsed as JSON (a
    poll must parse it too); nothing else.
    """
    host, port = server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    headers = {"Accept": "*/*"}
    if auth:
        headers["Authorization"] = BasicAuth("bench", "bench-password").header()
    paths = [f"/items/i{n % count}" for n in range(min(count, requests_))]
    cpu = time.thread_time()
    for n in range(requests_):
        conn.request("GET", paths[n % len(paths)], headers=headers)
        json.loads(conn.getresponse().read())
    used = time.thread_time() - cpu
    conn.close()
    return used / requests_


def client_loop(server: PolledServer, count: int, requests_: int, path: Any, auth: Any) -> float:
    """CPU seconds per request of :meth:`HttpClient.execute` over bound requests that are
    reused across polls (as the worker reuses them while an instance's inputs hold)."""
    bound = [
        BoundRequest(method="GET", url=server.url + path(n), auth=auth)
        for n in range(min(count, requests_))
    ]
    with HttpClient() as client:
        # The steady state: each bound request sent once before (connect, prepare).
        for request in bound:
            client.execute(request)
        cpu = time.thread_time()
        for n in range(requests_):
            client.execute(bound[n % len(bound)])
        return (time.thread_time() - cpu) / requests_


def floor(server: PolledServer, count: int, requests_: int, runs: int) -> None:
    """HttpClient CPU per request / http.client floor CPU per request, side by side."""
    print(f"0. HTTP client vs the raw http.client floor ({runs} runs x {requests_} requests)")
    for label, path, auth in VARIANTS:
        ratios, ours, floors = [], [], []
        distinct = count if "own" in label else 1
        for _ in range(runs):
            base = floor_loop(server, distinct, requests_, auth != NoAuth())
            mine = client_loop(server, distinct, requests_, path, auth)
            floors.append(base)
            ours.append(mine)
            ratios.append(mine / base)
        med = statistics.median(ratios)
        print(
            f"   {label:24s} client {statistics.median(ours) * 1e6:5.0f} us, floor "
            f"{statistics.median(floors) * 1e6:4.0f} us per request: ratio {med:.2f} "
            f"(spread {min(ratios):.2f}-{max(ratios):.2f}; target <= 2), "
            f"{1 / statistics.median(ours):.0f} requests/s per core"
        )


def worker_cost(
    server: PolledServer, count: int, window: float, *, shared: bool, auth: bool
) -> tuple[float, float]:
    """(worker CPU seconds per poll, polls per second) of a running worker process.

    Own URLs: every poll is an HTTP call, so CPU per hit. Shared URL: one HTTP call per
    interval serves every instance, so the worker's CPU over the window is divided by the
    instance polls it made (count per 1 s interval; the hit rate confirms the interval).
    """
    with DevEngine.run_in_thread("127.0.0.1") as dev:
        url = f"{server.url}/shared" if shared else '=base + "/items/" + id'
        dev.engine.deploy([("cost.bpmn", bpmn("cost", url, auth=auth))])
        create(dev, "cost", count, server.url)
        proc = worker_process(dev)
        try:
            settle = max(5.0, count / 2000)
            if not shared:
                hits, per_hit = rate(server, window, settle, proc.pid)
                assert per_hit is not None
                return per_hit, hits
            rate(server, 1.0, settle)  # polling all of them by now
            cpu, start, first = process_cpu(proc.pid), time.monotonic(), server.hits()
            time.sleep(window)
            used, took = process_cpu(proc.pid) - cpu, time.monotonic() - start
            intervals = max(1, server.hits() - first)  # one coalesced call per interval
            polls = count * intervals
            return used / polls, polls / took
        finally:
            stop(proc)


def worker_vs_floor(server: PolledServer, count: int, window: float, runs: int) -> None:
    """Worker CPU per poll / floor CPU per request, side by side in the same run."""
    print(f"0b. worker process vs the floor, {count} waiting instances, interval 1 s ({runs} runs)")
    for shared in (False, True):
        for auth in (False, True):
            ratios, costs = [], []
            for _ in range(runs):
                base = floor_loop(server, 1 if shared else count, 3000, auth)
                cost, _ = worker_cost(server, count, window, shared=shared, auth=auth)
                base = (base + floor_loop(server, 1 if shared else count, 3000, auth)) / 2
                ratios.append(cost / base)
                costs.append(cost)
            label = f"{'shared' if shared else 'own'} URL, {'basic auth' if auth else 'no auth'}"
            cost = statistics.median(costs)
            print(
                f"   {label:24s} worker {cost * 1e6:5.0f} us per poll: ratio "
                f"{statistics.median(ratios):.2f} (spread {min(ratios):.2f}-{max(ratios):.2f}; "
                f"target <= 2), {1 / cost:.0f} polls/s per core"
            )


# ---------------------------------------------------------------------------- measurements


def throughput(dev: DevEngine, server: PolledServer, count: int, window: float) -> None:
    dev.engine.deploy([("own.bpmn", bpmn("own-url", '=base + "/items/" + id'))])
    create(dev, "own-url", count, server.url)
    # The machine's load drifts: measure the loop before and after the worker, use the mean.
    before, bare_cpu = baseline(server, count, window / 2)
    proc = worker_process(dev)
    try:
        polls, poll_cpu = rate(server, window, max(5.0, count / 2000), proc.pid)
    finally:
        stop(proc)
    after, _ = baseline(server, count, window / 2)
    bare = (before + after) / 2
    print(f"1. throughput, {count} waiting instances, own URL each, interval 1 s")
    print(f"   bare requests.Session loop: {bare:8.0f} requests/s ({before:.0f} / {after:.0f})")
    print(f"   worker:                     {polls:8.0f} polls/s")
    print(f"   ratio: {polls / bare:.2f} (target >= 0.7)")
    if poll_cpu is not None:
        print(
            f"   CPU per poll: worker {poll_cpu * 1e6:.0f} us (binding, variables, HTTP, "
            f"correlation) vs loop {bare_cpu * 1e6:.0f} us per request"
        )


#: Interval of the memory runs: long enough that the worker keeps up with 100,000
#: instances, so what is measured is what waiting instances hold, not a backlog of polls.
MEMORY_INTERVAL = "PT60S"


def memory(dev: DevEngine, server: PolledServer, count: int) -> None:
    """Python objects the worker holds per waiting instance once each was polled (its
    discovery state, poller, bound request and variables), by tracemalloc: an in-process
    worker from before its first discovery cycle to after every instance's first poll.
    The development engine serving it runs in this process too; its allocations are left
    out."""
    dev.engine.deploy(
        [("mem.bpmn", bpmn("mem", '=base + "/items/" + id', interval=MEMORY_INTERVAL))]
    )
    create(dev, "mem", count, server.url)
    settings = Settings(grpc_address=dev.grpc_address, rest_address=dev.rest_url)
    disc = Discovery(RestV2Source(RestClient(dev.rest_url), 500))
    worker = Worker(settings, zeebe=_NoZeebe(), discovery=disc)  # nothing is published
    gc.collect()
    tracemalloc.start(1)  # the allocating line: enough to leave the engine's out, and fast
    idle = tracemalloc.take_snapshot()
    first = server.hits()
    asyncio.run(_poll_once(worker, server, first + count))
    gc.collect()
    ours = [tracemalloc.Filter(False, "*/devengine/*")]
    now = tracemalloc.take_snapshot().filter_traces(ours)
    used = sum(stat.size_diff for stat in now.compare_to(idle.filter_traces(ours), "filename"))
    tracemalloc.stop()
    print(
        f"2. memory, {count} waiting instances (interval {MEMORY_INTERVAL[2:]}), each polled once"
    )
    print(
        f"   Python objects (tracemalloc): {used / 1024:.0f} KiB = {used / count:.0f} bytes "
        "per waiting instance (target < 2048)"
    )


class _NoZeebe:
    """Stands in for the gRPC client: the memory run never publishes."""


async def _poll_once(worker: Worker, server: PolledServer, hits: int) -> None:
    loop = asyncio.get_running_loop()
    worker.tracker.apply(await loop.run_in_executor(None, worker.discovery.cycle))
    task = asyncio.ensure_future(worker.scheduler.run())
    deadline = time.monotonic() + 600
    while await loop.run_in_executor(None, server.hits) < hits and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    worker.scheduler.stop()
    await task
    await worker.scheduler.drain(10)
    await worker.close()


def rss_per_instance(server: PolledServer, count: int, settle: float) -> None:
    with DevEngine.run_in_thread("127.0.0.1") as dev:
        url = '=base + "/items/" + id'
        dev.engine.deploy([("rss.bpmn", bpmn("rss", url, interval=MEMORY_INTERVAL))])
        proc = worker_process(dev, "--discovery-interval", "1")
        try:
            time.sleep(settle)
            idle = process_rss(proc.pid)
            first = server.hits()
            create(dev, "rss", count, server.url)
            # Every instance polled once (so each holds its bound request and variables),
            # then a little longer: a steady state, not a ramp.
            deadline = time.monotonic() + 300 + count / 100
            while server.hits() - first < count and time.monotonic() < deadline:
                time.sleep(0.5)
            time.sleep(3.0)
            busy = process_rss(proc.pid)
        finally:
            stop(proc)
    per = (busy - idle) / count
    print(
        f"   running worker: RSS {idle / 2**20:.0f} MiB idle, {busy / 2**20:.0f} MiB with "
        f"{count} waiting instances = {per:.0f} bytes per waiting instance (target < 2048)"
    )


def process_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def discovery_cost(sizes: list[int], page_size: int) -> None:
    print(f"3. REST requests per discovery cycle (page size {page_size}, steady state)")
    for size in sizes:
        with DevEngine.run_in_thread("127.0.0.1") as dev:
            dev.engine.deploy([("d.bpmn", bpmn("disc", '=base + "/items/" + id'))])
            create(dev, "disc", size, "http://127.0.0.1:9")
            disc = Discovery(RestV2Source(RestClient(dev.rest_url), page_size))
            disc.cycle()
            started = time.monotonic()
            snapshot = disc.cycle()
            took = time.monotonic() - started
            pages = math.ceil(size / page_size)
            print(
                f"   {size:6d} waiting: {snapshot.requests:3d} requests "
                f"(1 definitions search + {snapshot.requests - 1} subscription pages; "
                f"{pages} pages of results), {took * 1000:.0f} ms"
            )


def coalescing(dev: DevEngine, server: PolledServer, count: int, window: float) -> None:
    dev.engine.deploy([("shared.bpmn", bpmn("shared", f"{server.url}/shared"))])
    create(dev, "shared", count, server.url)
    proc = worker_process(dev)
    try:
        calls, _ = rate(server, window, settle=max(5.0, count / 2000))
    finally:
        stop(proc)
    print(f"4. coalescing: {count} waiting instances on one endpoint, interval 1 s")
    print(f"   {calls:.2f} HTTP calls per interval (target: 1)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--window", type=float, default=15.0, help="seconds per measurement")
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="1,000 instances, short windows")
    parser.add_argument("--runs", type=int, default=5, help="runs of each floor comparison")
    parser.add_argument("--requests", type=int, default=3000, help="requests per floor run")
    parser.add_argument("--floor-only", action="store_true", help="only part 0")
    parser.add_argument("--cost-only", action="store_true", help="only parts 0 and 0b")
    parser.add_argument("--memory-sizes", default="10000,100000", help="instances for part 2")
    parser.add_argument("--memory-only", action="store_true", help="only part 2")
    args = parser.parse_args()
    if args.quick:
        args.instances, args.window, args.sizes = 1000, 5.0, "100,1000"
        args.memory_sizes = "1000"
        args.runs, args.requests = 3, 1000
    server = PolledServer()
    try:
        if not args.memory_only:
            floor(server, args.instances, args.requests, args.runs)
            if args.floor_only:
                return 0
            worker_vs_floor(server, args.instances, args.window, args.runs)
            if args.cost_only:
                return 0
            with DevEngine.run_in_thread("127.0.0.1") as dev:
                throughput(dev, server, args.instances, args.window)
        for size in [int(n) for n in args.memory_sizes.split(",")]:
            with DevEngine.run_in_thread("127.0.0.1") as dev:
                memory(dev, server, size)
            rss_per_instance(server, size, settle=3.0)
        if args.memory_only:
            return 0
        discovery_cost([int(s) for s in args.sizes.split(",")], args.page_size)
        with DevEngine.run_in_thread("127.0.0.1") as dev:
            coalescing(dev, server, args.instances, args.window)
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
