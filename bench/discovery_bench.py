"""Discovery cost and latency: incremental sync against the complete scan, side by side.

For each size N (default 1,000 / 10,000 / 100,000 waiting instances) one development engine
runs on 127.0.0.1 (REST over real HTTP, a query visibility delay emulating exporter lag) on a
manual clock, and two discoveries watch it in the same run: the incremental sync
(``IncrementalDiscovery``) and the complete scan (``Discovery``, ``--discovery-mode full``).
Simulated time advances in 100 ms steps; both run a cycle every ``--interval`` simulated
seconds. Phases of ``--minutes`` simulated minutes each:

* steady state: nothing changes;
* churn: every simulated second ``--churn`` instances start waiting and ``--churn`` leave
  (half cancelled, half correlated by a published message).

Per mode and phase it prints REST requests and bytes (request bodies + response bodies) per
simulated minute, the discovery thread's CPU per cycle (``time.thread_time``, real), and under
churn the latency from an instance starting to wait to the first cycle that reports it
(pickup) and from leaving to the first cycle that no longer reports it (drop), p50/p99, in
simulated seconds: they follow from the cycle interval and the visibility delay, not from
how fast this machine is. The ratio column is full / incremental.

Usage: ``python bench/discovery_bench.py [--sizes 1000,10000,100000] [--minutes 1]``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connector.devengine.clock import ManualClock  # noqa: E402
from connector.devengine.server import DevEngine, DevEngineOptions  # noqa: E402
from connector.discovery import (  # noqa: E402
    Discovery,
    IncrementalDiscovery,
    RestClient,
    RestV2Source,
    SyncOptions,
)
from tests.worker.bpmn_builder import catch_process, polling_properties  # noqa: E402

PROCESS_ID = "bench-discovery"
MESSAGE = "done-msg"
URL = '="http://127.0.0.1:9/items/" + id'
STEP_MS = 100


@dataclass
class Counted:
    """Requests and bytes one discovery's client sent and received."""

    requests: int = 0
    bytes: int = 0

    def hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        body = response.request.body
        self.bytes += len(response.content) + (len(body) if body else 0)


@dataclass
class Mode:
    name: str
    discovery: Discovery
    client: RestClient
    counted: Counted
    cpu: list[float] = field(default_factory=list)
    waiting: set[int] = field(default_factory=set)
    pickup: list[float] = field(default_factory=list)
    drop: list[float] = field(default_factory=list)

    def cycle(self) -> None:
        started = time.thread_time()
        snapshot = self.discovery.cycle()
        self.cpu.append(time.thread_time() - started)
        self.waiting = {w.process_instance_key for w in snapshot.waiting.values()}


def make_mode(name: str, dev: DevEngine, clock: ManualClock, page_size: int) -> Mode:
    counted = Counted()
    client = RestClient(dev.rest_url)
    client.session.hooks["response"].append(counted.hook)
    source = RestV2Source(client, page_size)
    discovery: Discovery
    if name == "incremental":
        discovery = IncrementalDiscovery(
            source, options=SyncOptions(overlap=10.0), clock=lambda: clock.now_ms() / 1000.0
        )
    else:
        discovery = Discovery(source)
    return Mode(name, discovery, client, counted)


@dataclass
class PhaseResult:
    requests_per_min: float
    bytes_per_min: float
    cpu_ms_per_cycle: float
    pickup: tuple[float, float] | None
    drop: tuple[float, float] | None


def percentiles(values: list[float]) -> tuple[float, float] | None:
    if not values:
        return None
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99


class Bench:
    def __init__(self, dev: DevEngine, clock: ManualClock, args: argparse.Namespace) -> None:
        self.dev = dev
        self.clock = clock
        self.args = args
        self.rng = random.Random(7)
        self.live: list[tuple[int, str]] = []  # (process instance key, correlation key)
        self.serial = 0
        self.started: dict[int, int] = {}  # pik -> simulated ms it started waiting
        self.left: dict[int, int] = {}  # pik -> simulated ms it left
        self.modes = [
            make_mode("incremental", dev, clock, args.page_size),
            make_mode("full", dev, clock, args.page_size),
        ]

    def start(self) -> int:
        self.serial += 1
        ident = f"i{self.serial}"
        info = self.dev.engine.create_process_instance(PROCESS_ID, variables={"id": ident})
        self.live.append((info.process_instance_key, ident))
        return info.process_instance_key

    def leave(self) -> int:
        index = self.rng.randrange(len(self.live))
        self.live[index], self.live[-1] = self.live[-1], self.live[index]
        pik, ident = self.live.pop()
        if self.serial % 2:
            self.dev.engine.cancel_process_instance(pik)
        else:
            self.dev.engine.publish_message(MESSAGE, correlation_key=ident)
        return pik

    def populate(self, count: int) -> None:
        # Spread over a simulated minute or more (1 ms apart at least), as instances arrive
        # in a real cluster: not all within one overlap window.
        step = max(1, 60_000 // max(1, count))
        for _ in range(count):
            self.start()
            self.clock.advance(step)

    def run_phase(self, minutes: float, churn: int) -> dict[str, PhaseResult]:
        cycle_ms = int(self.args.interval * 1000)
        total_ms = int(minutes * 60_000)
        before = {m.name: (m.client.requests, m.counted.bytes, len(m.cpu)) for m in self.modes}
        pending_pickup: dict[int, int] = {}
        pending_drop: dict[int, int] = {}
        for mode in self.modes:
            mode.pickup.clear()
            mode.drop.clear()
        pending = {m.name: (dict(pending_pickup), dict(pending_drop)) for m in self.modes}
        per_step = churn * STEP_MS / 1000.0
        carry = 0.0
        elapsed = 0
        while elapsed < total_ms:
            self.clock.advance(STEP_MS)
            elapsed += STEP_MS
            now = self.clock.now_ms()
            carry += per_step
            while carry >= 1.0:
                carry -= 1.0
                pik = self.start()
                gone = self.leave()
                for name in pending:
                    pending[name][0][pik] = now
                    pending[name][1][gone] = now
            if elapsed % cycle_ms == 0:
                for mode in self.modes:
                    mode.cycle()
                    picks, drops = pending[mode.name]
                    for pik in [p for p in picks if p in mode.waiting]:
                        mode.pickup.append((now - picks.pop(pik)) / 1000.0)
                    for pik in [p for p in drops if p not in mode.waiting]:
                        mode.drop.append((now - drops.pop(pik)) / 1000.0)
        results: dict[str, PhaseResult] = {}
        for mode in self.modes:
            requests0, bytes0, cpu0 = before[mode.name]
            cycles = mode.cpu[cpu0:]
            results[mode.name] = PhaseResult(
                requests_per_min=(mode.client.requests - requests0) / minutes,
                bytes_per_min=(mode.counted.bytes - bytes0) / minutes,
                cpu_ms_per_cycle=1000 * statistics.fmean(cycles) if cycles else 0.0,
                pickup=percentiles(mode.pickup),
                drop=percentiles(mode.drop),
            )
        return results


def fmt_latency(value: tuple[float, float] | None) -> str:
    return "-" if value is None else f"{value[0]:.1f}/{value[1]:.1f}"


def fmt_ratio(full: float, incremental: float) -> str:
    return "-" if incremental <= 0 else f"{full / incremental:.1f}x"


def run_size(size: int, args: argparse.Namespace) -> list[str]:
    clock = ManualClock()
    options = DevEngineOptions(query_visibility_delay_ms=args.visibility_delay_ms)
    lines: list[str] = []
    with DevEngine.run_in_thread("127.0.0.1", clock=clock, options=options) as dev:
        props = polling_properties(URL)
        props["processPollingInterval"] = f"PT{args.interval}S"
        dev.engine.deploy([("bench.bpmn", catch_process(PROCESS_ID, props).encode())])
        bench = Bench(dev, clock, args)
        populated = time.monotonic()
        bench.populate(size)
        setup = time.monotonic() - populated
        clock.advance(args.visibility_delay_ms + 1)
        for mode in bench.modes:
            mode.cycle()  # start-up: the incremental sync's first full reconciliation
            assert len(mode.waiting) == size, (mode.name, len(mode.waiting))
        # Warm-up: let the overlap window pass so the steady state is the steady state.
        bench.run_phase(0.5, 0)
        print(f"  ({size}: set up in {time.monotonic() - populated:.0f} s)", file=sys.stderr)
        phases = {
            "steady": bench.run_phase(args.minutes, 0),
            f"churn {args.churn}/s": bench.run_phase(args.minutes, args.churn),
        }
        for mode in bench.modes:
            mode.client.close()
    for phase, results in phases.items():
        inc, full = results["incremental"], results["full"]
        for name, r in results.items():
            lines.append(
                f"{size:>7} {phase:<12} {name:<11} {r.requests_per_min:>9.1f} "
                f"{r.bytes_per_min / 1024:>11.1f} {r.cpu_ms_per_cycle:>9.2f} "
                f"{fmt_latency(r.pickup):>11} {fmt_latency(r.drop):>11}"
            )
        lines.append(
            f"{size:>7} {phase:<12} {'full/incr':<11} "
            f"{fmt_ratio(full.requests_per_min, inc.requests_per_min):>9} "
            f"{fmt_ratio(full.bytes_per_min, inc.bytes_per_min):>11} "
            f"{fmt_ratio(full.cpu_ms_per_cycle, inc.cpu_ms_per_cycle):>9}"
        )
    lines.append(f"{size:>7} (created {size} instances in {setup:.1f} s)")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--minutes", type=float, default=1.0, help="simulated, per phase")
    parser.add_argument("--interval", type=float, default=5.0, help="cycle, simulated seconds")
    parser.add_argument("--churn", type=int, default=50, help="starts and leaves per second")
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--visibility-delay-ms", type=int, default=1000)
    args = parser.parse_args()
    print(
        f"interval {args.interval}s, page size {args.page_size}, visibility delay "
        f"{args.visibility_delay_ms} ms, overlap 10 s; per simulated minute; latency p50/p99 "
        "in simulated seconds"
    )
    header = (
        f"{'waiting':>7} {'phase':<12} {'mode':<11} {'req/min':>9} {'KiB/min':>11} "
        f"{'cpu ms/cy':>9} {'pickup':>11} {'drop':>11}"
    )
    print(header)
    print("-" * len(header))
    for size in (int(s) for s in args.sizes.split(",") if s.strip()):
        for line in run_size(size, args):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
